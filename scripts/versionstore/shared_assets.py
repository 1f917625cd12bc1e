"""The shared asset area: every complete version's fingerprinted files under `_assets/<path>`.

What it is for: after a release or a rollback, a page of another version still asks for the chunks
it names; the live version does not hold them, CloudFront fails over to the fallback origin, and the
edge reads them here (`edge_lambda.fallback`). Only fingerprinted files other than HTML
(the upload's decision, recorded in the manifest: `layout.ManifestFile.fingerprinted`) are published:
their names are their content.

The area is append-only and content-addressed by name. A file is published by a server-side copy
with `If-None-Match: *`, so an object already there is never overwritten: one with the same SHA-256
(the `sha256` metadata every stored object carries) is already published; one with other bytes means
the name is not a content hash after all, and that file is skipped with a warning (pages of this
version then find the first bytes published under that name, or their own while it is live).

Versions uploaded since files are stored once hold their fingerprinted files here only (their
manifest entries say `in: _assets`, `layout.ManifestFile.shared`): the upload sends each one here
directly, or nothing when the area has it already. Versions uploaded before hold them under their
prefix too, and are published here by copy (`publish_shared_assets`, `sitectl share-assets`).

`prune_shared_assets` deletes what no remaining complete version references, once it is older than
`SHARED_ASSET_MIN_AGE`: how far back skew protection reaches is exactly the versions not pruned. It
prunes the content area of Lambda@Edge versions (`_content/<sha256>/<path>`, `layout.CONTENT_AREA`)
by the same rules: both hold files stored once, that versions name instead of holding a copy.

An upload (or a publish) finds most files already shared and sends nothing for them: it relies on
them staying. So a prune and an upload exclude each other. The prune writes `_locks/_assets/<id>.json`
before it reads anything and deletes it when done; an upload, once it has claimed its version, lists
those keys and, while one younger than `ASSET_PRUNE_FRESH_FOR` exists, waits, and only then lists the
area to decide what to send. Either the prune wrote its key after the upload looked, and then it
sees the upload's claim (`store.uploads_in_progress`: a fresh claim without a manifest) and deletes
nothing; or the upload lists the area after the prune's deletions and sends whatever is gone. The
seal then proves every shared file present (one listing) before writing the manifest.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.versionstore import store
from scripts.versionstore.errors import StoreError, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

PUBLISH_WORKERS = 16
# CopyObject copies at most 5 GiB in one request.
MAX_COPY_BYTES = 5 * 1024**3
# An unreferenced shared asset younger than this stays: an upload that completed after prune read
# the manifests may be publishing it right now. The same bound as an upload's claim on its version.
SHARED_ASSET_MIN_AGE = timedelta(hours=24)
_EXISTS_CODES = ("PreconditionFailed", "412")
# S3 answers 409 when another conditional write to the same key is in flight: that one wins.
_CONFLICT_CODES = ("ConditionalRequestConflict", "409")
# A prune of the area that announced itself longer ago than this has died: publishing ignores it.
ASSET_PRUNE_FRESH_FOR = timedelta(hours=1)
# How long a publish waits for running prunes of the area (one listing a second) before giving up.
ASSET_PRUNE_WAIT_SECONDS = 600

Warn = Callable[[str], None]


@dataclass
class PublishReport:
    published: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    """Shared already, with the same bytes (an earlier version has the same file)."""
    skipped: list[str] = field(default_factory=list)
    """Not published: the name exists in the area with other bytes, or the file is too large."""


def shared_asset_paths(manifest: layout.Manifest) -> list[str]:
    """The files of a version that belong in the shared area: those its upload took as fingerprinted
    (the manifest records the decision: `layout.ManifestFile.fingerprinted`)."""
    return sorted(manifest.fingerprinted_paths())


def running_prunes(s3: S3Client, bucket: str) -> list[str]:
    """The keys of prunes of the shared area that are running (announced within ASSET_PRUNE_FRESH_FOR)."""
    # One request: prunes are few, and the answer's Date is S3's clock to judge their age by.
    response = s3.list_objects_v2(Bucket=bucket, Prefix=layout.ASSET_PRUNE_PREFIX)
    now = store.response_time(response)
    return [
        item["Key"]
        for item in response.get("Contents", [])
        if now - item["LastModified"] < ASSET_PRUNE_FRESH_FOR
    ]


def wait_for_prunes(s3: S3Client, bucket: str, sleep: Callable[[float], None]) -> list[str]:
    """Wait until no prune of the area runs; the keys of those still running after the wait."""
    for _ in range(ASSET_PRUNE_WAIT_SECONDS):
        running = running_prunes(s3, bucket)
        if not running:
            return []
        sleep(1.0)
    return running_prunes(s3, bucket)


def publish_shared_assets(
    s3: S3Client,
    bucket: str,
    manifest: layout.Manifest,
    warn: Warn,
    workers: int = PUBLISH_WORKERS,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishReport:
    """Copy each fingerprinted file of the complete version `manifest` into the shared area, never
    overwriting an object there. Idempotent: running it again publishes nothing new. Waits first
    while a prune of the area runs (see above); after ASSET_PRUNE_WAIT_SECONDS it publishes nothing,
    warns, and reports every file as not shared."""
    report = PublishReport()
    # Files stored in the area by their upload are there already (its seal proved them).
    report.already.extend(path for path in shared_asset_paths(manifest) if manifest.files[path].shared)
    to_publish = [path for path in shared_asset_paths(manifest) if not manifest.files[path].shared]
    if not to_publish:
        return report
    if running := wait_for_prunes(s3, bucket, sleep):
        report.skipped.extend(to_publish)
        warn(
            f"a prune of the shared assets ({running[0]}) still runs after {ASSET_PRUNE_WAIT_SECONDS} s: "
            f"nothing shared; run `sitectl share-assets --version {manifest.version}` once it is done "
            "(if it died, delete that key: it is ignored after "
            f"{int(ASSET_PRUNE_FRESH_FOR.total_seconds()) // 60} min)"
        )
        return report
    outcomes = {"published": report.published, "already": report.already, "skipped": report.skipped}
    # One listing (a request per 1,000 objects) instead of a HEAD per file: most fingerprinted files
    # of a release are unchanged and already shared, with the ETag the manifest records.
    listed = {asset.key: asset for asset in shared_assets(s3, bucket)}

    def publish(path: str) -> tuple[str, str]:
        return path, _publish_one(s3, bucket, manifest, path, warn, listed.get(layout.shared_asset_key(path)))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for path, outcome in pool.map(publish, to_publish):
            outcomes[outcome].append(path)
    return report


def _publish_one(
    s3: S3Client, bucket: str, manifest: layout.Manifest, path: str, warn: Warn, listed: SharedAsset | None
) -> str:
    entry = manifest.files[path]
    key = layout.shared_asset_key(path)
    if listed is not None and entry.etag and (listed.etag, listed.size) == (entry.etag, entry.size):
        return "already"
    # Listed with another ETag: a copy of a multipart object gets a new one, so the sha256 decides.
    existing = _shared_sha256(s3, bucket, key) if listed is not None else None
    if (
        listed is not None
        and existing == entry.sha256
        and store.etags_prove_other_bytes(listed.etag, entry.etag)
    ):
        # Unless both ETags are single-part: then other bytes, whatever its metadata says.
        damaged = store.StoredObject(key, listed.size, listed.etag)
        then = f"`sitectl share-assets --version {manifest.version}`"
        why = store.damaged_refusal(bucket, key, damaged, entry, then)
        warn(f"{manifest.version}'s {path} not shared: {why}")
        return "skipped"
    if existing is None:
        if entry.size > MAX_COPY_BYTES:
            warn(f"{path} ({entry.size} bytes) is larger than one CopyObject allows: not shared")
            return "skipped"
        refused = _copy_to_shared(s3, bucket, manifest.version, path, entry)
        if refused is None:
            return "published"
        existing = _shared_sha256(s3, bucket, key)
        if existing is None and refused in _EXISTS_CODES:  # 412 and no object: the source pin failed
            warn(
                f"{layout.object_key(manifest.version, path)} no longer holds the bytes its manifest "
                "lists: not shared; check the version with "
                f"`sitectl versions --verify --version {manifest.version}`"
            )
            return "skipped"
    if existing == entry.sha256:
        return "already"
    warn(
        f"{key} already holds other bytes than {manifest.version}'s {path} (sha256 {existing or 'none'} != "
        f"{entry.sha256}): its name is not a content hash; not shared, so pages of "
        f"{manifest.version} lose it once another version is live"
    )
    return "skipped"


def _copy_to_shared(
    s3: S3Client, bucket: str, version: str, path: str, entry: layout.ManifestFile
) -> str | None:
    """Copy one file of `version` to the shared area; None when copied, else the refusal's code
    (the name exists, or is being written, or the source no longer holds the manifest's bytes)."""
    key = layout.shared_asset_key(path)
    # The source pinned to the manifest's ETag (manifests from before ETags were recorded cannot be
    # pinned): what is published stays for every version naming the file, so it must be the bytes
    # the manifest lists, not whatever the version's object holds now.
    pin = {"CopySourceIfMatch": f'"{entry.etag}"'} if entry.etag else {}
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": layout.object_key(version, path)},
            **pin,  # type: ignore[arg-type]
            # Conditional copy: another version publishing the same name at once cannot be
            # overwritten (S3 answers 412 to the later one, or 409 while both are in flight).
            IfNoneMatch="*",
            MetadataDirective="REPLACE",
            ContentType=entry.content_type,
            CacheControl=entry.cache_control,
            Metadata={layout.SHA256_METADATA_KEY: entry.sha256, layout.VERSION_METADATA_KEY: version},
        )
    except ClientError as error:
        if error_code(error) not in _EXISTS_CODES + _CONFLICT_CODES:
            raise StoreError(f"publishing {path} to {key} failed: {error}") from error
        return error_code(error)
    return None


