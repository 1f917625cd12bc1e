"""`sitectl e2e`: every step's logic against moto and the stack fake, so that only the calls to AWS and
the engine need a real account: the plan, the refusals, the ledger and clean-up, the report."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.errors import RefusedError
from scripts.commands.serve import preview_server_running
from scripts.commands.site import HttpAnswer, SiteDeps
from scripts.commands.site import http_get as site_http_get
from scripts.e2e import run as e2e
from scripts.sitectl import cli
from tests.clock import ManualClock
from tests.kvs_fake import ARN, running_store
from tests.kvs_fake import client_for as kvs_client_for
from tests.sitectl_scaffold import BUCKET, PARAMETER, URL, FakeStack, World, world
from tests.test_emergency_rollback import FakeCloudFront

__all__ = ["world"]

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = "20261206171500-ab12"


class FakeThrowaway:
    """Throwaway stacks as the fake stacks of the sitectl tests; records what the run asked of Pulumi."""

    def __init__(
        self, world: World, kvs_arn: str = "", url: str = URL, clock: ManualClock | None = None
    ) -> None:
        self.world = world
        self.kvs_arn = kvs_arn
        self.url = url
        self.clock = clock or ManualClock()
        self.calls: list[str] = []
        self.configs: dict[str, Mapping[str, str]] = {}
        self.fail: dict[str, Exception] = {}

    def exists(self, stack: str) -> bool:
        return stack in self.world.stacks

    def create(self, stack: str, config: Mapping[str, str]) -> None:
        self.calls.append(f"create {stack}")
        self.configs[stack] = dict(config)
        router = config["versioned-site:router"]
        fake = FakeStack(
            name=stack,
            extra_outputs={
                "router": router,
                "distributionId": "E2EXAMPLE",
                "edgeCacheTtlSeconds": 5,
                "pointerStoreArn": self.kvs_arn if router == "cloudfront-function" else "",
                "spaFallback": False,
                "url": self.url,
            },
        )
        fake.write_pointer = self._switch
        self.world.stacks[stack] = fake

    def _switch(self, version: str) -> None:
        # What a targeted `up` does: the pointer, then the switch waits the edge TTL (5 s + 1 s).
        self.world.set_live(version)
        self.clock.advance(6)

    def up(self, stack: str) -> str:
        self.calls.append(f"up {stack}")
        return "pulumi up: succeeded"

    def destroy(self, stack: str) -> str:
        self.calls.append(f"destroy {stack}")
        if stack in self.fail:
            raise self.fail[stack]
        return "pulumi destroy: succeeded"

    def remove(self, stack: str) -> None:
        self.calls.append(f"remove {stack}")
        del self.world.stacks[stack]


class Edge:
    """The distribution, as `sitectl serve` answers for the bucket in moto through the real edge handler
    (its pointer cache on the test's clock), from one edge location (`x-amz-cf-pop`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, url: str) -> HttpAnswer:
        answer = site_http_get(url.replace(URL, self.url))
        return HttpAnswer(answer.body, {**answer.headers, "x-amz-cf-pop": "FRA56-P1"})


@contextmanager
def distribution(world: World, clock: ManualClock) -> Iterator[str]:
    settings = EdgeSettings(
        parameter_name=PARAMETER,
        region="us-east-1",
        cache_ttl_seconds=5,
        bucket=BUCKET,
        bucket_region="us-east-1",
    )
    handler = OriginRequestHandler(settings, PointerCache(settings, now=clock))
    with preview_server_running(BUCKET, settings, s3_client=world.s3, edge_function=handler) as server:
        yield server.url


def _run(world: World, tmp_path: Path, router: str, kvs: Any = None) -> tuple[e2e.Report, FakeThrowaway]:
    clock = ManualClock(start=time.time())
    with distribution(world, clock) as url:
        edge = Edge(url)
        deps = SiteDeps(
            stack_factory=lambda name, _dir: world.stacks[name],
            stack_lister=lambda _dir: list(world.stacks),
            s3_factory=lambda: world.s3,
            ssm_factory=lambda region: world.ssm,
            http_get=edge,
            cloudfront_factory=lambda: FakeCloudFront(clock, world.ssm),
            kvs_factory=lambda: kvs,
            clock=clock,
            sleep=clock.sleep,
        )
        throwaway = FakeThrowaway(world, ARN, url, clock)
        run = e2e.Run(
            run_id=RUN_ID,
            throwaway=throwaway,
            sitectl=e2e.sitectl_in_process(deps),
            ledger=e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID),
            examples=ROOT / "examples",
            region="eu-west-1",
            clock=clock,
            sleep=clock.sleep,
            http_get=edge,
            say=lambda line: None,
            routers=[router],
        )
        return run.execute(), throwaway


