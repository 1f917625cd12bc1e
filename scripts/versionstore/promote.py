"""Promote a complete version from one bucket to another (staging to prod) without re-uploading it.

Every object is copied server-side (CopyObject, pinned to the source object's ETag with
CopySourceIfMatch, metadata and headers copied with it), checked against the source manifest, and
only then is the manifest written, with the source's bytes unchanged: the destination holds the very
bytes that were tested, under the same version id. The destination version is claimed first, as an
upload claims it. An interrupted promote leaves an incomplete version, still claimed; running it
again with `resume` copies only what is missing or different. A destination that already holds
the version with the same manifest and objects is left alone: nothing is copied.

Refusals (StoreRefusedError, exit 2) happen before anything is written: a source version that is
missing, incomplete or damaged; a destination version that is complete with other content, or whose
prefix holds objects the source version does not have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.versionstore import store
from scripts.versionstore.errors import StoreError, StoreRefusedError, error_code
from scripts.versionstore.shared_assets import PublishReport, Warn, publish_shared_assets, wait_for_prunes
from scripts.versionstore.transfer import with_retries

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

DEFAULT_WORKERS = 16
DEFAULT_ATTEMPTS = 5
_PRECONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict")

T = TypeVar("T")
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class BucketRef:
    """A bucket and a client for its region."""

    s3: S3Client
    name: str

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"


@dataclass(frozen=True)
class StoredManifest:
    """A manifest object as stored: its exact bytes and the headers it was written with."""

    body: bytes
    content_type: str
    cache_control: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class _Expected:
    """One file of the version: what its manifest says and what the source object is."""

    path: str
    key: str
    entry: layout.ManifestFile
    source: store.StoredObject


@dataclass
class PromoteReport:
    version: str
    files: int = 0
    total_bytes: int = 0
    copied_files: int = 0
    copied_bytes: int = 0
    skipped_files: int = 0  # already in the destination with the right content
    already_complete: bool = False  # the destination held the version before: nothing was written
    shared: PublishReport | None = None  # its fingerprinted files published in the destination


def bucket_region(s3: S3Client, bucket: str) -> str:
    """The region of `bucket` (GetBucketLocation answers None for us-east-1, "EU" for old eu-west-1)."""
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else str(location)


def read_stored_manifest(s3: S3Client, bucket: str, version: str) -> StoredManifest | None:
    """The manifest object of `version` with its bytes and headers, or None when there is none.

    (It belongs beside `store.read_manifest`, which parses and drops the bytes; kept here while
    store.py is being rewritten.)"""
    response = store.get_object_if_exists(s3, bucket, layout.manifest_key(version))
    if response is None:
        return None
    return StoredManifest(
        body=response["Body"].read(),
        # S3 always answers Content-Type (binary/octet-stream when none was given) and Metadata.
        content_type=response["ContentType"],
        cache_control=response.get("CacheControl"),
        metadata=dict(response["Metadata"]),
    )


def promote_version(
    source: BucketRef,
    destination: BucketRef,
    version: str,
    *,
    resume: bool = False,
    workers: int = DEFAULT_WORKERS,
    attempts: int = DEFAULT_ATTEMPTS,
    on_start: Callable[[int, int], None] | None = None,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    warn: Warn = lambda message: None,
) -> PromoteReport:
    """Copy the complete `version` from `source` to `destination`, its manifest last.

    The destination version is claimed first (`store.claim_version`), as an upload claims it: a
    version another upload or promote holds is refused (VersionClaimedError, nothing written);
    `resume` takes over the claim of an interrupted one. `on_start(files, bytes)` is called once
    the plan is made (not when nothing is to be done), `progress(n)` with the bytes of each file
    once it is in place. Once complete (or found complete already), the version's fingerprinted
    files are published to the destination's shared area, as an upload publishes them (`warn` gets
    what could not be shared).
    """
    try:
        layout.validate_version(version)
    except layout.InvalidVersionError as error:
        raise StoreRefusedError(str(error)) from error
    manifest_object, expected = _read_source(source, version, workers)
    report = PromoteReport(
        version, files=len(expected), total_bytes=sum(e.entry.size for e in expected.values())
    )

    existing = read_stored_manifest(destination.s3, destination.name, version)
    if existing is not None:
        repaired = _restore_shared(source, destination, version, existing, manifest_object, expected)
        _check_already_promoted(source, destination, version, manifest_object, existing, expected, workers)
        report.already_complete = True
        report.skipped_files = len(expected)
        _publish(destination, manifest_object, report, warn, workers, sleep)
        if report.shared is not None and repaired:
            report.shared.published.extend(repaired)
            report.shared.already[:] = [path for path in report.shared.already if path not in repaired]
        return report

    stored = {o.key: o for o in store.version_objects(destination.s3, destination.name, version)}
    extra = sorted(set(stored) - set(expected))
    if extra:
        raise StoreRefusedError(
            f"{destination.url(layout.version_prefix(version))} holds {len(extra)} object(s) that version "
            f"{version} of {source.name} does not have (e.g. {extra[0]}); delete them "
            f"(aws s3 rm --recursive {destination.url(layout.version_prefix(version))}) and promote again"
        )
    # The destination version is claimed as an upload claims it: an upload or another promote of
    # the same id is refused, and an interrupted promote is taken over with `resume`.
    try:
        claim = store.claim_version(
            destination.s3,
            destination.name,
            store.new_claim(version),
            resume=resume,
            resume_hint="run the same promote again with --resume",
        )
    except store.VersionCompleteError:
        existing = read_stored_manifest(destination.s3, destination.name, version)
        if existing is None:
            raise
        _check_already_promoted(source, destination, version, manifest_object, existing, expected, workers)
        report.already_complete = True
        report.skipped_files = len(expected)
        return _publish(destination, manifest_object, report, warn, workers, sleep)

    # Files the version stores once in the shared area: the destination's area may hold them already
    # (an upload or promote of another version); it is never overwritten. Its prunes are waited for
    # first, and see the claim from then on (`shared_assets`).
    if _shared(expected):
        if running := wait_for_prunes(destination.s3, destination.name, sleep):
            raise StoreError(
                f"a prune of the shared assets of {destination.name} ({running[0]}) still runs: run the "
                "same promote again with --resume once it is done"
            )
        stored.update(_shared_in(destination, expected))
    # Objects left by an interrupted promote: kept when they already match, copied again otherwise.
    candidates = [e for e in expected.values() if _same_listing(stored.get(e.key), e.source)]
    problems = _parallel(lambda e: _object_problem(destination, version, e), candidates, workers)
    in_place = {e.key for e, problem in zip(candidates, problems, strict=True) if problem is None}
    for item in expected.values():
        if item.entry.stored_once and item.key in stored and item.key not in in_place:
            raise StoreRefusedError(
                f"{destination.url(item.key)} holds other bytes than {item.path} of version {version} in "
                f"{source.name} ({_object_problem(destination, version, item) or 'another ETag'}): "
                "fingerprinted files are stored once, by name, and never overwritten; nothing was copied. "
                f"Upload the build to {destination.name} as a new version with that file renamed, or "
                f"`--revalidate '{item.path}'`"
            )
    pending = [e for e in expected.values() if e.key not in in_place]
    report.skipped_files = len(in_place)

    if on_start:
        on_start(report.files, report.total_bytes)
    if progress:
        for key in in_place:
            progress(expected[key].entry.size)
    _copy_all(source, destination, claim, pending, stored, report, workers, attempts, progress, sleep)
    _check_destination(destination, version, expected)
    _write_manifest(destination, claim, manifest_object)
    return _publish(destination, manifest_object, report, warn, workers, sleep)


def _publish(
    destination: BucketRef,
    manifest_object: StoredManifest,
    report: PromoteReport,
    warn: Warn,
    workers: int,
    sleep: Callable[[float], None],
) -> PromoteReport:
    """Skew protection in the destination, as after an upload: the version's fingerprinted files in
    its shared area (idempotent, so a promote of a version already there repairs a missing one)."""
    manifest = layout.Manifest.from_json(manifest_object.body)
    report.shared = publish_shared_assets(destination.s3, destination.name, manifest, warn, workers, sleep)
    return report


def _read_source(
    source: BucketRef, version: str, workers: int
) -> tuple[StoredManifest, dict[str, _Expected]]:
    """The source's manifest and, per key, the file it describes; refuses an incomplete source."""
    manifest_object = read_stored_manifest(source.s3, source.name, version)
    if manifest_object is None:
        if store.version_objects_exist(source.s3, source.name, version):
            state, suggestion = "is incomplete (no manifest)", ""
        else:
            state = "does not exist"
            suggestion = store.did_you_mean(version, store.complete_versions(source.s3, source.name))
        raise StoreRefusedError(
            f"version {version} {state} in {source.name}: only a complete version can be promoted"
            + suggestion
        )
    try:
        manifest = layout.Manifest.from_json(manifest_object.body)
    except (ValueError, KeyError, TypeError) as error:
        raise StoreRefusedError(
            f"manifest {source.url(layout.manifest_key(version))} is unreadable: {error}"
        ) from error
    if manifest.version != version:
        raise StoreRefusedError(
            f"manifest {source.url(layout.manifest_key(version))} describes version {manifest.version}"
        )
    objects = {o.key: o for o in store.version_objects(source.s3, source.name, version)}
    if any(entry.stored_once for entry in manifest.files.values()):
        objects.update(store.area_objects(source.s3, source.name, manifest.files))
    expected = {}
    for path, entry in sorted(manifest.files.items()):
        key = layout.stored_key(version, path, entry)
        found = objects.get(key)
        if found is None:
            state = "is missing"
        elif found.size != entry.size:
            state = f"has {found.size} bytes, its manifest says {entry.size}"
        elif (
            entry.etag
            and found.etag != entry.etag
            and (not entry.stored_once or store.etags_prove_other_bytes(found.etag, entry.etag))
        ):
            # The same size, other bytes (overwritten after the seal): the listing's ETag shows it
            # (for a file stored once, unless a side is multipart: then its sha256 metadata, below).
            state = f"has ETag {found.etag}, its manifest says {entry.etag}"
        else:
            state = ""
        if found is None or state:
            raise StoreRefusedError(
                f"version {version} in {source.name} is damaged: {key} {state}; nothing was promoted "
                f"(`sitectl --bucket {source.name} versions --verify --version {version}` lists every "
                "difference)"
            )
        expected[key] = _Expected(path, key, entry, found)
    # A manifest from before ETags were recorded: each object's sha256 metadata instead (a HEAD each);
    # the same for a shared file listed with another ETag (published as a copy of a multipart object).
    unpinned = [
        item
        for item in expected.values()
        if not item.entry.etag or (item.entry.stored_once and item.source.etag != item.entry.etag)
    ]
    for item, sha256 in zip(unpinned, _parallel(partial(_sha256_of, source), unpinned, workers), strict=True):
        if sha256 != item.entry.sha256:
            raise StoreRefusedError(
                f"version {version} in {source.name} is damaged: {item.key} has sha256 {sha256 or 'none'}, "
                f"its manifest says {item.entry.sha256}; nothing was promoted"
            )
    return manifest_object, expected


