"""The version store in S3: claim a version, seal it, list, verify and delete versions.

Every key comes from `edge_lambda.layout`. Request counts grow with the number of versions, never
with the number of files, except where a version's objects themselves are the subject (sealing,
verifying, deleting): one ListObjectsV2 page or DeleteObjects batch per 1,000 files.

The life of a version, and what makes each step safe when several uploads and prunes run at once:

1. claim: `_claims/<version>.json` is created with If-None-Match: * before any object is written.
   S3 creates it for exactly one of any number of concurrent requests; the others get 412 and write
   nothing. An interrupted upload is taken over with `resume`: a conditional overwrite (If-Match on
   the claim's ETag), so of two resumers one wins; the previous owner, should it still run, finds
   at its seal that the claim is no longer its own.
2. objects: each is stored with the version and its SHA-256 as user metadata, conditionally on its
   key being as planned (`write_condition`), so the writes of an upload whose claim was taken over
   fail (412) instead of overwriting the new owner's objects.
3. seal: the claim is checked to still be this upload's, every object under the prefix is compared
   with the build (size and ETag from the listing: the ETag is S3's own MD5 of the bytes, or of the
   parts for a multipart upload), objects not in the build are deleted, and only then is the
   manifest written, with If-None-Match: * so that a complete version is never written again; then
   the claim and the objects are checked once more, and the manifest is withdrawn if either changed.
4. prune deletes an incomplete version only when nothing was written to it for `CLAIM_FRESH_FOR`
   (its claim's LastModified, against S3's clock), checked again just before deleting. An upload
   racing a prune fails its seal (an object is missing) instead of completing without files.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.versionstore.errors import StoreError, StoreRefusedError, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

# DeleteObjects accepts at most 1,000 keys per request.
DELETE_BATCH_SIZE = 1000
MANIFEST_READ_WORKERS = 8
# An incomplete version whose claim was written within this time may be an upload in progress (or
# one about to be resumed): prune leaves it alone.
CLAIM_FRESH_FOR = timedelta(hours=24)
# A default version id that is taken moves on by one second, this many times at most.
DEFAULT_ID_ATTEMPTS = 60
MANIFEST_CACHE_CONTROL = "no-cache"
# What S3 answers for a key that does not exist (HeadObject: 404 or NotFound, GetObject: NoSuchKey).
MISSING_CODES = ("404", "NoSuchKey", "NotFound")
_PRECONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# S3's naming rules for general purpose buckets: 3-63 characters, lowercase letters, digits, dots
# and hyphens, starting and ending with a letter or digit, not shaped like an IP address.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")


def check_bucket_name(bucket: str) -> str:
    """`bucket`, or StoreRefusedError when S3 could never have a bucket of that name."""
    if not _BUCKET_NAME.fullmatch(bucket) or _IP_ADDRESS.fullmatch(bucket) or ".." in bucket:
        raise StoreRefusedError(
            f"invalid bucket name {bucket!r}: S3 bucket names are 3-63 lowercase letters, digits, dots "
            "and hyphens; check --bucket / SITE_BUCKET or the stack's bucketName output"
        )
    return bucket


@dataclass(frozen=True)
class VersionInfo:
    """One version as `sitectl versions` shows it."""

    version: str
    complete: bool
    file_count: int | None  # None for an incomplete version: counting would cost a list per 1,000 files
    total_bytes: int | None
    created: str  # the manifest's completion time, else the time in the version id
    live: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    etag: str  # without quotes


def read_together(workers: int, *reads: Callable[[], Any]) -> list[Any]:
    """The results of `reads`, independent requests, made at once on up to `workers` threads: on S3
    a round trip for all of them, not one each. With one worker, one after the other, in order (a
    caller's `--workers 1` means one request at a time). An exception is raised as the first failing
    read in order would have raised it, once every read has ended."""
    if workers <= 1 or len(reads) <= 1:
        return [read() for read in reads]
    with ThreadPoolExecutor(max_workers=min(workers, len(reads))) as pool:
        futures = [pool.submit(read) for read in reads]
        return [future.result() for future in futures]


def _pages(s3: S3Client, **kwargs: Any) -> Iterator[dict[str, Any]]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(**kwargs):
        yield dict(page)


def complete_versions(s3: S3Client, bucket: str) -> list[str]:
    """Versions with a manifest, newest first: one request per 1,000 versions."""
    found = []
    for page in _pages(s3, Bucket=bucket, Prefix=layout.MANIFEST_PREFIX):
        for item in page.get("Contents", []):
            version = layout.version_from_manifest_key(item["Key"])
            if version is not None:
                found.append(version)
    return layout.sort_newest_first(found)


def did_you_mean(version: str, known: Iterable[str]) -> str:
    """'; did you mean V?' for the closest existing version id, or '' when none is close."""
    close = difflib.get_close_matches(version, list(known), n=1, cutoff=0.85)
    return f"; did you mean {close[0]}?" if close else ""


def prefix_versions(s3: S3Client, bucket: str) -> list[str]:
    """Versions with at least one object, complete or not: common prefixes at the bucket root."""
    found = []
    for page in _pages(s3, Bucket=bucket, Delimiter="/"):
        for prefix in page.get("CommonPrefixes", []):
            version = layout.version_from_prefix(prefix["Prefix"])
            if version is not None:
                found.append(version)
    return layout.sort_newest_first(found)


def stored_versions(s3: S3Client, bucket: str) -> set[str]:
    """Every version the bucket holds anything of: a manifest, an object under its prefix, or a claim
    of any age (an upload that claimed its id and sent nothing yet). Three listings."""
    claimed = {
        version
        for page in _pages(s3, Bucket=bucket, Prefix=layout.CLAIM_PREFIX)
        for item in page.get("Contents", [])
        if (version := layout.version_from_claim_key(item["Key"])) is not None
    }
    return set(complete_versions(s3, bucket)) | set(prefix_versions(s3, bucket)) | claimed


def get_object_if_exists(s3: S3Client, bucket: str, key: str) -> Any | None:
    """S3's GetObject answer for `key`, or None when there is no such object (other errors raise)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING_CODES:
            return None
        raise


def head_object_if_exists(s3: S3Client, bucket: str, key: str) -> Any | None:
    """S3's HeadObject answer for `key`, or None when there is no such object (other errors raise)."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING_CODES:
            return None
        raise


def is_complete(s3: S3Client, bucket: str, version: str) -> bool:
    return head_object_if_exists(s3, bucket, layout.manifest_key(version)) is not None


class ManifestUnreadableError(StoreError):
    """A manifest that is not one (bad JSON, a path with `..`, a field of the wrong type)."""


def read_manifest(s3: S3Client, bucket: str, version: str) -> layout.Manifest | None:
    """The manifest of `version`, or None when the version is not complete. Checked as read
    (`layout.Manifest.from_json`): ManifestUnreadableError, naming it, for anything malformed, so no
    caller ever builds a key from a path such as `../x`."""
    response = get_object_if_exists(s3, bucket, layout.manifest_key(version))
    if response is None:
        return None
    body = response["Body"].read()
    try:
        manifest = layout.Manifest.from_json(body)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ManifestUnreadableError(
            f"manifest {layout.manifest_key(version)} in {bucket} is unreadable ({error}); the version "
            f"cannot be trusted: delete the manifest (it becomes incomplete) and upload the build again "
            f"as a new version"
        ) from error
    if manifest.version != version:
        raise ManifestUnreadableError(
            f"manifest {layout.manifest_key(version)} in {bucket} describes version {manifest.version}; "
            "the version cannot be trusted: delete the manifest and upload the build again as a new version"
        )
    return manifest


def read_manifests(
    s3: S3Client,
    bucket: str,
    versions: Iterable[str],
    on_unreadable: Callable[[ManifestUnreadableError], None] | None = None,
) -> dict[str, layout.Manifest]:
    """Manifests of several versions, fetched in parallel; versions without one are left out. An
    unreadable manifest raises, or, with `on_unreadable`, is passed to it and left out too."""
    wanted = list(versions)

    def read(version: str) -> layout.Manifest | ManifestUnreadableError | None:
        try:
            return read_manifest(s3, bucket, version)
        except ManifestUnreadableError as error:
            if on_unreadable is None:
                raise
            return error

    with ThreadPoolExecutor(max_workers=MANIFEST_READ_WORKERS) as pool:
        manifests = list(pool.map(read, wanted))
    found = {}
    for version, manifest in zip(wanted, manifests, strict=True):
        if isinstance(manifest, ManifestUnreadableError):
            assert on_unreadable is not None
            on_unreadable(manifest)
        elif manifest is not None:
            found[version] = manifest
    return found


def list_versions(
    s3: S3Client,
    bucket: str,
    live_version: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[VersionInfo]:
    """Every version, newest first, complete or not, and which one is live. A version whose
    manifest is unreadable raises, or, with `warn`, is named to it and listed complete, with its
    files and bytes unknown.

    Two listings (manifests, root prefixes) plus one GetObject per complete version.
    """
    complete = set(complete_versions(s3, bucket))
    every = set(prefix_versions(s3, bucket)) | complete
    manifests = read_manifests(s3, bucket, complete, (lambda error: warn(str(error))) if warn else None)
    infos = []
    for version in layout.sort_newest_first(list(every)):
        manifest = manifests.get(version)
        created = manifest.created if manifest else layout.version_created_at(version).isoformat()
        infos.append(
            VersionInfo(
                version=version,
                complete=version in complete,
                file_count=len(manifest.files) if manifest else None,
                total_bytes=manifest.total_bytes if manifest else None,
                created=created,
                live=version == live_version,
            )
        )
    return infos


def version_objects(s3: S3Client, bucket: str, version: str) -> list[StoredObject]:
    """The objects under a version's prefix: one request per 1,000 files."""
    found = []
    for page in _pages(s3, Bucket=bucket, Prefix=layout.version_prefix(version)):
        for item in page.get("Contents", []):
            found.append(StoredObject(key=item["Key"], size=int(item["Size"]), etag=item["ETag"].strip('"')))
    return found


def delete_version(s3: S3Client, bucket: str, version: str) -> int:
    """Delete a version: its manifest first, so that it stops being releasable before any file goes
    (an interrupted deletion leaves an incomplete version, which a later prune removes), then its
    objects in batches of 1,000, then its claim. Returns the number of keys deleted."""
    manifest = layout.manifest_key(version)
    s3.delete_object(Bucket=bucket, Key=manifest)
    deleted = 1
    # A listing page holds at most 1,000 keys: one DeleteObjects per page, never the whole version held.
    for page in _pages(s3, Bucket=bucket, Prefix=layout.version_prefix(version)):
        deleted += delete_keys(s3, bucket, [item["Key"] for item in page.get("Contents", [])])
    s3.delete_object(Bucket=bucket, Key=layout.claim_key(version))
    return deleted + 1


def delete_keys(s3: S3Client, bucket: str, keys: list[str]) -> int:
    """Delete `keys`, in batches of 1,000."""
    return sum(
        _delete_batch(s3, bucket, keys[i : i + DELETE_BATCH_SIZE])
        for i in range(0, len(keys), DELETE_BATCH_SIZE)
    )


def _delete_batch(s3: S3Client, bucket: str, keys: list[str]) -> int:
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
    )
    # Quiet: the answer lists only the keys that could not be deleted.
    if errors := response.get("Errors"):
        first = errors[0]
        raise StoreError(
            f"could not delete {len(errors)} of {len(keys)} objects, e.g. {first.get('Key')}: "
            f"{first.get('Code')} {first.get('Message', '')}".rstrip()
        )
    return len(keys)