STEPS = [
    "create stack",
    "deploy (pulumi up)",
    "upload v1",
    "upload v2",
    "release v1",
    "verify",
    "release v2 --verify",
    "rollback (pulumi up)",
    "release v2 again",
    "rollback --now",
]


def test_a_whole_run_on_lambda_edge_goes_through_sitectl_and_leaves_nothing(
    world: World, tmp_path: Path
) -> None:
    report, throwaway = _run(world, tmp_path, "lambda-edge")
    assert [(s.step, s.ok) for s in report.steps] == [(step, True) for step in STEPS], "\n".join(
        report.lines()
    )
    stack = f"e2e-{RUN_ID}-edge"
    assert throwaway.calls == [f"create {stack}", f"up {stack}", f"destroy {stack}", f"remove {stack}"]
    config = throwaway.configs[stack]
    assert json.loads(config["aws:defaultTags"]) == {"tags": {e2e.RUN_TAG: RUN_ID}}
    assert config["versioned-site:forceDestroyBucket"] == "true"
    assert report.ok and report.left == []
    # Each switch watched at the edge: the version and the location that answered.
    assert [(s["version"], s["seen"], s["pops"]) for s in report.switches] == [
        ("20261206T171500Z", True, ["FRA56-P1"]),
        ("20261206T171501Z", True, ["FRA56-P1"]),
        ("20261206T171501Z", True, ["FRA56-P1"]),
        ("20261206T171500Z", True, ["FRA56-P1"]),
    ]
    assert world.live() == "20261206T171500Z"
    ledger = json.loads((tmp_path / f"{RUN_ID}.json").read_text())
    assert ledger == {"run_id": RUN_ID, "stacks": [], "left": []}


def test_a_run_on_the_function_router_writes_the_store_directly(world: World, tmp_path: Path) -> None:
    with running_store() as (store, endpoint):
        report, _ = _run(world, tmp_path, "cloudfront-function", kvs_client_for(endpoint))
    assert [(s.step, s.ok) for s in report.steps] == [(step, True) for step in STEPS], "\n".join(
        report.lines()
    )
    assert store.items["live-version"].startswith("20261206T171500Z ")


def test_a_failed_step_stops_the_plan_and_still_cleans_up(world: World, tmp_path: Path) -> None:
    # Nothing to upload: the examples folder is missing.
    clock = ManualClock()
    throwaway = FakeThrowaway(world)
    run = e2e.Run(
        run_id=RUN_ID,
        throwaway=throwaway,
        sitectl=e2e.sitectl_in_process(world.deps()),
        ledger=e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID),
        examples=tmp_path / "missing",
        region="eu-west-1",
        clock=clock,
        sleep=clock.sleep,
        http_get=Edge(URL),
        say=lambda line: None,
        routers=["lambda-edge"],
    )
    report = run.execute()
    assert [(s.step, s.ok) for s in report.steps] == [
        ("create stack", True),
        ("deploy (pulumi up)", True),
        ("upload v1", False),
    ]
    assert "missing" in report.steps[-1].detail and "\n" not in report.steps[-1].detail
    assert throwaway.calls[-2:] == [f"destroy e2e-{RUN_ID}-edge", f"remove e2e-{RUN_ID}-edge"]
    assert not report.ok


def test_what_cannot_be_destroyed_is_reported_and_kept_in_the_ledger_for_cleanup(
    world: World, tmp_path: Path
) -> None:
    throwaway = FakeThrowaway(world)
    stack = f"e2e-{RUN_ID}-edge"
    ledger = e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID)
    ledger.add(stack)
    throwaway.create(stack, {"versioned-site:router": "lambda-edge"})
    throwaway.fail[stack] = RuntimeError(
        "deleting Lambda Function: InvalidParameterValueException: Lambda was unable to delete "
        "arn:aws:lambda:us-east-1:1:function:site-edge:3 because it is a replicated function"
    )
    left = e2e.cleanup(throwaway, ledger, lambda line: None)
    assert left == [f"{stack}: " + e2e.LAMBDA_EDGE_NOTE.format(run_id=RUN_ID)]
    assert e2e.Ledger.load(tmp_path, RUN_ID).stacks == [stack]
    # Hours later, the same command finishes it.
    del throwaway.fail[stack]
    assert e2e.cleanup(throwaway, e2e.Ledger.load(tmp_path, RUN_ID), lambda line: None) == []
    assert e2e.Ledger.load(tmp_path, RUN_ID).stacks == []


