"""The shared asset area against moto: what a release publishes, conflicts refused, idempotence,
and prune of what no complete version references."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from edge_lambda import layout
from scripts.commands.errors import RefusedError
from scripts.commands.upload import upload_build
from scripts.versionstore import store
from scripts.versionstore.content_headers import HeaderRules
from scripts.versionstore.errors import StoreError
from scripts.versionstore.shared_assets import (
    MAX_COPY_BYTES,
    SharedAssetsInUseError,
    prune_shared_assets,
    publish_shared_assets,
    shared_assets,
    unshared_paths,
)
from tests.sitectl_scaffold import (
    BUCKET,
    PRUNE_EVERYTHING,
    V1,
    V2,
    World,
    keys,
    sample_build,
    store_as_before,
    world,
    write_build,
)

V3 = "20261103T100000Z"

__all__ = ["world"]

SHARED_AFTER_V1 = ["_assets/assets/app.2defdb23.css", "_assets/assets/app.fa10386f.js"]


class _Status:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


def emulate_conditional_copy(s3: Any) -> None:
    """CopyObject with `If-None-Match: *` as S3 documents it (412 Precondition Failed when the key
    exists), which moto 5.2 ignores on copies (it honours it on PutObject)."""

    def refuse_if_present(params: dict[str, Any], **_: Any) -> tuple[_Status, dict[str, Any]] | None:
        if params.get("headers", {}).get("If-None-Match") != "*":
            return None
        try:
            s3.head_object(Bucket=BUCKET, Key=unquote(params["url_path"].lstrip("/")))
        except ClientError:
            return None
        error = {
            "Code": "PreconditionFailed",
            "Message": "At least one of the pre-conditions you specified did not hold",
        }
        return _Status(412), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 412}}

    s3.meta.events.register("before-call.s3.CopyObject", refuse_if_present)


def emulate_copy_source_pin(s3: Any) -> None:
    """CopyObject with `x-amz-copy-source-if-match` as S3 documents it (412 unless the source's ETag is
    the one given), which moto 5.2 ignores."""

    def refuse_unless_pinned(params: dict[str, Any], **_: Any) -> tuple[_Status, dict[str, Any]] | None:
        pin = params.get("headers", {}).get("x-amz-copy-source-if-match")
        if pin is None:
            return None
        source_bucket, _slash, source_key = unquote(params["headers"]["x-amz-copy-source"]).partition("/")
        if s3.head_object(Bucket=source_bucket, Key=source_key)["ETag"] == pin:
            return None
        error = {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions did not hold"}
        return _Status(412), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 412}}

    s3.meta.events.register("before-call.s3.CopyObject", refuse_unless_pinned)


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def _manifest(world: World, version: str) -> layout.Manifest:
    manifest = store.read_manifest(world.s3, BUCKET, version)
    assert manifest is not None
    return manifest


def test_an_upload_stores_its_fingerprinted_files_once_with_their_headers(
    world: World, tmp_path: Path
) -> None:
    report = upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    assert keys(world, "_assets/") == SHARED_AFTER_V1
    assert not any(key.startswith(f"{V1}/assets/app.") for key in keys(world, f"{V1}/"))
    assert report.shared is not None
    assert report.shared.published == ["assets/app.2defdb23.css", "assets/app.fa10386f.js"]
    head = world.s3.head_object(Bucket=BUCKET, Key="_assets/assets/app.2defdb23.css")
    assert head["ContentType"] == "text/css; charset=utf-8"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["Metadata"] == {
        "sha256": "f674c2ffb741d9fd49a5b453bcead241b6f7a4ce26f4a07753072e34df2cc6ca",
        "site-version": V1,
    }
    body = world.s3.get_object(Bucket=BUCKET, Key="_assets/assets/app.2defdb23.css")["Body"].read()
    assert body == b"body { color: black }"


def test_publishing_again_is_idempotent_and_copies_nothing(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    # Stored once by its upload: nothing to publish, not a request.
    stored_once = _manifest(world, V1)
    counts = world.count_requests()
    report = publish_shared_assets(world.s3, BUCKET, stored_once, Warnings())
    assert (report.published, len(report.already), counts) == ([], 2, {})
    # A version stored before (every file under its prefix), published once already: still exactly
    # its manifest, with no migration.
    store_as_before(world.s3, BUCKET, V1)
    assert store.verify_version(world.s3, BUCKET, V1) == []
    publish_shared_assets(world.s3, BUCKET, _manifest(world, V1), Warnings())
    manifest = _manifest(world, V1)
    counts = world.count_requests()
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings)
    assert (report.published, report.already, report.skipped) == (
        [],
        ["assets/app.2defdb23.css", "assets/app.fa10386f.js"],
        [],
    )
    # One listing of running prunes, one of the shared area; the ETags the manifest records settle
    # it: no HEAD, no copy.
    assert counts == {"ListObjectsV2": 2}
    assert warnings == []


def test_an_upload_with_other_bytes_under_a_shared_name_is_refused_before_anything_is_written(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "one"), V1)
    other = write_build(tmp_path / "two", {"index.html": "<p>two</p>", "assets/app.fa10386f.js": "evil()"})
    with pytest.raises(RefusedError) as refused:
        upload_build(world.s3, BUCKET, other, V2)
    sha256 = hashlib.sha256(b"console.log('app')").hexdigest()
    assert str(refused.value) == (
        f"assets/app.fa10386f.js was taken as fingerprinted (by name), but _assets/assets/app.fa10386f.js, "
        f"stored by version {V1}, holds other bytes (assets/app.fa10386f.js has sha256 metadata {sha256}, "
        f"the manifest says {hashlib.sha256(b'evil()').hexdigest()}); version {V2} was not uploaded. "
        "Fingerprinted files are stored once, by name, and a content-hashed name never changes its bytes: "
        "this one is not a content hash. Rename it, or say it is not fingerprinted: `sitectl upload "
        "--revalidate 'assets/app.fa10386f.js'` (or a line `!assets/app.fa10386f.js` in .sitectlimmutable)"
    )
    assert keys(world, f"{V2}/") == []
    assert store.read_claim(world.s3, BUCKET, V2) is None, "nothing written, not even the claim"
    # taken as not fingerprinted, the same build uploads; its own bytes are served from its version
    upload_build(world.s3, BUCKET, other, V2, header_rules=HeaderRules(revalidate_globs=["assets/app.*"]))
    assert _manifest(world, V2).fingerprinted_paths() == set()


def test_a_shared_name_with_other_bytes_is_never_overwritten(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = write_build(tmp_path / "two", {"index.html": "<p>two</p>", "assets/app.fa10386f.js": "evil()"})
    # V2, stored before the refusal above (under its prefix, never published), then V1 takes the name
    upload_build(world.s3, BUCKET, other, V2)
    store_as_before(world.s3, BUCKET, V2)
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "one"), V1)
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, _manifest(world, V2), warnings)
    assert report.skipped == ["assets/app.fa10386f.js"]
    assert len(warnings) == 1
    assert warnings[0].startswith("_assets/assets/app.fa10386f.js already holds other bytes than")
    body = world.s3.get_object(Bucket=BUCKET, Key="_assets/assets/app.fa10386f.js")["Body"].read()
    assert body == b"console.log('app')"


def _manifest_after_upload(world: World, directory: Path, version: str) -> layout.Manifest:
    upload_build(world.s3, BUCKET, directory, version)
    return _manifest(world, version)


@pytest.mark.parametrize("theirs", ["0" * 64, None])
def test_a_publish_racing_another_loses_without_overwriting(
    world: World, tmp_path: Path, theirs: str | None
) -> None:
    """Another version publishes the same name between this one's HEAD and its copy: the
    conditional copy is refused (412) and the other bytes stay."""
    build = write_build(tmp_path / "d", {"index.html": "<p>x</p>", "assets/chunk.3f2a1b9c.js": "mine()"})
    world.s3.put_object(Bucket=BUCKET, Key=layout.object_key(V1, "assets/chunk.3f2a1b9c.js"), Body=b"mine()")
    manifest = layout.Manifest(
        V1,
        "2026-11-27T12:00:00+00:00",
        {"assets/chunk.3f2a1b9c.js": _entry_of(build, "assets/chunk.3f2a1b9c.js")},
    )

    world.once(  # another publisher, first
        "before-call.s3.CopyObject",
        lambda: world.s3.put_object(
            Bucket=BUCKET,
            Key="_assets/assets/chunk.3f2a1b9c.js",
            Body=b"theirs()",
            Metadata={"sha256": theirs} if theirs else {},
        ),
    )
    emulate_conditional_copy(world.s3)
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings)
    assert report.skipped == ["assets/chunk.3f2a1b9c.js"]
    assert warnings == [
        f"_assets/assets/chunk.3f2a1b9c.js already holds other bytes than {V1}'s assets/chunk.3f2a1b9c.js "
        f"(sha256 {theirs or 'none'} != {manifest.files['assets/chunk.3f2a1b9c.js'].sha256}): its name is "
        f"not a content hash; not shared, so pages of {V1} lose it once another version is live"
    ]
    body = world.s3.get_object(Bucket=BUCKET, Key="_assets/assets/chunk.3f2a1b9c.js")["Body"].read()
    assert body == b"theirs()"


def _entry_of(build: Path, path: str) -> layout.ManifestFile:
    import hashlib

    data = (build / path).read_bytes()
    return layout.ManifestFile(
        len(data),
        hashlib.sha256(data).hexdigest(),
        "text/javascript; charset=utf-8",
        "public, max-age=31536000, immutable",
    )


def test_prune_deletes_shared_assets_no_complete_version_references_once_old(
    world: World, tmp_path: Path
) -> None:
    one = write_build(tmp_path / "one", {"index.html": "1", "a.1111aaaa.js": "a", "both.2222bbbb.js": "b"})
    two = write_build(tmp_path / "two", {"index.html": "2", "c.3333cccc.js": "c", "both.2222bbbb.js": "b"})
    upload_build(world.s3, BUCKET, one, V1)
    upload_build(world.s3, BUCKET, two, V2)
    assert keys(world, "_assets/") == [
        "_assets/a.1111aaaa.js",
        "_assets/both.2222bbbb.js",
        "_assets/c.3333cccc.js",
    ]
    store.delete_version(world.s3, BUCKET, V1)
    now = datetime.now(UTC)

    assert prune_shared_assets(world.s3, BUCKET, now=now, apply=True) == [], "too young: may be in use"
    later = now + timedelta(hours=24, seconds=1)
    assert prune_shared_assets(world.s3, BUCKET, now=later, apply=False) == ["_assets/a.1111aaaa.js"]
    assert len(keys(world, "_assets/")) == 3, "not applied"
    assert prune_shared_assets(world.s3, BUCKET, now=later, apply=True) == ["_assets/a.1111aaaa.js"]
    assert keys(world, "_assets/") == ["_assets/both.2222bbbb.js", "_assets/c.3333cccc.js"]


def test_sitectl_prune_keeps_young_shared_assets_of_a_pruned_version(world: World, tmp_path: Path) -> None:
    for version, name in ((V1, "a.1111aaaa.js"), (V2, "b.2222bbbb.js"), (V3, "c.3333cccc.js")):
        upload_build(
            world.s3, BUCKET, write_build(tmp_path / version, {"i.html": version, name: name}), version
        )
    world.set_live(V3)
    args = list(PRUNE_EVERYTHING)
    result = world.invoke(*args)
    assert result.exit_code == 0, result.output
    assert store.complete_versions(world.s3, BUCKET) == [V3, V2]
    # V1's chunk is unreferenced now, but younger than a day: an open page of V1 may still ask for it.
    assert keys(world, "_assets/") == [
        "_assets/a.1111aaaa.js",
        "_assets/b.2222bbbb.js",
        "_assets/c.3333cccc.js",
    ]
    assert "shared assets" not in result.output


def test_share_assets_publishes_versions_uploaded_before_skew_protection(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    store_as_before(world.s3, BUCKET, V1)  # as if uploaded by a sitectl without skew protection
    first = world.invoke("--bucket", BUCKET, "share-assets")
    again = world.invoke("--bucket", BUCKET, "share-assets", V1)
    assert first.exit_code == 0, first.output
    assert first.output == f"{V1}: 2 shared, 0 already shared, 0 not shared\n"
    assert again.output == f"{V1}: 0 shared, 2 already shared, 0 not shared\n"
    assert keys(world, "_assets/") == SHARED_AFTER_V1


def test_share_assets_refuses_an_incomplete_version_and_writes_nothing(world: World) -> None:
    result = world.invoke("--bucket", BUCKET, "share-assets", V2)
    assert result.exit_code == 2
    assert f"not complete in {BUCKET}: {V2}" in result.output
    assert keys(world, "_assets/") == []


CHUNK = "assets/chunk.3f2a1b9c.js"


def _one_chunk(world: World, tmp_path: Path, **entry: Any) -> layout.Manifest:
    """V1 with one fingerprinted file, stored, and a manifest entry for it (fields overridden)."""
    from dataclasses import replace

    build = write_build(tmp_path / "d", {CHUNK: "mine()"})
    world.s3.put_object(Bucket=BUCKET, Key=layout.object_key(V1, CHUNK), Body=b"mine()")
    return layout.Manifest(
        V1, "2026-11-27T12:00:00+00:00", {CHUNK: replace(_entry_of(build, CHUNK), **entry)}
    )


@pytest.mark.parametrize(("size", "published"), [(MAX_COPY_BYTES, True), (MAX_COPY_BYTES + 1, False)])
def test_a_file_above_what_one_copy_takes_is_not_shared(
    world: World, tmp_path: Path, size: int, published: bool
) -> None:
    manifest = _one_chunk(world, tmp_path, size=size)
    counts = world.count_requests()
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings)
    assert (report.published, report.skipped) == (([CHUNK], []) if published else ([], [CHUNK]))
    if published:
        assert warnings == [] and counts == {"ListObjectsV2": 2, "CopyObject": 1}  # no HEAD for a new name
    else:
        assert warnings == [f"{CHUNK} (5368709121 bytes) is larger than one CopyObject allows: not shared"]
        assert counts == {"ListObjectsV2": 2}


def test_a_version_whose_object_no_longer_matches_its_manifest_is_not_shared(
    world: World, tmp_path: Path
) -> None:
    manifest = _one_chunk(world, tmp_path, etag="0" * 32)  # the object holds other bytes than listed

    emulate_copy_source_pin(world.s3)
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings)
    assert report.skipped == [CHUNK]
    assert warnings == [
        f"{V1}/{CHUNK} no longer holds the bytes its manifest lists: not shared; check the version with "
        f"`sitectl versions --verify --version {V1}`"
    ]
    assert keys(world, "_assets/") == []


MINE_MD5 = hashlib.md5(b"mine()", usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("etag", [MINE_MD5, ""], ids=["pinned", "manifest-without-etags"])
def test_a_file_is_copied_pinned_to_its_manifests_etag_with_the_manifests_headers(
    world: World, tmp_path: Path, etag: str
) -> None:
    """The copy takes the manifest's headers, not the source object's (stored here without any), and
    is pinned to the manifest's ETag where the manifest records one."""
    manifest = _one_chunk(world, tmp_path, etag=etag)
    emulate_copy_source_pin(world.s3)
    sent = world.sent("CopyObject")
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings)
    assert (report.published, warnings) == ([CHUNK], [])
    assert sent[0].get("CopySourceIfMatch") == (f'"{MINE_MD5}"' if etag else None)
    head = world.s3.head_object(Bucket=BUCKET, Key=f"_assets/{CHUNK}")
    assert (head["ContentType"], head["CacheControl"]) == (
        "text/javascript; charset=utf-8",
        "public, max-age=31536000, immutable",
    )
    assert head["Metadata"] == {"sha256": manifest.files[CHUNK].sha256, "site-version": V1}