def version_objects_exist(s3: S3Client, bucket: str, version: str) -> bool:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=layout.version_prefix(version), MaxKeys=1)
    return bool(response.get("Contents"))


# --- claims ------------------------------------------------------------------------------------


# The upload id of prune's own claim while it deletes an incomplete version: no --resume takes it over.
PRUNE_UPLOAD_ID_PREFIX = "prune-"


class VersionClaimedError(StoreRefusedError):
    """Another upload owns the version id."""


class VersionCompleteError(StoreRefusedError):
    """The version has its manifest: it is immutable."""


class ClaimLostError(StoreError):
    """This upload no longer owns its version (a --resume took it over, or prune deleted it)."""


@dataclass(frozen=True)
class Claim:
    """Who owns a version id: `_claims/<version>.json`. `etag` and `written` are S3's, once stored."""

    version: str
    upload_id: str
    host: str
    pid: int
    started: str  # ISO 8601, UTC, by the uploader's clock
    etag: str = ""
    written: datetime | None = None  # the claim object's LastModified, by S3's clock
    # The files digest of the build being uploaded (`Manifest.files_digest`); empty for a promote and
    # for claims written before it was recorded. Equal digests: a takeover cannot mix two builds.
    build_digest: str = ""
    taken_over: str = ""  # not stored: the owner this claim replaced without --resume (same build)

    def describe(self) -> str:
        return f"upload {self.upload_id} on {self.host} (pid {self.pid}), started {self.started}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "upload_id": self.upload_id,
                "host": self.host,
                "pid": self.pid,
                "started": self.started,
                **({"build_digest": self.build_digest} if self.build_digest else {}),
            },
            sort_keys=True,
        )


