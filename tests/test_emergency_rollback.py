"""`sitectl rollback --now` / `release --now`: the direct writes (moto's SSM and S3, the KeyValueStore
fake with the real boto3 client), the timeline, the record, and the record's refusal in the program."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from edge_function.code import (
    LIVE_VERSION_KEY,
    Canary,
    manifest_rule_keys,
    manifest_store_value,
    parse_canary,
    rule_key_counts,
    store_value,
)
from edge_lambda import layout
from edge_lambda.routes import VersionRoutes
from edge_lambda.site_rules import parse_rule_files
from scripts.commands.site import HttpAnswer, SiteDeps
from scripts.offline.kvs_fake import ARN, FakeStore, client_for, running_store
from scripts.offline.mockrun import ProgramError
from scripts.versionstore import emergency
from scripts.versionstore import store as storage
from tests.clock import ManualClock
from tests.pulumi_scaffold import SiteMocks, run_program
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    POINTER_URN,
    SWITCH_URN,
    URL,
    V1,
    V2,
    V3,
    V4,
    World,
    put_version,
    world,
)

__all__ = ["world"]

RECORD = emergency.record_name(PARAMETER)
PAGE = {"index.html": b"<h1>hi</h1>"}


class FakeCloudFront:
    """Records each invalidation with the seconds since the pointer's last write, by the injected clock."""

    def __init__(self, clock: ManualClock, ssm: Any) -> None:
        self.clock = clock
        self.ssm = ssm
        self.invalidations: list[tuple[str, list[str], float]] = []
        self.denied = False  # answer AccessDenied, as CloudFront does for a role without the action
        self.complete_after = 0.0
        self.created_at: list[float] = []

    def create_invalidation(self, DistributionId: str, InvalidationBatch: dict[str, Any]) -> dict[str, Any]:
        if self.denied:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "CreateInvalidation"
            )
        modified = self.ssm.get_parameter(Name=PARAMETER)["Parameter"]["LastModifiedDate"].timestamp()
        after = self.clock() - modified
        self.invalidations.append((DistributionId, InvalidationBatch["Paths"]["Items"], after))
        self.created_at.append(self.clock())
        return {"Invalidation": {"Id": f"I{len(self.invalidations)}"}}

    def get_invalidation(self, DistributionId: str, Id: str) -> dict[str, Any]:
        # Completed once `complete_after` seconds of the clock passed since its creation; on AWS this is
        # for `make e2e` to measure.
        created = self.created_at[int(Id.removeprefix("I")) - 1]
        done = self.clock() - created >= self.complete_after
        return {"Invalidation": {"Id": Id, "Status": "Completed" if done else "InProgress"}}

    def list_invalidations(self, DistributionId: str) -> dict[str, Any]:
        # Done at once: how long CloudFront takes is for `make e2e` on a real account to measure.
        items = [{"Id": f"I{n}", "Status": "Completed"} for n in range(len(self.invalidations), 0, -1)]
        return {"InvalidationList": {"Items": items}}


class Emergency:
    """The world of a stack with V1 and V2 complete, V2 live and configured, V1 the one to go back to."""

    def __init__(self, world: World, router: str = "lambda-edge", kvs: Any = None) -> None:
        self.world = world
        for version in (V1, V2, V3):
            put_version(world, version, PAGE)
        world.set_live(V2)
        world.stack.record(V1)
        world.stack.record(V2)
        world.stack.version = V2
        world.stack.deployed = V2
        world.stack.extra_outputs = {
            "router": router,
            "distributionId": "E2EXAMPLE",
            "edgeCacheTtlSeconds": 5,
            "pointerStoreArn": ARN if router == "cloudfront-function" else "",
            "spaFallback": False,
        }
        self.clock = ManualClock(start=time.time())
        self.cloudfront = FakeCloudFront(self.clock, world.ssm)
        self.kvs = kvs
        # The URL serves the version the pointer holds (as it will once the switch is done).
        self.served: list[str] = []

    def deps(self) -> SiteDeps:
        deps = self.world.deps()

        def http_get(url: str) -> HttpAnswer:
            self.served.append(url)
            return HttpAnswer(b"<h1>hi</h1>", {layout.VERSION_HEADER: self.world.live()})

        deps.http_get = http_get
        deps.cloudfront_factory = lambda: self.cloudfront
        deps.kvs_factory = lambda: self.kvs
        deps.clock = self.clock
        deps.sleep = self.clock.sleep
        return deps

    def invoke(self, *args: str) -> Any:
        from click.testing import CliRunner

        from scripts.sitectl import cli

        return CliRunner().invoke(cli, ["--stack", "test", *args], obj=self.deps())

    def record(self) -> emergency.EmergencyRecord | None:
        return emergency.read_record(self.world.ssm, PARAMETER)


