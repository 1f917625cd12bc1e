"""The version store against moto: exclusive claims, sealing only what is verified, streamed and
multipart uploads, donors that lie, prune racing uploads, and a check that walks every complete
version of a bucket and proves it equals its manifest."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from edge_lambda import layout
from scripts.commands.errors import SitectlError
from scripts.commands.upload import upload_build
from scripts.versionstore import build as build_module
from scripts.versionstore import store as storage
from scripts.versionstore import transfer
from scripts.versionstore.errors import StoreError, StoreRefusedError
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    PRUNE_EVERYTHING,
    V1,
    V2,
    World,
    backdate,
    keys,
    put_version,
    sample_build,
    world,
    write_build,
)

__all__ = ["world"]

SAME_SECOND = "20261127T101500Z"
NEXT_SECOND = "20261127T101501Z"


def assert_exactly(world: World, version: str, tree: dict[str, bytes]) -> None:
    """The stored version holds `tree`, byte for byte, and nothing else; its manifest agrees."""
    assert storage.verify_version(world.s3, BUCKET, version) == []
    stored = {k.removeprefix(f"{version}/"): k for k in keys(world, f"{version}/")}
    assert sorted(stored) == sorted(tree)
    for path, body in tree.items():
        assert world.s3.get_object(Bucket=BUCKET, Key=stored[path])["Body"].read() == body


def object_writes(world: World) -> list[str]:
    """Keys of every PutObject/CopyObject/DeleteObject from now on."""
    written: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        written.append(params["Key"])

    for operation in ("PutObject", "CopyObject", "DeleteObject", "CreateMultipartUpload"):
        world.s3.meta.events.register(f"provide-client-params.s3.{operation}", record)
    return written


TREE_A = {"index.html": b"<html>A</html>", "a.txt": b"only in A", "shared.css": b"body{}"}
TREE_B = {"index.html": b"<html>B</html>", "b.txt": b"only in B", "shared.css": b"body{color:red}"}


# --- 1. exclusive versions ---------------------------------------------------------------------


def test_two_uploads_of_the_same_id_one_is_refused_before_it_writes(world: World, tmp_path: Path) -> None:
    a, b = write_build(tmp_path / "a", TREE_A), write_build(tmp_path / "b", TREE_B)
    a_claimed, b_done = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    writes = object_writes(world)

    def hold(_: storage.Claim) -> None:
        a_claimed.set()
        assert b_done.wait(10)

    def first() -> None:
        outcome["a"] = upload_build(world.s3, BUCKET, a, V1, after_claim=hold, workers=2)

    def second() -> None:
        assert a_claimed.wait(10)
        before = len(writes)
        try:
            upload_build(world.s3, BUCKET, b, V1, workers=2)
        except Exception as error:  # asserted in the main thread
            outcome["b"] = error
        outcome["b_writes"] = writes[before:]
        b_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert isinstance(outcome["b"], storage.VersionClaimedError)
    assert f"re-run with --resume --version {V1}" in str(outcome["b"])
    assert outcome["b_writes"] == [layout.claim_key(V1)]  # the refused conditional claim, nothing else
    assert outcome["a"].version == V1
    assert_exactly(world, V1, TREE_A)


def test_the_same_id_twice_on_the_command_line_is_exit_2(world: World, tmp_path: Path) -> None:
    build = write_build(tmp_path / "a", TREE_A)
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))  # an upload still running
    result = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert result.exit_code == 2
    assert f"version {V1} is already being uploaded by upload " in result.output
    assert keys(world, f"{V1}/") == []


def test_default_ids_of_uploads_started_in_the_same_second_do_not_collide(
    world: World, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)
    first = upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), now=now)
    second = upload_build(world.s3, BUCKET, write_build(tmp_path / "b", TREE_B), now=now)
    assert (first.version, second.version) == (SAME_SECOND, NEXT_SECOND)
    assert_exactly(world, SAME_SECOND, TREE_A)
    assert_exactly(world, NEXT_SECOND, TREE_B)


def test_a_complete_version_is_never_written_again(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    claim = world.s3.head_object(Bucket=BUCKET, Key=layout.claim_key(V1))["ETag"]
    writes = object_writes(world)
    for resume in (False, True):
        with pytest.raises(
            storage.VersionCompleteError, match=f"version {V1} already exists and is complete"
        ):
            upload_build(world.s3, BUCKET, write_build(tmp_path / "b", TREE_B), V1, resume=resume)
    # Only the claim's creation, sent beside the look for the manifest, and refused: the claim exists.
    assert set(writes) <= {layout.claim_key(V1)}
    assert world.s3.head_object(Bucket=BUCKET, Key=layout.claim_key(V1))["ETag"] == claim
    assert_exactly(world, V1, TREE_A)


def test_an_interrupted_upload_is_resumed_with_resume_and_a_stale_tree_is_removed(
    world: World, tmp_path: Path
) -> None:
    first_tree = {**TREE_A, "secret.txt": b"API_KEY=do-not-publish"}
    stopped = write_build(tmp_path / "first", first_tree)

    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, stopped, V1, before_seal=crash)
    assert f"{V1}/secret.txt" in keys(world, f"{V1}/") and not storage.is_complete(world.s3, BUCKET, V1)

    final = write_build(tmp_path / "final", TREE_A)
    with pytest.raises(storage.VersionClaimedError):
        upload_build(world.s3, BUCKET, final, V1)
    report = upload_build(world.s3, BUCKET, final, V1, resume=True)
    assert (report.skipped_files, report.sent_files, report.removed_objects) == (3, 0, 1)
    assert_exactly(world, V1, TREE_A)


def test_a_resume_elsewhere_takes_over_and_the_previous_owner_cannot_seal(
    world: World, tmp_path: Path
) -> None:
    build = write_build(tmp_path / "a", TREE_A)

    def resumed_meanwhile(_: storage.Claim) -> None:
        upload_build(world.s3, BUCKET, build, V1, resume=True)

    with pytest.raises(StoreError, match=f"version {V1} is no longer claimed by this upload"):
        upload_build(world.s3, BUCKET, build, V1, before_seal=resumed_meanwhile)
    assert_exactly(world, V1, TREE_A)


def test_the_previous_owner_finds_its_claim_taken(world: World, tmp_path: Path) -> None:
    build = write_build(tmp_path / "a", TREE_A)

    def taken_over(_: storage.Claim) -> None:
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)

    with pytest.raises(StoreError, match=f"version {V1} is no longer claimed by this upload"):
        upload_build(world.s3, BUCKET, build, V1, before_seal=taken_over)
    assert not storage.is_complete(world.s3, BUCKET, V1)


def test_a_lost_claim_names_who_holds_it_now(world: World) -> None:
    mine = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    theirs = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)
    with pytest.raises(storage.ClaimLostError) as taken:
        storage.check_claim(world.s3, BUCKET, mine)
    assert f"(now: upload {theirs.upload_id} on {theirs.host} (pid {theirs.pid}), started " in str(
        taken.value
    )

    world.s3.delete_object(Bucket=BUCKET, Key=layout.claim_key(V1))  # e.g. prune
    with pytest.raises(storage.ClaimLostError) as deleted:
        storage.check_claim(world.s3, BUCKET, mine)
    assert "(now: nobody (the claim was deleted, e.g. by prune)); " in str(deleted.value)


def test_a_claim_carries_its_etag_as_s3_conditions_want_it_unquoted(world: World) -> None:
    claim = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    read = storage.read_claim(world.s3, BUCKET, V1)
    assert read is not None and read.upload_id == claim.upload_id
    quoted = world.s3.head_object(Bucket=BUCKET, Key=layout.claim_key(V1))["ETag"]
    assert quoted.startswith('"') and read.etag == quoted[1:-1]


@pytest.mark.parametrize("body", [b"{not json", b'{"upload_id": "a1"}', b'{"pid": "x", "host": 1}'])
def test_an_unreadable_claim_still_holds_its_version_for_an_owner_nobody_can_name(
    world: World, body: bytes
) -> None:
    world.s3.put_object(Bucket=BUCKET, Key=layout.claim_key(V1), Body=body)
    claim = storage.read_claim(world.s3, BUCKET, V1)
    assert claim is not None
    assert claim.describe() == "upload unknown on unknown (pid 0), started unknown"
    assert claim.written == world.s3.head_object(Bucket=BUCKET, Key=layout.claim_key(V1))["LastModified"]
    with pytest.raises(
        storage.VersionClaimedError, match=r"already being uploaded by upload unknown on unknown"
    ):
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))


def test_a_claim_is_a_json_object_naming_its_upload(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import time

    # The start is recorded in UTC whatever the machine's zone.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        started = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
        claim = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1, started))
    finally:
        monkeypatch.undo()
        time.tzset()
    stored = world.s3.get_object(Bucket=BUCKET, Key=layout.claim_key(V1))
    assert stored["ContentType"] == "application/json"
    body = stored["Body"].read().decode()
    fields = {
        "host": claim.host,
        "pid": os.getpid(),
        "started": "2026-11-27T12:00:00+00:00",
        "upload_id": claim.upload_id,
        "version": V1,
    }
    assert body == json.dumps(fields)  # keys sorted: the same claim is the same bytes
    assert len(claim.upload_id) == 12 and int(claim.upload_id, 16) >= 0
    # Unquoted, as the conditions that take the claim over or delete it quote it again.
    assert claim.etag == stored["ETag"].strip('"') and '"' not in claim.etag


def test_complete_versions_lists_only_the_manifests_not_every_object(world: World) -> None:
    put_version(world, V1, {"index.html": b"1", "a.txt": b"a"})
    put_version(world, V2, {"index.html": b"2"}, complete=False)
    listings = world.sent("ListObjectsV2")
    assert storage.complete_versions(world.s3, BUCKET) == [V1]
    assert [(params.get("Prefix"), params.get("Delimiter")) for params in listings] == [("_manifests/", None)]


def test_a_claim_gone_between_refusal_and_read_is_named_another_upload(world: World) -> None:
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    world.once(
        "provide-client-params.s3.GetObject",
        lambda: world.s3.delete_object(Bucket=BUCKET, Key=layout.claim_key(V1)),
    )
    with pytest.raises(storage.VersionClaimedError) as refused:
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    assert str(refused.value) == (
        f"version {V1} is already being uploaded by another upload: pick another --version, or, if that "
        f"upload was interrupted and is no longer running, re-run with --resume --version {V1}"
    )


def test_a_resume_loses_to_a_resume_that_took_the_claim_first(world: World) -> None:
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    first = storage.new_claim(V1)
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: storage.claim_version(world.s3, BUCKET, first, resume=True),
        when=lambda params: "IfMatch" in params,  # the takeover, after the claim was read
    )
    with pytest.raises(storage.VersionClaimedError) as refused:
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)
    assert str(refused.value) == f"another upload took over version {V1} meanwhile; not resuming"
    current = storage.read_claim(world.s3, BUCKET, V1)
    assert current is not None and current.upload_id == first.upload_id


def test_a_resume_of_a_version_completed_meanwhile_is_refused(world: World) -> None:
    owner = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: _write_manifest(world, owner, _manifest_of(world, V1, TREE_A)),
    )
    with pytest.raises(storage.VersionCompleteError) as refused:
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)
    assert str(refused.value) == f"version {V1} was completed by {owner.describe()}; versions are immutable"


def _manifest_of(world: World, version: str, tree: dict[str, bytes]) -> layout.Manifest:
    """`tree` stored under `version` (no manifest), and the manifest that describes it."""
    files = {}
    for path, body in tree.items():
        sha256 = hashlib.sha256(body).hexdigest()
        etag = world.s3.put_object(
            Bucket=BUCKET,
            Key=layout.object_key(version, path),
            Body=body,
            ContentType="text/html",
            CacheControl="no-cache",
            Metadata={layout.SHA256_METADATA_KEY: sha256, layout.VERSION_METADATA_KEY: version},
        )["ETag"]
        files[path] = layout.ManifestFile(len(body), sha256, "text/html", "no-cache", etag.strip('"'))
    return layout.Manifest(version=version, created="2026-11-27T12:00:00+00:00", files=files)


def _write_manifest(world: World, claim: storage.Claim, manifest: layout.Manifest) -> None:
    body = manifest.to_json().encode()
    storage.write_manifest(world.s3, BUCKET, claim, manifest, body, {"ContentType": "application/json"})


@pytest.mark.parametrize(
    "meanwhile",
    ["an object appeared", "an object changed", "the claim was taken over", "the claim was deleted"],
)
def test_a_manifest_that_landed_after_the_version_changed_is_withdrawn_and_says_why(
    world: World, meanwhile: str
) -> None:
    """What happened between the last check and the manifest landing is the reason given; only the
    manifest this upload wrote is deleted (If-Match its ETag)."""
    mine = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    manifest = _manifest_of(world, V1, TREE_A)
    if meanwhile == "an object appeared":
        world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/late.txt", Body=b"late")
        why = f"{V1}/late.txt appeared"
    elif meanwhile == "an object changed":
        world.s3.put_object(Bucket=BUCKET, Key=layout.object_key(V1, "a.txt"), Body=b"other")
        why = "a.txt has 5 bytes, not 9"
    elif meanwhile == "the claim was taken over":
        other = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)
        why = f"the claim is now {other.describe()}"
    else:
        world.s3.delete_object(Bucket=BUCKET, Key=layout.claim_key(V1))
        why = "the claim is now deleted"
    written: list[str] = []

    def manifest_etag(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        written.append(parsed["ETag"])

    world.s3.meta.events.register("after-call.s3.PutObject", manifest_etag)
    deletes = world.sent("DeleteObject")
    with pytest.raises(StoreError) as withdrawn:
        _write_manifest(world, mine, manifest)
    assert str(withdrawn.value) == (
        f"version {V1} changed while its manifest was being written ({why}); the manifest was withdrawn "
        f"and the version is incomplete: re-run with --resume --version {V1} once no other upload of it runs"
    )
    assert not storage.is_complete(world.s3, BUCKET, V1)
    assert [(d["Key"], d["IfMatch"]) for d in deletes] == [(layout.manifest_key(V1), written[0])]


def test_a_manifest_that_finds_one_already_written_says_the_version_was_completed(world: World) -> None:
    mine = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    manifest = _manifest_of(world, V1, TREE_A)
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
    with pytest.raises(storage.VersionCompleteError) as completed:
        _write_manifest(world, mine, manifest)
    assert str(completed.value) == f"version {V1} was completed by another upload meanwhile"


def test_a_manifest_whose_claim_the_same_build_took_over_meanwhile_stays(world: World) -> None:
    """Two uploads of one build: the second takes the claim over (no --resume) after the first's last
    check, before its manifest lands. The manifest still proves the stored objects (the new owner's
    build is this one): it stays, and the second's seal is told, truly, that the version is complete.
    Another build's claim (`build_digest`) still gets it withdrawn (the test above)."""
    manifest = _manifest_of(world, V1, TREE_A)
    digest = manifest.files_digest()
    mine = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1, build_digest=digest))
    second = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1, build_digest=digest))
    assert second.taken_over == mine.describe()
    _write_manifest(world, mine, manifest)
    assert storage.verify_version(world.s3, BUCKET, V1) == []
    with pytest.raises(storage.VersionCompleteError, match="completed by another upload meanwhile"):
        storage.seal_version(world.s3, BUCKET, second, manifest)
    assert storage.verify_version(world.s3, BUCKET, V1) == []


