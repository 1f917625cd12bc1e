"""A canary in headless Chromium: the real Vite build (`tests/fixtures/builds/built/vite`, a single-page app
whose views and lazy chunk are separate hashed chunks) served by `sitectl serve` as the cloudfront-function
router, following the stack's pointer and canary record. Two viewers, each in a browser context of its own
(its own cookies): the one whose bucket is in the 50% share gets the canary, the other the live version;
each keeps its version across reloads (by the `site-bucket` cookie the first answer set, even once its
User-Agent changes) and lazy imports; completing the canary moves both on their next load, while a page of
the old version left open still imports its chunks (skew protection).

Needs Chromium (`.ci/run` installs Debian's `chromium`); skipped elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from edge_function.viewer_bucket import SPLIT_COOKIE, hash_bucket
from edge_lambda import layout
from scripts.commands.serve import PreviewServer, preview_server_running
from scripts.commands.upload import upload_build
from scripts.demo import walkthrough as demo
from tests.browser_scaffold import CHROMIUM, NO_CHROMIUM, Browser, Page, browser_running

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)

VITE = Path(__file__).resolve().parent / "fixtures" / "builds" / "built" / "vite"
VERSION_ONE = "20261201T100000Z"
VERSION_TWO = "20261202T100000Z"
# Both browsers connect from 127.0.0.1; their User-Agents give them these buckets.
CANARY_VIEWER = "Chromium viewer four"  # bucket 49: the last one in a 50% share
STABLE_VIEWER = "Chromium viewer two"  # bucket 89
# What the app shows once its script ran: the view's route and the version whose code rendered it.
SHOWN = """(() => {
  const view = document.querySelector('#view[data-page]');
  const hydrated = document.documentElement.dataset.hydrated;
  return view && hydrated ? view.dataset.page + ' ' + view.dataset.version : null;
})()"""


@dataclass(frozen=True)
class Canary:
    site: demo.DemoSite
    stack: demo.DemoStack
    server: PreviewServer

    def url(self, path: str = "/") -> str:
        return self.server.url + path

    def record(self, version: str | None, percent: int = 0) -> None:
        """The canary record as `pulumi up` writes it beside the pointer."""
        self.site.ssm.put_parameter(
            Name=layout.canary_parameter_name(self.site.settings.parameter_name),
            Value=layout.canary_record(version, percent),
            Type="String",
            Overwrite=True,
        )


@pytest.fixture
def canary() -> Iterator[Canary]:
    """Both builds of the Vite app in moto, version one live, version two the canary for 50%."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=demo.DEMO_BUCKET_REGION)
        ssm = boto3.client("ssm", region_name="us-east-1")
        site = demo.create_site(s3, ssm, cache_ttl_seconds=5)
        site = replace(site, settings=replace(site.settings, spa_fallback=True))
        for version, build in ((VERSION_ONE, "v1"), (VERSION_TWO, "v2")):
            upload_build(s3, site.bucket, VITE / build, version)
        stack = demo.DemoStack(site)
        demo.release(stack, VERSION_ONE, lambda _line: None)
        with preview_server_running(
            site.bucket, site.settings, s3_client=s3, router="cloudfront-function"
        ) as server:
            running = Canary(site, stack, server)
            running.record(VERSION_TWO, 50)
            yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with browser_running(tmp_path / "chromium") as running:
        yield running


def viewer(browser: Browser, user_agent: str) -> Page:
    """A tab in a browser context of its own, sending `user_agent`."""
    page = browser.new_page(browser.new_context())
    page.set_user_agent(user_agent)
    return page


def load(page: Page, url: str) -> str | None:
    page.goto(url)
    shown = page.wait_for(SHOWN)
    return None if shown is None else str(shown)


def load_lazy_chunk(page: Page) -> str | None:
    page.evaluate("document.getElementById('lazy').click()")
    text = page.wait_for("document.getElementById('lazy-result').textContent")
    return None if text is None else str(text)


def test_the_viewers_buckets_literally() -> None:
    assert (hash_bucket("127.0.0.1", CANARY_VIEWER), hash_bucket("127.0.0.1", STABLE_VIEWER)) == (49, 89)


def test_each_viewer_keeps_its_version_until_the_canary_completes(canary: Canary, browser: Browser) -> None:
    early, late = viewer(browser, CANARY_VIEWER), viewer(browser, STABLE_VIEWER)
    assert (load(early, canary.url()), load(late, canary.url())) == ("home two", "home one")
    # The first answer set each viewer's bucket, in its own context.
    assert (early.cookies()[SPLIT_COOKIE], late.cookies()[SPLIT_COOKIE]) == ("49", "89")

    # Their User-Agents swap (a browser update, say): the cookie keeps each on its version.
    early.set_user_agent(STABLE_VIEWER)
    late.set_user_agent(CANARY_VIEWER)
    for _reload in range(2):
        assert (load(early, canary.url()), load(late, canary.url())) == ("home two", "home one")
    assert load(early, canary.url("/about")) == "about two"
    assert load_lazy_chunk(early) == "lazy two"

    # Complete: version two is live for everyone, no canary runs. The page of version one still open
    # imports its lazy chunk and renders a view it never loaded: its own version's chunks.
    demo.release(canary.stack, VERSION_TWO, lambda _line: None)
    canary.record(None)
    assert load_lazy_chunk(late) == "lazy one"
    late.evaluate("document.getElementById('nav-blog').click()")
    assert late.wait_for(f"{SHOWN} === 'blog one'") is True

    # Their next loads: both on version two.
    assert (load(early, canary.url()), load(late, canary.url())) == ("home two", "home two")
    assert load_lazy_chunk(late) == "lazy two"
