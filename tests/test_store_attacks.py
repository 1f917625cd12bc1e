"""Adversarial tests of the version store against moto: a taken-over upload that keeps writing,
prune under a skewed machine clock, promote and upload of the same id. Every race is lined up with
events in botocore hooks or the store's own hooks; assertions run in the main thread."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.commands.errors import SitectlError
from scripts.commands.upload import upload_build
from scripts.versionstore import store as storage
from scripts.versionstore.build import scan_build
from scripts.versionstore.errors import StoreError, StoreRefusedError
from tests.sitectl_scaffold import (
    BUCKET,
    PRUNE_EVERYTHING,
    V1,
    V2,
    World,
    backdate,
    keys,
    sample_build,
    store_as_before,
    world,
    write_build,
)

__all__ = ["world"]

TREE_A = {"index.html": b"<html>A</html>", "a.txt": b"only in A", "shared.css": b"body{}"}
TREE_B = {"index.html": b"<html>B</html>", "b.txt": b"only in B", "shared.css": b"body{color:red}"}


def assert_exactly(world: World, version: str, tree: dict[str, bytes]) -> None:
    """The stored version holds `tree`, byte for byte, and nothing else; its manifest agrees."""
    assert storage.verify_version(world.s3, BUCKET, version) == []
    stored = sorted(k.removeprefix(f"{version}/") for k in keys(world, f"{version}/"))
    assert stored == sorted(tree)
    for path, body in tree.items():
        assert world.s3.get_object(Bucket=BUCKET, Key=f"{version}/{path}")["Body"].read() == body


def hold_first_put(world: World, key: str) -> tuple[threading.Event, threading.Event]:
    """Block the first PutObject of `key` (whoever sends it) until `release` is set; `held` is set
    once it is blocked. Later PutObjects of the key pass."""
    held, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def block(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == key and not seen:
            seen.append(key)
            held.set()
            assert release.wait(20)

    world.s3.meta.events.register("provide-client-params.s3.PutObject", block)
    return held, release


# --- a taken-over upload keeps writing ---------------------------------------------------------


def test_a_put_of_a_taken_over_upload_landing_after_the_new_owner_sealed_is_refused(
    world: World, tmp_path: Path
) -> None:
    """The first upload stalls inside a PutObject; a --resume with another tree takes the claim over
    and seals; then the stalled PutObject arrives. It must not change the complete version."""
    first, second = write_build(tmp_path / "a", TREE_A), write_build(tmp_path / "b", TREE_B)
    held, release = hold_first_put(world, f"{V1}/index.html")
    outcome: dict[str, Any] = {}

    def stalled() -> None:
        try:
            upload_build(world.s3, BUCKET, first, V1, workers=1)
        except Exception as error:  # asserted in the main thread
            outcome["first"] = error

    thread = threading.Thread(target=stalled)
    thread.start()
    assert held.wait(20)
    upload_build(world.s3, BUCKET, second, V1, resume=True, workers=1)
    release.set()
    thread.join(20)
    assert isinstance(outcome.get("first"), StoreError)
    assert f"version {V1} is no longer claimed by this upload" in str(outcome["first"])
    assert_exactly(world, V1, TREE_B)


def test_the_previous_owners_manifest_cannot_seal_the_new_owners_bytes(world: World, tmp_path: Path) -> None:
    """The first upload has checked its claim and listed its objects and stalls before writing its
    manifest; a --resume with another tree takes over and rewrites objects; then the stalled
    manifest arrives. The version must not end complete with a manifest that is not its bytes."""
    first, second = write_build(tmp_path / "a", TREE_A), write_build(tmp_path / "b", TREE_B)
    held, release = hold_first_put(world, layout.manifest_key(V1))
    outcome: dict[str, Any] = {}

    def stalled() -> None:
        try:
            upload_build(world.s3, BUCKET, first, V1, workers=1)
        except Exception as error:  # asserted in the main thread
            outcome["first"] = error

    def let_the_old_manifest_in(_: storage.Claim) -> None:
        release.set()
        thread.join(20)

    thread = threading.Thread(target=stalled)
    thread.start()
    assert held.wait(20)
    upload_build(world.s3, BUCKET, second, V1, resume=True, workers=1, before_seal=let_the_old_manifest_in)
    # The stalled manifest landed over the new owner's bytes; its writer saw that and withdrew it.
    assert isinstance(outcome.get("first"), StoreError)
    assert f"version {V1} changed while its manifest was being written" in str(outcome["first"])
    assert_exactly(world, V1, TREE_B)


def test_of_two_identical_uploads_racing_the_one_sealing_keeps_its_manifest(
    world: World, tmp_path: Path
) -> None:
    """Two `upload --version V1` of the same build, no --resume: the second looks for the manifest
    (none yet), the first's manifest lands, the second takes over the first's claim and finds the
    version complete, then the first checks its claim. Its manifest still proves what is stored (the
    new owner's build is the same): it stays, and the second's "completed by" is true."""
    build = write_build(tmp_path / "a", TREE_A)
    manifest = layout.manifest_key(V1)
    held, landed = threading.Event(), threading.Event()
    release, check = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def hold_the_manifest(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == manifest and not held.is_set():
            held.set()
            assert release.wait(20)

    def hold_the_check(http_response: Any, **_: Any) -> None:
        if unquote(http_response.url).endswith(manifest) and not landed.is_set():
            landed.set()  # the first's manifest is in; its check of the claim waits
            assert check.wait(20)

    def first_run() -> None:
        try:
            outcome["first"] = upload_build(world.s3, BUCKET, build, V1)
        except Exception as error:  # asserted in the main thread
            outcome["first"] = error

    first = threading.Thread(target=first_run)
    world.s3.meta.events.register("provide-client-params.s3.PutObject", hold_the_manifest)
    world.s3.meta.events.register("after-call.s3.PutObject", hold_the_check)
    first.start()
    assert held.wait(20)
    owner = storage.read_claim(world.s3, BUCKET, V1)
    assert owner is not None

    def takeover_once_the_manifest_landed(params: dict[str, Any]) -> bool:
        if params.get("Key") != layout.claim_key(V1) or "IfMatch" not in params:
            return False
        release.set()  # the first's manifest is sent ...
        assert landed.wait(20)  # ... and lands before this takeover is
        return True

    world.once("provide-client-params.s3.PutObject", lambda: None, takeover_once_the_manifest_landed)
    try:
        with pytest.raises(storage.VersionCompleteError) as second:
            upload_build(world.s3, BUCKET, build, V1)
    finally:
        check.set()
    first.join(20)
    assert not first.is_alive()
    assert not isinstance(outcome["first"], Exception), outcome["first"]
    assert str(second.value) == f"version {V1} was completed by {owner.describe()}; versions are immutable"
    assert_exactly(world, V1, TREE_A)
    now = storage.server_now(world.s3, BUCKET)
    complete = storage.complete_versions(world.s3, BUCKET)
    assert storage.uploads_in_progress(world.s3, BUCKET, now, complete) == []  # prunes not blocked


# --- prune and the clock -----------------------------------------------------------------------


def test_prune_judges_a_claims_age_by_s3s_clock_not_the_machines(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine whose clock runs two days ahead must not find an upload claimed a moment ago stale."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "n", TREE_B), V2)
    world.set_live(V2)

    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    older = "20261020T100000Z"  # an interrupted upload (or one still running), older than the live one
    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), older, before_seal=crash)
    skewed = storage.utc_now() + timedelta(days=2)
    monkeypatch.setattr(storage, "utc_now", lambda: skewed)
    args = list(PRUNE_EVERYTHING)
    result = world.invoke(*args)
    assert result.exit_code == 0, result.output
    assert sorted(keys(world, f"{older}/")) == [
        f"{older}/a.txt",
        f"{older}/index.html",
        f"{older}/shared.css",
    ]
    assert storage.read_claim(world.s3, BUCKET, older) is not None

    backdate(world, "", hours=48)  # really two days old by S3's clock: now it goes
    result = world.invoke(*args)
    assert result.exit_code == 0, result.output
    assert keys(world, f"{older}/") == []


# --- shared assets and verify ------------------------------------------------------------------


def emulate_copy_source_if_match(world: World) -> None:
    """CopyObject's x-amz-copy-source-if-match as S3 answers it (412 when the source's ETag differs),
    which moto ignores."""

    def check(params: dict[str, Any], **_: Any) -> None:
        pinned = params.get("CopySourceIfMatch")
        if pinned is None:
            return
        source_bucket, source_key = unquote(params["CopySource"]).split("/", 1)  # as botocore sends it
        current = world.s3.head_object(Bucket=source_bucket, Key=source_key)["ETag"]
        if pinned.strip('"') != current.strip('"'):
            response: Any = {
                "Error": {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions"},
                "ResponseMetadata": {"HTTPStatusCode": 412},
            }
            raise ClientError(response, "CopyObject")

    world.s3.meta.events.register("before-parameter-build.s3.CopyObject", check)


def test_a_tampered_object_of_a_complete_version_is_never_shared(world: World, tmp_path: Path) -> None:
    """The shared area is never overwritten, so bytes published there stay for every version that
    names the file: they must be the bytes the manifest says, not whatever the version's object holds."""
    css = "assets/app.2defdb23.css"
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    store_as_before(world.s3, BUCKET, V1)  # as if uploaded before skew protection
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/{css}", Body=b"body { color: green }")  # same size
    emulate_copy_source_if_match(world)

    result = world.invoke("--bucket", BUCKET, "share-assets", V1)

    assert result.exit_code == 0, result.output
    assert f"{V1}: 1 shared, 0 already shared, 1 not shared" in result.stdout
    assert f"warning: {V1}/{css} no longer holds the bytes its manifest lists: not shared" in result.stderr
    assert keys(world, "_assets/") == ["_assets/assets/app.fa10386f.js"]


