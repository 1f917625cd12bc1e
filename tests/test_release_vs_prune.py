"""A release and a prune of the same version exclude each other (the store's version lock), and a
prune stops when the live version changes under it. Every race is lined up with a botocore hook
(`World.once`) or the fake stack's `up`; assertions run in the main thread."""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result

from edge_lambda import layout
from scripts.versionstore import store as storage
from tests.sitectl_scaffold import (
    BUCKET,
    PRUNE_EVERYTHING,
    V1,
    V2,
    V3,
    V4,
    World,
    backdate,
    keys,
    put_version,
    world,
)

__all__ = ["world"]

PAGE = {"index.html": b"<html>v</html>", "about.html": b"<html>about</html>"}
PRUNE = PRUNE_EVERYTHING


def four_versions(world: World, live: str = V4) -> None:
    for version in (V1, V2, V3, V4):
        put_version(world, version, PAGE)
    world.set_live(live)


def lock_of(world: World, version: str) -> dict[str, Any] | None:
    try:
        body = world.s3.get_object(Bucket=BUCKET, Key=layout.lock_key(version))["Body"].read()
    except world.s3.exceptions.NoSuchKey:
        return None
    return dict(json.loads(body))


def test_a_rollback_during_prune_stops_it_before_the_version_made_live(world: World) -> None:
    """The plan deletes V2 then V1; while V2's files go, a rollback makes V1 live."""
    four_versions(world)
    world.once(
        "provide-client-params.s3.DeleteObjects",
        lambda: world.set_live(V1),
        when=lambda params: params["Delete"]["Objects"][0]["Key"].startswith(f"{V2}/"),
    )
    result = world.invoke(*PRUNE)
    assert result.exit_code == 1
    assert result.output.endswith(
        f"Error: the pointer changed from {V4} to {V1} while prune ran (a release or rollback): "
        f"stopped before deleting {V1}; run prune again\n"
    )
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V1]
    assert keys(world, f"{V1}/") == [f"{V1}/about.html", f"{V1}/index.html"]
    assert lock_of(world, V1) is None, "the deletion lock is dropped when prune stops"


def test_prune_reads_the_stacks_version_again_before_each_deletion(world: World) -> None:
    """`pulumi config set version V1` (a release about to be applied) during the prune stops it."""
    four_versions(world)
    world.stack.version = world.stack.deployed = V4

    def set_config() -> None:
        world.stack.version = V1

    world.once(
        "provide-client-params.s3.DeleteObjects",
        set_config,
        when=lambda params: params["Delete"]["Objects"][0]["Key"].startswith(f"{V2}/"),
    )
    result = world.invoke("--stack", "test", "prune", "--keep", "0", "--apply", "--skip-stack-check")
    assert result.exit_code == 1
    assert f"Error: stack test's version config changed from {V4} to {V1} while prune ran" in result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V1]


def test_a_release_of_a_version_being_deleted_is_refused_before_pulumi_is_touched(world: World) -> None:
    four_versions(world)
    released: list[Result] = []
    world.once(
        "provide-client-params.s3.DeleteObject",
        lambda: released.append(world.invoke("release", V2, "--stack", "test", "--yes")),
        when=lambda params: params["Key"] == layout.manifest_key(V2),
    )
    result = world.invoke(*PRUNE)
    assert result.exit_code == 0, result.output
    assert released[0].exit_code == 2
    assert released[0].output.startswith(f"Error: version {V2} is being deleted by sitectl prune on ")
    assert released[0].output.endswith(f" ({layout.lock_key(V2)}): release another version\n")
    assert world.stack.mutations == [] and world.live() == V4
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]


