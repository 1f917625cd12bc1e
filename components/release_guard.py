"""Refuse to point the site at a version that was never completely uploaded.

Runs inside the Pulumi program, at preview, before the pointer can change. It reads the bucket with
the deployer's own credentials (boto3's standard chain), which `pulumi up` needs anyway, through the
same version store functions as `sitectl`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.versionstore.errors import error_code
from scripts.versionstore.store import complete_versions, is_complete

LATEST_SHOWN = 5
_MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")


class UnreleasableVersionError(ValueError):
    """The configured version has no complete upload in the bucket."""


def check_releasable(s3: Any, bucket: str, version: str) -> None:
    """Raise unless `version`'s manifest exists in `bucket`. A bucket that does not exist yet passes:
    it is about to be created, and nothing can have been uploaded to it."""
    try:
        if is_complete(s3, bucket, version):
            return
        latest = complete_versions(s3, bucket)[:LATEST_SHOWN]
        if not latest:
            # HeadObject answers a bare 404 for a missing bucket too: tell the two apart.
            s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) in _MISSING_BUCKET:
            return
        raise
    shown = ", ".join(latest) if latest else "none: upload one with `sitectl upload DIR`"
    raise UnreleasableVersionError(
        f"version {version} has no complete upload in bucket {bucket} (no {layout.manifest_key(version)}); "
        f"latest complete versions: {shown}. Upload it first, or set versioned-site:version to one of them."
    )


def default_s3_client(region: str | None, profile: str | None = None) -> Any:
    import boto3

    return boto3.session.Session(profile_name=profile).client("s3", region_name=region)