def test_rollback_now_on_lambda_edge_writes_the_pointer_waits_the_ttl_invalidates_and_catches_up(
    world: World,
) -> None:
    site = Emergency(world)
    result = site.invoke(
        "rollback", "--now", "--version", V1, "--reason", "checkout broken", "--yes", "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert world.live() == V1
    record = site.record()
    assert record is not None
    assert (record.rolled_back, record.live, record.reason) == ((V2,), V1, "checkout broken")
    # The timeline, in order; the invalidation only once the edge TTL (5 s + 1 s margin) has passed
    # since the pointer's LastModifiedDate.
    assert [step["step"] for step in document["timeline"]] == [
        "record",
        "pointer",
        "edge-ttl",
        "invalidation",
        "invalidation-done",
        "first-answer",
        "config",
    ]
    ((distribution, paths, since_pointer),) = site.cloudfront.invalidations
    assert (distribution, paths) == ("E2EXAMPLE", ["/*"])
    assert len(site.clock.sleeps) == 1 and 6.0 <= since_pointer < 6.01
    assert document["first_answer_seen"] is True and document["invalidation_id"] == "I1"
    assert document["invalidation"] == "I1"  # under the name `release --json` uses
    assert (document["from"], document["version"], document["router"]) == (V2, V1, "lambda-edge")
    # The config caught up through the ordinary targeted release.
    assert world.stack.version == V1
    assert [c for c in world.stack.mutations if c.startswith(("set_version", "up"))][-2:] == [
        f"set_version {V1}",
        f"up {POINTER_URN},{SWITCH_URN}",
    ]
    # The version made live holds a release lock: no prune deletes it.
    lock = storage.read_lock(world.s3, BUCKET, V1)
    assert lock is not None and lock.kind == storage.RELEASE


def test_the_timeline_waits_for_the_invalidation_to_complete_after_the_first_answer(world: World) -> None:
    site = Emergency(world)
    site.cloudfront.complete_after = 7.0  # CloudFront still InProgress for three polls
    result = site.invoke("rollback", "--now", "--yes", "--json")
    assert result.exit_code == 0, result.output
    steps = {step["step"]: step["seconds"] for step in json.loads(result.stdout)["timeline"]}
    assert list(steps) == [
        "record",
        "pointer",
        "edge-ttl",
        "invalidation",
        "first-answer",
        "invalidation-done",
        "config",
    ]
    assert steps["first-answer"] == steps["invalidation"]  # the edge already answers with V1
    assert steps["invalidation-done"] - steps["invalidation"] == pytest.approx(8.0)  # four 2 s polls
    assert site.clock.sleeps[1:] == [2.0] * 4


def test_an_unread_invalidation_status_is_said_and_not_an_error(world: World) -> None:
    site = Emergency(world)

    def refuse(DistributionId: str, Id: str) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetInvalidation")

    site.cloudfront.get_invalidation = refuse  # type: ignore[method-assign]
    result = site.invoke("rollback", "--now", "--yes")
    assert result.exit_code == 0, result.output
    assert "invalidation I1: status not read (AccessDenied; the role lacks cloudfront:GetInvalidation?)" in (
        result.stderr
    )
    assert world.live() == V1


def test_the_timeline_is_printed_for_people_on_stderr(world: World) -> None:
    site = Emergency(world)
    result = site.invoke("rollback", "--now", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(line.strip().endswith(f"pointer {PARAMETER}: {V2} -> {V1}") for line in lines), lines
    assert any("edge TTL passed (5 s; waited" in line for line in lines), lines
    assert any(line.strip().endswith(f"{URL} serves {V1}") for line in lines), lines
    assert result.stdout.strip() == V1


def test_rollback_now_on_the_function_router_writes_the_store_key_with_its_etag(world: World) -> None:
    with running_store(FakeStore(items={LIVE_VERSION_KEY: V2})) as (store, endpoint):
        etag_before = store.etag
        site = Emergency(world, "cloudfront-function", kvs=client_for(endpoint))
        result = site.invoke("rollback", "--now", "--version", V1, "--yes", "--json")
    assert result.exit_code == 0, result.output
    # The value a deployment writes: the version and its routes (edge_function/code.py).
    expected = store_value(V1, VersionRoutes.from_paths(PAGE, False))
    assert expected.startswith(f"{V1} ") and store.items[LIVE_VERSION_KEY] == expected
    assert store.puts == [(LIVE_VERSION_KEY, expected, etag_before)]
    # The real client signed with SigV4A, as CloudFront requires for this API.
    assert set(store.signatures) == {"AWS4-ECDSA-P256-SHA256"}
    document = json.loads(result.stdout)
    assert [s["step"] for s in document["timeline"]] == [
        "record",
        "pointer",
        "store",
        "first-answer",
        "config",
    ]
    assert site.cloudfront.invalidations == [] and site.clock.sleeps == []


def test_rollback_now_writes_the_versions_rule_keys_before_anything_moves(world: World) -> None:
    with running_store(FakeStore(items={LIVE_VERSION_KEY: V2})) as (store, endpoint):
        site = Emergency(world, "cloudfront-function", kvs=client_for(endpoint))
        manifest = storage.read_manifest(world.s3, BUCKET, V1)
        assert manifest is not None
        with_rules = dataclasses.replace(manifest, rules=parse_rule_files("/old /new 301\n", None))
        world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=with_rules.to_json().encode())
        result = site.invoke("rollback", "--now", "--version", V1, "--yes", "--json")
    assert result.exit_code == 0, result.output
    keys = manifest_rule_keys(V1, with_rules)
    assert [put[0] for put in store.puts] == [*keys, LIVE_VERSION_KEY]  # the keys first
    assert store.items[LIVE_VERSION_KEY] == manifest_store_value(V1, with_rules, False)
    assert rule_key_counts(store.items[LIVE_VERSION_KEY]) == (1, 0)
    steps = [s["step"] for s in json.loads(result.stdout)["timeline"]]
    assert steps == ["rules", "record", "pointer", "store", "first-answer", "config"]


def test_rollback_now_during_a_canary_ends_it(world: World) -> None:
    canary = layout.canary_parameter_name(PARAMETER)
    world.ssm.put_parameter(Name=canary, Value=f"{V3} 5", Type="String", Overwrite=True)
    world.stack.config = {"versioned-site:canaryVersion": V3, "versioned-site:canaryPercent": "5"}
    running = store_value(V2, VersionRoutes.from_paths(PAGE, False), Canary(V3, 5, None))
    with running_store(FakeStore(items={LIVE_VERSION_KEY: running})) as (store, endpoint):
        site = Emergency(world, "cloudfront-function", kvs=client_for(endpoint))
        result = site.invoke("rollback", "--now", "--version", V1, "--yes", "--json")
    assert result.exit_code == 0, result.output
    # The one write that moves every viewer: no canary left in the value, none in its record.
    assert store.items[LIVE_VERSION_KEY] == store_value(V1, VersionRoutes.from_paths(PAGE, False))
    assert parse_canary(store.items[LIVE_VERSION_KEY]) is None
    assert world.ssm.get_parameter(Name=canary)["Parameter"]["Value"] == "none"
    steps = [s["step"] for s in json.loads(result.stdout)["timeline"]]
    assert steps == ["record", "pointer", "store", "canary", "first-answer", "config"]
    assert (
        f"canary {V3} (5%) ended: every viewer on {V1}; a deployment of a config that still names it is "
        "refused (`sitectl canary --abort --config-only` removes it)"
    ) in result.stderr
    # The record says which canary ended (the program refuses a stale config that names it), and the
    # catch-up dropped it from the stack config with the version, in its one targeted `up`.
    record = emergency.read_record(world.ssm, PARAMETER)
    assert record is not None and record.ended_canary == V3
    assert world.stack.config == {} and world.stack.version == V1
    assert [c.split()[0] for c in world.stack.mutations] == ["set_version", "set_config", "set_config", "up"]


def test_a_store_written_by_someone_else_meanwhile_is_not_overwritten(world: World) -> None:
    with running_store(FakeStore(items={LIVE_VERSION_KEY: V2})) as (store, endpoint):
        kvs = client_for(endpoint)
        # Another writer between this command's DescribeKeyValueStore and its PutKey.
        kvs.meta.events.register(
            "before-call.cloudfront-keyvaluestore.PutKey", lambda **_: store.put(LIVE_VERSION_KEY, V3)
        )
        site = Emergency(world, "cloudfront-function", kvs=kvs)
        result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1
    assert (
        "the KeyValueStore changed while" in result.stderr and "run the same command again" in result.stderr
    )
    assert store.items[LIVE_VERSION_KEY] == V3 and store.puts == []
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        result.stderr.strip().splitlines()[-1]
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", V2], f"{V2} is already live"),
        (
            ["--version", "20261231T000000Z"],
            f"does not exist in {BUCKET}: only complete versions can be rolled back to",
        ),
        (["--version", V1, "--dry-run"], "--now and --dry-run exclude each other"),
        (["--version", V1, "--verify"], "--now and --verify exclude each other"),
    ],
)
def test_refusals_write_nothing(world: World, args: list[str], message: str) -> None:
    site = Emergency(world)
    result = site.invoke("rollback", "--now", "--yes", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert world.live() == V2 and site.record() is None and site.cloudfront.invalidations == []


def test_an_incomplete_version_is_refused_in_the_rollbacks_own_words(world: World) -> None:
    put_version(world, V4, {"index.html": b"<p>4</p>"}, complete=False)
    site = Emergency(world)
    result = site.invoke("rollback", "--now", "--version", V4, "--yes")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: version {V4} is incomplete (no manifest) in {BUCKET}: only complete versions can be "
        "rolled back to\n"
    )
    assert world.live() == V2 and site.record() is None