def test_versions_verify_catches_other_bytes_of_the_same_size(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1)
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/a.txt", Body=b"only in B")  # 9 bytes, as before

    result = world.invoke("--bucket", BUCKET, "versions", "--verify", "--version", V1)

    assert result.exit_code == 1
    assert f"{V1}: a.txt has other content (ETag " in result.output


# --- nothing outside the build leaves the machine ----------------------------------------------


def test_a_file_swapped_for_a_link_out_of_the_build_after_the_scan_is_never_sent(
    world: World, tmp_path: Path
) -> None:
    """Between the scan and the upload, a streamed file (above 8 MiB, sent as botocore reads it) is
    replaced by a symlink to a private file outside the build: not one byte of it may be sent."""
    size = 9 * 1024 * 1024
    build = write_build(tmp_path / "dist", {"index.html": b"<html></html>", "video.bin": b"v" * size})
    private = tmp_path / "home" / "backup.tar"
    private.parent.mkdir()
    private.write_bytes(b"p" * size)
    sent: list[str] = []
    world.s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: sent.append(params["Key"])
    )

    def swap(_: storage.Claim) -> None:
        (build / "video.bin").unlink()
        (build / "video.bin").symlink_to(private)

    with pytest.raises(SitectlError, match="video.bin changed while it was being uploaded"):
        upload_build(world.s3, BUCKET, build, V1, workers=1, after_claim=swap)
    assert f"{V1}/video.bin" not in sent
    assert f"{V1}/video.bin" not in keys(world, f"{V1}/")


