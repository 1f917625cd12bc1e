"""sitectl promote against moto: a complete version copied server-side from a staging bucket to the
site bucket, verified, manifest last; refusals that write nothing; an interrupted promote completed by
running it again; an idempotent re-run; buckets in two regions; `--release` through the release path."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from edge_lambda import layout
from scripts.commands import promote as promote_command_module
from scripts.commands.upload import upload_build
from scripts.versionstore import promote as promotion
from scripts.versionstore import store as storage
from scripts.versionstore.errors import StoreError, StoreRefusedError
from tests.clock import ManualClock
from tests.sitectl_scaffold import (
    _SESSION,
    BUCKET,
    PARAMETER,
    POINTER_URN,
    SWITCH_URN,
    V1,
    V2,
    FakeStack,
    World,
    keys,
    sample_build,
    world,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["world"]

STAGING = "site-bucket-staging"
FILES = {
    "index.html": (b"<html>home</html>", "text/html; charset=utf-8", "no-cache"),
    "assets/app.2defdb23.css": (b"body { color: black }", "text/css; charset=utf-8", "max-age=31536000"),
    "assets/app.fa10386f.js": (b"console.log('app')", "text/javascript; charset=utf-8", "max-age=31536000"),
    "about/index.html": (b"<html>about</html>", "text/html; charset=utf-8", "no-cache"),
    "robots.txt": (b"User-agent: *", "text/plain; charset=utf-8", "no-cache"),
}
FILE_KEYS = sorted(layout.object_key(V1, path) for path in FILES)


@pytest.fixture
def staging(world: World) -> World:
    """The world plus a staging bucket (same region) and a staging stack whose output names it."""
    world.s3.create_bucket(Bucket=STAGING)
    world.stacks["staging"] = FakeStack(name="staging", extra_outputs={"bucketName": STAGING})
    return world


def stage(s3: S3Client, bucket: str, version: str = V1, complete: bool = True, etags: bool = True) -> bytes:
    """Store a version as the uploader does (headers, sha256 and version metadata, manifest last,
    with each file's ETag unless `etags` is false: a manifest from before they were recorded);
    returns the manifest's bytes."""
    entries = {}
    for path, (body, content_type, cache_control) in FILES.items():
        sha256 = hashlib.sha256(body).hexdigest()
        s3.put_object(
            Bucket=bucket,
            Key=layout.object_key(version, path),
            Body=body,
            ContentType=content_type,
            CacheControl=cache_control,
            Metadata={layout.SHA256_METADATA_KEY: sha256, layout.VERSION_METADATA_KEY: version},
        )
        etag = hashlib.md5(body).hexdigest() if etags else ""
        entries[path] = layout.ManifestFile(len(body), sha256, content_type, cache_control, etag)
    manifest = layout.Manifest(version=version, created="2026-11-27T12:00:00+00:00", files=entries).to_json()
    if complete:
        s3.put_object(
            Bucket=bucket,
            Key=layout.manifest_key(version),
            Body=manifest.encode(),
            ContentType="application/json",
            CacheControl="no-cache",
        )
    return manifest.encode()


def record_calls(s3: S3Client) -> list[tuple[str, dict[str, Any]]]:
    """Every S3 call made from now on, in order: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        with lock:
            calls.append((model.name, dict(params)))

    s3.meta.events.register("before-parameter-build.s3", record)
    return calls


def operations(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    return counts


class CopyFault:
    """Lets `allowed` CopyObject calls through, then raises `error()` for every later one until
    `stop()`: a promote interrupted after N copies."""

    def __init__(self, s3: S3Client, allowed: int, error: Callable[[], Exception]) -> None:
        self.copied: list[str] = []
        self._allowed, self._error, self._s3 = allowed, error, s3
        self._lock = threading.Lock()
        s3.meta.events.register("before-parameter-build.s3.CopyObject", self._maybe_fail)

    def _maybe_fail(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            if len(self.copied) >= self._allowed:
                raise self._error()
            self.copied.append(params["Key"])

    def stop(self) -> None:
        self._s3.meta.events.unregister("before-parameter-build.s3.CopyObject", self._maybe_fail)


SHARED_KEYS = ["_assets/assets/app.2defdb23.css", "_assets/assets/app.fa10386f.js"]


def without_publishing(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The calls of the promote itself, without those publishing the shared assets at its end."""
    return [
        (name, p)
        for name, p in calls
        if not str(p.get("Key", "")).startswith("_assets/")
        and p.get("Prefix") not in (layout.SHARED_ASSET_PREFIX, layout.ASSET_PRUNE_PREFIX)
    ]


def client_error(code: str, status: int, operation: str = "CopyObject") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


def body(s3: S3Client, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_promote_copies_every_object_verifies_then_writes_the_manifest_last(staging: World) -> None:
    manifest = stage(staging.s3, STAGING)
    source_etags = {k: staging.s3.head_object(Bucket=STAGING, Key=k)["ETag"] for k in FILE_KEYS}
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)
    every_call = list(calls)  # the promote's own, not the checks below
    calls = without_publishing(every_call)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == V1
    assert result.stderr.splitlines() == [
        f"promoting 5 files (0.0 MB) of {V1} from s3://{STAGING} to s3://{BUCKET}",
        "5 files (87 bytes): 5 copied server-side (87 bytes), 0 already in place; manifest written last",
        "skew protection: 2 fingerprinted files shared, 0 already shared, 0 not shared",
    ]
    assert keys(staging, f"{V1}/") == FILE_KEYS
    # Then, as after an upload, the fingerprinted files are published to the destination's shared
    # area (after a look for a running prune of it), pinned to the manifest's ETags.
    published = every_call[len(calls) :]
    assert [name for name, _ in published] == ["ListObjectsV2", "ListObjectsV2", "CopyObject", "CopyObject"]
    assert keys(staging, "_assets/") == SHARED_KEYS
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest
    for path, (content, content_type, cache_control) in FILES.items():
        key = layout.object_key(V1, path)
        head = staging.s3.head_object(Bucket=BUCKET, Key=key)
        assert body(staging.s3, BUCKET, key) == content
        assert (head["ContentType"], head["CacheControl"], head["ETag"]) == (
            content_type,
            cache_control,
            source_etags[key],
        )
        assert head["Metadata"] == {
            "sha256": hashlib.sha256(content).hexdigest(),
            "site-version": V1,
        }
    manifest_head = staging.s3.head_object(Bucket=BUCKET, Key=layout.manifest_key(V1))
    assert (manifest_head["ContentType"], manifest_head["CacheControl"]) == ("application/json", "no-cache")

    copies = [params for name, params in calls if name == "CopyObject"]
    assert sorted(p["Key"] for p in copies) == FILE_KEYS
    for params in copies:
        assert params["CopySource"] == f"{STAGING}/{params['Key']}"  # as botocore sends it
        assert params["CopySourceIfMatch"] == source_etags[params["Key"]]
        assert params["MetadataDirective"] == "COPY"
        assert params["IfNoneMatch"] == "*"  # the key was absent: nobody else's object is overwritten
    writes = [(name, params) for name, params in calls if name in ("CopyObject", "PutObject")]
    # The destination version is claimed first, as an upload claims it.
    assert (writes[0][0], writes[0][1]["Key"], writes[0][1]["IfNoneMatch"]) == (
        "PutObject",
        layout.claim_key(V1),
        "*",
    )
    assert writes[-1][0] == "PutObject" and writes[-1][1]["Key"] == layout.manifest_key(V1)
    assert writes[-1][1]["IfNoneMatch"] == "*"
    assert [name for name, _ in writes].count("PutObject") == 2
    # Every copy is checked (HeadObject) and the prefix listed again before the manifest is written,
    # then the claim and the prefix once more (a takeover meanwhile withdraws the manifest).
    assert [name for name, _ in calls[-4:]] == ["ListObjectsV2", "PutObject", "GetObject", "ListObjectsV2"]
    assert operations(calls) == {
        "GetBucketLocation": 2,
        "GetObject": 3,  # the source manifest, the destination's (absent), the claim after the seal
        "ListObjectsV2": 4,  # the source prefix; the destination before, after the copies, after the seal
        "CopyObject": 5,
        "HeadObject": 6,  # the destination manifest (absent) at the claim, each copy
        "PutObject": 2,  # the claim, the manifest
    }


def test_promote_prints_progress_lines_in_ci_logs_as_upload_does(
    staging: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.commands import upload as upload_module

    stage(staging.s3, STAGING)
    monkeypatch.setattr(upload_module, "PROGRESS_LINE_SECONDS", 0.0)
    result = staging.invoke("promote", "--version", V1, "--from-bucket", STAGING, "--bucket", BUCKET)
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("copied ")]
    # One line per file in this test (no interval), bytes and files done: what the estimate is based on.
    assert len(progress) == 5
    assert progress[-1] == "copied 0.0 MB of 0.0 MB, 5 of 5 files"


def test_a_version_uploaded_by_sitectl_promotes_byte_identical(staging: World, tmp_path: Path) -> None:
    uploaded = staging.invoke(
        "--bucket", STAGING, "upload", str(sample_build(tmp_path / "b")), "--version", V2
    )
    assert uploaded.exit_code == 0, uploaded.output

    result = staging.invoke("promote", V2, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == V2
    promoted = keys(staging, f"{V2}/")
    assert len(promoted) == 5  # and its two fingerprinted files, stored once in the shared area
    for key in [*promoted, *SHARED_KEYS, layout.manifest_key(V2)]:
        assert body(staging.s3, BUCKET, key) == body(staging.s3, STAGING, key)


def test_a_promoted_version_leaves_the_shared_area_as_its_upload_did(staging: World, tmp_path: Path) -> None:
    """Skew protection in the destination: its `_assets/` holds what the upload published in the
    source, with the same bytes, headers and metadata; a promote again repairs a lost one."""
    uploaded = staging.invoke(
        "--bucket", STAGING, "upload", str(sample_build(tmp_path / "b")), "--version", V2
    )
    assert uploaded.exit_code == 0, uploaded.output
    result = staging.invoke("promote", V2, "--from-bucket", STAGING, "--bucket", BUCKET)
    assert result.exit_code == 0, result.output

    promoted = {}
    for key in keys(staging, "_assets/"):  # the destination's
        head = staging.s3.head_object(Bucket=BUCKET, Key=key)
        promoted[key] = (
            body(staging.s3, BUCKET, key),
            head["ContentType"],
            head["CacheControl"],
            head["Metadata"],
        )
    listed = staging.s3.list_objects_v2(Bucket=STAGING, Prefix="_assets/")
    assert [o["Key"] for o in listed["Contents"]] == SHARED_KEYS
    assert sorted(promoted) == SHARED_KEYS
    for key, (content, content_type, cache_control, metadata) in promoted.items():
        head = staging.s3.head_object(Bucket=STAGING, Key=key)
        assert (content, content_type, cache_control, metadata) == (
            body(staging.s3, STAGING, key),
            head["ContentType"],
            head["CacheControl"],
            head["Metadata"],
        )
    staging.s3.delete_object(Bucket=BUCKET, Key=SHARED_KEYS[0])
    again = staging.invoke("promote", V2, "--from-bucket", STAGING, "--bucket", BUCKET)
    assert again.exit_code == 0, again.output
    assert "skew protection: 1 fingerprinted files shared, 1 already shared, 0 not shared" in again.stderr
    assert keys(staging, "_assets/") == SHARED_KEYS


@pytest.mark.parametrize(
    ("complete", "message"),
    [
        (None, f"version {V1} does not exist in {STAGING}: only a complete version can be promoted"),
        (
            False,
            f"version {V1} is incomplete (no manifest) in {STAGING}: only a complete version can be promoted",
        ),
    ],
)
def test_a_missing_or_incomplete_source_is_refused_with_nothing_written(
    staging: World, complete: bool | None, message: str
) -> None:
    if complete is not None:
        stage(staging.s3, STAGING, complete=complete)
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {message}"
    assert keys(staging) == []
    assert {"CopyObject", "PutObject"}.isdisjoint(operations(calls))


def _delete_robots(s3: S3Client) -> None:
    s3.delete_object(Bucket=STAGING, Key=layout.object_key(V1, "robots.txt"))


def _resize_robots(s3: S3Client) -> None:
    s3.put_object(Bucket=STAGING, Key=layout.object_key(V1, "robots.txt"), Body=b"User-agent: bot")


def _overwrite_robots_same_size(s3: S3Client) -> None:
    s3.put_object(Bucket=STAGING, Key=layout.object_key(V1, "robots.txt"), Body=b"User-agent: ?")


def _garble_manifest(s3: S3Client) -> None:
    s3.put_object(Bucket=STAGING, Key=layout.manifest_key(V1), Body=b"{")


def _manifest_of_another_version(s3: S3Client) -> None:
    other = layout.Manifest(version=V2, created="2026-11-27T12:00:00+00:00").to_json().encode()
    s3.put_object(Bucket=STAGING, Key=layout.manifest_key(V1), Body=other)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_delete_robots, f"version {V1} in {STAGING} is damaged: {V1}/robots.txt is missing"),
        (
            _resize_robots,
            f"version {V1} in {STAGING} is damaged: {V1}/robots.txt has 15 bytes, its manifest says 13",
        ),
        (
            _overwrite_robots_same_size,
            f"version {V1} in {STAGING} is damaged: {V1}/robots.txt has ETag "
            "b8ea07c37f23ee0fc4c94f4ff69cc452, its manifest says ca121b5d03245bf82db00d14cee04e22",
        ),
        (
            _garble_manifest,
            f"manifest s3://{STAGING}/_manifests/{V1}.json is unreadable: Expecting property name "
            "enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            _manifest_of_another_version,
            f"manifest s3://{STAGING}/_manifests/{V1}.json describes version {V2}",
        ),
    ],
)
def test_a_damaged_source_is_refused_with_nothing_written(
    staging: World, damage: Callable[[S3Client], None], message: str
) -> None:
    stage(staging.s3, STAGING)
    damage(staging.s3)

    with pytest.raises(StoreRefusedError) as refused:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
        )

    hint = (
        f"; nothing was promoted (`sitectl --bucket {STAGING} versions --verify --version {V1}` lists every "
        "difference)"
    )
    assert str(refused.value).removesuffix(hint).removesuffix("; nothing was promoted") == message
    assert keys(staging) == []