def new_claim(version: str, now: datetime | None = None, build_digest: str = "") -> Claim:
    """A claim of `version` for this process, with a fresh upload id."""
    started = (now or utc_now()).astimezone(UTC).isoformat(timespec="seconds")
    return Claim(
        version, uuid.uuid4().hex[:12], socket.gethostname(), os.getpid(), started, build_digest=build_digest
    )


def read_claim(s3: S3Client, bucket: str, version: str) -> Claim | None:
    response = get_object_if_exists(s3, bucket, layout.claim_key(version))
    if response is None:
        return None
    etag = str(response["ETag"]).strip('"')
    try:
        data = json.loads(response["Body"].read())
        return Claim(
            version=version,
            upload_id=str(data["upload_id"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            started=str(data["started"]),
            etag=etag,
            written=response["LastModified"],
            build_digest=str(data.get("build_digest", "")),
        )
    except (ValueError, KeyError, TypeError):
        # Unreadable: still a claim (it exists), owned by nobody this code can name.
        return Claim(version, "unknown", "unknown", 0, "unknown", etag, response["LastModified"])


def _put_claim(s3: S3Client, bucket: str, claim: Claim, **condition: str) -> Claim:
    response = s3.put_object(
        Bucket=bucket,
        Key=layout.claim_key(claim.version),
        Body=claim.to_json().encode(),
        ContentType="application/json",
        **condition,  # type: ignore[arg-type]
    )
    return replace(claim, etag=str(response["ETag"]).strip('"'))


def claim_version(
    s3: S3Client,
    bucket: str,
    claim: Claim,
    *,
    resume: bool = False,
    resume_hint: str | None = None,
    same_build_takeover: bool = True,
    workers: int = 1,
) -> Claim:
    """Make `claim` the one owner of its version before anything is written under it.

    Refused (nothing written) for a complete version, and for a version another upload (or
    promote) claimed, unless `resume`: then the existing claim is taken over, conditionally on it
    being unchanged. Without `resume`, a claim of the very same build (equal `build_digest`) is taken
    over too (the returned claim's `taken_over` names its owner): both would store the same objects,
    so the takeover cannot mix two builds, and the previous owner, should it still run, can no longer
    write, seal or delete (its claim checks fail). `resume_hint`: how the refusal tells to resume
    (default: upload's options). `workers` > 1: the look for a manifest and the claim's creation at
    once (`_create_claim`).
    """
    version = claim.version
    resume_hint = resume_hint or f"re-run with --resume --version {version}"
    created = _create_claim(s3, bucket, claim, workers)
    if created is not None:
        return created
    existing = read_claim(s3, bucket, version)
    if existing is not None and existing.upload_id.startswith(PRUNE_UPLOAD_ID_PREFIX):
        raise VersionClaimedError(
            f"version {version} is being deleted by prune ({existing.describe()}); pick another --version"
        )
    same_build = (
        same_build_takeover
        and existing is not None
        and bool(claim.build_digest)
        and existing.build_digest == claim.build_digest
    )
    if existing is None or not (resume or same_build):
        owner = existing.describe() if existing else "another upload"
        raise VersionClaimedError(
            f"version {version} is already being uploaded by {owner}: pick another --version, or, if that "
            f"upload was interrupted and is no longer running, {resume_hint}"
        )
    try:
        taken = _put_claim(s3, bucket, claim, IfMatch=f'"{existing.etag}"')
    except ClientError as error:
        if error_code(error) in _PRECONDITION_FAILED:
            raise VersionClaimedError(
                f"another upload took over version {version} meanwhile; not resuming"
            ) from error
        raise
    if is_complete(s3, bucket, version):
        raise VersionCompleteError(
            f"version {version} was completed by {existing.describe()}; versions are immutable"
        )
    return replace(taken, taken_over=existing.describe()) if same_build and not resume else taken


def _create_claim(s3: S3Client, bucket: str, claim: Claim, workers: int) -> Claim | None:
    """Create the claim of a version that is not complete: the claim (its ETag), None when a claim
    exists already, VersionCompleteError (no claim left behind) when the version has its manifest,
    and the look's own error (no claim left behind either) when it fails.

    Two requests, independent: whether the manifest exists (HeadObject) and the claim's creation
    (If-None-Match: *). With `workers` > 1 they are made at once, a round trip for both: the manifest
    seen absent is as good as seen before the claim (a manifest only ever comes after its own claim,
    and a seal whose claim changed hands withdraws its manifest: `_withdraw_if_overtaken`), and a
    claim created for a version found complete (one whose claim is gone: uploaded before claims, or
    the claim deleted by hand) is deleted again, these very bytes only, before the refusal."""
    complete = partial(is_complete, s3, bucket, claim.version)

    def create() -> Claim | None:
        try:
            return _put_claim(s3, bucket, claim, IfNoneMatch="*")
        except ClientError as error:
            if error_code(error) not in _PRECONDITION_FAILED:
                raise
            return None

    if workers <= 1:  # one request at a time: the look first, and no claim for a complete version
        found, created = complete(), None
        if not found:
            created = create()
    else:

        def look() -> bool | Exception:
            try:
                return complete()
            except Exception as error:  # raised below, once the claim made beside it is withdrawn
                return error

        found, created = read_together(workers, look, create)
        if isinstance(found, Exception):
            # The look failed (e.g. 403): nothing proves the version incomplete, and a claim left
            # behind would hold the id and stop prunes of the shared area (`uploads_in_progress`).
            if created is not None:
                drop_claim(s3, bucket, created)
            raise found
    if found:
        if created is not None:
            drop_claim(s3, bucket, created)
        raise VersionCompleteError(
            f"version {claim.version} already exists and is complete in {bucket}; versions are immutable"
        )
    return created


def claim_new_version(
    s3: S3Client,
    bucket: str,
    first: datetime,
    *,
    attempts: int = DEFAULT_ID_ATTEMPTS,
    git_sha: str | None = None,
    build_digest: str = "",
    workers: int = 1,
) -> Claim:
    """Claim the version id of `first`, or of the next free second: two uploads started in the same
    second get two versions (even of the same build: no takeover here). `workers`: `claim_version`'s."""
    for offset in range(attempts):
        moment = first + timedelta(seconds=offset)
        try:
            claim = new_claim(layout.new_version(moment, git_sha), first, build_digest)
            return claim_version(s3, bucket, claim, same_build_takeover=False, workers=workers)
        except (VersionClaimedError, VersionCompleteError):
            continue
    raise StoreRefusedError(
        f"the {attempts} version ids from {layout.new_version(first)} on are all taken; pass --version"
    )


def uploads_in_progress(s3: S3Client, bucket: str, now: datetime, complete: Iterable[str]) -> list[str]:
    """Versions claimed within CLAIM_FRESH_FOR (S3's clock) that are not in `complete`: uploads or
    promotes that may be running, relying on files of the shared area their manifest will name (one
    listing of the claims, a request per 1,000)."""
    done = set(complete)
    found = []
    for page in _pages(s3, Bucket=bucket, Prefix=layout.CLAIM_PREFIX):
        for item in page.get("Contents", []):
            version = layout.version_from_claim_key(item["Key"])
            if version is not None and version not in done and now - item["LastModified"] < CLAIM_FRESH_FOR:
                found.append(version)
    return layout.sort_newest_first(found)


def drop_claim(s3: S3Client, bucket: str, claim: Claim) -> None:
    """Delete `claim` (only if it is still these very bytes): an upload refused after claiming, with
    nothing else written, leaves the version id free."""
    try:
        s3.delete_object(Bucket=bucket, Key=layout.claim_key(claim.version), IfMatch=f'"{claim.etag}"')
    except ClientError as error:
        if error_code(error) not in (*_PRECONDITION_FAILED, *MISSING_CODES):
            raise


def check_claim(s3: S3Client, bucket: str, claim: Claim) -> None:
    """Raise unless `claim` still owns its version (a --resume elsewhere may have taken it over)."""
    current = read_claim(s3, bucket, claim.version)
    if current is None or current.upload_id != claim.upload_id:
        now = current.describe() if current else "nobody (the claim was deleted, e.g. by prune)"
        raise ClaimLostError(
            f"version {claim.version} is no longer claimed by this upload (now: {now}); "
            f"it was not completed: upload again as a new version"
        )


# How often a running upload re-reads its claim before a write: after a takeover, an upload that is
# still running starts no write more than this long after it (one GetObject per interval, whatever
# the number of files or workers).
CLAIM_CHECK_SECONDS = 1.0


class ClaimWatch:
    """`before_write()` raises ClaimLostError once the claim is no longer this upload's, re-reading
    it at most every CLAIM_CHECK_SECONDS. A write already in flight at the takeover can still land
    (S3 cannot make a write conditional on another key); later ones never start."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        claim: Claim,
        clock: Callable[[], float] = time.monotonic,
        interval: float = CLAIM_CHECK_SECONDS,
    ) -> None:
        self._s3, self._bucket, self._claim = s3, bucket, claim
        self._clock, self._interval = clock, interval
        self._lock = threading.Lock()
        self._checked = clock()  # the claim was just written or read

    def before_write(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._checked >= self._interval:
                check_claim(self._s3, self._bucket, self._claim)
                self._checked = now


def write_condition(stored: StoredObject | None) -> dict[str, str]:
    """The condition for writing a version's key that was `stored` (None: absent) when planned:
    a write that lands after anyone else wrote the key fails (412) instead of overwriting it."""
    return {"IfMatch": f'"{stored.etag}"'} if stored else {"IfNoneMatch": "*"}


def settle_refused_write(
    s3: S3Client, bucket: str, claim: Claim, key: str, etag: str
) -> dict[str, str] | None:
    """After a conditional write of `key` (content `etag`) was refused (412): None when the key holds
    that content already (an earlier attempt of this write landed); StoreError when the claim is no
    longer this upload's (a --resume took over: nothing more may be written); else the condition to
    write again on what is there now (an object left by an unclaimed earlier attempt)."""
    head = head_object_if_exists(s3, bucket, key)
    if head is not None and str(head["ETag"]).strip('"') == etag:
        return None
    check_claim(s3, bucket, claim)
    if head is None:
        return write_condition(None)
    return write_condition(StoredObject(key, int(head["ContentLength"]), str(head["ETag"]).strip('"')))


def server_now(s3: S3Client, bucket: str) -> datetime:
    """S3's clock (the Date of a one-key listing): ages of claims and objects are S3 LastModified
    times, so they are measured against S3's clock, never a machine's that may run ahead."""
    return response_time(s3.list_objects_v2(Bucket=bucket, Prefix=layout.CLAIM_PREFIX, MaxKeys=1))


def response_time(response: Any) -> datetime:
    """When S3 answered `response` (its Date header), else the machine's clock."""
    date = response["ResponseMetadata"]["HTTPHeaders"].get("date")
    if not date:  # an S3-compatible store that sends no Date: the machine's clock is all there is
        return utc_now()
    return parsedate_to_datetime(date).astimezone(UTC)


def last_write(s3: S3Client, bucket: str, version: str) -> datetime | None:
    """When an incomplete version was last claimed (S3's clock); for a version without a claim
    (uploaded before claims existed), its newest object's LastModified. None: nothing there."""
    claim = read_claim(s3, bucket, version)
    if claim is not None:
        return claim.written
    newest = None
    for page in _pages(s3, Bucket=bucket, Prefix=layout.version_prefix(version)):
        for item in page.get("Contents", []):
            modified = item["LastModified"]
            newest = modified if newest is None or modified > newest else newest
    return newest


def is_stale(s3: S3Client, bucket: str, version: str, now: datetime) -> bool:
    """True for an incomplete version nothing was written to for CLAIM_FRESH_FOR."""
    if is_complete(s3, bucket, version):
        return False
    written = last_write(s3, bucket, version)
    return written is None or now - written >= CLAIM_FRESH_FOR


def delete_stale_version(s3: S3Client, bucket: str, version: str, now: datetime) -> int | None:
    """Delete an incomplete version if it is stale at `now`, holding its claim meanwhile, so that no
    upload starts on it (and none can be resumed: see `claim_version`). None, with nothing deleted,
    when it is complete, was written to recently, or its claim changed since it was read."""
    if is_complete(s3, bucket, version):
        return None
    existing = read_claim(s3, bucket, version)
    written = existing.written if existing else last_write(s3, bucket, version)
    if written is not None and now - written < CLAIM_FRESH_FOR:
        return None
    mine = replace(new_claim(version, now), upload_id=PRUNE_UPLOAD_ID_PREFIX + uuid.uuid4().hex[:8])
    condition = {"IfMatch": f'"{existing.etag}"'} if existing else {"IfNoneMatch": "*"}
    try:
        mine = _put_claim(s3, bucket, mine, **condition)
    except ClientError as error:
        if error_code(error) in (*_PRECONDITION_FAILED, *MISSING_CODES):
            return None
        raise
    if is_complete(s3, bucket, version):  # sealed just before the claim changed hands
        return None
    keys = [obj.key for obj in version_objects(s3, bucket, version)]
    deleted = delete_keys(s3, bucket, keys)
    s3.delete_object(Bucket=bucket, Key=layout.claim_key(version), IfMatch=f'"{mine.etag}"')
    return deleted + 1


# --- release and deletion locks ----------------------------------------------------------------
#
# A release (anything that moves the pointer to a version) and a deletion of that version must
# exclude each other: a prune that read the pointer before a release would otherwise delete the
# version just made live. Both write the version's lock key `_locks/<version>.json`, conditionally
# on it being as they read it (If-None-Match: * when absent, If-Match on its ETag), so of a release
# and a deletion racing, S3 accepts exactly one write; the other sees the winner's lock. A deletion
# lock is dropped once the version is gone; a release lock is left to expire, by which time the
# pointer (which prune reads again under its lock) names the version.

# A prune that holds a deletion lock longer than this has died; another prune may take it over.
DELETION_LOCK_FRESH_FOR = timedelta(hours=1)
# A release lock keeps prune off its version this long: far longer than any `pulumi up`.
RELEASE_LOCK_FRESH_FOR = timedelta(hours=24)
_LOCK_ATTEMPTS = 5
RELEASE = "release"
DELETION = "deletion"


class VersionBeingDeletedError(StoreRefusedError):
    """A deletion lock is on the version: it may not be released."""


@dataclass(frozen=True)
class VersionLock:
    """`_locks/<version>.json`: a release or a deletion of `version` in progress."""

    version: str
    kind: str  # RELEASE or DELETION
    owner: str  # who: "sitectl prune on <host> (pid N)"
    started: str  # ISO 8601, UTC, by the writer's clock
    etag: str = ""
    written: datetime | None = None  # the lock object's LastModified, by S3's clock

    def to_json(self) -> str:
        body = {"kind": self.kind, "owner": self.owner, "started": self.started, "version": self.version}
        return json.dumps(body, sort_keys=True)

    def age(self, now: datetime) -> timedelta:
        return now - self.written if self.written is not None else timedelta(0)

    def is_fresh(self, now: datetime) -> bool:
        limit = DELETION_LOCK_FRESH_FOR if self.kind == DELETION else RELEASE_LOCK_FRESH_FOR
        return self.age(now) < limit


def lock_owner(command: str) -> str:
    """How a lock names this process: `<command> on <host> (pid N)`."""
    return f"{command} on {socket.gethostname()} (pid {os.getpid()})"


def read_lock(s3: S3Client, bucket: str, version: str) -> VersionLock | None:
    response = get_object_if_exists(s3, bucket, layout.lock_key(version))
    if response is None:
        return None
    etag, written = str(response["ETag"]).strip('"'), response["LastModified"]
    try:
        data = json.loads(response["Body"].read())
        kind = str(data["kind"])
        if kind not in (RELEASE, DELETION):
            raise ValueError(kind)
        return VersionLock(version, kind, str(data["owner"]), str(data["started"]), etag, written)
    except (ValueError, KeyError, TypeError):
        # Unreadable: whoever wrote it may be deleting the version; treat it as a deletion lock.
        return VersionLock(version, DELETION, "an unknown writer", "unknown", etag, written)


def _put_lock(
    s3: S3Client, bucket: str, lock: VersionLock, existing: VersionLock | None
) -> VersionLock | None:
    """Write `lock` if the key is still `existing` (None: absent); None when someone wrote it first."""
    condition = {"IfMatch": f'"{existing.etag}"'} if existing else {"IfNoneMatch": "*"}
    try:
        response = s3.put_object(
            Bucket=bucket,
            Key=layout.lock_key(lock.version),
            Body=lock.to_json().encode(),
            ContentType="application/json",
            **condition,  # type: ignore[arg-type]
        )
    except ClientError as error:
        if error_code(error) in (*_PRECONDITION_FAILED, *MISSING_CODES, "409"):
            return None
        raise
    return replace(lock, etag=str(response["ETag"]).strip('"'))


def deletion_refusal(bucket: str, lock: VersionLock, now: datetime) -> str:
    """Why `lock` (a deletion lock) stops a release, and, for one older than DELETION_LOCK_FRESH_FOR,
    how to clear it."""
    version, key = lock.version, layout.lock_key(lock.version)
    if lock.is_fresh(now):
        return (
            f"version {version} is being deleted by {lock.owner} since {lock.started} ({key}): "
            "release another version"
        )
    minutes = int(lock.age(now).total_seconds() // 60)
    return (
        f"version {version} has a deletion lock {minutes} minutes old from {lock.owner} ({key}): that "
        f"prune died; if `sitectl versions --verify --version {version}` passes, clear it with "
        f"`aws s3api delete-object --bucket {bucket} --key {key}` and release again"
    )


def check_not_being_deleted(s3: S3Client, bucket: str, version: str, now: datetime | None = None) -> None:
    """Raise VersionBeingDeletedError while a deletion lock is on `version` (read only: a preview)."""
    lock = read_lock(s3, bucket, version)
    if lock is not None and lock.kind == DELETION:
        raise VersionBeingDeletedError(deletion_refusal(bucket, lock, now or server_now(s3, bucket)))


def claim_release(s3: S3Client, bucket: str, version: str, owner: str) -> VersionLock:
    """Call before moving the pointer to `version`: every writer of the pointer does (`sitectl
    release` and `rollback`, the program's release guard in an update, an emergency rollback, a
    canary). Writes a release lock on `version` (conditionally: see above), then checks that the
    version is still complete. Refused (VersionBeingDeletedError) while a deletion lock is on it,
    stale or not; VersionCompleteError's sibling StoreRefusedError when it was deleted meanwhile.
    Once this returns, no prune deletes `version` for RELEASE_LOCK_FRESH_FOR."""
    for _ in range(_LOCK_ATTEMPTS):
        now = server_now(s3, bucket)
        existing = read_lock(s3, bucket, version)
        if existing is not None and existing.kind == DELETION:
            raise VersionBeingDeletedError(deletion_refusal(bucket, existing, now))
        started = now.isoformat(timespec="seconds")
        taken = _put_lock(s3, bucket, VersionLock(version, RELEASE, owner, started), existing)
        if taken is None:
            continue  # another release, or a prune, wrote the lock first: look again
        if not is_complete(s3, bucket, version):
            raise StoreRefusedError(
                f"version {version} was deleted before it could be released (no "
                f"{layout.manifest_key(version)}): only complete versions can be released"
            )
        return taken
    raise StoreError(f"the lock {layout.lock_key(version)} kept changing; release {version} again")


def claim_deletion(s3: S3Client, bucket: str, version: str, owner: str, now: datetime) -> VersionLock | str:
    """A deletion lock on `version`, or why none was taken: a release of it in progress (a release
    lock younger than RELEASE_LOCK_FRESH_FOR), another prune deleting it, or a lock written meanwhile."""
    existing = read_lock(s3, bucket, version)
    if existing is not None and existing.is_fresh(now):
        doing = "releasing" if existing.kind == RELEASE else "deleting"
        return f"{existing.owner} is {doing} it since {existing.started}"
    lock = VersionLock(version, DELETION, owner, now.isoformat(timespec="seconds"))
    taken = _put_lock(s3, bucket, lock, existing)
    return taken if taken is not None else "its lock changed while prune took it (a release?)"


def drop_lock(s3: S3Client, bucket: str, lock: VersionLock) -> None:
    """Delete `lock`, only if it is still these very bytes."""
    try:
        s3.delete_object(Bucket=bucket, Key=layout.lock_key(lock.version), IfMatch=f'"{lock.etag}"')
    except ClientError as error:
        if error_code(error) not in (*_PRECONDITION_FAILED, *MISSING_CODES):
            raise


def delete_locked_version(
    s3: S3Client, bucket: str, version: str, owner: str, now: datetime, still_deletable: Callable[[], None]
) -> int | str:
    """Delete a complete version under a deletion lock: take the lock (or return why not), call
    `still_deletable()`, which reads again what protects versions (the pointer, the stack) and
    raises to stop, then delete (`delete_version`) and drop the lock. Returns the keys deleted."""
    lock = claim_deletion(s3, bucket, version, owner, now)
    if isinstance(lock, str):
        return lock
    try:
        still_deletable()
    except BaseException:
        drop_lock(s3, bucket, lock)
        raise
    deleted = delete_version(s3, bucket, version)
    drop_lock(s3, bucket, lock)
    return deleted


# --- seal and verify ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    problems: list[str]  # missing objects, wrong sizes or ETags
    extra: list[str]  # keys under the prefix that the manifest does not list


def compare_objects(
    version: str, files: dict[str, layout.ManifestFile], stored: list[StoredObject]
) -> Comparison:
    """Objects under a version's prefix against the files it must hold there (sizes; ETags where
    known); files stored in the shared area are `compare_shared`'s."""
    by_key = {obj.key: obj for obj in stored}
    problems = []
    for path, entry in sorted(files.items()):
        if entry.stored_in:
            continue  # stored outside the prefix: `compare_shared`
        obj = by_key.pop(layout.object_key(version, path), None)
        if obj is None:
            problems.append(f"{path} is missing")
        elif obj.size != entry.size:
            problems.append(f"{path} has {obj.size} bytes, not {entry.size}")
        elif entry.etag and obj.etag != entry.etag:
            problems.append(f"{path} has other content (ETag {obj.etag}, not {entry.etag})")
    return Comparison(problems, sorted(by_key))


def shared_objects(
    s3: S3Client, bucket: str, prefix: str = layout.SHARED_ASSET_PREFIX
) -> dict[str, StoredObject]:
    """Every object of the shared area (`_assets/`, or `prefix`), by key: one request per 1,000."""
    found = {}
    for page in _pages(s3, Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = StoredObject(item["Key"], int(item["Size"]), item["ETag"].strip('"'))
    return found


# ListObjectsV2 answers at most 1,000 keys a page. A scoped listing (`objects_at`) lists the key
# range each RANGE_KEYS of its keys span, every range at once: room in one page for 100 keys of
# other versions between them (a release's changed files leave their old names in the area).
LIST_PAGE_KEYS = 1000
RANGE_KEYS = 900


def objects_at(
    s3: S3Client, bucket: str, prefix: str, keys: Iterable[str], workers: int = 1
) -> dict[str, StoredObject]:
    """The objects under `prefix` at `keys` (all under it), by key, and any other listed between
    them: what one listing of the whole prefix says of those keys, for the pages their ranges take.
    The sorted keys are cut in ranges of RANGE_KEYS, each listed from just before its first key
    (StartAfter) to its last; the ranges at once with `workers` > 1 (a round trip for a page of each,
    on S3, where the whole prefix took a round trip per 1,000 of its keys in sequence)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    firsts = range(0, len(wanted), RANGE_KEYS)
    reads = [
        partial(
            _list_range,
            s3,
            bucket,
            prefix,
            # S3 lists keys after StartAfter in UTF-8 byte order, which is the strings' code point order;
            # a range starts after the last key of the one before it, the first after a proper prefix of
            # its first key.
            wanted[first - 1] if first else wanted[0][:-1],
            wanted[min(first + RANGE_KEYS, len(wanted)) - 1],
        )
        for first in firsts
    ]
    found: dict[str, StoredObject] = {}
    for listed in read_together(workers, *reads):
        found.update(listed)
    return found


def _list_range(s3: S3Client, bucket: str, prefix: str, after: str, last: str) -> dict[str, StoredObject]:
    """The objects under `prefix` after the key `after` up to `last` at least: pages until one
    reaches `last` or the prefix ends."""
    found = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=after, MaxKeys=LIST_PAGE_KEYS)
        items = page.get("Contents", [])
        for item in items:
            found[item["Key"]] = StoredObject(item["Key"], int(item["Size"]), item["ETag"].strip('"'))
        if not page.get("IsTruncated") or not items or items[-1]["Key"] >= last:
            return found
        after = items[-1]["Key"]


AreaListings = dict[str, dict[str, StoredObject]]


def area_objects(
    s3: S3Client,
    bucket: str,
    files: dict[str, layout.ManifestFile],
    cache: AreaListings | None = None,
    workers: int = 1,
) -> dict[str, StoredObject]:
    """The objects of each area that `files` store files in (`_assets/`, `_content/`): one listing
    of each (a request per 1,000; the areas at once with `workers` > 1), kept in `cache` (area ->
    listing) for the next call."""
    cache = {} if cache is None else cache
    areas = sorted({entry.stored_in for entry in files.values() if entry.stored_in})
    unlisted = [area for area in areas if area not in cache]
    listings = read_together(workers, *(partial(shared_objects, s3, bucket, f"{area}/") for area in unlisted))
    cache.update(zip(unlisted, listings, strict=True))
    found: dict[str, StoredObject] = {}
    for area in areas:
        found.update(cache[area])
    return found


def stored_once_objects(
    s3: S3Client, bucket: str, files: dict[str, layout.ManifestFile], workers: int = 1
) -> dict[str, StoredObject]:
    """The objects at the keys of `files` stored once (`_assets/`, `_content/`): a listing of the
    ranges they span in each area (`objects_at`), every range of both at once with `workers` > 1.
    What the seal proves them with; `area_objects` lists the whole areas, for checking many versions."""
    keys: dict[str, list[str]] = {}
    for path, entry in files.items():
        if entry.stored_once:
            keys.setdefault(f"{entry.stored_in}/", []).append(layout.area_key(path, entry))
    found: dict[str, StoredObject] = {}
    reads = [
        partial(objects_at, s3, bucket, prefix, wanted, workers) for prefix, wanted in sorted(keys.items())
    ]
    for listed in read_together(workers, *reads):
        found.update(listed)
    return found


def etags_prove_other_bytes(found: str, expected: str) -> bool:
    """True when an object listed with ETag `found` cannot hold the bytes whose ETag is `expected`:
    both are single-part ETags (S3's MD5 of the bytes under SSE-S3) and differ. A multipart ETag on
    either side (`<md5 of the parts' MD5s>-<parts>`, which a server-side copy, or another part size,
    does not keep) says nothing about the bytes; then only the object's sha256 metadata is left, and
    metadata is written beside the bytes, never computed from them: an object rewritten with other
    bytes and the same metadata keeps it."""
    return bool(found and expected) and found != expected and "-" not in found + expected


def damaged_refusal(bucket: str, key: str, found: StoredObject, entry: layout.ManifestFile, then: str) -> str:
    """Why `key`, a file stored once that must hold `entry`'s bytes, is not used: S3 lists other bytes
    (`found`), so it was rewritten after it was stored; and how to repair it. Such a file is never
    overwritten, so it must go first: `then` stores it anew, for every version naming it."""
    return (
        f"{key} is damaged: it must hold the bytes of sha256 {entry.sha256} ({entry.size} bytes, ETag "
        f"{entry.etag}), but S3 lists {found.size} bytes with ETag {found.etag}; a file stored once is "
        f"never overwritten: delete it (`aws s3api delete-object --bucket {bucket} --key {key}`), then "
        f"{then} (`sitectl versions --verify` names the versions it damages)"
    )


@dataclass(frozen=True)
class SharedProblem:
    """A file stored once that is not as its entry says: `found` None when it is missing."""

    key: str
    entry: layout.ManifestFile
    found: StoredObject | None
    text: str


def shared_problems(
    files: dict[str, layout.ManifestFile],
    listed: dict[str, StoredObject],
    proven: Iterable[str] | None = None,
) -> list[SharedProblem]:
    """The files stored in the shared area (`ManifestFile.shared`) against its listing: each present
    with its size and ETag. A server-side copy of a multipart object (published before files were
    stored there once) has another ETag for the same bytes: `proven` (None: every path) are the
    paths whose sha256 was read already, or is about to be (`header_problems`); that reading proves
    nothing where both ETags are single-part (`etags_prove_other_bytes`)."""
    trusted = None if proven is None else set(proven)
    problems = []
    for path, entry in sorted(files.items()):
        if not entry.stored_once:
            continue
        key = layout.area_key(path, entry)
        obj = listed.get(key)
        if obj is None:
            text = f"{path} is missing from the shared area ({key})"
        elif obj.size != entry.size:
            text = f"{path} has {obj.size} bytes in the shared area ({key}), not {entry.size}"
        elif etags_prove_other_bytes(obj.etag, entry.etag) or (
            entry.etag and obj.etag != entry.etag and trusted is not None and path not in trusted
        ):
            text = f"{path} has other content in the shared area ({key}: ETag {obj.etag})"
        else:
            continue
        problems.append(SharedProblem(key, entry, obj, text))
    return problems


def compare_shared(
    files: dict[str, layout.ManifestFile],
    listed: dict[str, StoredObject],
    proven: Iterable[str] | None = None,
) -> list[str]:
    """`shared_problems`, as text."""
    return [problem.text for problem in shared_problems(files, listed, proven)]


def seal_version(
    s3: S3Client,
    bucket: str,
    claim: Claim,
    manifest: layout.Manifest,
    kept: Iterable[str] = (),
    shared_proven: Iterable[str] = (),
    workers: int = 1,
    body: bytes | None = None,
) -> list[str]:
    """Make `claim`'s version complete, exactly `manifest` (`body`: its JSON, if the caller has it
    already): checked, cleaned, then the manifest.
    `kept`: paths this upload did not write but found stored (a --resume): their headers and
    metadata are checked too (`header_problem`), since their ETags cannot show them. Files stored in
    the shared area must all be there (listed where its keys are: `stored_once_objects`): a version
    is never sealed with one missing; `shared_proven`: those whose bytes and headers the upload read
    already (a HEAD), whose ETag may differ. Returns the keys removed (objects of an earlier attempt
    that the build no longer has). `workers` > 1: the reads below at once (`read_together`)."""
    version = claim.version
    # The claim, the prefix, the areas and the kept objects' headers: independent reads (the
    # manifest's write is followed by a second look at the claim and the prefix, which no order
    # among these could replace), so with workers they are made at once. A lost claim is raised
    # first, as if it had been read first.
    stored_once = any(entry.stored_once for entry in manifest.files.values())
    _, stored, listed, kept_problems = read_together(
        workers,
        partial(check_claim, s3, bucket, claim),
        partial(version_objects, s3, bucket, version),
        partial(stored_once_objects, s3, bucket, manifest.files, workers) if stored_once else dict,
        partial(header_problems, s3, bucket, version, manifest.files, kept),
    )
    comparison = compare_objects(version, manifest.files, stored)
    shared = shared_problems(manifest.files, listed, shared_proven) if stored_once else []
    comparison.problems.extend(problem.text for problem in shared)
    comparison.problems.extend(kept_problems.values())
    if comparison.problems:
        first, resume = comparison.problems[0], f"re-run with --resume --version {version}"
        more = f" (and {len(comparison.problems) - 1} more)" if len(comparison.problems) > 1 else ""
        damaged = shared[0] if shared and shared[0].text == first else None
        if damaged is not None and damaged.found is not None:
            # Present with other bytes: never overwritten, so no --resume alone can complete it.
            fix = damaged_refusal(bucket, damaged.key, damaged.found, damaged.entry, resume)
        else:
            fix = f"did another process write to it? {resume}"
        raise StoreError(f"version {version} was not sealed: {first}{more}; {fix}")
    if comparison.extra:
        # Once more, right before deleting: a takeover during the listing makes these keys the new
        # owner's (it may be writing them), no longer this upload's to remove.
        check_claim(s3, bucket, claim)
        delete_keys(s3, bucket, comparison.extra)
    headers = {"ContentType": "application/json", "CacheControl": MANIFEST_CACHE_CONTROL}
    body = manifest.to_json().encode() if body is None else body
    write_manifest(s3, bucket, claim, manifest, body, headers, workers=workers)
    return comparison.extra


def write_manifest(
    s3: S3Client,
    bucket: str,
    claim: Claim,
    manifest: layout.Manifest,
    body: bytes,
    headers: dict[str, Any],
    retry_hint: str | None = None,
    workers: int = 1,
) -> None:
    """The last step of sealing, once the objects are proven: write `body` (the JSON of `manifest`)
    only if no manifest exists (VersionCompleteError otherwise), then make sure the claim and the
    objects did not change meanwhile (see `_withdraw_if_overtaken`, both read at once with `workers`
    > 1; `retry_hint` says how to complete the version then, default: upload's options)."""
    try:
        written = s3.put_object(
            Bucket=bucket, Key=layout.manifest_key(claim.version), Body=body, IfNoneMatch="*", **headers
        )
    except ClientError as error:
        if error_code(error) in _PRECONDITION_FAILED:
            raise VersionCompleteError(
                f"version {claim.version} was completed by another upload meanwhile"
            ) from error
        raise
    retry_hint = (
        retry_hint or f"re-run with --resume --version {claim.version} once no other upload of it runs"
    )
    _withdraw_if_overtaken(s3, bucket, claim, manifest, str(written["ETag"]), retry_hint, workers)


def _withdraw_if_overtaken(
    s3: S3Client,
    bucket: str,
    claim: Claim,
    manifest: layout.Manifest,
    manifest_etag: str,
    retry_hint: str,
    workers: int = 1,
) -> None:
    """Check again once the manifest is in. S3 cannot make the manifest's write conditional on the
    claim (another key), so a --resume may have taken the claim over, and written objects, between
    the checks above and the manifest landing. Then this manifest does not describe what is stored:
    it is deleted again (If-Match: only these very bytes), leaving the version incomplete for the
    new owner to seal. Kept when the new owner uploads this very build (a takeover without --resume,
    or a --resume of it: the claim's `build_digest` is this manifest's) and the objects are unchanged:
    the manifest still proves what is stored, whatever that owner writes (the same objects), and it
    may have seen the version complete and stopped already (`claim_version`); withdrawn, the version
    would be left incomplete, claimed, with nobody to seal it."""
    version = claim.version
    current, stored = read_together(
        workers, partial(read_claim, s3, bucket, version), partial(version_objects, s3, bucket, version)
    )
    after = compare_objects(version, manifest.files, stored)
    if (
        current is not None
        and (
            current.upload_id == claim.upload_id
            or (bool(current.build_digest) and current.build_digest == manifest.files_digest())
        )
        and not after.problems
        and not after.extra
    ):
        return
    s3.delete_object(Bucket=bucket, Key=layout.manifest_key(version), IfMatch=manifest_etag)
    changes = after.problems + [f"{key} appeared" for key in after.extra]
    why = changes[0] if changes else f"the claim is now {current.describe() if current else 'deleted'}"
    raise StoreError(
        f"version {version} changed while its manifest was being written ({why}); the manifest was "
        f"withdrawn and the version is incomplete: {retry_hint}"
    )


HEAD_WORKERS = 8


def header_problem(version: str, path: str, entry: layout.ManifestFile, head: Any) -> str | None:
    """What a HeadObject answer of `path` says that its manifest entry does not: the headers viewers
    get (Content-Type, Cache-Control) and the metadata (sha256, version: for a file stored in the
    shared area, any version, the one that stored it). The listing cannot show them, and an object
    rewritten with the same bytes keeps its ETag."""
    found = {
        "Content-Type": head.get("ContentType"),
        "Cache-Control": head.get("CacheControl"),
        f"{layout.SHA256_METADATA_KEY} metadata": head.get("Metadata", {}).get(layout.SHA256_METADATA_KEY),
        f"{layout.VERSION_METADATA_KEY} metadata": head.get("Metadata", {}).get(layout.VERSION_METADATA_KEY),
    }
    marked = found[f"{layout.VERSION_METADATA_KEY} metadata"]
    if entry.stored_once and layout.is_valid_version(marked):
        version = str(marked)  # stored once in the shared area: marked by the version that stored it
    wanted = dict(zip(found, (entry.content_type, entry.cache_control, entry.sha256, version), strict=True))
    for name, value in found.items():
        if value != wanted[name]:
            return f"{path} has {name} {value or 'none'}, the manifest says {wanted[name]}"
    return None


def header_problems(
    s3: S3Client, bucket: str, version: str, files: dict[str, layout.ManifestFile], paths: Iterable[str]
) -> dict[str, str]:
    """`header_problem` of each of `paths` that exists, by path (one HeadObject each, in parallel)."""

    def check(path: str) -> str | None:
        head = head_object_if_exists(s3, bucket, layout.stored_key(version, path, files[path]))
        if head is None:
            return None  # the listing reports it missing
        return header_problem(version, path, files[path], head)

    chosen = sorted(paths)
    if not chosen:
        return {}
    with ThreadPoolExecutor(max_workers=min(HEAD_WORKERS, len(chosen))) as pool:
        return {
            path: problem for path, problem in zip(chosen, pool.map(check, chosen), strict=True) if problem
        }


def verify_version(
    s3: S3Client,
    bucket: str,
    version: str,
    listings: AreaListings | None = None,
) -> list[str]:
    """Why the stored version is not exactly its manifest; empty when it is. Every key, size and ETag
    from one listing per 1,000 files (and one of each area holding files stored once, kept in
    `listings`), then each object's headers and metadata (one HeadObject each, in
    parallel: `header_problem`). Also: no object under its prefix that the manifest does not list."""
    manifest = read_manifest(s3, bucket, version)
    if manifest is None:
        return [f"version {version} is not complete (no {layout.manifest_key(version)})"]
    stored = version_objects(s3, bucket, version)
    comparison = compare_objects(version, manifest.files, stored)
    problems = comparison.problems + [f"{key} is not in the manifest" for key in comparison.extra]
    if any(entry.stored_once for entry in manifest.files.values()):
        listed = area_objects(s3, bucket, manifest.files, listings)
        problems += compare_shared(manifest.files, listed)
    # Headers of the objects whose bytes are right (the others are reported already).
    wrong = {problem.split(" ", 1)[0] for problem in problems}
    sound = [path for path in manifest.files if path not in wrong]
    return problems + list(header_problems(s3, bucket, version, manifest.files, sound).values())


def verify_versions(s3: S3Client, bucket: str, versions: Iterable[str] | None = None) -> dict[str, list[str]]:
    """`verify_version` for each of `versions` (default: every complete version); an unreadable
    manifest is that version's problem, and the others are still verified."""
    chosen = list(versions) if versions is not None else complete_versions(s3, bucket)
    results = {}
    listings: AreaListings = {}  # each area listed once for every version

    for version in chosen:
        try:
            results[version] = verify_version(s3, bucket, version, listings)
        except ManifestUnreadableError as error:
            results[version] = [str(error)]
    return results
