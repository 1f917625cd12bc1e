"""`sitectl canary`: start, complete and abort a canary through the stack config, as `release` does
(the same change: keys set together, a targeted `up`, the config put back after a failed one), every
refusal before anything changed, and `--config-only` editing the stack file alone."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws
from pulumi.automation import ConfigValue

from edge_lambda import layout
from scripts.commands.canary import abort_canary, complete_canary, start_canary
from scripts.commands.errors import RefusedError
from scripts.commands.project import remove_config_text
from scripts.commands.stack import PulumiStack
from scripts.sitectl import cli
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    POINTER_URN,
    SWITCH_URN,
    V1,
    V2,
    V3,
    FakeStack,
    World,
    put_version,
)
from tests.sitectl_scaffold import world as plain_world
from tests.test_sitectl_stack import RecordingStack

PAGE = {"index.html": b"<html>v</html>"}
CANARY_RECORD = "/versioned-site/test/canary"
VERSION_KEY = "versioned-site:canaryVersion"
PERCENT_KEY = "versioned-site:canaryPercent"
ROUTER_KEY = "versioned-site:router"

__all__ = ["plain_world"]


@dataclass
class CanaryStack(FakeStack):
    """A fake stack whose `up` also writes what the program writes for a canary, from the config: the
    record beside the pointer (`<version> <percent>` or `none`), after the pointer."""

    write_canary: Callable[[str], None] | None = None

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        result = super().up(targets, message, on_output)
        if result == "succeeded" and self.write_canary is not None:
            canary = self.config.get(VERSION_KEY)
            self.write_canary(layout.canary_record(canary, int(self.config.get(PERCENT_KEY) or 0)))
        return result


@pytest.fixture
def world(plain_world: World) -> Iterator[World]:
    """V1 live on the cloudfront-function router, V2 and V3 complete, no canary yet."""
    stack = CanaryStack(
        extra_outputs={"router": "cloudfront-function"}, config={ROUTER_KEY: "cloudfront-function"}
    )

    def write_canary(value: str) -> None:
        plain_world.ssm.put_parameter(Name=CANARY_RECORD, Value=value, Type="String", Overwrite=True)

    stack.write_pointer = plain_world.set_live
    stack.write_canary = write_canary
    plain_world.stack = plain_world.stacks["test"] = stack
    for version in (V1, V2, V3):
        put_version(plain_world, version, PAGE)
    plain_world.set_live(V1)
    stack.version = V1
    write_canary("none")
    yield plain_world


def record(world: World) -> str:
    return str(world.ssm.get_parameter(Name=CANARY_RECORD)["Parameter"]["Value"])


def canary(world: World, *args: str) -> Any:
    return world.invoke("canary", "--stack", "test", *args)


def test_a_canary_sets_both_keys_and_runs_the_releases_targeted_up(world: World) -> None:
    result = canary(world, V2, "--percent", "5", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert world.stack.mutations == [
        f"set_config {VERSION_KEY} {V2}",
        f"set_config {PERCENT_KEY} 5",
        f"up {POINTER_URN},{SWITCH_URN}",
    ]
    assert (record(world), world.live()) == (f"{V2} 5", V1)
    assert world.stack.updates[0].message.startswith(f"sitectl canary {V2} at 5% by ")
    document = json.loads(result.stdout)
    assert {k: document[k] for k in ("action", "canary", "version", "percent", "live", "result")} == {
        "action": "canary",
        "canary": "start",
        "version": V2,
        "percent": 5,
        "live": V1,
        "result": "succeeded",
    }
    assert document["previous_config"] == {"canaryVersion": None, "canaryPercent": None}
    assert f"canary {V2} serves 5% of viewers (live: {V1})" in result.stderr


def test_complete_releases_the_canary_and_removes_both_keys_in_one_up(world: World) -> None:
    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    world.stack.calls.clear()
    result = canary(world, "--complete", "--yes")
    assert result.exit_code == 0, result.output
    assert world.stack.mutations == [
        f"set_version {V2}",
        f"set_config {VERSION_KEY} None",
        f"set_config {PERCENT_KEY} None",
        f"up {POINTER_URN},{SWITCH_URN}",
    ]
    assert (world.live(), record(world), world.stack.config) == (
        V2,
        "none",
        {ROUTER_KEY: "cloudfront-function"},
    )
    assert world.stack.updates[0].message.startswith(f"sitectl canary --complete {V2} by ")
    assert f"completed canary {V2}: every viewer gets it (was {V1})" in result.stderr


def test_abort_removes_both_keys_and_leaves_the_live_version(world: World) -> None:
    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    world.stack.calls.clear()
    result = canary(world, "--abort", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert world.stack.mutations == [
        f"set_config {VERSION_KEY} None",
        f"set_config {PERCENT_KEY} None",
        f"up {POINTER_URN},{SWITCH_URN}",
    ]
    assert (world.live(), record(world), world.stack.version) == (V1, "none", V1)
    assert json.loads(result.stdout)["previous_config"] == {"canaryVersion": V2, "canaryPercent": "5"}
    assert f"aborted canary {V2}: every viewer on {V1}" in result.stderr


def test_a_running_canarys_share_can_be_raised(world: World) -> None:
    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    result = canary(world, V2, "--percent", "25", "--yes")
    assert result.exit_code == 0, result.output
    assert record(world) == f"{V2} 25"


@pytest.mark.parametrize(
    ("args", "setup", "message"),
    [
        (
            [V2, "--percent", "0"],
            None,
            "--percent 0 is not a share from 1 to 99: a canary serves some viewers, not none or all "
            "(to serve it to everyone, `sitectl canary --complete`)",
        ),
        ([V2, "--percent", "100"], None, "--percent 100 is not a share from 1 to 99"),
        ([V2], None, f"which share? `sitectl canary {V2} --percent P`, P from 1 to 99"),
        (["--percent", "5"], None, "which version? `sitectl canary VERSION --percent P` starts a canary"),
        (["--complete", "--abort"], None, "--complete and --abort exclude each other: pass one"),
        ([V2, "--complete"], None, "--complete takes no version"),
        (["--abort", "--percent", "5"], None, "--abort takes no --percent"),
        (
            ["20261102T100001Z", "--percent", "5"],
            None,
            f"version 20261102T100001Z does not exist in {BUCKET}: only complete versions can be released; "
            f"did you mean {V2}?",
        ),
        (["20261105T100000Z", "--percent", "5"], "incomplete", "version 20261105T100000Z is incomplete"),
        ([V1, "--percent", "5"], None, f"{V1} is the live version of stack 'test' already"),
        (
            [V2, "--percent", "5"],
            "lambda-edge",
            "a canary needs router cloudfront-function, but stack 'test' uses lambda-edge: it rewrites after "
            "the cache lookup, under a cache key without the version, so one viewer's canary page would be "
            "cached for everyone; switch with `pulumi config set versioned-site:router cloudfront-function` "
            'and `pulumi up` (README, "Choosing a router")',
        ),
        (
            ["--complete"],
            None,
            "no canary runs on stack 'test' (nor does its config name one), so there is nothing to complete: "
            "start one with `sitectl canary VERSION --percent P`",
        ),
        (
            ["--abort"],
            None,
            "no canary runs on stack 'test' (nor does its config name one), so there is nothing",
        ),
        (["--abort", "--dry-run", "--config-only"], None, "--dry-run and --config-only exclude each other"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    world: World, args: list[str], setup: str | None, message: str
) -> None:
    if setup == "incomplete":
        put_version(world, "20261105T100000Z", PAGE, complete=False)
    if setup == "lambda-edge":
        world.stack.config[ROUTER_KEY] = "lambda-edge"
    result = canary(world, *args, "--yes")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {message}")
    assert len(result.output.strip().splitlines()) == 1
    assert world.stack.mutations == []
    assert (world.live(), record(world)) == (V1, "none")


def test_an_unset_router_is_lambda_edge_and_refused(world: World) -> None:
    del world.stack.config[ROUTER_KEY]
    world.stack.extra_outputs.pop("router")
    result = canary(world, V2, "--percent", "5", "--yes")
    assert result.exit_code == 2 and "uses lambda-edge" in result.output
    assert world.stack.mutations == []


def test_a_deployed_lambda_edge_router_is_refused_even_when_the_config_switches(world: World) -> None:
    world.stack.extra_outputs["router"] = "lambda-edge"
    result = canary(world, V2, "--percent", "5", "--yes")
    assert result.exit_code == 2 and "uses lambda-edge" in result.output
    # Only the config changes: what the next full `pulumi up` builds is what counts.
    assert canary(world, V2, "--percent", "5", "--config-only").exit_code == 0


def test_without_yes_off_a_terminal_it_is_refused(world: World) -> None:
    result = canary(world, V2, "--percent", "5")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: Serve {V2} to 5% of viewers on stack test (live: {V1})? needs confirmation: pass --yes when "
        "not on a terminal\n"
    )
    assert world.stack.mutations == []


def test_a_failed_up_puts_the_canary_config_back_while_the_record_is_unchanged(world: World) -> None:
    world.stack.fail_up = RuntimeError("engine refused")
    result = canary(world, V2, "--percent", "5", "--yes")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: pulumi up of stack 'test' failed: engine refused; the canary record still holds none: "
        "config restored to canaryVersion unset, canaryPercent unset"
    )
    assert world.stack.config == {ROUTER_KEY: "cloudfront-function"}


def test_a_dry_run_previews_and_puts_the_config_back(world: World) -> None:
    result = canary(world, V2, "--percent", "5", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert world.stack.mutations[-1:] == [f"set_config {PERCENT_KEY} None"]
    assert f"preview {POINTER_URN},{SWITCH_URN}" in world.stack.mutations
    assert world.stack.config == {ROUTER_KEY: "cloudfront-function"} and record(world) == "none"
    assert json.loads(result.stdout)["dry_run"] is True


def test_the_config_naming_another_canary_than_the_running_one_is_refused(world: World) -> None:
    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    world.stack.config[VERSION_KEY] = V3  # set by hand, never deployed
    world.stack.calls.clear()
    result = canary(world, "--complete", "--yes")
    assert result.exit_code == 2
    assert f"names canary {V3}, but {V2} runs" in result.output
    assert world.stack.mutations == []


def test_the_function_api_is_the_command_without_its_options(world: World) -> None:
    """What the demo calls: the same refusals, the same change."""
    stack = world.stack
    with pytest.raises(RefusedError, match="not a share from 1 to 99"):
        start_canary(lambda: stack, world.s3, BUCKET, V2, 100)
    lines: list[str] = []
    started = start_canary(
        lambda: stack, world.s3, BUCKET, V2, 50, read_live=world.live, on_output=lines.append
    )
    assert (started.kind, started.version, started.percent, started.live) == ("start", V2, 50, V1)
    assert record(world) == f"{V2} 50"
    done = complete_canary(lambda: stack, world.s3, BUCKET, read_live=world.live, on_output=lines.append)
    assert (done.kind, done.version, world.live(), record(world)) == ("complete", V2, V2, "none")
    with pytest.raises(RefusedError, match="no canary runs"):
        abort_canary(lambda: stack, world.s3, BUCKET, on_output=lines.append)


# --- --config-only from the stack file alone --------------------------------------------------------

STACK_FILE = f"""\
# the production stack
config:
  aws:region: eu-west-1
  versioned-site:router: cloudfront-function
  versioned-site:version: {V1}
  versioned-site:spaFallback: "false"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: versioned-site\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text(STACK_FILE)
    return tmp_path


