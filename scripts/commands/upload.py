"""`sitectl upload`: send a build directory to the bucket as a new, immutable version.

The store's order (`scripts.versionstore.store`): scan and check the build locally (nothing is sent
for a refused name or file), claim the version id (exclusive), every file (in parallel, streamed,
hashed as sent), then seal: every object under the prefix checked against the build, strays
deleted, the manifest written last and only once. A version without its manifest is incomplete and
never releasable; `--resume --version V` takes over its claim and completes it: objects already
stored with the right content (same size and ETag) are kept. Files whose content is already in a
recent complete version are copied server-side, if the donor object still holds those bytes.
Fingerprinted files are stored once, in the shared asset area (`scripts/versionstore/shared_assets.py`),
not under the version's prefix: sent there when the area lacks them, nothing at all when it has them
(its manifest says where each file is: `layout.ManifestFile.stored_in`); both routers read them
there, and so do pages of other versions after a release.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from botocore.exceptions import BotoCoreError, ClientError

from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE, ROUTERS
from edge_function.rule_keys import RulesNotCarriedError, compile_rules
from edge_lambda import layout
from scripts.commands.errors import RefusedError, SitectlError, aws_errors, describe_aws_error, error_code
from scripts.commands.options import Output, json_output, version_option
from scripts.commands.site import Site, site_options
from scripts.versionstore import store as storage
from scripts.versionstore.build import Build, LocalFile, scan_build
from scripts.versionstore.content_headers import HeaderRules
from scripts.versionstore.shared_assets import PublishReport, wait_for_prunes
from scripts.versionstore.transfer import copy_file, put_file, with_retries

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

DEFAULT_WORKERS = 16
DEFAULT_ATTEMPTS = 5
# Earlier versions whose manifests are read to find content already stored: one GetObject each.
DEFAULT_DEDUPE_VERSIONS = 5
# Without a terminal (CI logs), one progress line at most this often.
PROGRESS_LINE_SECONDS = 5.0
# On a terminal, the progress line is redrawn at most this often.
TERMINAL_PROGRESS_SECONDS = 0.5
# A conditional write refused: the key is not as planned (412, 409 while another conditional write
# to it is in flight, 404 for If-Match on a key that is gone).
_REFUSED_WRITE = ("PreconditionFailed", "412", "ConditionalRequestConflict", "NoSuchKey", "404")

ProgressCallback = Callable[[int], None]
Hook = Callable[[storage.Claim], None]


@dataclass
class UploadReport:
    version: str
    files: int = 0
    total_bytes: int = 0
    sent_files: int = 0
    sent_bytes: int = 0  # file bytes sent in PutObject bodies, the manifest included
    copied_files: int = 0
    skipped_files: int = 0  # already present from an interrupted run of the same version
    removed_objects: int = 0  # objects of an earlier attempt that the build no longer has
    excluded: list[str] = field(default_factory=list)
    shared: PublishReport | None = None  # the fingerprinted files published for skew protection
    took_over: str = ""  # the claim of the same build this upload took over (an interrupted run)
    fingerprinted: dict[str, str] = field(default_factory=dict)  # path -> why it was taken so
    redirect_rules: int = 0  # rules of the build's _redirects, recorded in the manifest
    header_rules: int = 0  # blocks of the build's _headers, likewise


@dataclass(frozen=True, slots=True)
class _Step:
    """What to do with one file: send it, copy it from `source_key`, or nothing (already stored).
    `shared`: the file goes to the shared area (`_assets/<path>`), not under the version's prefix."""

    file: LocalFile
    action: Literal["put", "copy", "skip"]
    source_key: str | None = None
    shared: bool = False
    reason: str = ""  # why a shared file was taken as fingerprinted (for a refusal)
    area: str = ""  # where it is stored once: layout.SHARED_AREA when `shared`, or layout.CONTENT_AREA

    def key(self, version: str) -> str:
        path = self.file.path
        if self.area == layout.CONTENT_AREA:
            return layout.content_key(path, self.file.sha256)
        return layout.shared_asset_key(path) if self.shared else layout.object_key(version, path)

    @property
    def stored_once(self) -> bool:
        return self.shared or bool(self.area)


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
        if present is not None and present.size == local.size and present.etag == local.etag:
            steps.append(_Step(local, "skip"))
            continue
        donor = known_content.get(local.sha256)
        if donor is not None and donor[1] == local.size and not local.multipart:
            steps.append(_Step(local, "copy", donor[0]))
        else:
            steps.append(_Step(local, "put"))
    return steps


