"""`sitectl rollback --now` and `release --version V --now`: the live version written where the routers
read it, directly, with the deployer's credentials, in seconds instead of a `pulumi up`.

What it does, in order, each step on the timeline it prints:
1. refuses what a release refuses (a version that is not complete, one a prune is deleting, with the
   cloudfront-function router one whose fingerprinted files are not shared) and takes the store's
   release lock on the version, as every writer of the pointer does;
2. writes the emergency record beside the pointer (scripts/versionstore/emergency.py), so that CI's next
   `pulumi up` of the stale config cannot put the broken version back, then the pointer (SSM), and with
   the cloudfront-function router the KeyValueStore key, conditional on the store's ETag;
3. with Lambda@Edge, waits the deployed edge TTL and invalidates `/*`, as the switch does (the same
   function, edge_lambda/invalidation.py);
4. when the site's URL is known, asks it until it serves the version (`x-amz-meta-site-version`), and
   CloudFront until the invalidation is Completed;
5. catches the stack config up: `pulumi config set` plus the targeted `up` of a release, which then only
   reconciles Pulumi's state with what is already live; with --config-only, the stack file's edit alone.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from components import release_guard
from edge_function import CLOUDFRONT_FUNCTION
from edge_function.code import LIVE_VERSION_KEY, manifest_rule_keys, manifest_store_value
from edge_function.rule_keys import write_rule_keys
from edge_lambda import layout
from edge_lambda.invalidation import wait_then_invalidate
from edge_lambda.routes import RoutesTooLargeError
from scripts.commands.errors import RefusedError, SitectlError, error_code
from scripts.commands.options import Output
from scripts.commands.project import setting_key
from scripts.commands.site import Site
from scripts.versionstore import emergency
from scripts.versionstore import store as storage

# How long step 4 asks the URL for the new version; after that the timeline says it was not seen yet.
FIRST_ANSWER_WAIT_SECONDS = 120.0
FIRST_ANSWER_POLL_SECONDS = 2.0
# IAM actions of the break-glass path (README, "Emergency rollback"); a refusal of any names it.
BREAK_GLASS_ACTIONS = (
    "ssm:GetParameter",
    "ssm:PutParameter",
    "ssm:DeleteParameter",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "cloudfront:CreateInvalidation",
    "cloudfront:GetInvalidation",
    "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "cloudfront-keyvaluestore:GetKey",
    "cloudfront-keyvaluestore:PutKey",
)


@dataclass
class Timeline:
    """Seconds since the command started, per step: printed as they happen, and in --json."""

    clock: Callable[[], float]
    output: Output
    started: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def mark(self, step: str, line: str, **details: Any) -> None:
        seconds = round(self.clock() - self.started, 3)
        self.steps.append({"step": step, "seconds": seconds, **details})
        self.output.say(f"{seconds:8.2f} s  {line}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# The IAM action behind each request of the path (S3's ListObjectsV2 and HeadObject are authorized
# as s3:ListBucket and s3:GetObject).
_ACTION_OF = {
    **{action.split(":", 1)[1]: action for action in BREAK_GLASS_ACTIONS},
    "ListObjectsV2": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
}
_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def _denied(error: ClientError, what: str) -> SitectlError:
    """One line: what was refused and, for a missing permission, the IAM action it needs."""
    code = error_code(error)
    if code in _DENIED_CODES:
        operation = getattr(error, "operation_name", "")
        action = _ACTION_OF.get(operation, f"the permission for {operation or 'this request'}")
        return SitectlError(
            f"{what} was refused ({code}): the break-glass role lacks {action} (it needs "
            f"{', '.join(BREAK_GLASS_ACTIONS)}: README, 'Emergency rollback')"
        )
    return SitectlError(f"{what} failed: {code}: {error.response.get('Error', {}).get('Message', '')}")


def release_now(
    site: Site,
    target: str,
    *,
    command: str,
    reason: str,
    config_only: bool,
    output: Output,
    check_releasable: Callable[[Any, str, str], None],
    catch_up: Callable[[str, bool], str],
) -> dict[str, Any]:
    """Move the live version to `target` directly (module docstring); the result document, whose
    timeline counts from the command's start (its checks included). A request
    the role may not make is one line naming the IAM action, whichever step it was."""
    try:
        return _release_now(
            site,
            target,
            command=command,
            reason=reason,
            config_only=config_only,
            output=output,
            check_releasable=check_releasable,
            catch_up=catch_up,
        )
    except ClientError as error:
        if error_code(error) in _DENIED_CODES:
            raise _denied(error, f"AWS {getattr(error, 'operation_name', 'request')}") from error
        raise


def _release_now(
    site: Site,
    target: str,
    *,
    command: str,
    reason: str,
    config_only: bool,
    output: Output,
    check_releasable: Callable[[Any, str, str], None],
    catch_up: Callable[[str, bool], str],
) -> dict[str, Any]:
    timeline = Timeline(site.deps.clock, output)
    outputs = site.outputs()
    router = str(outputs.get("router") or "lambda-edge")
    parameter = site.parameter()
    if parameter is None:
        raise RefusedError(f"{command} --now needs the pointer: pass --stack (or --parameter)")
    pointer_name, region = parameter
    bucket = site.bucket()
    s3, ssm = site.s3(), site.ssm()
    live = site.require_live_version(f"{command} --now")
    if target == live:
        raise RefusedError(f"{target} is already live: nothing to roll back")
    check_releasable(s3, bucket, target)
    store_arn = str(outputs.get("pointerStoreArn") or "")
    distribution_id = str(outputs.get("distributionId") or "")
    ttl = outputs.get("edgeCacheTtlSeconds")
    spa_fallback = outputs.get("spaFallback")
    if router == CLOUDFRONT_FUNCTION and (not store_arn or spa_fallback is None):
        raise RefusedError(
            f"stack {site.stack_name!r} lacks the pointerStoreArn or spaFallback output: run one full "
            "`pulumi up` of it first"
        )
    if router != CLOUDFRONT_FUNCTION and (not distribution_id or ttl is None):
        raise RefusedError(
            f"stack {site.stack_name!r} lacks the distributionId or edgeCacheTtlSeconds output: run one "
            "full `pulumi up` of it first"
        )
    # The store's value, computed (or refused) before anything is locked or written.
    value, rule_keys = (
        _store_value(s3, bucket, target, bool(spa_fallback)) if router == CLOUDFRONT_FUNCTION else ("", {})
    )
    owner = storage.lock_owner(f"sitectl {command} --now")
    try:
        # As at preview: with spaFallback, a build's `/* /index.html 200` is refused (the catch-up's
        # `pulumi up` would refuse it there, after viewers already got the version).
        release_guard.check_releasable(
            s3,
            bucket,
            target,
            router == CLOUDFRONT_FUNCTION,
            owner,
            bool(outputs.get("spaFallback")),
            spa_fallback_key=setting_key(site.stack().version_key, "spaFallback"),
        )
    except release_guard.UnreleasableVersionError as error:
        raise RefusedError(str(error)) from error

    if rule_keys:
        # The version's build-rule keys before anything moves (the one writer every release path uses:
        # edge_function/rule_keys.py); a version's keys never change, so only missing ones are written.
        try:
            written = write_rule_keys(site.deps.kvs_factory(), store_arn, rule_keys)
        except ClientError as error:
            raise _denied(error, "writing its build rules' KeyValueStore keys") from error
        timeline.mark(
            "rules", f"{len(rule_keys)} rule keys of {target} in the KeyValueStore ({written} written)"
        )
    at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        before = emergency.read_record(ssm, pointer_name)
    except emergency.UnreadableRecordError as error:
        raise RefusedError(str(error)) from error
    # A canary running on the function router ends with the store's write below; the record says so
    # from the start, so that no deployment of a config that still names it starts it again.
    running = site.canary() if router == CLOUDFRONT_FUNCTION else None
    base = before or emergency.EmergencyRecord((), target, "", "", "")
    record = base.after(live, target, _user(), at, reason, running[0] if running is not None else "")
    # The record first: from the moment the pointer moves, no `pulumi up` of the stale config may
    # undo it. If the pointer write then fails, the record goes back to what it was.
    try:
        emergency.write_record(ssm, pointer_name, record)
    except ClientError as error:
        raise _denied(error, f"writing {emergency.record_name(pointer_name)}") from error
    timeline.mark("record", f"recorded: {record.describe()}")
    try:
        ssm.put_parameter(Name=pointer_name, Value=target, Type="String", Overwrite=True)
    except ClientError as error:
        _put_back(ssm, pointer_name, before)
        raise _denied(error, f"writing the pointer {pointer_name} ({region})") from error
    timeline.mark("pointer", f"pointer {pointer_name}: {live} -> {target}")

    invalidation_id: str | None = None
    cloudfront: Any = None
    if router == CLOUDFRONT_FUNCTION:
        try:
            _write_store(site, store_arn, value, live)
        except _StoreDenied as error:
            # Nothing reached the viewers: the pointer and the record go back to what they were.
            ssm.put_parameter(Name=pointer_name, Value=live, Type="String", Overwrite=True)
            _put_back(ssm, pointer_name, before)
            raise SitectlError(f"{error.message}; nothing changed: {live} is still live") from error
        timeline.mark("store", f"KeyValueStore key {LIVE_VERSION_KEY}: {live} -> {target} (viewers: at once)")
        if running is not None:
            # The value just written carries no canary: it ended with the write. Its record says so too
            # (status, history, prune read it); the catch-up drops it from the stack config, and until a
            # config that still names it drops it too, the program refuses to deploy it (the record).
            ssm.put_parameter(
                Name=layout.canary_parameter_name(pointer_name),
                Value=layout.canary_record(None, 0),
                Type="String",
                Overwrite=True,
            )
            timeline.mark(
                "canary",
                f"canary {running[0]} ({running[1]}%) ended: every viewer on {target}; a deployment of a "
                "config that still names it is refused (`sitectl canary --abort --config-only` removes it)",
            )
    else:
        cloudfront = site.deps.cloudfront_factory()
        try:
            invalidation_id, waited = wait_then_invalidate(
                ssm,
                cloudfront,
                parameter_name=pointer_name,
                version=target,
                distribution_id=distribution_id,
                cache_ttl_seconds=float(ttl),  # type: ignore[arg-type]
                now=site.deps.clock,
                sleep=site.deps.sleep,
            )
        except ClientError as error:
            raise _denied(error, f"invalidating distribution {distribution_id}") from error
        timeline.mark("edge-ttl", f"edge TTL passed ({float(ttl):g} s; waited {waited:.2f} s)")  # type: ignore[arg-type]
        timeline.mark("invalidation", f"invalidation {invalidation_id} of /* created")

    watched = (
        _Invalidation(cloudfront, distribution_id, invalidation_id) if invalidation_id is not None else None
    )
    first_answer = _first_answer(site, target, timeline, watched)
    config = catch_up(target, config_only)
    timeline.mark("config", config)
    # A release whose `pulumi up` was already running wrote its own version meanwhile: the catch-up's
    # targeted `up` waits for it and writes the target again; anything else must not pass silently.
    final = site.live_version()
    if final != target:
        raise SitectlError(
            f"the pointer holds {final} now, not {target}: another release wrote it while this {command} "
            f"--now ran (`sitectl history`); run `sitectl {command} --now --version {target}` again if "
            f"{final} must not be live"
        )
    return {
        "action": command,
        "now": True,
        "version": target,
        "from": live,
        "router": router,
        "reason": reason,
        "invalidation": invalidation_id,  # as `release --json`'s
        "invalidation_id": invalidation_id,
        "first_answer_seen": first_answer,
        "record": emergency.record_name(pointer_name),
        "timeline": timeline.steps,
    }


def _put_back(ssm: Any, pointer_name: str, before: emergency.EmergencyRecord | None) -> None:
    try:
        if before is None:
            emergency.clear_record(ssm, pointer_name)
        else:
            emergency.write_record(ssm, pointer_name, before)
    except ClientError:
        pass  # the pointer did not move: a record left behind only blocks a deploy of the live version


def _store_value(s3: Any, bucket: str, version: str, spa_fallback: bool) -> tuple[str, dict[str, str]]:
    """The `live-version` value a deployment writes for `version` (the version and its routes, read from
    its manifest as the component reads them: components/site.py) and its build rules' keys."""
    manifest = release_guard.manifest_of(s3, bucket, version)
    try:
        return manifest_store_value(version, manifest, spa_fallback), manifest_rule_keys(version, manifest)
    except RoutesTooLargeError as error:
        raise RefusedError(
            f"version {version} cannot be routed by the cloudfront-function router: {error}"
        ) from error