def test_a_source_whose_manifest_has_no_etags_is_checked_by_its_sha256_metadata(staging: World) -> None:
    stage(staging.s3, STAGING, etags=False)
    key = layout.object_key(V1, "robots.txt")
    staging.s3.put_object(Bucket=STAGING, Key=key, Body=b"User-agent: ?")  # same size, no metadata
    with pytest.raises(StoreRefusedError) as refused:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
        )
    assert str(refused.value) == (
        f"version {V1} in {STAGING} is damaged: {key} has sha256 none, its manifest says "
        f"{hashlib.sha256(FILES['robots.txt'][0]).hexdigest()}; nothing was promoted"
    )
    assert keys(staging) == []


def test_sitectl_promote_of_a_damaged_source_exits_2_naming_the_path_and_the_difference(
    staging: World,
) -> None:
    stage(staging.s3, STAGING)
    _overwrite_robots_same_size(staging.s3)
    result = staging.invoke("--bucket", BUCKET, "promote", V1, "--from-bucket", STAGING)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: version {V1} in {STAGING} is damaged: {V1}/robots.txt has ETag "
        "b8ea07c37f23ee0fc4c94f4ff69cc452, its manifest says ca121b5d03245bf82db00d14cee04e22; nothing was "
        f"promoted (`sitectl --bucket {STAGING} versions --verify --version {V1}` lists every difference)\n"
    )
    assert keys(staging) == []