def known_content_of(
    manifests: dict[str, layout.Manifest], wanted: Collection[str] | None = None
) -> dict[str, tuple[str, int]]:
    """sha256 -> (key, size) of a stored object with that content, newest version first; only the
    sha256s in `wanted` (None: every one). The files a release copies are few (those not stored once:
    the root page, or every file for the function router): a key is made for those alone, not for
    each of the donors' files (5 x 20,000)."""
    known: dict[str, tuple[str, int]] = {}
    for version in layout.sort_newest_first(list(manifests)):
        for path, entry in manifests[version].files.items():
            if entry.sha256 not in known and (wanted is None or entry.sha256 in wanted):
                known[entry.sha256] = (layout.stored_key(version, path, entry), entry.size)
    return known


def proven_by_donor(path: str, entry: layout.ManifestFile, donors: dict[str, layout.Manifest]) -> bool:
    """Whether a donor's sealed manifest stores `path` in the area `entry` names, with its bytes and
    headers (that seal proved them there, and an area is never overwritten). A lookup by path in each
    donor (at most --dedupe-versions), not a set over every donor's entries."""
    for donor in donors.values():
        found = donor.files.get(path)
        if (
            found is not None
            and found.stored_in == entry.stored_in
            and found.sha256 == entry.sha256
            and found.content_type == entry.content_type
            and found.cache_control == entry.cache_control
        ):
            return True
    return False


@dataclass
class SharedPlan:
    """The fingerprinted files of a build against the shared area: those to send there, those it
    holds already (nothing to send), and of those, the ones whose bytes and headers a HEAD proved
    (their ETag may differ: a copy of a multipart object)."""

    send: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    proven: set[str] = field(default_factory=set)


def plan_shared(
    s3: S3Client,
    bucket: str,
    version: str,
    build: Build,
    files: dict[str, layout.ManifestFile],
    donors: dict[str, layout.Manifest],
    listed: dict[str, storage.StoredObject],
) -> SharedPlan:
    """Which fingerprinted files the shared area lacks (`listed`: its listing, taken once the claim
    is in and no prune of the area runs). A file it lists with the
    build's ETag that a donor version's sealed manifest also stores there with the same bytes and
    headers is taken as is (that seal proved them, and the area never overwrites); any other listed
    one is read with a HEAD: the same sha256 and headers, taken; anything else is refused
    (`conflict_refusal`)."""
    plan = SharedPlan()
    unsure = []
    for path in sorted(p for p, entry in files.items() if entry.shared):
        entry = files[path]
        found = listed.get(layout.shared_asset_key(path))
        if found is None:
            plan.send.append(path)
        elif (found.size, found.etag) == (entry.size, entry.etag) and proven_by_donor(path, entry, donors):
            plan.present.append(path)
        else:
            unsure.append(path)

    def read(path: str) -> tuple[str, Any]:
        return path, storage.head_object_if_exists(s3, bucket, layout.shared_asset_key(path))

    if unsure:
        with ThreadPoolExecutor(max_workers=min(storage.HEAD_WORKERS, len(unsure))) as pool:
            heads = list(pool.map(read, unsure))
        for path, head in heads:
            if head is None:
                plan.send.append(path)
                continue
            problem = storage.header_problem(version, path, files[path], head)
            if problem is not None:
                raise conflict_refusal(version, build.fingerprinted.get(path, ""), path, head, problem)
            found, entry = listed[layout.shared_asset_key(path)], files[path]
            if found.size != entry.size or storage.etags_prove_other_bytes(found.etag, entry.etag):
                # The metadata says these bytes, the listing other ones: rewritten since it was stored.
                raise RefusedError(
                    f"version {version} was not uploaded: "
                    + storage.damaged_refusal(bucket, found.key, found, entry, "upload again")
                )
            plan.present.append(path)
            plan.proven.add(path)
    return plan


# The page `/` answers: always under the version's prefix, so that its `site-version` says which
# version is live (`sitectl verify`, `status`), even when its bytes did not change.
ROOT_PAGE = "index.html"


