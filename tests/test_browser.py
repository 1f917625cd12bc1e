"""The example site in headless Chromium, served by `sitectl serve` through the real edge handler:
version one, then two after the switch, then one again after the rollback, each page's assets
loaded with their Content-Type (a stylesheet with the wrong one is refused, so it does not apply);
and a page of version one, open across the release of two, still importing its lazily loaded chunk.

Needs a Chromium binary: `.ci/run` installs Debian's `chromium`; elsewhere the test is skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from edge_lambda.handler import OriginRequestHandler, PointerCache
from scripts.commands.serve import PreviewServer, preview_server_running
from scripts.demo import walkthrough as demo
from tests.browser_scaffold import CHROMIUM, HEADLESS_FLAGS, NO_CHROMIUM
from tests.clock import ManualClock
from tests.serve_scaffold import ExampleSite, example_site, live_server

# Virtual time waits for the page's fetch() calls, then dumps the DOM they changed.
DUMP_DOM_FLAGS = (*HEADLESS_FLAGS, "--virtual-time-budget=10000")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


@dataclass
class RenderedPage:
    """What the page shows once its script has run."""

    heading: str = ""
    body_attributes: dict[str, str] = field(default_factory=dict)
    assets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Path -> the data-* attributes the page's script wrote for it (status, content-type)."""


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = RenderedPage()
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "h1" and values.get("id") == "version":
            self._in_heading = True
        elif tag == "body":
            self.page.body_attributes = values
        elif tag == "li" and "data-asset" in values:
            self.page.assets[values["data-asset"]] = values

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.page.heading += data


def render(url: str, profile_dir: Path) -> RenderedPage:
    """Load `url` in a fresh headless Chromium profile and parse the DOM after its scripts ran."""
    assert CHROMIUM is not None
    profile_dir.mkdir(parents=True)
    completed = subprocess.run(
        [CHROMIUM, *DUMP_DOM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    parser = _PageParser()
    parser.feed(completed.stdout)
    return parser.page


@pytest.fixture
def example() -> Iterator[ExampleSite]:
    with example_site() as site:
        yield site


def _assert_shows(page: RenderedPage, heading: str, stylesheet: str) -> None:
    assert page.heading == heading
    # Applied only if the browser accepted the CSS: it refuses a stylesheet that is not text/css.
    assert page.body_attributes.get("data-stylesheet") == stylesheet
    assert page.body_attributes.get("data-assets-checked") == "done", page.body_attributes
    types = {path.rsplit(".", 1)[1]: a["data-content-type"] for path, a in page.assets.items()}
    assert all(a["data-status"] == "200" for a in page.assets.values()), page.assets
    assert types["css"].split(";")[0] == "text/css"
    assert types["js"].split(";")[0] == "text/javascript"


def test_browser_sees_one_then_two_then_one_after_rollback(example: ExampleSite, tmp_path: Path) -> None:
    clock = ManualClock()
    ttl = example.settings.cache_ttl_seconds

    def shown(server: PreviewServer, step: str, path: str = "/") -> RenderedPage:
        return render(server.url + path, tmp_path / step)

    with live_server(example, clock) as server:
        demo.release(example.stack, example.version_one, lambda _line: None)
        _assert_shows(shown(server, "release"), "Version one", "version-one")

        demo.release(example.stack, example.version_two, lambda _line: None)
        clock.advance(ttl)  # every edge container re-reads the pointer after its TTL
        _assert_shows(shown(server, "switch"), "Version two", "version-two")

        assert demo.rollback(example.stack, lambda _line: None) == example.version_one
        clock.advance(ttl)
        _assert_shows(shown(server, "rollback"), "Version one", "version-one")

        about = shown(server, "about", "/about/")
        assert about.heading == "About version one"
        assert about.body_attributes == {}  # the nested page has no script, only the stylesheet


def test_a_stylesheet_with_the_wrong_type_does_not_apply(example: ExampleSite, tmp_path: Path) -> None:
    """The check above can fail: the same page, its CSS stored as text/plain, keeps no style."""
    demo.release(example.stack, example.version_one, lambda _line: None)
    key = "_assets/assets/app.2defdb23.css"  # fingerprinted: stored once, in the shared area
    body = example.s3.get_object(Bucket=example.bucket, Key=key)["Body"].read()
    example.s3.put_object(Bucket=example.bucket, Key=key, Body=body, ContentType="text/plain")
    with live_server(example, ManualClock()) as server:
        page = render(server.url + "/", tmp_path / "wrong-type")
    assert page.heading == "Version one"
    assert page.body_attributes.get("data-stylesheet") == "not applied"
    assert page.assets["/assets/app.2defdb23.css"]["data-content-type"] == "text/plain"


LAZY_CHUNK_ONE = "/assets/lazy.2f781bed.js"


def _page_of_one_then_release_two(
    example: ExampleSite, tmp_path: Path, *, failover: bool, step: str
) -> tuple[RenderedPage, list[str]]:
    """Open `/#lazy` while version one is live; the page imports its lazily loaded chunk, and the
    release of version two lands just before that request reaches the edge (an injected hook, so
    the order is certain): the already-open page of one asks a site where two is live."""
    demo.release(example.stack, example.version_one, lambda _line: None)
    clock = ManualClock()
    handler = OriginRequestHandler(example.settings, PointerCache(example.settings, now=clock))
    released: list[str] = []

    def edge(event: dict[str, Any], context: object) -> dict[str, Any]:
        if event["Records"][0]["cf"]["request"]["uri"] == LAZY_CHUNK_ONE and not released:
            demo.release(example.stack, example.version_two, lambda _line: None)
            clock.advance(example.settings.cache_ttl_seconds)  # every edge container sees two now
            released.append(example.version_two)
        return handler(event, context)

    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, edge_function=edge, failover=failover
    ) as server:
        page = render(server.url + "/#lazy", tmp_path / step)
    return page, released


def test_an_open_page_of_version_one_imports_its_chunk_after_two_is_released(
    example: ExampleSite, tmp_path: Path
) -> None:
    page, released = _page_of_one_then_release_two(example, tmp_path, failover=True, step="skew")
    assert page.heading == "Version one"
    assert released == [example.version_two]
    assert page.body_attributes.get("data-lazy") == "one", page.body_attributes


def test_without_skew_protection_the_open_page_fails_to_import_its_chunk(
    example: ExampleSite, tmp_path: Path
) -> None:
    """The check above can fail: the same page and release, served without the origin group."""
    page, released = _page_of_one_then_release_two(example, tmp_path, failover=False, step="no-skew")
    assert page.heading == "Version one"
    assert released == [example.version_two]
    assert page.body_attributes.get("data-lazy") == "failed", page.body_attributes