def _sha256_of(bucket: BucketRef, item: _Expected) -> str:
    head = bucket.s3.head_object(Bucket=bucket.name, Key=item.key, IfMatch=f'"{item.source.etag}"')
    return str(head["Metadata"].get(layout.SHA256_METADATA_KEY, ""))


def _check_already_promoted(
    source: BucketRef,
    destination: BucketRef,
    version: str,
    manifest_object: StoredManifest,
    existing: StoredManifest,
    expected: dict[str, _Expected],
    workers: int,
) -> None:
    """A complete destination is accepted only when it is the source's version, object for object."""
    if existing.body != manifest_object.body:
        raise StoreRefusedError(
            f"version {version} already exists in {destination.name} with different content (its manifest "
            f"differs from the one in {source.name}); versions are immutable: nothing was written"
        )
    problem = _destination_problem(destination, version, expected)
    if problem is None:
        problems = _parallel(lambda e: _object_problem(destination, version, e), expected.values(), workers)
        problem = next((p for p in problems if p), None)
    if problem:
        raise StoreRefusedError(
            f"version {version} is complete in {destination.name} but differs from {source.name}: "
            f"{problem}; nothing was written"
        )


def _restore_shared(
    source: BucketRef,
    destination: BucketRef,
    version: str,
    existing: StoredManifest,
    manifest_object: StoredManifest,
    expected: dict[str, _Expected],
) -> list[str]:
    """A version complete in the destination whose files in the shared area went missing there (as a
    promote publishes a version's fingerprinted files again): copied back, never over anything
    (If-None-Match). Only for the very manifest of the source; the paths restored."""
    if existing.body != manifest_object.body or not _shared(expected):
        return []
    present = _shared_in(destination, expected)
    restored = []
    for item in expected.values():
        if item.entry.stored_once and item.key not in present:
            try:
                _copy(source, destination, item, {"IfNoneMatch": "*"})
            except ClientError as error:
                if error_code(error) not in _PRECONDITION_FAILED:
                    raise
                continue  # stored meanwhile: the check that follows compares it
            restored.append(item.path)
    return restored