def plan_content(
    files: list[LocalFile],
    manifest: dict[str, layout.ManifestFile],
    donors: dict[str, layout.Manifest],
    listed: dict[str, storage.StoredObject] | None = None,
) -> list[_Step]:
    """The files stored by content (`layout.CONTENT_AREA`): nothing to do for those a donor's sealed
    manifest stores there with the same path, bytes and headers (that seal proved them, the area is
    never overwritten, and no prune deletes what a complete version or an upload in progress names),
    a conditional PUT for the others (`_put_shared`). No listing: the seal proves them all. A
    --resume passes the area's `listed` objects: one its seal found missing (deleted by hand) is
    sent then, whatever the donors say."""
    steps = []
    for local in files:
        entry = manifest[local.path]
        if entry.stored_in != layout.CONTENT_AREA:
            continue
        known = proven_by_donor(local.path, entry, donors) and (
            listed is None or layout.content_key(local.path, entry.sha256) in listed
        )
        steps.append(_Step(local, "skip" if known else "put", area=layout.CONTENT_AREA))
    return steps


def conflict_refusal(version: str, reason: str, path: str, head: Any, problem: str) -> RefusedError:
    """The refusal of a fingerprinted file whose name the shared area holds with other bytes or
    headers: its name is not a content hash, and pages would be served the other bytes."""
    other = head.get("Metadata", {}).get(layout.VERSION_METADATA_KEY) or "an earlier version"
    what = "bytes" if layout.SHA256_METADATA_KEY in problem else "headers"
    return RefusedError(
        f"{path} was taken as fingerprinted ({reason or 'declared'}), but "
        f"{layout.shared_asset_key(path)}, stored by version {other}, holds other {what} ({problem}); "
        f"version {version} was not uploaded. Fingerprinted files are stored once, by name, and a "
        f"content-hashed name never changes its bytes: this one is not a content hash. Rename it, or say "
        f"it is not fingerprinted: `sitectl upload --revalidate '{path}'` (or a line `!{path}` in "
        ".sitectlimmutable)"
    )


def _resume_hint(version: str) -> str:
    return f"version {version} stays incomplete: re-run with --resume --version {version} to complete it"


# How many files `describe_fingerprinted` names for each reason.
SHOWN_FINGERPRINTED = 10


def describe_fingerprinted(fingerprinted: dict[str, str]) -> list[str]:
    """What `sitectl upload` says of the files it took as fingerprinted: how many, why, which."""
    if not fingerprinted:
        return ["fingerprinted: none (every file is revalidated on each use)"]
    lines = [
        f"fingerprinted: {len(fingerprinted)} files, served immutable for a year and kept in the shared "
        "area for open pages of other versions (--revalidate GLOB if one is not):"
    ]
    by_reason: dict[str, list[str]] = {}
    for path, reason in sorted(fingerprinted.items()):
        by_reason.setdefault(reason, []).append(path)
    for reason, paths in sorted(by_reason.items()):
        shown = ", ".join(paths[:SHOWN_FINGERPRINTED])
        more = f" and {len(paths) - SHOWN_FINGERPRINTED} more" if len(paths) > SHOWN_FINGERPRINTED else ""
        lines.append(f"  {len(paths)} {reason}: {shown}{more}")
    return lines


