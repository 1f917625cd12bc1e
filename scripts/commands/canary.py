"""`sitectl canary`: a new version for a share of viewers first, then for everyone, or aborted.

A canary is stack config, like a release (docs/routers.md, "Canary releases: config, records,
readers"): `canaryVersion` and `canaryPercent` beside `version`. This command sets them through the
same change as `release` (`release.apply_change`: the keys set together, a `pulumi up` targeted at the
stack's `releaseTargets`, which hold the canary's record, the store's key and the viewer-response
function; the config put back after a failed `up` while the canary record still holds what it held).
`--complete` is a release of the canary with both keys removed in the same `up`; `--abort` removes
them. Every refusal comes before the stack config is touched.

The functions `start_canary`, `complete_canary` and `abort_canary` are the command without its
options (the demo calls them with its own stack).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from edge_function import CLOUDFRONT_FUNCTION
from edge_lambda import layout
from scripts.commands.errors import RefusedError, SitectlError, aws_errors
from scripts.commands.options import Output, json_output, version_option
from scripts.commands.release import (
    CONFIG_ONLY,
    ChangeResult,
    StackChange,
    _confirmed,
    _refuse_before_anything,
    apply_change,
    check_releasable,
    check_router_serves,
    config_key,
    release_change,
    stack_routers,
    stream_pulumi_line,
)
from scripts.commands.site import Site, site_options
from scripts.commands.stack import SiteStack
from scripts.commands.verify import (
    PreparedVerification,
    VerifyOptions,
    VerifyReport,
    poll_verify,
    prepare_verification,
    verify_release_options,
)
from scripts.versionstore import emergency

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

CANARY_VERSION = emergency.CANARY_VERSION_KEY
CANARY_PERCENT = emergency.CANARY_PERCENT_KEY
START, COMPLETE, ABORT = "start", "complete", "abort"
# Removing both keys ends a canary (the program reads an unset canaryVersion as none).
NO_CANARY: dict[str, str | None] = {CANARY_VERSION: None, CANARY_PERCENT: None}

Running = tuple[str, int]  # (version, percent) of the canary record beside the pointer


@dataclass(frozen=True)
class CanaryPlan:
    """What one `sitectl canary` does, once every refusal has passed."""

    kind: str  # START, COMPLETE or ABORT
    version: str  # the canary's version
    percent: int | None  # its share (START; else the running one's, when known)
    live: str | None  # the version the pointer holds (None: not read)
    running: Running | None  # the canary record before (None: none runs, or not read)
    change: StackChange
    read_live: Callable[[], str | None] | None  # what the change moves, read back after a failed up


@dataclass(frozen=True)
class CanaryResult:
    kind: str
    version: str
    percent: int | None
    live: str | None
    previous: dict[str, str | None]  # the config before, by short key
    result: str  # the update result, the preview's summary, or CONFIG_ONLY
    dry_run: bool

    @property
    def config_only(self) -> bool:
        return self.result == CONFIG_ONLY


def check_percent(percent: int) -> int:
    if isinstance(percent, bool) or not 1 <= percent <= 99:
        raise RefusedError(
            f"--percent {percent} is not a share from 1 to 99: a canary serves some viewers, not none or "
            "all (to serve it to everyone, `sitectl canary --complete`)"
        )
    return percent


def check_router(stack: SiteStack, config_only: bool) -> None:
    """Refuse a canary on the Lambda@Edge router: any router the change goes through
    (`release.stack_routers`: the one the stack config names and, unless only the config changes,
    the one deployed)."""
    key = config_key(stack, "router")
    for router in stack_routers(stack, config_only):
        if router != CLOUDFRONT_FUNCTION:
            raise RefusedError(
                f"a canary needs router {CLOUDFRONT_FUNCTION}, but stack {stack.name!r} uses {router}: it "
                "rewrites after the cache lookup, under a cache key without the version, so one viewer's "
                f"canary page would be cached for everyone; switch with `pulumi config set {key} "
                f'{CLOUDFRONT_FUNCTION}` and `pulumi up` (README, "Choosing a router")'
            )


def _record_reader(read_canary: Callable[[], Running | None] | None) -> Callable[[], str | None] | None:
    """The canary record's value as `apply_change` compares it (`<version> <percent>` or `none`)."""
    if read_canary is None:
        return None

    def read() -> str:
        running = read_canary()
        return layout.canary_record(running[0] if running else None, running[1] if running else 0)

    return read