def _shared(expected: dict[str, _Expected]) -> bool:
    return any(item.entry.stored_once for item in expected.values())


def _shared_in(bucket: BucketRef, expected: dict[str, _Expected]) -> dict[str, store.StoredObject]:
    """The objects of `bucket`'s shared area that are files of `expected` (one listing of the area)."""
    files = {item.path: item.entry for item in expected.values()}
    return {
        key: obj for key, obj in store.area_objects(bucket.s3, bucket.name, files).items() if key in expected
    }


def _same_listing(stored: store.StoredObject | None, source: store.StoredObject) -> bool:
    return stored is not None and stored.size == source.size and stored.etag == source.etag


def _object_problem(destination: BucketRef, version: str, expected: _Expected) -> str | None:
    """What is wrong with the destination object of one file, or None when it matches the source."""
    head = store.head_object_if_exists(destination.s3, destination.name, expected.key)
    if head is None:
        return f"{expected.key} is missing"
    etag = head["ETag"].strip('"')
    size = head["ContentLength"]
    metadata = head["Metadata"]
    if size != expected.entry.size:
        return f"{expected.key} has {size} bytes, the manifest says {expected.entry.size}"
    if etag != expected.source.etag:
        return f"{expected.key} has ETag {etag}, the source object {expected.source.etag}"
    sha256 = metadata.get(layout.SHA256_METADATA_KEY)
    if sha256 is not None and sha256 != expected.entry.sha256:
        return f"{expected.key} has sha256 {sha256}, the manifest says {expected.entry.sha256}"
    stamped = metadata.get(layout.VERSION_METADATA_KEY)
    # A file stored once in the shared area is marked with the version that stored it there.
    if stamped is not None and stamped != version and not expected.entry.stored_once:
        return f"{expected.key} is stamped with version {stamped}"
    return None


