"""The engine's side of a policy check, in-process: what `sitectl policy-check` runs.

Every resource a program registered (see `scripts/offline/mockrun.py`) goes to every resource policy of the
pack, and the whole set, with parents and dependencies, to every stack policy, in the shape the
engine gives them to a pack; violations are collected as the engine would report them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy.site_policies import PACK_ENFORCEMENT_LEVEL, POLICIES, reporting_not_checked
from scripts.offline.mockrun import STACK_TYPE, ProgramRun, RecordedResource


@dataclass(frozen=True)
class Violation:
    level: EnforcementLevel
    policy: str
    urn: str
    message: str

    def line(self) -> str:
        return f"{self.level.value} {self.policy} {self.urn} {self.message}"


@dataclass(frozen=True)
class NotChecked:
    """A value `policy` needed on the resource `urn` that it could not read: unknown (a preview), or
    not a plain value of the expected shape. Never a pass."""

    policy: str
    urn: str
    property: str

    def line(self) -> str:
        return f"not checked: {self.policy} {self.urn} {self.property}"


@dataclass
class CheckReport:
    violations: list[Violation] = field(default_factory=list)
    not_checked: list[NotChecked] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level is EnforcementLevel.MANDATORY]


class PolicyCrashError(Exception):
    """A validator raised: a bug in the pack, not a verdict on the program."""


def _effective_level(policy: Policy, pack_level: EnforcementLevel) -> EnforcementLevel:
    level = policy.enforcement_level or pack_level
    # As in the engine: a violation that remediation did not fix is reported as mandatory.
    return EnforcementLevel.MANDATORY if level is EnforcementLevel.REMEDIATE else level


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    create, update, delete = resource.custom_timeouts
    return PolicyResourceOptions(
        resource.protect,
        list(resource.ignore_changes),
        resource.delete_before_replace,
        list(resource.aliases),
        PolicyCustomTimeouts(create, update, delete),
        list(resource.additional_secret_outputs),
        resource.parent,
    )


def _props(resource: RecordedResource) -> Any:
    # A fresh proxy per policy, as the engine deserialises the request once per policy.
    return unknown_checking_proxy(_copy(resource.props))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _provider(
    resource: RecordedResource, by_urn: dict[str, RecordedResource]
) -> PolicyProviderResource | None:
    provider = by_urn.get(resource.provider or "")
    if provider is None:
        return None
    return PolicyProviderResource(provider.type, _props(provider), provider.urn, provider.name)


def resource_validation_args(recorded: RecordedResource, run: ProgramRun) -> ResourceValidationArgs:
    """What the engine passes a resource policy for `recorded`."""
    return ResourceValidationArgs(
        recorded.type,
        _props(recorded),
        recorded.urn,
        recorded.name,
        _options(recorded),
        _provider(recorded, run.by_urn()),
    )


def stack_validation_args(run: ProgramRun) -> StackValidationArgs:
    """What the engine passes a stack policy: every resource, linked to its parent and dependencies."""
    return StackValidationArgs(_stack_resources(run))


def _stack_resources(run: ProgramRun) -> list[PolicyResource]:
    by_urn = run.by_urn()
    resources = {
        r.urn: PolicyResource(
            r.type, _props(r), r.urn, r.name, _options(r), _provider(r, by_urn), None, [], {}
        )
        for r in run.resources
    }
    for recorded in run.resources:
        resource = resources[recorded.urn]
        if recorded.parent in resources:
            resource.parent = resources[recorded.parent]
        resource.dependencies = [resources[u] for u in recorded.dependencies if u in resources]
        resource.property_dependencies = {
            key: [resources[u] for u in urns if u in resources]
            for key, urns in recorded.property_dependencies.items()
        }
    return list(resources.values())


class _Reporter:
    """A `report_violation` callback collecting into a CheckReport."""

    def __init__(
        self, report: CheckReport, policy: Policy, level: EnforcementLevel, urn: str, fixed_urn: bool
    ):
        self.report, self.policy, self.level = report, policy, level
        self.urn, self.fixed_urn = urn, fixed_urn

    def __call__(self, message: str, urn: str | None = None) -> None:
        # The engine ties a resource policy's violations to the resource it validated, whatever `urn` says.
        at = self.urn if self.fixed_urn or not urn else urn
        self.report.violations.append(Violation(self.level, self.policy.name, at, message))


def check(
    run: ProgramRun,
    policies: Sequence[Policy] = tuple(POLICIES),
    pack_level: EnforcementLevel = PACK_ENFORCEMENT_LEVEL,
) -> CheckReport:
    """Every resource through every resource policy, the stack through every stack policy."""
    report = CheckReport()
    stack_urn = next((r.urn for r in run.resources if r.type == STACK_TYPE), "")

    for policy in policies:
        level = _effective_level(policy, pack_level)
        if level is EnforcementLevel.DISABLED:
            continue
        if isinstance(policy, ResourceValidationPolicy):
            # Resources looked up with `.get()` are not registered, so the engine does not analyse them.
            for recorded in (r for r in run.resources if not r.read):
                args = resource_validation_args(recorded, run)
                reporter = _Reporter(report, policy, level, recorded.urn, fixed_urn=True)
                _run_validation(report, policy, recorded.urn, args, reporter)
        elif isinstance(policy, StackValidationPolicy):
            reporter = _Reporter(report, policy, level, stack_urn, fixed_urn=False)
            _run_validation(report, policy, stack_urn, stack_validation_args(run), reporter)
    return report


def _run_validation(
    report: CheckReport,
    policy: ResourceValidationPolicy | StackValidationPolicy,
    urn: str,
    args: ResourceValidationArgs | StackValidationArgs,
    reporter: _Reporter,
) -> None:
    def record(resource_urn: str, prop: str) -> None:
        report.not_checked.append(NotChecked(policy.name, resource_urn, prop))

    try:
        with reporting_not_checked(record):
            result = policy.validate(args, reporter)  # type: ignore[arg-type]
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(result)
                finally:
                    loop.close()
    except UnknownValueError as exc:
        # The engine turns this into an advisory note and skips the policy on that resource: the
        # whole policy is then not checked there, at the property the proxy names.
        record(urn, ".".join(exc.props))
    except Exception as exc:
        raise PolicyCrashError(f"policy {policy.name} raised on {urn}: {exc!r}") from exc