def test_a_version_whose_spa_rule_the_release_guard_refuses_is_refused_before_any_write(world: World) -> None:
    """With spaFallback, the catch-up's `pulumi up` refuses a build's `/* /index.html 200` at preview:
    the emergency path refuses it first, not after viewers got it."""
    from dataclasses import replace

    from edge_lambda.site_rules import parse_rule_files

    site = Emergency(world)
    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    with_rule = replace(manifest, rules=parse_rule_files("/* /index.html 200\n", None))
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=with_rule.to_json().encode())
    world.stack.extra_outputs["spaFallback"] = True
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 2, result.output
    assert (
        "serves the root page for every path, which versioned-site:spaFallback does too: keep one (remove "
        "the line and upload again, or `pulumi config set versioned-site:spaFallback false`)"
    ) in result.stderr
    assert world.live() == V2 and site.record() is None and site.cloudfront.invalidations == []


def test_reason_without_now_is_refused(world: World) -> None:
    result = Emergency(world).invoke("rollback", "--version", V1, "--reason", "x", "--yes")
    assert result.exit_code == 2 and "--reason goes with --now" in result.stderr


def test_a_version_a_prune_is_deleting_is_refused(world: World) -> None:
    site = Emergency(world)
    now = storage.server_now(world.s3, BUCKET)
    assert isinstance(
        storage.claim_deletion(world.s3, BUCKET, V1, "sitectl prune on ci (pid 1)", now), storage.VersionLock
    )
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 2 and f"version {V1} is being deleted by sitectl prune" in result.stderr
    assert world.live() == V2 and site.record() is None


