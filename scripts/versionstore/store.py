"""The version store in S3: listing versions, reading manifests, deleting versions.

Every key comes from `edge_lambda.layout`. Request counts grow with the number of versions, never
with the number of files, except where a version's objects themselves are the subject (deletion,
completing an interrupted upload): one ListObjectsV2 page or DeleteObjects batch per 1,000 files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.versionstore.errors import StoreError, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

# DeleteObjects accepts at most 1,000 keys per request.
DELETE_BATCH_SIZE = 1000
MANIFEST_READ_WORKERS = 8


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


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str  # without quotes


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


def prefix_versions(s3: S3Client, bucket: str) -> list[str]:
    """Versions with at least one object, complete or not: common prefixes at the bucket root."""
    found = []
    for page in _pages(s3, Bucket=bucket, Delimiter="/"):
        for prefix in page.get("CommonPrefixes", []):
            version = layout.version_from_prefix(prefix["Prefix"])
            if version is not None:
                found.append(version)
    return layout.sort_newest_first(found)


def is_complete(s3: S3Client, bucket: str, version: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=layout.manifest_key(version))
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def read_manifest(s3: S3Client, bucket: str, version: str) -> layout.Manifest | None:
    """The manifest of `version`, or None when the version is not complete."""
    try:
        body = s3.get_object(Bucket=bucket, Key=layout.manifest_key(version))["Body"].read()
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        return layout.Manifest.from_json(body)
    except (ValueError, KeyError, TypeError) as error:
        raise StoreError(
            f"manifest {layout.manifest_key(version)} in {bucket} is unreadable: {error}"
        ) from error


def read_manifests(s3: S3Client, bucket: str, versions: Iterable[str]) -> dict[str, layout.Manifest]:
    """Manifests of several versions, fetched in parallel; versions without one are left out."""
    wanted = list(versions)
    with ThreadPoolExecutor(max_workers=MANIFEST_READ_WORKERS) as pool:
        manifests = pool.map(lambda v: read_manifest(s3, bucket, v), wanted)
        return {v: m for v, m in zip(wanted, manifests, strict=True) if m is not None}


def list_versions(s3: S3Client, bucket: str, live_version: str | None = None) -> list[VersionInfo]:
    """Every version, newest first, complete or not, and which one is live.

    Two listings (manifests, root prefixes) plus one GetObject per complete version.
    """
    complete = set(complete_versions(s3, bucket))
    every = set(prefix_versions(s3, bucket)) | complete
    manifests = read_manifests(s3, bucket, complete)
    infos = []
    for version in layout.sort_newest_first(list(every)):
        manifest = manifests.get(version)
        created = manifest.created if manifest else layout.version_created_at(version).isoformat()
        infos.append(
            VersionInfo(
                version=version,
                complete=manifest is not None,
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
    objects in batches of 1,000. Returns the number of keys deleted."""
    manifest = layout.manifest_key(version)
    s3.delete_object(Bucket=bucket, Key=manifest)
    deleted = 1
    batch: list[str] = []
    for page in _pages(s3, Bucket=bucket, Prefix=layout.version_prefix(version)):
        batch.extend(item["Key"] for item in page.get("Contents", []))
        while len(batch) >= DELETE_BATCH_SIZE:
            deleted += _delete_batch(s3, bucket, batch[:DELETE_BATCH_SIZE])
            batch = batch[DELETE_BATCH_SIZE:]
    if batch:
        deleted += _delete_batch(s3, bucket, batch)
    return deleted


def _delete_batch(s3: S3Client, bucket: str, keys: list[str]) -> int:
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
    )
    errors = response.get("Errors", [])
    if errors:
        first = errors[0]
        raise StoreError(
            f"could not delete {len(errors)} of {len(keys)} objects, e.g. {first.get('Key')}: "
            f"{first.get('Code')} {first.get('Message', '')}".rstrip()
        )
    return len(keys)


def version_objects_exist(s3: S3Client, bucket: str, version: str) -> bool:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=layout.version_prefix(version), MaxKeys=1)
    return bool(response.get("KeyCount", 0))