def upload_build(
    s3: S3Client,
    bucket: str,
    directory: Path,
    version: str | None = None,
    *,
    resume: bool = False,
    excludes: Sequence[str] = (),
    includes: Sequence[str] = (),
    header_rules: HeaderRules | None = None,
    workers: int = DEFAULT_WORKERS,
    attempts: int = DEFAULT_ATTEMPTS,
    dedupe_versions: int = DEFAULT_DEDUPE_VERSIONS,
    progress: ProgressCallback | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    after_claim: Hook | None = None,
    before_seal: Hook | None = None,
    on_takeover: Callable[[str], None] | None = None,
    router: str | None = None,
) -> UploadReport:
    """Upload `directory` as `version` (default: the current UTC time, or the next free second)
    and return what was done.

    `progress(n)` is called with the bytes of each file once it is stored; `on_start(version, files,
    bytes)` once the plan is made; `on_takeover(owner)` when the claim of the same build, left by an
    interrupted run, was taken over without --resume; `router`: the one that will serve the version
    (a build whose rules the cloudfront-function router cannot carry is refused for it, before anything is
    sent: `edge_function.rule_keys.compile_rules`;
    lambda-edge stores by content, see below; None: what both serve); `after_claim` and
    `before_seal` (tests) at those
    points; `clock`
    times the re-reads of the claim (`storage.ClaimWatch`). Raises
    StoreRefusedError (exit 2) for a bad build or a version that is taken or complete, before
    writing anything; SitectlError or StoreError (exit 1) when AWS fails: the version then stays
    incomplete and claimed, for `--resume`.
    """
    if version is not None:
        layout.validate_version(version)
    elif resume:
        raise RefusedError("--resume needs --version: the version id of the interrupted upload")
    build = scan_build(directory, excludes=excludes, includes=includes, header_rules=header_rules)
    if router == CLOUDFRONT_FUNCTION and build.rules:
        # The keys the rules take in the function's store do not depend on the version's id.
        try:
            compile_rules(version or "", build.rules, [f.path for f in build.files])
        except RulesNotCarriedError as error:
            raise RefusedError(
                f"the stack's router is {CLOUDFRONT_FUNCTION}, and this build: {error}"
            ) from None
    files = build.files
    # Fingerprinted files are stored once, in the shared area; for the Lambda@Edge router (which
    # alone reads where each file is from the manifest) every other file but the root page is stored
    # once by path and bytes; the rest under the version's prefix.
    by_content = router == LAMBDA_EDGE
    manifest_files = {
        f.path: layout.ManifestFile(
            f.size,
            f.sha256,
            f.content_type,
            f.cache_control,
            f.etag,
            layout.SHARED_AREA
            if f.path in build.fingerprinted
            else layout.CONTENT_AREA
            if by_content and f.path != ROOT_PAGE
            else "",
        )
        for f in files
    }
    digest = layout.Manifest(version="", created="", files=manifest_files, rules=build.rules).files_digest()
    if version is not None:
        claim = storage.claim_version(
            s3, bucket, storage.new_claim(version, now, digest), resume=resume, workers=workers
        )
    else:
        # The id is a time, and ids order versions (newest, "newer than the live one" for prune,
        # rollback): S3's clock, not a machine's that may run behind.
        claim = storage.claim_new_version(
            s3, bucket, now or storage.server_now(s3, bucket), build_digest=digest, workers=workers
        )
    version = claim.version
    report = UploadReport(
        version,
        files=len(files),
        total_bytes=sum(f.size for f in files),
        excluded=build.excluded,
        took_over=claim.taken_over,
        fingerprinted=build.fingerprinted,
        redirect_rules=len(build.rules.redirects),
        header_rules=len(build.rules.headers),
    )
    if claim.taken_over and on_takeover:
        on_takeover(claim.taken_over)
    fresh_claim = not (resume or claim.taken_over)
    resume = resume or bool(claim.taken_over)
    if after_claim:
        after_claim(claim)

    def read_donors() -> dict[str, layout.Manifest]:
        # Earlier versions' manifests (an unreadable one is named and not used as a donor): content
        # to copy rather than send, and the files stored once whose seal proved their bytes and headers.
        donor_versions = [v for v in storage.complete_versions(s3, bucket) if v != version]
        return storage.read_manifests(
            s3,
            bucket,
            donor_versions[: max(dedupe_versions, 0)],
            lambda error: click.echo(f"warning: {error}; not copied from", err=True),
        )

    try:
        # The claim is in: from now on a prune of the shared area sees it and deletes nothing. One
        # that started before is waited for, so the listing below is what stays (`shared_assets`).
        # The donors' manifests are read meanwhile (independent reads: the plan costs the longest of
        # them, not their sum, a round trip each on S3), and again if a prune was waited for.
        waited: list[float] = []

        def wait(seconds: float) -> None:
            waited.append(seconds)
            sleep(seconds)

        def prunes_then_area() -> dict[str, storage.StoredObject]:
            if running := wait_for_prunes(s3, bucket, wait):
                raise SitectlError(
                    f"a prune of the shared assets ({running[0]}) still runs: nothing was uploaded; "
                    "upload again once it is done (if it died, delete that key: it is ignored after an hour)"
                )
            keys = [layout.shared_asset_key(path) for path in build.fingerprinted]
            return storage.objects_at(s3, bucket, layout.SHARED_ASSET_PREFIX, keys, workers)

        listed, donors = storage.read_together(workers, prunes_then_area, read_donors)
        if waited and workers > 1:
            # Read while a prune ran, which may have deleted a donor and files only it named: read
            # again, now that it is done (a donor's seal proves the files stored once that it names).
            donors = read_donors()
        shared = plan_shared(s3, bucket, version, build, manifest_files, donors, listed)
    except RefusedError:
        if fresh_claim:  # nothing was written but the claim: the version id is free again
            storage.drop_claim(s3, bucket, claim)
        raise
    at_prefix = [f for f in files if not manifest_files[f.path].stored_once]
    known = known_content_of(donors, {f.sha256 for f in at_prefix})

    # Only a resumed upload can find its own objects already stored; a fresh claim overwrites
    # whatever an unclaimed earlier attempt left, and the seal removes the rest.
    stored = {obj.key: obj for obj in storage.version_objects(s3, bucket, version)} if resume else {}
    by_path = {f.path: f for f in files}
    steps = plan_upload(at_prefix, version, stored, known)
    by_content_listed = (
        storage.objects_at(
            s3,
            bucket,
            layout.CONTENT_PREFIX,
            [
                layout.content_key(path, entry.sha256)
                for path, entry in manifest_files.items()
                if entry.stored_in == layout.CONTENT_AREA
            ],
            workers,
        )
        if resume and by_content
        else None
    )
    steps += plan_content(files, manifest_files, donors, by_content_listed)
    # The plan is made: the donors' manifests (a few hundred bytes a file each, up to
    # --dedupe-versions of them) and the listings are not held through the upload and the seal.
    del donors, listed, by_content_listed
    reasons = build.fingerprinted
    steps += [_Step(by_path[path], "put", shared=True, reason=reasons[path]) for path in shared.send]
    steps += [_Step(by_path[path], "skip", shared=True) for path in shared.present]
    report.shared = PublishReport(already=list(shared.present))
    if resume:
        # An object kept from the interrupted attempt must also carry the build's headers and
        # metadata (a rewrite with the same bytes keeps its ETag): one that does not is sent again.
        kept = [step.file.path for step in steps if step.action == "skip" and not step.stored_once]
        wrong = storage.header_problems(s3, bucket, version, manifest_files, kept)
        steps = [_Step(step.file, "put") if step.file.path in wrong else step for step in steps]
    if on_start:
        on_start(version, len(files), report.total_bytes)

    try:
        watch = storage.ClaimWatch(s3, bucket, claim, clock)
        _run_steps(s3, bucket, watch, claim, steps, stored, report, workers, attempts, progress, sleep)
    except KeyboardInterrupt:
        raise SitectlError(f"upload of {version} interrupted; {_resume_hint(version)}") from None
    if before_seal:
        before_seal(claim)

    manifest = layout.Manifest(
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        files=manifest_files,
        rules=build.rules,
    )
    body = manifest.to_json().encode()  # once: its JSON is a few hundred bytes a file
    try:
        kept = [step.file.path for step in steps if step.action == "skip" and not step.stored_once]
        removed = storage.seal_version(s3, bucket, claim, manifest, kept, shared.proven, workers, body)
    except ClientError as error:
        raise SitectlError(f"{describe_aws_error(error)}; {_resume_hint(version)}") from error
    report.removed_objects = len(removed)
    report.sent_bytes += len(body)
    report.shared.published.sort()
    report.shared.already.sort()
    return report