def test_a_copy_failing_otherwise_names_the_file_and_stops(world: World, tmp_path: Path) -> None:
    manifest = _one_chunk(world, tmp_path)
    world.s3.delete_object(Bucket=BUCKET, Key=layout.object_key(V1, CHUNK))  # NoSuchKey: not a refusal
    with pytest.raises(StoreError, match=f"^publishing {CHUNK} to _assets/{CHUNK} failed: .*NoSuchKey"):
        publish_shared_assets(world.s3, BUCKET, manifest, Warnings())
    assert keys(world, "_assets/") == []


def test_the_fingerprinted_files_missing_from_the_shared_area(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    manifest = _manifest(world, V1)
    assert unshared_paths(world.s3, BUCKET, manifest) == []
    world.s3.delete_object(Bucket=BUCKET, Key="_assets/assets/app.fa10386f.js")
    assert unshared_paths(world.s3, BUCKET, manifest) == ["assets/app.fa10386f.js"]


def test_an_unreferenced_shared_asset_goes_exactly_once_it_is_a_day_old(world: World, tmp_path: Path) -> None:
    world.s3.put_object(Bucket=BUCKET, Key="_assets/old.1111aaaa.js", Body=b"a")
    [asset] = shared_assets(world.s3, BUCKET)
    almost = asset.last_modified + timedelta(hours=24, microseconds=-1)
    assert prune_shared_assets(world.s3, BUCKET, now=almost, apply=True) == []
    day = asset.last_modified + timedelta(hours=24)
    assert prune_shared_assets(world.s3, BUCKET, now=day, apply=True) == ["_assets/old.1111aaaa.js"]
    assert keys(world, "_assets/") == []


def test_a_name_shared_with_the_same_bytes_is_already_shared_without_an_etag_to_compare(
    world: World, tmp_path: Path
) -> None:
    manifest = _one_chunk(world, tmp_path)  # an entry of a manifest from before ETags were recorded
    sha256 = manifest.files[CHUNK].sha256
    world.s3.put_object(Bucket=BUCKET, Key=f"_assets/{CHUNK}", Body=b"mine()", Metadata={"sha256": sha256})
    warnings = Warnings()
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings)
    assert (report.published, report.already, report.skipped, warnings) == ([], [CHUNK], [], [])