def test_a_promote_whose_manifest_is_withdrawn_names_only_promotes_own_options(staging: World) -> None:
    """An object of the destination changes while the manifest lands: the manifest is withdrawn and
    the hint is promote's own: the same promote again with --resume."""
    stage(staging.s3, STAGING)
    key = layout.object_key(V1, "robots.txt")
    staging.once(
        "provide-client-params.s3.GetObject",
        lambda: staging.s3.put_object(Bucket=BUCKET, Key=key, Body=b"changed"),
        when=lambda params: params["Bucket"] == BUCKET and params["Key"] == layout.claim_key(V1),
    )
    result = staging.invoke("--bucket", BUCKET, "promote", V1, "--from-bucket", STAGING)
    assert result.exit_code == 1
    assert result.output.endswith(
        f"Error: version {V1} changed while its manifest was being written (robots.txt has 7 bytes, not 13); "
        "the manifest was withdrawn and the version is incomplete: run the same promote again "
        "with --resume once no other promote of it runs\n"
    )
    assert not storage.is_complete(staging.s3, BUCKET, V1)


def test_a_destination_version_with_other_content_is_refused_with_nothing_written(staging: World) -> None:
    stage(staging.s3, STAGING)
    staging.s3.put_object(Bucket=BUCKET, Key=layout.object_key(V1, "index.html"), Body=b"<html>prod</html>")
    other = layout.Manifest(version=V1, created="2026-11-27T13:00:00+00:00")
    staging.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=other.to_json().encode())
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 2
    assert f"version {V1} already exists in {BUCKET} with different content" in result.output
    assert {"CopyObject", "PutObject"}.isdisjoint(operations(calls))
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == other.to_json().encode()