def test_ssh_private_keys_stay_home_at_any_depth(tmp_path: Path) -> None:
    tree = {
        "index.html": b"<html></html>",
        "id_rsa": b"-----BEGIN OPENSSH PRIVATE KEY-----",
        "id_rsa.pub": b"ssh-rsa AAAA",
        "deploy/id_ed25519": b"-----BEGIN OPENSSH PRIVATE KEY-----",
        "keys/id_ecdsa": b"-----BEGIN OPENSSH PRIVATE KEY-----",
        "old/id_dsa": b"-----BEGIN DSA PRIVATE KEY-----",
    }
    build = scan_build(write_build(tmp_path / "dist", tree))
    assert [f.path for f in build.files] == ["id_rsa.pub", "index.html"]
    assert build.excluded == ["deploy/id_ed25519", "id_rsa", "keys/id_ecdsa", "old/id_dsa"]


def test_a_default_id_is_s3s_time_even_when_the_machines_clock_runs_behind(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids order versions ("newer than the live one" protects a version from prune): a machine three
    days behind must not make a new upload look older than the live version."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "live", TREE_A), V2)
    world.set_live(V2)
    behind = storage.utc_now() - timedelta(days=3)
    monkeypatch.setattr(storage, "utc_now", lambda: behind)
    before = storage.server_now(world.s3, BUCKET)

    report = upload_build(world.s3, BUCKET, write_build(tmp_path / "new", TREE_B))

    created = layout.version_created_at(report.version)
    assert before <= created <= storage.server_now(world.s3, BUCKET)
    assert layout.sort_newest_first([report.version, V2])[0] == report.version


def test_a_resume_whose_stale_object_vanished_meanwhile_still_completes(world: World, tmp_path: Path) -> None:
    """The resume plans to overwrite an object of the interrupted run (If-Match on its ETag); the
    object is deleted before the write lands (S3 answers 404 to If-Match on a missing key)."""

    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1, before_seal=crash)
    deleted: list[str] = []

    def delete_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == f"{V1}/index.html" and not deleted:
            deleted.append(params["Key"])
            world.s3.delete_object(Bucket=BUCKET, Key=params["Key"])

    world.s3.meta.events.register("provide-client-params.s3.PutObject", delete_first)

    upload_build(world.s3, BUCKET, write_build(tmp_path / "b", TREE_B), V1, resume=True, workers=1)

    assert deleted == [f"{V1}/index.html"]
    assert_exactly(world, V1, TREE_B)