def test_a_running_upload_rereads_its_claim_at_most_once_per_interval(world: World) -> None:
    clock = [100.0]
    mine = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    watch = storage.ClaimWatch(world.s3, BUCKET, mine, clock=lambda: clock[0], interval=1.0)
    counts = world.count_requests()
    reads = []
    for now in (100.0, 100.5, 100.999, 101.0, 101.5, 101.999, 102.0):
        clock[0] = now
        watch.before_write()
        reads.append(counts.get("GetObject", 0))
    assert reads == [0, 0, 0, 1, 1, 1, 2]
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)
    clock[0] = 102.5
    watch.before_write()  # within the interval: the takeover is not seen yet
    clock[0] = 103.0
    with pytest.raises(storage.ClaimLostError):
        watch.before_write()


def test_a_manifest_written_while_nothing_changed_stays(world: World) -> None:
    mine = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    _write_manifest(world, mine, _manifest_of(world, V1, TREE_A))
    assert storage.is_complete(world.s3, BUCKET, V1)
    assert storage.verify_version(world.s3, BUCKET, V1) == []


# --- 2. seal only what is verified ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("also_delete", "more"),
    [(False, ""), (True, " (and 1 more)")],
    ids=["one foreign write", "several: the first named, the rest counted"],
)
def test_an_object_changed_by_another_writer_stops_the_seal(
    world: World, tmp_path: Path, also_delete: bool, more: str
) -> None:
    def foreign_writes(_: storage.Claim) -> None:
        world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/a.txt", Body=b"only in B")  # same size, other bytes
        if also_delete:
            world.s3.delete_object(Bucket=BUCKET, Key=f"{V1}/shared.css")

    with pytest.raises(StoreError) as stopped:
        upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1, before_seal=foreign_writes)
    # A single-part object's ETag is the MD5 of its bytes.
    found, built = hashlib.md5(b"only in B").hexdigest(), hashlib.md5(b"only in A").hexdigest()
    assert str(stopped.value) == (
        f"version {V1} was not sealed: a.txt has other content (ETag {found}, not {built}){more}; "
        f"did another process write to it? re-run with --resume --version {V1}"
    )
    assert not storage.is_complete(world.s3, BUCKET, V1)