def test_a_complete_destination_with_a_tampered_object_is_refused(staging: World) -> None:
    stage(staging.s3, STAGING)
    assert staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET).exit_code == 0
    tampered = layout.object_key(V1, "assets/app.fa10386f.js")
    staging.s3.put_object(Bucket=BUCKET, Key=tampered, Body=b"console.log('evil')")
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 2
    assert f"version {V1} is complete in {BUCKET} but differs from {STAGING}: {tampered} (19 bytes" in (
        result.output
    )
    assert {"CopyObject", "PutObject"}.isdisjoint(operations(calls))
    assert body(staging.s3, BUCKET, tampered) == b"console.log('evil')"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"sha256": "0" * 64, "site-version": V1}, f"has sha256 {'0' * 64}, the manifest says"),
        (
            {"sha256": hashlib.sha256(b"User-agent: *").hexdigest(), "site-version": V2},
            f"is stamped with version {V2}",
        ),
    ],
)
def test_a_complete_destination_with_tampered_metadata_is_refused(
    staging: World, metadata: dict[str, str], message: str
) -> None:
    stage(staging.s3, STAGING)
    assert staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET).exit_code == 0
    key = layout.object_key(V1, "robots.txt")
    # The same bytes (the same ETag), other metadata.
    staging.s3.copy_object(
        Bucket=BUCKET,
        Key=key,
        CopySource={"Bucket": BUCKET, "Key": key},
        MetadataDirective="REPLACE",
        Metadata=metadata,
    )

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 2
    assert (
        f"version {V1} is complete in {BUCKET} but differs from {STAGING}: {key} {message}" in result.output
    )


def test_promoting_the_same_version_again_copies_nothing(staging: World) -> None:
    stage(staging.s3, STAGING)
    assert staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET).exit_code == 0
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == V1
    assert f"{V1} is already complete in {BUCKET} with the same content: nothing copied" in result.stderr
    # Two bucket locations, each manifest read once, each prefix listed once, each object checked;
    # running prunes and the shared area listed: every fingerprinted file is already shared.
    assert operations(calls) == {"GetBucketLocation": 2, "GetObject": 2, "ListObjectsV2": 4, "HeadObject": 5}


def test_an_interrupted_promote_is_completed_by_running_it_again(staging: World) -> None:
    manifest = stage(staging.s3, STAGING)
    fault = CopyFault(staging.s3, 2, lambda: client_error("AccessDenied", 403))

    first = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET, "--workers", "4")

    assert first.exit_code == 1
    assert "failed: AWS CopyObject failed: AccessDenied: AccessDenied" in first.output
    assert (
        f"version {V1} stays incomplete in {BUCKET}: run the same promote again with --resume to complete it"
        in first.output
    )
    assert len(fault.copied) == 2
    assert keys(staging) == sorted([layout.claim_key(V1), *fault.copied])

    fault.stop()
    without_resume = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)
    assert without_resume.exit_code == 2
    assert "no longer running, run the same promote again with --resume" in without_resume.output
    calls = record_calls(staging.s3)
    second = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET, "--resume")

    assert second.exit_code == 0, second.output
    assert "5 files (87 bytes): 3 copied server-side" in second.stderr
    assert "2 already in place" in second.stderr
    assert sorted(p["Key"] for name, p in without_publishing(calls) if name == "CopyObject") == sorted(
        set(FILE_KEYS) - set(fault.copied)
    )
    assert keys(staging) == sorted([*FILE_KEYS, *SHARED_KEYS, layout.claim_key(V1), layout.manifest_key(V1)])
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest


@pytest.mark.parametrize(
    ("leftover", "metadata"),
    [
        (b"<html>half</html>", {}),  # other bytes
        (b"<html>home</html>", {"sha256": "0" * 64}),  # the same bytes (ETag), a wrong sha256
    ],
)
def test_a_leftover_object_that_differs_is_copied_again(
    staging: World, leftover: bytes, metadata: dict[str, str]
) -> None:
    stage(staging.s3, STAGING)
    stale = layout.object_key(V1, "index.html")
    leftover_etag = staging.s3.put_object(Bucket=BUCKET, Key=stale, Body=leftover, Metadata=metadata)["ETag"]
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 0, result.output
    assert operations(without_publishing(calls))["CopyObject"] == 5
    # Overwritten only if it is still the leftover that was listed.
    assert [
        (p.get("IfMatch"), p.get("IfNoneMatch"))
        for name, p in calls
        if name == "CopyObject" and p["Key"] == stale
    ] == [(leftover_etag, None)]
    assert body(staging.s3, BUCKET, stale) == b"<html>home</html>"
    assert staging.s3.head_object(Bucket=BUCKET, Key=stale)["Metadata"][layout.SHA256_METADATA_KEY] == (
        hashlib.sha256(b"<html>home</html>").hexdigest()
    )


def test_an_extra_object_under_the_destination_prefix_is_refused_with_nothing_written(staging: World) -> None:
    stage(staging.s3, STAGING)
    staging.s3.put_object(Bucket=BUCKET, Key=f"{V1}/old.html", Body=b"old")
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 2
    assert (
        f"s3://{BUCKET}/{V1}/ holds 1 object(s) that version {V1} of {STAGING} does not have "
        f"(e.g. {V1}/old.html)" in result.output
    )
    assert {"CopyObject", "PutObject"}.isdisjoint(operations(calls))


def test_a_source_object_changed_during_the_promote_stops_it_before_the_manifest(staging: World) -> None:
    stage(staging.s3, STAGING)
    writer = _SESSION.client("s3", region_name="us-east-1")

    # S3 answers 412 when x-amz-copy-source-if-match differs from the source's ETag; moto ignores the
    # header, so this hook answers as S3 would, after another writer changed one source object.
    def as_s3_would(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].endswith("robots.txt"):
            writer.put_object(Bucket=STAGING, Key=params["Key"], Body=b"User-agent: bot")
        current = writer.head_object(Bucket=STAGING, Key=params["Key"])["ETag"]
        if params["CopySourceIfMatch"] != current:
            raise client_error("PreconditionFailed", 412)

    staging.s3.meta.events.register("before-parameter-build.s3.CopyObject", as_s3_would)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET, "--workers", "1")

    assert result.exit_code == 1
    assert f"s3://{STAGING}/{V1}/robots.txt changed while it was being promoted" in result.output
    assert layout.manifest_key(V1) not in keys(staging)


