"""Files stored once (`_assets/<path>`, `_content/<sha256>/<path>`) rewritten after they were stored,
with other bytes and their own metadata kept: the sha256 metadata is written beside the bytes, never
computed from them, so only the listing's ETag shows it. `versions --verify` must report it, an upload
must not seal a new version on it, promote must not copy it, share-assets must not count it shared;
the same bytes stored as a multipart object (another ETag) stay accepted by their sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edge_lambda import layout
from scripts.commands.errors import RefusedError
from scripts.commands.upload import upload_build
from scripts.versionstore import promote as promotion
from scripts.versionstore import store
from scripts.versionstore.errors import StoreError, StoreRefusedError
from scripts.versionstore.shared_assets import publish_shared_assets
from tests.sitectl_scaffold import BUCKET, V1, V2, World, keys, store_as_before, world, write_build

__all__ = ["world"]

SCRIPT = "assets/app.fa10386f.js"
SITE: dict[str, bytes | str] = {
    "index.html": "<p>home one</p>",
    "about/index.html": "<p>about</p>",
    SCRIPT: "console.log('app')",
}
PROD = "site-bucket-prod"
REWRITTEN = b"console.log('APP')"  # as long as the script


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _rewrite(world: World, key: str, body: bytes) -> None:
    """Other bytes under `key`, its headers and metadata (sha256, version) kept as they were."""
    head = world.s3.head_object(Bucket=BUCKET, Key=key)
    world.s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        ContentType=head["ContentType"],
        CacheControl=head["CacheControl"],
        Metadata=head["Metadata"],
    )


def _stored_key(world: World, version: str, path: str) -> str:
    manifest = store.read_manifest(world.s3, BUCKET, version)
    assert manifest is not None
    return layout.stored_key(version, path, manifest.files[path])


@pytest.mark.parametrize("path", [SCRIPT, "about/index.html"], ids=["_assets", "_content"])
def test_versions_verify_reports_a_file_stored_once_rewritten_with_its_metadata(
    world: World, tmp_path: Path, path: str
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    key = _stored_key(world, V1, path)
    original = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    damaged = original.upper()  # the same size
    _rewrite(world, key, damaged)
    assert store.verify_versions(world.s3, BUCKET) == {
        V1: [f"{path} has other content in the shared area ({key}: ETag {_md5(damaged)})"]
    }
    result = world.invoke("--bucket", BUCKET, "versions", "--verify")
    assert result.exit_code == 1 and key in result.output


def test_an_upload_refuses_a_rewritten_shared_file_before_writing_and_is_repaired_by_the_fix(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1)
    key = layout.shared_asset_key(SCRIPT)
    right = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    _rewrite(world, key, REWRITTEN)
    build = write_build(tmp_path / "two", {**SITE, "index.html": "<p>home two</p>"})
    with pytest.raises(RefusedError) as refused:
        upload_build(world.s3, BUCKET, build, V2)
    assert str(refused.value) == (
        f"version {V2} was not uploaded: {key} is damaged: it must hold the bytes of sha256 "
        f"{hashlib.sha256(right).hexdigest()} (18 bytes, ETag {_md5(right)}), but S3 lists 18 bytes with "
        f"ETag {_md5(REWRITTEN)}; a file stored once is never overwritten: delete it (`aws s3api "
        f"delete-object --bucket {BUCKET} --key {key}`), then upload again (`sitectl versions --verify` "
        "names the versions it damages)"
    )
    assert keys(world, f"{V2}/") == [] and keys(world, "_claims/") == [f"_claims/{V1}.json"]
    # The fix it names: the upload stores the file anew, which repairs V1 too.
    world.s3.delete_object(Bucket=BUCKET, Key=key)
    upload_build(world.s3, BUCKET, build, V2)
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}
    assert world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == right


def test_a_content_file_deleted_by_hand_is_sent_again_by_the_resume_the_seal_names(
    world: World, tmp_path: Path
) -> None:
    """V2 sends nothing for about/index.html: V1's seal proved it in `_content/`. Deleted there, V2's
    seal fails, and the --resume it names sends it again (a resume lists the area), repairing V1."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    key = _stored_key(world, V1, "about/index.html")
    world.s3.delete_object(Bucket=BUCKET, Key=key)
    build = write_build(tmp_path / "two", {**SITE, "index.html": "<p>home two</p>"})
    with pytest.raises(StoreError) as failed:
        upload_build(world.s3, BUCKET, build, V2, router="lambda-edge")
    assert str(failed.value) == (
        f"version {V2} was not sealed: about/index.html is missing from the shared area ({key}); did "
        f"another process write to it? re-run with --resume --version {V2}"
    )
    report = upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", resume=True)
    assert report.sent_files == 1, "about/index.html: index.html was stored by the first attempt"
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}