def test_a_donor_whose_object_differs_from_its_manifest_is_not_copied(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    world.s3.put_object(
        Bucket=BUCKET, Key=f"{V1}/shared.css", Body=b"evil{}"
    )  # same size, manifest unchanged
    report = upload_build(world.s3, BUCKET, write_build(tmp_path / "a2", TREE_A), V2)
    assert report.copied_files == 2 and report.sent_files == 1
    assert_exactly(world, V2, TREE_A)
    assert storage.verify_version(world.s3, BUCKET, V1) == [
        "shared.css has other content "
        "(ETag 7e844272c37dee1efba76885e050084c, not aa676972bbd2b68e94ef8e91e81d20be)"
    ]


def test_a_file_changed_after_the_scan_is_caught(world: World, tmp_path: Path) -> None:
    build = write_build(tmp_path / "a", TREE_A)

    def edit(_: storage.Claim) -> None:
        (build / "a.txt").write_bytes(b"only in Z")  # same size

    with pytest.raises(SitectlError, match="a.txt changed while it was being uploaded"):
        upload_build(world.s3, BUCKET, build, V1, after_claim=edit, workers=1)
    assert not storage.is_complete(world.s3, BUCKET, V1)


def test_a_streamed_file_changed_after_the_scan_is_caught(world: World, tmp_path: Path) -> None:
    size = 12 * 1024 * 1024  # streamed: above PART_SIZE, below the multipart threshold
    build = write_build(tmp_path / "a", {"video.mp4": b"a" * size})

    def edit(_: storage.Claim) -> None:
        (build / "video.mp4").write_bytes(b"a" * (size - 1) + b"b")

    with pytest.raises(SitectlError, match="video.mp4 changed while it was being uploaded"):
        upload_build(world.s3, BUCKET, build, V1, after_claim=edit)
    assert not storage.is_complete(world.s3, BUCKET, V1)


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    """Multipart above 1 kB, in parts of 512 bytes (moto's minimum part size lowered to match)."""
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    monkeypatch.setattr(build_module, "MULTIPART_THRESHOLD", 1024)
    monkeypatch.setattr(build_module, "PART_SIZE", 512)
    monkeypatch.setattr(transfer, "PART_SIZE", 512)
    return 512


def test_multipart_files_are_sealed_by_their_multipart_etag(
    world: World, tmp_path: Path, small_parts: int
) -> None:
    tree = {"big.bin": bytes(range(256)) * 10, "small.txt": b"s"}  # 2,560 bytes: 5 parts
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", tree), V1)
    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None and manifest.files["big.bin"].etag.endswith("-5")
    assert_exactly(world, V1, tree)
    head = world.s3.head_object(Bucket=BUCKET, Key=f"{V1}/big.bin")
    assert head["Metadata"] == {"site-version": V1, "sha256": manifest.files["big.bin"].sha256}


def test_a_multipart_file_changed_during_the_upload_never_becomes_an_object(
    world: World, tmp_path: Path, small_parts: int
) -> None:
    build = write_build(tmp_path / "a", {"big.bin": b"a" * 2560})

    def edit(_: storage.Claim) -> None:
        (build / "big.bin").write_bytes(b"b" * 2560)

    with pytest.raises(SitectlError, match="big.bin changed while it was being uploaded"):
        upload_build(world.s3, BUCKET, build, V1, after_claim=edit)
    assert keys(world, f"{V1}/") == []
    assert world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_file_of_exactly_one_part_is_read_whole_and_one_byte_more_is_streamed(
    world: World, tmp_path: Path, small_parts: int
) -> None:
    tree = {"whole.bin": b"w" * small_parts, "streamed.bin": b"s" * (small_parts + 1)}
    puts = world.sent("PutObject")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", tree), V1)
    bodies = {params["Key"].removeprefix(f"{V1}/"): type(params["Body"]).__name__ for params in puts}
    assert (bodies["whole.bin"], bodies["streamed.bin"]) == ("bytes", "HashingReader")
    assert_exactly(world, V1, tree)


def test_a_single_part_upload_streams_the_file(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 12 * 1024 * 1024  # above PART_SIZE (8 MiB), below the multipart threshold
    build = write_build(tmp_path / "a", {"video.mp4": b"v" * size})
    reads: list[int] = []
    read = transfer.HashingReader.read

    def recorded(self: transfer.HashingReader, amount: int = -1) -> bytes:
        data = read(self, amount)
        reads.append(len(data))
        return data

    monkeypatch.setattr(transfer.HashingReader, "read", recorded)
    upload_build(world.s3, BUCKET, build, V1, workers=1)
    # botocore pulls the body in pieces as it sends it: the file is never held whole.
    assert sum(reads) == size and max(reads) == 1024 * 1024
    assert storage.verify_version(world.s3, BUCKET, V1) == []


# --- 3. prune cannot race an upload ------------------------------------------------------------


def test_prune_during_a_resumed_upload_keeps_it(world: World, tmp_path: Path) -> None:
    old, newer = "20261020T100000Z", V1
    upload_build(world.s3, BUCKET, write_build(tmp_path / "n", TREE_B), newer)
    world.set_live(newer)
    build = write_build(tmp_path / "a", TREE_A)

    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, build, old, before_seal=crash)
    backdate(world, "", hours=48)  # interrupted two days ago, claim and all
    results = []

    def prune_now(_: storage.Claim) -> None:
        args = list(PRUNE_EVERYTHING)
        results.append(world.invoke(*args))

    upload_build(world.s3, BUCKET, build, old, resume=True, before_seal=prune_now)
    assert results[0].exit_code == 0, results[0].output
    assert "incomplete, written to within 24 h" in results[0].output
    assert_exactly(world, old, TREE_A)


def test_prune_deletes_a_stale_incomplete_version_and_its_claim(world: World, tmp_path: Path) -> None:
    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1, before_seal=crash)
    from datetime import timedelta

    now = storage.utc_now()
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now) is None  # claimed a moment ago
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now + timedelta(hours=23)) is None
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now + timedelta(hours=24, seconds=1)) == 4
    assert keys(world) == []


