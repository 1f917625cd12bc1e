"""`sitectl upload`: send a build directory to the bucket as a new, immutable version.

Order matters: every file first (in parallel), the manifest last. A version without its manifest is
incomplete, never releasable, and the same command with the same `--version` completes it: objects
already stored with the right content (ETag = MD5 of a single-part upload) are skipped. Files whose
content is already in a recent complete version are copied server-side instead of sent again.
Once complete, the version's fingerprinted files are published to the shared asset area
(`scripts/versionstore/shared_assets.py`), where pages of this version find them after a release.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import click
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from edge_lambda import layout
from scripts.commands.errors import RefusedError, SitectlError, aws_errors, describe_aws_error, error_code
from scripts.commands.site import Site, site_options
from scripts.versionstore import store as storage
from scripts.versionstore.content_headers import cache_control_for, content_type_for
from scripts.versionstore.shared_assets import PublishReport, publish_shared_assets

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

DEFAULT_WORKERS = 16
DEFAULT_ATTEMPTS = 5
# Earlier versions whose manifests are read to find content already stored: one GetObject each.
DEFAULT_DEDUPE_VERSIONS = 5
# Above this size a file goes through the managed multipart transfer, whose ETag is not an MD5.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
# CopyObject copies at most 5 GiB in one request.
MAX_COPY_BYTES = 5 * 1024**3
MANIFEST_CACHE_CONTROL = "no-cache"
_READ_CHUNK = 1024 * 1024
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, `/`-separated: the part of the key after `<version>/`
    source: Path
    size: int
    sha256: str
    md5: str

    @property
    def content_type(self) -> str:
        return content_type_for(self.path)

    @property
    def cache_control(self) -> str:
        return cache_control_for(self.path)


@dataclass
class UploadReport:
    version: str
    files: int = 0
    total_bytes: int = 0
    sent_files: int = 0
    sent_bytes: int = 0  # file bytes sent in PutObject bodies, the manifest included
    copied_files: int = 0
    skipped_files: int = 0  # already present from an interrupted run of the same version
    requests: dict[str, int] = field(default_factory=dict)
    shared: PublishReport | None = None  # the fingerprinted files published for skew protection

    def count(self, operation: str) -> None:
        self.requests[operation] = self.requests.get(operation, 0) + 1


def scan_directory(directory: Path) -> list[LocalFile]:
    """The files of a build, hashed. Refuses a missing or empty directory, symlinks leading outside
    it or forming a loop, and anything that is neither a file nor a directory."""
    if not directory.is_dir():
        raise RefusedError(f"{directory} is not a directory")
    root = directory.resolve()
    found: list[LocalFile] = []

    def walk(current: Path, relative: PurePosixPath, ancestors: frozenset[Path]) -> None:
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            path = Path(entry.path)
            child = relative / entry.name
            resolved = path.resolve()
            if entry.is_symlink():
                if not resolved.is_relative_to(root):
                    raise RefusedError(f"symlink {child} leads outside {directory} (to {resolved})")
                if not resolved.exists():
                    raise RefusedError(f"symlink {child} is broken (to {resolved})")
            if path.is_dir():
                if resolved in ancestors:
                    raise RefusedError(f"symlink {child} forms a loop")
                walk(path, child, ancestors | {resolved})
            elif path.is_file():
                found.append(_hash_file(path, child.as_posix()))
            else:
                raise RefusedError(f"{child} is neither a regular file nor a directory")

    walk(root, PurePosixPath(), frozenset({root}))
    if not found:
        raise RefusedError(f"{directory} holds no files: refusing to upload an empty version")
    return found


def _hash_file(path: Path, relative: str) -> LocalFile:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_READ_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return LocalFile(relative, path, size, sha256.hexdigest(), md5.hexdigest())


@dataclass(frozen=True)
class _Step:
    """What to do with one file: send it, copy it from `source_key`, or nothing (already stored)."""

    file: LocalFile
    action: str  # "put", "copy" or "skip"
    source_key: str | None = None


def is_transient(error: Exception) -> bool:
    """Errors worth another attempt: throttling, 5xx, dropped connections."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(error) in _TRANSIENT_CODES or int(status) >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