def _shared_sha256(s3: S3Client, bucket: str, key: str) -> str | None:
    """The sha256 metadata of a shared object, "" when it has none, None when there is no object."""
    head = store.head_object_if_exists(s3, bucket, key)
    if head is None:
        return None
    return str(head["Metadata"].get(layout.SHA256_METADATA_KEY, ""))


@dataclass(frozen=True)
class SharedAsset:
    key: str
    last_modified: datetime
    etag: str = ""
    size: int = -1


def shared_assets(s3: S3Client, bucket: str, prefix: str = layout.SHARED_ASSET_PREFIX) -> list[SharedAsset]:
    """Every object of the shared area (or of `prefix`): one ListObjectsV2 request per 1,000."""
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            etag = str(item["ETag"]).strip('"')
            found.append(SharedAsset(item["Key"], item["LastModified"], etag, item["Size"]))
    return found


def unshared_paths(s3: S3Client, bucket: str, manifest: layout.Manifest) -> list[str]:
    """The fingerprinted files of `manifest` that the shared area lacks (one listing of the area)."""
    present = {asset.key for asset in shared_assets(s3, bucket)}
    return [path for path in shared_asset_paths(manifest) if layout.shared_asset_key(path) not in present]


def referenced_keys(manifests: Iterable[layout.Manifest]) -> set[str]:
    """The keys of both areas (`_assets/`, `_content/`) that `manifests` name."""
    keys: set[str] = set()
    for manifest in manifests:
        keys.update(layout.shared_asset_key(path) for path in shared_asset_paths(manifest))
        keys.update(layout.content_key(path, manifest.files[path].sha256) for path in manifest.by_content())
    return keys