def _run_steps(
    s3: S3Client,
    bucket: str,
    watch: storage.ClaimWatch,
    claim: storage.Claim,
    steps: list[_Step],
    stored: dict[str, storage.StoredObject],
    report: UploadReport,
    workers: int,
    attempts: int,
    progress: ProgressCallback | None,
    sleep: Callable[[float], None],
) -> None:
    version = claim.version
    for step in steps:
        if step.action == "skip":
            report.skipped_files += 1
            if progress:
                progress(step.file.size)

    def run(step: _Step) -> _Step:
        # A --resume elsewhere may have taken the version over: then this upload writes no more.
        watch.before_write()
        key = step.key(version)
        if step.stored_once:
            return _put_shared(s3, bucket, version, step, attempts, sleep)
        planned = storage.write_condition(stored.get(key))
        if step.action == "copy":
            assert step.source_key is not None
            copy = partial(copy_file, s3, bucket, version, step.file, step.source_key, planned)
            if with_retries(copy, attempts, sleep):
                return step
            # The donor was pruned or no longer holds these bytes, or the key was written meanwhile:
            # send the file instead, and see below.
            step = _Step(step.file, "put")
        # Every write is conditional on the key being as planned: a write of an upload whose claim
        # was taken over cannot overwrite what the new owner stored (or sealed).
        condition: dict[str, str] | None = planned
        while condition is not None:
            try:
                with_retries(partial(put_file, s3, bucket, version, step.file, condition), attempts, sleep)
                return step
            except ClientError as error:
                if error_code(error) not in _REFUSED_WRITE:
                    raise
            condition = storage.settle_refused_write(s3, bucket, claim, key, step.file.etag)
        return _Step(step.file, "skip")

    pending = [step for step in steps if step.action != "skip"]
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(run, step): step for step in pending}
        for future in as_completed(futures):
            error = future.exception()
            if isinstance(error, storage.ClaimLostError | RefusedError):
                raise error
            if error is not None:
                if isinstance(error, ClientError | BotoCoreError):
                    detail = describe_aws_error(error)
                else:
                    detail = str(error)
                raise SitectlError(
                    f"uploading {futures[future].file.path} failed: {detail}; {_resume_hint(version)}"
                ) from error
            finished = future.result()
            if finished.shared:
                assert report.shared is not None
                (report.shared.published if finished.action == "put" else report.shared.already).append(
                    finished.file.path
                )
            if finished.action == "skip":  # an earlier attempt of the same write had landed
                report.skipped_files += 1
            elif finished.action == "copy":
                report.copied_files += 1
            else:
                report.sent_files += 1
                report.sent_bytes += finished.file.size
            if progress:
                progress(finished.file.size)
    finally:
        # On failure or Ctrl-C: drop what has not started, let running requests finish (shutdown
        # waits for them by default).
        pool.shutdown(cancel_futures=True)