def test_a_rewritten_content_file_stops_the_seal_with_the_fix_that_completes_it(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    key = _stored_key(world, V1, "about/index.html")
    right = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    _rewrite(world, key, b"<p>ABOUT</p>")
    build = write_build(tmp_path / "two", {**SITE, "index.html": "<p>home two</p>"})
    with pytest.raises(StoreError) as failed:
        upload_build(world.s3, BUCKET, build, V2, router="lambda-edge")
    assert str(failed.value) == (
        f"version {V2} was not sealed: about/index.html has other content in the shared area ({key}: "
        f"ETag {_md5(b'<p>ABOUT</p>')}); {key} is damaged: it must hold the bytes of sha256 "
        f"{hashlib.sha256(right).hexdigest()} (12 bytes, ETag {_md5(right)}), but S3 lists 12 bytes with "
        f"ETag {_md5(b'<p>ABOUT</p>')}; a file stored once is never overwritten: delete it (`aws s3api "
        f"delete-object --bucket {BUCKET} --key {key}`), then re-run with --resume --version {V2} "
        "(`sitectl versions --verify` names the versions it damages)"
    )
    assert not store.is_complete(world.s3, BUCKET, V2)
    world.s3.delete_object(Bucket=BUCKET, Key=key)
    upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", resume=True)
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}


def test_promote_refuses_a_source_whose_content_file_was_rewritten(world: World, tmp_path: Path) -> None:
    world.s3.create_bucket(Bucket=PROD)
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    key = _stored_key(world, V1, "about/index.html")
    right = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    _rewrite(world, key, b"<p>ABOUT</p>")
    with pytest.raises(StoreRefusedError) as refused:
        promotion.promote_version(
            promotion.BucketRef(world.s3, BUCKET), promotion.BucketRef(world.s3, PROD), V1
        )
    assert str(refused.value).startswith(
        f"version {V1} in {BUCKET} is damaged: {key} has ETag {_md5(b'<p>ABOUT</p>')}, its manifest says "
        f"{_md5(right)}; nothing was promoted"
    )
    assert world.s3.list_objects_v2(Bucket=PROD).get("KeyCount") == 0


def test_share_assets_does_not_count_a_rewritten_shared_file_as_shared(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1)
    store_as_before(world.s3, BUCKET, V1, unshare=False)  # V1 holds its own copy, published before
    key = layout.shared_asset_key(SCRIPT)
    _rewrite(world, key, REWRITTEN)
    manifest = store.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    warnings: list[str] = []
    report = publish_shared_assets(world.s3, BUCKET, manifest, warnings.append)
    assert report.skipped == [SCRIPT] and report.already == []
    assert len(warnings) == 1 and warnings[0].startswith(f"{V1}'s {SCRIPT} not shared: {key} is damaged")
    assert warnings[0].endswith(
        f"then `sitectl share-assets --version {V1}` (`sitectl versions --verify` names the versions "
        "it damages)"
    )


def test_the_same_bytes_stored_as_a_multipart_object_stay_accepted_by_their_sha256(
    world: World, tmp_path: Path
) -> None:
    """A multipart ETag says nothing about the bytes (a server-side copy, another part size): there
    the sha256 metadata decides, as before."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1)
    key = layout.shared_asset_key(SCRIPT)
    head = world.s3.head_object(Bucket=BUCKET, Key=key)
    body = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    upload = world.s3.create_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        ContentType=head["ContentType"],
        CacheControl=head["CacheControl"],
        Metadata=head["Metadata"],
    )
    part = world.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=body)
    world.s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert "-" in world.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert store.verify_versions(world.s3, BUCKET) == {V1: []}
    report = upload_build(world.s3, BUCKET, write_build(tmp_path / "two", {**SITE, "index.html": "2"}), V2)
    assert report.shared is not None and report.shared.already == [SCRIPT]
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}