def _destination_problem(destination: BucketRef, version: str, expected: dict[str, _Expected]) -> str | None:
    """The destination prefix, listed: exactly the source's keys, each with the source's size and ETag."""
    stored = {o.key: o for o in store.version_objects(destination.s3, destination.name, version)}
    extra = sorted(set(stored) - set(expected))
    if extra:
        return f"{extra[0]} is not in the source version"
    if _shared(expected):
        stored.update(_shared_in(destination, expected))
    for key, item in expected.items():
        if key not in stored:
            return f"{key} is missing"
        if not _same_listing(stored[key], item.source):
            return f"{key} ({stored[key].size} bytes, ETag {stored[key].etag}) differs from the source"
    return None


def _copy_all(
    source: BucketRef,
    destination: BucketRef,
    claim: store.Claim,
    pending: list[_Expected],
    stored: dict[str, store.StoredObject],
    report: PromoteReport,
    workers: int,
    attempts: int,
    progress: ProgressCallback | None,
    sleep: Callable[[float], None],
) -> None:
    version = claim.version

    def run(item: _Expected) -> _Expected:
        _copy_into_place(source, destination, claim, item, stored.get(item.key), attempts, sleep)
        problem = _object_problem(destination, version, item)
        if problem:
            raise StoreError(f"after the copy, {problem}")
        return item

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(run, item): item for item in pending}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                raise StoreError(
                    f"copying {futures[future].key} failed: {_describe(error)}; version {version} stays "
                    f"incomplete in {destination.name}: run the same promote again with --resume to "
                    "complete it"
                ) from error
            report.copied_files += 1
            report.copied_bytes += futures[future].entry.size
            if progress:
                progress(futures[future].entry.size)
    finally:
        # On failure or Ctrl-C: drop what has not started; shutdown waits (by default) for the
        # running requests to finish.
        pool.shutdown(cancel_futures=True)