def _put_shared(
    s3: S3Client, bucket: str, version: str, step: _Step, attempts: int, sleep: Callable[[float], None]
) -> _Step:
    """Send a fingerprinted file to the shared area, only if the name is free there (If-None-Match):
    nothing there is ever overwritten. Refused (412, or 409 while another write of it is in flight):
    another upload stored the name meanwhile, or an earlier attempt of this one; taken when its bytes
    and headers are the build's, else refused (`conflict_refusal`). A 409 whose other write has not
    landed (still in flight, or failed) is no answer: sent again, as S3 documents, `attempts` times."""
    key = step.key(version)
    head = None
    for attempt in range(1, attempts + 1):
        try:
            with_retries(
                partial(put_file, s3, bucket, version, step.file, {"IfNoneMatch": "*"}, key), attempts, sleep
            )
            return step
        except ClientError as error:
            if error_code(error) not in (*_REFUSED_WRITE, "ConditionalRequestConflict", "409"):
                raise
            if (head := storage.head_object_if_exists(s3, bucket, key)) is not None:
                break
            if attempt == attempts:
                raise
        sleep(min(10.0, 0.2 * 2 ** (attempt - 1)))
    assert head is not None  # the loop returned, raised, or found the object
    local = step.file
    entry = layout.ManifestFile(
        local.size,
        local.sha256,
        local.content_type,
        local.cache_control,
        local.etag,
        step.area or layout.SHARED_AREA,
    )
    problem = storage.header_problem(version, local.path, entry, head)
    if problem is not None:
        if step.area == layout.CONTENT_AREA:  # the same path and bytes: only headers can differ
            raise RefusedError(
                f"{key}, stored by version {head.get('Metadata', {}).get(layout.VERSION_METADATA_KEY)}, has "
                f"other headers than {local.path} of version {version} ({problem}); upload with "
                "--router cloudfront-function (every such file under the version's prefix)"
            )
        raise conflict_refusal(version, step.reason, local.path, head, problem)
    return replace(step, action="skip")


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


