"""`sitectl rollback --now` racing a prune and a release. Each race is lined up deterministically, as in
test_release_vs_prune.py: a botocore hook (`World.once`), the fake stack's pointer write, or a sleep on
the injected clock is where the other process acts; assertions run in the main thread."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from click.testing import Result
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import ConcurrentUpdateError

from edge_lambda import layout
from scripts.commands import release
from scripts.commands.release import CATCH_UP_LOCK_POLL_SECONDS
from scripts.versionstore import store as storage
from tests.clock import ManualClock
from tests.sitectl_scaffold import (
    BUCKET,
    PRUNE_EVERYTHING,
    V1,
    V2,
    V3,
    V4,
    World,
    keys,
    put_version,
    world,
)
from tests.test_emergency_rollback import PAGE, Emergency

__all__ = ["world"]

PRUNE = PRUNE_EVERYTHING
# What the Automation API raises while another update holds the stack (Pulumi Cloud's wording).
LOCKED = ConcurrentUpdateError(
    CommandResult(
        stdout="", stderr="error: [409] Conflict: Another update is currently in progress.", code=255
    )
)


class RaceClock(ManualClock):
    """Runs `actions[n]` once the command's n-th sleep has passed: another process acting meanwhile."""

    def __init__(self, actions: dict[int, Callable[[], object]]) -> None:
        super().__init__(start=time.time())
        self.actions = actions

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        action = self.actions.pop(len(self.sleeps) - 1, None)
        if action is not None:
            action()


def on_clock(site: Emergency, actions: dict[int, Callable[[], object]]) -> RaceClock:
    clock = RaceClock(actions)
    site.clock = site.cloudfront.clock = clock
    return clock


# --- against a prune ---------------------------------------------------------------------------------


# Uploaded after V1, never released.
NEVER_LIVE = "20261101T200000Z"


def pruned_world(world: World) -> Emergency:
    """V1..V4 and NEVER_LIVE complete, V4 live: a prune with --keep 0 keeps V4, V3 (the one before it)
    and V2 (live before that), and deletes NEVER_LIVE, then V1."""
    site = Emergency(world)
    put_version(world, NEVER_LIVE, PAGE)
    put_version(world, V4, PAGE)
    world.set_live(V4)
    world.stack.record(V4)
    world.stack.version = world.stack.deployed = V4
    return site


def test_a_rollback_now_during_a_prune_keeps_the_version_made_live(world: World) -> None:
    """While the prune deletes NEVER_LIVE's files, on-call rolls V4 back to V1, the prune's next one:
    the rollback's release lock keeps it."""
    site = pruned_world(world)
    rolled: list[Result] = []
    world.once(
        "provide-client-params.s3.DeleteObjects",
        lambda: rolled.append(site.invoke("rollback", "--now", "--version", V1, "--reason", "500s", "--yes")),
        when=lambda params: params["Delete"]["Objects"][0]["Key"].startswith(f"{NEVER_LIVE}/"),
    )
    result = world.invoke(*PRUNE)
    assert rolled[0].exit_code == 0, rolled[0].output
    assert result.exit_code == 0, result.output
    assert (
        f"kept {V1}: sitectl rollback --now on " in result.output
        and " is releasing it since " in result.output
    )
    assert world.live() == V1 and storage.complete_versions(world.s3, BUCKET) == [V4, V3, V2, V1]
    assert keys(world, f"{V1}/") == [f"{V1}/index.html"]


def test_a_prune_locking_the_version_first_refuses_the_rollback_before_anything_is_written(
    world: World,
) -> None:
    """Both read no lock on V1; the prune's deletion lock lands just before the rollback's release lock."""
    site = pruned_world(world)
    now = storage.server_now(world.s3, BUCKET)
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: storage.claim_deletion(world.s3, BUCKET, V1, "sitectl prune on ci", now),
        when=lambda params: params["Key"] == layout.lock_key(V1),
    )
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 2
    assert f"version {V1} is being deleted by sitectl prune on ci" in result.stderr
    assert world.live() == V4 and site.record() is None and site.cloudfront.invalidations == []
    assert world.stack.mutations == []