def test_the_function_router_needs_the_store_output(world: World) -> None:
    site = Emergency(world, "cloudfront-function")
    world.stack.extra_outputs["pointerStoreArn"] = ""
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 2 and "lacks the pointerStoreArn or spaFallback output" in result.stderr
    assert world.live() == V2


def _deny(world: World, operation: str, name: str | None = None) -> None:
    def refuse(params: dict[str, Any], **_: Any) -> None:
        if name is None or params.get("Name") == name:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, operation
            )

    world.ssm.meta.events.register(f"provide-client-params.ssm.{operation}", refuse)


def test_a_missing_permission_is_one_line_naming_the_actions_and_changes_nothing(world: World) -> None:
    site = Emergency(world)
    _deny(world, "PutParameter")
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert f"writing {RECORD} was refused (AccessDeniedException)" in line
    assert "the break-glass role lacks ssm:PutParameter (it needs " in line
    assert "cloudfront-keyvaluestore:PutKey" in line
    assert world.live() == V2 and site.record() is None


def _deny_s3(world: World, operation: str, key: str) -> None:
    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == key:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation)

    world.s3.meta.events.register(f"provide-client-params.s3.{operation}", refuse)


def _one_error_line(result: Any) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("denied", "action", "what"),
    [
        ("s3.PutObject", "s3:PutObject", "AWS PutObject"),
        (
            "kvs.DescribeKeyValueStore",
            "cloudfront-keyvaluestore:DescribeKeyValueStore",
            "writing the KeyValueStore",
        ),
        ("kvs.PutKey", "cloudfront-keyvaluestore:PutKey", "writing the KeyValueStore key live-version"),
    ],
)
def test_a_missing_permission_before_viewers_see_anything_names_it_and_changes_nothing(
    world: World, denied: str, action: str, what: str
) -> None:
    service, operation = denied.split(".")
    with running_store(FakeStore(items={LIVE_VERSION_KEY: V2})) as (store, endpoint):
        site = Emergency(world, "cloudfront-function", kvs=client_for(endpoint))
        if service == "kvs":
            store.denied.add(operation)
        else:
            _deny_s3(world, operation, layout.lock_key(V1))
        result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert line.startswith(f"Error: {what}") and "was refused (AccessDenied" in line
    assert f"the break-glass role lacks {action} (it needs ssm:GetParameter, " in line
    assert world.live() == V2 and site.record() is None and store.items[LIVE_VERSION_KEY] == V2
    if service == "kvs":
        assert line.endswith(f"; nothing changed: {V2} is still live")


