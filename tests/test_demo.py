"""`make demo`: the whole flow end to end with `--once`, and its parts on their own."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_lambda import layout
from scripts.commands.errors import RefusedError
from scripts.demo import walkthrough as demo
from tests.clock import ManualClock
from tests.serve_scaffold import ExampleSite, example_site, live_server

ROOT = Path(__file__).resolve().parent.parent
DEMO_TTL_SECONDS = 1


@pytest.fixture
def example() -> Iterator[ExampleSite]:
    with example_site() as site:
        yield site


def test_demo_once_releases_switches_and_rolls_back() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--once", "--port", "0", "--cache-ttl", str(DEMO_TTL_SECONDS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = completed.stdout
    assert completed.returncode == 0, out + completed.stderr

    versions = re.findall(r"Uploaded examples/site-v[12] as version (\S+)", out)
    assert len(versions) == 2 and all(layout.is_valid_version(v) for v in versions), out
    one, two = versions
    three = re.findall(r"Uploaded examples/site-v3 as version (\S+)", out)[0]
    # Each step in order: refused before any release, one, preview of two, two, rollback to one.
    expected_in_order = [
        "GET / -> 503",
        f"Release {one}",
        f"here:   the same change, applied directly: /versioned-site/demo/live-version = {one}",
        "GET / shows 'Version one'",
        "/assets/app.2defdb23.css -> 200 text/css",
        "/assets/app.fa10386f.js -> 200 text/javascript",
        "GET /old-about -> 301 Location /about/ | GET / X-Robots-Tag: noindex",
        f"Preview {two} before releasing it",
        "shows 'Version two'; the live site is unchanged",
        f"Switch to {two}",
        "GET / shows 'Version two'",
        "A page of version one, open since before the switch, imports its lazily loaded chunk",
        "GET /assets/lazy.2f781bed.js -> 200 text/javascript; charset=utf-8 | "
        "public, max-age=31536000, immutable",
        'bytes (export const version = "one")',
        "GET /no-such-page.png -> 404 text/html; charset=utf-8: the live version's 404.html, "
        "'Version two: page not found'",
        "GET /old-about -> 308 Location /old-about/ | GET / X-Robots-Tag: (none): version two has no rules",
        "Roll back",
        f"rolled back to {one}",
        "GET / shows 'Version one'",
        "GET /old-about -> 301 Location /about/ | GET / X-Robots-Tag: noindex: version one's rules are back",
        f"Release {three} with verification",
        f"live now: {one}, which passes verification",
        f"FAILED: {three} fails verification",
        "/assets/chunk.7c2e91d4.js: HTTP 404, expected 200",
        f"rolling back to {one}",
        "rolled back: ",
        f"serves {one}, working",
        f"rolled back: live now {one}, which passes verification",
        f"Release {two} again",
        "GET / shows 'Version two'",
        # The emergency: `rollback --now`'s own timeline, in order, then what a stale deployment gets.
        f'Emergency: {two} is on fire (`sitectl rollback --now --reason "demo: checkout broken" --yes`)',
        f" s  recorded: {two} rolled back to {one} in an emergency by ",
        f" s  pointer /versioned-site/demo/live-version: {two} -> {one}",
        f" s  edge TTL passed ({DEMO_TTL_SECONDS} s; waited ",
        " s  invalidation IDEMO1 of /* created",
        " s  invalidation IDEMO1 completed",
        f" serves {one}",
        f" s  stack config caught up: versioned-site:version = {one} (targeted pulumi up: succeeded)",
        f"from the command to the first request served by {one}: ",
        "here the invalidation has no cache to clear; on AWS, add its completion",
        f"then CI's `pulumi up` of a checkout still at {two}: refused before any resource:",
        f"and this deployment would put {two} back live",
        "Done",
    ]
    position = 0
    for text in expected_in_order:
        found = out.find(text, position)
        assert found >= 0, f"{text!r} missing after position {position} in:\n{out}"
        position = found + len(text)
    assert "in AWS: `pulumi up` targeted at the pointer and the switch" in out

    timings = dict(
        re.findall(r"^\s+(release|switch|rollback)\s+([0-9.]+) s until the served page changed", out, re.M)
    )
    # How long each change took depends on the machine's load: only its report is asserted here (the
    # demo itself gives up after TTL + 10 s; wait_until_served is tested on a clock below).
    assert set(timings) == {"release", "switch", "rollback"}, out
    # Verification fails only once it has kept checking for the TTL plus 2 s: a lower bound holds
    # however slow the machine is.
    verified = re.search(r"^\s+verified\s+([0-9.]+) s to release a broken build", out, re.M)
    assert verified is not None, out
    assert float(verified.group(1)) >= DEMO_TTL_SECONDS + 2
    # The emergency's edge TTL and margin are modeled, the rest measured; the total is their sum, and the
    # first request that got version one came right after the modeled wait.
    split = re.search(
        r"([0-9.]+) s from the command to the first request served by \S+: ([0-9.]+) s edge TTL and margin "
        r"\(modeled, not slept\) \+ ([0-9.]+) s measured",
        out,
    )
    assert split is not None, out
    total, modeled, measured = (float(group) for group in split.groups())
    assert DEMO_TTL_SECONDS < modeled <= DEMO_TTL_SECONDS + 1.0  # the TTL and its 1 s margin, from the write
    assert abs(total - (modeled + measured)) < 0.01
    emergency = re.search(
        r"^\s+emergency\s+([0-9.]+) s from `rollback --now` to the first request", out, re.M
    )
    assert emergency is not None and float(emergency.group(1)) == pytest.approx(total, abs=0.01)
    assert "Still serving" not in out  # --once exits after the script


def test_the_example_sites_asset_names_are_their_content_hashes() -> None:
    for site in (demo.EXAMPLE_V1, demo.EXAMPLE_V2):
        assets = sorted((site / "assets").iterdir())
        assert {a.suffix for a in assets} == {".css", ".js"}
        for asset in assets:
            fingerprint = asset.name.split(".")[1]
            assert hashlib.sha256(asset.read_bytes()).hexdigest()[:8] == fingerprint, asset
            assert f'"/assets/{asset.name}"' in (site / "index.html").read_text()
    assert "Version one" in (demo.EXAMPLE_V1 / "index.html").read_text()
    assert "Version two" in (demo.EXAMPLE_V2 / "index.html").read_text()


def test_demo_stack_records_releases_and_rolls_back_to_the_previous_one(example: ExampleSite) -> None:
    lines: list[str] = []
    demo.release(example.stack, example.version_one, lines.append)
    demo.release(example.stack, example.version_two, lines.append)
    assert demo.rollback(example.stack, lines.append) == example.version_one
    pointer = example.site.ssm.get_parameter(Name=example.settings.parameter_name)["Parameter"]["Value"]
    assert pointer == example.version_one
    assert [u.version for u in example.stack.history()] == [
        example.version_one,
        example.version_two,
        example.version_one,
    ]
    assert sum("applied directly" in line for line in lines) == 3


def test_an_incomplete_version_is_refused_and_the_pointer_stays(example: ExampleSite) -> None:
    example.release(example.version_one)
    incomplete = "20261129T120000Z"
    example.s3.put_object(Bucket=example.bucket, Key=layout.object_key(incomplete, "index.html"), Body=b"x")
    with pytest.raises(RefusedError, match="incomplete"):
        example.release(incomplete)
    pointer = example.site.ssm.get_parameter(Name=example.settings.parameter_name)["Parameter"]["Value"]
    assert pointer == example.version_one
    assert example.stack.get_version() == example.version_one


def test_wait_until_served_times_out_on_its_clock(example: ExampleSite) -> None:
    clock = ManualClock()
    with live_server(example, ManualClock()) as server:
        with pytest.raises(TimeoutError, match="503"):
            demo.wait_until_served(
                server.url + "/", "Version one", timeout_seconds=3, clock=clock, sleep=clock.advance
            )
        example.release(example.version_one)
    assert clock.now > 1003  # it gave up only after its own three seconds


def test_wait_until_served_measures_from_the_pointer_change(example: ExampleSite) -> None:
    example.release(example.version_one)
    clock = ManualClock()
    with live_server(example, ManualClock()) as server:
        elapsed = demo.wait_until_served(
            server.url + "/", "Version one", timeout_seconds=3, since=clock.now - 1.5, clock=clock
        )
    assert elapsed == 1.5


@pytest.mark.parametrize("node", [True, False], ids=["router.js under node", "python rules"])
def test_demo_with_the_function_router_serves_each_switch_at_once(node: bool, tmp_path: Path) -> None:
    if node and demo.node_binary() is None:
        pytest.skip("`node` is not installed")
    out = io.StringIO()
    with demo.moto_server() as endpoint, pytest.MonkeyPatch.context() as patch:
        # moto's backends are per process: start from an empty account, as `make demo` does.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        )
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        timings = demo.run(
            out,
            port=0,
            cache_ttl_seconds=30,
            once=True,
            workdir=tmp_path,
            router="cloudfront-function",
            node=demo.node_binary() if node else None,
        )
    text = out.getvalue()
    said = "router.js itself, run by" if node else "its rules in Python (edge_function/viewer_request.py)"
    assert f"the function was {said}" in text
    assert "in AWS: `pulumi up` targeted at the pointer and the store's key" in text
    assert "and the KeyValueStore key live-version = " in text
    assert "_assets/assets/lazy.2f781bed.js" in text and 'export const version = "one"' in text
    assert "GET /no-such-page.png -> 404 text/html; charset=utf-8: the plain page _site/404.html" in text
    assert "in AWS: nothing to wait for, the version is in the cache key" in text
    assert "rolled back: live now" in text
    # The emergency writes the store's key through the real client, on its ETag; no TTL, no invalidation.
    assert re.search(r" s  KeyValueStore key live-version: \S+ -> \S+ \(viewers: at once\)", text), text
    assert "edge TTL passed" not in text and "invalidation" not in text.split("Emergency:")[1]
    assert "all of it measured: the function reads the store on every request" in text
    assert "refused before any resource" in text
    # Version two released again as a canary for 50%: two viewers (buckets 75 and 6 from their
    # User-Agents) get different versions and keep them with the cookie the first answer set; completed,
    # both get version two.
    canary = re.search(r"Release (\S+) again, as a canary for 50% of viewers first", text)
    assert canary is not None, text
    two = canary.group(1)
    expected_in_order = [
        f"and the canary record /versioned-site/demo/canary = '{two} 50'",
        "and the KeyValueStore key live-version = ",
        f", canary {two} at 50% (PutKey on its ETag)",
        "viewer A (User-Agent 'demo-viewer/1 (A)', no cookie): 'Version one', Set-Cookie site-bucket=75",
        "then with its cookie site-bucket=75: 'Version one', 'Version one'",
        "viewer B (User-Agent 'demo-viewer/1 (B)', no cookie): 'Version two', Set-Cookie site-bucket=6",
        "then with its cookie site-bucket=6: 'Version two', 'Version two'",
        "each viewer keeps its own version across requests",
        "a tester with `Cookie: site-bucket=canary` (viewer A's User-Agent): 'Version two'",
        f"Complete the canary: {two} for every viewer",
        f"/versioned-site/demo/live-version = {two}",
        f"and the KeyValueStore key live-version = {two} (PutKey",
        "viewer A (User-Agent 'demo-viewer/1 (A)', Cookie site-bucket=75): 'Version two', Set-Cookie none",
        "viewer B (User-Agent 'demo-viewer/1 (B)', Cookie site-bucket=6): 'Version two', Set-Cookie none",
        "every viewer gets 'Version two'",
        f"Emergency: {two} is on fire",
    ]
    position = canary.end()
    for expected in expected_in_order:
        found = text.find(expected, position)
        assert found >= 0, f"{expected!r} missing after position {position} in:\n{text}"
        position = found + len(expected)
    # The edge TTL is 30 s here: every switch is served without waiting for it, the emergency's too.
    assert {name: seconds < 1.0 for name, seconds in timings.items() if name != "verified"} == {
        "release": True,
        "switch": True,
        "rollback": True,
        "emergency": True,
    }