class ProgressLines:
    """Progress as lines: for logs (stderr is not a terminal) one at most every PROGRESS_LINE_SECONDS;
    on a terminal, `interval` shorter and each line drawn over the last.

    The estimate of the time left counts both what an upload spends: bytes sent and requests made.
    The share done is the mean of the bytes' share and the files' share (one request or more each),
    so a build of many small files, whose time goes to requests, does not look nearly done after its
    first large file, nor the other way round; the time left is the time so far scaled by the rest.
    """

    def __init__(
        self,
        total: int,
        echo: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        files: int = 0,
        interval: float | None = None,
        verb: str = "uploaded",
    ) -> None:
        self.verb = verb
        self.total = total
        self.files = files
        self.done = 0
        self.files_done = 0
        self.echo = echo
        self.clock = clock
        self.interval = PROGRESS_LINE_SECONDS if interval is None else interval
        self.started = self.last = clock()

    def __call__(self, count: int) -> None:
        self.done += count
        self.files_done += 1
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.echo(self.line(now))

    def share_done(self) -> float:
        shares = [self.done / self.total] if self.total else []
        shares += [self.files_done / self.files] if self.files else []
        return min(sum(shares) / len(shares), 1.0) if shares else 1.0

    def line(self, now: float) -> str:
        text = f"{self.verb} {_megabytes(self.done)} of {_megabytes(self.total)}"
        if self.files:
            text += f", {self.files_done} of {self.files} files"
        share = self.share_done()
        if 0 < share < 1:
            left = (now - self.started) * (1 - share) / share
            text += f", about {_duration(left)} left"
        return text


def progress_lines(stack: ExitStack, total: int, files: int, verb: str = "uploaded") -> ProgressLines:
    """Progress on stderr, for `upload` and `promote`: on a terminal one line, redrawn (and ended when
    `stack` closes); in CI logs a line at most every PROGRESS_LINE_SECONDS."""
    if sys.stderr.isatty():
        stack.callback(lambda: click.echo(err=True))
        return ProgressLines(
            total,
            lambda line: click.echo(f"\r{line}\033[K", err=True, nl=False),
            files=files,
            interval=TERMINAL_PROGRESS_SECONDS,
            verb=verb,
        )
    return ProgressLines(total, lambda line: click.echo(line, err=True), files=files, verb=verb)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


MAX_EXCLUDED_SHOWN = 20


def describe_excluded(excluded: list[str]) -> list[str]:
    """The lines telling what the exclusions kept home."""
    if not excluded:
        return []
    shown = excluded[:MAX_EXCLUDED_SHOWN]
    more = len(excluded) - len(shown)
    lines = [f"excluded {len(excluded)} paths (defaults, .sitectlignore, --exclude; --include re-adds):"]
    lines += [f"  {path}" for path in shown]
    if more:
        lines.append(f"  ... and {more} more")
    return lines