def test_config_only_edits_the_stack_file_and_nothing_else(world: World, project: Path) -> None:
    def run(*args: str) -> Any:
        options = ["--project-dir", str(project), "--bucket", BUCKET, "--parameter", PARAMETER]
        return world.invoke(*options, "canary", "--stack", "test", *args, "--config-only")

    result = run(V2, "--percent", "5")
    assert result.exit_code == 0, result.output
    assert (project / "Pulumi.test.yaml").read_text() == STACK_FILE + (
        f'  versioned-site:canaryVersion: {V2}\n  versioned-site:canaryPercent: "5"\n'
    )
    assert (
        f"versioned-site:canaryVersion = {V2}, versioned-site:canaryPercent = 5 in Pulumi.test.yaml; nothing "
        "deployed: commit it, and `pulumi up` applies it"
    ) in result.stderr
    assert world.stack.calls == [] and record(world) == "none"  # no Pulumi, nothing deployed

    result = run("--complete")
    assert result.exit_code == 0, result.output
    assert (project / "Pulumi.test.yaml").read_text() == STACK_FILE.replace(V1, V2)
    (project / "Pulumi.test.yaml").write_text(STACK_FILE)
    assert run(V3, "--percent", "10").exit_code == 0
    assert run("--abort").exit_code == 0
    assert (project / "Pulumi.test.yaml").read_text() == STACK_FILE
    result = run("--abort")
    assert result.exit_code == 2 and "no canary runs" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config:\n  p:canaryVersion: V\n  p:version: X\n", "config:\n  p:version: X\n"),
        ("config:\n  p:version: X\n  canaryPercent: '5'  # share\n", "config:\n  p:version: X\n"),
        ("config:\n  p:version: X\n", "config:\n  p:version: X\n"),
        ("", ""),
        ("other: 1\n", "other: 1\n"),
    ],
)
def test_removing_a_key_from_a_stack_file_keeps_every_other_line(text: str, expected: str) -> None:
    assert (
        remove_config_text(text, "p:canaryPercent" if "Percent" in text else "p:canaryVersion", "p")
        == expected
    )