def test_a_missing_invalidation_permission_names_it_once_the_pointer_moved(world: World) -> None:
    site = Emergency(world)
    site.cloudfront.denied = True
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert line.startswith("Error: invalidating distribution E2EXAMPLE was refused (AccessDenied): the ")
    assert "break-glass role lacks cloudfront:CreateInvalidation (it needs " in line
    # The edge reads the pointer: it switches within its TTL; the record keeps CI from undoing it.
    assert world.live() == V1 and site.record() is not None


def test_a_pointer_write_refused_puts_the_record_back(world: World) -> None:
    site = Emergency(world)
    _deny(world, "PutParameter", PARAMETER)
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1 and f"writing the pointer {PARAMETER}" in result.stderr
    assert world.live() == V2 and site.record() is None


def test_a_failed_catch_up_leaves_the_rollback_live_and_says_how_to_finish(world: World) -> None:
    site = Emergency(world)
    world.stack.fail_up = RuntimeError("engine: connection reset")
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1
    assert f"{V1} is live, but catching the stack config up failed" in result.stderr
    assert f"`sitectl release --version {V1} --yes`" in result.stderr
    assert world.live() == V1 and site.record() is not None


def test_config_only_edits_the_stack_config_and_runs_no_up(world: World) -> None:
    site = Emergency(world)
    result = site.invoke("rollback", "--now", "--version", V1, "--config-only", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert world.stack.version == V1
    assert not [c for c in world.stack.mutations if c.startswith("up")]
    assert json.loads(result.stdout)["timeline"][-1]["step"] == "config"
    assert f"versioned-site:version = {V1} in Pulumi.test.yaml: commit it" in result.stderr


def test_a_second_emergency_keeps_every_version_taken_down(world: World) -> None:
    site = Emergency(world)
    assert site.invoke("rollback", "--now", "--version", V1, "--yes").exit_code == 0
    assert site.invoke("release", "--now", "--version", V3, "--yes").exit_code == 0
    record = site.record()
    assert record is not None and (record.rolled_back, record.live) == ((V2, V1), V3)


def test_status_and_history_show_the_emergency(world: World) -> None:
    site = Emergency(world)
    assert site.invoke("rollback", "--now", "--version", V1, "--reason", "500s", "--yes").exit_code == 0
    status = json.loads(site.invoke("status", "--json").stdout)
    assert status["emergency"].startswith(f"{V2} rolled back to {V1} in an emergency by ")
    history = json.loads(site.invoke("history", "--json").stdout)
    assert history[0]["result"] == "emergency rollback: 500s" and history[0]["version"] == V1


# --- The record itself ------------------------------------------------------------------------------


def test_the_record_round_trips_and_a_malformed_one_names_the_fix() -> None:
    record = emergency.EmergencyRecord((V2,), V1, "alice", "2026-12-06T03:00:00+00:00", "500s")
    assert emergency.parse(RECORD, record.to_json()) == record
    for text in ("not json", "{}", json.dumps({"rolled_back": V2, "live": V1, "by": "a", "at": "t"})):
        with pytest.raises(
            emergency.UnreadableRecordError, match=f"aws ssm delete-parameter --name {RECORD}"
        ):
            emergency.parse(RECORD, text)


def test_a_further_move_keeps_the_versions_taken_down_except_the_one_made_live() -> None:
    first = emergency.EmergencyRecord((V2,), V1, "a", "t", "")
    assert first.after(V1, V3, "b", "t2", "r").rolled_back == (V2, V1)
    assert first.after(V1, V2, "b", "t2", "r").rolled_back == (V1,)


@pytest.mark.parametrize(
    ("configured", "allowed", "refused"),
    [(V2, None, True), (V2, V2, False), (V1, None, False), (V3, None, False), (None, None, False)],
)
def test_check_deployment(configured: str | None, allowed: str | None, refused: bool) -> None:
    record = emergency.EmergencyRecord((V2,), V1, "alice", "2026-12-06T03:00:00+00:00", "")
    if refused:
        with pytest.raises(emergency.RolledBackVersionError) as error:
            emergency.check_deployment(record, configured, allowed, "shop:version")
        assert str(error.value) == (
            f"{V2} rolled back to {V1} in an emergency by alice at 2026-12-06T03:00:00+00:00, and this "
            f"deployment would put {V2} back live: set the version to what is live (`pulumi config set "
            f"shop:version {V1}`), or release {V2} again on purpose (`pulumi config set "
            f"shop:releaseRolledBack {V2}`)"
        )
    else:
        emergency.check_deployment(record, configured, allowed, "shop:version")


# --- The program: refused before any resource, and when the record clears ---------------------------

POINTER = "/versioned-site/dev/live-version"
MOCK_BUCKET = "site-bucket-0a1b2c3"


@pytest.fixture
def account() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for version in (V1, V2, V3):
            manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {})
            s3.put_object(
                Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode()
            )
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=POINTER, Value=V1, Type="String")
        emergency.write_record(ssm, POINTER, emergency.EmergencyRecord((V2,), V1, "alice", "t", "500s"))
        yield ssm


