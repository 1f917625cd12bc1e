"""`sitectl e2e`: every step's logic against moto and the stack fake, so that only the calls to AWS and
the engine need a real account: the plan, the refusals, the ledger and clean-up, the report, and the
engine's own messages as its event stream carries them (tests/fixtures/engine_events.jsonl holds event
lines in the shapes the CLI writes them; scripts/e2e/engine.py cites where in pulumi/pulumi)."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pulumi.automation.events import EngineEvent

from components import pointer_guard, release_guard
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.errors import RefusedError
from scripts.commands.serve import preview_server_running
from scripts.commands.site import HttpAnswer, SiteDeps
from scripts.commands.site import http_get as site_http_get
from scripts.commands.stack import PulumiStack
from scripts.e2e import run as e2e
from scripts.e2e.engine import EngineLog
from scripts.offline.kvs_fake import ARN, running_store
from scripts.offline.kvs_fake import client_for as kvs_client_for
from scripts.sitectl import cli
from scripts.versionstore import emergency
from tests.clock import ManualClock
from tests.sitectl_scaffold import BUCKET, PARAMETER, URL, FakeStack, World, world
from tests.test_emergency_rollback import FakeCloudFront

__all__ = ["world"]

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = "20261206171500-ab12"
V1, V2, V3 = "20261206T171500Z", "20261206T171501Z", "20261206T171502Z"
EVENTS = ROOT / "tests" / "fixtures" / "engine_events.jsonl"
RESET = "<{%reset%}>"


def diagnostic(severity: str, text: str) -> EngineEvent:
    """A diagnostic event as the CLI writes it to the event log (colour "raw": pkg/engine/eventsink.go
    wraps the message in directives, and warnings and errors get a prefix), read by the SDK's parser."""
    prefix = {"warning": "<{%fg 3%}>warning: ", "error": "<{%fg 1%}>error: "}.get(severity)
    event = {"message": f"{RESET}{text}{RESET}\n", "color": "raw", "severity": severity}
    return EngineEvent.from_json(
        {
            "sequence": 1,
            "timestamp": 1,
            "diagnosticEvent": {**({"prefix": prefix + RESET} if prefix else {}), **event},
        }
    )


def unhandled(error: BaseException) -> str:
    """What the Python language host logs for an exception the program does not catch
    (sdk/python/cmd/pulumi-language-python-exec): the sentence, then the traceback."""
    lines = traceback.format_exception(error)
    return "Program failed with an unhandled exception:\n" + "".join(lines).rstrip("\n")


def summary(changes: dict[str, int], seconds: int = 14) -> EngineEvent:
    return EngineEvent.from_json(
        {
            "sequence": 2,
            "timestamp": 2,
            "summaryEvent": {"durationSeconds": seconds, "resourceChanges": changes},
        }
    )


@dataclass
class EngineStack(FakeStack):
    """A throwaway stack whose `up` runs what the real program runs before the pointer can change, the
    program's own functions against moto: the pointer guard's plan, the emergency record's check, the
    release guard; and sends what the engine would (the log lines, an unhandled exception, a summary)."""

    world: Any = None
    on_event: Callable[[Any], Any] = lambda event: None
    guards: bool = True
    events: bool = True

    def _send(self, event: EngineEvent) -> None:
        if self.events:
            self.on_event(event)

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        ssm, s3 = self.world.ssm, self.world.s3
        version = self.version or None
        try:
            pointer = str(self.outputs()["parameterName"])
            live = ssm.get_parameter(Name=pointer)["Parameter"]["Value"]
            offline_key = f"{self.version_key.partition(':')[0]}:takeOffline"
            change = pointer_guard.plan_pointer_change(live, version, False, self.version_key, offline_key)
            record = emergency.read_record(ssm, pointer)
            if self.guards:
                emergency.check_deployment(record, version, None, self.version_key)
            if record is not None:
                self._send(diagnostic("warning", f"emergency rollback in force: {record.describe()}"))
            if self.guards and version:
                function = self.extra_outputs.get("router") == "cloudfront-function"
                bucket = str(self.outputs()["bucketName"])
                release_guard.check_releasable(
                    s3, bucket, version, function, f"pulumi up of {self.name}", version_key=self.version_key
                )
        except ValueError as error:
            self._send(diagnostic("error", unhandled(error)))
            self._send(summary({}, seconds=3))
            raise RuntimeError(f"code: 255\n stderr: error: update failed\n{type(error).__name__}") from error
        self._send(diagnostic("warning" if change.is_warning else "info", change.line))
        result = super().up(targets, message, on_output)
        if self.extra_outputs.get("router") == "cloudfront-function":
            # The canary's record beside the pointer, from the config, as the program writes it.
            canary = self._canary() or layout.NO_VERSION_RELEASED  # `<version> <percent>`, or none
            ssm.put_parameter(
                Name=layout.canary_parameter_name(pointer), Value=canary, Type="String", Overwrite=True
            )
        self._send(summary({"same": 23, "update": 2}))
        return result