def _copy_into_place(
    source: BucketRef,
    destination: BucketRef,
    claim: store.Claim,
    item: _Expected,
    stored: store.StoredObject | None,
    attempts: int,
    sleep: Callable[[float], None],
) -> None:
    """Copy one object, conditional on the destination key being as listed (as the uploader's
    writes are): a promote whose claim was taken over cannot overwrite the new owner's objects.
    A 412 is either that condition or the source pin: the source is asked which."""
    condition: dict[str, str] | None = store.write_condition(stored)
    conflicts = 0
    while condition is not None:
        try:
            with_retries(partial(_copy, source, destination, item, condition), attempts, sleep)
            return
        except ClientError as error:
            # 404: If-Match on a key that is gone.
            if error_code(error) not in (*_PRECONDITION_FAILED, *store.MISSING_CODES):
                raise
            if (
                item.entry.stored_once
            ):  # stored meanwhile by another version: taken if the same, never replaced
                problem = _object_problem(destination, claim.version, item)
                if problem is None:
                    return
                if (
                    conflicts < attempts
                    and store.head_object_if_exists(destination.s3, destination.name, item.key) is None
                ):
                    # 409: another write of it was in flight and has not landed: copy again (S3's advice).
                    conflicts += 1
                    sleep(min(10.0, 0.2 * 2 ** (conflicts - 1)))
                    continue
                raise StoreRefusedError(
                    f"{destination.url(item.key)} was stored meanwhile with other content ({problem}): "
                    "fingerprinted files are stored once, by name, and never overwritten"
                ) from error
            if _source_changed(source, item):
                raise StoreError(
                    f"{source.url(item.key)} changed while it was being promoted (its ETag is no longer "
                    f"{item.source.etag}); a complete version must not change: check who writes to "
                    f"{source.name}"
                ) from error
        condition = store.settle_refused_write(
            destination.s3, destination.name, claim, item.key, item.source.etag
        )


def _source_changed(source: BucketRef, item: _Expected) -> bool:
    try:
        source.s3.head_object(Bucket=source.name, Key=item.key, IfMatch=f'"{item.source.etag}"')
    except ClientError as error:
        if error_code(error) in (*_PRECONDITION_FAILED, *store.MISSING_CODES):
            return True
        raise
    return False


def _copy(source: BucketRef, destination: BucketRef, item: _Expected, condition: dict[str, str]) -> None:
    if _is_multipart(item.source.etag):
        _copy_parts(source, destination, item, condition)
        return
    # CopySourceIfMatch: the copy is of the very object listed (and described by the manifest);
    # COPY takes Content-Type, Cache-Control and the user metadata (sha256, version) along.
    destination.s3.copy_object(
        Bucket=destination.name,
        Key=item.key,
        CopySource={"Bucket": source.name, "Key": item.key},
        CopySourceIfMatch=f'"{item.source.etag}"',
        MetadataDirective="COPY",
        **condition,  # type: ignore[arg-type]
    )


def _is_multipart(etag: str) -> bool:
    """A multipart upload's ETag is the MD5 of its parts' MD5s followed by `-<part count>`."""
    return "-" in etag