def test_it_never_touches_a_stack_it_did_not_create(world: World, tmp_path: Path) -> None:
    ledger = e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID)
    with pytest.raises(RefusedError, match="is not one of run"):
        ledger.add("prod")
    # A stack of that name already there (an earlier run with the same id): refused, not adopted.
    world.stacks[f"e2e-{RUN_ID}-edge"] = FakeStack(name=f"e2e-{RUN_ID}-edge")
    report, throwaway = _run(world, tmp_path, "lambda-edge")
    assert [(s.step, s.ok) for s in report.steps] == [("create stack", False)]
    assert "exists already" in report.steps[0].detail and "destroy" not in " ".join(throwaway.calls)
    # A hand-edited ledger naming another stack: clean-up leaves it alone.
    (tmp_path / "x.json").write_text(json.dumps({"run_id": "x", "stacks": ["prod"], "left": []}))
    left = e2e.cleanup(throwaway, e2e.Ledger.load(tmp_path, "x"), lambda line: None)
    assert left == ["prod: not a stack of run x, not touched"] and throwaway.calls == []


def test_the_time_cap_stops_the_run_and_cleans_up(world: World, tmp_path: Path) -> None:
    clock = ManualClock()
    throwaway = FakeThrowaway(world)

    class SlowThrowaway(FakeThrowaway):
        def up(self, stack: str) -> str:
            clock.advance(31 * 60)
            return super().up(stack)

    throwaway = SlowThrowaway(world)
    run = e2e.Run(
        run_id=RUN_ID,
        throwaway=throwaway,
        sitectl=e2e.sitectl_in_process(world.deps()),
        ledger=e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID),
        examples=ROOT / "examples",
        region="eu-west-1",
        clock=clock,
        sleep=clock.sleep,
        http_get=Edge(URL),
        say=lambda line: None,
        max_minutes=30,
        routers=["lambda-edge"],
    )
    report = run.execute()
    assert [(s.step, s.ok, s.detail) for s in report.steps][-1] == (
        "upload v1",
        False,
        "time cap reached: not run",
    )
    assert throwaway.calls[-1] == f"remove e2e-{RUN_ID}-edge"


@pytest.mark.parametrize(
    ("which", "credentials", "environment", "message"),
    [
        (None, True, {"PULUMI_CONFIG_PASSPHRASE": "x"}, "e2e needs the Pulumi CLI"),
        ("/usr/bin/pulumi", False, {"PULUMI_CONFIG_PASSPHRASE": "x"}, "e2e needs AWS credentials"),
        ("/usr/bin/pulumi", True, {}, "needs PULUMI_CONFIG_PASSPHRASE"),
    ],
)
def test_preflight_refuses_in_one_line(
    which: str | None, credentials: bool, environment: dict[str, str], message: str
) -> None:
    with pytest.raises(RefusedError, match=message):
        e2e.preflight(lambda name: which, lambda: credentials, environment)
    # A Pulumi Cloud (or S3) backend needs no passphrase.
    if message.startswith("needs PULUMI"):
        e2e.preflight(
            lambda name: which, lambda: credentials, {"PULUMI_BACKEND_URL": "https://api.pulumi.com"}
        )


def test_the_command_without_the_pulumi_cli_exits_2_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e, "pulumi_on_path", lambda name: None)
    result = CliRunner().invoke(cli, ["e2e"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Error: e2e needs the Pulumi CLI: install it (https://www.pulumi.com/docs/install/) "
        "and put it on PATH"
    ]


def test_the_report_reads_for_people_and_for_ci() -> None:
    report = e2e.Report(RUN_ID, 90)
    report.steps.append(e2e.StepResult("lambda-edge", "release v1", 12.5, True, "20261206T171500Z live"))
    report.switches.append(
        {
            "router": "lambda-edge",
            "version": "20261206T171500Z",
            "seen": True,
            "seconds": 41.0,
            "pops": ["FRA56-P1"],
        }
    )
    report.left.append("e2e-x-edge: replicas")
    assert report.lines() == [
        "ROUTER               STEP                        SECONDS  RESULT",
        "lambda-edge          release v1                     12.5  ok: 20261206T171500Z live",
        "switch to 20261206T171500Z (lambda-edge): 41.0 s at FRA56-P1",
        "LEFT IN THE ACCOUNT: e2e-x-edge: replicas",
    ]
    document = report.to_dict()
    assert document["ok"] is False and document["steps"][0]["seconds"] == 12.5
    assert PARAMETER  # the fake world's pointer is the one the runs above moved