class SharedAssetsInUseError(StoreError):
    """An upload in progress may rely on files of the shared area: none may be deleted now."""


def prune_shared_assets(
    s3: S3Client, bucket: str, *, now: datetime, apply: bool, min_age: timedelta = SHARED_ASSET_MIN_AGE
) -> list[str]:
    """The shared assets no complete version references and older than `min_age` (deleted when
    `apply`): run after deleting versions. Reads every complete version's manifest, then the claims:
    SharedAssetsInUseError, nothing deleted, while an upload is in progress. With `apply`, announced
    (`_locks/_assets/<id>.json`) before the manifests are read, until done: uploads and publishing
    wait meanwhile (see above)."""
    announced = _announce_prune(s3, bucket, now) if apply else None
    try:
        complete = store.complete_versions(s3, bucket)
        manifests = store.read_manifests(s3, bucket, complete).values()
        # Claims after manifests: an upload sealed in between is seen as running, never as absent.
        if running := store.uploads_in_progress(s3, bucket, now, complete):
            raise SharedAssetsInUseError(
                f"shared assets not pruned: version {running[0]} is being uploaded (claimed within "
                f"{int(store.CLAIM_FRESH_FOR.total_seconds()) // 3600} h, no manifest yet) and may rely on "
                "files of the shared area; run prune again once it is complete"
            )
        keep = referenced_keys(manifests)
        # Both areas of files stored once: `_assets/` and the content area of Lambda@Edge versions.
        areas = shared_assets(s3, bucket) + shared_assets(s3, bucket, layout.CONTENT_PREFIX)
        doomed = sorted(a.key for a in areas if a.key not in keep and now - a.last_modified >= min_age)
        if apply:
            store.delete_keys(s3, bucket, doomed)
    finally:
        if announced is not None:
            s3.delete_object(Bucket=bucket, Key=announced)
    return doomed


def _announce_prune(s3: S3Client, bucket: str, now: datetime) -> str:
    key = layout.asset_prune_key(uuid.uuid4().hex)
    body = {"owner": store.lock_owner("sitectl prune"), "started": now.isoformat(timespec="seconds")}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json")
    return key