@click.command("upload")
@json_output
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
@version_option("Version id (default: the current UTC time, YYYYMMDDTHHMMSSZ).")
@click.option(
    "--resume",
    is_flag=True,
    help="Complete an interrupted upload of --version: take over its claim. Only when that upload is "
    "no longer running.",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="GLOB",
    help="Leave matching paths out (gitignore-like; also the build's .sitectlignore). Repeatable.",
)
@click.option(
    "--include",
    "includes",
    multiple=True,
    metavar="GLOB",
    help="Upload matching paths even if excluded (e.g. a dot-file you publish). Repeatable.",
)
@click.option(
    "--immutable",
    "immutable_globs",
    multiple=True,
    metavar="GLOB",
    help="Serve matching files as immutable for a year (their names change with their content).",
)
@click.option(
    "--revalidate",
    "revalidate_globs",
    multiple=True,
    metavar="GLOB",
    help="Never serve matching files as immutable, whatever their names look like.",
)
@click.option("--workers", type=click.IntRange(1, 128), default=DEFAULT_WORKERS, show_default=True)
@click.option(
    "--dedupe-versions",
    type=click.IntRange(0),
    default=DEFAULT_DEDUPE_VERSIONS,
    show_default=True,
    help="Newest complete versions whose files are copied server-side instead of sent again.",
)
@click.option(
    "--router",
    type=click.Choice(ROUTERS),
    default=None,
    help="The router that will serve the version. lambda-edge: unchanged files are stored once, by "
    "content (nothing sent or copied for them; only Lambda@Edge serves such a version). Default: the "
    "stack's `router` output; with --bucket alone, every file that is not fingerprinted under the "
    "version's prefix (both routers serve it).",
)
@site_options()
@aws_errors
def upload_command(
    directory: Path,
    version: str | None,
    resume: bool,
    excludes: tuple[str, ...],
    includes: tuple[str, ...],
    immutable_globs: tuple[str, ...],
    revalidate_globs: tuple[str, ...],
    workers: int,
    dedupe_versions: int,
    router: str | None,
    site: Site,
    output: Output,
) -> None:
    """Upload DIRECTORY as a new version and print its id as the last line.

    The version id is claimed first (a second upload of the same id is refused), files go in
    parallel and with retries, the manifest last, once every stored object is checked against the
    build: an interrupted upload leaves an incomplete version that cannot be released;
    --resume --version completes it. Dot-files (.git/, .env*, .DS_Store ...) except .well-known/,
    node_modules/ and editor litter stay home; see --exclude/--include and .sitectlignore.
    """
    bucket = storage.check_bucket_name(site.bucket())
    with ExitStack() as stack:
        reporter: list[ProgressCallback] = []

        def on_start(chosen: str, files: int, total: int) -> None:
            click.echo(
                f"uploading {files} files ({_megabytes(total)}) as {chosen} to s3://{bucket}", err=True
            )
            reporter.append(progress_lines(stack, total, files))

        report = upload_build(
            site.s3(),
            bucket,
            directory,
            version,
            resume=resume,
            excludes=excludes,
            includes=includes,
            header_rules=HeaderRules(immutable_globs, revalidate_globs),
            workers=workers,
            dedupe_versions=dedupe_versions,
            on_start=on_start,
            progress=lambda n: reporter[0](n),
            # --router, else the stack's `router` output (as `verify` reads it): a build whose rules
            # its router cannot carry goes nowhere, and only Lambda@Edge serves a version stored by
            # content; none known: what both routers serve.
            router=router or (site.outputs().get("router") if site.has_stack else None),
            on_takeover=lambda owner: output.say(
                f"took over the claim of {owner}: the same build (files and headers), interrupted or "
                "still running; that run can no longer write, seal or delete anything of this version"
            ),
        )
    for line in describe_excluded(report.excluded):
        output.say(line)
    for line in describe_fingerprinted(report.fingerprinted):
        output.say(line)
    output.say(
        f"{report.files} files ({report.total_bytes} bytes): {report.sent_files} sent "
        f"({report.sent_bytes} bytes with the manifest), {report.copied_files} copied server-side, "
        f"{report.skipped_files} already stored"
        + (f", {report.removed_objects} stale objects removed" if report.removed_objects else "")
    )
    if report.redirect_rules or report.header_rules:
        output.say(
            f"rules: {report.redirect_rules} redirects (_redirects) and {report.header_rules} header blocks "
            "(_headers), recorded in the version's manifest (the two files are not served)"
        )
    if report.shared is not None:
        shared = report.shared
        output.say(
            f"skew protection: {len(shared.published)} fingerprinted files shared, {len(shared.already)} "
            f"already shared, {len(shared.skipped)} not shared"
        )
    output.result(upload_document(report, bucket), [report.version])


def upload_document(report: UploadReport, bucket: str) -> dict[str, object]:
    """`upload --json` (README, "sitectl: naming, output, exit codes")."""
    shared = report.shared
    return {
        "version": report.version,
        "bucket": bucket,
        "files": report.files,
        "bytes": report.total_bytes,
        "sent_files": report.sent_files,
        "sent_bytes": report.sent_bytes,
        "copied_files": report.copied_files,
        "already_stored_files": report.skipped_files,
        "removed_objects": report.removed_objects,
        "redirect_rules": report.redirect_rules,
        "header_rules": report.header_rules,
        "excluded": report.excluded,
        "took_over": report.took_over or None,
        "shared_assets": None
        if shared is None
        else {
            "published": len(shared.published),
            "already": len(shared.already),
            "skipped": len(shared.skipped),
        },
    }