def test_removing_a_value_over_several_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="spans several lines"):
        remove_config_text("config:\n  p:canaryVersion:\n    nested: 1\n", "p:canaryVersion", "p")


def test_the_pulumi_adapter_sets_and_removes_other_keys() -> None:
    inner = RecordingStack()
    stack = PulumiStack(inner, "versioned-site")
    assert stack.get_config(VERSION_KEY) is None
    stack.set_config(VERSION_KEY, V2)
    assert inner.calls[-1] == ("set_config", (VERSION_KEY, V2)) and stack.get_config(VERSION_KEY) == V2
    stack.set_config(VERSION_KEY, None)
    assert inner.calls[-1] == ("remove_config", VERSION_KEY) and stack.get_config(VERSION_KEY) is None


def test_what_config_only_writes_is_what_the_program_reads(tmp_path: Path) -> None:
    """The stack file `canary --config-only` leaves, run through the real program (Pulumi's mock
    runtime, moto): the canary record and the store value carry the canary at its share; after
    `--abort --config-only` they carry none."""
    from scripts.commands.project import StackFile, read_stack_config
    from tests.pulumi_scaffold import run_program
    from tests.test_canary import named
    from tests.test_program import MOCK_BUCKET, set_pointer
    from tests.test_program import V1 as LIVE
    from tests.test_program import V2 as NEXT

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        html = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")
        for version in (LIVE, NEXT):
            manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {"index.html": html})
            s3.put_object(
                Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode()
            )
        set_pointer(LIVE)
        (tmp_path / "Pulumi.yaml").write_text("name: versioned-site\nruntime: python\n")
        (tmp_path / "Pulumi.dev.yaml").write_text(
            f"config:\n  versioned-site:router: cloudfront-function\n  versioned-site:version: {LIVE}\n"
        )
        stack_file = StackFile(tmp_path, "dev", "versioned-site")

        def deployed() -> tuple[str, str]:
            config = {
                k.removeprefix("versioned-site:"): str(v)
                for k, v in read_stack_config(tmp_path, "dev").items()
            }
            registered = run_program(config)
            record = named(registered, "aws:ssm/parameter:Parameter", "site-canary").props["insecureValue"]
            key = "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"
            return record, named(registered, key, "site-live-version").props["value"]

        start_canary(lambda: stack_file, s3, MOCK_BUCKET, NEXT, 5, config_only=True, on_output=print)
        record, value = deployed()
        assert record == f"{NEXT} 5" and f'"c":{{"v":"{NEXT}","p":5,' in value
        abort_canary(lambda: stack_file, s3, MOCK_BUCKET, config_only=True, on_output=print)
        record, value = deployed()
        assert record == "none" and '"c"' not in value