def test_prune_never_deletes_a_version_sealed_after_its_plan(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    from datetime import timedelta

    assert storage.delete_stale_version(world.s3, BUCKET, V1, storage.utc_now() + timedelta(days=9)) is None
    assert_exactly(world, V1, TREE_A)


def test_a_version_being_pruned_cannot_be_resumed(world: World) -> None:
    pruning = storage.new_claim(V1)
    storage.claim_version(
        world.s3, BUCKET, pruning.__class__(**{**pruning.__dict__, "upload_id": "prune-1234"})
    )
    with pytest.raises(storage.VersionClaimedError, match="is being deleted by prune"):
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)


def test_prune_keep_0_dry_run_is_what_apply_does(world: World, tmp_path: Path) -> None:
    versions = ["20261101T100000Z", "20261102T100000Z", "20261103T100000Z", "20261104T100000Z"]
    for i, version in enumerate(versions):
        upload_build(
            world.s3, BUCKET, write_build(tmp_path / str(i), {**TREE_A, "n.txt": str(i).encode()}), version
        )
    world.set_live(versions[1])
    args = [
        "--bucket",
        BUCKET,
        "--parameter",
        PARAMETER,
        "prune",
        "--keep",
        "0",
        "--skip-stack-check",
        "--json",
    ]
    dry = world.invoke(*args)
    import json

    plan = json.loads(dry.stdout)
    assert plan["delete"] == []  # V2 live, V1 just before it, V3 and V4 newer than live
    assert plan["keep"] == {
        versions[3]: "newer than the live version",
        versions[2]: "newer than the live version",
        versions[1]: "live",
        versions[0]: "the version before the live one",
    }


# --- 9. one store: every complete version is exactly its manifest ------------------------------


def test_every_complete_version_in_the_bucket_equals_its_manifest(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "1", "v1"), "20261101T100000Z")
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "2", "v2"), "20261102T100000Z")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "3", TREE_B), "20261103T100000Z")
    assert storage.verify_versions(world.s3, BUCKET) == {
        "20261103T100000Z": [],
        "20261102T100000Z": [],
        "20261101T100000Z": [],
    }
    world.s3.put_object(Bucket=BUCKET, Key="20261103T100000Z/extra.txt", Body=b"x")
    world.s3.delete_object(Bucket=BUCKET, Key="20261102T100000Z/robots.txt")
    world.s3.put_object(Bucket=BUCKET, Key="20261101T100000Z/index.html", Body=b"<html>changed</html>")
    assert storage.verify_versions(world.s3, BUCKET) == {
        "20261103T100000Z": ["20261103T100000Z/extra.txt is not in the manifest"],
        "20261102T100000Z": ["robots.txt is missing"],
        "20261101T100000Z": ["index.html has 20 bytes, not 33"],
    }


def test_versions_verify_on_the_command_line(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    upload_build(world.s3, BUCKET, write_build(tmp_path / "b", TREE_B), V2)
    result = world.invoke("--bucket", BUCKET, "versions", "--verify")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{V2}: equals its manifest (3 files)\n{V1}: equals its manifest (3 files)\n"
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/leak.txt", Body=b"x")
    for args in (["--verify", "--version", V1], ["--version", V1, "--verify"], ["--verify", V1]):
        result = world.invoke("--bucket", BUCKET, "versions", *args)  # the last: the older spelling
        assert result.exit_code == 1, args
        assert result.stdout == f"{V1}: {V1}/leak.txt is not in the manifest\n"
        assert result.stderr == (
            "Error: 1 of 1 versions differ from their manifests: do not release them; upload the build again "
            "as a new version\n"
        )
    assert world.invoke("--bucket", BUCKET, "versions", "--verify", "--version", V2).exit_code == 0


def test_versions_verify_json_is_one_document(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    upload_build(world.s3, BUCKET, write_build(tmp_path / "b", TREE_B), V2)
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/leak.txt", Body=b"x")
    result = world.invoke("--bucket", BUCKET, "versions", "--verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "bucket": BUCKET,
        "ok": False,
        "versions": [
            {"version": V2, "ok": True, "files": 3, "problems": []},
            {
                "version": V1,
                "ok": False,
                "files": None,
                "problems": [f"{V1}/leak.txt is not in the manifest"],
            },
        ],
    }
    assert result.stderr.startswith("Error: 1 of 2 versions differ from their manifests")
    result = world.invoke("--bucket", BUCKET, "versions", "--verify", "--version", V2, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["versions"] == [{"version": V2, "ok": True, "files": 3, "problems": []}]


def test_versions_verify_refuses_a_version_that_is_not_complete_with_did_you_mean(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    mistyped = V1.replace("1101", "1110")
    result = world.invoke("--bucket", BUCKET, "versions", "--verify", "--version", mistyped)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: version {mistyped} has no manifest in {BUCKET}: only complete versions can be verified; "
        f"did you mean {V1}?\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--verify", "nope"], "--verify 'nope' is not a valid version id"),
        (["--verify", "--version", "nope"], "--version 'nope' is not a valid version id"),
        (["--verify", V1, "--version", V2], f"two versions given (--version {V2}, --verify {V1}): pass one"),
        (["--version", V1], f"--version goes with --verify: `sitectl versions --verify --version {V1}`"),
    ],
)
def test_versions_verify_refuses_bad_version_arguments_before_reading(
    world: World, args: list[str], message: str
) -> None:
    result = world.invoke("--bucket", BUCKET, "versions", *args)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {message}"), result.output


