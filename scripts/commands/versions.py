"""`sitectl versions`: every version in the bucket, newest first, and which one is live."""

from __future__ import annotations

import click

from edge_lambda import layout
from scripts.commands.errors import RefusedError, SitectlError, aws_errors
from scripts.commands.options import Output, json_output
from scripts.commands.site import Site, missing_pointer, site_options
from scripts.versionstore import store as storage


def format_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return str(count)


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def verify_command_output(s3: storage.S3Client, bucket: str, version: str) -> None:
    """`versions --verify`: one line per version; exit 1 when any differs from its manifest."""
    if version and not layout.is_valid_version(version):
        raise RefusedError(f"--verify {version!r} is not a version id: expected {layout.VERSION_FORMAT}")
    results = storage.verify_versions(s3, bucket, [version] if version else None)
    bad = 0
    for name, problems in results.items():
        if not problems:
            manifest = storage.read_manifest(s3, bucket, name)
            click.echo(f"{name}: equals its manifest ({len(manifest.files) if manifest else 0} files)")
        for problem in problems:
            click.echo(f"{name}: {problem}")
        bad += bool(problems)
    if bad:
        raise SitectlError(
            f"{bad} of {len(results)} versions differ from their manifests: do not release them; "
            "upload the build again as a new version"
        )


@click.command("versions")
@json_output
@click.option(
    "--verify",
    "verify",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[VERSION]",
    help="Prove that VERSION (default: every complete version) is exactly its manifest: every key, "
    "size and ETag, no other object. One listing per 1,000 files.",
)
@site_options()
@aws_errors
def versions_command(verify: str | None, site: Site, output: Output) -> None:
    """List every version, newest first: complete or not, files, bytes, created, and which is live.

    Costs two listings plus one manifest read per complete version, whatever the number of files.
    """
    bucket = storage.check_bucket_name(site.bucket())
    if verify is not None:
        verify_command_output(site.s3(), bucket, verify)
        return
    live = site.live_version()
    named = site.parameter()
    if named is not None and live is None:
        raise RefusedError(missing_pointer(named))
    infos = storage.list_versions(
        site.s3(), bucket, live, warn=lambda message: click.echo(f"warning: {message}", err=True)
    )
    if output.json:
        output.result({"bucket": bucket, "live": live, "versions": [i.to_dict() for i in infos]})
        return
    if not infos:
        click.echo(f"no versions in {bucket}")
        return
    rows = [["VERSION", "STATE", "FILES", "SIZE", "CREATED", "LIVE"]]
    for info in infos:
        rows.append(
            [
                info.version,
                "complete" if info.complete else "incomplete",
                "-" if info.file_count is None else str(info.file_count),
                format_bytes(info.total_bytes),
                info.created,
                "live" if info.live else "",
            ]
        )
    click.echo(render_table(rows))