def plan_start(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    version: str,
    percent: int,
    *,
    read_live: Callable[[], str | None] | None = None,
    read_canary: Callable[[], Running | None] | None = None,
    config_only: bool = False,
) -> CanaryPlan:
    """Refuse (RefusedError) what the program would refuse, before the config is touched: a share
    outside 1-99, a version that is not complete (with "did you mean"), the Lambda@Edge router, a
    version the function router cannot serve (stored by content, or fingerprinted files not shared), a
    canary of the live version, or no live version at all."""
    check_percent(percent)
    stack = stack_provider()
    check_router(stack, config_only)  # first: on Lambda@Edge no version could ever be a canary
    check_releasable(s3, bucket, version)
    # The function router's release guard, as the program runs it on the canary: its fingerprinted
    # files shared, none stored by content (the function would answer 404 for them).
    check_router_serves(s3, bucket, version, stack, config_only)
    live = read_live() if read_live is not None else None
    configured = stack.get_version() or None
    stable = configured if config_only or live is None else live
    if version in (live, configured):
        raise RefusedError(
            f"{version} is the live version of stack {stack.name!r} already: a canary serves another one"
        )
    if not layout.is_valid_version(stable or ""):
        raise RefusedError(
            f"no version is live on stack {stack.name!r} to keep beside a canary: release {version} "
            f"instead (`sitectl release --version {version}`)"
        )
    running = read_canary() if read_canary is not None else None
    change = StackChange(
        config={CANARY_VERSION: version, CANARY_PERCENT: str(percent)},
        serves=version,
        action="canary",
        subject=f"{version} at {percent}%",
        watched="the canary record",
        target=layout.canary_record(version, percent),
        took_effect=(
            f"canary {version} at {percent}% runs and the config keeps it; rerun `sitectl canary "
            f"{version} --percent {percent} --yes` (or `pulumi up`) to finish it"
        ),
    )
    return CanaryPlan(START, version, percent, stable, running, change, _record_reader(read_canary))


def _the_canary(stack: SiteStack, running: Running | None, flag: str) -> str:
    """The canary `--complete`/`--abort` ends: the one the config names, else the one running."""
    configured = stack.get_config(config_key(stack, CANARY_VERSION)) or None
    if configured is not None and running is not None and configured != running[0]:
        raise RefusedError(
            f"the config of stack {stack.name!r} names canary {configured}, but {running[0]} runs: "
            f"deploy the config first (`sitectl canary {configured} --percent P`), or run `sitectl status`"
        )
    canary = configured or (running[0] if running is not None else None)
    if canary is None:
        raise RefusedError(
            f"no canary runs on stack {stack.name!r} (nor does its config name one), so there is nothing to "
            f"{flag.removeprefix('--')}: start one with `sitectl canary VERSION --percent P`"
        )
    return canary


def plan_complete(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    *,
    read_live: Callable[[], str | None] | None = None,
    read_canary: Callable[[], Running | None] | None = None,
    config_only: bool = False,
) -> CanaryPlan:
    """`version` := the canary, both canary keys removed, in one change (one `up`)."""
    stack = stack_provider()
    running = read_canary() if read_canary is not None else None
    canary = _the_canary(stack, running, "--complete")
    check_releasable(s3, bucket, canary)
    check_router_serves(s3, bucket, canary, stack, config_only)
    live = read_live() if read_live is not None else None
    change = release_change(canary, "canary --complete", NO_CANARY)
    percent = running[1] if running is not None and running[0] == canary else None
    return CanaryPlan(COMPLETE, canary, percent, live, running, change, read_live)