def pointer(stack: str) -> str:
    return f"/versioned-site/{stack}/live-version"


def tag_bucket(world: World, bucket: str, tags: Mapping[str, str]) -> None:
    world.s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in tags.items()]}
    )


def live(world: World, stack: str) -> str:
    return str(world.ssm.get_parameter(Name=pointer(stack))["Parameter"]["Value"])


class FakeThrowaway:
    """Throwaway stacks as the fake stacks of the sitectl tests; records what the run asked of Pulumi."""

    def __init__(
        self,
        world: World,
        kvs_arn: str = "",
        clock: ManualClock | None = None,
        engine: EngineLog | None = None,
        urls: Mapping[str, str] | None = None,
    ) -> None:
        self.world = world
        self.kvs_arn = kvs_arn
        self.urls = dict(urls or {})  # each stack's distribution (a `sitectl serve` on 127.0.0.1)
        self.clock = clock or ManualClock()
        self.engine = engine or EngineLog()
        self.calls: list[str] = []
        self.configs: dict[str, Mapping[str, str]] = {}
        self.fail: dict[str, Exception] = {}
        self.removed: dict[str, FakeStack] = {}

    def exists(self, stack: str) -> bool:
        return stack in self.world.stacks

    def create(self, stack: str, config: Mapping[str, str]) -> None:
        self.calls.append(f"create {stack}")
        self.configs[stack] = dict(config)
        router = config["versioned-site:router"]
        # The pointer the stack's deploy would create, named after the stack as the component names it.
        self.world.ssm.put_parameter(Name=pointer(stack), Value=layout.NO_VERSION_RELEASED, Type="String")
        fake = EngineStack(
            name=stack,
            extra_outputs={
                "bucketName": stack,
                "parameterName": pointer(stack),
                "router": router,
                "distributionId": "E2EXAMPLE",
                "edgeCacheTtlSeconds": 5,
                "pointerStoreArn": self.kvs_arn if router == "cloudfront-function" else "",
                "spaFallback": False,
                "url": self.urls.get(stack, URL),
            },
            world=self.world,
            on_event=self.engine.on_event,
        )
        fake.write_pointer = lambda version: self._switch(stack, version)
        self.world.stacks[stack] = fake

    def _switch(self, stack: str, version: str) -> None:
        # What a targeted `up` does: the pointer, then the switch waits the edge TTL (5 s + 1 s).
        self.world.ssm.put_parameter(Name=pointer(stack), Value=version, Type="String", Overwrite=True)
        self.clock.advance(6)

    def up(self, stack: str) -> str:
        # The deploy creates the stack's bucket, tagged by the stack's aws:defaultTags.
        self.calls.append(f"up {stack}")
        tags: dict[str, str] = json.loads(self.configs[stack].get("aws:defaultTags", '{"tags": {}}'))["tags"]
        if stack not in [b["Name"] for b in self.world.s3.list_buckets()["Buckets"]]:
            self.world.s3.create_bucket(Bucket=stack)
        tag_bucket(self.world, stack, tags)
        self.engine.on_event(summary({"create": 31}, seconds=412))
        return "pulumi up: succeeded"

    def destroy(self, stack: str) -> str:
        self.calls.append(f"destroy {stack}")
        if stack in self.fail:
            raise self.fail[stack]
        return "pulumi destroy: succeeded"

    def remove(self, stack: str) -> None:
        self.calls.append(f"remove {stack}")
        self.removed[stack] = self.world.stacks.pop(stack)


