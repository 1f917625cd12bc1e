"""One malformed manifest (a path with `..`, a field of the wrong type) is named, and the other
versions go on where that is safe: upload, versions, versions --verify, prune, promote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_lambda import layout
from scripts.commands.upload import upload_build
from scripts.versionstore import store as storage
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    PRUNE_EVERYTHING,
    V1,
    V2,
    V3,
    World,
    keys,
    sample_build,
    world,
    write_build,
)

__all__ = ["world"]

PAGE = {"index.html": b"<html>v</html>"}


def entry(**changes: object) -> dict[str, object]:
    return {
        "size": 3,
        "sha256": "ab" * 32,
        "content_type": "text/html",
        "cache_control": "no-cache",
        **changes,
    }


def manifest(files: object, **changes: object) -> bytes:
    data = {"format": 1, "version": V1, "created": "2026-11-27T12:00:00+00:00", "files": files, **changes}
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (manifest({"../escape.html": entry()}), "file path '../escape.html' must be relative"),
        (manifest({"/abs.html": entry()}), "file path '/abs.html' must be relative"),
        (manifest({"a//b.html": entry()}), "file path 'a//b.html' must be relative"),
        (manifest({"a.html": entry(size="3")}), "entry 'a.html': size '3' is not a whole number of bytes"),
        (manifest({"a.html": entry(size=-1)}), "entry 'a.html': size -1 is not a whole number of bytes"),
        (manifest({"a.html": entry(sha256=None)}), "entry 'a.html': sha256 None is not lowercase hex"),
        (manifest({"a.html": entry(etag=5)}), "entry 'a.html': etag 5 is not text"),
        (manifest({"a.html": entry(**{"in": "../x"})}), "entry 'a.html': in '../x' is not '_assets'"),
        (manifest({"a.html": entry(content_type=1)}), "entry 'a.html': content_type and cache_control"),
        (manifest({"a.html": [1]}), "entry 'a.html' is not an object"),
        (manifest(["a.html"]), "its files are not an object of paths"),
        (manifest({}, version="latest"), "manifest version 'latest' is not a valid version id"),
        (manifest({}, version=V2), f"describes version {V2}"),
    ],
)
def test_a_malformed_manifest_is_refused_when_read_naming_it(world: World, body: bytes, why: str) -> None:
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=body)
    with pytest.raises(storage.ManifestUnreadableError) as refused:
        storage.read_manifest(world.s3, BUCKET, V1)
    assert str(refused.value).startswith(f"manifest {layout.manifest_key(V1)} in {BUCKET} ")
    assert why in str(refused.value)


def damaged_bucket(world: World, root: Path) -> None:
    """V1 and V3 complete and sound, V2's manifest naming `../escape.html`."""
    for version in (V1, V2, V3):
        upload_build(world.s3, BUCKET, write_build(root / version, PAGE), version)
    bad = json.loads(world.s3.get_object(Bucket=BUCKET, Key=layout.manifest_key(V2))["Body"].read())
    bad["files"]["../escape.html"] = bad["files"]["index.html"]
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V2), Body=json.dumps(bad).encode())
    world.set_live(V3)


BAD = (
    f"manifest {layout.manifest_key(V2)} in {BUCKET} is unreadable (file path '../escape.html' must be "
    "relative, without empty, '.' or '..' segments); the version cannot be trusted: delete the manifest "
    "(it becomes incomplete) and upload the build again as a new version"
)


def test_versions_lists_the_others_and_names_the_bad_manifest(world: World, tmp_path: Path) -> None:
    damaged_bucket(world, tmp_path)
    result = world.invoke("--bucket", BUCKET, "--parameter", PARAMETER, "versions")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {BAD}\n"
    rows = [line.split()[:3] for line in result.stdout.splitlines()[1:]]
    assert rows == [[V3, "complete", "1"], [V2, "complete", "-"], [V1, "complete", "1"]]


def test_versions_verify_reports_the_bad_manifest_and_verifies_the_others(
    world: World, tmp_path: Path
) -> None:
    damaged_bucket(world, tmp_path)
    result = world.invoke("--bucket", BUCKET, "versions", "--verify")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{V3}: equals its manifest (1 files)",
        f"{V2}: {BAD}",
        f"{V1}: equals its manifest (1 files)",
    ]


def test_upload_names_the_bad_manifest_uses_the_others_after_claiming(world: World, tmp_path: Path) -> None:
    """Donors are read once the version is claimed (and prunes of the shared area waited for): from
    then on no prune deletes a shared file their seals proved, which this upload then sends nothing for."""
    damaged_bucket(world, tmp_path)
    order: list[str] = []
    world.once(
        "provide-client-params.s3.GetObject",
        lambda: order.append("manifests read"),
        when=lambda params: params["Key"].startswith(layout.MANIFEST_PREFIX),
    )
    world.once(
        "provide-client-params.s3.PutObject",
        lambda: order.append("claimed"),
        when=lambda params: params["Key"].startswith(layout.CLAIM_PREFIX),
    )
    result = world.invoke(
        "--bucket", BUCKET, "upload", str(sample_build(tmp_path / "b")), "--version", V3 + "-abcdef0"
    )
    assert result.exit_code == 0, result.output
    assert f"warning: {BAD}; not copied from\n" in result.stderr
    assert order == ["claimed", "manifests read"]
    assert storage.is_complete(world.s3, BUCKET, V3 + "-abcdef0")


def test_prune_deletes_by_plan_but_keeps_every_shared_asset_while_a_manifest_is_unreadable(
    world: World, tmp_path: Path
) -> None:
    damaged_bucket(world, tmp_path)
    world.s3.put_object(Bucket=BUCKET, Key="_assets/old.1111aaaa.js", Body=b"x")
    from tests.sitectl_scaffold import backdate

    backdate(world, "_assets/", hours=48)
    args = list(PRUNE_EVERYTHING)
    result = world.invoke(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"warning: {BAD}\n")
    assert f"deleted {V1} (" in result.stderr
    assert result.stderr.endswith(f"warning: shared assets not pruned: {BAD}\n")
    assert keys(world, "_assets/") == ["_assets/old.1111aaaa.js"]
    assert storage.complete_versions(world.s3, BUCKET) == [V3, V2]


def test_promote_of_a_version_with_a_bad_manifest_is_refused_before_anything_is_written(
    world: World, tmp_path: Path
) -> None:
    world.s3.create_bucket(Bucket="site-bucket-prod")
    damaged_bucket(world, tmp_path)
    result = world.invoke("--bucket", "site-bucket-prod", "promote", V2, "--from-bucket", BUCKET)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: manifest s3://{BUCKET}/{layout.manifest_key(V2)} is unreadable: file path '../escape.html' "
        "must be relative, without empty, '.' or '..' segments\n"
    )
    assert world.s3.list_objects_v2(Bucket="site-bucket-prod").get("KeyCount") == 0