# --- 7. one-line errors ------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", ["Bad_Bucket!", "a" * 64])
def test_an_invalid_bucket_name_is_exit_2(world: World, tmp_path: Path, bucket: str) -> None:
    build = write_build(tmp_path / "a", TREE_A)
    for args in (["upload", str(build)], ["versions"], ["versions", "--verify"]):
        result = world.invoke("--bucket", bucket, *args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"Error: invalid bucket name {bucket!r}: S3 bucket names are 3-63")
        assert len(result.output.strip().splitlines()) == 1


def test_a_corrupt_manifest_is_one_line_with_the_fix(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=b'{"format": 1, "version": ')
    result = world.invoke("--bucket", BUCKET, "versions")
    # Named in one line; the listing goes on (the version is complete, its files unknown).
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        f"warning: manifest {layout.manifest_key(V1)} in {BUCKET} is unreadable ("
    )
    assert "delete the manifest (it becomes incomplete) and upload the build again" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout.splitlines()[1].split()[:3] == [V1, "complete", "-"]


def test_progress_lines_without_a_terminal_every_few_seconds() -> None:
    from scripts.commands.upload import ProgressLines
    from tests.clock import ManualClock

    clock, lines = ManualClock(), list[str]()
    progress = ProgressLines(10_000_000, lines.append, clock)
    for _ in range(10):
        progress(1_000_000)
        clock.advance(2)
    # Calls at 0, 2, 4, ... 18 s: a line once 5 s have passed since the last one (6, 12, 18 s).
    assert lines == [
        "uploaded 4.0 MB of 10.0 MB, about 9 s left",
        "uploaded 7.0 MB of 10.0 MB, about 5 s left",
        "uploaded 10.0 MB of 10.0 MB",
    ]


def test_upload_prints_progress_lines_in_ci_logs(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.commands import upload as upload_module

    monkeypatch.setattr(upload_module, "PROGRESS_LINE_SECONDS", 0.0)
    result = world.invoke(
        "--bucket", BUCKET, "upload", str(write_build(tmp_path / "a", TREE_A)), "--version", V1
    )
    assert result.exit_code == 0, result.output
    assert "uploaded 0.0 MB of 0.0 MB" in result.output


def test_a_version_id_with_a_trailing_newline_is_refused(world: World, tmp_path: Path) -> None:
    assert not layout.is_valid_version(f"{V1}\n")
    result = world.invoke(
        "--bucket", BUCKET, "upload", str(write_build(tmp_path / "a", TREE_A)), "--version", f"{V1}\n"
    )
    assert result.exit_code == 2 and "is not a valid version id" in result.output
    assert keys(world) == []


def test_manifests_without_etags_are_verified_by_the_objects_sha256_metadata(world: World) -> None:
    import hashlib

    body = b"<html>old</html>"
    digest = hashlib.sha256(body).hexdigest()
    headers: Any = {"CacheControl": "no-cache", "Metadata": {"site-version": V1}}
    world.s3.put_object(
        Bucket=BUCKET,
        Key=f"{V1}/index.html",
        Body=body,
        ContentType="text/html",
        **{**headers, "Metadata": {"sha256": digest, "site-version": V1}},
    )
    # Written before the sha256 metadata existed.
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/old.txt", Body=b"x", ContentType="text/plain", **headers)
    entries = {
        "index.html": layout.ManifestFile(len(body), digest, "text/html", "no-cache"),
        "old.txt": layout.ManifestFile(1, hashlib.sha256(b"x").hexdigest(), "text/plain", "no-cache"),
    }
    manifest = layout.Manifest(version=V1, created="2026-11-01T10:00:00+00:00", files=entries)
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
    assert storage.verify_version(world.s3, BUCKET, V1) == [
        f"old.txt has sha256 metadata none, the manifest says {hashlib.sha256(b'x').hexdigest()}"
    ]


def test_prune_dry_run_names_exactly_what_apply_deletes(world: World, tmp_path: Path) -> None:
    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    for version in ("20261020T100000Z", "20261021T100000Z"):
        with pytest.raises(KeyboardInterrupt):
            upload_build(
                world.s3, BUCKET, write_build(tmp_path / version, TREE_A), version, before_seal=crash
            )
    backdate(world, "", hours=30)  # both interrupted 30 h ago
    with pytest.raises(KeyboardInterrupt):  # interrupted a moment ago
        upload_build(
            world.s3, BUCKET, write_build(tmp_path / "fresh", TREE_B), "20261022T100000Z", before_seal=crash
        )
    for version in (V1, V2):
        upload_build(world.s3, BUCKET, write_build(tmp_path / version, TREE_B), version)
    world.set_live(V2)
    args = [
        "--bucket",
        BUCKET,
        "--parameter",
        PARAMETER,
        "prune",
        "--keep",
        "1",
        "--skip-stack-check",
        "--json",
    ]
    import json

    dry = json.loads(world.invoke(*args).stdout)
    assert dry["delete"] == ["20261021T100000Z", "20261020T100000Z"]
    assert (
        dry["keep"]["20261022T100000Z"] == "incomplete, written to within 24 h: may be an upload in progress"
    )
    applied = json.loads(world.invoke(*args, "--apply").stdout)
    assert applied["delete"] == dry["delete"]
    assert storage.prefix_versions(world.s3, BUCKET) == [V2, V1, "20261022T100000Z"]
    assert keys(world, "_claims/") == [layout.claim_key(v) for v in ("20261022T100000Z", V1, V2)]


def _crash(_: storage.Claim) -> None:
    raise KeyboardInterrupt


def test_rerunning_an_interrupted_upload_of_the_same_build_takes_over_by_itself(
    world: World, tmp_path: Path
) -> None:
    """A CI job re-run after a cancelled one: the same command, the same bytes, no --resume."""
    build = write_build(tmp_path / "a", TREE_A)
    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, build, V1, before_seal=_crash)
    first = storage.read_claim(world.s3, BUCKET, V1)
    assert first is not None and len(first.build_digest) == 64
    other = world.invoke(
        "--bucket", BUCKET, "upload", str(write_build(tmp_path / "b", TREE_B)), "--version", V1
    )
    assert other.exit_code == 2 and f"re-run with --resume --version {V1}" in other.output  # another tree
    again = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert again.exit_code == 0, again.output
    assert f"took over the claim of {first.describe()}: the same build" in again.stderr
    assert "3 files (29 bytes): 0 sent" in again.stderr and "3 already stored" in again.stderr
    assert again.stdout == f"{V1}\n"
    assert_exactly(world, V1, TREE_A)