def edge(url: str) -> HttpAnswer:
    """The distributions, as `sitectl serve` answers for each stack's bucket in moto through the real
    edge handler (its pointer cache on the test's clock), from one edge location (`x-amz-cf-pop`)."""
    answer = site_http_get(url)
    return HttpAnswer(answer.body, {**answer.headers, "x-amz-cf-pop": "FRA56-P1"})


@contextmanager
def distribution(world: World, clock: ManualClock, stack: str, router: str = "lambda-edge") -> Iterator[str]:
    settings = EdgeSettings(
        parameter_name=pointer(stack),
        region="us-east-1",
        cache_ttl_seconds=5,
        bucket=stack,
        bucket_region="us-east-1",
    )
    if router == "cloudfront-function":
        # The function router: the pointer reaching this edge 5 s of the test's clock after it was read
        # last (what rollback --now's figure measures), the canary record at once (sitectl's --verify
        # polls on the wall clock); a canary's viewers (and `Cookie: site-bucket=canary`) get the canary.
        seen: dict[str, tuple[float, str | None]] = {}

        def read(name: str, ttl: float = 5) -> str | None:
            if name not in seen or clock() - seen[name][0] >= ttl:
                try:
                    value: str | None = str(world.ssm.get_parameter(Name=name)["Parameter"]["Value"])
                except world.ssm.exceptions.ParameterNotFound:
                    value = None
                seen[name] = (clock(), value)
            return seen[name][1]

        with preview_server_running(
            stack,
            settings,
            s3_client=world.s3,
            router=router,
            live_version=lambda: read(pointer(stack)),
            canary=lambda: layout.parse_canary_record(read(layout.canary_parameter_name(pointer(stack)), 0)),
        ) as server:
            yield server.url
        return
    handler = OriginRequestHandler(settings, PointerCache(settings, now=clock))
    with preview_server_running(stack, settings, s3_client=world.s3, edge_function=handler) as server:
        yield server.url


class CompletingCloudFront(FakeCloudFront):
    """GetInvalidation too: InProgress for 30 s of the test's clock after its creation, then Completed."""

    def __init__(self, clock: ManualClock, ssm: Any) -> None:
        super().__init__(clock, ssm)
        self.created: dict[str, float] = {}

    def create_invalidation(self, DistributionId: str, InvalidationBatch: dict[str, Any]) -> dict[str, Any]:
        response = super().create_invalidation(
            DistributionId=DistributionId, InvalidationBatch=InvalidationBatch
        )
        self.created[response["Invalidation"]["Id"]] = self.clock()
        return response

    def get_invalidation(self, DistributionId: str, Id: str) -> dict[str, Any]:
        done = self.clock() - self.created[Id] >= 30
        return {"Invalidation": {"Id": Id, "Status": "Completed" if done else "InProgress"}}


def make_run(
    world: World,
    tmp_path: Path,
    throwaway: FakeThrowaway,
    deps: SiteDeps,
    http_get: Callable[[str], HttpAnswer],
    **options: Any,
) -> e2e.Run:
    return e2e.Run(
        run_id=RUN_ID,
        throwaway=throwaway,
        sitectl=e2e.sitectl_in_process(deps),
        ledger=e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID),
        examples=options.pop("examples", ROOT / "examples"),
        region="eu-west-1",
        clock=throwaway.clock,
        sleep=throwaway.clock.sleep,
        http_get=http_get,
        say=lambda line: None,
        stack_of=lambda name: world.stacks[name],
        ssm=world.ssm,
        s3=world.s3,
        engine=throwaway.engine,
        **options,
    )