def with_retries(
    operation: Callable[[], object], attempts: int, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Run `operation`, retrying transient errors with exponential backoff and jitter."""
    for attempt in range(1, attempts + 1):
        try:
            operation()
            return
        except (ClientError, BotoCoreError) as error:
            if attempt == attempts or not is_transient(error):
                raise
            sleep(min(10.0, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random()))


def plan_upload(
    files: list[LocalFile],
    version: str,
    stored: dict[str, storage.StoredObject],
    known_content: dict[str, tuple[str, int]],
) -> list[_Step]:
    """Decide per file: skip (identical object already under the version), copy, or put."""
    steps = []
    for local in files:
        key = layout.object_key(version, local.path)
        present = stored.get(key)
        if present is not None and present.size == local.size and present.etag == local.md5:
            steps.append(_Step(local, "skip"))
            continue
        donor = known_content.get(local.sha256)
        if donor is not None and donor[1] == local.size and local.size <= MAX_COPY_BYTES:
            steps.append(_Step(local, "copy", donor[0]))
        else:
            steps.append(_Step(local, "put"))
    return steps


def known_content_of(manifests: dict[str, layout.Manifest]) -> dict[str, tuple[str, int]]:
    """sha256 -> (key, size) of a stored object with that content, newest version first."""
    known: dict[str, tuple[str, int]] = {}
    for version in layout.sort_newest_first(list(manifests)):
        for path, entry in manifests[version].files.items():
            known.setdefault(entry.sha256, (layout.object_key(version, path), entry.size))
    return known


def upload_build(
    s3: S3Client,
    bucket: str,
    directory: Path,
    version: str | None = None,
    *,
    workers: int = DEFAULT_WORKERS,
    attempts: int = DEFAULT_ATTEMPTS,
    dedupe_versions: int = DEFAULT_DEDUPE_VERSIONS,
    progress: ProgressCallback | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadReport:
    """Upload `directory` as `version` (default: the current UTC time) and return what was done.

    `progress(n)` is called with the bytes of each file once it is stored; `on_start(version, files,
    bytes)` once the plan is made. Raises RefusedError (exit 2) for a bad directory or an existing
    complete version, SitectlError (exit 1) when AWS fails; the version then stays incomplete.
    """
    version = layout.validate_version(version) if version else layout.new_version(now)
    files = scan_directory(directory)
    report = UploadReport(version, files=len(files), total_bytes=sum(f.size for f in files))

    report.count("HeadObject")
    if storage.is_complete(s3, bucket, version):
        raise RefusedError(
            f"version {version} already exists and is complete in {bucket}; versions are immutable"
        )
    report.count("ListObjectsV2")
    stored = {obj.key: obj for obj in storage.version_objects(s3, bucket, version)}
    report.count("ListObjectsV2")
    donors = [v for v in storage.complete_versions(s3, bucket) if v != version][: max(dedupe_versions, 0)]
    for _ in donors:
        report.count("GetObject")
    known = known_content_of(storage.read_manifests(s3, bucket, donors))
    steps = plan_upload(files, version, stored, known)
    if on_start:
        on_start(version, len(files), report.total_bytes)

    try:
        _run_steps(s3, bucket, version, steps, report, workers, attempts, progress, sleep)
    except KeyboardInterrupt:
        raise SitectlError(
            f"upload of {version} interrupted; it stays incomplete: "
            f"re-run with --version {version} to complete it"
        ) from None

    manifest = layout.Manifest(
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        files={f.path: layout.ManifestFile(f.size, f.sha256, f.content_type, f.cache_control) for f in files},
    )
    body = manifest.to_json().encode()
    try:
        # If-None-Match: another upload completing the same version at the same time must not be
        # overwritten silently: a complete version is immutable.
        s3.put_object(
            Bucket=bucket,
            Key=layout.manifest_key(version),
            Body=body,
            ContentType="application/json",
            CacheControl=MANIFEST_CACHE_CONTROL,
            IfNoneMatch="*",
        )
    except ClientError as error:
        if error_code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise RefusedError(f"version {version} was completed by another upload meanwhile") from error
        raise SitectlError(
            f"{describe_aws_error(error)}; version {version} stays incomplete: "
            f"re-run with --version {version} to complete it"
        ) from error
    report.count("PutObject")
    report.sent_bytes += len(body)
    report.shared = publish_shared_assets(
        s3, bucket, manifest, warn=lambda m: click.echo(f"warning: {m}", err=True)
    )
    return report


def upload_directory(
    s3: S3Client, bucket: str, directory: Path | str, version: str | None = None, **options: Any
) -> str:
    """Upload `directory` as a new version and return its id (see `upload_build` for the options)."""
    return upload_build(s3, bucket, Path(directory), version, **options).version


def _run_steps(
    s3: S3Client,
    bucket: str,
    version: str,
    steps: list[_Step],
    report: UploadReport,
    workers: int,
    attempts: int,
    progress: ProgressCallback | None,
    sleep: Callable[[float], None],
) -> None:
    for step in steps:
        if step.action == "skip":
            report.skipped_files += 1
            if progress:
                progress(step.file.size)

    def run(step: _Step) -> _Step:
        key = layout.object_key(version, step.file.path)
        if step.action == "copy":
            try:
                with_retries(lambda: _copy(s3, bucket, version, key, step), attempts, sleep)
                return step
            except ClientError as error:
                # The donor version was pruned since its manifest was read: send the file instead.
                if error_code(error) not in ("NoSuchKey", "404"):
                    raise
            step = _Step(step.file, "put")
        with_retries(lambda: _put(s3, bucket, version, key, step.file), attempts, sleep)
        return step

    pending = [step for step in steps if step.action != "skip"]
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(run, step): step for step in pending}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                detail = (
                    describe_aws_error(error) if isinstance(error, ClientError | BotoCoreError) else error
                )
                raise SitectlError(
                    f"uploading {futures[future].file.path} failed: {detail}; version {version} stays "
                    f"incomplete: re-run with --version {version} to complete it"
                ) from error
            finished = future.result()
            if finished.action == "copy":
                report.copied_files += 1
                report.count("CopyObject")
            else:
                report.sent_files += 1
                report.sent_bytes += finished.file.size
                report.count("PutObject")
            if progress:
                progress(finished.file.size)
    finally:
        # On failure or Ctrl-C: drop what has not started, let running requests finish.
        pool.shutdown(wait=True, cancel_futures=True)


def _object_metadata(version: str, local: LocalFile) -> dict[str, str]:
    # Every object says which version it belongs to: S3 returns it as layout.VERSION_HEADER and
    # CloudFront passes it on, so `sitectl verify` and `status` read the served version off a response.
    return {layout.VERSION_METADATA_KEY: version, layout.SHA256_METADATA_KEY: local.sha256}


def _put(s3: S3Client, bucket: str, version: str, key: str, local: LocalFile) -> None:
    extra = {
        "ContentType": local.content_type,
        "CacheControl": local.cache_control,
        "Metadata": _object_metadata(version, local),
    }
    if local.size > MULTIPART_THRESHOLD:
        s3.upload_file(str(local.source), bucket, key, ExtraArgs=extra)
        return
    data = local.source.read_bytes()
    if hashlib.sha256(data).hexdigest() != local.sha256:
        raise SitectlError(f"{local.path} changed while it was being uploaded; re-run the upload")
    content_md5 = base64.b64encode(bytes.fromhex(local.md5)).decode()
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentMD5=content_md5, **extra)  # type: ignore[arg-type]


def _copy(s3: S3Client, bucket: str, version: str, key: str, step: _Step) -> None:
    assert step.source_key is not None
    local = step.file
    # REPLACE: the copy takes this file's headers and metadata (its own version), not those of the
    # file it was copied from.
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": step.source_key},
        MetadataDirective="REPLACE",
        ContentType=local.content_type,
        CacheControl=local.cache_control,
        Metadata=_object_metadata(version, local),
    )


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


@click.command("upload")
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--version", "version", help="Version id (default: the current UTC time, YYYYMMDDTHHMMSSZ).")
@click.option("--workers", type=click.IntRange(1, 128), default=DEFAULT_WORKERS, show_default=True)
@click.option(
    "--dedupe-versions",
    type=click.IntRange(0),
    default=DEFAULT_DEDUPE_VERSIONS,
    show_default=True,
    help="Newest complete versions whose files are copied server-side instead of sent again.",
)
@site_options("bucket", "stack", "project_dir")
@aws_errors
def upload_command(
    directory: Path, version: str | None, workers: int, dedupe_versions: int, site: Site
) -> None:
    """Upload DIRECTORY as a new version and print its id as the last line.

    Files go first, in parallel and with retries, the manifest last: an interrupted upload leaves an
    incomplete version that cannot be released; the same command with --version completes it.
    """
    if version is not None:
        try:
            layout.validate_version(version)
        except layout.InvalidVersionError as error:
            raise RefusedError(str(error)) from error
    bucket = site.bucket()
    show_bar = sys.stderr.isatty()
    with ExitStack() as stack:
        bar: list[Any] = []

        def on_start(chosen: str, files: int, total: int) -> None:
            click.echo(
                f"uploading {files} files ({_megabytes(total)}) as {chosen} to s3://{bucket}", err=True
            )
            if show_bar:
                bar.append(
                    stack.enter_context(click.progressbar(length=total, label=chosen, file=sys.stderr))
                )

        report = upload_build(
            site.s3(),
            bucket,
            directory,
            version,
            workers=workers,
            dedupe_versions=dedupe_versions,
            on_start=on_start,
            progress=(lambda n: bar[0].update(n)) if show_bar else None,
        )
    click.echo(
        f"{report.files} files ({report.total_bytes} bytes): {report.sent_files} sent "
        f"({report.sent_bytes} bytes with the manifest), {report.copied_files} copied server-side, "
        f"{report.skipped_files} already stored",
        err=True,
    )
    if report.shared is not None:
        shared = report.shared
        click.echo(
            f"skew protection: {len(shared.published)} fingerprinted files shared, {len(shared.already)} "
            f"already shared, {len(shared.skipped)} not shared",
            err=True,
        )
    click.echo(report.version)
