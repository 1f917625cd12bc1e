"""`sitectl versions`: every version in the bucket, newest first, and which one is live."""

from __future__ import annotations

import json

import click

from scripts.commands.errors import aws_errors
from scripts.commands.site import Site, site_options
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


@click.command("versions")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@site_options("bucket", "stack", "parameter", "project_dir")
@aws_errors
def versions_command(as_json: bool, site: Site) -> None:
    """List every version, newest first: complete or not, files, bytes, created, and which is live.

    Costs two listings plus one manifest read per complete version, whatever the number of files.
    """
    bucket = site.bucket()
    live = site.live_version()
    infos = storage.list_versions(site.s3(), bucket, live)
    if as_json:
        click.echo(
            json.dumps({"bucket": bucket, "live": live, "versions": [i.to_dict() for i in infos]}, indent=2)
        )
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