def _run(
    world: World,
    tmp_path: Path,
    router: str,
    kvs: Any = None,
    adjust: Callable[[FakeThrowaway], None] = lambda throwaway: None,
) -> tuple[e2e.Report, FakeThrowaway]:
    clock = ManualClock(start=time.time())
    first, second = e2e.stack_name(RUN_ID, router), e2e.promoted_stack_name(RUN_ID, router)
    for bucket in (first, second):  # `sitectl serve` starts with its bucket there; the deploy tags it
        world.s3.create_bucket(Bucket=bucket)
    with distribution(world, clock, first, router) as one, distribution(world, clock, second, router) as two:
        # As the command wires it: sitectl's GETs and its direct writes of the live version timed.
        log = e2e.EdgeLog(clock)
        cloudfront = CompletingCloudFront(clock, world.ssm)
        deps = SiteDeps(
            stack_factory=lambda name, _dir: world.stacks[name],
            stack_lister=lambda _dir: list(world.stacks),
            s3_factory=lambda: world.s3,
            ssm_factory=lambda region: world.ssm,
            http_get=log.get(edge),
            cloudfront_factory=lambda: log.client(cloudfront),
            kvs_factory=lambda: log.client(kvs),
            clock=clock,
            sleep=clock.sleep,
        )
        throwaway = FakeThrowaway(world, ARN, clock, urls={first: one, second: two})
        adjust(throwaway)
        run = make_run(
            world, tmp_path, throwaway, deps, deps.http_get, routers=[router], edge=log, cloudfront=cloudfront
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
    "emergency guard refuses v2",
    "release guard refuses v3",
    "create second stack",
    "deploy second stack",
    "promote v2 --release",
    "canary v1 at 5% --verify",
]


def _results(report: e2e.Report) -> list[tuple[str, bool]]:
    return [(s.step, s.ok) for s in report.steps if not s.skipped]


