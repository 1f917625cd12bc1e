"""sitectl upload against moto: headers, manifest last, refusals, dedupe by server-side copy,
completing an interrupted upload, retries."""

from __future__ import annotations

import inspect
import itertools
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from edge_lambda import layout
from scripts.commands import upload as upload_module
from scripts.commands.errors import SitectlError
from scripts.commands.upload import (
    ProgressLines,
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
from tests.clock import ManualClock
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

    # Fingerprinted files are stored once, in the shared area, marked with the version that sent them,
    # and not under the version's prefix.
    css = world.s3.head_object(Bucket=BUCKET, Key="_assets/assets/app.2defdb23.css")
    assert css["ContentType"] == "text/css; charset=utf-8"
    assert css["CacheControl"] == IMMUTABLE_CACHE_CONTROL
    assert css["Metadata"][layout.VERSION_METADATA_KEY] == V1
    prefix = {o.key for o in storage.version_objects(world.s3, BUCKET, V1)}
    assert f"{V1}/assets/app.2defdb23.css" not in prefix and f"{V1}/index.html" in prefix
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
    assert manifest.files["assets/app.2defdb23.css"].stored_in == layout.SHARED_AREA
    assert manifest.files["index.html"].stored_in == ""


def test_default_version_is_the_current_utc_time(world: World, tmp_path: Path) -> None:
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
    assert second.copied_files == 4  # the fingerprinted two are stored once: nothing to do for them
    assert second.shared is not None
    assert second.shared.already == ["assets/app.2defdb23.css", "assets/app.fa10386f.js"]
    assert second.sent_bytes < first.sent_bytes
    copied = world.s3.head_object(Bucket=BUCKET, Key=f"{V2}/assets/logo.svg")
    assert copied["Metadata"][layout.VERSION_METADATA_KEY] == V2
    assert storage.verify_version(world.s3, BUCKET, V2) == []
    body = world.s3.get_object(Bucket=BUCKET, Key=f"{V2}/index.html")["Body"].read()
    assert body == b"<html><body>home v2</body></html>"


def test_a_copy_takes_the_headers_of_its_own_name(world: World, tmp_path: Path) -> None:
    write_build(tmp_path / "v1", {"a.txt": "same bytes"})
    write_build(tmp_path / "v2", {"b.json": "same bytes"})
    upload_build(world.s3, BUCKET, tmp_path / "v1", V1)
    report = upload_build(world.s3, BUCKET, tmp_path / "v2", V2)
    assert report.copied_files == 1
    assert world.s3.head_object(Bucket=BUCKET, Key=f"{V2}/b.json")["ContentType"] == "application/json"


class FailingWrites:
    """Wraps an S3 client: PutObject (or CopyObject) fails for the keys chosen, with the given error
    code and status; with `landed`, after the write was made (its reply lost)."""

    def __init__(
        self,
        s3: Any,
        fail: dict[str, int],
        code: str = "InternalError",
        status: int = 500,
        *,
        operation: str = "PutObject",
        landed: bool = False,
    ) -> None:
        self._s3 = s3
        self.fail = fail  # key suffix -> remaining failures
        self.code = code
        self.status = status
        self.operation = operation
        self.landed = landed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        return self._write("PutObject", self._s3.put_object, kwargs)

    def copy_object(self, **kwargs: Any) -> Any:
        return self._write("CopyObject", self._s3.copy_object, kwargs)

    def _write(self, operation: str, send: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        for suffix, remaining in self.fail.items():
            if operation == self.operation and kwargs["Key"].endswith(suffix) and remaining > 0:
                self.fail[suffix] = remaining - 1
                if self.landed:
                    send(**kwargs)
                error: Any = {
                    "Error": {"Code": self.code, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": self.status},
                }
                raise ClientError(error, operation)
        return send(**kwargs)


def test_transient_errors_are_retried(world: World, tmp_path: Path) -> None:
    sleeps: list[float] = []
    flaky = FailingWrites(world.s3, {"robots.txt": 2})
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
    broken = FailingWrites(world.s3, {"robots.txt": 99}, code="AccessDenied", status=403)
    with pytest.raises(SitectlError) as failed:
        upload_build(broken, BUCKET, build, V1, workers=1)  # type: ignore[arg-type]
    assert failed.value.message == (
        "uploading robots.txt failed: AWS PutObject failed: AccessDenied: injected; "
        f"version {V1} stays incomplete: re-run with --resume --version {V1} to complete it"
    )
    assert not storage.is_complete(world.s3, BUCKET, V1)
    assert [v.version for v in storage.list_versions(world.s3, BUCKET) if v.complete] == []
    stored_before = set(keys(world, f"{V1}/"))
    shared_before = set(keys(world, "_assets/"))  # fingerprinted files are stored there once
    assert stored_before and f"{V1}/robots.txt" not in stored_before
    # What a write cut off halfway could leave: the resumed upload replaces it, on condition that
    # it is still the object it planned over.
    stale = world.s3.put_object(Bucket=BUCKET, Key=f"{V1}/robots.txt", Body=b"User-agent")

    conditions: dict[str, list[dict[str, str]]] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        condition: dict[str, str] = {k: params[k] for k in ("IfMatch", "IfNoneMatch") if k in params}
        conditions.setdefault(params["Key"], []).append(condition)

    world.s3.meta.events.register("provide-client-params.s3.PutObject", record)
    report = upload_build(world.s3, BUCKET, build, V1, resume=True)
    assert report.skipped_files == len(stored_before) + len(shared_before)
    assert report.sent_files == 7 - len(stored_before) - len(shared_before)
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
# the version's own objects (the seal), once of running prunes of the shared assets and twice of the
# shared assets (once claimed: what to send there, no fingerprinted name with other bytes; then the
# seal's proof that every one is there). A fresh upload never lists its version before sending: only
# --resume can find its own objects there. The two fingerprinted files are in the shared area already:
# nothing is sent or copied for them.
_EVERY_UPLOAD = {"HeadObject": 1, "ListObjectsV2": 6}


@pytest.mark.parametrize(
    ("dedupe_versions", "clock", "requests"),
    [
        # A still clock: no re-read of the claim during the upload (see storage.ClaimWatch). 3
        # manifests read, then the claim before and after the manifest; the claim and the manifest
        # written; the 5 other files copied.
        (3, lambda: 0.0, {"GetObject": 5, "PutObject": 2, "CopyObject": 5}),
        # No manifest read, nothing copied: every other file sent; no donor proved the shared
        # files' headers, so a HEAD each.
        (0, lambda: 0.0, {"GetObject": 2, "PutObject": 7, "HeadObject": 3}),
        # A clock a second further at every look: the claim is re-read before each of the 5 copies.
        (3, itertools.count().__next__, {"GetObject": 10, "PutObject": 2, "CopyObject": 5}),
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


def test_a_write_that_landed_but_whose_reply_was_lost_counts_as_stored(world: World, tmp_path: Path) -> None:
    # The retry's If-None-Match fails (412): the key holds this file's bytes, so nothing is sent again.
    lost = FailingWrites(world.s3, {"robots.txt": 1, "logo.svg": 1}, landed=True)
    report = upload_build(lost, BUCKET, sample_build(tmp_path / "d"), V1, sleep=lambda _: None)  # type: ignore[arg-type]
    assert (report.sent_files, report.skipped_files) == (5, 2)
    assert storage.is_complete(world.s3, BUCKET, V1)


def test_transient_copy_errors_are_retried(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "v1", marker="v1"), V1)
    sleeps: list[float] = []
    flaky = FailingWrites(world.s3, {"robots.txt": 1}, code="SlowDown", status=503, operation="CopyObject")
    report = upload_build(flaky, BUCKET, sample_build(tmp_path / "v2", marker="v2"), V2, sleep=sleeps.append)  # type: ignore[arg-type]
    assert (report.sent_files, report.copied_files) == (1, 4)
    assert len(sleeps) == 1


def test_one_worker_sends_one_file_at_a_time(world: World, tmp_path: Path) -> None:
    senders: set[int] = set()

    def record(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith(f"{V1}/"):
            senders.add(threading.get_ident())

    world.s3.meta.events.register("provide-client-params.s3.PutObject", record)
    report = upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1, workers=1)
    assert report.sent_files == 7
    assert len(senders) == 1


def test_a_failed_file_stops_the_upload_once_the_write_in_flight_has_finished(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker: a.txt fails. The worker may have started b.txt before the failure is seen; that
    write is stored before the error reaches the caller (a --resume started then cannot race it),
    and c.txt and d.txt never start."""
    shut_down = threading.Event()
    started: list[str] = []

    class Pool(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait=False, cancel_futures=cancel_futures)
            shut_down.set()  # b.txt's write goes on only once what had not started is dropped
            super().shutdown(wait=wait)

    class Gate(FailingWrites):
        def put_object(self, **kwargs: Any) -> Any:
            started.append(kwargs["Key"])
            if kwargs["Key"] != f"{V1}/a.txt" and kwargs["Key"].startswith(f"{V1}/"):
                assert shut_down.wait(timeout=10)
            return super().put_object(**kwargs)

    monkeypatch.setattr(upload_module, "ThreadPoolExecutor", Pool)
    build = write_build(tmp_path / "d", {"a.txt": "a", "b.txt": "b", "c.txt": "c", "d.txt": "d"})
    gate = Gate(world.s3, {f"{V1}/a.txt": 1}, code="AccessDenied", status=403)
    with pytest.raises(SitectlError, match="uploading a.txt failed"):
        upload_build(gate, BUCKET, build, V1, workers=1)  # type: ignore[arg-type]
    in_flight = [key for key in started if key == f"{V1}/b.txt"]
    assert keys(world, f"{V1}/") == in_flight
    assert f"{V1}/c.txt" not in started and f"{V1}/d.txt" not in started


def test_upload_options_choose_the_files_and_their_caching(world: World, tmp_path: Path) -> None:
    build = write_build(
        tmp_path / "dist",
        {
            "index.html": "<p>home</p>",
            "drafts/next.html": "<p>soon</p>",
            ".nojekyll": "x",
            "fonts/Inter.woff2": "font",
            "assets/app.2defdb23.css": "body {}",
        },
    )
    result = world.invoke(
        "--bucket", BUCKET, "upload", str(build), "--version", V1,
        "--exclude", "drafts/", "--include", ".nojekyll",
        "--immutable", "fonts/*", "--revalidate", "assets/*",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    assert {path: entry.cache_control for path, entry in manifest.files.items()} == {
        ".nojekyll": REVALIDATE_CACHE_CONTROL,
        "assets/app.2defdb23.css": REVALIDATE_CACHE_CONTROL,
        "fonts/Inter.woff2": IMMUTABLE_CACHE_CONTROL,
        "index.html": REVALIDATE_CACHE_CONTROL,
    }
    excluded = "excluded 1 paths (defaults, .sitectlignore, --exclude; --include re-adds):\n  drafts/\n"
    assert excluded in result.stderr


def test_a_too_long_name_is_refused_by_the_edges_limit_whatever_the_version(
    world: World, tmp_path: Path
) -> None:
    # 1,004 bytes: past the edge's 900-byte path limit, and past S3's 1,024-byte key limit with a
    # commit-suffixed id's prefix (58 bytes): the edge's limit, the stricter, is the one named.
    long_path = "/".join(["d" * 240] * 4) + "/" + "f" * 40
    build = write_build(tmp_path / "dist", {long_path: "x"})
    for version in (V1, f"{V1}-{'a' * 40}"):
        with pytest.raises(StoreRefusedError, match="could never be served by the edge: the path is longer"):
            upload_build(world.s3, BUCKET, build, version)
    assert keys(world) == []


@contextmanager
def _deep_tree(root: Path, levels: int, file: str = "x.html") -> Iterator[Path]:
    """`root/index.html` and `root/a/a/.../a/<file>`, `levels` folders deep, for the block; made and
    removed one folder at a time (os.makedirs and shutil.rmtree, pytest's tmp_path cleanup
    included, recurse and would fail on it)."""
    write_build(root, {"index.html": "home"})
    folders = [root]
    for _ in range(levels):
        folders.append(folders[-1] / "a")
        folders[-1].mkdir()
    (folders[-1] / file).write_text("deep")
    try:
        yield root
    finally:
        (folders[-1] / file).unlink()
        for folder in reversed(folders[1:]):
            folder.rmdir()


def test_a_tree_1200_folders_deep_is_refused_in_one_line_not_a_recursion_error(
    world: World, tmp_path: Path
) -> None:
    with _deep_tree(tmp_path / "dist", 1200) as build:
        result = world.invoke("--bucket", BUCKET, "upload", str(build))
        assert (result.exit_code, keys(world)) == (2, [])
        assert result.output == (
            "Error: file name '"
            + "a/" * 30
            + "...(2406 characters)..."
            + "a/" * 27
            + "x.html' could never be "
            "served by the edge: the path is longer than 900 bytes: rename it, or exclude it (--exclude)\n"
        )
        excluded = world.invoke("--bucket", BUCKET, "upload", str(build), "--exclude", "a/", "--version", V1)
    assert excluded.exit_code == 0, excluded.output
    assert keys(world, V1) == [f"{V1}/index.html"]


def test_the_scan_goes_deeper_than_its_own_stack(tmp_path: Path) -> None:
    # 300 folders: a servable name (604 bytes). A recursive scan would need a frame per folder; the scan
    # keeps its own stack of open folders. Measured with a trace function, which is per thread: lowering
    # the interpreter's recursion limit instead would hit every other thread of the test run too.
    base = len(inspect.stack())
    deepest = 0

    def trace(frame: Any, event: str, arg: Any) -> None:
        nonlocal deepest
        if event == "call":
            depth, current = 0, frame
            while current is not None:
                depth, current = depth + 1, current.f_back
            deepest = max(deepest, depth)

    with _deep_tree(tmp_path / "dist", 300) as build:
        sys.settrace(trace)
        try:
            scanned = scan_build(build)
        finally:
            sys.settrace(None)
    assert [f.path for f in scanned.files] == ["a/" * 300 + "x.html", "index.html"]
    assert deepest - base < 60


def test_upload_refuses_other_bytes_under_a_fingerprinted_name_with_the_fix(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "one"), V1)
    other = write_build(tmp_path / "two", {"index.html": "<p>two</p>", "assets/app.fa10386f.js": "evil()"})
    result = world.invoke("--bucket", BUCKET, "upload", str(other), "--version", V2)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "--revalidate 'assets/app.fa10386f.js'" in result.stderr
    assert keys(world, V2) == []


def test_upload_says_which_files_it_took_as_fingerprinted_and_why(world: World, tmp_path: Path) -> None:
    build = write_build(
        tmp_path / "dist",
        {
            "index.html": '<script type="module" src="/assets/index-DiwrgTda.js"></script>',
            "assets/index-DiwrgTda.js": 'import("./Lazy--d8fNYvv.js")',
            "assets/Lazy--d8fNYvv.js": "export default 1",
            "assets/logo-Dq8f2Kd_.svg": "<svg/>",
            "static.3f2a1b9c.css": "body{}",
            "photos/summer-vacation.jpg": "jpeg",
            "data/terms.json": "{}",
            ".sitectlimmutable": "data/*.json\n",
        },
    )
    result = world.invoke("--bucket", BUCKET, "upload", str(build), "--version", V1)
    assert result.exit_code == 0, result.output
    assert (
        "fingerprinted: 5 files, served immutable for a year and kept in the shared area for open pages "
        "of other versions (--revalidate GLOB if one is not):\n"
        "  1 by name: static.3f2a1b9c.css\n"
        "  1 declared (--immutable, .sitectlimmutable): data/terms.json\n"
        "  2 in a folder of hashed files: assets/index-DiwrgTda.js, assets/logo-Dq8f2Kd_.svg\n"
        "  1 named by the build's scripts: assets/Lazy--d8fNYvv.js\n"
    ) in result.stderr
    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    assert manifest.fingerprinted_paths() == {
        "assets/Lazy--d8fNYvv.js",
        "assets/index-DiwrgTda.js",
        "assets/logo-Dq8f2Kd_.svg",
        "data/terms.json",
        "static.3f2a1b9c.css",
    }
    assert manifest.files["photos/summer-vacation.jpg"].cache_control == "public, max-age=0, must-revalidate"
    assert sorted(keys(world, "_assets")) == sorted(
        f"_assets/{path}" for path in manifest.fingerprinted_paths()
    )


def test_the_claim_records_when_the_upload_started(world: World, tmp_path: Path) -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    upload_build(world.s3, BUCKET, sample_build(tmp_path / "d"), V1, now=now)
    claim = storage.read_claim(world.s3, BUCKET, V1)
    assert claim is not None and claim.started == "2026-11-27T09:00:00+00:00"


def test_resume_needs_the_version(world: World, tmp_path: Path) -> None:
    result = world.invoke("--bucket", BUCKET, "upload", str(sample_build(tmp_path / "d")), "--resume")
    assert result.exit_code == 2
    assert result.output == "Error: --resume needs --version: the version id of the interrupted upload\n"
    assert keys(world) == []


def test_progress_lines_for_logs_come_at_most_every_five_seconds() -> None:
    clock = ManualClock()
    lines: list[str] = []
    progress = ProgressLines(1_050_000, lines.append, clock)
    clock.advance(4.0)
    progress(1_048_999)
    assert lines == []
    clock.advance(1.0)
    progress(1_000)
    clock.advance(4.0)
    progress(1)
    assert lines == ["uploaded 1.0 MB of 1.1 MB, about 0 s left"]
    clock.advance(1.0)
    progress(0)
    assert lines == ["uploaded 1.0 MB of 1.1 MB, about 0 s left", "uploaded 1.1 MB of 1.1 MB"]


def test_progress_estimates_the_time_left_from_bytes_and_requests() -> None:
    """One large file, then many small ones whose time goes to requests: by bytes alone the upload
    looks done after the large file (0 s left); counting the files done too, it does not."""
    clock = ManualClock()
    lines: list[str] = []
    progress = ProgressLines(999_990, lines.append, clock, files=100)
    clock.advance(1.0)
    progress(900_000)
    for _ in range(99):
        clock.advance(0.125)
        progress(1_010)
    # At 5 s: 93 % of the bytes, 33 % of the files: 63 % done, about 3 s left (bytes alone: 0 s);
    # at 10 s: 97 % and 73 %, about 2 s left. It ends at 13.4 s.
    assert lines == [
        "uploaded 0.9 MB of 1.0 MB, 33 of 100 files, about 3 s left",
        "uploaded 1.0 MB of 1.0 MB, 73 of 100 files, about 2 s left",
    ]
    assert ProgressLines(0, lines.append, clock).share_done() == 1.0  # an empty build is done
