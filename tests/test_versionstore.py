"""The version store against moto: exclusive claims, sealing only what is verified, streamed and
multipart uploads, donors that lie, prune racing uploads, and a check that walks every complete
version of a bucket and proves it equals its manifest."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from edge_lambda import layout
from scripts.commands.errors import SitectlError
from scripts.commands.upload import upload_build
from scripts.versionstore import build as build_module
from scripts.versionstore import store as storage
from scripts.versionstore import transfer
from scripts.versionstore.errors import StoreError
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    V1,
    V2,
    World,
    backdate,
    keys,
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
    writes = object_writes(world)
    for resume in (False, True):
        with pytest.raises(
            storage.VersionCompleteError, match=f"version {V1} already exists and is complete"
        ):
            upload_build(world.s3, BUCKET, write_build(tmp_path / "b", TREE_B), V1, resume=resume)
    assert writes == []
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


# --- 2. seal only what is verified ---------------------------------------------------------------


def test_an_object_changed_by_another_writer_stops_the_seal(world: World, tmp_path: Path) -> None:
    def foreign_write(_: storage.Claim) -> None:
        world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/a.txt", Body=b"only in B")  # same size, other bytes

    with pytest.raises(StoreError, match=r"a.txt has other content .*re-run with --resume --version"):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1, before_seal=foreign_write)
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
        args = [
            "--bucket",
            BUCKET,
            "--parameter",
            PARAMETER,
            "prune",
            "--keep",
            "0",
            "--apply",
            "--skip-stack-check",
        ]
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
    result = world.invoke("--bucket", BUCKET, "versions", "--verify", V1)
    assert result.exit_code == 1
    assert f"{V1}: {V1}/leak.txt is not in the manifest" in result.output


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
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: manifest {layout.manifest_key(V1)} in {BUCKET} is unreadable (")
    assert "delete the manifest (it becomes incomplete) and upload the build again" in result.output
    assert len(result.output.strip().splitlines()) == 1


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
        "uploaded 4.0 MB of 10.0 MB",
        "uploaded 7.0 MB of 10.0 MB",
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
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/index.html", Body=body, Metadata={"sha256": digest})
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/old.txt", Body=b"x")  # written before the metadata existed
    entries = {
        "index.html": layout.ManifestFile(len(body), digest, "text/html", "no-cache"),
        "old.txt": layout.ManifestFile(1, hashlib.sha256(b"x").hexdigest(), "text/plain", "no-cache"),
    }
    manifest = layout.Manifest(version=V1, created="2026-11-01T10:00:00+00:00", files=entries)
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
    assert storage.verify_version(world.s3, BUCKET, V1) == ["old.txt does not carry the manifest's sha256"]


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


def test_resume_on_the_command_line(world: World, tmp_path: Path) -> None:
    build = write_build(tmp_path / "a", TREE_A)

    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, build, V1, before_seal=crash)
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