@pytest.mark.parametrize(
    ("link", "target"),
    [("env.txt", ".env"), ("config/settings.json", "../.git/config"), ("keys", ".ssh")],
)
def test_a_link_to_an_excluded_file_is_refused(tmp_path: Path, link: str, target: str) -> None:
    """Exclusions go by name: a link inside the build must not publish an excluded file under
    another name."""
    build = write_build(
        tmp_path / "dist",
        {
            "index.html": b"<html></html>",
            ".env": b"API_KEY=secret",
            ".git/config": b"[core]",
            ".ssh/id": b"k",
        },
    )
    (build / link).parent.mkdir(parents=True, exist_ok=True)
    (build / link).symlink_to(target)
    resolved = (build / link).resolve().relative_to(build.resolve()).as_posix()
    with pytest.raises(StoreRefusedError, match=f"symlink {link} leads to {resolved}, which is excluded"):
        scan_build(build)


def test_a_link_to_a_published_file_and_into_well_known_still_go_up(tmp_path: Path) -> None:
    build = write_build(tmp_path / "dist", {"index.html": b"<html></html>", ".well-known/security.txt": b"c"})
    (build / "home.html").symlink_to("index.html")
    (build / "security.txt").symlink_to(".well-known/security.txt")
    assert [f.path for f in scan_build(build).files] == [
        ".well-known/security.txt",
        "home.html",
        "index.html",
        "security.txt",
    ]


def test_of_two_resumes_of_one_interrupted_upload_exactly_one_takes_it_over(
    world: World, tmp_path: Path
) -> None:
    """Both read the interrupted run's claim; the second's takeover lands between the first's read
    and its conditional overwrite: the first is refused before writing any object."""

    def crash(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "a", TREE_A), V1, before_seal=crash)
    second_build = write_build(tmp_path / "b", TREE_B)
    writes: list[dict[str, Any]] = []
    overtaken: list[storage.Claim] = []
    busy: list[bool] = []

    def before_takeover(params: dict[str, Any], **_: Any) -> None:
        writes.append(params)
        if params["Key"] == layout.claim_key(V1) and "IfMatch" in params and not busy:
            busy.append(True)
            overtaken.append(storage.claim_version(world.s3, BUCKET, storage.new_claim(V1), resume=True))

    world.s3.meta.events.register("provide-client-params.s3.PutObject", before_takeover)
    with pytest.raises(storage.VersionClaimedError, match=f"another upload took over version {V1} meanwhile"):
        upload_build(world.s3, BUCKET, write_build(tmp_path / "c", TREE_A), V1, resume=True)
    world.s3.meta.events.unregister("provide-client-params.s3.PutObject", before_takeover)
    # Only claim writes: each resume's If-None-Match (412), the second's takeover, the first's (412).
    assert {w["Key"] for w in writes} == {layout.claim_key(V1)}
    assert len(writes) == 4
    # The winner's claim is the one in the bucket; a run holding it (here: its --resume) completes it.
    assert storage.read_claim(world.s3, BUCKET, V1).upload_id == overtaken[0].upload_id  # type: ignore[union-attr]
    upload_build(world.s3, BUCKET, second_build, V1, resume=True)
    assert_exactly(world, V1, TREE_B)


def test_an_upload_still_running_after_a_takeover_starts_no_further_write(
    world: World, tmp_path: Path
) -> None:
    """A --resume with another build (new hashed names, so no key in common) takes over and seals
    while the first upload still has files to send: none of them may land in the sealed version."""
    first_tree = {f"assets/a{i}.js": f"a{i}".encode() for i in range(4)}
    first, second = write_build(tmp_path / "a", first_tree), write_build(tmp_path / "b", TREE_B)
    now = [0.0]
    sending: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        sending.append(params["Key"])

    def take_over_after_the_first_write(**_: Any) -> None:
        if sending[-1] == f"{V1}/assets/a0.js" and now[0] == 0.0:
            now[0] = 2.0  # the first upload's clock: two seconds on, its claim is read again
            upload_build(world.s3, BUCKET, second, V1, resume=True, workers=1)

    world.s3.meta.events.register("provide-client-params.s3.PutObject", note)
    world.s3.meta.events.register("after-call.s3.PutObject", take_over_after_the_first_write)

    with pytest.raises(storage.ClaimLostError, match=f"version {V1} is no longer claimed by this upload"):
        upload_build(world.s3, BUCKET, first, V1, workers=1, clock=lambda: now[0])
    assert_exactly(world, V1, TREE_B)
