"""`sitectl share-assets`: publish complete versions' fingerprinted files to the shared asset area.

`sitectl upload` does this for each new version. This command is for versions uploaded before skew
protection existed (or whose publishing failed): it is idempotent, never overwrites a shared object,
and warns about a name already shared with other bytes.
"""

from __future__ import annotations

import click

from edge_lambda import layout
from scripts.commands.errors import RefusedError, aws_errors
from scripts.commands.site import Site, site_options
from scripts.versionstore import store as storage
from scripts.versionstore.shared_assets import publish_shared_assets


@click.command("share-assets")
@click.argument("versions", nargs=-1)
@site_options("bucket", "stack")
@aws_errors
def share_assets_command(versions: tuple[str, ...], site: Site) -> None:
    """Publish the fingerprinted files of VERSIONS (default: every complete version, newest first) to
    the shared asset area, so that open pages of those versions keep their chunks after a release."""
    for version in versions:
        if not layout.is_valid_version(version):
            raise RefusedError(f"{version!r} is not a version id: expected {layout.VERSION_FORMAT}")
    bucket = site.bucket()
    s3 = site.s3()
    complete = storage.complete_versions(s3, bucket)
    missing = [v for v in versions if v not in complete]
    if missing:
        raise RefusedError(
            f"not complete in {bucket}: {', '.join(missing)}; `sitectl versions` lists the complete ones"
        )
    for version in versions or tuple(complete):
        manifest = storage.read_manifest(s3, bucket, version)
        if manifest is None:  # pruned meanwhile
            continue
        report = publish_shared_assets(
            s3, bucket, manifest, warn=lambda m: click.echo(f"warning: {m}", err=True)
        )
        click.echo(
            f"{version}: {len(report.published)} shared, {len(report.already)} already shared, "
            f"{len(report.skipped)} not shared"
        )