def test_the_same_build_still_running_can_no_longer_seal(world: World, tmp_path: Path) -> None:
    """The first run was not dead after all: once the second took its claim, its seal is refused and
    it leaves the version, completed by the second, untouched."""
    build = write_build(tmp_path / "a", TREE_A)
    second: list[str] = []

    def second_run_meanwhile(_: storage.Claim) -> None:
        second.append(upload_build(world.s3, BUCKET, build, V1).took_over)

    with pytest.raises(StoreError, match=f"version {V1} is no longer claimed by this upload"):
        upload_build(world.s3, BUCKET, build, V1, before_seal=second_run_meanwhile)
    assert second[0].startswith("upload ")
    assert storage.is_complete(world.s3, BUCKET, V1)
    assert_exactly(world, V1, TREE_A)


def test_a_takeover_during_the_seals_listing_leaves_the_strays_to_the_new_owner(
    world: World, tmp_path: Path
) -> None:
    build = write_build(tmp_path / "a", TREE_A)
    stray = layout.object_key(V1, "old.txt")

    def stray_then_takeover(claim: storage.Claim) -> None:
        world.s3.put_object(Bucket=BUCKET, Key=stray, Body=b"left by an earlier attempt")
        taker = storage.new_claim(V1, build_digest=claim.build_digest)
        world.once(
            "provide-client-params.s3.ListObjectsV2",
            lambda: storage.claim_version(world.s3, BUCKET, taker),
            when=lambda params: params.get("Prefix") == f"{V1}/",
        )

    with pytest.raises(StoreError, match="no longer claimed by this upload"):
        upload_build(world.s3, BUCKET, build, V1, before_seal=stray_then_takeover)
    assert stray in keys(world, f"{V1}/")
    assert not storage.is_complete(world.s3, BUCKET, V1)


def test_resume_on_the_command_line(world: World, tmp_path: Path) -> None:
    build = write_build(tmp_path / "a", TREE_A)
    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, build, V1, before_seal=_crash)
    # A claim written before claims recorded their build: nobody can tell it is the same build.
    old = storage.read_claim(world.s3, BUCKET, V1)
    assert old is not None
    world.s3.put_object(
        Bucket=BUCKET, Key=layout.claim_key(V1), Body=replace(old, build_digest="").to_json().encode()
    )
    again = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert again.exit_code == 2 and f"re-run with --resume --version {V1}" in again.output
    resumed = world.invoke("--bucket", BUCKET, "upload", str(build), "--resume", "--version", V1)
    assert resumed.exit_code == 0, resumed.output
    assert (
        "3 files (29 bytes): 0 sent" in resumed.output
        and "3 already stored" in resumed.output
        and resumed.stdout.splitlines()[-1] == V1
    )
    assert_exactly(world, V1, TREE_A)
    without_id = world.invoke("--bucket", BUCKET, "upload", str(build), "--resume")
    assert without_id.exit_code == 2 and "--resume needs --version" in without_id.output


# --- the store's answers, one function at a time ------------------------------------------------


class RefusingDeletes:
    """A client whose DeleteObjects answers with per-key errors (e.g. AccessDenied under a policy)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        self.requests: list[dict[str, Any]] = []

    def delete_objects(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        return {"Errors": self.errors}


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        (
            [
                {"Key": "v/a.txt", "Code": "AccessDenied", "Message": "Access Denied"},
                {"Key": "v/b.txt", "Code": "InternalError", "Message": "Try again"},
            ],
            "could not delete 2 of 3 objects, e.g. v/a.txt: AccessDenied Access Denied",
        ),
        (
            [{"Key": "v/b.txt", "Code": "InternalError"}],
            "could not delete 1 of 3 objects, e.g. v/b.txt: InternalError",
        ),
    ],
)
def test_keys_s3_does_not_delete_are_one_error_naming_the_first(
    errors: list[dict[str, str]], message: str
) -> None:
    s3 = RefusingDeletes(errors)
    with pytest.raises(StoreError) as raised:
        storage.delete_keys(cast(Any, s3), BUCKET, ["v/a.txt", "v/b.txt", "v/c.txt"])
    assert str(raised.value) == message
    objects = [{"Key": "v/a.txt"}, {"Key": "v/b.txt"}, {"Key": "v/c.txt"}]
    assert s3.requests == [{"Bucket": BUCKET, "Delete": {"Objects": objects, "Quiet": True}}]


def test_a_version_is_deleted_manifest_first_then_in_batches_then_its_claim(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "DELETE_BATCH_SIZE", 2)
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    put_version(world, V1, {f"{n}.txt": b"x" for n in range(5)})
    calls: list[tuple[str, object]] = []

    def one(params: dict[str, Any], **_: Any) -> None:
        calls.append(("DeleteObject", params["Key"]))

    def batch(params: dict[str, Any], **_: Any) -> None:
        calls.append(("DeleteObjects", len(params["Delete"]["Objects"])))

    world.s3.meta.events.register("provide-client-params.s3.DeleteObject", one)
    world.s3.meta.events.register("provide-client-params.s3.DeleteObjects", batch)
    assert storage.delete_version(world.s3, BUCKET, V1) == 7  # manifest, 5 files, claim
    assert calls == [
        ("DeleteObject", layout.manifest_key(V1)),
        ("DeleteObjects", 2),
        ("DeleteObjects", 2),
        ("DeleteObjects", 1),
        ("DeleteObject", layout.claim_key(V1)),
    ]
    assert keys(world) == []


def test_a_version_has_objects_only_under_its_own_prefix(world: World) -> None:
    put_version(world, V1, {"a.txt": b"a"}, complete=False)
    assert storage.version_objects_exist(world.s3, BUCKET, V1)
    assert not storage.version_objects_exist(world.s3, BUCKET, V2)


class DatedListing:
    """A client whose ListObjectsV2 answers with the given response metadata."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.requests: list[dict[str, Any]] = []

    def list_objects_v2(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        return {"KeyCount": 0, "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": self.headers}}


def test_ages_are_measured_by_s3s_clock_else_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr(storage, "utc_now", lambda: machine)
    s3 = DatedListing({"date": "Thu, 01 Jan 2026 10:00:05 GMT"})
    now = storage.server_now(cast(Any, s3), BUCKET)
    assert now == datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC) and now.tzinfo is UTC
    assert s3.requests == [{"Bucket": BUCKET, "Prefix": "_claims/", "MaxKeys": 1}]
    assert storage.server_now(cast(Any, DatedListing({})), BUCKET) == machine


@pytest.mark.parametrize("bucket", ["site..bucket", "192.168.10.20"])
def test_bucket_names_s3_forbids_despite_their_characters(bucket: str) -> None:
    with pytest.raises(StoreRefusedError) as raised:
        storage.check_bucket_name(bucket)
    assert str(raised.value) == (
        f"invalid bucket name {bucket!r}: S3 bucket names are 3-63 lowercase letters, digits, dots and "
        "hyphens; check --bucket / SITE_BUCKET or the stack's bucketName output"
    )
    assert storage.check_bucket_name("site.bucket-1") == "site.bucket-1"