def _copy_parts(
    source: BucketRef, destination: BucketRef, item: _Expected, condition: dict[str, str]
) -> None:
    """Copy a multipart object part for part (UploadPartCopy with the source's own part ranges).

    CopyObject would give the copy a single-part ETag (the MD5 of the whole object), which no longer
    equals the source's; the same parts give the same ETag. A multipart upload takes no
    MetadataDirective: the headers and metadata are read from the source and set on the upload."""
    pinned = f'"{item.source.etag}"'
    head = source.s3.head_object(Bucket=source.name, Key=item.key, IfMatch=pinned)
    headers: dict[str, Any] = {"Metadata": dict(head["Metadata"])}
    for name in ("ContentType", "CacheControl", "ContentEncoding", "ContentDisposition", "ContentLanguage"):
        if head.get(name):
            headers[name] = head[name]
    ranges = _part_ranges(source, item)
    upload_id = destination.s3.create_multipart_upload(Bucket=destination.name, Key=item.key, **headers)[
        "UploadId"
    ]
    try:
        parts = []
        for number, (start, end) in enumerate(ranges, start=1):
            copied = destination.s3.upload_part_copy(
                Bucket=destination.name,
                Key=item.key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": source.name, "Key": item.key},
                CopySourceIfMatch=pinned,
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
        destination.s3.complete_multipart_upload(
            Bucket=destination.name,
            Key=item.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            **condition,  # type: ignore[arg-type]
        )
    except BaseException:
        # Parts of an unfinished upload are stored (and billed) until it is aborted.
        destination.s3.abort_multipart_upload(Bucket=destination.name, Key=item.key, UploadId=upload_id)
        raise


def _part_ranges(source: BucketRef, item: _Expected) -> list[tuple[int, int]]:
    """The byte ranges of the source object's parts: HeadObject with PartNumber answers each
    part's length (and the part count). The ranges need no ETag pin: UploadPartCopy has its own."""
    first = source.s3.head_object(Bucket=source.name, Key=item.key, PartNumber=1)
    sizes = [int(first["ContentLength"])]
    # No PartsCount: the object was replaced by a single-part one since it was listed (its size then
    # rarely adds up; if it does, the copy's ETag pin refuses it).
    for number in range(2, int(first.get("PartsCount", 1)) + 1):
        part = source.s3.head_object(Bucket=source.name, Key=item.key, PartNumber=number)
        sizes.append(int(part["ContentLength"]))
    if sum(sizes) != item.entry.size:
        raise StoreError(
            f"the parts of {source.url(item.key)} add up to {sum(sizes)} bytes, not {item.entry.size}"
        )
    ranges, start = [], 0
    for size in sizes:
        ranges.append((start, start + size - 1))
        start += size
    return ranges


def _check_destination(destination: BucketRef, version: str, expected: dict[str, _Expected]) -> None:
    problem = _destination_problem(destination, version, expected)
    if problem:
        raise StoreError(
            f"{destination.url(layout.version_prefix(version))} changed during the promote: {problem}; "
            f"the manifest was not written: check who writes to {destination.name}, then promote again"
        )


def _write_manifest(destination: BucketRef, claim: store.Claim, manifest_object: StoredManifest) -> None:
    headers: dict[str, Any] = {
        "ContentType": manifest_object.content_type,
        "Metadata": manifest_object.metadata,
    }
    if manifest_object.cache_control:
        headers["CacheControl"] = manifest_object.cache_control
    manifest = layout.Manifest.from_json(manifest_object.body)
    try:
        # The source's bytes, through the store's seal: never over an existing manifest, and
        # withdrawn if the claim or the objects changed while it was written.
        store.write_manifest(
            destination.s3,
            destination.name,
            claim,
            manifest,
            manifest_object.body,
            headers,
            retry_hint="run the same promote again with --resume once no other promote of it runs",
        )
    except store.VersionCompleteError as error:
        existing = read_stored_manifest(destination.s3, destination.name, claim.version)
        if existing is None or existing.body != manifest_object.body:
            raise StoreRefusedError(
                f"version {claim.version} was completed in {destination.name} by someone else meanwhile, "
                "with different content"
            ) from error


def _parallel(function: Callable[[Any], T], items: Iterable[Any], workers: int) -> list[T]:
    listed = list(items)
    if not listed:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(listed)))) as pool:
        return list(pool.map(function, listed))


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        detail = f"{info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
        return f"AWS {error.operation_name} failed: {detail}"
    return str(error) or type(error).__name__