def plan_abort(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    *,
    read_live: Callable[[], str | None] | None = None,
    read_canary: Callable[[], Running | None] | None = None,
    config_only: bool = False,
) -> CanaryPlan:
    """Both canary keys removed: every viewer back on the live version."""
    stack = stack_provider()
    running = read_canary() if read_canary is not None else None
    canary = _the_canary(stack, running, "--abort")
    live = read_live() if read_live is not None else None
    change = StackChange(
        config=NO_CANARY,
        serves=None,
        action="canary --abort",
        subject=canary,
        watched="the canary record",
        target=layout.NO_VERSION_RELEASED,
        took_effect=(
            "the canary ended and the config keeps it; rerun `sitectl canary --abort --yes` to finish it"
        ),
    )
    percent = running[1] if running is not None and running[0] == canary else None
    return CanaryPlan(ABORT, canary, percent, live, running, change, _record_reader(read_canary))


def run_plan(
    plan: CanaryPlan,
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    *,
    dry_run: bool = False,
    config_only: bool = False,
    on_output: Callable[[str], Any] = print,
) -> CanaryResult:
    done: ChangeResult = apply_change(
        stack_provider,
        s3,
        bucket,
        plan.change,
        dry_run=dry_run,
        on_output=on_output,
        read_live=plan.read_live,
        config_only=config_only,
    )
    return CanaryResult(
        plan.kind, plan.version, plan.percent, plan.live, done.previous, done.result, done.dry_run
    )


def start_canary(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    version: str,
    percent: int,
    *,
    read_live: Callable[[], str | None] | None = None,
    read_canary: Callable[[], Running | None] | None = None,
    dry_run: bool = False,
    config_only: bool = False,
    on_output: Callable[[str], Any] = print,
) -> CanaryResult:
    """Serve `version` to `percent` of viewers (a running canary's share or version changes)."""
    plan = plan_start(
        stack_provider, s3, bucket, version, percent, read_live=read_live, read_canary=read_canary,
        config_only=config_only,
    )  # fmt: skip
    return run_plan(
        plan, stack_provider, s3, bucket, dry_run=dry_run, config_only=config_only, on_output=on_output
    )


def complete_canary(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    *,
    read_live: Callable[[], str | None] | None = None,
    read_canary: Callable[[], Running | None] | None = None,
    dry_run: bool = False,
    config_only: bool = False,
    on_output: Callable[[str], Any] = print,
) -> CanaryResult:
    """Make the running canary the live version for every viewer."""
    plan = plan_complete(
        stack_provider, s3, bucket, read_live=read_live, read_canary=read_canary, config_only=config_only
    )
    return run_plan(
        plan, stack_provider, s3, bucket, dry_run=dry_run, config_only=config_only, on_output=on_output
    )


def abort_canary(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    *,
    read_live: Callable[[], str | None] | None = None,
    read_canary: Callable[[], Running | None] | None = None,
    dry_run: bool = False,
    config_only: bool = False,
    on_output: Callable[[str], Any] = print,
) -> CanaryResult:
    """End the canary: every viewer back on the live version."""
    plan = plan_abort(
        stack_provider, s3, bucket, read_live=read_live, read_canary=read_canary, config_only=config_only
    )
    return run_plan(
        plan, stack_provider, s3, bucket, dry_run=dry_run, config_only=config_only, on_output=on_output
    )


# --- the command ---------------------------------------------------------------------------------

_CONFIG_ONLY_HELP = (
    "Only set (or remove) the canary's keys in the stack config, deploy nothing: the change made as a "
    "pull request; `pulumi up` applies it once merged."
)


def _question(plan: CanaryPlan, stack_name: str | None) -> str:
    live = plan.live or layout.NO_VERSION_RELEASED
    if plan.kind == START:
        return f"Serve {plan.version} to {plan.percent}% of viewers on stack {stack_name} (live: {live})?"
    if plan.kind == COMPLETE:
        return f"Complete canary {plan.version} on stack {stack_name}: every viewer gets it (live: {live})?"
    return f"Abort canary {plan.version} on stack {stack_name}: every viewer back on {live}?"


