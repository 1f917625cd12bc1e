"""The mock runner itself: one run never leaks into the next one or into the caller."""

from __future__ import annotations

import threading

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockResourceArgs

from scripts.offline.mockrun import ProgramError, UpdateMocks, run_inline


def _failing_program() -> None:
    # An output that fails and one still pending when the program raises: the SDK keeps failed
    # outputs in its pending set "to pick up at program exit".
    pulumi.export("broken", pulumi.Output.from_input(1).apply(lambda _: 1 / 0))
    pulumi.export("pending", pulumi.Output.from_input(2).apply(lambda v: v + 1))
    raise RuntimeError("the program failed on purpose")


def _executor_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("asyncio_")]


def test_a_failed_run_leaves_no_pending_output_behind() -> None:
    caller_outputs = set(pulumi_settings.SETTINGS.outputs)
    for _ in range(3):
        with pytest.raises(ProgramError, match="ZeroDivisionError|failed on purpose"):
            run_inline(_failing_program, "leak-check")
    # Before each run had its own set, the failed outputs (bound to a closed loop) stayed in the
    # caller's set and the next run's wait_for_rpcs failed with "Event loop is closed".
    assert set(pulumi_settings.SETTINGS.outputs) == caller_outputs
    run = run_inline(lambda: pulumi.export("ok", pulumi.Output.from_input("yes")), "leak-check")
    assert [r.type for r in run.resources] == ["pulumi:pulumi:Stack"]


def test_no_monitor_thread_outlives_its_run() -> None:
    def program() -> None:
        for index in range(20):
            pulumi.CustomResource("test:index:Thing", f"thing-{index}", {"n": index})

    run = run_inline(program, "thread-check")
    assert sum(r.type == "test:index:Thing" for r in run.resources) == 20
    assert _executor_threads() == []


@pytest.mark.parametrize(
    ("publish", "qualified_arn", "version"),
    [
        (True, "arn:aws:lambda:us-east-1:123456789012:function:edge-9f8e7d6:1", "1"),
        (False, "arn:aws:lambda:us-east-1:123456789012:function:edge-9f8e7d6:$LATEST", "$LATEST"),
        (None, "arn:aws:lambda:us-east-1:123456789012:function:edge-9f8e7d6:$LATEST", "$LATEST"),
    ],
)
def test_a_function_gets_a_numbered_version_only_when_published(
    publish: bool | None, qualified_arn: str, version: str
) -> None:
    """As Lambda answers: a program test asserting a numbered `qualifiedArn` fails without `publish`."""
    inputs = {"role": "arn:aws:iam::123456789012:role/edge"} | (
        {} if publish is None else {"publish": publish}
    )
    args = MockResourceArgs("aws:lambda/function:Function", "edge", inputs, custom=True)
    _, outputs = UpdateMocks("us-east-1").new_resource(args)
    assert (outputs["qualifiedArn"], outputs["version"]) == (qualified_arn, version)
