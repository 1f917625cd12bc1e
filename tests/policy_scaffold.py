"""Helpers for the policy tests: declare resources with pulumi-aws under the preview mocks, then hand
them to one policy exactly as the engine would (real ResourceValidationArgs / StackValidationArgs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from policy.site_policies import POLICIES
from scripts.offline.mockrun import ProgramRun, RecordedResource, run_inline
from scripts.offline.policy_eval import resource_validation_args, stack_validation_args

PROGRAMS = Path(__file__).resolve().parent / "fixtures" / "programs"
PROJECT = "policy-test"
ACCOUNT = "123456789012"
DISTRIBUTION_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2EXAMPLE12345"
EDGE_FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:site-edge"


def preview(program: Callable[[], object], config: Mapping[str, str] | None = None) -> ProgramRun:
    """Run `program` (pulumi-aws resource declarations) as `pulumi preview` would."""

    def declare() -> None:
        program()

    return run_inline(declare, PROJECT, "test", {"aws:region": "eu-west-1", **(config or {})})


def policy(name: str) -> ResourceValidationPolicy | StackValidationPolicy:
    return next(p for p in POLICIES if p.name == name)


def resource(run: ProgramRun, name: str) -> RecordedResource:
    matches = [r for r in run.resources if r.name == name]
    assert len(matches) == 1, f"expected one resource named {name!r}, got {[r.urn for r in matches]}"
    return matches[0]


def violations(policy_name: str, run: ProgramRun, resource_name: str) -> list[str]:
    """Messages a resource policy reports for one resource."""
    chosen = policy(policy_name)
    assert isinstance(chosen, ResourceValidationPolicy)
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    chosen.validate(resource_validation_args(resource(run, resource_name), run), report)
    return messages


def violations_everywhere(policy_name: str, run: ProgramRun) -> dict[str, list[str]]:
    """Messages of a resource policy over every resource, by resource name (only those with any)."""
    found = {r.name: violations(policy_name, run, r.name) for r in run.resources if not r.read}
    return {name: messages for name, messages in found.items() if messages}


@dataclass(frozen=True)
class StackViolation:
    urn: str | None
    message: str


def stack_violations(policy_name: str, run: ProgramRun) -> list[StackViolation]:
    chosen = policy(policy_name)
    assert isinstance(chosen, StackValidationPolicy)
    found: list[StackViolation] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(StackViolation(urn, message))

    chosen.validate(stack_validation_args(run), report)
    return found