class Registrations(SiteMocks):
    def __init__(self) -> None:
        super().__init__()
        self.types: list[str] = []

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        self.types.append(args.typ)
        return super().new_resource(args)


@pytest.mark.parametrize("preview", [False, True], ids=["up --skip-preview", "preview"])
def test_the_program_refuses_the_rolled_back_version_before_any_resource(account: Any, preview: bool) -> None:
    mocks = Registrations()
    with pytest.raises(ProgramError, match=f"would put {V2} back live"):
        run_program({"version": V2}, preview=preview, mocks=mocks)
    assert mocks.types == ["pulumi:providers:aws"]
    assert emergency.read_record(account, POINTER) is not None


def test_releasing_it_again_on_purpose_deploys_and_clears_the_record(account: Any) -> None:
    run_program({"version": V2, "releaseRolledBack": V2}, preview=False)
    assert emergency.read_record(account, POINTER) is None


def test_catching_the_config_up_keeps_the_record(account: Any) -> None:
    run_program({"version": V1}, preview=False)
    assert emergency.read_record(account, POINTER) is not None


def test_a_release_of_a_third_version_clears_the_record_but_its_preview_does_not(account: Any) -> None:
    run_program({"version": V3}, preview=True)
    assert emergency.read_record(account, POINTER) is not None
    run_program({"version": V3}, preview=False)
    assert emergency.read_record(account, POINTER) is None


def test_an_unreadable_record_stops_the_program(account: Any) -> None:
    account.put_parameter(
        Name=RECORD.replace(PARAMETER, POINTER), Value="garbage", Type="String", Overwrite=True
    )
    with pytest.raises(ProgramError, match="is not one sitectl wrote"):
        run_program({"version": V3}, preview=True)
