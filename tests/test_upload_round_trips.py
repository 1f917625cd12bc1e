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
from botocore.exceptions import ClientError

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


@pytest.mark.parametrize("range_keys", [store.RANGE_KEYS, 1])
def test_the_seal_reading_at_once_still_refuses_a_file_missing_from_an_area(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_keys: int
) -> None:
    monkeypatch.setattr(store, "RANGE_KEYS", range_keys)  # 1: each key's range listed on its own
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


CLAIM_READS = [("HeadObject", layout.manifest_key(V2)), ("PutObject", layout.claim_key(V2))]


def test_the_claim_is_created_while_the_manifest_is_looked_for(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    together = Together(world, CLAIM_READS)
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge")
    assert sorted(together.met) == sorted(CLAIM_READS)
    assert store.verify_version(world.s3, BUCKET, V2) == []


@pytest.mark.parametrize("workers", [1, 16])
def test_a_complete_version_whose_claim_is_gone_is_refused_and_left_without_one(
    world: World, tmp_path: Path, workers: int
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    world.s3.delete_object(Bucket=BUCKET, Key=layout.claim_key(V1))  # e.g. uploaded before claims
    made = _requests(world)
    with pytest.raises(store.VersionCompleteError, match=f"version {V1} already exists and is complete"):
        upload_build(
            world.s3, BUCKET, write_build(tmp_path / "two", TWO), V1, router="lambda-edge", workers=workers
        )
    # nothing under the version written, and the claim created at once with the look withdrawn
    assert [request for request in made if request[0] in ("PutObject", "CopyObject")] == (
        [] if workers == 1 else [("PutObject", layout.claim_key(V1))]
    )
    assert store.read_claim(world.s3, BUCKET, V1) is None
    assert store.verify_version(world.s3, BUCKET, V1) == []


class InFlight:
    """The first `parties` ListObjectsV2 requests under `prefix` wait at a barrier until all have
    started: met only if they are made at once. Records each one's StartAfter."""

    def __init__(self, world: World, prefix: str, parties: int) -> None:
        self.prefix, self.left = prefix, parties
        self.starts: list[str] = []
        self._barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_SECONDS)
        self._lock = threading.Lock()
        world.s3.meta.events.register("provide-client-params.s3", self._hook)

    def _hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name != "ListObjectsV2" or params.get("Prefix") != self.prefix:
            return
        with self._lock:
            self.starts.append(str(params.get("StartAfter", "")))
            self.left -= 1
            wait = self.left >= 0
        if wait:
            self._barrier.wait()


def test_a_scoped_listing_reads_the_ranges_of_its_keys_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RANGE_KEYS", 4)
    monkeypatch.setattr(store, "LIST_PAGE_KEYS", 5)
    prefix = "_assets/"
    ours = [f"{prefix}a/{n:02}.js" for n in range(10)]
    others = [f"{prefix}0-before.js", *(f"{prefix}a/{n:02}-old.js" for n in (2, 3, 5)), f"{prefix}z-after.js"]
    for key in [*ours[:9], *others]:  # the last of ours is not stored
        world.s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    in_flight = InFlight(world, prefix, 3)
    found = store.objects_at(world.s3, BUCKET, prefix, reversed(ours), workers=8)
    # three ranges of 4, 4 and 2 keys, each listed from after the key before its first, at once
    assert sorted(in_flight.starts[:3]) == sorted([f"{prefix}a/00.j", ours[3], ours[7]])
    assert {key: obj.size for key, obj in found.items() if key in ours} == {key: len(key) for key in ours[:9]}
    assert f"{prefix}0-before.js" not in found, "nothing listed before the first key's range"
    assert len(in_flight.starts) == 4, "one page more where other keys sit between ours"
    # what a listing of the whole prefix says of those keys
    whole = store.shared_objects(world.s3, BUCKET, prefix)
    assert all(found[key] == whole[key] for key in ours[:9])


def test_a_scoped_listing_one_range_at_a_time_with_one_worker(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RANGE_KEYS", 2)
    keys = [f"_content/{n}/x.html" for n in range(5)]
    for key in keys:
        world.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    made = _requests(world)
    assert set(store.objects_at(world.s3, BUCKET, "_content/", keys, workers=1)) == set(keys)
    assert made == [("ListObjectsV2", "_content/")] * 3
    assert store.objects_at(world.s3, BUCKET, "_content/", [], workers=4) == {}
    assert len(made) == 3, "no keys: no request"


class _Answer:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


@pytest.mark.parametrize("workers", [1, 16])
def test_a_look_for_the_manifest_that_fails_leaves_no_claim_behind(
    world: World, tmp_path: Path, workers: int
) -> None:
    """The HEAD for the manifest fails (here 403, as S3 answers without s3:ListBucket): the upload
    stops, and the claim created beside it is withdrawn, as none was made when the look came first;
    a claim left behind would hold the id and stop every prune of the shared area for a day."""

    def refuse(params: dict[str, Any], **_: Any) -> tuple[_Answer, dict[str, Any]] | None:
        if not params["url_path"].endswith(layout.manifest_key(V1)):
            return None
        error = {"Code": "AccessDenied", "Message": "Access Denied"}
        return _Answer(403), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}

    events: Any = world.s3.meta.events  # a before-call handler may answer in S3's place
    events.register("before-call.s3.HeadObject", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        upload_build(
            world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge", workers=workers
        )
    assert store.read_claim(world.s3, BUCKET, V1) is None
    assert store.uploads_in_progress(world.s3, BUCKET, store.server_now(world.s3, BUCKET), []) == []