# --- --verify and `verify --canary`, against `sitectl serve` as the cloudfront-function router -------


@dataclass
class NoInvalidations:
    """CloudFront's ListInvalidations for a distribution of the function router: nothing to wait for."""

    calls: list[str] = field(default_factory=list)

    def list_invalidations(self, DistributionId: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(f"list {DistributionId}")
        return {"InvalidationList": {"Items": [], "Quantity": 0}}


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The world's bucket served as the function router: the pointer and the canary record read on every
    request; V3's page references a script it does not have (a broken build)."""
    from edge_lambda.settings import EdgeSettings
    from scripts.commands.serve import preview_server_running

    put_version(world, V3, {"index.html": b'<html><script src="/app.js"></script></html>'})
    settings = EdgeSettings(PARAMETER, "us-east-1", 5, bucket=BUCKET, bucket_region="us-east-1")
    world.stack.extra_outputs["distributionId"] = "E2EXAMPLE"
    with preview_server_running(
        BUCKET,
        settings,
        s3_client=world.s3,
        router="cloudfront-function",
        live_version=world.live,
        canary=lambda: layout.parse_canary_record(record(world)),
    ) as server:
        yield server.url


def invoke_served(world: World, url: str, *args: str) -> Any:
    deps = world.deps()
    deps.cloudfront_factory = NoInvalidations
    return CliRunner().invoke(cli, ["--url", url, *args], obj=deps)


def test_a_verified_canary_is_checked_as_its_viewers_get_it(world: World, served: str) -> None:
    result = invoke_served(
        world, served, "canary", "--stack", "test", V2, "--percent", "5", "--verify", "--yes", "--json"
    )
    assert result.exit_code == 0, result.output
    assert record(world) == f"{V2} 5" and world.live() == V1
    verification = json.loads(result.stdout)["verification"]
    assert verification["ok"] is True and verification["checks"][0]["status"] == 200
    assert f"verified: {served}/ serves {V2} to the canary's viewers, working" in result.stderr
    # Without the cookie a viewer outside the 5% gets the live version; with it, the canary.
    assert invoke_served(world, served, "verify", "--stack", "test").exit_code == 0
    checked = invoke_served(world, served, "verify", "--stack", "test", "--canary")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == f"ok: {served}/ serves {V2} to the canary's viewers, working\n"


def test_a_canary_that_fails_verification_is_aborted_by_itself(world: World, served: str) -> None:
    result = invoke_served(
        world,
        served,
        "canary",
        "--stack",
        "test",
        V3,
        "--percent",
        "5",
        "--verify",
        "--yes",
        "--verify-timeout",
        "0",
    )
    assert result.exit_code == 1
    assert "  /app.js: HTTP 403, expected 200 (referenced by the root page; not in the manifest" in (
        result.stderr
    )
    assert f"aborting canary {V3}: every viewer back on {V1}" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: canary {V3} failed verification (1 problem); aborted: every viewer on {V1}"
    )
    assert (record(world), world.live()) == ("none", V1)
    assert VERSION_KEY not in world.stack.config and PERCENT_KEY not in world.stack.config
    assert [u.message.split(" by ")[0] for u in world.stack.updates[:2]] == [
        f"sitectl canary --abort {V3}",
        f"sitectl canary {V3} at 5%",
    ]


