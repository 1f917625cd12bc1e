"""`sitectl status`: what the local config says, what the last deployment set, what the pointer holds,
what the URL serves; each disagreement with the command that fixes it.

The pointer is the truth about what is live. The local `Pulumi.<stack>.yaml` may be stale (a fresh
checkout, a CI job whose config change was never committed): a `pulumi up` from it would roll the site
back, or be refused for taking it offline."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import click

from edge_function import CLOUDFRONT_FUNCTION
from edge_lambda import layout
from scripts.commands.errors import SitectlError, aws_errors
from scripts.commands.options import Output, json_output
from scripts.commands.site import Site, http_url, is_released, missing_pointer, site_options
from scripts.commands.versions import render_table
from scripts.versionstore import emergency
from scripts.versionstore import store as storage


@dataclass
class SiteStatus:
    configured: str | None  # the local stack config of the version; None without a stack
    parameter: str | None  # the pointer parameter's value; None when unknown
    served: str | None  # the version whose index.html the URL serves; None when none matches
    url: str | None
    deployed: str | None = None  # the stack output `liveVersion`: what the last deployment set
    problems: list[str] = field(default_factory=list)
    emergency: str | None = None  # an emergency rollback in force (its record), None when there is none
    canary: str | None = None  # the running canary (`<version> at <percent>%`), None when none runs

    @property
    def consistent(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "consistent": self.consistent}


def served_version(site: Site, bucket: str, url: str, preferred: list[str]) -> tuple[str | None, str]:
    """Which version the URL serves: the version marker its index.html carries (as `sitectl verify`
    reads it), else, for objects uploaded without the marker, the complete version whose index.html
    has the same SHA-256: the preferred versions first, then the others newest first."""
    answer = site.deps.http_get(url.rstrip("/") + "/index.html")
    marker = answer.headers.get(layout.VERSION_HEADER)
    if marker:
        return marker, f"{layout.VERSION_HEADER}: {marker}"
    digest = hashlib.sha256(answer.body).hexdigest()
    s3 = site.s3()
    complete = storage.complete_versions(s3, bucket)
    ordered = [v for v in preferred if v in complete] + [v for v in complete if v not in preferred]
    for version in ordered:
        manifest = storage.read_manifest(s3, bucket, version)
        index = manifest.files.get("index.html") if manifest else None
        if index is not None and index.sha256 == digest:
            return version, f"sha256 {digest[:12]}"
    return None, f"sha256 {digest[:12]}"


def site_status(site: Site) -> SiteStatus:
    configured = site.stack().get_version() if site.has_stack else None
    deployed = site.outputs().get("liveVersion") if site.has_stack else None
    parameter = site.live_version()
    url = site.url()
    if url is not None:
        url = http_url(url)
    status = SiteStatus(
        configured=configured,
        parameter=parameter,
        served=None,
        url=url,
        deployed=str(deployed) if deployed else None,
    )
    if site.has_stack and site.parameter() is not None:
        status.problems += _config_drift(str(site.stack_name), configured, status.deployed, parameter)
    named = site.parameter()
    if named is None:
        status.problems.append("no parameter known: pass --parameter or --stack")
    elif parameter is None:
        status.problems.append(missing_pointer(named))
    else:
        record = emergency.read_record(site.ssm(), named[0])
        status.emergency = record.describe() if record is not None else None
        running = site.canary()
        status.canary = None if running is None else f"{running[0]} at {running[1]}%"
    if url is None:
        status.problems.append("no URL known: pass --url or --stack")
        return status
    running = site.canary() if named is not None and parameter is not None else None
    preferred = [v for v in (parameter, configured, running[0] if running else None) if v and is_released(v)]
    try:
        served, evidence = served_version(site, site.bucket(), url, preferred)
    except SitectlError as error:
        # What the URL answers is one of the things status reports, not a reason to stop.
        status.problems.append(f"which version the URL serves is unknown: {error.message}")
        return status
    status.served = served
    if running is not None and served == running[0]:
        # This client's bucket is in the canary's share: what the canary's viewers get.
        return status
    if served is None:
        status.problems.append(f"{url}/index.html ({evidence}) matches no complete version")
    elif (
        is_released(parameter) and served != parameter and site.outputs().get("router") == CLOUDFRONT_FUNCTION
    ):
        status.problems.append(
            f"the URL serves {served} but the parameter holds {parameter}: the function reads the "
            "KeyValueStore key the same update writes after the parameter; if it persists beyond a few "
            f"seconds, the key was not written: `sitectl release --version {parameter} --yes` writes it"
        )
    elif is_released(parameter) and served != parameter:
        distribution = site.outputs().get("distributionId") or "<distributionId>"
        status.problems.append(
            f"the URL serves {served} but the parameter holds {parameter}: right after a release, wait for "
            "the edge TTL and the invalidation (a minute or two); if it persists, "
            f"`aws cloudfront create-invalidation --distribution-id {distribution} --paths '/*'`"
        )
    return status


def _config_drift(
    stack: str, configured: str | None, deployed: str | None, parameter: str | None
) -> list[str]:
    """Disagreements between the local config, the last deployment and the pointer, with the fix."""
    problems = []
    live = parameter or layout.NO_VERSION_RELEASED
    local = configured or layout.NO_VERSION_RELEASED
    if local != live:
        prefix = f"stack config says {configured!r} but the parameter holds {parameter!r}"
        if not is_released(live):
            problems.append(
                f"{prefix}: nothing is live; release it with `sitectl release --version {local} --yes`"
            )
        else:
            if not is_released(local):
                effect = "be refused (it would take the site offline)"
            elif local < live:
                effect = f"roll the site back to {local}"
            else:
                effect = f"release {local}"
            problems.append(
                f"{prefix}: a `pulumi up` from this checkout would {effect}. Keep what is live: "
                f"`sitectl release --version {live} --config-only` and commit Pulumi.{stack}.yaml"
                + (
                    f"; or deploy the config: `sitectl release --version {local} --yes`"
                    if is_released(local)
                    else ""
                )
            )
    if deployed is not None and deployed != live:
        problems.append(
            f"the last deployment set {deployed} (stack output liveVersion) but the parameter holds {live}: "
            "an update failed after the pointer changed, or the pointer was changed outside Pulumi; "
            f"`sitectl release --version {live} --yes` finishes the switch and records it"
        )
    return problems


@click.command("status")
@json_output
@click.option("--check", is_flag=True, help="Exit 1 when they disagree (or the pointer does not exist).")
@site_options()
@aws_errors
def status_command(check: bool, site: Site, output: Output) -> None:
    """Show the local config's version, the deployed one (stack output), the parameter's value and the
    version the live URL serves (the version marker its index.html carries), flagging any disagreement
    with the command that fixes it."""
    status = site_status(site)
    if output.json:
        output.result(status.to_dict())
    else:
        rows = [
            ["local config", status.configured or "-"],
            ["deployed", status.deployed or "-"],
            ["parameter", status.parameter or "-"],
            ["served", status.served or "-"],
            ["url", status.url or "-"],
        ]
        if status.emergency:
            rows.append(["emergency", status.emergency])
        if status.canary:
            rows.append(["canary", status.canary])
        click.echo(render_table(rows))
        for problem in status.problems:
            click.echo(f"DISAGREE: {problem}")
        if status.consistent:
            click.echo("consistent")
    if check and not status.consistent:
        raise SitectlError(f"inconsistent: {status.problems[0]}")