def test_a_whole_run_on_lambda_edge_goes_through_sitectl_and_leaves_nothing(
    world: World, tmp_path: Path
) -> None:
    report, throwaway = _run(world, tmp_path, "lambda-edge")
    assert _results(report) == [(step, True) for step in STEPS], "\n".join(report.lines())
    stack, promoted = f"e2e-{RUN_ID}-edge", f"e2e-{RUN_ID}-edge-promoted"
    assert throwaway.calls == [
        *(f"create {stack}", f"up {stack}", f"create {promoted}", f"up {promoted}"),
        *(f"destroy {stack}", f"remove {stack}", f"destroy {promoted}", f"remove {promoted}"),
    ]
    for name in (stack, promoted):
        config = throwaway.configs[name]
        assert json.loads(config["aws:defaultTags"]) == {"tags": {e2e.RUN_TAG: RUN_ID}}
        assert config["versioned-site:forceDestroyBucket"] == "true"
    assert report.ok and report.left == []
    # Each switch watched at the edge: the version and the location that answered.
    assert [(s["version"], s["seen"], s["pops"]) for s in report.switches] == [
        (V1, True, ["FRA56-P1"]),
        (V2, True, ["FRA56-P1"]),
        (V2, True, ["FRA56-P1"]),
        (V1, True, ["FRA56-P1"]),
        (V2, True, ["FRA56-P1"]),
    ]
    # rollback --now's invalidation: from CreateInvalidation to the first answer with V1 at each edge
    # location (the test edge's 5 s pointer cache, asked every 2 s), and to its Completed status (30 s
    # here, as rollback --now's own timeline saw it, asking every 2 s); separate from the KeyValueStore's
    # figure (function router).
    assert report.propagation == [
        {
            "router": "lambda-edge",
            "kind": "invalidation",
            "version": V1,
            "pops": {"FRA56-P1": 6.0},
            "completed_seconds": 30.0,
        }
    ]
    assert (
        "invalidation (lambda-edge, 20261206T171500Z): served after FRA56-P1 6.0 s; Completed after 30.0 s"
        in report.lines()
    )
    assert live(world, stack) == V1
    # The promote copied V2's bytes into the second stack's bucket and released it there.
    assert live(world, promoted) == V2
    copied = world.s3.get_object(Bucket=promoted, Key=f"{V2}/index.html")["Body"].read()
    assert copied == (ROOT / "examples" / "site-v2" / "index.html").read_bytes()
    # The emergency record sitectl wrote beside the pointer (outside Pulumi's state) is gone too.
    with pytest.raises(world.ssm.exceptions.ParameterNotFound):
        world.ssm.get_parameter(Name=emergency.record_name(pointer(stack)))
    ledger = json.loads((tmp_path / f"{RUN_ID}.json").read_text())
    assert ledger == {"run_id": RUN_ID, "stacks": [], "parameters": [], "left": []}
    # The engine's own messages, step by step: the program's log lines, the guards' refusals, and
    # what each update touched (its summary).
    said = {s.step: [(m["severity"], m["line"]) for m in s.engine] for s in report.steps}
    assert said["release v1"] == [("info", f"release none -> {V1}")]
    assert said["rollback (pulumi up)"] == [("warning", f"roll back {V2} -> {V1}")]
    # rollback --now's catch-up `up`: the record is in force, the pointer already holds V1.
    assert said["rollback --now"][-1] == ("info", f"live version unchanged: {V1}")
    assert (
        said["rollback --now"][0][0] == "warning"
        and "emergency rollback in force" in said["rollback --now"][0][1]
    )
    refusal = next(s for s in report.steps if s.step == "emergency guard refuses v2")
    assert refusal.detail.startswith("refused by the engine: RolledBackVersionError: ")
    assert f"would put {V2} back live" in refusal.detail
    assert ("error", refusal.detail.removeprefix("refused by the engine: ")) in said[
        "emergency guard refuses v2"
    ]
    guard = next(s for s in report.steps if s.step == "release guard refuses v3")
    assert guard.detail == (
        f"refused by the engine: UnreleasableVersionError: version {V3} has no complete upload in bucket "
        f"{stack} (no {layout.manifest_key(V3)}); latest complete versions: {V2}, {V1}. Upload it first, "
        "or set versioned-site:version to one of them."
    )
    # The targeted updates' summaries: what each touched.
    release = next(s for s in report.steps if s.step == "release v1")
    assert release.updates == [{"seconds": 14, "changes": {"same": 23, "update": 2}}]
    assert next(s for s in report.steps if s.step == "deploy (pulumi up)").updates[0]["changes"] == {
        "create": 31
    }
    lines = report.lines()
    assert " " * 23 + f"engine warning: roll back {V2} -> {V1}" in lines
    assert " " * 23 + "engine: update of 14 s: same 23, update 2" in lines
    # The config the refused `up` ran with is put back.
    assert throwaway.removed[f"e2e-{RUN_ID}-edge"].version == V1
    # No canary on this router: sitectl refuses it (exit 2, nothing changed), and it is not completed.
    refused, completed = report.steps[-2:]
    assert refused.detail.startswith(
        f"refused: a canary needs router cloudfront-function, but stack '{promoted}' uses lambda-edge"
    )
    assert (completed.step, completed.skipped, completed.ok) == ("canary --complete", True, False)
    assert completed.detail == "no canary on lambda-edge" and report.ok


def test_a_guard_step_needs_the_refusal_and_the_engine_s_word_for_it(world: World, tmp_path: Path) -> None:
    throwaway = FakeThrowaway(world)
    run = make_run(world, tmp_path, throwaway, world.deps(), edge)
    refusal = emergency.RolledBackVersionError(f"this deployment would put {V2} back live")

    def refused(said: bool) -> Callable[[], object]:
        def attempt() -> object:
            if said:
                throwaway.engine.on_event(diagnostic("error", unhandled(refusal)))
            raise RuntimeError("sitectl release: pulumi up failed: code 255")

        return attempt

    line = run._refused(refused(True), "RolledBackVersionError", "a release of V2")
    assert line == f"refused by the engine: RolledBackVersionError: this deployment would put {V2} back live"
    throwaway.engine.take()  # as each step begins
    with pytest.raises(RuntimeError, match="was refused, but the engine's events carried no RolledBack"):
        run._refused(refused(False), "RolledBackVersionError", "a release of V2")
    with pytest.raises(RuntimeError, match="was not refused: the guard did not run"):
        run._refused(lambda: None, "RolledBackVersionError", "a release of V2")