def test_default_ids_carry_the_git_sha_and_move_on_by_a_second_until_the_attempts_run_out(
    world: World,
) -> None:
    first = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
    claims = [storage.claim_new_version(world.s3, BUCKET, first, git_sha="abc1234") for _ in range(2)]
    assert [(c.version, c.started) for c in claims] == [
        ("20261127T101500Z-abc1234", "2026-11-27T10:15:00+00:00"),
        ("20261127T101501Z-abc1234", "2026-11-27T10:15:00+00:00"),
    ]
    with pytest.raises(StoreRefusedError) as raised:
        storage.claim_new_version(world.s3, BUCKET, first, attempts=2, git_sha="abc1234")
    assert str(raised.value) == "the 2 version ids from 20261127T101500Z on are all taken; pass --version"


def test_an_incomplete_version_is_stale_exactly_24_hours_after_its_claim(world: World) -> None:
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    put_version(world, V1, {"a.txt": b"a"}, complete=False)
    claim = storage.read_claim(world.s3, BUCKET, V1)
    assert claim is not None and claim.written is not None
    almost, stale = claim.written + timedelta(hours=24, microseconds=-1), claim.written + timedelta(hours=24)
    assert not storage.is_stale(world.s3, BUCKET, V1, almost)
    assert storage.is_stale(world.s3, BUCKET, V1, stale)
    assert storage.delete_stale_version(world.s3, BUCKET, V1, almost) is None
    assert storage.delete_stale_version(world.s3, BUCKET, V1, stale) == 2  # a.txt and the claim
    assert keys(world) == []
    put_version(world, V2, {"a.txt": b"a"})
    assert not storage.is_stale(world.s3, BUCKET, V2, stale + timedelta(days=9))  # complete


def test_a_version_resumed_a_moment_ago_is_not_stale_however_old_its_objects(world: World) -> None:
    put_version(world, V1, {"a.txt": b"a"}, complete=False)
    backdate(world, f"{V1}/", 48)
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    now = storage.utc_now() + timedelta(hours=1)
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now) is None
    assert keys(world, f"{V1}/") == [f"{V1}/a.txt"]


def test_an_unclaimed_version_was_last_written_when_its_newest_object_was(world: World) -> None:
    put_version(world, V1, {"a-new.txt": b"a", "b-old.txt": b"b"}, complete=False)
    backdate(world, f"{V1}/b-old.txt", 30)
    newest = world.s3.head_object(Bucket=BUCKET, Key=f"{V1}/a-new.txt")["LastModified"]
    assert storage.last_write(world.s3, BUCKET, V1) == newest
    assert storage.last_write(world.s3, BUCKET, V2) is None
    now = newest + timedelta(hours=23)
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now) is None
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now + timedelta(hours=1)) == 3


def test_prune_holds_the_version_while_it_deletes_and_no_resume_takes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    put_version(world, V1, {"a.txt": b"a"}, complete=False)
    now = storage.utc_now() + timedelta(days=2)
    during: list[tuple[str, str, str]] = []
    delete_keys = storage.delete_keys

    def resume_meanwhile(s3: Any, bucket: str, doomed: list[str]) -> int:
        held = storage.read_claim(s3, bucket, V1)
        assert held is not None
        try:
            storage.claim_version(s3, bucket, storage.new_claim(V1), resume=True)
            refusal = "resumed"
        except storage.VersionClaimedError as error:
            refusal = str(error)
        during.append((held.upload_id[:6], held.started, refusal))
        return delete_keys(s3, bucket, doomed)

    monkeypatch.setattr(storage, "delete_keys", resume_meanwhile)
    assert storage.delete_stale_version(world.s3, BUCKET, V1, now) == 2
    [(prefix, started, refusal)] = during
    assert (prefix, started) == ("prune-", now.isoformat(timespec="seconds"))
    assert refusal.startswith(f"version {V1} is being deleted by prune (upload prune-")
    assert keys(world) == []


@pytest.mark.parametrize("claimed", [True, False])
def test_prune_leaves_a_version_whose_claim_changed_after_it_was_read(
    world: World, monkeypatch: pytest.MonkeyPatch, claimed: bool
) -> None:
    if claimed:
        storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    put_version(world, V1, {"a.txt": b"a"}, complete=False)
    new_claim = storage.new_claim
    resumer = new_claim(V1)

    def resumed_meanwhile(version: str, now: datetime | None = None) -> storage.Claim:
        world.s3.put_object(Bucket=BUCKET, Key=layout.claim_key(V1), Body=resumer.to_json().encode())
        return new_claim(version, now)

    monkeypatch.setattr(storage, "new_claim", resumed_meanwhile)
    assert storage.delete_stale_version(world.s3, BUCKET, V1, storage.utc_now() + timedelta(days=2)) is None
    held = storage.read_claim(world.s3, BUCKET, V1)
    assert held is not None and held.upload_id == resumer.upload_id
    assert keys(world, f"{V1}/") == [f"{V1}/a.txt"]


def test_a_refused_write_is_settled_by_what_the_key_holds(world: World) -> None:
    import hashlib

    claim = storage.claim_version(world.s3, BUCKET, storage.new_claim(V1))
    key = f"{V1}/a.txt"
    world.s3.put_object(Bucket=BUCKET, Key=key, Body=b"mine")
    etag = hashlib.md5(b"mine", usedforsecurity=False).hexdigest()
    assert storage.settle_refused_write(world.s3, BUCKET, claim, key, etag) is None  # it landed
    other = hashlib.md5(b"other", usedforsecurity=False).hexdigest()
    assert storage.settle_refused_write(world.s3, BUCKET, claim, key, other) == {"IfMatch": f'"{etag}"'}
    assert storage.settle_refused_write(world.s3, BUCKET, claim, f"{V1}/b.txt", other) == {"IfNoneMatch": "*"}
    storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True)
    with pytest.raises(storage.ClaimLostError):
        storage.settle_refused_write(world.s3, BUCKET, claim, key, other)


def test_verify_checks_old_entries_by_metadata_and_reports_missing_ones_whatever_their_names(
    world: World,
) -> None:
    import hashlib

    def entry(body: bytes, etag: str = "") -> layout.ManifestFile:
        return layout.ManifestFile(
            len(body), hashlib.sha256(body).hexdigest(), "text/plain", "no-cache", etag
        )

    headers: Any = {"ContentType": "text/plain", "CacheControl": "no-cache"}
    stamp = {layout.VERSION_METADATA_KEY: V1}
    a_sha256 = hashlib.sha256(b"a").hexdigest()
    world.s3.put_object(
        Bucket=BUCKET, Key=f"{V1}/a.txt", Body=b"a", **headers, Metadata={**stamp, "sha256": a_sha256}
    )
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/b.txt", Body=b"b", **headers, Metadata=stamp)  # no sha256
    files = {
        "a.txt": entry(b"a", hashlib.md5(b"a", usedforsecurity=False).hexdigest()),
        "b.txt": entry(b"b"),
        "my file.txt": entry(b"gone"),  # listed without an ETag, not stored
    }
    manifest = layout.Manifest(version=V1, created="2026-11-01T10:00:00+00:00", files=files)
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
    put_version(world, V2, {"x.txt": b"x"})
    assert storage.verify_versions(world.s3, BUCKET, [V1]) == {
        V1: [
            "my file.txt is missing",
            f"b.txt has sha256 metadata none, the manifest says {hashlib.sha256(b'b').hexdigest()}",
        ]
    }