def _said(result: CanaryResult, site: Site) -> str:
    live = result.live or layout.NO_VERSION_RELEASED
    share = f" at {result.percent}%" if result.percent is not None else ""
    if result.config_only:
        stack = site.stack()
        changed = ", ".join(
            f"{config_key(stack, name)} = {value}"
            if value is not None
            else f"{config_key(stack, name)} removed"
            for name, value in _config_of(result).items()
        )
        return (
            f"{changed} in {site.stack_file_name()}; nothing deployed: commit it, and `pulumi up` applies it"
        )
    if result.dry_run:
        return f"preview of canary --{result.kind} {result.version}{share} (live: {live}): {result.result}"
    if result.kind == START:
        return f"canary {result.version} serves {result.percent}% of viewers (live: {live})"
    if result.kind == COMPLETE:
        return f"completed canary {result.version}: every viewer gets it (was {live})"
    return f"aborted canary {result.version}: every viewer on {live}"


def _config_of(result: CanaryResult) -> dict[str, str | None]:
    if result.kind == START:
        return {CANARY_VERSION: result.version, CANARY_PERCENT: str(result.percent)}
    if result.kind == COMPLETE:
        return {"version": result.version, **NO_CANARY}
    return dict(NO_CANARY)


def canary_document(result: CanaryResult, site: Site) -> dict[str, object]:
    """`canary --json` (README, "Canary releases")."""
    return {
        "action": "canary",
        "canary": result.kind,
        "stack": site.stack_name,
        "version": result.version,
        "percent": result.percent,
        "live": result.live,
        "previous_config": result.previous,
        "result": result.result,
        "dry_run": result.dry_run,
        "config_only": result.config_only,
        "verification": None,
    }