class _StoreDenied(SitectlError):
    """The role may not write the store: refused before the key changed."""


def _write_store(site: Site, store_arn: str, value: str, live: str) -> None:
    """The store's key, conditional on the store's ETag: a write that raced another one is refused by
    CloudFront (ConflictException) rather than silently lost."""
    kvs = site.deps.kvs_factory()
    target = value.partition(" ")[0]
    try:
        etag = kvs.describe_key_value_store(KvsARN=store_arn)["ETag"]
        kvs.put_key(KvsARN=store_arn, Key=LIVE_VERSION_KEY, Value=value, IfMatch=etag)
    except ClientError as error:
        if error_code(error) == "ConflictException":
            raise SitectlError(
                f"the KeyValueStore changed while {target} was written (another release?): the pointer "
                f"(SSM) holds {target}, the store may still hold {live}; run the same command again"
            ) from error
        denied = _denied(error, f"writing the KeyValueStore key {LIVE_VERSION_KEY}")
        if error_code(error) in _DENIED_CODES:
            raise _StoreDenied(denied.message) from error
        raise denied from error


@dataclass
class _Invalidation:
    """An invalidation `rollback --now` created, watched until CloudFront says it is Completed."""

    cloudfront: Any
    distribution_id: str
    id: str
    done: bool = False

    def check(self, timeline: Timeline) -> None:
        try:
            answer = self.cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=self.id)
        except ClientError as error:
            # Only the timeline misses it: the invalidation runs whether or not anyone asks.
            self.done = True
            timeline.mark(
                "invalidation-done",
                f"invalidation {self.id}: status not read ({error_code(error)}; the role lacks "
                "cloudfront:GetInvalidation?)",
                completed=None,
            )
            return
        if answer["Invalidation"]["Status"] == "Completed":
            self.done = True
            timeline.mark("invalidation-done", f"invalidation {self.id} completed", completed=True)