# --- a prune of the area and a publish exclude each other ---------------------------------------


def test_a_prune_of_the_area_never_deletes_a_file_a_publish_found_already_shared(
    world: World, tmp_path: Path
) -> None:
    """V1 shared a.js, then was pruned; a day later a prune of the area has decided to delete a.js
    when V2, which has the same a.js, publishes: V2 must end with a.js in the area."""
    import threading

    from tests.sitectl_scaffold import backdate

    chunk = {"index.html": "1", "a.1111aaaa.js": "a"}
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", chunk), V1)
    store.delete_version(world.s3, BUCKET, V1)
    backdate(world, "_assets/", hours=25)
    at_delete, go = threading.Event(), threading.Event()
    pruned: list[list[str]] = []

    def hold() -> None:
        at_delete.set()
        go.wait(timeout=30)

    world.once(
        "provide-client-params.s3.DeleteObjects",
        hold,
        when=lambda params: params["Delete"]["Objects"][0]["Key"].startswith("_assets/"),
    )
    now = store.server_now(world.s3, BUCKET)
    prune = threading.Thread(
        target=lambda: pruned.append(prune_shared_assets(world.s3, BUCKET, now=now, apply=True))
    )
    prune.start()
    assert at_delete.wait(timeout=30)
    waited: list[float] = []

    def let_the_prune_finish(seconds: float) -> None:
        waited.append(seconds)
        go.set()
        prune.join(timeout=30)

    report = upload_build(
        world.s3,
        BUCKET,
        write_build(tmp_path / "two", {**chunk, "index.html": "2"}),
        V2,
        sleep=let_the_prune_finish,
    )
    go.set()
    prune.join(timeout=30)
    assert pruned == [["_assets/a.1111aaaa.js"]]
    assert keys(world, "_assets/") == ["_assets/a.1111aaaa.js"]
    assert waited == [1.0], "the publish waited for the running prune"
    assert report.shared is not None and report.shared.published == ["a.1111aaaa.js"]
    assert keys(world, "_locks/") == [], "the prune's announcement is gone"


