"""`sitectl release`, `rollback` and `history`: move the live version through the Pulumi stack.

A release sets the stack config of the version (`<project>:version`, or the stack's `versionConfigKey`
output) and runs `pulumi up` targeted at the pointer
parameter and the switch only (the stack output `releaseTargets`), so it never applies unrelated
infrastructure changes. A version without a manifest is refused before Pulumi is touched. What is
live comes from the pointer in AWS, never from the local config (which a fresh checkout or a CI job
may hold stale); a failed `up` puts the previous config back only while the pointer still holds the
previous version.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from components import release_guard
from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE
from edge_lambda import layout
from scripts.commands import emergency as emergency_path
from scripts.commands import stack as stack_module
from scripts.commands.errors import RefusedError, SitectlError, aws_errors
from scripts.commands.options import Output, did_you_mean, json_output, version_option
from scripts.commands.site import Site, is_released, missing_pointer, site_options
from scripts.commands.stack import SiteStack, StackUpdate
from scripts.commands.verify import VerifyOptions, prepare_verification, verify_release_options
from scripts.commands.versions import render_table
from scripts.versionstore import emergency
from scripts.versionstore import store as storage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

SUCCEEDED = "succeeded"
CONFIG_ONLY = "config only"
_MESSAGE_USER = re.compile(r"\bby (?P<user>\S+)$")


@dataclass(frozen=True)
class ReleaseResult:
    version: str
    previous: str | None  # the config value before the release
    result: str  # the update result, the preview's change summary, or CONFIG_ONLY
    dry_run: bool
    live_before: str | None = None  # what the pointer held before (None: unknown or no pointer yet)
    invalidation: str | None = None  # the id of the invalidation the switch created in this `up`


@dataclass(frozen=True)
class Release:
    """One past release, from the stack's update history or the parameter's history."""

    version: str
    when: str
    by: str | None
    result: str
    source: str  # "stack" or "parameter"
    live: bool = False  # the pointer holds it, and no newer successful release does
    canary: str = ""  # what the update did to a canary: `start V at 5%`, `complete V`, `abort V`; "": nothing

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def release_targets(stack: SiteStack, output: str = "releaseTargets") -> list[str]:
    """The URNs a targeted `up` names: the stack output `releaseTargets` (or `canaryTargets`)."""
    targets = stack.outputs().get(output)
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        what = "the pointer and the switch" if output == "releaseTargets" else "what a canary changes"
        raise SitectlError(
            f"stack {stack.name!r} has no {output} output (URNs of {what}): "
            "run a full `pulumi up` of the stack once"
        )
    return list(targets)


# How a refusal says what only complete versions can be, per command.
_DONE_TO = {"release": "released", "rollback": "rolled back to"}


def check_releasable(s3: S3Client, bucket: str, version: str, command: str = "release") -> None:
    """Refuse (RefusedError) a malformed version id, a version without a manifest, or one a prune is
    deleting (a deletion lock). `command` (release, rollback) words the refusal."""
    try:
        layout.validate_version(version)
    except layout.InvalidVersionError as error:
        raise RefusedError(str(error)) from error
    if not storage.is_complete(s3, bucket, version):
        if storage.version_objects_exist(s3, bucket, version):
            state, suggestion = "is incomplete (no manifest)", ""
        else:
            state, suggestion = "does not exist", did_you_mean(version, storage.complete_versions(s3, bucket))
        raise RefusedError(
            f"version {version} {state} in {bucket}: only complete versions can be "
            f"{_DONE_TO.get(command, _DONE_TO['release'])}{suggestion}"
        )
    storage.check_not_being_deleted(s3, bucket, version)


def stack_routers(stack: SiteStack, config_only: bool) -> list[str]:
    """The routers a change of `stack` goes through: the one its config names (what `pulumi up`
    builds; unset: the deployed one, else lambda-edge) and, unless only the config changes, the one
    deployed (the `router` output)."""
    exported = stack.outputs().get("router")
    deployed = exported if isinstance(exported, str) and exported else None
    routers = [stack.get_config(config_key(stack, "router")) or deployed or LAMBDA_EDGE]
    if not config_only and deployed is not None and deployed not in routers:
        routers.append(deployed)
    return routers


def check_router_serves(s3: S3Client, bucket: str, version: str, stack: SiteStack, config_only: bool) -> None:
    """Refuse (RefusedError), before the config is touched, a version the cloudfront-function router's
    release guard refuses when the change goes through that router (`stack_routers`): the program's
    own check (components/release_guard.py: stored by content, or fingerprinted files not shared),
    which would otherwise refuse it only at `pulumi up`, or, for --config-only, once the change is
    merged."""
    if CLOUDFRONT_FUNCTION not in stack_routers(stack, config_only):
        return
    try:
        release_guard.check_releasable(s3, bucket, version, require_shared_assets=True)
    except release_guard.UnreleasableVersionError as error:
        raise RefusedError(str(error)) from error


@dataclass(frozen=True)
class StackChange:
    """One change `sitectl` makes through the stack: config keys set together (None removes one), then a
    `pulumi up` targeted at the URNs a stack output names. `release` sets `version`; `canary` sets the
    canary's keys (scripts/commands/canary.py). What the change moves in AWS (`watched`: the pointer,
    the canary record) is read before and after a failed `up` to decide whether the config goes back."""

    config: Mapping[str, str | None]  # short names under the project; `version` is the version key
    serves: str | None  # the version viewers may get from it: checked first, release-locked during the up
    action: str  # the command (`release`, `rollback --now`, `canary`): the lock's owner names it
    subject: str  # the update's message is `sitectl <action> <subject> by <user>`
    watched: str  # what `read_live` reads, for messages: "the pointer"
    target: str  # what `read_live` returns once the change took effect
    took_effect: str  # what to say (and do) when the `up` failed after `watched` reached `target`
    targets_output: str = "releaseTargets"


@dataclass(frozen=True)
class ChangeResult:
    previous: dict[str, str | None]  # each key's config value before the change
    result: str  # the update result, the preview's change summary, or CONFIG_ONLY
    dry_run: bool
    live_before: str | None  # what `read_live` returned before (None: not read)
    invalidation: str | None = None


def release_version(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    version: str,
    *,
    dry_run: bool = False,
    on_output: Callable[[str], Any] = print,
    action: str = "release",
    read_pointer: Callable[[], str | None] | None = None,
    config_only: bool = False,
    also: Mapping[str, str | None] | None = None,
) -> ReleaseResult:
    """Release a complete version: refuse (RefusedError) anything else before asking for the stack.

    `read_pointer` reads the live version from AWS (the pointer parameter). After a failed `up` the
    config goes back to its previous value only if the pointer still holds what it held before;
    without `read_pointer` nothing can tell, and the config is restored. `config_only` sets the
    stack config and deploys nothing (a pull request's change; `pulumi up` applies it later). `also`
    names other config keys of the project set (None: removed) in the same change, e.g. the canary's.
    """
    change = release_change(version, action, also)
    done = apply_change(
        stack_provider,
        s3,
        bucket,
        change,
        dry_run=dry_run,
        on_output=on_output,
        read_live=read_pointer,
        config_only=config_only,
    )
    return ReleaseResult(
        version,
        done.previous["version"],
        done.result,
        dry_run=done.dry_run,
        live_before=done.live_before,
        invalidation=done.invalidation,
    )


def release_change(version: str, action: str, also: Mapping[str, str | None] | None = None) -> StackChange:
    """The change of a release: `version` set (with `also`'s keys), the pointer moved to it."""
    return StackChange(
        config={"version": version, **(also or {})},
        serves=version,
        action=action,
        subject=version,
        watched="the pointer",
        target=version,
        took_effect=(
            f"{version} is live and the config keeps it; rerun `sitectl release --version {version} --yes` "
            "(or `pulumi up`) to finish the switch (wait, then invalidate)"
        ),
    )


def config_key(stack: SiteStack, name: str) -> str:
    """The full stack config key of `name`: `version` is the stack's version key; any other name sits
    in the same namespace (`<project>:canaryVersion`)."""
    if name == "version":
        return stack.version_key
    return f"{emergency.config_namespace(stack.version_key)}:{name}"


def _get_config(stack: SiteStack, name: str) -> str | None:
    return stack.get_version() if name == "version" else stack.get_config(config_key(stack, name))


def _set_config(stack: SiteStack, name: str, value: str | None) -> None:
    if name == "version":
        stack.set_version(value)
    else:
        stack.set_config(config_key(stack, name), value)


def apply_change(
    stack_provider: Callable[[], SiteStack],
    s3: S3Client,
    bucket: str,
    change: StackChange,
    *,
    dry_run: bool = False,
    on_output: Callable[[str], Any] = print,
    read_live: Callable[[], str | None] | None = None,
    config_only: bool = False,
) -> ChangeResult:
    """Set the config of `change`, then preview (dry run), deploy nothing (config only) or run the
    targeted `up`; the config goes back after a preview, and after a failed `up` while `watched` still
    holds what it held before. The version it serves is refused (RefusedError) before the stack is
    asked for anything when it is not complete."""
    if change.serves is not None:
        check_releasable(s3, bucket, change.serves, change.action.split()[0])

    stack = stack_provider()
    targets = [] if config_only else release_targets(stack, change.targets_output)
    message = f"sitectl {change.action} {change.subject} by {_current_user()}"
    live_before = read_live() if read_live is not None else None
    deploys = not (dry_run or config_only)
    switched_before = _switch_invalidation(stack, targets) if deploys else None
    if deploys and change.serves is not None:
        # From here until the pointer names it, no prune may delete the version (nor may a version a
        # prune is deleting be released): the store's release lock, which every writer of the pointer
        # takes. A config-only release is locked by the program when `pulumi up` applies it.
        try:
            storage.claim_release(s3, bucket, change.serves, storage.lock_owner(f"sitectl {change.action}"))
        except storage.StoreRefusedError as error:
            raise RefusedError(str(error)) from error
    previous: dict[str, str | None] = {}
    try:
        for name in change.config:
            previous[name] = _get_config(stack, name)
        written: dict[str, str | None] = {}
        for name, value in change.config.items():
            try:
                _set_config(stack, name, value)
            except BaseException:
                if written:
                    _restore(stack, written, "setting the config failed")
                raise
            written[name] = previous[name]
    except SitectlError:
        raise
    except Exception as error:  # the Automation API's CommandError family
        what = "the version config" if list(change.config) == ["version"] else "the config"
        raise SitectlError(f"could not set {what} of stack {stack.name!r}: {_one_line(error)}") from error
    if config_only:
        return ChangeResult(previous, CONFIG_ONLY, dry_run=False, live_before=live_before)
    if dry_run:
        try:
            outcome = stack.preview(targets, message, on_output)
        except BaseException as error:
            _restore(stack, previous, f"pulumi preview failed: {_one_line(error)}")
            raise SitectlError(
                f"pulumi preview of stack {stack.name!r} failed: {_failure(error)}; "
                f"{_config_said(previous, 'restored to')}"
            ) from error
        _restore(stack, previous, "after the preview")
        return ChangeResult(previous, outcome, dry_run=True, live_before=live_before)
    try:
        outcome = stack.up(targets, message, on_output)
    except BaseException as error:
        raise _after_failed_up(
            stack, change, previous, live_before, read_live, f"failed: {_failure(error)}"
        ) from error
    if outcome != SUCCEEDED:
        raise _after_failed_up(stack, change, previous, live_before, read_live, f"ended {outcome!r}")
    try:
        switched = _switch_invalidation(stack, targets)
    except SitectlError as error:  # the release is done: only its report lacks the id
        on_output(f"{error.message}: the invalidation id is not reported\n")
        switched = None
    # A switch whose inputs did not change (the version was its last one) invalidates nothing.
    invalidation = switched if switched != switched_before else None
    return ChangeResult(previous, outcome, dry_run=False, live_before=live_before, invalidation=invalidation)


def _config_said(values: Mapping[str, str | None], verb: str) -> str:
    """`config version restored to 'V'`, or for several keys `config restored to version 'V',
    canaryVersion unset`."""
    if list(values) == ["version"]:
        return f"config version {verb} {values['version']!r}"
    said = ", ".join(
        f"{name} {value!r}" if value is not None else f"{name} unset" for name, value in values.items()
    )
    return f"config {verb} {said}"


def _switch_invalidation(stack: SiteStack, targets: list[str]) -> str | None:
    """The id of the last invalidation the switch recorded in its state: the `result` output of the
    `aws.lambda.Invocation` (components/site.py), the JSON edge_lambda/switch_handler.py returns; None
    without a switch (the cloudfront-function router invalidates nothing)."""
    try:
        states = stack.resource_outputs(targets)
    except SitectlError:
        raise
    except Exception as error:  # the Automation API's CommandError family
        raise SitectlError(f"could not read the state of stack {stack.name!r}: {_one_line(error)}") from error
    for outputs in states.values():
        result = outputs.get("result")
        if not isinstance(result, str):
            continue
        try:
            answer = json.loads(result)
        except ValueError:
            continue
        value = answer.get("invalidationId") if isinstance(answer, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def _after_failed_up(
    stack: SiteStack,
    change: StackChange,
    previous: dict[str, str | None],
    live_before: str | None,
    read_live: Callable[[], str | None] | None,
    what: str,
) -> SitectlError:
    """Put the config back only while what the change moves (the pointer) still holds what it held
    before the `up`: once it holds the change's target, the change is live, and the config must say so."""
    failed = f"pulumi up of stack {stack.name!r} {what}"
    before = live_before or layout.NO_VERSION_RELEASED
    wanted = {name: value for name, value in change.config.items()}
    if read_live is None:
        now: str | None = before
    else:
        try:
            now = read_live() or layout.NO_VERSION_RELEASED
        except Exception as error:
            return SitectlError(
                f"{failed}; {change.watched} could not be read ({_one_line(error)}): "
                f"{_config_said(wanted, 'left at')}; run `sitectl status` to see what is live"
            )
    if now == before:
        _restore(stack, previous, failed)
        return SitectlError(
            f"{failed}; {change.watched} still holds {before}: {_config_said(previous, 'restored to')}"
        )
    if now == change.target:
        return SitectlError(f"{failed} after {change.watched} changed: {change.took_effect}")
    left = _config_said(wanted, "left at")
    return SitectlError(
        f"{failed}; {change.watched} holds {now}, neither {before} (before) nor {change.target}: someone "
        f"else changed it. {left[0].upper()}{left[1:]}; run `sitectl status`"
    )


def _restore(stack: SiteStack, previous: Mapping[str, str | None], why: str) -> None:
    for name, value in previous.items():
        try:
            _set_config(stack, name, value)
        except Exception as error:
            key = config_key(stack, name)
            # An unset version is restored as empty: the program reads "" as unset.
            set_by_hand = value is not None or name == "version"
            by_hand = f"pulumi config set {key} '{value or ''}'" if set_by_hand else f"pulumi config rm {key}"
            what = f"config version {value!r}" if name == "version" else f"config {name} {value!r}"
            raise SitectlError(
                f"{why}, and restoring {what} failed too: {_one_line(error)}; set it by hand: {by_hand}"
            ) from error


def _failure(error: BaseException) -> str:
    """The engine's error in one line; a refusal to mix a provider change with --target says the fix."""
    if stack_module.refused_for_changed_providers(error):
        return (
            "the engine refuses a targeted update while providers changed (a pulumi-aws upgrade, or the "
            "provider's settings): run one full `pulumi up` first, then release again"
        )
    return _one_line(error)


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def previous_live_version(
    stack: SiteStack | None, parameter_values: list[str], current: str | None
) -> str | None:
    """The version live before `current`: from the stack's successful updates, newest first, else from
    the parameter's history (newest first)."""
    if stack is not None:
        for update in stack.history():
            released = update.kind == "update" and update.result == SUCCEEDED and is_released(update.version)
            if released and update.version != current:
                return update.version
    for value in parameter_values:
        if is_released(value) and value != current and layout.is_valid_version(value):
            return value
    return None


def releases_from_stack(updates: list[StackUpdate]) -> list[Release]:
    """Updates that changed the version or were run by sitectl, newest first."""
    releases = []
    chronological = list(reversed(updates))
    last_version: str | None = None
    last_canary: tuple[str, int] | None = None
    for update in chronological:
        if update.kind != "update":
            continue
        changed = update.version != last_version
        canary = canary_change(last_canary, layout.parse_canary_record(update.canary), update.version)
        if changed or canary or update.message.startswith("sitectl "):
            match = _MESSAGE_USER.search(update.message)
            releases.append(
                Release(
                    version=update.version or layout.NO_VERSION_RELEASED,
                    when=update.started.isoformat(timespec="seconds"),
                    by=update.user or (match.group("user") if match else None),
                    result=update.result,
                    source="stack",
                    canary=canary,
                )
            )
        if update.result == SUCCEEDED:
            last_version = update.version
            last_canary = layout.parse_canary_record(update.canary)
    return list(reversed(releases))


def canary_change(before: tuple[str, int] | None, after: tuple[str, int] | None, version: str | None) -> str:
    """What an update did to the canary: `start V at P%` (or a new share), `complete V` (the canary is
    the live version now), `abort V`; "" when nothing changed."""
    if after is not None and after != before:
        return f"start {after[0]} at {after[1]}%"
    if before is not None and after is None:
        return f"complete {before[0]}" if version == before[0] else f"abort {before[0]}"
    return ""


def releases_from_parameter(site: Site) -> list[Release]:
    return [
        Release(
            version=change.value,
            when=change.modified.isoformat(timespec="seconds") if change.modified else "-",
            by=change.user,
            result="applied",
            source="parameter",
        )
        for change in site.parameter_history()
    ]


def _print_release(result: ReleaseResult, site: Site) -> None:
    was = result.live_before or layout.NO_VERSION_RELEASED
    if result.result == CONFIG_ONLY:
        live = was if site.parameter() is not None else "not read, no --parameter"
        click.echo(
            f"set {site.stack().version_key} to {result.version} in {site.stack_file_name()} (was "
            f"{result.previous or 'unset'}; live: {live}); nothing deployed: commit it, and `pulumi up` "
            "(or `sitectl release` after the merge) applies it",
            err=True,
        )
    elif result.dry_run:
        click.echo(f"preview of releasing {result.version} (live: {was}): {result.result}", err=True)
    else:
        click.echo(f"released {result.version} (was {was})", err=True)


def _note_stale_config(site: Site, live: str | None) -> None:
    """A local config that differs from what is live is stale (a fresh checkout, another machine)."""
    configured = site.stack().get_version()
    if (configured or layout.NO_VERSION_RELEASED) != (live or layout.NO_VERSION_RELEASED):
        click.echo(
            f"note: the local config of stack {site.stack_name} says {configured or 'nothing'}, but "
            f"{live or layout.NO_VERSION_RELEASED} is live (the pointer); going by the pointer",
            err=True,
        )


_CONFIG_ONLY_HELP = (
    "Only set the version's config (`<project>:version`) in Pulumi.<stack>.yaml, deploy nothing: for a "
    "release made as a pull request (GitOps); `pulumi up` applies it once merged. With --bucket (or "
    "`sitectl:bucket` in the stack file) it edits the file alone: no Pulumi CLI, no backend."
)


_NOW_HELP = (
    "Emergency: write the live version where the routers read it, directly (seconds, no `pulumi up` "
    "first), record it so that no deployment of the stale config puts the old version back, then catch "
    "the stack config up (README, 'Emergency rollback')."
)


def now_options(function: Any) -> Any:
    function = click.option("--reason", default="", help="Why (with --now): kept in the emergency record.")(
        function
    )
    return click.option("--now", is_flag=True, help=_NOW_HELP)(function)


@click.command("release")
@json_output
@version_option(
    "The version to release (complete: `sitectl versions` lists them).", required=True, positional_alias=True
)
@click.option("--dry-run", is_flag=True, help="Preview the release instead of applying it.")
@click.option("--config-only", is_flag=True, help=_CONFIG_ONLY_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@now_options
@verify_release_options
@site_options()
@aws_errors
def release_command(
    version: str,
    dry_run: bool,
    config_only: bool,
    yes: bool,
    now: bool,
    reason: str,
    verification: VerifyOptions | None,
    site: Site,
    output: Output,
) -> None:
    """Release --version V: set the stack's `version` config and run a `pulumi up` targeted at the
    pointer and the switch. Refuses (exit 2) a version that is not complete."""
    _refuse_before_anything(site, "release", dry_run, config_only)
    if _now_refused(now, reason, dry_run, verification):
        _release_now(site, version, "release", config_only, yes, reason, output)
        return
    _release_confirmed(
        site,
        site.bucket(),
        version,
        action="release",
        question=f"Release {version} on stack {site.stack_name}?",
        dry_run=dry_run,
        config_only=config_only,
        yes=yes,
        verification=verification,
        output=output,
    )


@click.command("rollback")
@json_output
@version_option("Version to release (default: the one live before the current one).", old_flags=("--to",))
@click.option("--dry-run", is_flag=True, help="Preview the rollback instead of applying it.")
@click.option("--config-only", is_flag=True, help=_CONFIG_ONLY_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@now_options
@verify_release_options
@site_options()
@aws_errors
def rollback_command(
    version: str | None,
    dry_run: bool,
    config_only: bool,
    yes: bool,
    now: bool,
    reason: str,
    verification: VerifyOptions | None,
    site: Site,
    output: Output,
) -> None:
    """Release the version live before the one live now (the pointer, not the local config), from the
    stack's update history, else the parameter's history; or the one given with --version."""
    target = version
    _refuse_before_anything(site, "rollback", dry_run, config_only)
    bucket = site.bucket()
    if target is None:
        current = site.live_version()
        _note_stale_config(site, current)
        values = [change.value for change in site.parameter_history()]
        target = previous_live_version(site.stack(), values, current)
        if target is None:
            raise RefusedError("no earlier release found to roll back to: pass --version VERSION")
        output.say(f"rolling back from {current or layout.NO_VERSION_RELEASED} to {target}")
    if _now_refused(now, reason, dry_run, verification):
        _release_now(site, target, "rollback", config_only, yes, reason, output)
        return
    _release_confirmed(
        site,
        bucket,
        target,
        action="rollback to",
        question=f"Roll back to {target} on stack {site.stack_name}?",
        dry_run=dry_run,
        config_only=config_only,
        yes=yes,
        verification=verification,
        output=output,
    )


def _now_refused(now: bool, reason: str, dry_run: bool, verification: VerifyOptions | None) -> bool:
    """Whether --now was asked for, once its exclusions are checked."""
    if not now:
        if reason:
            raise RefusedError("--reason goes with --now (it is kept in the emergency record)")
        return False
    if dry_run:
        raise RefusedError("--now and --dry-run exclude each other: --now writes the pointer at once")
    if verification is not None:
        raise RefusedError(
            "--now and --verify exclude each other: --now already waits for the URL to serve the version"
        )
    return True


def _release_now(
    site: Site, version: str, command: str, config_only: bool, yes: bool, reason: str, output: Output
) -> None:
    question = f"Write {version} live on stack {site.stack_name} now (emergency, no pulumi up first)?"
    if not yes and not _confirmed(question):
        raise RefusedError(f"{command} cancelled")
    document = emergency_release(
        site, version, command, config_only=config_only, reason=reason, output=output
    )
    output.result(document, [version])


class _StackHeld(SitectlError):
    """The catch-up gave up waiting for another update of the stack."""


# While another `pulumi up` of the stack holds its lock (a release that started before the emergency),
# the catch-up waits for it and then runs, so that the emergency's version is the one that stays live.
CATCH_UP_LOCK_WAIT_SECONDS = 900.0
CATCH_UP_LOCK_POLL_SECONDS = 10.0


def emergency_release(
    site: Site,
    version: str,
    command: str,
    *,
    config_only: bool,
    reason: str,
    output: Output,
    on_output: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """`release`/`rollback --now` once confirmed (`make demo` runs it too): the direct writes and the
    timeline (scripts/commands/emergency.py), then the stack config caught up; the result document."""
    bucket = site.bucket()

    def release(target: str, only_the_file: bool) -> ReleaseResult:
        deadline = site.deps.clock() + CATCH_UP_LOCK_WAIT_SECONDS
        while True:
            try:
                return release_version(
                    site.stack,
                    site.s3(),
                    bucket,
                    target,
                    on_output=on_output or stream_pulumi_line,
                    action=f"{command} --now",
                    read_pointer=site.live_version,
                    config_only=only_the_file,
                    also=_no_canary_left(site.stack()),
                )
            except SitectlError as error:
                cause = error.__cause__
                if cause is None or not stack_module.locked_by_another_update(cause):
                    raise
                if site.deps.clock() >= deadline:
                    raise _StackHeld(
                        f"{target} is live, but another `pulumi up` of stack {site.stack_name!r} held the "
                        f"stack for {CATCH_UP_LOCK_WAIT_SECONDS:g} s, so its config is not caught up: once "
                        f"that update ends, see `sitectl status`; if it made another version live, run "
                        f"`sitectl {command} --now --version {target}` again, else `sitectl release "
                        f"--version {target} --yes`"
                    ) from error
                output.say(
                    f"another `pulumi up` of stack {site.stack_name!r} is running (a release?): catching "
                    f"up once it ends, so that {target} stays live "
                    f"(again in {CATCH_UP_LOCK_POLL_SECONDS:g} s)"
                )
                site.deps.sleep(CATCH_UP_LOCK_POLL_SECONDS)

    def catch_up(target: str, only_the_file: bool) -> str:
        try:
            if only_the_file:
                site.use_stack_file_if_bucket_named()
            result = release(target, only_the_file)
        except _StackHeld:
            raise
        except SitectlError as error:
            raise SitectlError(
                f"{target} is live, but catching the stack config up failed: {error.message}; run "
                f"`sitectl release --version {target} --yes` to bring it in line"
            ) from error
        key = site.stack().version_key
        if result.result == CONFIG_ONLY:
            return f"{key} = {target} in {site.stack_file_name()}: commit it (a pull request)"
        return f"stack config caught up: {key} = {target} (targeted pulumi up: {result.result})"

    return emergency_path.release_now(
        site,
        version,
        command=command,
        reason=reason,
        config_only=config_only,
        output=output,
        check_releasable=lambda s3, bucket, target: check_releasable(s3, bucket, target, command),
        catch_up=catch_up,
    )


def _no_canary_left(stack: SiteStack) -> dict[str, str | None]:
    """The canary keys the emergency's catch-up removes: those the config names (the write ended the
    canary, and the program refuses a config that still names it; scripts/versionstore/emergency.py)."""
    keys = (emergency.CANARY_VERSION_KEY, emergency.CANARY_PERCENT_KEY)
    return {name: None for name in keys if stack.get_config(config_key(stack, name)) is not None}


def _refuse_before_anything(site: Site, command: str, dry_run: bool, config_only: bool) -> None:
    if not site.has_stack:
        raise RefusedError(f"{command} needs the Pulumi stack: pass --stack (or set SITE_STACK)")
    if dry_run and config_only:
        raise RefusedError("--dry-run and --config-only exclude each other: --config-only deploys nothing")
    if config_only:
        # A bucket named without the stack's outputs: the stack file is all a pull request changes.
        site.use_stack_file_if_bucket_named()


def _release_confirmed(
    site: Site,
    bucket: str,
    version: str,
    *,
    action: str,
    question: str,
    dry_run: bool,
    config_only: bool,
    yes: bool,
    verification: VerifyOptions | None,
    output: Output,
) -> None:
    """What `release` and `rollback` share once the version is known: the refusals, before asking and
    before Pulumi is touched; the question; then the release, verified or not."""
    check_releasable(site.s3(), bucket, version, action.split()[0])
    check_router_serves(site.s3(), bucket, version, site.stack(), config_only)
    if config_only and verification:
        raise RefusedError("--verify and --config-only exclude each other: --config-only deploys nothing")
    verified = prepare_verification(site, verification, dry_run, stream_pulumi_line) if verification else None
    if not (yes or dry_run or config_only) and not _confirmed(question):
        raise RefusedError(f"{action.split()[0]} cancelled")
    started = time.monotonic()
    document: dict[str, object] = {"action": action.split()[0], "version": version}
    if verified is not None:
        results: list[ReleaseResult] = []
        report = verified.run(version, _stack_release(site, bucket, results), action, stream_pulumi_line)
        document.update(release_document(results[0], site))
        document.update(
            seconds=round(time.monotonic() - started, 3),
            verification={"ok": report.ok, "url": report.url, "checks": report.checks, **verified.timings},
        )
        output.result(document, [version])
        return
    result = release_version(
        site.stack,
        site.s3(),
        bucket,
        version,
        dry_run=dry_run,
        on_output=stream_pulumi_line,
        action=action,
        read_pointer=site.live_version,
        config_only=config_only,
    )
    _print_release(result, site)
    document.update(release_document(result, site), seconds=round(time.monotonic() - started, 3))
    output.result(document, [version])


def release_document(result: ReleaseResult, site: Site) -> dict[str, object]:
    """`release --json` / `rollback --json` (README, "sitectl: naming, output, exit codes")."""
    return {
        "stack": site.stack_name,
        "version": result.version,
        "from": result.live_before,
        "previous_config": result.previous,
        "result": result.result,
        "dry_run": result.dry_run,
        "config_only": result.result == CONFIG_ONLY,
        "invalidation": result.invalidation,
        "verification": None,
    }


@click.command("history")
@json_output
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@site_options()
@aws_errors
def history_command(limit: int, site: Site, output: Output) -> None:
    """Past releases, newest first: version, when, by whom, result (from the stack's update history,
    else the parameter's history); the one the pointer holds is marked live."""
    named = site.parameter()
    live = site.live_version() if named is not None else None
    if named is not None and live is None:
        # A mistyped --parameter has no history either: "no releases yet" would be a silent pass.
        raise RefusedError(missing_pointer(named))
    if site.has_stack:
        releases = releases_from_stack(site.stack().history())
    elif named is not None:
        releases = releases_from_parameter(site)
    else:
        raise RefusedError("history needs --stack or --parameter (or SITE_STACK / SITE_PARAMETER)")
    releases = _mark_live(releases[:limit], live)
    record = _emergency_record(site)
    if record is not None:
        # The emergency rollback wrote the pointer outside Pulumi: it is in no update's history.
        entry = Release(
            record.live,
            record.at,
            record.by,
            f"emergency rollback: {record.reason or '-'}",
            "record",
            canary=f"abort {record.ended_canary}" if record.ended_canary else "",
        )
        releases = [entry, *releases]
    if output.json:
        output.result([r.to_dict() for r in releases])
        return
    if not releases:
        click.echo("no releases yet")
        return
    rows = [["VERSION", "WHEN", "BY", "RESULT", "LIVE"]]
    rows += [[r.version, r.when, r.by or "-", r.result, "live" if r.live else ""] for r in releases]
    if any(r.canary for r in releases):  # a column only where canaries ran
        rows = [
            [*row, canary]
            for row, canary in zip(rows, ["CANARY", *(r.canary or "-" for r in releases)], strict=True)
        ]
    click.echo(render_table(rows))


def _emergency_record(site: Site) -> emergency.EmergencyRecord | None:
    parameter = site.parameter()
    if parameter is None:
        return None
    try:
        return emergency.read_record(site.ssm(), parameter[0])
    except emergency.UnreadableRecordError as error:
        raise RefusedError(str(error)) from error


def _stack_release(site: Site, bucket: str, results: list[ReleaseResult]) -> Callable[[str, str], None]:
    """`release --verify`'s way to release a version, and to roll back: the same path as without.
    Each release's result is appended to `results`."""

    def release(version: str, action: str) -> None:
        result = release_version(
            site.stack,
            site.s3(),
            bucket,
            version,
            on_output=stream_pulumi_line,
            action=action,
            read_pointer=site.live_version,
        )
        results.append(result)
        _print_release(result, site)

    return release


def _mark_live(releases: list[Release], live: str | None) -> list[Release]:
    """Mark the newest successful release of the version the pointer holds."""
    for index, release in enumerate(releases):
        if live and release.version == live and release.result in (SUCCEEDED, "applied"):
            return [*releases[:index], replace(release, live=True), *releases[index + 1 :]]
    return releases


def stream_pulumi_line(line: str) -> None:
    # Pulumi's progress is for people: stderr, so that stdout holds only the result (--json).
    click.echo(
        line.removesuffix("\n"), err=True
    )  # click adds it back; the rest of the line as Pulumi wrote it


def _confirmed(question: str) -> bool:
    # Without a terminal there is nobody to ask: scripts must say --yes.
    if not sys.stdin.isatty():
        raise RefusedError(f"{question} needs confirmation: pass --yes when not on a terminal")
    return click.confirm(question)  # Enter answers no: click's default
