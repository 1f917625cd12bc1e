"""Run the real Pulumi program under the mock runtime, as during `pulumi up`, and record what it registers.

The runner and its update-time mocks are `sitectl policy-check`'s (`scripts/offline/mockrun.py`,
`UpdateMocks`): outputs as the AWS provider would answer after creating each resource (names, ARNs, the
numbered qualified ARN of a published function), every input passed through, camelCase as the engine
sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto import mock_aws

from scripts.offline.mockrun import MOCK_ACCOUNT_ID as ACCOUNT
from scripts.offline.mockrun import RecordedResource, UpdateMocks, distribution_id
from scripts.offline.mockrun import run_program as run_any_program

if TYPE_CHECKING:
    import pulumi

    from components.site import VersionedStaticSite

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "versioned-site"
STACK_TYPE = "pulumi:pulumi:Stack"


class SiteMocks(UpdateMocks):
    """The program tests' mocks: policy-check's update-time mocks, in the test stacks' region."""

    def __init__(self, hosted_zones: dict[str, str] | None = None) -> None:
        super().__init__("eu-west-1", hosted_zones)


def distribution_arn(name: str) -> str:
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution_id(name)}"


def run_program(
    config: dict[str, str], stack: str = "dev", preview: bool = False, mocks: SiteMocks | None = None
) -> dict[str, RecordedResource]:
    """Run `__main__.py` with Pulumi.yaml's defaults plus `config` (keys without a namespace belong to
    the project); raises scripts.offline.mockrun.ProgramError, caused by the program's own error.

    The guards' AWS calls go to moto: the caller's mock (and its data) when one is active, else an
    empty account in which no pointer exists yet."""
    overrides = [f"{key}={value}" for key, value in {"aws:region": "eu-west-1", **config}.items()]
    # A preview here is one of an existing stack: the bucket's name is known, the release guard runs.
    # The guards' AWS calls go to moto: the caller's mock (and its data) when one is active, else an
    # empty account in which no pointer exists yet.
    with mock_aws():
        run = run_any_program(
            ROOT, stack, overrides, mocks=mocks or SiteMocks(), preview=preview, empty_aws_account=False
        )
    return {r.urn: r for r in run.resources if r.type != STACK_TYPE}


def by_type(registered: dict[str, RecordedResource], type_token: str) -> list[RecordedResource]:
    return [r for r in registered.values() if r.type == type_token]


def one(registered: dict[str, RecordedResource], type_token: str) -> RecordedResource:
    found = by_type(registered, type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
    return found[0]


def stack_outputs(config: dict[str, str], mocks: SiteMocks | None = None) -> dict[str, object]:
    """The program's exports after `pulumi up` with `config` (see run_program)."""
    overrides = [f"{key}={value}" for key, value in {"aws:region": "eu-west-1", **config}.items()]
    with mock_aws():
        run = run_any_program(
            ROOT, "dev", overrides, mocks=mocks or SiteMocks(), preview=False, empty_aws_account=False
        )
    (stack,) = [r for r in run.resources if r.type == STACK_TYPE]
    return stack.outputs


def declare_site(
    version: str, opts: pulumi.ResourceOptions | None = None, **settings: Any
) -> VersionedStaticSite:
    """The component as a program of one's own declares it (inside `run_inline`): an edge provider in
    us-east-1, guards that call no AWS, and `settings` on top."""
    import pulumi_aws as aws

    from components.site import VersionedStaticSite, VersionedStaticSiteArgs

    args = VersionedStaticSiteArgs(
        **{
            "version": version,
            "parameter_name": "/versioned-site/test/live-version",
            "edge_provider": aws.Provider("edge", region="us-east-1"),
            "release_check": lambda bucket, version: None,
            "read_pointer": lambda name: None,
            "read_emergency_record": lambda name: None,
            **settings,
        }
    )
    return VersionedStaticSite("site", args, opts)


def named(registered: dict[str, RecordedResource], name: str) -> RecordedResource:
    """The one resource registered under the logical name `name` (e.g. `site-edge`)."""
    found = [r for r in registered.values() if r.name == name]
    assert len(found) == 1, f"expected one resource named {name}, found {[r.urn for r in found]}"
    return found[0]


def switch_event(registered: dict[str, RecordedResource]) -> dict[str, Any]:
    """What the switch Lambda is invoked with: the input of the `<name>-release-switch` invocation."""
    import json

    return dict(json.loads(named(registered, "site-release-switch").props["input"]))