def test_a_publish_waits_for_a_running_prune_then_gives_up_and_ignores_a_dead_one(
    world: World, tmp_path: Path
) -> None:
    from scripts.versionstore.shared_assets import ASSET_PRUNE_WAIT_SECONDS
    from tests.sitectl_scaffold import backdate

    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    store_as_before(world.s3, BUCKET, V1)
    marker = layout.asset_prune_key("abc123")
    world.s3.put_object(Bucket=BUCKET, Key=marker, Body=b"{}")
    manifest = store.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    sleeps: list[float] = []
    warnings: list[str] = []
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings.append, sleep=sleeps.append)
    assert len(sleeps) == ASSET_PRUNE_WAIT_SECONDS and report.published == []
    assert report.skipped == ["assets/app.2defdb23.css", "assets/app.fa10386f.js"]
    assert warnings == [
        f"a prune of the shared assets ({marker}) still runs after 600 s: nothing shared; run `sitectl "
        f"share-assets --version {V1}` once it is done (if it died, delete that key: it is ignored after "
        "60 min)"
    ]
    assert keys(world, "_assets/") == []
    backdate(world, marker, hours=1)  # that prune died an hour ago
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings.append, sleep=sleeps.append)
    assert report.published == ["assets/app.2defdb23.css", "assets/app.fa10386f.js"]
    assert len(sleeps) == ASSET_PRUNE_WAIT_SECONDS