def test_prune_skips_a_version_whose_release_is_in_progress(world: World) -> None:
    """`sitectl release V1` has taken its lock and runs `pulumi up`; a prune planned with V4 live
    reaches V1 before the pointer changes: it keeps it, and the release completes."""
    four_versions(world)
    pruned: list[Result] = []
    write_pointer = world.stack.write_pointer
    assert write_pointer is not None

    def prune_then_write(value: str) -> None:
        pruned.append(world.invoke(*PRUNE))
        write_pointer(value)

    world.stack.write_pointer = prune_then_write
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 0, result.output
    assert pruned[0].exit_code == 0, pruned[0].output
    assert "kept 20261101T100000Z: sitectl release on " in pruned[0].output
    assert f"deleted {V2} (" in pruned[0].output
    assert world.live() == V1
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V1]
    lock = lock_of(world, V1)
    assert lock is not None and lock["kind"] == "release" and lock["owner"].startswith("sitectl release on ")


def test_a_release_writing_its_lock_first_wins_over_prune(world: World) -> None:
    """Both read no lock; the release's write lands first: prune's conditional write fails (412)."""
    four_versions(world)
    owner = storage.lock_owner("sitectl release")
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: storage.claim_release(world.s3, BUCKET, V1, owner),
        when=lambda params: params["Key"] == layout.lock_key(V1),
    )
    result = world.invoke(*PRUNE)
    assert result.exit_code == 0, result.output
    assert f"kept {V1}: its lock changed while prune took it (a release?)" in result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V1]
    assert (lock := lock_of(world, V1)) is not None and lock["kind"] == "release"


def test_a_prune_writing_its_lock_first_wins_over_a_release(world: World) -> None:
    """Both read no lock; prune's write lands first: the release's write fails, it reads the lock
    again and is refused; the version is deleted."""
    four_versions(world)
    now = storage.server_now(world.s3, BUCKET)
    taken: list[object] = []
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: taken.append(storage.claim_deletion(world.s3, BUCKET, V1, "sitectl prune on ci", now)),
        when=lambda params: params["Key"] == layout.lock_key(V1),
    )
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert isinstance(taken[0], storage.VersionLock)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: version {V1} is being deleted by sitectl prune on ci since ")
    assert world.stack.mutations == [] and world.live() == V4


def test_a_stale_deletion_lock_is_named_with_how_to_clear_it_and_another_prune_takes_it_over(
    world: World,
) -> None:
    four_versions(world)
    now = storage.server_now(world.s3, BUCKET)
    assert isinstance(
        storage.claim_deletion(world.s3, BUCKET, V1, "sitectl prune on dead", now), storage.VersionLock
    )
    backdate(world, layout.lock_key(V1), hours=2)  # that prune died two hours ago
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: version {V1} has a deletion lock 120 minutes old from sitectl prune on dead "
        f"({layout.lock_key(V1)}): that prune died; if `sitectl versions --verify --version {V1}` passes, "
        "clear it "
        f"with `aws s3api delete-object --bucket {BUCKET} --key {layout.lock_key(V1)}` and release again\n"
    )
    assert world.stack.mutations == []
    result = world.invoke(*PRUNE)
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]
    assert lock_of(world, V1) is None


def test_a_fresh_deletion_lock_of_another_prune_is_left_alone(world: World) -> None:
    four_versions(world)
    now = storage.server_now(world.s3, BUCKET)
    storage.claim_deletion(world.s3, BUCKET, V1, "sitectl prune on elsewhere", now)
    result = world.invoke(*PRUNE)
    assert result.exit_code == 0, result.output
    assert f"kept {V1}: sitectl prune on elsewhere is deleting it since " in result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V1]


def test_claim_release_refuses_a_version_deleted_before_its_lock_landed(world: World) -> None:
    """A prune deleted the version and dropped its lock between the release's checks and its lock."""
    four_versions(world)
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: storage.delete_version(world.s3, BUCKET, V1),
        when=lambda params: params["Key"] == layout.lock_key(V1),
    )
    result = world.invoke("release", V1, "--stack", "test", "--yes")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: version {V1} was deleted before it could be released (no {layout.manifest_key(V1)}): "
        "only complete versions can be released\n"
    )
    assert world.stack.mutations == []
