"""Refuse to point the site at a version that was never completely uploaded.

Runs inside the Pulumi program, at preview, before the pointer can change. It reads the bucket with
the deployer's own credentials (boto3's standard chain), which `pulumi up` needs anyway, through the
same version store functions as `sitectl`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from edge_lambda import layout
from edge_lambda.site_rules import spa_rule_conflict
from scripts.versionstore.errors import StoreRefusedError, error_code
from scripts.versionstore.shared_assets import unshared_paths
from scripts.versionstore.store import (
    check_not_being_deleted,
    claim_release,
    complete_versions,
    is_complete,
    read_manifest,
)

LATEST_SHOWN = 5
_MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")


class UnreleasableVersionError(ValueError):
    """The configured version has no complete upload in the bucket."""


def check_releasable(
    s3: Any,
    bucket: str,
    version: str,
    require_shared_assets: bool,
    lock_owner: str | None = None,
    spa_fallback: bool = False,
    *,
    version_key: str = "version",
    spa_fallback_key: str = "spaFallback",
) -> None:
    """Raise unless `version`'s manifest exists in `bucket` (and, with `require_shared_assets`, each of
    its fingerprinted files is in the shared area) and no prune is deleting it (a deletion lock).
    With `lock_owner` (an update, about to write the pointer), take the store's release lock on it,
    which keeps prune off it. A bucket that does not exist yet passes: it is about to be created,
    and nothing can have been uploaded to it. `version_key` and `spa_fallback_key` are the config keys
    the refusals name (`<project>:version`, `<project>:spaFallback` in the program)."""
    try:
        if is_complete(s3, bucket, version):
            if require_shared_assets:
                _check_shared(s3, bucket, version)
            if spa_fallback:
                _check_spa_rule(s3, bucket, version, spa_fallback_key)
            try:
                if lock_owner is None:
                    check_not_being_deleted(s3, bucket, version)
                else:
                    claim_release(s3, bucket, version, lock_owner)
            except StoreRefusedError as error:
                raise UnreleasableVersionError(str(error)) from error
            return
        # HeadObject answers a bare 404 for a missing bucket too; ListObjectsV2 answers NoSuchBucket.
        latest = complete_versions(s3, bucket)[:LATEST_SHOWN]
    except ClientError as error:
        if error_code(error) in _MISSING_BUCKET:
            return
        raise
    shown = ", ".join(latest) if latest else "none: upload one with `sitectl upload DIR`"
    raise UnreleasableVersionError(
        f"version {version} has no complete upload in bucket {bucket} (no {layout.manifest_key(version)}); "
        f"latest complete versions: {shown}. Upload it first, or set {version_key} to one of them."
    )


def _check_shared(s3: Any, bucket: str, version: str) -> None:
    # The cloudfront-function router reads every fingerprinted file from the shared area (its origin
    # path cannot reach a version's own copy after a miss): a version uploaded before skew protection,
    # or whose publishing failed, would serve its pages without their scripts and styles.
    manifest = read_manifest(s3, bucket, version)
    refusal = by_content_refusal(manifest) if manifest is not None else None
    if refusal:
        raise UnreleasableVersionError(
            f"{refusal}. Upload the build again with `sitectl upload --router cloudfront-function` "
            "and release that version."
        )
    missing = unshared_paths(s3, bucket, manifest) if manifest is not None else []
    if missing:
        raise UnreleasableVersionError(
            f"version {version} has {len(missing)} fingerprinted files that are not in the shared area "
            f"(first: {layout.shared_asset_key(missing[0])}), and the cloudfront-function router serves "
            f"them only from there. Run `sitectl share-assets --version {version}`, then deploy again."
        )


def by_content_refusal(manifest: layout.Manifest) -> str | None:
    """Why the cloudfront-function router cannot serve `manifest`'s version, if it stores files by
    content: for Lambda@Edge, which finds each file through the manifest; a function cannot read one
    (no network), and its store value cannot hold a file's location."""
    by_content = manifest.by_content()
    if not by_content:
        return None
    return (
        f"version {manifest.version} stores {len(by_content)} files by content (first: {by_content[0]}), "
        "which only the lambda-edge router serves; the cloudfront-function router reads them from the "
        "version's prefix"
    )


def _check_spa_rule(s3: Any, bucket: str, version: str, spa_fallback_key: str) -> None:
    # `/* /index.html 200` and spaFallback say the same thing; one of them must go, or a later change
    # of one would silently keep the other.
    manifest = read_manifest(s3, bucket, version)
    rule = spa_rule_conflict(manifest.rules) if manifest is not None else None
    if rule is not None:
        raise UnreleasableVersionError(
            f"version {version}: _redirects:{rule.line} `{rule.source.text} {rule.to} 200` serves the root "
            f"page for every path, which {spa_fallback_key} does too: keep one (remove the line and "
            f"upload again, or `pulumi config set {spa_fallback_key} false`)"
        )


def manifest_of(s3: Any, bucket: str, version: str) -> layout.Manifest | None:
    """The manifest of `version`, for the routes the cloudfront-function router gets with the live
    version; None when the bucket or the manifest does not exist (yet)."""
    try:
        return read_manifest(s3, bucket, version)
    except ClientError as error:
        if error_code(error) in _MISSING_BUCKET:
            return None
        raise


def default_s3_client(region: str | None, profile: str | None = None) -> Any:
    import boto3

    return boto3.session.Session(profile_name=profile).client("s3", region_name=region)