def test_verify_canary_without_a_canary_and_verify_with_complete_are_refused(
    world: World, served: str
) -> None:
    result = invoke_served(world, served, "verify", "--stack", "test", "--canary")
    assert result.exit_code == 2 and "no canary runs on stack 'test'" in result.output
    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    world.stack.calls.clear()
    result = invoke_served(world, served, "canary", "--stack", "test", "--complete", "--verify", "--yes")
    assert result.exit_code == 2 and result.output.startswith("Error: --verify goes with starting a canary")
    result = invoke_served(
        world, served, "canary", "--stack", "test", V3, "--percent", "5", "--verify", "--config-only"
    )
    assert result.exit_code == 2 and "--verify and --config-only exclude each other" in result.output
    assert world.stack.mutations == []


def test_history_says_what_each_update_did_to_the_canary(world: World) -> None:
    for args in (
        [V2, "--percent", "5"],
        [V2, "--percent", "25"],
        ["--abort"],
        [V3, "--percent", "10"],
        ["--complete"],
    ):
        assert canary(world, *args, "--yes").exit_code == 0
    result = world.invoke("history", "--stack", "test", "--json")
    assert result.exit_code == 0, result.output
    rows = [(r["version"], r["canary"], r["live"]) for r in json.loads(result.stdout)]
    assert rows == [
        (V3, f"complete {V3}", True),
        (V1, f"start {V3} at 10%", False),
        (V1, f"abort {V2}", False),
        (V1, f"start {V2} at 25%", False),
        (V1, f"start {V2} at 5%", False),
    ]
    table = world.invoke("history", "--stack", "test").output.splitlines()
    assert table[0].split() == ["VERSION", "WHEN", "BY", "RESULT", "LIVE", "CANARY"]
    assert table[1].split()[-2:] == ["complete", V3] and table[3].split()[-2:] == ["abort", V2]


def test_the_pulumi_adapter_reads_each_updates_canary_from_its_config() -> None:
    from tests.test_sitectl_stack import summary

    class WithCanary(RecordingStack):
        def history(self) -> list[Any]:
            running = summary(V1)
            running.config[VERSION_KEY] = ConfigValue(V2)
            running.config[PERCENT_KEY] = ConfigValue("5")
            return [running, summary(V1)]

    history = PulumiStack(WithCanary(), "versioned-site").history()
    assert [(update.version, update.canary) for update in history] == [(V1, f"{V2} 5"), (V1, None)]