def test_versions_list_the_manifests_completion_time_else_the_ids(world: World) -> None:
    put_version(world, V1, {"a.txt": b"a"})
    put_version(world, V2, {"a.txt": b"a"}, complete=False)
    listed = storage.list_versions(world.s3, BUCKET, live_version=V1)
    assert [(v.version, v.complete, v.created, v.live) for v in listed] == [
        (V2, False, "2026-11-02T10:00:00+00:00", False),
        (V1, True, "2026-11-27T12:00:00+00:00", True),
    ]


# --- sending files -----------------------------------------------------------------------------


def test_the_hashing_reader_hashes_the_last_pass_and_never_reads_past_the_scanned_size() -> None:
    import hashlib
    import io

    grown = transfer.HashingReader(io.BytesIO(b"abcdefXYZ"), 6, "f.txt")  # 3 bytes appended after the scan
    assert grown.read(0) == b""
    assert grown.read(2) == b"ab" and grown.tell() == 2
    assert grown.seek(1, 1) == 3 and grown.read(1) == b"d"
    assert grown.seek(-1, 2) == 5 and grown.read() == b"f"
    assert grown.seek(2) == 2 and grown.read(-1) == b"cdef"
    with pytest.raises(transfer.FileChangedError, match="f.txt changed while it was being uploaded"):
        grown.verify()
    assert grown.seek(0) == 0 and grown.read() == b"abcdef"
    assert grown.sha256 == hashlib.sha256(b"abcdef").hexdigest()  # of the last pass only

    exact = transfer.HashingReader(io.BytesIO(b"abcdef"), 6, "f.txt")
    assert exact.read(3) == b"abc"
    with pytest.raises(transfer.FileChangedError):
        exact.verify()  # not all of it was sent
    whole = transfer.HashingReader(io.BytesIO(b"abcdef"), 6, "f.txt")
    assert whole.read() == b"abcdef" and len(whole) == 6
    whole.verify()


def test_a_file_replaced_after_the_scan_is_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", "app.js": "same bytes"})
    (scanned,) = [f for f in build_module.scan_build(root).files if f.path == "app.js"]
    transfer.open_scanned(scanned).close()  # the file the scan hashed opens
    # Replaced by another file (same bytes, so no hash could tell): as an editor's save or a
    # rebuild writes a new file and renames it over the old one.
    (root / "app.js.new").write_text("same bytes")
    os.replace(root / "app.js.new", root / "app.js")
    with pytest.raises(transfer.FileChangedError) as changed:
        transfer.open_scanned(scanned)
    assert str(changed.value) == (
        "app.js changed while it was being uploaded; re-run the upload once the build is final"
    )


def test_a_file_deleted_after_the_scan_is_named_with_the_reason(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", "app.js": "gone soon"})
    (scanned,) = [f for f in build_module.scan_build(root).files if f.path == "app.js"]
    (root / "app.js").unlink()
    with pytest.raises(StoreError) as unreadable:
        transfer.open_scanned(scanned)
    assert str(unreadable.value) == "cannot read app.js: No such file or directory"


def test_a_donor_is_copied_only_while_it_holds_the_files_bytes(world: World, tmp_path: Path) -> None:
    from dataclasses import replace

    from scripts.versionstore.build import MULTIPART_THRESHOLD, scan_build

    files = {f.path: f for f in scan_build(write_build(tmp_path / "b", TREE_A)).files}
    for path in TREE_A:
        world.s3.put_object(
            Bucket=BUCKET, Key=f"{V1}/{path}", Body=b"old" if path == "a.txt" else TREE_A[path]
        )
    sent: list[tuple[str, str]] = []
    world.s3.meta.events.register(  # moto checks neither condition: what is asked of S3 is checked here
        "provide-client-params.s3.CopyObject",
        lambda params, **_: sent.append((params["CopySourceIfMatch"], params["IfNoneMatch"])),
    )
    absent = {"IfNoneMatch": "*"}
    index = files["index.html"]
    assert transfer.copy_file(world.s3, BUCKET, V2, index, f"{V1}/index.html", absent)
    assert sent == [(f'"{index.etag}"', "*")]
    head = world.s3.head_object(Bucket=BUCKET, Key=f"{V2}/index.html")
    assert head["Metadata"] == {"site-version": V2, "sha256": index.sha256}
    assert not transfer.copy_file(world.s3, BUCKET, V2, files["a.txt"], f"{V1}/a.txt", absent)  # other bytes
    assert not transfer.copy_file(world.s3, BUCKET, V2, files["shared.css"], f"{V1}/gone.css", absent)
    big = replace(files["shared.css"], size=MULTIPART_THRESHOLD + 1)
    assert not transfer.copy_file(world.s3, BUCKET, V2, big, f"{V1}/shared.css", absent)
    assert len(sent) == 3  # the multipart file was not even tried


def test_multipart_parts_are_numbered_from_1_each_with_its_md5(
    world: World, tmp_path: Path, small_parts: int
) -> None:
    import base64
    import hashlib

    from scripts.versionstore.build import scan_build

    body = bytes(range(256)) * 6  # 1,536 bytes: 3 parts
    [local] = scan_build(write_build(tmp_path / "a", {"big.bin": body})).files
    parts: list[tuple[int, str]] = []
    world.s3.meta.events.register(
        "provide-client-params.s3.UploadPart",
        lambda params, **_: parts.append((params["PartNumber"], params["ContentMD5"])),
    )
    transfer.put_file(world.s3, BUCKET, V1, local, {"IfNoneMatch": "*"})
    chunks = [body[i : i + 512] for i in range(0, len(body), 512)]
    assert parts == [
        (n, base64.b64encode(hashlib.md5(chunk, usedforsecurity=False).digest()).decode())
        for n, chunk in enumerate(chunks, start=1)
    ]
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="PreconditionFailed"):  # the key exists now
        transfer.put_file(world.s3, BUCKET, V1, local, {"IfNoneMatch": "*"})
    assert world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize("size", [512, 513], ids=["read-whole", "streamed"])
def test_a_single_part_put_declares_the_scanned_length_and_md5(
    world: World, tmp_path: Path, small_parts: int, size: int
) -> None:
    """S3 refuses (BadDigest) a body whose MD5 is not the declared one, so a file that changes while it
    is sent never lands; moto does not check it, so the declaration itself is asserted."""
    import base64

    from scripts.versionstore.build import scan_build

    body = b"x" * size
    [local] = scan_build(write_build(tmp_path / "a", {"page.html": body})).files
    sent = world.sent("PutObject")
    transfer.put_file(world.s3, BUCKET, V1, local, {"IfNoneMatch": "*"})
    [params] = sent
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    assert (params["ContentLength"], params["ContentMD5"]) == (size, md5)


def test_the_manifest_is_json_that_viewers_and_edges_revalidate(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    head = world.s3.head_object(Bucket=BUCKET, Key=layout.manifest_key(V1))
    assert (head["ContentType"], head["CacheControl"]) == ("application/json", storage.MANIFEST_CACHE_CONTROL)
