"""sitectl upload against moto: headers, manifest last, refusals, dedupe by server-side copy,
completing an interrupted upload, retries."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from edge_lambda import layout
from scripts.commands.errors import SitectlError
from scripts.commands.upload import (
    describe_excluded,
    plan_upload,
    upload_build,
)
from scripts.versionstore import store as storage
from scripts.versionstore import transfer
from scripts.versionstore.build import scan_build
from scripts.versionstore.content_headers import (
    IMMUTABLE_CACHE_CONTROL,
    REVALIDATE_CACHE_CONTROL,
    cache_control_for,
    content_type_for,
    is_fingerprinted,
)
from scripts.versionstore.errors import StoreRefusedError
from scripts.versionstore.transfer import is_transient, with_retries
from tests.sitectl_scaffold import BUCKET, V1, V2, World, keys, sample_build, world, write_build

__all__ = ["world"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("a/b.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.MJS", "text/javascript; charset=utf-8"),
        ("data.json", "application/json"),
        ("logo.svg", "image/svg+xml"),
        ("x.wasm", "application/wasm"),
        ("f.woff2", "font/woff2"),
        ("site.webmanifest", "application/manifest+json"),
        ("app.js.map", "application/json"),
        ("i.avif", "image/avif"),
        ("i.webp", "image/webp"),
        ("robots.txt", "text/plain; charset=utf-8"),
        ("sitemap.xml", "application/xml"),
        ("LICENSE", "application/octet-stream"),
        ("archive.xyz", "application/octet-stream"),
    ],
)
def test_content_type_from_extension(path: str, expected: str) -> None:
    assert content_type_for(path) == expected


@pytest.mark.parametrize(
    ("path", "fingerprinted"),
    [
        ("assets/app.2defdb23.css", True),
        ("assets/app.fa10386f.js", True),
        ("assets/app.fa10386f.js.map", True),
        ("assets/index-BjQ8f2Kd.js", True),
        ("_next/static/chunks/framework-2c79e2a64abdb08b.js", True),
        ("chunks/8c3f1a2b4d5e6f70.js", True),
        ("assets/logo.svg", False),
        ("assets/settings.js", False),
        ("assets/page-licenses.css", False),
        ("assets/2024/report.pdf", False),
        ("fonts/Inter-Regular.woff2", False),
    ],
)
def test_fingerprinted_names(path: str, fingerprinted: bool) -> None:
    assert is_fingerprinted(path) is fingerprinted
    expected = IMMUTABLE_CACHE_CONTROL if fingerprinted else REVALIDATE_CACHE_CONTROL
    assert cache_control_for(path) == expected


def test_html_is_revalidated_even_when_fingerprinted() -> None:
    assert cache_control_for("page.2defdb23.html") == REVALIDATE_CACHE_CONTROL


def test_upload_stores_files_with_headers_and_the_manifest(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "dist")
    result = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == V1

    css = world.s3.head_object(Bucket=BUCKET, Key=f"{V1}/assets/app.2defdb23.css")
    assert css["ContentType"] == "text/css; charset=utf-8"
    assert css["CacheControl"] == IMMUTABLE_CACHE_CONTROL
    html = world.s3.get_object(Bucket=BUCKET, Key=f"{V1}/index.html")
    assert html["ContentType"] == "text/html; charset=utf-8"
    assert html["CacheControl"] == REVALIDATE_CACHE_CONTROL
    assert html["Body"].read() == b"<html><body>home v1</body></html>"
    blob = world.s3.head_object(Bucket=BUCKET, Key=f"{V1}/data/blob.bin")
    assert blob["ContentType"] == "application/octet-stream"

    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    assert sorted(manifest.files) == sorted(
        [
            "index.html",
            "about/index.html",
            "assets/app.2defdb23.css",
            "assets/app.fa10386f.js",
            "assets/logo.svg",
            "robots.txt",
            "data/blob.bin",
        ]
    )
    assert manifest.files["robots.txt"].size == len("User-agent: *")
    assert manifest.files["assets/app.2defdb23.css"].cache_control == IMMUTABLE_CACHE_CONTROL


def test_default_version_is_the_current_utc_time(world: World, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)
    report = upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), now=now)
    assert report.version == "20261127T101500Z"
    assert storage.is_complete(world.s3, BUCKET, report.version)


def test_manifest_is_written_after_every_file(world: World, tmp_path: Path) -> None:
    order: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        order.append(params["Key"])

    world.s3.meta.events.register("provide-client-params.s3.PutObject", record)
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1, workers=4)
    assert order[0] == layout.claim_key(V1)
    assert order[-1] == layout.manifest_key(V1)
    assert len(order) == 9


def test_refuses_an_empty_directory(world: World, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    result = world.invoke("--bucket", BUCKET, "upload", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert "holds no files" in result.output
    assert keys(world) == []


def test_refuses_a_symlink_leading_outside(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "dist")
    (tmp_path / "secret.txt").write_text("do not publish")
    os.symlink(tmp_path / "secret.txt", build / "leak.txt")
    result = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert result.exit_code == 2
    assert "symlink leak.txt leads outside" in result.output
    assert keys(world) == []


def test_follows_symlinks_inside_the_directory(tmp_path: Path) -> None:
    build = sample_build(tmp_path / "dist")
    os.symlink(build / "about", build / "about-us")
    os.symlink(build / "index.html", build / "home.html")
    paths = {f.path for f in scan_build(build).files}
    assert {"about-us/index.html", "home.html", "about/index.html"} <= paths


def test_refuses_a_symlink_loop(tmp_path: Path) -> None:
    build = sample_build(tmp_path / "dist")
    os.symlink(build, build / "about" / "again")
    with pytest.raises(StoreRefusedError, match="symlink about/again forms a loop"):
        scan_build(build)


def test_refuses_an_existing_complete_version(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "dist")
    assert world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1).exit_code == 0
    result = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert result.exit_code == 2
    assert f"version {V1} already exists and is complete" in result.output


def test_refuses_a_malformed_version(world: World, tmp_path: Path) -> None:
    result = world.invoke("--bucket", BUCKET, "upload", str(sample_build(tmp_path / "d")), "--version", "v1")
    assert result.exit_code == 2
    assert "not a valid version id" in result.output


def test_bucket_from_the_environment_and_from_the_stack(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = sample_build(tmp_path / "dist")
    monkeypatch.setenv("SITE_BUCKET", BUCKET)
    assert world.invoke("upload", str(build), "--version", V1).exit_code == 0
    monkeypatch.delenv("SITE_BUCKET")
    assert world.invoke("--stack", "test", "upload", str(build), "--version", V2).exit_code == 0
    assert storage.complete_versions(world.s3, BUCKET) == [V2, V1]
    result = world.invoke("upload", str(build))
    assert result.exit_code == 2
    assert "no bucket" in result.output


def test_unchanged_files_are_copied_server_side(world: World, tmp_path: Path) -> None:
    first = upload_build(world.s3, BUCKET, sample_build(tmp_path / "v1", marker="v1"), V1)
    assert first.sent_files == 7 and first.copied_files == 0

    second = upload_build(world.s3, BUCKET, sample_build(tmp_path / "v2", marker="v2"), V2)
    assert second.sent_files == 1  # index.html changed
    assert second.copied_files == 6
    assert second.sent_bytes < first.sent_bytes
    copied = world.s3.head_object(Bucket=BUCKET, Key=f"{V2}/assets/app.2defdb23.css")
    assert copied["CacheControl"] == IMMUTABLE_CACHE_CONTROL
    assert copied["ContentType"] == "text/css; charset=utf-8"
    body = world.s3.get_object(Bucket=BUCKET, Key=f"{V2}/index.html")["Body"].read()
    assert body == b"<html><body>home v2</body></html>"


def test_a_copy_takes_the_headers_of_its_own_name(world: World, tmp_path: Path) -> None:
    write_build(tmp_path / "v1", {"a.txt": "same bytes"})
    write_build(tmp_path / "v2", {"b.json": "same bytes"})
    upload_build(world.s3, BUCKET, tmp_path / "v1", V1)
    report = upload_build(world.s3, BUCKET, tmp_path / "v2", V2)
    assert report.copied_files == 1
    assert world.s3.head_object(Bucket=BUCKET, Key=f"{V2}/b.json")["ContentType"] == "application/json"


class FailingPuts:
    """Wraps an S3 client: PutObject fails for the keys chosen, with the given error code and status."""

    def __init__(self, s3: Any, fail: dict[str, int], code: str = "InternalError", status: int = 500) -> None:
        self._s3 = s3
        self.fail = fail  # key suffix -> remaining failures
        self.code = code
        self.status = status

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        for suffix, remaining in self.fail.items():
            if kwargs["Key"].endswith(suffix) and remaining > 0:
                self.fail[suffix] = remaining - 1
                error: Any = {
                    "Error": {"Code": self.code, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": self.status},
                }
                raise ClientError(error, "PutObject")
        return self._s3.put_object(**kwargs)


def test_transient_errors_are_retried(world: World, tmp_path: Path) -> None:
    sleeps: list[float] = []
    flaky = FailingPuts(world.s3, {"robots.txt": 2})
    report = upload_build(flaky, BUCKET, sample_build(tmp_path / "d"), V1, sleep=sleeps.append)  # type: ignore[arg-type]
    assert report.sent_files == 7
    assert len(sleeps) == 2
    assert storage.is_complete(world.s3, BUCKET, V1)


@pytest.mark.parametrize(
    ("jitter", "sleeps"),
    [
        # 0.2 s doubling per attempt, at most 10 s, times a jitter factor 0.5 + random() in [0.5, 1.5).
        (0.0, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]),
        (0.5, [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0]),
    ],
)
def test_retries_back_off_exponentially_with_jitter(
    jitter: float, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer.random, "random", lambda: jitter)
    throttled = ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "PutObject")
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 8:
            raise throttled
        return "stored"

    waited: list[float] = []
    assert with_retries(flaky, attempts=8, sleep=waited.append) == "stored"
    assert waited == pytest.approx(sleeps)


def test_permanent_errors_are_not_retried() -> None:
    calls = []

    def denied() -> None:
        calls.append(1)
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    with pytest.raises(ClientError):
        with_retries(denied, attempts=5, sleep=lambda _: None)
    assert len(calls) == 1


def test_interrupted_upload_is_incomplete_and_the_same_command_completes_it(
    world: World, tmp_path: Path
) -> None:
    build = sample_build(tmp_path / "dist")
    broken = FailingPuts(world.s3, {"robots.txt": 99}, code="AccessDenied", status=403)
    with pytest.raises(SitectlError) as failed:
        upload_build(broken, BUCKET, build, V1, workers=1)  # type: ignore[arg-type]
    assert failed.value.message == (
        "uploading robots.txt failed: AWS PutObject failed: AccessDenied: injected; "
        f"version {V1} stays incomplete: re-run with --resume --version {V1} to complete it"
    )
    assert not storage.is_complete(world.s3, BUCKET, V1)
    assert [v.version for v in storage.list_versions(world.s3, BUCKET) if v.complete] == []
    stored_before = set(keys(world, f"{V1}/"))
    assert stored_before and f"{V1}/robots.txt" not in stored_before
    # What a write cut off halfway could leave: the resumed upload replaces it, on condition that
    # it is still the object it planned over.
    stale = world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/robots.txt", Body=b"User-agent")

    conditions: dict[str, list[dict[str, str]]] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        condition = {k: params[k] for k in ("IfMatch", "IfNoneMatch") if k in params}
        conditions.setdefault(params["Key"], []).append(condition)

    world.s3.meta.events.register("provide-client-params.s3.PutObject", record)
    report = upload_build(world.s3, BUCKET, build, V1, resume=True)
    assert report.skipped_files == len(stored_before)
    assert report.sent_files == 7 - len(stored_before)
    assert storage.is_complete(world.s3, BUCKET, V1)
    assert conditions[f"{V1}/robots.txt"] == [{"IfMatch": stale["ETag"]}]
    assert world.s3.get_object(Bucket=BUCKET, Key=f"{V1}/robots.txt")["Body"].read() == b"User-agent: *"


@pytest.mark.parametrize(
    "stored",
    [b"truncated", b"<html><body>HOME V1</body></html>"],  # another size; the same size, other bytes
    ids=["other-size", "same-size"],
)
def test_a_stored_object_with_other_content_is_replaced_on_completion(
    world: World, tmp_path: Path, stored: bytes
) -> None:
    build = sample_build(tmp_path / "dist")
    world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/index.html", Body=stored)
    report = upload_build(world.s3, BUCKET, build, V1)
    assert report.skipped_files == 0
    body = world.s3.get_object(Bucket=BUCKET, Key=f"{V1}/index.html")["Body"].read()
    assert body == b"<html><body>home v1</body></html>"


def test_plan_skips_copies_and_puts(tmp_path: Path) -> None:
    files = scan_build(
        write_build(tmp_path / "d", {"a.txt": "a", "b.txt": "b", "c.txt": "c", "d.txt": "d"})
    ).files
    by_path = {f.path: f for f in files}
    stored = {
        f"{V2}/a.txt": storage.StoredObject(f"{V2}/a.txt", 1, by_path["a.txt"].md5),
        # The same size, other bytes (the MD5 of "x"): sent again.
        f"{V2}/d.txt": storage.StoredObject(f"{V2}/d.txt", 1, "9dd4e461268c8034f5c8564e155c67a6"),
    }
    known = {by_path["b.txt"].sha256: (f"{V1}/old-b.txt", 1)}
    actions = {s.file.path: (s.action, s.source_key) for s in plan_upload(files, V2, stored, known)}
    assert actions == {
        "a.txt": ("skip", None),
        "b.txt": ("copy", f"{V1}/old-b.txt"),
        "c.txt": ("put", None),
        "d.txt": ("put", None),
    }


# Every upload: one HeadObject (is the version complete?), ListObjectsV2 of the manifests, twice of
# the version's own objects (the seal), once of the shared assets. A fresh upload never lists its
# version before sending: only --resume can find its own objects there.
_EVERY_UPLOAD = {"HeadObject": 1, "ListObjectsV2": 4}


@pytest.mark.parametrize(
    ("dedupe_versions", "clock", "requests"),
    [
        # A still clock: no re-read of the claim during the upload (see storage.ClaimWatch). 3
        # manifests read, then the claim before and after the manifest; the claim and the manifest
        # written; the files copied.
        (3, lambda: 0.0, {"GetObject": 5, "PutObject": 2, "CopyObject": 7}),
        # No manifest read, nothing copied: every file sent.
        (0, lambda: 0.0, {"GetObject": 2, "PutObject": 9}),
        # A clock a second further at every look: the claim is re-read before each of the 7 copies.
        (3, itertools.count().__next__, {"GetObject": 12, "PutObject": 2, "CopyObject": 7}),
    ],
    ids=["dedupe-3", "dedupe-0", "claim-rereads"],
)
def test_requests_per_upload_do_not_depend_on_earlier_versions_beyond_the_dedupe_window(
    world: World, tmp_path: Path, dedupe_versions: int, clock: Callable[[], float], requests: dict[str, int]
) -> None:
    build = sample_build(tmp_path / "dist")
    for day in range(1, 9):
        upload_build(world.s3, BUCKET, build, f"202611{day:02d}T100000Z")
    counts = world.count_requests()
    report = upload_build(
        world.s3, BUCKET, build, "20261120T100000Z", dedupe_versions=dedupe_versions, clock=clock
    )
    assert counts == {**_EVERY_UPLOAD, **requests}
    assert report.copied_files == requests.get("CopyObject", 0)


def test_the_manifest_is_json_with_totals(world: World, tmp_path: Path) -> None:
    report = upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1)
    body = world.s3.get_object(Bucket=BUCKET, Key=layout.manifest_key(V1))["Body"].read()
    data = json.loads(body)
    assert data["version"] == V1 and data["file_count"] == 7
    assert data["created"].endswith("+00:00")  # UTC, whatever the machine's time zone
    assert report.total_bytes == 160
    assert report.sent_bytes == 160 + len(body)  # the files and the manifest


def _client_error(code: str, status: int | None) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_client_error("SlowDown", 503), True),
        (_client_error("InternalError", None), True),
        (_client_error("Whatever", 500), True),
        (_client_error("Whatever", 502), True),
        (_client_error("Whatever", 499), False),
        (_client_error("AccessDenied", 403), False),
        (_client_error("NoSuchBucket", 404), False),
        (EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), True),
        (ValueError("not an AWS error"), False),
    ],
)
def test_which_errors_are_retried(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_excluded_paths_are_listed_up_to_twenty() -> None:
    excluded = [f"node_modules/{index:02d}.js" for index in range(23)]
    lines = describe_excluded(excluded)
    assert lines[0] == "excluded 23 paths (defaults, .sitectlignore, --exclude; --include re-adds):"
    assert lines[1:3] == ["  node_modules/00.js", "  node_modules/01.js"]
    assert lines[20:] == ["  node_modules/19.js", "  ... and 3 more"]
    assert describe_excluded([]) == []
