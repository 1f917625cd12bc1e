"""`sitectl promote`: copy a complete version from one stack's bucket to another's (staging to prod),
server-side, and optionally release it there.

The copying and checking live in `scripts/versionstore/promote.py`; this module resolves the two
buckets (options or stack outputs), gives each bucket a client in its own region, prints progress as
`upload` does, and releases through the normal release path (`release.release_version`).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import click

from components import release_guard
from edge_function import CLOUDFRONT_FUNCTION
from edge_lambda import layout
from scripts.commands.errors import RefusedError, SitectlError, aws_errors
from scripts.commands.options import Output, json_output, version_option
from scripts.commands.release import release_document, release_version, stack_routers, stream_pulumi_line
from scripts.commands.site import Site, site_options
from scripts.commands.upload import ProgressCallback, progress_lines
from scripts.versionstore import promote as promotion
from scripts.versionstore import store as storage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


def regional_client(base: S3Client, region: str) -> S3Client:
    """A client for `region` configured as `base` (retries, pool size, checksums); `base` itself
    when it is already in that region. Each bucket is addressed in its own region: S3 answers a
    request sent to another region with a redirect, and CopyObject must go to the destination's."""
    import boto3  # only here: it is slow to import, and most commands never need it

    if base.meta.region_name == region:
        return base
    # An endpoint of one's own (moto, LocalStack) serves every region; AWS's own are per region.
    endpoint = base.meta.endpoint_url
    own_endpoint = None if "amazonaws.com" in (urlparse(endpoint).hostname or "") else endpoint
    return boto3.session.Session().client(
        "s3", region_name=region, config=base.meta.config, endpoint_url=own_endpoint
    )


@click.command("promote")
@json_output
@version_option(
    "The complete version to copy (`sitectl versions --stack staging` lists them).",
    required=True,
    positional_alias=True,
)
@click.option("--from-bucket", help="Bucket to copy the version from (e.g. the staging stack's).")
@click.option("--from-stack", help="Pulumi stack to copy the version from: its bucketName output.")
@click.option("--workers", type=click.IntRange(1, 128), default=promotion.DEFAULT_WORKERS, show_default=True)
@click.option(
    "--resume",
    is_flag=True,
    help="Complete an interrupted promote (or upload) of VERSION in the destination: take over its "
    "claim. Only when that promote is no longer running.",
)
@click.option("--release", "release", is_flag=True, help="Then release it on the destination --stack.")
@site_options()
@aws_errors
def promote_command(
    version: str,
    from_bucket: str | None,
    from_stack: str | None,
    workers: int,
    resume: bool,
    release: bool,
    site: Site,
    output: Output,
) -> None:
    """Copy the complete --version V from --from-bucket / --from-stack into this site's bucket
    (--bucket / --stack) server-side, its manifest last, and print its id as the last line.

    The destination gets the source's bytes, headers and manifest unchanged. The destination version
    is claimed first, as by upload: an upload or promote of the same id is refused. An interrupted
    promote leaves an incomplete version; the same command with --resume completes it. Promoting a
    version already there copies nothing. Refuses (exit 2) an incomplete source, a destination
    version with other content, or one another upload or promote holds.
    """
    if (from_bucket is None) == (from_stack is None):
        raise RefusedError("name the source with exactly one of --from-bucket or --from-stack")
    if release and not site.has_stack:
        raise RefusedError("--release needs the destination's Pulumi stack: pass --stack (or set SITE_STACK)")
    origin = Site(
        deps=site.deps, bucket_option=from_bucket, stack_name=from_stack, project_dir=site.project_dir
    )
    source_bucket, destination_bucket = origin.bucket(), site.bucket()
    if source_bucket == destination_bucket:
        raise RefusedError(
            f"source and destination are the same bucket ({source_bucket}): nothing to promote"
        )

    base = site.s3()
    source = promotion.BucketRef(
        regional_client(base, promotion.bucket_region(base, source_bucket)), source_bucket
    )
    destination = promotion.BucketRef(
        regional_client(base, promotion.bucket_region(base, destination_bucket)), destination_bucket
    )
    if site.has_stack and CLOUDFRONT_FUNCTION in stack_routers(site.stack(), config_only=False):
        # Its release guard would refuse the version at `pulumi up`, after every file was copied (the
        # router deployed, or the one its config names: what the next `pulumi up` builds).
        manifest = storage.read_manifest(source.s3, source_bucket, version)
        refusal = release_guard.by_content_refusal(manifest) if manifest is not None else None
        if refusal:
            raise RefusedError(
                f"{refusal}, and stack {site.stack_name!r} has the {CLOUDFRONT_FUNCTION} router: nothing was "
                "copied. Upload the build with `sitectl upload --router cloudfront-function` and promote "
                "that version."
            )
    with ExitStack() as stack:
        reporter: list[ProgressCallback] = []

        def on_start(files: int, total: int) -> None:
            click.echo(
                f"promoting {files} files ({total / 1_000_000:.1f} MB) of {version} "
                f"from s3://{source_bucket} to s3://{destination_bucket}",
                err=True,
            )
            reporter.append(progress_lines(stack, total, files, verb="copied"))

        try:
            report = promotion.promote_version(
                source,
                destination,
                version,
                resume=resume,
                workers=workers,
                on_start=on_start,
                progress=lambda n: reporter[0](n),
                warn=lambda message: click.echo(f"warning: {message}", err=True),
            )
        except KeyboardInterrupt:
            raise SitectlError(
                f"promote of {version} interrupted; it stays incomplete in {destination_bucket}: "
                "run the same command again with --resume to complete it"
            ) from None
    if report.already_complete:
        output.say(
            f"{version} is already complete in {destination_bucket} with the same content: nothing copied"
        )
    else:
        output.say(
            f"{report.files} files ({report.total_bytes} bytes): {report.copied_files} copied server-side "
            f"({report.copied_bytes} bytes), {report.skipped_files} already in place; manifest written last"
        )
    if report.shared is not None:
        shared = report.shared
        output.say(
            f"skew protection: {len(shared.published)} fingerprinted files shared, {len(shared.already)} "
            f"already shared, {len(shared.skipped)} not shared"
        )
    document: dict[str, object] = {
        "version": version,
        "from_bucket": source_bucket,
        "bucket": destination_bucket,
        "files": report.files,
        "bytes": report.total_bytes,
        "copied_files": report.copied_files,
        "copied_bytes": report.copied_bytes,
        "already_in_place_files": report.skipped_files,
        "already_complete": report.already_complete,
        "shared_assets": None
        if report.shared is None
        else {
            "published": len(report.shared.published),
            "already": len(report.shared.already),
            "skipped": len(report.shared.skipped),
        },
        "release": None,
    }
    if release:
        result = release_version(
            site.stack,
            destination.s3,
            destination_bucket,
            version,
            on_output=stream_pulumi_line,
            action="promote",
            read_pointer=site.live_version,
        )
        output.say(f"released {version} (was {result.live_before or layout.NO_VERSION_RELEASED})")
        document["release"] = release_document(result, site)
    output.result(document, [version])