@click.command("canary")
@json_output
@version_option(
    "The version to serve to a share of viewers first (complete: `sitectl versions` lists them).",
    positional_alias=True,
)
@click.option("--percent", type=int, default=None, help="The canary's share of viewers, 1 to 99.")
@click.option("--complete", is_flag=True, help="Make the running canary live for every viewer.")
@click.option("--abort", is_flag=True, help="End the canary: every viewer back on the live version.")
@click.option("--dry-run", is_flag=True, help="Preview the change instead of applying it.")
@click.option("--config-only", is_flag=True, help=_CONFIG_ONLY_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@verify_release_options
@site_options()
@aws_errors
def canary_command(
    version: str | None,
    percent: int | None,
    complete: bool,
    abort: bool,
    dry_run: bool,
    config_only: bool,
    yes: bool,
    verification: VerifyOptions | None,
    site: Site,
    output: Output,
) -> None:
    """Canary release (cloudfront-function router): `canary VERSION --percent P` serves VERSION to P% of
    viewers, each keeping its own; `--complete` makes it live for everyone, `--abort` ends it. Sets the
    stack's canaryVersion/canaryPercent (and `version`) and runs a `pulumi up` targeted like a release.
    Refuses (exit 2) an incomplete version, a share outside 1-99, no canary to end, Lambda@Edge."""
    kind = _kind(version, percent, complete, abort)
    _refuse_before_anything(site, "canary", dry_run, config_only)
    bucket = site.bucket()
    readers: dict[str, Any] = {
        "read_live": site.live_version if site.parameter() is not None else None,
        "read_canary": site.canary if site.parameter() is not None else None,
        "config_only": config_only,
    }
    if kind == START:
        assert version is not None and percent is not None
        plan = plan_start(site.stack, site.s3(), bucket, version, percent, **readers)
    elif kind == COMPLETE:
        plan = plan_complete(site.stack, site.s3(), bucket, **readers)
    else:
        plan = plan_abort(site.stack, site.s3(), bucket, **readers)
    verified = None
    if verification is not None:
        if config_only:
            raise RefusedError("--verify and --config-only exclude each other: --config-only deploys nothing")
        if kind != START:
            raise RefusedError(
                "--verify goes with starting a canary (it checks the canary as its viewers get it and "
                "aborts it on failure); once it is complete, `sitectl verify` checks the live version"
            )
        verified = prepare_verification(site, verification, dry_run, stream_pulumi_line, canary=plan.version)
    if not (yes or dry_run or config_only) and not _confirmed(_question(plan, site.stack_name)):
        raise RefusedError("canary cancelled")
    started = time.monotonic()
    run = functools.partial(
        run_plan, stack_provider=site.stack, s3=site.s3(), bucket=bucket, on_output=stream_pulumi_line
    )
    if verified is None:
        result = run(plan, dry_run=dry_run, config_only=config_only)
        output.say(_said(result, site))
        document = canary_document(result, site)
    else:

        def abort_it() -> None:
            output.say(f"aborting canary {plan.version}: every viewer back on {plan.live}")
            output.say(_said(run(plan_abort(site.stack, site.s3(), bucket, **readers)), site))

        results: list[CanaryResult] = []
        report = start_and_verify(plan, lambda: results.append(run(plan)), abort_it, verified, output.say)
        output.say(_said(results[0], site))
        document = canary_document(results[0], site)
        document["verification"] = {
            "ok": report.ok,
            "url": report.url,
            "checks": report.checks,
            **verified.timings,
        }
    document["seconds"] = round(time.monotonic() - started, 3)
    output.result(document, [plan.version])


def start_and_verify(
    plan: CanaryPlan,
    start: Callable[[], Any],
    abort: Callable[[], Any],
    verified: PreparedVerification,
    on_output: Callable[[str], Any],
) -> VerifyReport:
    """Start the canary, then check it as its viewers get it (`release --verify`'s wait and polling,
    `sitectl verify --canary`'s requests) until it passes or the verify timeout has passed; when it
    fails, abort it (every viewer back on the live version) and raise SitectlError (exit 1)."""
    policy = verified.policy
    began = policy.clock()
    start()
    try:
        verified.wait_for_cache()
    except SitectlError as error:
        # Not knowing what viewers get is no reason to abort a canary that may be fine.
        raise SitectlError(f"canary {plan.version} runs but is not verified: {error.message}") from error
    report = poll_verify(verified.verify, plan.version, policy, on_output)
    elapsed = policy.clock() - began
    if report.ok:
        on_output(
            f"verified: {report.url} serves {plan.version} to the canary's viewers, working ({elapsed:.1f} s "
            "after the start)"
        )
        return report
    on_output(f"FAILED: canary {plan.version} fails verification {elapsed:.1f} s after the start:")
    for problem in report.problems:
        on_output(f"  {problem}")
    count = len(report.problems)
    failed = f"canary {plan.version} failed verification ({count} problem{'s' if count != 1 else ''})"
    try:
        abort()
    except SitectlError as error:
        raise SitectlError(
            f"{failed}; aborting it failed: {error.message}; run `sitectl canary --abort --yes`"
        ) from error
    live = plan.live or layout.NO_VERSION_RELEASED
    raise SitectlError(f"{failed}; aborted: every viewer on {live}")


def _kind(version: str | None, percent: int | None, complete: bool, abort: bool) -> str:
    """START, COMPLETE or ABORT from the options; refuse a mix."""
    if complete and abort:
        raise RefusedError("--complete and --abort exclude each other: pass one")
    if complete or abort:
        flag = "--complete" if complete else "--abort"
        if version is not None:
            raise RefusedError(f"{flag} takes no version: it ends the canary that runs (`sitectl status`)")
        if percent is not None:
            raise RefusedError(f"{flag} takes no --percent: it ends the canary that runs")
        return COMPLETE if complete else ABORT
    if version is None:
        raise RefusedError(
            "which version? `sitectl canary VERSION --percent P` starts a canary; --complete or --abort "
            "ends it"
        )
    if percent is None:
        raise RefusedError(f"which share? `sitectl canary {version} --percent P`, P from 1 to 99")
    check_percent(percent)
    return START
