"""`sitectl verify` and `release --verify` against `sitectl serve` + moto, and their parts with fakes."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.distribution_flow import ViewerHeaders
from scripts.commands.errors import SitectlError
from scripts.commands.serve import Origin, start_preview_server
from scripts.commands.upload import upload_build
from scripts.commands.verify import (
    Response,
    VerifyPolicy,
    VerifyReport,
    poll_verify,
    referenced_urls,
    release_and_verify,
    verify_site,
    wait_for_invalidations,
)
from scripts.demo import walkthrough as demo
from scripts.sitectl import cli
from scripts.versionstore import store as storage
from scripts.versionstore.not_found_page import put_default_not_found_page
from tests.clock import ManualClock
from tests.conftest import shared_scope
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    POINTER_URN,
    SWITCH_URN,
    V1,
    V2,
    V3,
    V4,
    FakeStack,
    World,
)

EXAMPLE_V3 = demo.ROOT / "examples" / "site-v3"
DISTRIBUTION_ID = "E2EXAMPLE"


@dataclass
class PointerStack(FakeStack):
    """A fake stack whose `up` also moves the pointer, as the targeted `pulumi up` does."""

    world: World | None = None

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        result = super().up(targets, message, on_output)
        assert self.world is not None
        self.world.set_live(self.version or layout.NO_VERSION_RELEASED)
        return result


@dataclass
class FakeCloudFront:
    """ListInvalidations / GetInvalidation answering from a script of statuses per invalidation."""

    statuses: dict[str, list[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def list_invalidations(self, DistributionId: str) -> dict[str, Any]:
        self.calls.append(f"list {DistributionId}")
        items = [{"Id": i, "Status": s[0]} for i, s in self.statuses.items()]
        return {"InvalidationList": {"Items": items, "Quantity": len(items)}}

    def get_invalidation(self, DistributionId: str, Id: str) -> dict[str, Any]:
        self.calls.append(f"get {Id}")
        script = self.statuses[Id]
        status = script.pop(0) if len(script) > 1 else script[0]
        return {"Invalidation": {"Id": Id, "Status": status}}


@dataclass
class Live:
    world: World
    stack: PointerStack
    url: str
    cloudfront: FakeCloudFront

    def invoke(self, *args: str) -> Result:
        deps = self.world.deps()
        deps.cloudfront_factory = lambda: self.cloudfront
        return CliRunner().invoke(cli, list(args), obj=deps)

    def verify(self, *args: str) -> Result:
        return self.invoke("verify", "--url", self.url, "--bucket", BUCKET, "--parameter", PARAMETER, *args)


@dataclass(frozen=True)
class Served:
    s3: Any
    ssm: Any
    url: str
    copied_files: dict[str, int]  # per version: objects upload copied server-side


@pytest.fixture(scope=shared_scope)
def served() -> Iterator[Served]:
    """For the whole module (uploads and a server per test would cost seconds): the three example
    versions in a moto bucket, served through the real edge handler, whose pointer cache expires on
    every request (each call of its clock is a TTL later)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        ssm = boto3.client("ssm", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        ssm.put_parameter(Name=PARAMETER, Value=layout.NO_VERSION_RELEASED, Type="String")
        # The plain 404 page the stack stores: a miss is S3's 403, which the distribution answers with it.
        put_default_not_found_page(s3, BUCKET)
        copied = {
            version: upload_build(s3, BUCKET, directory, version).copied_files
            for version, directory in ((V1, demo.EXAMPLE_V1), (V2, demo.EXAMPLE_V2), (V3, EXAMPLE_V3))
        }
        settings = EdgeSettings(parameter_name=PARAMETER, region="us-east-1", cache_ttl_seconds=1)
        ticks = itertools.count(step=10)
        handler = OriginRequestHandler(settings, PointerCache(settings, ssm, now=lambda: float(next(ticks))))
        server = start_preview_server(BUCKET, settings, s3_client=s3, edge_function=handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        thread.start()
        try:
            yield Served(s3, ssm, server.url, copied)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture
def live(served: Served) -> Live:
    """Nothing released, a fresh fake stack and CloudFront."""
    stack = PointerStack(extra_outputs={"distributionId": DISTRIBUTION_ID})
    world = World(s3=served.s3, ssm=served.ssm, stack=stack, stacks={"test": stack})
    stack.world = world
    world.set_live(layout.NO_VERSION_RELEASED)
    return Live(world, stack, served.url, FakeCloudFront({"I1": ["Completed"]}))


@contextmanager
def replaced(live: Live, path: str, content_type: str, metadata: dict[str, str]) -> Iterator[None]:
    """V1's `path` stored with other headers for the block, then as upload stored it."""
    manifest = storage.read_manifest(live.world.s3, BUCKET, V1)
    assert manifest is not None
    key = layout.stored_key(V1, path, manifest.files[path])
    original = live.world.s3.head_object(Bucket=BUCKET, Key=key)

    def store(content_type: str, metadata: dict[str, str]) -> None:
        live.world.s3.copy_object(
            Bucket=BUCKET,
            Key=key,
            CopySource={"Bucket": BUCKET, "Key": key},
            MetadataDirective="REPLACE",
            ContentType=content_type,
            Metadata=metadata,
        )

    store(content_type, metadata)
    try:
        yield
    finally:
        store(original["ContentType"], original["Metadata"])


def problems(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("/")]


# --- sitectl verify against sitectl serve + moto ----------------------------------------------


def test_a_good_version_passes(live: Live) -> None:
    live.world.set_live(V1)
    result = live.verify("-v", "--path", "/about/", "--path", "/missing/=404")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ok /about/: 200 text/html; charset=utf-8",
        "ok /missing/: 404 text/html; charset=utf-8",
        "ok /assets/app.2defdb23.css: 200 text/css; charset=utf-8",
        "ok /assets/app.fa10386f.js: 200 text/javascript; charset=utf-8",
        f"ok: {live.url}/ serves {V1}, working",
    ]


def test_json_lists_each_check_and_its_result(live: Live) -> None:
    live.world.set_live(V3)
    result = live.verify("--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # one document: the report, not an error besides it
    assert (document["version"], document["served"], document["ok"]) == (V3, V3, False)
    checks = {check["path"]: check for check in document["checks"]}
    assert checks["/"] == {
        "path": "/",
        "expected_status": 200,
        "status": 200,
        "served_version": V3,
        "content_type": "text/html; charset=utf-8",
        "ok": True,
        "problems": [],
    }
    missing = checks["/assets/chunk.7c2e91d4.js"]
    assert (missing["status"], missing["ok"]) == (404, False)
    assert document["problems"] == missing["problems"]
    assert result.stderr == f"Error: {live.url}/ fails verification of {V3}: 1 problem\n"


def test_release_verify_json_reports_the_verification(live: Live) -> None:
    live.world.set_live(V1)
    live.stack.version = V1
    result = live.invoke(
        "--stack", "test", "release", "--version", V2, "--verify", "--yes", "--url", live.url, "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["from"], document["version"], document["result"]) == (V1, V2, "succeeded")
    assert live.stack.switch is not None
    assert document["invalidation"] == json.loads(live.stack.switch["result"])["invalidationId"]
    verification = document["verification"]
    assert (verification["ok"], verification["invalidations"]) == (True, [])
    assert all(check["ok"] for check in verification["checks"])


def test_a_different_live_version_fails_with_its_line(live: Live) -> None:
    live.world.set_live(V2)
    result = live.verify("--version", V1)
    assert result.exit_code == 1, result.output
    # The script is stored once, by V1, and V2 names the same bytes: that line is V1's file either way.
    assert problems(result) == [
        f"/: serves version {V2}, expected {V1}",
        f"/assets/app.3e791ac8.css: serves version {V2}, expected {V1}",
    ]
    assert f"Error: {live.url}/ fails verification of {V1}: 2 problems" in result.output


def test_a_missing_asset_fails_with_its_line(live: Live) -> None:
    live.world.set_live(V3)
    result = live.verify()  # the version the pointer holds
    assert result.exit_code == 1, result.output
    assert problems(result) == [
        f"/assets/chunk.7c2e91d4.js: HTTP 404, expected 200 (referenced by the root page; "
        f"not in the manifest of {V3})"
    ]


def test_a_wrong_content_type_fails_with_its_line(live: Live) -> None:
    live.world.set_live(V1)
    with replaced(live, "assets/app.2defdb23.css", "text/plain", {layout.VERSION_METADATA_KEY: V1}):
        result = live.verify()
    assert result.exit_code == 1, result.output
    assert problems(result) == [
        f"/assets/app.2defdb23.css: Content-Type 'text/plain', the manifest of {V1} records "
        "'text/css; charset=utf-8'"
    ]


def test_a_5xx_fails_with_its_line(live: Live) -> None:
    # The pointer holds `none`: the edge answers 503 "no version released".
    result = live.verify("--version", V1)
    assert result.exit_code == 1, result.output
    assert problems(result) == ["/: HTTP 503, expected 200"]


def test_a_smoke_path_that_answers_otherwise_fails(live: Live) -> None:
    live.world.set_live(V1)
    result = live.verify("--path", "/nope/", "--path", "/about/=404")
    assert result.exit_code == 1, result.output
    assert problems(result) == ["/nope/: HTTP 404, expected 200", "/about/: HTTP 200, expected 404"]


def test_an_object_without_the_marker_fails(live: Live) -> None:
    live.world.set_live(V1)
    with replaced(live, "assets/app.fa10386f.js", "text/javascript; charset=utf-8", {}):
        result = live.verify()
    assert result.exit_code == 1
    assert problems(result) == [
        f"/assets/app.fa10386f.js: no {layout.VERSION_HEADER} header, so which version served it is "
        "unknown (an object uploaded without the version marker, or a CDN dropping the header)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://example.com"], "--url 'ftp://example.com' is not an http(s) URL"),
        (["--version", "latest"], "--version 'latest' is not a valid version id"),
        (["--path", "about"], "--path 'about' must start with '/'"),
        (["--path", "/about/=200x"], "the expected status after '=' must be 100-599"),
        (["--version", V4], f"version {V4} has no manifest in {BUCKET}"),
    ],
)
def test_bad_input_exits_2_with_one_line(live: Live, args: list[str], message: str) -> None:
    live.world.set_live(V1)
    result = live.verify(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_nothing_released_and_no_version_is_refused(live: Live) -> None:
    result = live.verify()
    assert result.exit_code == 2
    assert "the pointer holds 'none': nothing is released, pass --version" in result.output


# --- the marker: stored by upload, passed on by serve --------------------------------------------


def test_upload_stores_the_version_marker_and_a_file_stored_once_carries_the_version_that_stored_it(
    served: Served, live: Live
) -> None:
    # V2's script has the same bytes as V1's: stored once, by V1, it carries V1 (a server-side copy
    # carries its own version: tests/test_sitectl_upload.py); V2's changed page carries V2.
    assert served.copied_files == {V1: 0, V2: 0, V3: 0}
    script = "assets/app.fa10386f.js"
    head = live.world.s3.head_object(Bucket=BUCKET, Key=layout.shared_asset_key(script))
    assert head["Metadata"][layout.VERSION_METADATA_KEY] == V1
    v2 = storage.read_manifest(live.world.s3, BUCKET, V2)
    assert v2 is not None and v2.files[script].shared
    for version in (V1, V2):
        head = live.world.s3.head_object(Bucket=BUCKET, Key=layout.object_key(version, "index.html"))
        assert head["Metadata"][layout.VERSION_METADATA_KEY] == version


def test_serve_passes_the_marker_on_a_304() -> None:
    class Stored:
        """What S3's HeadObject answers for a stored object of V1 (serve decides the 304 on it)."""

        def head_object(self, **_: Any) -> dict[str, Any]:
            return {"ETag": '"abc"', "Metadata": {layout.VERSION_METADATA_KEY: V1}, "ContentLength": 3}

    answer = Origin(BUCKET, Stored()).fetch("GET", f"/{V1}/index.html", ViewerHeaders(if_none_match='"abc"'))
    assert (answer.status, answer.headers) == (304, [("ETag", '"abc"'), (layout.VERSION_HEADER, V1)])


# --- the page parser and cross-origin references ------------------------------------------------


def test_referenced_urls_are_what_a_browser_fetches() -> None:
    html = """<html><head>
      <link rel="stylesheet" href="/a.css"><link rel="modulepreload" href="/m.js">
      <link rel="preload" href="/f.woff2" as="font"><link rel="shortcut icon" href="/favicon.ico">
      <link rel="canonical" href="/other/"><script src="/a.js"></script><script>inline()</script>
    </head><body><img src="/i.png" srcset="/i-2x.png 2x, /i-3x.png 3x"><a href="/page/">x</a>
      <script src="/a.js"></script></body></html>"""
    assert referenced_urls(html) == [
        "/a.css",
        "/m.js",
        "/f.woff2",
        "/favicon.ico",
        "/a.js",
        "/i.png",
        "/i-2x.png",
        "/i-3x.png",
    ]


def test_cross_origin_references_are_skipped_and_said_so() -> None:
    page = b'<script src="https://cdn.example.com/lib.js"></script><img src="data:image/png;base64,AA">'
    manifest = layout.Manifest(
        V1, "2026-11-01T10:00:00+00:00", {"index.html": layout.ManifestFile(1, "0", "text/html", "no-cache")}
    )
    fetched: list[str] = []

    def fetcher(url: str, timeout: float) -> Response:
        fetched.append(url)
        return Response(200, {"content-type": "text/html", layout.VERSION_HEADER: V1}, page)

    report = verify_site("https://site.example.org", V1, manifest, fetcher=fetcher)
    assert report.ok and fetched == ["https://site.example.org/"]
    assert report.notes == [
        "skipped https://cdn.example.com/lib.js: not on https://site.example.org",
        "skipped data:image/png;base64,AA: not on https://site.example.org",
    ]


# --- waiting for the invalidation, polling, rolling back ----------------------------------------


def test_invalidation_wait_polls_on_the_clock_until_complete() -> None:
    clock = ManualClock()
    cloudfront = FakeCloudFront(
        {"OLD": ["Completed"], "I2": ["InProgress", "InProgress", "InProgress", "Completed"]}
    )
    lines: list[str] = []
    policy = VerifyPolicy(clock=clock, sleep=clock.sleep)
    seen: list[str] = []
    assert wait_for_invalidations(cloudfront, DISTRIBUTION_ID, policy, lines.append, seen) == 30.0
    assert seen == ["I2"]  # the ids `release --json` reports
    assert clock.sleeps == [10.0, 10.0, 10.0]
    assert lines == [
        "waiting for CloudFront invalidation I2 (0 s)",
        "waiting for CloudFront invalidation I2 (10 s)",
        "waiting for CloudFront invalidation I2 (20 s)",
        "CloudFront invalidation complete (30 s)",
    ]
    assert cloudfront.calls[0] == f"list {DISTRIBUTION_ID}" and "get OLD" not in cloudfront.calls


def test_invalidation_wait_gives_up_at_its_timeout() -> None:
    clock = ManualClock()
    cloudfront = FakeCloudFront({"I2": ["InProgress"]})
    policy = VerifyPolicy(invalidation_timeout=25, clock=clock, sleep=clock.sleep)
    with pytest.raises(SitectlError, match=r"invalidation I2 of E2EXAMPLE still in progress after 25 s"):
        wait_for_invalidations(cloudfront, DISTRIBUTION_ID, policy, lambda _line: None)
    assert clock.sleeps == [10.0, 10.0, 5.0]


def _report(version: str, *problems: str) -> VerifyReport:
    return VerifyReport("https://site.example.org/", version, problems=list(problems))


def test_poll_verify_retries_until_it_passes_then_stops() -> None:
    clock = ManualClock()
    answers = iter([_report(V2, "/: serves version 1"), _report(V2, "/: serves version 1"), _report(V2)])
    seen: list[str] = []
    policy = VerifyPolicy(verify_timeout=60, clock=clock, sleep=clock.sleep)

    def verify(version: str) -> VerifyReport:
        seen.append(version)
        return next(answers)

    report = poll_verify(verify, V2, policy, lambda _line: None)
    assert report.ok and seen == [V2, V2, V2] and clock.sleeps == [5.0, 5.0]


@dataclass
class Scenario:
    """release_and_verify with scripted verification results per version."""

    failing: set[str]
    failing_after_release: set[str] = field(default_factory=set)
    released: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    clock: ManualClock = field(default_factory=ManualClock)

    cache_error: SitectlError | None = None

    def wait_for_cache(self) -> None:
        if self.cache_error is not None:
            raise self.cache_error

    def run(self, version: str, live_before: str | None) -> VerifyReport:
        def verify(candidate: str) -> VerifyReport:
            broken = candidate in self.failing or (
                candidate in self.failing_after_release and self.released.count(candidate) > 0
            )
            return _report(candidate, f"/: {candidate} is broken") if broken else _report(candidate)

        return release_and_verify(
            version,
            live_before,
            release=lambda v, _action: self.released.append(v),
            wait_for_cache=self.wait_for_cache,
            verify=verify,
            policy=VerifyPolicy(verify_timeout=10, clock=self.clock, sleep=self.clock.sleep),
            on_output=self.lines.append,
        )


def test_a_passing_release_is_released_once() -> None:
    scenario = Scenario(failing=set())
    assert scenario.run(V2, V1).ok
    assert scenario.released == [V2]


def test_a_failing_release_rolls_back_once_to_the_passing_previous_version() -> None:
    scenario = Scenario(failing={V2})
    with pytest.raises(SitectlError, match=rf"rolled back: live now {V1}, which passes verification"):
        scenario.run(V2, V1)
    assert scenario.released == [V2, V1]
    assert f"  /: {V2} is broken" in scenario.lines


def test_no_rollback_to_a_version_that_failed_before_the_release() -> None:
    scenario = Scenario(failing={V1, V2})
    with pytest.raises(SitectlError, match=rf"not rolling back to {V1}.*the site needs a human"):
        scenario.run(V2, V1)
    assert scenario.released == [V2]


def test_a_rollback_that_fails_too_stops_there() -> None:
    scenario = Scenario(failing={V2}, failing_after_release={V1})
    with pytest.raises(SitectlError, match=rf"rolled back to {V1}, which now fails verification too"):
        scenario.run(V2, V1)
    assert scenario.released == [V2, V1]


def test_an_invalidation_that_does_not_complete_is_no_reason_to_roll_back() -> None:
    scenario = Scenario(failing=set(), cache_error=SitectlError("invalidation I2 still in progress"))
    with pytest.raises(
        SitectlError, match=rf"^{V2} is live but not verified: invalidation I2 still in progress$"
    ):
        scenario.run(V2, V1)
    assert scenario.released == [V2]


def test_nothing_to_roll_back_to_after_a_first_release() -> None:
    scenario = Scenario(failing={V1})
    with pytest.raises(SitectlError, match="no earlier version to roll back to"):
        scenario.run(V1, layout.NO_VERSION_RELEASED)
    assert scenario.released == [V1]


# --- release --verify / rollback --verify through the CLI -----------------------------------------


def test_release_verify_of_a_good_version_passes(live: Live) -> None:
    live.stack.version = V1
    live.world.set_live(V1)
    result = live.invoke(
        "--stack", "test", "release", V2, "--verify", "--yes", "--url", live.url, "--verify-timeout", "0"
    )
    assert result.exit_code == 0, result.output
    assert f"verified: {live.url}/ serves {V2}, working" in result.output
    assert live.stack.mutations == [
        f"set_version {V2}",
        f"up {POINTER_URN},{SWITCH_URN}",
    ]
    # The switch's invalidation had completed when `up` returned: nothing to wait for.
    assert live.cloudfront.calls == [f"list {DISTRIBUTION_ID}"]


def test_release_verify_rolls_back_once_and_stops(live: Live) -> None:
    live.stack.version = V1
    live.world.set_live(V1)
    result = live.invoke(
        "--stack", "test", "release", V3, "--verify", "--yes", "--url", live.url, "--verify-timeout", "0"
    )
    assert result.exit_code == 1, result.output
    assert [c for c in live.stack.mutations if c.startswith("set_version")] == [
        f"set_version {V3}",
        f"set_version {V1}",
    ]
    assert live.world.ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == V1
    assert "  /assets/chunk.7c2e91d4.js: HTTP 404, expected 200" in result.output
    assert result.output.rstrip().splitlines()[-1] == (
        f"Error: {V3} failed verification (1 problem); rolled back: live now {V1}, which passes verification"
    )
    released = [line for line in result.stderr.splitlines() if line.startswith("released ")]
    assert released == [f"released {V3} (was {V1})", f"released {V1} (was {V3})"]
    # Pulumi's lines as they come, between verification's own, all for people: stderr.
    assert f"\nUpdating (test): version {V3}\nreleased {V3} (was {V1})\nCloudFront invalidation complete" in (
        result.stderr
    )
    assert f"\nUpdating (test): version {V1}\nreleased {V1} (was {V3})\nCloudFront invalidation complete" in (
        result.stderr
    )
    assert result.stdout == ""
    assert [update.message.split(" by ")[0] for update in live.stack.updates[:2]] == [
        f"sitectl rollback to {V1}",
        f"sitectl release {V3}",
    ]


def test_rollback_verify_to_the_previous_version_passes(live: Live) -> None:
    live.stack.record(V1)
    live.stack.record(V2)
    live.stack.version = V2
    live.world.set_live(V2)
    result = live.invoke(
        "--stack", "test", "rollback", "--verify", "--yes", "--url", live.url, "--verify-timeout", "0"
    )
    assert result.exit_code == 0, result.output
    assert f"live now: {V2}, which passes verification" in result.output
    assert f"verified: {live.url}/ serves {V1}, working" in result.output
    assert live.world.ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == V1


def test_rollback_verify_and_dry_run_conflict(live: Live) -> None:
    live.stack.version = V1
    result = live.invoke(
        "--stack", "test", "rollback", "--to", V2, "--verify", "--dry-run", "--url", live.url
    )
    assert result.exit_code == 2
    assert "--verify needs a real release: drop --dry-run" in result.output
    assert live.stack.mutations == []


def test_release_verify_needs_the_distribution_id(live: Live) -> None:
    live.stack.extra_outputs = {}
    result = live.invoke("--stack", "test", "release", V2, "--verify", "--yes", "--url", live.url)
    assert result.exit_code == 2
    assert "has no distributionId output" in result.output
    assert live.stack.mutations == []