def test_recorded_engine_events_are_read_as_the_engine_sends_them() -> None:
    log = EngineLog()
    for line in EVENTS.read_text().splitlines():
        log.on_event(EngineEvent.from_json(json.loads(line)))
    messages, updates = log.take()
    assert [(m.severity, m.line, m.resource) for m in messages] == [
        ("info", f"release none -> {V1}", ""),
        ("warning", f"roll back {V2} -> {V1}", ""),
        ("warning", f"emergency rollback in force: {V2} rolled back to {V1}", "site"),
        (
            "error",
            f"RolledBackVersionError: emergency rollback: {V2} rolled back to {V1} by e2e, and this "
            f"deployment would put {V2} back live",
            "",
        ),
        ("error", "Exception: failed to register resource site-pointer", ""),
    ]
    # The guard's refusal is found where the traceback names it, not only on its last line.
    assert messages[4].names("UnreleasableVersionError") == (
        f"UnreleasableVersionError: version {V3} has no complete upload in bucket site-bucket-e2e "
        f"(no {V3}/_manifest.json)"
    )
    assert messages[3].names("UnreleasableVersionError") is None and messages[0].names("x") is None
    assert "<{%" not in messages[0].text and messages[0].text == f"release none -> {V1}"
    assert updates == [{"seconds": 14, "changes": {"same": 23, "update": 2}}]
    assert log.take() == ([], [])


def test_sitectl_s_stack_sends_the_engine_s_events_when_asked() -> None:
    class AutomationStack:
        name = "e2e"

        def __init__(self) -> None:
            self.kwargs: list[dict[str, Any]] = []

        def up(self, **kwargs: Any) -> Any:
            self.kwargs.append(kwargs)
            kwargs.get("on_event", lambda event: None)(diagnostic("info", "release a -> b"))
            return type("Up", (), {"summary": type("S", (), {"result": "succeeded"})()})()

    log, plain, observed = EngineLog(), AutomationStack(), AutomationStack()
    PulumiStack(plain, "versioned-site").up(["urn"], "m", print)
    PulumiStack(observed, "versioned-site", on_event=log.on_event).up(["urn"], "m", print)
    assert "on_event" not in plain.kwargs[0] and observed.kwargs[0]["on_event"] == log.on_event
    assert [m.line for m in log.take()[0]] == ["release a -> b"]


def test_a_run_on_the_function_router_writes_the_store_directly(world: World, tmp_path: Path) -> None:
    with running_store() as (store, endpoint):
        report, _ = _run(world, tmp_path, "cloudfront-function", kvs_client_for(endpoint))
    assert _results(report) == [(step, True) for step in [*STEPS, "canary --complete"]], "\n".join(
        report.lines()
    )
    assert store.items["live-version"].startswith(f"{V1} ")
    # From rollback --now's PutKey to the first answer with V1: the edge's pointer cache (5 s), asked
    # every 2 s by sitectl. No invalidation on this router.
    assert report.propagation == [
        {
            "router": "cloudfront-function",
            "kind": "KeyValueStore propagation",
            "version": V1,
            "pops": {"FRA56-P1": 6.0},
        }
    ]
    now = next(s for s in report.steps if s.step == "rollback --now")
    assert now.detail.endswith("; KeyValueStore propagation: FRA56-P1 6.0 s")
    # The canary on the second stack: V1 copied there, served to 5% and verified with the canary's
    # cookie, then completed: V1 live for every viewer, no canary left.
    promoted = e2e.promoted_stack_name(RUN_ID, "cloudfront-function")
    started, completed = report.steps[-2:]
    assert started.detail.startswith(f"{V1} to 5% of the viewers of {promoted} ({V2} live), verified as")
    assert completed.detail.startswith(f"{V1} live on {promoted} for every viewer; served after")
    assert live(world, promoted) == V1
    record = world.ssm.get_parameter(Name=layout.canary_parameter_name(pointer(promoted)))
    assert record["Parameter"]["Value"] == "none"


