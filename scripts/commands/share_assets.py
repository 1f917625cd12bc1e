"""`sitectl share-assets`: publish complete versions' fingerprinted files to the shared asset area.

`sitectl upload` does this for each new version. This command is for versions uploaded before skew
protection existed (or whose publishing failed): it is idempotent, never overwrites a shared object,
and warns about a name already shared with other bytes.
"""

from __future__ import annotations

import click

from scripts.commands.errors import RefusedError, aws_errors
from scripts.commands.options import HiddenArgument, Output, check_version_id, json_output
from scripts.commands.site import Site, site_options
from scripts.versionstore import store as storage
from scripts.versionstore.shared_assets import publish_shared_assets


@click.command("share-assets")
@json_output
@click.argument("old_versions", nargs=-1, cls=HiddenArgument)
@click.option("--version", "new_versions", multiple=True, help="A version to publish (repeatable).")
@site_options()
@aws_errors
def share_assets_command(
    old_versions: tuple[str, ...], new_versions: tuple[str, ...], site: Site, output: Output
) -> None:
    """Publish the fingerprinted files of each --version (default: every complete version, newest
    first) to the shared asset area, so that open pages of those versions keep their chunks after a
    release."""
    versions = tuple(dict.fromkeys(new_versions + old_versions))
    for version in versions:
        check_version_id(version)
    bucket = site.bucket()
    s3 = site.s3()
    complete = storage.complete_versions(s3, bucket)
    missing = [v for v in versions if v not in complete]
    if missing:
        suggestion = storage.did_you_mean(missing[0], complete) if len(missing) == 1 else ""
        raise RefusedError(
            f"not complete in {bucket}: {', '.join(missing)}; `sitectl versions` lists the complete ones"
            + suggestion
        )
    published: dict[str, dict[str, int]] = {}
    for version in versions or tuple(complete):
        manifest = storage.read_manifest(s3, bucket, version)
        if manifest is None:  # pruned meanwhile
            continue
        report = publish_shared_assets(s3, bucket, manifest, warn=lambda m: output.say(f"warning: {m}"))
        published[version] = {
            "published": len(report.published),
            "already": len(report.already),
            "skipped": len(report.skipped),
        }
    output.result(
        {"bucket": bucket, "versions": published},
        [
            f"{v}: {n['published']} shared, {n['already']} already shared, {n['skipped']} not shared"
            for v, n in published.items()
        ],
    )
