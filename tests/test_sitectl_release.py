"""release, rollback and history with an injected stack: the refusal of an incomplete version happens
before Pulumi is touched, a failed `up` restores the config, rollback finds the previous version."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from edge_lambda import layout
from scripts.commands import release as release_module
from scripts.commands.errors import RefusedError, SitectlError
from scripts.commands.release import (
    ReleaseResult,
    previous_live_version,
    release_version,
    releases_from_stack,
)
from scripts.commands.stack import StackUpdate
from scripts.sitectl import cli
from tests.sitectl_scaffold import (
    BUCKET,
    POINTER_URN,
    SWITCH_URN,
    V1,
    V2,
    V3,
    FakeStack,
    World,
    put_version,
    world,
)

__all__ = ["world"]

PAGE = {"index.html": b"<html>v</html>"}


def test_release_sets_the_config_and_runs_a_targeted_up(world: World) -> None:
    put_version(world, V1, PAGE)
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert world.stack.version == V1
    assert f"up {POINTER_URN},{SWITCH_URN}" in world.stack.calls
    assert f"Updating (test): version {V1}" in result.output  # streamed
    assert world.stack.updates[0].version == V1
    assert world.stack.updates[0].message.startswith(f"sitectl release {V1} by ")


def test_incomplete_version_is_refused_before_pulumi_is_touched(world: World) -> None:
    put_version(world, V1, PAGE, complete=False)
    result = world.invoke("--bucket", BUCKET, "release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 2
    assert f"version {V1} is incomplete (no manifest)" in result.output
    assert world.stack.calls == []


def test_incomplete_version_is_refused_before_asking_for_confirmation(world: World) -> None:
    put_version(world, V1, PAGE, complete=False)
    result = world.invoke("release", V1, "--stack", "test")
    assert result.exit_code == 2
    assert "is incomplete" in result.output and "--yes" not in result.output
    assert world.stack.mutations == []


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            "error: could not write Pulumi.test.yaml\n  open Pulumi.test.yaml\n\npermission denied\n",
            "permission denied",
        ),
        ("", "RuntimeError"),  # nothing said: the error's kind
    ],
)
def test_config_that_cannot_be_set_is_one_line_exit_1(world: World, error: str, line: str) -> None:
    put_version(world, V1, PAGE)

    def refuse(value: str | None) -> None:
        raise RuntimeError(error)

    world.stack.set_version = refuse  # type: ignore[method-assign]
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert result.output == f"Error: could not set the version config of stack 'test': {line}\n"
    assert not any(call.startswith("up") for call in world.stack.calls)


def test_missing_version_is_refused_before_pulumi_is_touched(world: World) -> None:
    stack = FakeStack()
    with pytest.raises(RefusedError) as refused:
        release_version(lambda: stack, world.s3, BUCKET, V2)
    assert refused.value.message == (
        f"version {V2} does not exist in {BUCKET}: only complete versions can be released"
    )
    assert stack.calls == []


def test_malformed_version_is_refused(world: World) -> None:
    result = world.invoke("--bucket", BUCKET, "release", "latest", "--stack", "test", "--yes")
    assert result.exit_code == 2
    assert "not a valid version id" in result.output
    assert world.stack.calls == []


def test_release_without_yes_off_a_terminal_is_refused(world: World) -> None:
    put_version(world, V1, PAGE)
    result = world.invoke("--bucket", BUCKET, "release", V1, "--stack", "test")
    assert result.exit_code == 2
    assert "--yes" in result.output
    assert world.stack.mutations == []


def test_failed_up_restores_the_previous_config(world: World) -> None:
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    world.stack.version = V1
    world.set_live(V1)
    world.stack.fail_up = RuntimeError("error: update failed\n  aws:ssm:Parameter: AccessDenied")
    result = world.invoke("release", V2, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert "AccessDenied" in result.output
    assert f"the pointer still holds {V1}: config version restored to '{V1}'" in result.output
    assert world.stack.version == V1
    assert world.stack.mutations[-1] == f"set_version {V1}"


def test_up_that_does_not_succeed_restores_an_unset_config(world: World) -> None:
    put_version(world, V1, PAGE)
    world.stack.version = None
    world.stack.up_result = "failed"
    with pytest.raises(SitectlError, match="ended 'failed'"):
        release_version(lambda: world.stack, world.s3, BUCKET, V1, on_output=lambda _: None)
    assert world.stack.version is None


def test_dry_run_previews_and_leaves_the_config(world: World) -> None:
    put_version(world, V2, PAGE)
    world.stack.version = V1
    result = world.invoke("release", V2, "--stack", "test", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"Previewing update (test): version {V2}" in result.output
    assert world.stack.version == V1
    assert not any(call.startswith("up") for call in world.stack.calls)


def test_release_needs_the_release_targets_output(world: World) -> None:
    put_version(world, V1, PAGE)
    world.stack.extra_outputs["releaseTargets"] = []
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert result.output == (
        "Error: stack 'test' has no releaseTargets output (URNs of the pointer and the switch): "
        "run a full `pulumi up` of the stack once\n"
    )
    assert world.stack.mutations == []


def test_rollback_releases_the_previous_version_from_the_stack_history(world: World) -> None:
    for version in (V1, V2, V3):
        put_version(world, version, PAGE)
    world.stack.record(V1)
    world.stack.record(V2)
    world.stack.record(V2)  # an infrastructure update with the same version
    world.stack.record(V3, result="failed")
    world.stack.record(V3)
    world.stack.version = V3
    world.set_live(V3)
    result = world.invoke("rollback", "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert f"rolling back from {V3} to {V2}" in result.output
    assert "note:" not in result.output  # the local config says what is live
    assert world.stack.version == V2
    assert world.live() == V2
    assert world.stack.updates[0].message.startswith(f"sitectl rollback to {V2} by ")


@pytest.mark.parametrize("stale", ["", None, V1])
def test_rollback_from_a_stale_local_config_goes_by_the_pointer(world: World, stale: str | None) -> None:
    """A fresh checkout (config empty or unset) or an old one (V1) while V3 is live: the rollback goes
    to V2, the version live before V3, never to V3 itself."""
    for version in (V1, V2, V3):
        put_version(world, version, PAGE)
    for version in (V1, V2, V3):
        world.stack.record(version)
        world.set_live(version)
    world.stack.version = stale
    result = world.invoke("rollback", "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert f"rolling back from {V3} to {V2}" in result.output
    assert (
        f"note: the local config of stack test says {stale or 'nothing'}, but {V3} is live (the pointer)"
        in (result.stderr)
    )
    assert (world.stack.version, world.live()) == (V2, V2)
    assert f"released {V2} (was {V3})" in result.output


def test_release_reports_what_was_live_not_the_local_config(world: World) -> None:
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = ""
    result = world.invoke("release", V2, "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert f"released {V2} (was {V1})" in result.output


def test_failed_up_after_the_pointer_changed_keeps_the_new_config(world: World) -> None:
    """The invalidation was denied after the parameter update: V2 is live, so the config says V2."""
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = V1
    world.stack.fail_after_pointer = RuntimeError(
        "error: update failed\n  pulumi-python:dynamic:Resource: AccessDenied: cloudfront:CreateInvalidation"
    )
    result = world.invoke("release", V2, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: pulumi up of stack 'test' failed: pulumi-python:dynamic:Resource: AccessDenied: "
        f"cloudfront:CreateInvalidation after the pointer changed: {V2} is live and the config keeps it; "
        f"rerun `sitectl release --version {V2} --yes` (or `pulumi up`) to finish the switch (wait, then "
        "invalidate)"
    )
    assert (world.stack.version, world.live()) == (V2, V2)
    assert world.stack.mutations[-1] == f"up {POINTER_URN},{SWITCH_URN}"


def test_failed_up_when_someone_else_moved_the_pointer_leaves_the_config(world: World) -> None:
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = V1

    def other_release(_value: str) -> None:
        world.set_live(V3)

    world.stack.write_pointer = other_release
    world.stack.fail_after_pointer = RuntimeError("error: update failed\n  conflict")
    result = world.invoke("release", V2, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert f"the pointer holds {V3}, neither {V1} (before) nor {V2}" in result.output
    assert world.stack.version == V2


def test_a_targeted_up_refused_for_changed_providers_says_to_run_a_full_up(world: World) -> None:
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = V1
    world.stack.fail_up = RuntimeError(
        "code: 255\nstderr: error: provider "
        "urn:pulumi:test::versioned-site::pulumi:providers:aws::default_7_52_0::04da6b54 for resource "
        "urn:pulumi:test::versioned-site::aws:s3/bucket:Bucket::site-bucket has not "
        "been registered yet, this is\ndue to a change of providers mixed with --target. Change your program "
        "back to the original providers"
    )
    result = world.invoke("release", V2, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: pulumi up of stack 'test' failed: the engine refuses a targeted update while providers "
        "changed (a pulumi-aws upgrade, or the provider's settings): run one full `pulumi up` first, then "
        f"release again; the pointer still holds {V1}: config version restored to '{V1}'"
    )
    assert (world.stack.version, world.live()) == (V1, V1)


@pytest.mark.parametrize(("configured", "was"), [(V1, V1), (None, "unset")])
def test_config_only_sets_the_stack_file_and_deploys_nothing(
    world: World, configured: str | None, was: str
) -> None:
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = configured
    # Nothing is deployed, so a stack never fully deployed (no releaseTargets output yet) is no obstacle.
    world.stack.extra_outputs["releaseTargets"] = []
    result = world.invoke("release", V2, "--stack", "test", "--config-only")
    assert result.exit_code == 0, result.output
    assert world.stack.mutations == [f"set_version {V2}"]
    assert world.live() == V1
    assert f"set versioned-site:version to {V2} in Pulumi.test.yaml (was {was}; live: {V1})" in result.output


def test_config_only_refuses_an_incomplete_version_and_a_dry_run(world: World) -> None:
    put_version(world, V2, PAGE, complete=False)
    result = world.invoke("release", V2, "--stack", "test", "--config-only")
    assert result.exit_code == 2 and "is incomplete" in result.output
    put_version(world, V3, PAGE)
    result = world.invoke("release", V3, "--stack", "test", "--config-only", "--dry-run")
    assert result.exit_code == 2
    assert result.output == (
        "Error: --dry-run and --config-only exclude each other: --config-only deploys nothing\n"
    )
    result = world.invoke("release", V3, "--stack", "test", "--config-only", "--verify")
    assert result.exit_code == 2
    assert (
        result.output
        == "Error: --verify and --config-only exclude each other: --config-only deploys nothing\n"
    )
    assert world.stack.mutations == []


def test_rollback_config_only_for_a_pull_request(world: World) -> None:
    for version in (V1, V2):
        put_version(world, version, PAGE)
        world.set_live(version)
    world.stack.version = ""
    result = world.invoke("rollback", "--stack", "test", "--config-only")
    assert result.exit_code == 0, result.output
    assert world.stack.mutations == [f"set_version {V1}"]
    assert world.live() == V2


def test_rollback_falls_back_to_the_parameter_history(world: World) -> None:
    for version in (V1, V2):
        put_version(world, version, PAGE)
    world.set_live(V1)
    world.set_live(V2)
    world.stack.version = V2
    result = world.invoke("rollback", "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert world.stack.version == V1


def test_rollback_to_a_given_version(world: World) -> None:
    put_version(world, V1, PAGE)
    world.stack.version = V3
    result = world.invoke("rollback", "--to", V1, "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert world.stack.version == V1


def test_rollback_with_nothing_to_go_back_to(world: World) -> None:
    world.stack.version = V1
    result = world.invoke("rollback", "--stack", "test", "--yes")
    assert result.exit_code == 2
    assert "no earlier release" in result.output
    assert world.stack.mutations == []


def test_previous_live_version_ignores_the_sentinel_and_the_current_version() -> None:
    stack = FakeStack()
    stack.record("")
    stack.record(V1)
    assert previous_live_version(stack, [], V1) is None
    assert previous_live_version(None, [V2, layout.NO_VERSION_RELEASED, V1], V2) == V1


def test_history_from_the_stack(world: World) -> None:
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    world.stack.record("")  # the first deployment, nothing released
    assert world.invoke("release", V1, "--stack", "test", "--yes").exit_code == 0
    world.stack.record(V1, message="pulumi up by hand")  # unrelated infrastructure change
    assert world.invoke("release", V2, "--stack", "test", "--yes").exit_code == 0
    result = world.invoke("history", "--stack", "test", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["version"], r["result"], r["source"], r["live"]) for r in rows] == [
        (V2, "succeeded", "stack", True),
        (V1, "succeeded", "stack", False),
        (layout.NO_VERSION_RELEASED, "succeeded", "stack", False),
    ]
    assert rows[0]["by"] == "ci" and rows[0]["when"].startswith("2026-11-27T")
    table = world.invoke("history", "--stack", "test")
    assert table.output.splitlines()[0].split() == ["VERSION", "WHEN", "BY", "RESULT", "LIVE"]
    assert table.output.splitlines()[1].split()[-1] == "live"


def test_history_shows_failed_attempts(world: World) -> None:
    stack = FakeStack()
    stack.record(V1)
    stack.record(V2, result="failed", message=f"sitectl release {V2} by alice", user="")
    releases = releases_from_stack(stack.history())
    assert [(r.version, r.result, r.by) for r in releases] == [
        (V2, "failed", "alice"),
        (V1, "succeeded", "ci"),
    ]


def test_history_from_the_parameter(world: World) -> None:
    world.set_live(V1)
    world.set_live(V2)
    result = world.invoke("history", "--parameter", "/versioned-site/test/live-version", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["version"], r["live"]) for r in rows] == [(V2, True), (V1, False), ("none", False)]


def test_history_needs_a_stack_or_a_parameter(world: World) -> None:
    result = world.invoke("history")
    assert result.exit_code == 2
    assert "--stack or --parameter" in result.output


def test_stdout_holds_the_version_and_pulumis_output_and_the_verdict_go_to_stderr(world: World) -> None:
    """Scripts read stdout (the version, or one JSON document with --json); Pulumi's own lines and the
    one-line verdict are for people, on stderr, as errors are."""
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = V1
    outputs = []
    for args in (("--yes",), ("--dry-run",), ("--config-only",)):
        version = V2 if args == ("--yes",) else V1
        result = world.invoke("release", version, "--stack", "test", *args)
        assert result.exit_code == 0, result.output
        outputs.append((result.stdout, result.stderr))
    assert outputs == [
        (f"{V2}\n", f"Updating (test): version {V2}\nreleased {V2} (was {V1})\n"),
        (
            f"{V1}\n",
            f"Previewing update (test): version {V1}\npreview of releasing {V1} (live: {V2}): update: 1\n",
        ),
        (
            f"{V1}\n",
            f"set versioned-site:version to {V1} in Pulumi.test.yaml (was {V2}; live: {V2}); nothing "
            "deployed: commit it, and `pulumi up` (or `sitectl release` after the merge) applies it\n",
        ),
    ]


@pytest.mark.parametrize(
    ("args", "question", "cancelled"),
    [
        (["release", V2], f"Release {V2} on stack test?", "release cancelled"),
        (["rollback", "--to", V2], f"Roll back to {V2} on stack test?", "rollback cancelled"),
    ],
)
def test_on_a_terminal_the_question_defaults_to_no(
    world: World, monkeypatch: pytest.MonkeyPatch, args: list[str], question: str, cancelled: str
) -> None:
    put_version(world, V2, PAGE)
    monkeypatch.setattr(release_module, "sys", SimpleNamespace(stdin=SimpleNamespace(isatty=lambda: True)))
    result = CliRunner().invoke(cli, [*args, "--stack", "test"], obj=world.deps(), input="\n")
    assert result.exit_code == 2
    assert result.output == f"{question} [y/N]: \nError: {cancelled}\n"
    assert world.stack.mutations == []
    result = CliRunner().invoke(cli, [*args, "--stack", "test"], obj=world.deps(), input="y\n")
    assert result.exit_code == 0, result.output
    assert world.stack.version == V2


def test_the_update_message_names_an_unknown_user_when_there_is_none(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_user() -> str:
        raise OSError("no login name")  # a container without a passwd entry

    monkeypatch.setattr(release_module.getpass, "getuser", no_user)
    put_version(world, V1, PAGE)
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert world.stack.updates[0].message == f"sitectl release {V1} by unknown"


def test_history_marks_live_the_version_the_pointer_holds_not_the_newest(world: World) -> None:
    world.stack.record(V1)
    world.stack.record(V2)
    world.set_live(V1)  # the pointer was set back outside Pulumi
    result = world.invoke("history", "--stack", "test", "--json")
    assert result.exit_code == 0, result.output
    assert [(r["version"], r["live"]) for r in json.loads(result.stdout)] == [(V2, False), (V1, True)]


def _config_stuck_after_first_set(stack: FakeStack) -> None:
    """The release sets the config; setting it back fails (the file became read-only meanwhile)."""
    set_version = stack.set_version

    def set_once(value: str | None) -> None:
        if any(call.startswith("set_version") for call in stack.calls):
            raise RuntimeError("error: open Pulumi.test.yaml\nread-only file system")
        set_version(value)

    stack.set_version = set_once  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("configured", "args", "message"),
    [
        (
            V1,
            ["--dry-run"],
            f"Error: after the preview, and restoring config version '{V1}' failed too: read-only file "
            f"system; set it by hand: pulumi config set versioned-site:version '{V1}'\n",
        ),
        (
            None,
            ["--yes"],
            "Error: pulumi up of stack 'test' failed: engine crashed, and restoring config version None "
            "failed too: read-only file system; set it by hand: "
            "pulumi config set versioned-site:version ''\n",
        ),
    ],
    ids=["after-preview", "after-failed-up"],
)
def test_a_config_that_cannot_be_restored_says_how_to_restore_it(
    world: World, configured: str | None, args: list[str], message: str
) -> None:
    put_version(world, V2, PAGE)
    world.stack.version = configured
    world.stack.fail_up = RuntimeError("engine crashed")
    _config_stuck_after_first_set(world.stack)
    result = world.invoke("release", V2, "--stack", "test", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == message.rstrip("\n")  # after Pulumi's own line


def test_a_failed_preview_restores_the_previous_config(world: World) -> None:
    put_version(world, V2, PAGE)
    world.stack.version = V1

    def broken_preview(targets: list[str], message: str, on_output: Any) -> str:
        raise RuntimeError("error: preview failed\n  unreachable backend")

    world.stack.preview = broken_preview  # type: ignore[method-assign]
    result = world.invoke("release", V2, "--stack", "test", "--dry-run")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: pulumi preview of stack 'test' failed: unreachable backend; "
        f"config version restored to '{V1}'\n"
    )
    assert world.stack.version == V1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ReleaseResult(V2, V1, "succeeded", dry_run=False, live_before=V1, invalidation="I001SWITCH")),
        ({"dry_run": True}, ReleaseResult(V2, V1, "update: 1", dry_run=True, live_before=V1)),
        ({"config_only": True}, ReleaseResult(V2, V1, "config only", dry_run=False, live_before=V1)),
    ],
    ids=["release", "dry-run", "config-only"],
)
def test_release_version_returns_what_it_did(
    world: World, options: dict[str, Any], expected: ReleaseResult
) -> None:
    """What `promote` and scripts read: the config before, the outcome, what the pointer held."""
    put_version(world, V2, PAGE)
    world.stack.version = V1
    world.set_live(V1)
    result = release_version(
        lambda: world.stack,
        world.s3,
        BUCKET,
        V2,
        on_output=lambda _: None,
        read_pointer=world.live,
        **options,
    )
    assert result == expected
    if not options:
        assert world.stack.updates[0].message.startswith(f"sitectl release {V2} by ")  # the default action


@pytest.mark.parametrize(
    ("pointer_moves", "message", "config"),
    [
        (False, f"; the pointer still holds {V1}: config version restored to '{V1}'", V1),
        (
            True,
            f" after the pointer changed: {V2} is live and the config keeps it; rerun "
            f"`sitectl release --version {V2} --yes` (or `pulumi up`) to finish the switch (wait, then "
            "invalidate)",
            V2,
        ),
    ],
    ids=["pointer-unchanged", "pointer-moved"],
)
def test_an_up_that_ends_failed_goes_by_the_pointer(
    world: World, pointer_moves: bool, message: str, config: str
) -> None:
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = V1
    world.stack.up_result = "failed"
    if not pointer_moves:
        world.stack.write_pointer = None
    result = world.invoke("release", V2, "--stack", "test", "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"Error: pulumi up of stack 'test' ended 'failed'{message}"
    assert world.stack.version == config


def test_history_from_the_parameter_says_when_and_by_whom(world: World) -> None:
    world.set_live(V1)
    result = world.invoke("history", "--parameter", "/versioned-site/test/live-version", "--json")
    assert result.exit_code == 0, result.output
    newest = json.loads(result.stdout)[0]
    assert (newest["version"], newest["result"], newest["source"]) == (V1, "applied", "parameter")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", newest["when"])
    assert newest["by"] == "N/A"  # the LastModifiedUser moto records (AWS: the caller's ARN)


def test_history_from_the_parameter_without_a_date_says_so(world: World) -> None:
    def drop_dates(parsed: dict[str, Any], **_: Any) -> None:
        for item in parsed.get("Parameters", []):
            item.pop("LastModifiedDate", None)  # optional in SSM's answer

    world.set_live(V1)
    world.ssm.meta.events.register("after-call.ssm.GetParameterHistory", drop_dates)
    result = world.invoke("history", "--parameter", "/versioned-site/test/live-version", "--json")
    assert result.exit_code == 0, result.output
    assert [row["when"] for row in json.loads(result.stdout)] == ["-", "-"]


def test_history_lists_sitectl_reruns_and_reads_past_other_operations() -> None:
    stack = FakeStack()
    stack.record(V1)
    stack.record(V1, message="pulumi up by hand")  # same version, not sitectl: not a release
    stack.updates.insert(0, StackUpdate("refresh", stack.clock, None, "succeeded", V1, "ci", "refresh"))
    stack.record(V1, message=f"sitectl release {V1} by bob", user="")  # finishing a switch
    stack.record(V2, result="failed", message=f"sitectl release {V2} by alice", user="")
    releases = releases_from_stack(stack.history())
    assert [(r.version, r.result, r.by) for r in releases] == [
        (V2, "failed", "alice"),
        (V1, "succeeded", "bob"),
        (V1, "succeeded", "ci"),
    ]
