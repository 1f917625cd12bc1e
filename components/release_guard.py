"""Refuse to point the site at a version that was never completely uploaded.

Runs inside the Pulumi program, at preview, before the pointer can change. It reads the bucket with
the deployer's own credentials (boto3's standard chain), which `pulumi up` needs anyway.
"""

from __future__ import annotations

from typing import Any

from edge_lambda import layout

LATEST_SHOWN = 5


class UnreleasableVersionError(ValueError):
    """The configured version has no complete upload in the bucket."""


def complete_versions(s3: Any, bucket: str) -> list[str]:
    """Every version whose manifest exists, newest first: one request per 1,000 versions."""
    versions: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.MANIFEST_PREFIX):
        for item in page.get("Contents", []):
            version = layout.version_from_manifest_key(item["Key"])
            if version is not None:
                versions.append(version)
    return layout.sort_newest_first(versions)


def check_releasable(s3: Any, bucket: str, version: str) -> None:
    """Raise unless `version`'s manifest exists in `bucket`. A bucket that does not exist yet passes:
    it is about to be created, and the first `pulumi up` has nothing uploaded by definition."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=layout.manifest_key(version))
        return
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return
        if code not in ("404", "NoSuchKey", "NotFound"):
            raise
    try:
        latest = complete_versions(s3, bucket)[:LATEST_SHOWN]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return
        raise
    if not latest:
        # head_object answers 404 for a missing bucket too; tell the two apart.
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket", "NotFound"):
                return
            raise
    shown = ", ".join(latest) if latest else "none: upload one with `sitectl upload DIR`"
    raise UnreleasableVersionError(
        f"version {version} has no complete upload in bucket {bucket} (no {layout.manifest_key(version)}); "
        f"latest complete versions: {shown}. Upload it first, or set versioned-site:version to one of them."
    )


def default_s3_client(region: str | None) -> Any:
    import boto3

    return boto3.client("s3", region_name=region)