# --- files stored once: what an upload relies on stays, and is proven at its seal ------------------


def _shared_once_then_orphaned(world: World, tmp_path: Path) -> dict[str, str]:
    """V1 stored a.js in the shared area and was deleted a day ago: a.js is unreferenced and old."""
    from tests.sitectl_scaffold import backdate

    chunk = {"index.html": "1", "a.1111aaaa.js": "a"}
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", chunk), V1)
    store.delete_version(world.s3, BUCKET, V1)
    backdate(world, "_assets/", hours=25)
    return chunk


def test_a_prune_during_an_upload_deletes_no_shared_file_the_upload_relies_on(
    world: World, tmp_path: Path
) -> None:
    """V2 finds a.js in the shared area and sends nothing for it; a prune that starts after V2's
    plan sees V2's claim and deletes nothing, so V2 seals with a.js; once V2 is complete, a.js is
    referenced."""
    chunk = _shared_once_then_orphaned(world, tmp_path)
    refused: list[str] = []

    def prune_now(claim: store.Claim) -> None:
        with pytest.raises(SharedAssetsInUseError) as in_use:
            prune_shared_assets(world.s3, BUCKET, now=store.server_now(world.s3, BUCKET), apply=True)
        refused.append(str(in_use.value))

    report = upload_build(
        world.s3,
        BUCKET,
        write_build(tmp_path / "two", {**chunk, "index.html": "2"}),
        V2,
        before_seal=prune_now,
    )
    assert report.shared is not None and report.shared.already == ["a.1111aaaa.js"]
    assert report.sent_files == 1, "only index.html: a.js was in the shared area"
    assert refused == [
        f"shared assets not pruned: version {V2} is being uploaded (claimed within 24 h, no manifest yet) "
        "and may rely on files of the shared area; run prune again once it is complete"
    ]
    assert keys(world, "_assets/") == ["_assets/a.1111aaaa.js"] and keys(world, "_locks/") == []
    assert store.verify_version(world.s3, BUCKET, V2) == []
    assert prune_shared_assets(world.s3, BUCKET, now=store.server_now(world.s3, BUCKET), apply=True) == []


