"""An upload's round trips: the reads that do not depend on one another are made at once
(`store.read_together`), so on S3 they cost one round trip, not one each; with `--workers 1`, one
request at a time, in the order they were always made. What each read proves is unchanged: the seal
still refuses a file missing from an area, and donors read while a prune ran are read again.
Against moto; a barrier shows requests in flight together (it is met only if they are)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from edge_lambda import layout
from scripts.commands.upload import upload_build
from scripts.versionstore import store
from scripts.versionstore.errors import StoreError
from tests.sitectl_scaffold import BUCKET, V1, V2, World, world, write_build

__all__ = ["world"]

SITE: dict[str, bytes | str] = {
    "index.html": "<p>home one</p>",
    "about/index.html": "<p>about</p>",
    "logo.png": b"\x89PNG one",
    "assets/app.fa10386f.js": "console.log('app')",
}
TWO: dict[str, bytes | str] = {**SITE, "index.html": "<p>home two</p>", "about/index.html": "<p>about 2</p>"}
# Only reached when the requests are not made at once: then the test fails (BrokenBarrierError).
BARRIER_TIMEOUT_SECONDS = 10


class Together:
    """The next request of each of `expected` (operation, Key or Prefix) waits at a barrier until all
    of them have started: only requests in flight together get through. With `after`, armed once
    that request has been made."""

    def __init__(self, world: World, expected: list[tuple[str, str]], after: tuple[str, str] | None = None):
        self.pending = set(expected)
        self.met: list[tuple[str, str]] = []
        self.after = after
        self._barrier = threading.Barrier(len(expected), timeout=BARRIER_TIMEOUT_SECONDS)
        self._lock = threading.Lock()
        world.s3.meta.events.register("provide-client-params.s3", self._hook)

    def _hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        request = (model.name, str(params.get("Key", params.get("Prefix", ""))))
        with self._lock:
            if self.after is not None:
                if request == self.after:
                    self.after = None
                return
            if request not in self.pending:
                return
            self.pending.discard(request)
        self._barrier.wait()
        with self._lock:
            self.met.append(request)


def _requests(world: World) -> list[tuple[str, str]]:
    made: list[tuple[str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append((model.name, str(params.get("Key", params.get("Prefix", "")))))

    world.s3.meta.events.register("provide-client-params.s3", record)
    return made


PLAN_READS = [("ListObjectsV2", layout.ASSET_PRUNE_PREFIX), ("ListObjectsV2", layout.MANIFEST_PREFIX)]
SEAL_READS = [
    ("GetObject", layout.claim_key(V2)),
    ("ListObjectsV2", layout.version_prefix(V2)),
    ("ListObjectsV2", f"{layout.SHARED_AREA}/"),
    ("ListObjectsV2", f"{layout.CONTENT_AREA}/"),
]
CHECK_READS = [("GetObject", layout.claim_key(V2)), ("ListObjectsV2", layout.version_prefix(V2))]


def test_a_release_makes_its_independent_reads_at_once(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    made = _requests(world)
    groups: list[Together] = []

    def plan(claim: store.Claim) -> None:
        groups.append(Together(world, PLAN_READS))

    def seal(claim: store.Claim) -> None:
        groups.append(Together(world, SEAL_READS))
        groups.append(Together(world, CHECK_READS, after=("PutObject", layout.manifest_key(V2))))

    build = write_build(tmp_path / "two", TWO)
    upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", after_claim=plan, before_seal=seal)
    release = list(made)

    assert [sorted(group.met) for group in groups] == [
        sorted(PLAN_READS),
        sorted(SEAL_READS),
        sorted(CHECK_READS),
    ]
    assert store.verify_version(world.s3, BUCKET, V2) == []
    # the same requests as one at a time: the donor's manifest read once (no prune was waited for)
    assert sorted(release) == sorted(
        [
            ("HeadObject", layout.manifest_key(V2)),
            ("PutObject", layout.claim_key(V2)),
            *PLAN_READS,
            ("GetObject", layout.manifest_key(V1)),
            ("ListObjectsV2", f"{layout.SHARED_AREA}/"),
            ("PutObject", layout.object_key(V2, "index.html")),
            ("PutObject", layout.content_key("about/index.html", _sha256(build / "about/index.html"))),
            *SEAL_READS,
            ("PutObject", layout.manifest_key(V2)),
            *CHECK_READS,
        ]
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_with_one_worker_the_reads_are_made_one_at_a_time_in_order(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    made = _requests(world)
    build = write_build(tmp_path / "two", TWO)
    upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", workers=1)
    plan_start = made.index(("ListObjectsV2", layout.ASSET_PRUNE_PREFIX))
    assert made[plan_start : plan_start + 4] == [
        ("ListObjectsV2", layout.ASSET_PRUNE_PREFIX),
        ("ListObjectsV2", f"{layout.SHARED_AREA}/"),
        ("ListObjectsV2", layout.MANIFEST_PREFIX),
        ("GetObject", layout.manifest_key(V1)),
    ]
    seal_start = made.index(("GetObject", layout.claim_key(V2)))
    assert made[seal_start:] == [*SEAL_READS, ("PutObject", layout.manifest_key(V2)), *CHECK_READS]


def test_the_seal_reading_at_once_still_refuses_a_file_missing_from_an_area(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    logo = layout.content_key("logo.png", _sha256(tmp_path / "one" / "logo.png"))
    groups: list[Together] = []

    def deleted_by_hand(claim: store.Claim) -> None:
        world.s3.delete_object(Bucket=BUCKET, Key=logo)
        world.s3.delete_object(Bucket=BUCKET, Key="_assets/assets/app.fa10386f.js")
        groups.append(Together(world, SEAL_READS))

    with pytest.raises(StoreError) as failed:
        upload_build(
            world.s3,
            BUCKET,
            write_build(tmp_path / "two", TWO),
            V2,
            router="lambda-edge",
            before_seal=deleted_by_hand,
        )
    assert sorted(groups[0].met) == sorted(SEAL_READS)
    assert str(failed.value) == (
        f"version {V2} was not sealed: assets/app.fa10386f.js is missing from the shared area "
        f"(_assets/assets/app.fa10386f.js) (and 1 more); did another process write to it? re-run with "
        f"--resume --version {V2}"
    )
    assert not store.is_complete(world.s3, BUCKET, V2)


def test_the_seal_reading_at_once_still_reports_a_lost_claim_first(world: World, tmp_path: Path) -> None:
    def taken_over(claim: store.Claim) -> None:
        store.claim_version(world.s3, BUCKET, store.new_claim(V1), resume=True)
        world.s3.delete_object(Bucket=BUCKET, Key=layout.object_key(V1, "index.html"))

    with pytest.raises(store.ClaimLostError, match=f"version {V1} is no longer claimed by this upload"):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, before_seal=taken_over)


def test_donors_read_while_a_prune_ran_are_read_again_once_it_is_done(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    prune = layout.asset_prune_key("prune1")
    world.s3.put_object(Bucket=BUCKET, Key=prune, Body=b"{}")
    donor_reads = world.sent("GetObject")
    sleeps: list[float] = []

    def prune_ends(seconds: float) -> None:
        sleeps.append(seconds)
        world.s3.delete_object(Bucket=BUCKET, Key=prune)

    report = upload_build(
        world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge", sleep=prune_ends
    )
    assert sleeps == [1.0]
    assert [p["Key"] for p in donor_reads].count(layout.manifest_key(V1)) == 2
    assert report.sent_files == 2, "index.html and about/index.html: the donor proved the rest"
    assert store.verify_version(world.s3, BUCKET, V2) == []