def test_a_failed_step_stops_the_plan_and_still_cleans_up(world: World, tmp_path: Path) -> None:
    # Nothing to upload: the examples folder is missing.
    throwaway = FakeThrowaway(world)
    run = make_run(
        world,
        tmp_path,
        throwaway,
        world.deps(),
        edge,
        examples=tmp_path / "missing",
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
    left = e2e.cleanup(throwaway, ledger, lambda line: None, world.ssm)
    assert left == [f"{stack}: " + e2e.LAMBDA_EDGE_NOTE.format(run_id=RUN_ID)]
    assert e2e.Ledger.load(tmp_path, RUN_ID).stacks == [stack]
    # Hours later, the same command finishes it.
    del throwaway.fail[stack]
    assert e2e.cleanup(throwaway, e2e.Ledger.load(tmp_path, RUN_ID), lambda line: None, world.ssm) == []
    assert e2e.Ledger.load(tmp_path, RUN_ID).stacks == []


def test_it_never_touches_a_stack_or_parameter_it_did_not_create(world: World, tmp_path: Path) -> None:
    ledger = e2e.Ledger(tmp_path / f"{RUN_ID}.json", RUN_ID)
    with pytest.raises(RefusedError, match="is not one of run"):
        ledger.add("prod")
    with pytest.raises(RefusedError, match="belongs to no stack of run"):
        ledger.add_parameter(emergency.record_name(PARAMETER))
    ledger.add_parameter(f"/versioned-site/e2e-{RUN_ID}-edge/live-version-emergency-rollback")
    # A stack of that name already there (an earlier run with the same id): refused, not adopted.
    world.stacks[f"e2e-{RUN_ID}-edge"] = FakeStack(name=f"e2e-{RUN_ID}-edge")
    report, throwaway = _run(world, tmp_path, "lambda-edge")
    assert [(s.step, s.ok) for s in report.steps] == [("create stack", False)]
    assert "exists already" in report.steps[0].detail and "destroy" not in " ".join(throwaway.calls)
    # A hand-edited ledger naming another stack and another stack's parameter: clean-up leaves them.
    world.set_live(V1)
    emergency.write_record(world.ssm, PARAMETER, emergency.EmergencyRecord((V2,), V1, "x", "y", "z"))
    foreign = {
        "run_id": "x",
        "stacks": ["prod"],
        "parameters": [emergency.record_name(PARAMETER)],
        "left": [],
    }
    (tmp_path / "x.json").write_text(json.dumps(foreign))
    left = e2e.cleanup(throwaway, e2e.Ledger.load(tmp_path, "x"), lambda line: None, world.ssm)
    assert left == [
        "prod: not a stack of run x, not touched",
        f"{emergency.record_name(PARAMETER)}: not a parameter of run x, not touched",
    ]
    assert throwaway.calls == [] and emergency.read_record(world.ssm, PARAMETER) is not None


def test_it_writes_only_to_buckets_tagged_with_its_run_id(world: World) -> None:
    e2e_bucket, other_run = f"e2e-{RUN_ID}-edge", "e2e-20261206100000-cd34-edge"
    for bucket, tags in (
        (e2e_bucket, {e2e.RUN_TAG: RUN_ID}),
        (other_run, {e2e.RUN_TAG: "20261206100000-cd34"}),
    ):
        world.s3.create_bucket(Bucket=bucket)
        tag_bucket(world, bucket, tags)
    e2e.check_bucket_is_ours(world.s3, e2e_bucket, RUN_ID)
    for bucket in (other_run, BUCKET):  # another run's; one with no tags at all
        with pytest.raises(RefusedError, match=f"does not carry the tag {e2e.RUN_TAG}={RUN_ID}"):
            e2e.check_bucket_is_ours(world.s3, bucket, RUN_ID)


def test_the_time_cap_stops_the_run_and_cleans_up(world: World, tmp_path: Path) -> None:
    clock = ManualClock()

    class SlowThrowaway(FakeThrowaway):
        def up(self, stack: str) -> str:
            clock.advance(31 * 60)
            return super().up(stack)

    throwaway = SlowThrowaway(world, clock=clock)
    run = make_run(world, tmp_path, throwaway, world.deps(), edge, max_minutes=30, routers=["lambda-edge"])
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


def test_cleanup_by_the_same_command_reads_the_ledger_and_says_what_is_left(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.commands import e2e as command

    (tmp_path / "Pulumi.yaml").write_text("name: versioned-site\nruntime: python\n")
    throwaway = FakeThrowaway(world)
    stack = f"e2e-{RUN_ID}-edge"
    throwaway.create(stack, {"versioned-site:router": "lambda-edge"})
    record = emergency.record_name(pointer(stack))
    world.ssm.put_parameter(Name=record, Value="{}", Type="String")
    ledger = e2e.Ledger(tmp_path / ".e2e" / f"{RUN_ID}.json", RUN_ID, [stack], parameters=[record])
    ledger.save()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "e2e")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file://" + str(tmp_path / ".e2e" / "backend"))
    monkeypatch.setattr(e2e, "pulumi_on_path", lambda name: "/usr/bin/pulumi")
    monkeypatch.setattr(command, "_has_credentials", lambda: True)
    monkeypatch.setattr(command, "PulumiThrowaway", lambda *args: throwaway)
    monkeypatch.setattr(command, "default_ssm_client", lambda region: world.ssm)
    # An interrupted run's id it does not know: refused, naming the ledgers there.
    unknown = CliRunner().invoke(cli, ["e2e", "--cleanup", "20261206000000-0000"])
    assert unknown.exit_code == 2 and f"ledgers here: {RUN_ID}" in unknown.output
    throwaway.fail[stack] = RuntimeError("Lambda was unable to delete it because it is a replicated function")
    first = CliRunner().invoke(cli, ["e2e", "--cleanup", RUN_ID, "--json"])
    assert first.exit_code == 1
    assert json.loads(first.stdout)["left"] == [f"{stack}: " + e2e.LAMBDA_EDGE_NOTE.format(run_id=RUN_ID)]
    with pytest.raises(world.ssm.exceptions.ParameterNotFound):
        world.ssm.get_parameter(Name=record)
    del throwaway.fail[stack]
    later = CliRunner().invoke(cli, ["e2e", "--cleanup", RUN_ID])
    assert later.exit_code == 0 and later.stdout.splitlines() == ["clean"]
    assert e2e.Ledger.load(tmp_path / ".e2e", RUN_ID).stacks == [] and stack not in world.stacks


def test_the_plan_needs_nothing_and_states_the_cap_the_cost_and_the_canary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(e2e, "pulumi_on_path", lambda name: None)  # no CLI, no credentials: still shown
    result = CliRunner().invoke(cli, ["e2e", "--plan", "--max-minutes", "60"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "routers lambda-edge, cloudfront-function in us-east-1; stops at 60 minutes" in lines[0]
    assert lines[2:4] == ["   1. create stack", "   2. deploy (pulumi up)"]
    # The canary on each router: refused on Lambda@Edge (no version in its cache key), run on the function.
    edge, function = lines[1:19], lines[19:37]
    assert edge[-2:] == [
        "  16. canary v1 at 5% --verify (must be refused (exit 2, nothing changed))",
        "  17. canary --complete (skipped: no canary on lambda-edge)",
    ]
    assert function[-2:] == ["  16. canary v1 at 5% --verify", "  17. canary --complete"]
    assert [line.split(". ", 1)[1] for line in function[1:]] == list(e2e.PLAN)
