"""`sitectl versions`: every version in the bucket, newest first, and which one is live."""

from __future__ import annotations

from typing import Any

import click

from scripts.commands.errors import RefusedError, SitectlError, aws_errors
from scripts.commands.options import Output, check_version_id, did_you_mean, json_output, version_option
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


def verify_command_output(s3: storage.S3Client, bucket: str, version: str | None, output: Output) -> None:
    """`versions --verify [--version V]`: one line per version (or one JSON document); exit 1 when any
    differs from its manifest, 2 when V is not a complete version."""
    if version is not None:
        complete = storage.complete_versions(s3, bucket)
        if version not in complete:
            raise RefusedError(
                f"version {version} has no manifest in {bucket}: only complete versions can be verified"
                + did_you_mean(version, complete)
            )
    results = storage.verify_versions(s3, bucket, [version] if version else None)
    checked: list[dict[str, Any]] = []
    lines: list[str] = []
    for name, problems in results.items():
        manifest = None if problems else storage.read_manifest(s3, bucket, name)
        files = len(manifest.files) if manifest else None
        checked.append({"version": name, "ok": not problems, "files": files, "problems": problems})
        lines += [f"{name}: {problem}" for problem in problems] or [
            f"{name}: equals its manifest ({files} files)"
        ]
    bad = sum(not entry["ok"] for entry in checked)
    output.result({"bucket": bucket, "ok": not bad, "versions": checked}, lines)
    if bad:
        raise SitectlError(
            f"{bad} of {len(results)} versions differ from their manifests: do not release them; "
            "upload the build again as a new version"
        )


class VerifyFlag(click.Option):
    """`--verify`, a flag; its older spelling `--verify VERSION` still takes the version as its value,
    which --help no longer shows (the convention is `--verify --version VERSION`)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (", ".join(self.opts), record[1])


@click.command("versions")
@json_output
@click.option(
    "--verify",
    "verify",
    cls=VerifyFlag,
    is_flag=False,
    flag_value="",
    default=None,
    help="Prove that every complete version (or the one --version names) is exactly its manifest: every "
    "key, size, ETag and header, no other object. One listing per 1,000 files.",
)
@version_option("With --verify: the version to prove (default: every complete version).")
@site_options()
@aws_errors
def versions_command(verify: str | None, version: str | None, site: Site, output: Output) -> None:
    """List every version, newest first: complete or not, files, bytes, created, and which is live.

    Costs two listings plus one manifest read per complete version, whatever the number of files.
    """
    if verify:  # the older spelling, `--verify VERSION`
        check_version_id(verify, "--verify")
        if version is not None and version != verify:
            raise RefusedError(
                f"two versions given (--version {version}, --verify {verify}): pass one, with --version"
            )
        version = verify
    if version is not None and verify is None:
        raise RefusedError(
            f"--version goes with --verify: `sitectl versions --verify --version {version}` proves that "
            "version; `sitectl versions` lists them all"
        )
    bucket = storage.check_bucket_name(site.bucket())
    if verify is not None:
        verify_command_output(site.s3(), bucket, version, output)
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
