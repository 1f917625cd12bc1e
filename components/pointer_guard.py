"""What a deployment does to the live version, and the refusal to take a live site down by accident.

Runs inside the Pulumi program before the pointer can change, like the release guard: it reads the
pointer parameter (us-east-1) with the deployer's credentials and compares it with the configured
`version`. The live version is a stack config value, and a checkout whose `Pulumi.<stack>.yaml` lacks
it (a fresh clone, a CI job) would otherwise point the site at `none`, and every viewer would get 503.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.versionstore.errors import error_code


class LiveSiteWouldGoOfflineError(ValueError):
    """`version` is unset while the pointer holds a released version, and going offline was not asked for."""


class PointerUnreadableError(RuntimeError):
    """The pointer could not be read: the deployment cannot tell what is live, so it does not proceed."""


@dataclass(frozen=True)
class PointerChange:
    """What this deployment does to the live version: `kind` is release, rollback, unchanged or offline."""

    kind: str
    live: str  # the pointer's value now (`none` when it does not exist yet)
    target: str  # the value the pointer will hold
    offline_key: str  # the config key that takes the site offline on purpose

    @property
    def line(self) -> str:
        if self.kind == "unchanged":
            return f"live version unchanged: {self.live}"
        if self.kind == "rollback":
            return f"roll back {self.live} -> {self.target}"
        if self.kind == "offline":
            return f"take the site offline {self.live} -> {self.target} ({self.offline_key})"
        return f"release {self.live} -> {self.target}"

    @property
    def is_warning(self) -> bool:
        """A rollback or a take-down: a reviewer of the plan must not miss it."""
        return self.kind in ("rollback", "offline")


def read_pointer(ssm: Any, parameter_name: str) -> str | None:
    """The pointer's value, or None while the parameter does not exist (a stack never deployed)."""
    try:
        return str(ssm.get_parameter(Name=parameter_name)["Parameter"]["Value"])
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise PointerUnreadableError(
            f"could not read the live version from {parameter_name} (us-east-1): {error_code(error)}; "
            "the deployer needs ssm:GetParameter on it, as `pulumi up` does to manage it"
        ) from error


CheckResult = TypeVar("CheckResult")
Read = TypeVar("Read")


def check_before_any_resource(
    read_pointer: Callable[[str], Read],
    parameter_name: str,
    check: Callable[[Read], CheckResult],
) -> CheckResult:
    """Read the live pointer now (or what lives beside it: the emergency rollback record) and run
    `check` on its value (None: the parameter does not exist yet); `check` refuses by raising.

    For checks whose inputs are known at program start (the pointer's name is): call it before the
    program registers any resource. It then runs synchronously, before the engine is asked for
    anything, so its refusal holds for every `pulumi up`, previewed or not (`--skip-preview`, the
    Automation API's `up`), where a check inside an `apply` only runs once its input resolves, while
    other resources are already being created or updated (docs/releases.md, "Where the guards
    run"). Every check of the live pointer goes through here."""
    return check(read_pointer(parameter_name))


def plan_pointer_change(
    live: str | None,
    version: str | None,
    take_offline: bool,
    version_key: str,
    offline_key: str,
) -> PointerChange:
    """What setting the pointer to `version` (unset: `none`) does; raise when it would take a live site
    down without `takeOffline`. The keys are the stack config keys the messages name
    (`<project>:version`, `<project>:takeOffline`)."""
    current = live or layout.NO_VERSION_RELEASED
    if not version:
        if current == layout.NO_VERSION_RELEASED:
            return PointerChange("unchanged", current, current, offline_key)
        if not take_offline:
            raise LiveSiteWouldGoOfflineError(
                f"{version_key} is not set, but {current} is live: this would take the site "
                f"offline (503 for every viewer). Set `pulumi config set {version_key} {current}` "
                "to keep it, or release another version (`sitectl release --version VERSION`); to take the "
                f"site offline on purpose, `pulumi config set {offline_key} true`"
            )
        return PointerChange("offline", current, layout.NO_VERSION_RELEASED, offline_key)
    if version == current:
        return PointerChange("unchanged", current, version, offline_key)
    # Version ids sort by their UTC timestamp (layout.sort_newest_first); `none` sorts after none of them.
    older = current != layout.NO_VERSION_RELEASED and version < current
    return PointerChange("rollback" if older else "release", current, version, offline_key)


def default_ssm_client(region: str, profile: str | None = None) -> Any:
    import boto3

    return boto3.session.Session(profile_name=profile).client("ssm", region_name=region)


@dataclass(frozen=True)
class CanaryChange:
    """What this deployment does to the canary (the cloudfront-function router's): `kind` is start
    (or a new share), complete, abort, unchanged or none."""

    kind: str
    stable: str  # the live version the deployment leaves (the pointer's target)
    canary: str | None  # the canary version concerned (the running one for complete and abort)
    percent: int

    @property
    def line(self) -> str | None:
        if self.kind == "start":
            return f"canary {self.stable} -> {self.canary} at {self.percent}%"
        if self.kind == "unchanged":
            return f"canary unchanged: {self.stable} -> {self.canary} at {self.percent}%"
        if self.kind == "complete":
            return f"complete canary: {self.canary} is live for every viewer"
        if self.kind == "abort":
            return f"abort canary {self.canary}: every viewer back on {self.stable}"
        return None


def plan_canary_change(
    live_record: str | None, target: str, canary_version: str | None, canary_percent: int
) -> CanaryChange:
    """What the deployment does to the canary, from the canary parameter's value now (`live_record`),
    the live version it leaves (`target`) and the configured canary."""
    running = layout.parse_canary_record(live_record)
    if canary_version:
        same = running == (canary_version, canary_percent)
        return CanaryChange("unchanged" if same else "start", target, canary_version, canary_percent)
    if running is None:
        return CanaryChange("none", target, None, 0)
    kind = "complete" if target == running[0] else "abort"
    return CanaryChange(kind, target, running[0], running[1])