def test_a_transient_copy_error_is_retried(staging: World) -> None:
    stage(staging.s3, STAGING)
    failures = [client_error("SlowDown", 503), client_error("InternalError", 500)]

    def fail_twice(**_: Any) -> None:
        if failures:
            raise failures.pop(0)

    staging.s3.meta.events.register("before-parameter-build.s3.CopyObject", fail_twice)
    clock = ManualClock()
    started: list[tuple[int, int]] = []
    progress: list[int] = []

    report = promotion.promote_version(
        promotion.BucketRef(staging.s3, STAGING),
        promotion.BucketRef(staging.s3, BUCKET),
        V1,
        workers=1,
        attempts=3,
        on_start=lambda files, size: started.append((files, size)),
        progress=progress.append,
        sleep=clock.sleep,
    )

    assert len(clock.sleeps) == 2
    assert started == [(5, 87)]
    assert sorted(progress) == [13, 17, 18, 18, 21]  # each file once, when it is in place
    assert (report.copied_files, report.skipped_files, report.already_complete) == (5, 0, False)
    assert staging.s3.head_object(Bucket=BUCKET, Key=layout.manifest_key(V1))["ContentLength"] > 0


def test_a_permanent_copy_error_is_not_retried(staging: World) -> None:
    stage(staging.s3, STAGING)
    fault = CopyFault(staging.s3, 0, lambda: client_error("AccessDenied", 403))
    clock = ManualClock()

    with pytest.raises(StoreError, match=f"copying {V1}/.* failed: AWS CopyObject failed: AccessDenied"):
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING),
            promotion.BucketRef(staging.s3, BUCKET),
            V1,
            workers=1,
            sleep=clock.sleep,
        )
    assert clock.sleeps == [] and fault.copied == []
    assert keys(staging) == [layout.claim_key(V1)]  # claimed, for a --resume
    fault.stop()
    with pytest.raises(storage.VersionClaimedError, match="run the same promote again with --resume$"):
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
        )


def _error_without(*fields: str) -> ClientError:
    """A ClientError whose `Error` lacks `fields` (S3 through a proxy, or an S3-compatible store)."""
    info = {
        name: value
        for name, value in {"Code": "AccessDenied", "Message": "Denied"}.items()
        if name not in fields
    }
    response: Any = {"Error": info, "ResponseMetadata": {"HTTPStatusCode": 403}}
    return ClientError(response, "CopyObject")


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (lambda: _error_without(), "AWS CopyObject failed: AccessDenied: Denied"),
        (lambda: _error_without("Message"), "AWS CopyObject failed: AccessDenied"),
        (lambda: _error_without("Code", "Message"), "AWS CopyObject failed: Error"),
        (ConnectionResetError, "ConnectionResetError"),  # no message: its kind
        (lambda: ValueError("bad header value"), "bad header value"),
    ],
)
def test_a_failed_copy_is_described_in_one_line(
    staging: World, error: Callable[[], Exception], described: str
) -> None:
    stage(staging.s3, STAGING)
    CopyFault(staging.s3, 0, error)

    with pytest.raises(StoreError) as failed:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1, workers=1
        )

    assert str(failed.value) == (
        f"copying {V1}/about/index.html failed: {described}; version {V1} stays incomplete in {BUCKET}: "
        "run the same promote again with --resume to complete it"
    )


@pytest.mark.parametrize(
    ("meddle", "problem"),
    [
        (lambda s3, key: s3.delete_object(Bucket=BUCKET, Key=key), "is missing"),
        (
            lambda s3, key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"bad"),
            "has 3 bytes, the manifest says 18",
        ),
    ],
)
def test_a_copy_changed_right_after_it_landed_stops_the_promote(
    staging: World, meddle: Callable[[S3Client, str], object], problem: str
) -> None:
    stage(staging.s3, STAGING)
    writer = _SESSION.client("s3", region_name="us-east-1")
    copied: list[str] = []
    staging.s3.meta.events.register(
        "before-parameter-build.s3.CopyObject", lambda params, **_: copied.append(params["Key"])
    )

    def after_the_copy(**_: Any) -> None:
        if len(copied) == 1:
            meddle(writer, copied[0])

    staging.s3.meta.events.register("after-call.s3.CopyObject", after_the_copy)

    with pytest.raises(StoreError) as failed:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1, workers=1
        )

    key = f"{V1}/about/index.html"
    assert str(failed.value).startswith(
        f"copying {key} failed: after the copy, {key} {problem}; version {V1}"
    )
    assert layout.manifest_key(V1) not in keys(staging)


def test_a_failed_copy_drops_the_copies_not_yet_started(staging: World) -> None:
    stage(staging.s3, STAGING)
    attempted: list[str] = []
    staging.s3.meta.events.register(
        "before-parameter-build.s3.CopyObject", lambda params, **_: attempted.append(params["Key"])
    )
    CopyFault(staging.s3, 0, lambda: client_error("AccessDenied", 403))

    with pytest.raises(StoreError, match="failed: AWS CopyObject failed: AccessDenied"):
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1, workers=1
        )

    # The one worker may have started the next copy before the failure was seen; no more.
    assert 1 <= len(attempted) <= 2


def test_an_unreadable_destination_object_is_an_error_not_a_difference(staging: World) -> None:
    stage(staging.s3, STAGING)
    assert staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET).exit_code == 0

    def denied(params: dict[str, Any], **_: Any) -> None:
        if params["Bucket"] == BUCKET and params["Key"].startswith(f"{V1}/"):
            raise client_error("AccessDenied", 403, "HeadObject")

    staging.s3.meta.events.register("before-parameter-build.s3.HeadObject", denied)

    with pytest.raises(ClientError) as failed:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
        )
    assert failed.value.response["Error"]["Code"] == "AccessDenied"


def test_a_promote_that_completes_the_version_first_leaves_nothing_to_do(staging: World) -> None:
    manifest = stage(staging.s3, STAGING)
    other = _SESSION.client("s3", region_name="us-east-1")
    raced: list[promotion.PromoteReport] = []

    # Between this promote's look at the destination and its claim, another promote completes it.
    def promote_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == layout.manifest_key(V1) and not raced:
            raced.append(
                promotion.promote_version(
                    promotion.BucketRef(other, STAGING), promotion.BucketRef(other, BUCKET), V1
                )
            )

    staging.s3.meta.events.register("before-parameter-build.s3.HeadObject", promote_first)

    report = promotion.promote_version(
        promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
    )

    assert raced[0].copied_files == 5
    assert (report.already_complete, report.copied_files, report.skipped_files) == (True, 0, 5)
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest


def test_a_key_written_after_the_listing_is_copied_over_on_the_condition_of_what_is_there(
    staging: World,
) -> None:
    # An earlier, unclaimed attempt left `index.html` after this promote listed the prefix: the copy
    # (If-None-Match) is refused, the source is unchanged, so the copy is made again on If-Match.
    manifest = stage(staging.s3, STAGING)
    key = layout.object_key(V1, "index.html")
    writer = _SESSION.client("s3", region_name="us-east-1")
    conditions: list[tuple[str | None, str | None]] = []
    leftover: list[str] = []

    def as_s3_would(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] != key:
            return
        conditions.append((params.get("IfMatch"), params.get("IfNoneMatch")))
        if not leftover:
            leftover.append(writer.put_object(Bucket=BUCKET, Key=key, Body=b"<html>half</html>")["ETag"])
        if params.get("IfNoneMatch") == "*":
            raise client_error("PreconditionFailed", 412)

    staging.s3.meta.events.register("before-parameter-build.s3.CopyObject", as_s3_would)

    report = promotion.promote_version(
        promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
    )

    assert conditions == [(None, "*"), (leftover[0], None)]
    assert report.copied_files == 5
    assert body(staging.s3, BUCKET, key) == b"<html>home</html>"
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest


def test_the_manifest_written_by_someone_else_meanwhile_is_not_overwritten(staging: World) -> None:
    stage(staging.s3, STAGING)
    other = layout.Manifest(version=V1, created="2026-11-27T13:00:00+00:00").to_json().encode()
    writer = _SESSION.client("s3", region_name="us-east-1")

    def complete_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == layout.manifest_key(V1):
            writer.put_object(Bucket=BUCKET, Key=params["Key"], Body=other)

    staging.s3.meta.events.register("before-parameter-build.s3.PutObject", complete_first)

    with pytest.raises(StoreRefusedError) as refused:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
        )
    assert str(refused.value) == (
        f"version {V1} was completed in {BUCKET} by someone else meanwhile, with different content"
    )
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == other


def test_the_same_manifest_written_by_someone_else_meanwhile_is_accepted(staging: World) -> None:
    manifest = stage(staging.s3, STAGING)
    writer = _SESSION.client("s3", region_name="us-east-1")

    def complete_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == layout.manifest_key(V1):
            writer.put_object(Bucket=BUCKET, Key=params["Key"], Body=manifest)

    staging.s3.meta.events.register("before-parameter-build.s3.PutObject", complete_first)

    report = promotion.promote_version(
        promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1
    )

    assert (report.copied_files, report.already_complete) == (5, False)
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest


