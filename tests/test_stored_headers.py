"""Headers and metadata are part of a stored version: `versions --verify`, the seal of a resumed
upload and the resume's plan compare Content-Type, Cache-Control and the sha256/version metadata
with the manifest, which the listing's ETags cannot show (a rewrite with the same bytes keeps them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_lambda import layout
from scripts.commands.upload import upload_build
from scripts.versionstore import store as storage
from scripts.versionstore.errors import StoreError
from tests.sitectl_scaffold import BUCKET, V1, World, sample_build, world

__all__ = ["world"]

INDEX = layout.object_key(V1, "index.html")


def rewrite_headers(world: World, key: str, **headers: str) -> None:
    """Copy an object onto itself with other headers: the same bytes, so the same ETag."""
    head = world.s3.head_object(Bucket=BUCKET, Key=key)
    world.s3.copy_object(
        Bucket=BUCKET,
        Key=key,
        CopySource={"Bucket": BUCKET, "Key": key},
        MetadataDirective="REPLACE",
        ContentType=headers.get("ContentType", head["ContentType"]),
        CacheControl=headers.get("CacheControl", head["CacheControl"]),
        Metadata=head["Metadata"],
    )
    assert world.s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == head["ETag"]


def interrupted_upload(world: World, build: Path) -> None:
    def stop(_: storage.Claim) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upload_build(world.s3, BUCKET, build, V1, before_seal=stop)
    assert not storage.is_complete(world.s3, BUCKET, V1)


def test_versions_verify_reports_a_content_type_the_manifest_does_not_say(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "b"), V1)
    assert storage.verify_version(world.s3, BUCKET, V1) == []
    rewrite_headers(world, INDEX, ContentType="text/plain")
    result = world.invoke("--bucket", BUCKET, "versions", "--verify", "--version", V1)
    assert result.exit_code == 1
    assert result.stdout == (
        f"{V1}: index.html has Content-Type text/plain, the manifest says text/html; charset=utf-8\n"
    )


def test_resume_sends_again_an_object_whose_cache_control_disagrees(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "b")
    interrupted_upload(world, build)
    rewrite_headers(world, INDEX, CacheControl="public, max-age=31536000, immutable")
    report = upload_build(world.s3, BUCKET, build, V1, resume=True)
    assert (report.sent_files, report.skipped_files) == (1, 6)
    assert (
        world.s3.head_object(Bucket=BUCKET, Key=INDEX)["CacheControl"] == "public, max-age=0, must-revalidate"
    )
    assert storage.verify_version(world.s3, BUCKET, V1) == []


def test_the_seal_of_a_resume_refuses_a_kept_object_whose_headers_changed(
    world: World, tmp_path: Path
) -> None:
    build = sample_build(tmp_path / "b")
    interrupted_upload(world, build)
    with pytest.raises(StoreError) as refused:
        upload_build(
            world.s3,
            BUCKET,
            build,
            V1,
            resume=True,
            before_seal=lambda _: rewrite_headers(world, INDEX, ContentType="text/plain"),
        )
    assert str(refused.value).startswith(
        f"version {V1} was not sealed: index.html has Content-Type text/plain, the manifest says "
        "text/html; charset=utf-8; "
    )
    assert not storage.is_complete(world.s3, BUCKET, V1)