def _first_answer(
    site: Site, target: str, timeline: Timeline, invalidation: _Invalidation | None
) -> bool | None:
    """Ask the site's URL until it serves `target` (None: no URL known), and CloudFront until the
    invalidation is Completed, whichever comes first, each on the timeline."""
    url = site.url()
    deadline = site.deps.clock() + FIRST_ANSWER_WAIT_SECONDS
    seen: str | None = None
    served: bool | None = False if url else None
    while True:
        if invalidation is not None and not invalidation.done:
            invalidation.check(timeline)
        if url and not served:
            try:
                seen = site.deps.http_get(url.rstrip("/") + "/").headers.get(layout.VERSION_HEADER)
            except SitectlError:
                seen = None
            if seen == target:
                timeline.mark("first-answer", f"{url} serves {target}")
                served = True
            else:
                pointer = site.live_version()
                if pointer != target:
                    timeline.mark(
                        "first-answer",
                        f"the pointer holds {pointer} now, not {target}: another release wrote it "
                        f"meanwhile; the catch-up writes {target} again",
                    )
                    return False
        if served is not False and (invalidation is None or invalidation.done):
            return served
        if site.deps.clock() >= deadline:
            if served is False:
                timeline.mark(
                    "first-answer",
                    f"{url} did not serve {target} within {FIRST_ANSWER_WAIT_SECONDS:g} s (last: "
                    f"{seen or 'no marker'}); the invalidation may still be in progress: `sitectl status`",
                )
            if invalidation is not None and not invalidation.done:
                timeline.mark(
                    "invalidation-done",
                    f"invalidation {invalidation.id} not Completed within {FIRST_ANSWER_WAIT_SECONDS:g} s: "
                    f"CloudFront finishes it on its own (`aws cloudfront get-invalidation --distribution-id "
                    f"{invalidation.distribution_id} --id {invalidation.id}`)",
                    completed=False,
                )
            return served
        site.deps.sleep(FIRST_ANSWER_POLL_SECONDS)