def test_a_rollback_locking_the_version_first_keeps_it_from_the_prune(world: World) -> None:
    """Both read no lock on V1; the whole rollback runs just before the prune's deletion lock lands."""
    site = pruned_world(world)
    rolled: list[Result] = []
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: rolled.append(site.invoke("rollback", "--now", "--version", V1, "--yes")),
        when=lambda params: params["Key"] == layout.lock_key(V1),
    )
    result = world.invoke(*PRUNE)
    assert rolled[0].exit_code == 0, rolled[0].output
    assert world.live() == V1 and storage.complete_versions(world.s3, BUCKET) == [V4, V3, V2, V1]
    assert f"deleted {V1}" not in result.output and f"deleted {NEVER_LIVE} (" in result.output
    lock = storage.read_lock(world.s3, BUCKET, V1)
    assert lock is not None and lock.kind == storage.RELEASE


# --- against a release whose `pulumi up` was already running ----------------------------------------


@pytest.mark.parametrize(
    ("ends_at_sleep", "waits"),
    [(0, 1), (1, 2)],
    ids=["the release ends during the edge TTL wait", "the release still holds the stack at the catch-up"],
)
def test_a_release_running_meanwhile_does_not_leave_its_version_live(
    world: World, ends_at_sleep: int, waits: int
) -> None:
    """`sitectl release V3` is in its `pulumi up` (the program started before the emergency record
    existed, so nothing refuses it; it holds the stack's lock) when on-call rolls V2 back to V1. Its
    pointer write lands after the rollback's: the catch-up waits for the stack, then writes V1 again."""
    site = Emergency(world)
    write = world.set_live
    rolled: list[Result] = []

    def release_ends() -> None:
        write(V3)  # the release's `up` writes its pointer, then ends and unlocks the stack
        world.stack.fail_up = None

    on_clock(site, {ends_at_sleep: release_ends})

    def pointer_write(value: str) -> None:
        if value != V3:
            write(value)  # the catch-up's own `up`
            return
        world.stack.fail_up = LOCKED  # until release_ends
        rolled.append(
            site.invoke("rollback", "--now", "--version", V1, "--reason", "500s", "--yes", "--json")
        )

    world.stack.write_pointer = pointer_write
    released = world.invoke("release", V3, "--stack", "test", "--yes")
    assert released.exit_code == 0, released.output
    assert rolled[0].exit_code == 0, rolled[0].output
    assert world.live() == V1
    record = site.record()
    assert record is not None and record.rolled_back == (V2,) and record.live == V1
    assert len(site.clock.sleeps) == waits
    if ends_at_sleep == 0:
        assert f"the pointer holds {V3} now, not {V1}: another release wrote it meanwhile" in rolled[0].stderr
    else:
        assert (
            f"another `pulumi up` of stack 'test' is running (a release?): catching up once it ends, so "
            f"that {V1} stays live (again in {CATCH_UP_LOCK_POLL_SECONDS:g} s)" in rolled[0].stderr
        )
        assert site.clock.sleeps[1] == CATCH_UP_LOCK_POLL_SECONDS


def test_a_stack_held_past_the_wait_says_what_is_live_and_both_ways_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait = 3 * CATCH_UP_LOCK_POLL_SECONDS  # a shorter window: each try runs the release's checks again
    monkeypatch.setattr(release, "CATCH_UP_LOCK_WAIT_SECONDS", wait)
    site = Emergency(world)
    world.stack.fail_up = LOCKED
    result = site.invoke("rollback", "--now", "--version", V1, "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {V1} is live, but another `pulumi up` of stack 'test' held the stack for "
        f"{wait:g} s, so its config is not caught up: once that update ends, see "
        f"`sitectl status`; if it made another version live, run `sitectl rollback --now --version {V1}` "
        f"again, else `sitectl release --version {V1} --yes`"
    )
    assert world.live() == V1 and site.record() is not None
    # It waited the whole window on the injected clock, polling, and slept not a real second.
    lock_waits = site.clock.sleeps[1:]
    assert lock_waits == [CATCH_UP_LOCK_POLL_SECONDS] * 3


def test_a_pointer_written_by_someone_else_after_the_catch_up_is_an_error(world: World) -> None:
    """With --config-only nothing writes the target again: a release landing meanwhile is reported."""
    site = Emergency(world)
    on_clock(site, {0: lambda: world.set_live(V3)})
    result = site.invoke("rollback", "--now", "--version", V1, "--config-only", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: the pointer holds {V3} now, not {V1}: another release wrote it while this rollback --now "
        f"ran (`sitectl history`); run `sitectl rollback --now --version {V1}` again if {V3} must not be live"
    )