def test_a_version_is_never_sealed_with_a_shared_file_missing(world: World, tmp_path: Path) -> None:
    chunk = _shared_once_then_orphaned(world, tmp_path)
    build = write_build(tmp_path / "two", {**chunk, "index.html": "2"})

    def deleted_by_hand(claim: store.Claim) -> None:
        world.s3.delete_object(Bucket=BUCKET, Key="_assets/a.1111aaaa.js")

    with pytest.raises(StoreError) as failed:
        upload_build(world.s3, BUCKET, build, V2, before_seal=deleted_by_hand)
    assert str(failed.value) == (
        f"version {V2} was not sealed: a.1111aaaa.js is missing from the shared area "
        f"(_assets/a.1111aaaa.js); did another process write to it? re-run with --resume --version {V2}"
    )
    assert not store.is_complete(world.s3, BUCKET, V2)
    report = upload_build(world.s3, BUCKET, build, V2, resume=True)
    assert report.shared is not None and report.shared.published == ["a.1111aaaa.js"]
    assert store.verify_version(world.s3, BUCKET, V2) == []


class _Killed(Exception):
    """The upload's process ending at a hook (`after_claim`, `before_seal`)."""


@pytest.mark.parametrize("router", ["lambda-edge", "cloudfront-function"])
@pytest.mark.parametrize("killed_at", ["after_claim", "before_seal"])
@pytest.mark.parametrize("hours_later", [0, 25])
def test_a_resume_after_a_kill_and_a_prune_of_the_areas_seals_every_file_stored_once(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    router: str,
    killed_at: str,
    hours_later: int,
) -> None:
    """An upload killed, its donor deleted, a prune of the shared areas (refused while the claim is
    fresh; a day later it deletes what the killed upload stored there), then --resume: the areas
    are listed where the version's keys are, a range and a page a key (`store.RANGE_KEYS`), and the version is
    sealed with every file it stores once present."""
    from tests.sitectl_scaffold import backdate

    monkeypatch.setattr(store, "RANGE_KEYS", 1)
    monkeypatch.setattr(store, "LIST_PAGE_KEYS", 1)  # a page a key: each range lists its own key alone
    one: dict[str, bytes | str] = {
        "index.html": "1",
        "about/index.html": "a",
        "logo.png": b"\x89PNG",
        "a.1111aaaa.js": "a",
        "b.2222bbbb.css": "b{}",
    }
    two = write_build(
        tmp_path / "two", {**one, "index.html": "2", "c.3333cccc.js": "c", "new/index.html": "n"}
    )
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", one), V1, router=router)

    def kill(claim: store.Claim) -> None:
        raise _Killed

    with pytest.raises(_Killed):
        upload_build(world.s3, BUCKET, two, V2, router=router, **{killed_at: kill})  # type: ignore[arg-type]
    store.delete_version(world.s3, BUCKET, V1)
    backdate(world, "", hours=hours_later)
    now = store.server_now(world.s3, BUCKET)
    if hours_later:
        assert prune_shared_assets(world.s3, BUCKET, now=now, apply=True) != []
    else:
        with pytest.raises(SharedAssetsInUseError):
            prune_shared_assets(world.s3, BUCKET, now=now, apply=True)
    upload_build(world.s3, BUCKET, two, V2, router=router, resume=True)
    assert store.verify_version(world.s3, BUCKET, V2) == []
    stored_once = {path: entry for path, entry in _manifest(world, V2).files.items() if entry.stored_once}
    assert len(stored_once) == (6 if router == "lambda-edge" else 3)  # all but the root page, or the chunks
    assert all(
        store.head_object_if_exists(world.s3, BUCKET, layout.area_key(p, e)) for p, e in stored_once.items()
    )


def test_versions_verify_checks_the_shared_copy_of_each_file_stored_once(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "e", marker="v2"), V2)
    # V2's css is V1's shared copy, marked with V1: that is V2's file too
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}
    css, js = "assets/app.2defdb23.css", "assets/app.fa10386f.js"
    world.s3.put_object(Bucket=BUCKET, Key=f"_assets/{css}", Body=b"body { color: green }")  # same size
    world.s3.delete_object(Bucket=BUCKET, Key=f"_assets/{js}")
    problems = store.verify_version(world.s3, BUCKET, V2)
    green = hashlib.md5(b"body { color: green }", usedforsecurity=False).hexdigest()
    assert problems == [
        f"{css} has other content in the shared area (_assets/{css}: ETag {green})",
        f"{js} is missing from the shared area (_assets/{js})",
    ]