def test_status_follows_the_canary_through_start_and_abort(world: World, served: str) -> None:
    from scripts.commands.site import http_get

    def status() -> dict[str, Any]:
        deps = world.deps()
        deps.http_get = http_get
        result = CliRunner().invoke(cli, ["--url", served, "status", "--stack", "test", "--json"], obj=deps)
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    running = status()
    assert (running["canary"], running["served"], running["problems"]) == (f"{V2} at 5%", V1, [])
    assert canary(world, "--abort", "--yes").exit_code == 0
    ended = status()
    assert (ended["canary"], ended["served"], ended["problems"]) == (None, V1, [])


# --- after `rollback --now` ended a canary -----------------------------------------------------------


@pytest.fixture
def program_aws() -> Iterator[tuple[str, str]]:
    """moto for the real program: two complete versions (live, canary) and the pointer on the first."""
    from tests.test_program import MOCK_BUCKET, set_pointer
    from tests.test_program import V1 as LIVE
    from tests.test_program import V2 as CANARY

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        html = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")
        for version in (LIVE, CANARY):
            manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {"index.html": html})
            s3.put_object(
                Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode()
            )
        set_pointer(LIVE)
        yield LIVE, CANARY


def ended_by_emergency(canary_version: str, live: str) -> None:
    """What `rollback --now` leaves when it ended a canary: the record naming it, the canary record none."""
    from scripts.versionstore import emergency

    ssm = boto3.client("ssm", region_name="us-east-1")
    record = emergency.EmergencyRecord(("20261126T000000Z",), live, "alice", "2026-12-06T22:00:00+00:00", "")
    emergency.write_record(
        ssm, "/versioned-site/dev/live-version", replace(record, ended_canary=canary_version)
    )
    ssm.put_parameter(Name="/versioned-site/dev/canary", Value="none", Type="String", Overwrite=True)


def test_a_config_that_still_names_the_canary_rollback_now_ended_is_refused(
    program_aws: tuple[str, str],
) -> None:
    from scripts.offline.mockrun import ProgramError
    from tests.pulumi_scaffold import run_program

    live, ended = program_aws
    ended_by_emergency(ended, live)
    stale = {"router": "cloudfront-function", "version": live, "canaryVersion": ended, "canaryPercent": "5"}
    for preview in (True, False):
        with pytest.raises(ProgramError) as failure:
            run_program(stale, preview=preview)
        assert (
            f"20261126T000000Z rolled back to {live} in an emergency by alice at 2026-12-06T22:00:00+00:00, "
            f"ending canary {ended}, and this deployment would start that canary again: the stack config "
            "still names it. Remove it (`sitectl canary --abort --config-only`, or `pulumi config rm "
            "versioned-site:canaryVersion` and `pulumi config rm versioned-site:canaryPercent`), or run it "
            f"again on purpose (`pulumi config set versioned-site:releaseRolledBack {ended}`)"
        ) in str(failure.value.__cause__ or failure.value)
    # The fix the message names, and the way to run it again on purpose, both deploy.
    assert run_program({"router": "cloudfront-function", "version": live}, preview=True)
    assert run_program({**stale, "releaseRolledBack": ended}, preview=True)


def test_after_the_catch_up_the_config_deploys_and_a_stale_one_is_refused(
    world: World, tmp_path: Path
) -> None:
    """`rollback --now` during a canary, then the stack file of a stale branch (a canary still named):
    `canary --abort --config-only` is the fix, and it needs no canary record to know what to remove."""
    from scripts.versionstore import emergency

    assert canary(world, V2, "--percent", "5", "--yes").exit_code == 0
    record = emergency.EmergencyRecord((V3,), V1, "alice", "2026-12-06T22:00:00+00:00", "", ended_canary=V2)
    emergency.write_record(world.ssm, PARAMETER, record)
    world.ssm.put_parameter(Name=CANARY_RECORD, Value="none", Type="String", Overwrite=True)
    (tmp_path / "Pulumi.yaml").write_text("name: versioned-site\nruntime: python\n")
    stale = f"config:\n  versioned-site:router: cloudfront-function\n  versioned-site:version: {V1}\n"
    (tmp_path / "Pulumi.test.yaml").write_text(
        stale + f"  versioned-site:canaryVersion: {V2}\n  versioned-site:canaryPercent: '5'\n"
    )
    options = ["--project-dir", str(tmp_path), "--bucket", BUCKET, "--parameter", PARAMETER]
    result = world.invoke(*options, "canary", "--stack", "test", "--abort", "--config-only")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "Pulumi.test.yaml").read_text() == stale