@pytest.mark.parametrize(
    ("region", "expected"),
    [("us-east-1", "us-east-1"), ("eu-west-1", "eu-west-1"), ("ap-southeast-2", "ap-southeast-2")],
)
def test_bucket_region(world: World, region: str, expected: str) -> None:
    s3 = _SESSION.client("s3", region_name=region)
    configuration = (
        {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=f"bucket-in-{region}", **configuration)  # type: ignore[arg-type]
    assert promotion.bucket_region(world.s3, f"bucket-in-{region}") == expected


def test_a_bucket_of_the_old_eu_location_is_in_eu_west_1() -> None:
    # Buckets made before eu-west-1 had its name answer "EU" (moto makes none such).
    s3 = _SESSION.client("s3", region_name="us-east-1")
    with Stubber(s3) as stubbed:
        stubbed.add_response("get_bucket_location", {"LocationConstraint": "EU"}, {"Bucket": "old-bucket"})
        assert promotion.bucket_region(s3, "old-bucket") == "eu-west-1"


def test_buckets_in_two_regions_are_each_addressed_in_their_own_region(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    eu = _SESSION.client("s3", region_name="eu-west-1")
    eu.create_bucket(Bucket=STAGING, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    manifest = stage(eu, STAGING)
    made: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    real = promote_command_module.regional_client

    def recording(base: S3Client, region: str) -> S3Client:
        client = real(base, region)
        if client is not base:
            made[region] = record_calls(client)
        return client

    monkeypatch.setattr(promote_command_module, "regional_client", recording)
    base_calls = record_calls(world.s3)

    result = world.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 0, result.output
    assert body(world.s3, BUCKET, layout.manifest_key(V1)) == manifest
    # The eu-west-1 client read the source; the destination's (the us-east-1 base) copied into it.
    assert operations(made["eu-west-1"]) == {"GetObject": 1, "ListObjectsV2": 1}
    assert {p["Bucket"] for _, p in made["eu-west-1"]} == {STAGING}
    assert operations(without_publishing(base_calls))["CopyObject"] == 5
    assert {p["Bucket"] for name, p in base_calls if name != "GetBucketLocation"} == {BUCKET}


def test_a_regional_client_keeps_the_base_configuration(world: World) -> None:
    base = _SESSION.client(
        "s3", region_name="us-east-1", config=Config(retries={"max_attempts": 3}, max_pool_connections=32)
    )
    assert promote_command_module.regional_client(base, "us-east-1") is base
    other = promote_command_module.regional_client(base, "eu-central-1")
    assert other.meta.region_name == "eu-central-1"
    config: Any = other.meta.config
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    assert config.max_pool_connections == 32
    assert other.meta.endpoint_url == "https://s3.eu-central-1.amazonaws.com"


def test_a_regional_client_keeps_an_endpoint_of_ones_own(world: World) -> None:
    base = _SESSION.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:5000")
    other = promote_command_module.regional_client(base, "eu-west-1")
    assert (other.meta.region_name, other.meta.endpoint_url) == ("eu-west-1", "http://127.0.0.1:5000")


def test_a_destination_in_another_region_is_written_through_its_own_client(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.s3.create_bucket(Bucket=STAGING)
    stage(world.s3, STAGING)
    eu = _SESSION.client("s3", region_name="eu-west-1")
    eu.create_bucket(
        Bucket="site-bucket-prod-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    made: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    real = promote_command_module.regional_client

    def recording(base: S3Client, region: str) -> S3Client:
        client = real(base, region)
        if client is not base:
            made[region] = record_calls(client)
        return client

    monkeypatch.setattr(promote_command_module, "regional_client", recording)

    result = world.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", "site-bucket-prod-eu")

    assert result.exit_code == 0, result.output
    counts = operations(without_publishing(made["eu-west-1"]))
    assert (counts["CopyObject"], counts["PutObject"], counts["HeadObject"]) == (5, 2, 6)
    assert keys(world, "_assets/") == [], "the destination's own area, not the source bucket's"
    shared = {p["Key"] for name, p in made["eu-west-1"] if name == "CopyObject"} - set(FILE_KEYS)
    assert sorted(shared) == SHARED_KEYS
    assert {p["Bucket"] for _, p in made["eu-west-1"]} == {"site-bucket-prod-eu"}


def test_from_stack_to_stack_with_release_goes_through_the_release_path(staging: World) -> None:
    stage(staging.s3, STAGING)

    result = staging.invoke("promote", V1, "--from-stack", "staging", "--stack", "test", "--release")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == V1
    assert staging.stack.version == V1
    assert f"up {POINTER_URN},{SWITCH_URN}" in staging.stack.calls
    assert staging.stack.updates[0].message.startswith(f"sitectl promote {V1} by ")
    assert f"released {V1} (was none)" in result.stderr
    assert staging.stacks["staging"].mutations == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from-bucket", STAGING, "--from-stack", "staging"],
            "exactly one of --from-bucket or --from-stack",
        ),
        ([], "exactly one of --from-bucket or --from-stack"),
        (["--from-bucket", BUCKET], f"source and destination are the same bucket ({BUCKET})"),
        (["--from-bucket", STAGING, "--release"], "--release needs the destination's Pulumi stack"),
    ],
)
def test_bad_arguments_are_refused_with_nothing_written(
    staging: World, args: list[str], message: str
) -> None:
    stage(staging.s3, STAGING)
    result = staging.invoke("promote", V1, "--bucket", BUCKET, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert keys(staging) == []


def test_a_malformed_version_is_refused(staging: World) -> None:
    result = staging.invoke("promote", "v1", "--from-bucket", STAGING, "--bucket", BUCKET)
    assert result.exit_code == 2
    assert "'v1' is not a valid version id" in result.output
    with pytest.raises(
        StoreRefusedError, match="^version 'v1' is not a valid version id: expected YYYYMMDDTHHMMSSZ"
    ):
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), "v1"
        )


MEBIBYTE = 1024 * 1024
VIDEO = layout.object_key(V1, "video.bin")


def stage_multipart(s3: S3Client, parts: list[bytes]) -> tuple[bytes, str]:
    """A version of one multipart object, `video.bin`, uploaded in `parts`; its content and ETag."""
    content = b"".join(parts)
    sha256 = hashlib.sha256(content).hexdigest()
    upload = s3.create_multipart_upload(
        Bucket=STAGING,
        Key=VIDEO,
        ContentType="application/octet-stream",
        CacheControl="max-age=60",
        Metadata={layout.SHA256_METADATA_KEY: sha256, layout.VERSION_METADATA_KEY: V1},
    )
    etags = [
        s3.upload_part(Bucket=STAGING, Key=VIDEO, UploadId=upload["UploadId"], PartNumber=n, Body=part)[
            "ETag"
        ]
        for n, part in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=STAGING,
        Key=VIDEO,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    entry = layout.ManifestFile(len(content), sha256, "application/octet-stream", "max-age=60")
    manifest = layout.Manifest(version=V1, created="2026-11-27T12:00:00+00:00", files={"video.bin": entry})
    s3.put_object(Bucket=STAGING, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
    return content, s3.head_object(Bucket=STAGING, Key=VIDEO)["ETag"]


def test_a_multipart_object_is_copied_part_for_part_and_keeps_its_etag(staging: World) -> None:
    # S3 gives a CopyObject copy the MD5 of the whole object as its ETag (moto keeps the source's);
    # copying the same parts is what keeps a multipart ETag equal to the source's.
    key = VIDEO
    # Parts of S3's smallest size (but the last), each of another length.
    content, source_etag = stage_multipart(
        staging.s3, [b"a" * (5 * MEBIBYTE + 1000), b"b" * (5 * MEBIBYTE), b"c" * 1000]
    )
    sha256 = hashlib.sha256(content).hexdigest()
    assert source_etag.endswith('-3"')
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 0, result.output
    counts = operations(list(calls))
    assert (counts["UploadPartCopy"], counts["CompleteMultipartUpload"], counts.get("CopyObject", 0)) == (
        3,
        1,
        0,
    )
    ranges = [(p["PartNumber"], p["CopySourceRange"]) for name, p in calls if name == "UploadPartCopy"]
    assert ranges == [(1, "bytes=0-5243879"), (2, "bytes=5243880-10486759"), (3, "bytes=10486760-10487759")]
    assert {p["CopySourceIfMatch"] for name, p in calls if name == "UploadPartCopy"} == {source_etag}
    # The sha256 checked (the manifest records no ETag) and the headers read, both from the very
    # object listed; the upload lands only where nothing is.
    source_heads = [p for name, p in calls if name == "HeadObject" and p["Bucket"] == STAGING]
    assert [p.get("IfMatch") for p in source_heads if "PartNumber" not in p] == [source_etag, source_etag]
    assert [p["IfNoneMatch"] for name, p in calls if name == "CompleteMultipartUpload"] == ["*"]
    head = staging.s3.head_object(Bucket=BUCKET, Key=key)
    assert (head["ETag"], head["ContentType"], head["CacheControl"]) == (
        source_etag,
        "application/octet-stream",
        "max-age=60",
    )
    assert head["Metadata"] == {"sha256": sha256, "site-version": V1}
    assert body(staging.s3, BUCKET, key) == content
    assert staging.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_destination_changed_during_the_copies_gets_no_manifest(staging: World) -> None:
    stage(staging.s3, STAGING)
    writer = _SESSION.client("s3", region_name="us-east-1")
    intruder = f"{V1}/intruder.html"

    def write_beside(params: dict[str, Any], **_: Any) -> None:
        writer.put_object(Bucket=BUCKET, Key=intruder, Body=b"not from staging")

    staging.s3.meta.events.register("before-parameter-build.s3.CopyObject", write_beside)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 1
    assert (
        f"s3://{BUCKET}/{V1}/ changed during the promote: {intruder} is not in the source version; "
        "the manifest was not written"
    ) in result.output
    assert layout.manifest_key(V1) not in keys(staging)


def test_ctrl_c_leaves_an_incomplete_version_and_says_how_to_complete_it(
    staging: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(promotion, "promote_version", interrupted)
    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: promote of {V1} interrupted; it stays incomplete in {BUCKET}: "
        "run the same command again with --resume to complete it"
    )


def test_nothing_is_released_when_the_promote_is_refused(staging: World) -> None:
    stage(staging.s3, STAGING, complete=False)

    result = staging.invoke("promote", V1, "--from-stack", "staging", "--stack", "test", "--release")

    assert result.exit_code == 2
    assert f"version {V1} is incomplete (no manifest) in {STAGING}" in result.output
    assert staging.stack.mutations == []
    assert keys(staging) == []


def test_a_version_an_upload_holds_is_not_promoted_into(staging: World, tmp_path: Path) -> None:
    stage(staging.s3, STAGING)
    storage.claim_version(staging.s3, BUCKET, storage.new_claim(V1))  # an upload of V1, running
    calls = record_calls(staging.s3)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET)

    assert result.exit_code == 2
    assert f"version {V1} is already being uploaded by upload " in result.output
    assert [p["Key"] for name, p in calls if name in ("PutObject", "CopyObject")] == [layout.claim_key(V1)]
    assert keys(staging) == [layout.claim_key(V1)]  # the upload's claim, nothing else


def test_an_upload_of_a_version_being_promoted_is_refused(staging: World, tmp_path: Path) -> None:
    manifest = stage(staging.s3, STAGING)
    refused: list[Exception] = []
    build = sample_build(tmp_path / "dist")

    def upload_meanwhile(params: dict[str, Any], **_: Any) -> None:
        if not refused:
            try:
                upload_build(staging.s3, BUCKET, build, V1)
            except Exception as error:  # asserted in the main thread
                refused.append(error)

    staging.s3.meta.events.register("before-parameter-build.s3.CopyObject", upload_meanwhile)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET, "--workers", "1")

    assert result.exit_code == 0, result.output
    assert isinstance(refused[0], storage.VersionClaimedError)
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest
    assert storage.verify_version(staging.s3, BUCKET, V1) == []


def test_prune_during_a_promote_into_the_same_bucket_leaves_it_alone(staging: World, tmp_path: Path) -> None:
    manifest = stage(staging.s3, STAGING)
    upload_build(staging.s3, BUCKET, sample_build(tmp_path / "live"), V2)
    staging.set_live(V2)  # V1, being promoted, is older than the live version
    pruned: list[Any] = []

    def prune_meanwhile(params: dict[str, Any], **_: Any) -> None:
        if len(pruned) == 0 and params["Key"].endswith("robots.txt"):
            args = ["--bucket", BUCKET, "--parameter", PARAMETER, "prune", "--keep", "0", "--apply"]
            pruned.append(staging.invoke(*args, "--skip-stack-check"))

    staging.s3.meta.events.register("before-parameter-build.s3.CopyObject", prune_meanwhile)

    result = staging.invoke("promote", V1, "--from-bucket", STAGING, "--bucket", BUCKET, "--workers", "1")

    assert pruned[0].exit_code == 0, pruned[0].output
    assert f"{V1}" in pruned[0].output and "incomplete, written to within 24 h" in pruned[0].output
    assert result.exit_code == 0, result.output
    assert body(staging.s3, BUCKET, layout.manifest_key(V1)) == manifest
    assert storage.verify_version(staging.s3, BUCKET, V1) == []


def test_one_worker_makes_one_request_at_a_time(staging: World) -> None:
    stage(staging.s3, STAGING)
    lock = threading.Lock()
    in_flight = [0]
    most: list[int] = []

    def started(**_: Any) -> None:
        with lock:
            in_flight[0] += 1
            most.append(in_flight[0])
        # Not needed for the assertion: a moment for a second worker, were there one, to start.
        time.sleep(0.002)

    def finished(**_: Any) -> None:
        with lock:
            in_flight[0] -= 1

    staging.s3.meta.events.register("before-call.s3", started)
    staging.s3.meta.events.register("after-call.s3", finished)
    source, destination = promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET)

    copied = promotion.promote_version(source, destination, V1, workers=1)
    checked = promotion.promote_version(source, destination, V1, workers=1)  # the objects, checked again

    assert (copied.copied_files, checked.already_complete) == (5, True)
    assert max(most) == 1


def test_a_multipart_source_replaced_while_its_parts_are_read_stops_the_copy(staging: World) -> None:
    stage_multipart(staging.s3, [b"a" * (5 * MEBIBYTE), b"b" * 1000])
    writer = _SESSION.client("s3", region_name="us-east-1")

    # After the headers were read (pinned to the listed ETag), another writer replaces the object.
    def replace_first(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 1:
            writer.put_object(Bucket=STAGING, Key=VIDEO, Body=b"replaced")

    staging.s3.meta.events.register("before-parameter-build.s3.HeadObject", replace_first)

    with pytest.raises(StoreError) as failed:
        promotion.promote_version(
            promotion.BucketRef(staging.s3, STAGING), promotion.BucketRef(staging.s3, BUCKET), V1, workers=1
        )

    assert str(failed.value).startswith(
        f"copying {VIDEO} failed: the parts of s3://{STAGING}/{VIDEO} add up to 8 bytes, not 5243880; "
    )
    assert keys(staging) == [layout.claim_key(V1)]
    assert staging.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
