"""Real framework builds (`tests/fixtures/builds/built/`, rebuilt by `make builds`) in headless Chromium,
served by `sitectl serve` through each router, across a release and a rollback.

For each build and router: both versions are uploaded with `sitectl upload --router` (the router's own layout)
into one shared moto server,
version one is released, every route is loaded directly (status, what the page shows once its script
ran, Cache-Control of the HTML and of the hashed files), and the 404 page; then, with a page of version
one still open, version two is released: the open page's lazy chunk and a client-side navigation must
still work; then the same after a rollback. What each framework does when its data request is
answered by the other version is in docs/testing.md ("Real framework builds").
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE, ROUTERS
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.serve import Origin, PreviewServer, preview_server_running, version_routes_for
from scripts.commands.site import SiteDeps
from scripts.demo import walkthrough as demo
from scripts.demo.local_aws import moto_server
from scripts.demo.node_function import NodeFunction, node_binary
from scripts.offline.kvs_fake import FakeStore, client_for, running_store
from scripts.sitectl import cli
from scripts.versionstore.content_headers import IMMUTABLE_CACHE_CONTROL, REVALIDATE_CACHE_CONTROL
from scripts.versionstore.not_found_page import put_default_not_found_page
from tests.browser_scaffold import (
    CHROMIUM,
    NO_CHROMIUM,
    Browser,
    Page,
    ProtocolError,
    Response,
    browser_running,
)
from tests.clock import ManualClock

BUILDS_DIR = Path(__file__).resolve().parent / "fixtures" / "builds" / "built"
NODE = node_binary()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
needs_node = pytest.mark.skipif(
    NODE is None, reason="no node on PATH: the cloudfront-function router runs router.js"
)

VERSION_ONE = "20261201T100000Z"
VERSION_TWO = "20261202T100000Z"
CACHE_TTL_SECONDS = 5


@dataclass(frozen=True)
class Build:
    name: str
    routes: dict[str, str]
    """Path as the app links it -> the page's `data-page`."""
    hashed: str
    """The folder the framework fills only with content-hashed files."""
    after_switch: str
    """What a client-side navigation of a page open across a switch shows (docs/testing.md):
    "stays" on the open page's version; "reloads" the new version's page (a full page load);
    "swaps" in the new version's page and scripts, keeping the document; "mixes" the open page's
    version with the new version's data."""
    spa_fallback: bool = False
    polls: bool = False
    """SvelteKit's version.pollInterval is set: the page learns of a new version by itself."""

    @property
    def directory(self) -> Path:
        return BUILDS_DIR / self.name


ROUTES = {"/": "home", "/about": "about", "/blog/first": "blog"}
BUILDS = [
    Build("next", ROUTES, "/_next/static/", "reloads"),
    Build(
        "next-trailing-slash",
        {"/": "home", "/about/": "about", "/blog/first/": "blog"},
        "/_next/static/",
        "reloads",
    ),
    Build("sveltekit", ROUTES, "/_app/immutable/", "mixes"),
    Build("sveltekit-poll", ROUTES, "/_app/immutable/", "reloads", polls=True),
    Build("astro", ROUTES, "/_astro/", "swaps"),
    Build("vite", ROUTES, "/assets/", "stays", spa_fallback=True),
]

SHARED_LINE = re.compile(
    r"skew protection: (?P<shared>\d+) fingerprinted files shared, (?P<already>\d+) already shared, "
    r"(?P<not>\d+) not shared"
)


@dataclass
class Uploaded:
    """A build's bucket and pointer in moto, both versions uploaded, its settings as the component's."""

    build: Build
    bucket: str
    settings: EdgeSettings
    upload_output: str


class Aws:
    """One moto server for the module; each build gets its own bucket and pointer in it."""

    def __init__(self, endpoint: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        # sitectl upload sends with 16 workers; urllib3's default pool keeps 10 connections.
        config = Config(max_pool_connections=32)
        self.s3: Any = session.client(
            "s3", endpoint_url=endpoint, region_name=demo.DEMO_BUCKET_REGION, config=config
        )
        self.ssm: Any = session.client("ssm", endpoint_url=endpoint)
        self._uploaded: dict[str, Uploaded] = {}

    def uploaded(self, build: Build, router: str, source: Path | None = None, tag: str = "") -> Uploaded:
        """`build` uploaded for `router`, both versions from `source` (its `v1` and `v2`; the committed
        build by default), in a bucket of its own per `tag`."""
        # Each router gets the layout `sitectl upload --router` gives it: Lambda@Edge's stores unchanged
        # files by content (`_content/`), the function's copies them into the version's prefix.
        key = f"{build.name}{tag}-{router}"
        if key not in self._uploaded:
            self._uploaded[key] = self._upload(build, router, key, source or build.directory)
        return self._uploaded[key]

    def _upload(self, build: Build, router: str, name: str, source: Path) -> Uploaded:
        bucket = f"fixture-{name}"
        # As demo.create_site (the component's bucket and 404 page), with a pointer of the build's own.
        self.s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": demo.DEMO_BUCKET_REGION}
        )
        put_default_not_found_page(self.s3, bucket)
        settings = EdgeSettings(
            parameter_name=layout.pointer_parameter_name(demo.DEMO_PROJECT, name),
            region=layout.EDGE_REGION,
            cache_ttl_seconds=CACHE_TTL_SECONDS,
            spa_fallback=build.spa_fallback,
        )
        self.ssm.put_parameter(Name=settings.parameter_name, Type="String", Value=layout.NO_VERSION_RELEASED)
        output = []
        for version, folder in ((VERSION_ONE, "v1"), (VERSION_TWO, "v2")):
            result = CliRunner().invoke(
                cli,
                [
                    "upload",
                    "--bucket",
                    bucket,
                    "--router",
                    router,
                    "--version",
                    version,
                    str(source / folder),
                ],
                obj=SiteDeps(s3_factory=lambda: self.s3),
            )
            assert result.exit_code == 0, result.output
            # Every file of the framework's hashed folder was taken as fingerprinted and shared (skew
            # protection for the open pages of this version), and no other file.
            hashed = source / folder / build.hashed.strip("/")
            count = sum(1 for path in hashed.rglob("*") if path.is_file())
            shared = SHARED_LINE.search(result.output)
            assert shared, result.output
            assert (int(shared["shared"]) + int(shared["already"]), int(shared["not"])) == (count, 0)
            output.append(result.output)
        stored_by_content = self.s3.list_objects_v2(Bucket=bucket, Prefix=layout.CONTENT_PREFIX)["KeyCount"]
        assert (stored_by_content > 0) == (router == LAMBDA_EDGE), (
            f"{router}: {stored_by_content} in _content/"
        )
        return Uploaded(build, bucket, settings, "".join(output))


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with moto_server() as endpoint:
        yield Aws(endpoint)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with browser_running(tmp_path_factory.mktemp("chromium")) as running:
        yield running


@dataclass
class Served:
    """A build served through one router, with `sitectl release` and `rollback` against its pointer."""

    uploaded: Uploaded
    stack: demo.DemoStack
    server: PreviewServer
    clock: ManualClock

    def release(self, version: str) -> None:
        demo.release(self.stack, version, lambda _line: None)
        self.clock.advance(CACHE_TTL_SECONDS)  # every edge container has re-read the pointer

    def rollback(self) -> str:
        version = demo.rollback(self.stack, lambda _line: None)
        self.clock.advance(CACHE_TTL_SECONDS)
        return version

    def url(self, path: str) -> str:
        return self.server.url + path


@contextmanager
def served(
    aws: Aws, build: Build, router: str, workdir: Path, source: Path | None = None, tag: str = ""
) -> Iterator[Served]:
    uploaded = aws.uploaded(build, router, source, tag)
    # Nothing released yet, whatever the build's test under the other router left live.
    aws.ssm.put_parameter(
        Name=uploaded.settings.parameter_name, Value=layout.NO_VERSION_RELEASED, Type="String", Overwrite=True
    )
    clock = ManualClock()
    with ExitStack() as stack:
        routing: dict[str, Any] = {"router": router}
        site = demo.DemoSite(aws.s3, aws.ssm, uploaded.bucket, uploaded.settings, router=router)
        if router == CLOUDFRONT_FUNCTION:
            assert NODE is not None
            fake, endpoint = stack.enter_context(running_store(FakeStore()))
            site = replace(site, store=fake, kvs=client_for(endpoint))
            site.write_store(layout.NO_VERSION_RELEASED)
            function = NodeFunction(NODE, workdir, uploaded.settings.route_settings)
            stack.callback(function.close)
            # Both functions' own code under Node: router.js and viewer_response.js (the build's headers).
            routing |= {
                "viewer_function": function,
                "viewer_response_function": function.viewer_response,
                "live_version": site.read_store,
                "store": site.read_key,  # the build rules' keys, as each release wrote them
            }
        else:
            pointer = PointerCache(uploaded.settings, ssm_client=aws.ssm, now=clock)
            # what the edge knows of each version's files: its manifest, as the deployed function reads it
            routes = version_routes_for(Origin(uploaded.bucket, aws.s3), uploaded.settings.spa_fallback)
            routing["edge_function"] = OriginRequestHandler(uploaded.settings, pointer, routes)
        server = stack.enter_context(
            preview_server_running(uploaded.bucket, uploaded.settings, s3_client=aws.s3, **routing)
        )
        yield Served(uploaded, demo.DemoStack(site), server, clock)


# --- what a page shows -----------------------------------------------------------------------------

# The app's page once its script has run: its `data-page` and `data-version`, the version whose script
# runs (`hydrated`), the SvelteKit about page's server data, the lazy chunk's answer.
SHOWN = """(() => {
  const main = document.querySelector('[data-page]');
  const hydrated = document.documentElement.dataset.hydrated;
  return main && hydrated ? {page: main.dataset.page, version: main.dataset.version || null, hydrated,
    path: location.pathname, data: document.getElementById('data')?.textContent ?? null,
    lazy: document.getElementById('lazy-result')?.textContent ?? null} : null;
})()"""
# Which 404 page is showing: the build's own (its `data-page`), or the component's plain one.
NOT_FOUND_SHOWN = (
    "document.querySelector('[data-page]')?.dataset.page"
    " || (document.title === 'Page not found' ? 'plain' : null)"
)
# Resolves once the page has started no request for 200 ms (of the page's own time): nothing in flight
# when the test releases, so that every request after it is one the test caused. SvelteKit's version
# poll (every 250 ms in sveltekit-poll) does not count: it goes on as long as nothing changed.
SETTLED = """new Promise((resolve) => {
  let seen = -1;
  const tick = () => {
    const now = performance.getEntriesByType('resource')
      .filter((entry) => !entry.name.endsWith('/_app/version.json')).length;
    if (now === seen) resolve(true); else { seen = now; setTimeout(tick, 200); }
  };
  tick();
})"""


def shown(page: Page, condition: str = "true") -> dict[str, Any] | None:
    value = page.wait_for(f"(() => {{ const s = {SHOWN}; return s && ({condition}) ? s : null; }})()")
    return dict(value) if value else None


def document(responses: list[Response]) -> Response:
    return [r for r in responses if r.resource_type == "Document"][-1]


def load_lazy_chunk(page: Page) -> str | None:
    """Click the button that imports the lazy chunk; what it wrote ("lazy <version>" or "failed: ...")."""
    page.evaluate("document.getElementById('lazy').click()")
    text = page.wait_for("document.getElementById('lazy-result').textContent")
    return None if text is None else str(text)


def settle(page: Page) -> None:
    """Wait until the page has started no request for a while, following a full navigation if one
    happens meanwhile (it replaces the document, and the evaluation with it)."""
    for _attempt in range(5):
        try:
            page.evaluate(SETTLED)
            return
        except ProtocolError:
            page.wait_for("document.readyState === 'complete'")
    raise AssertionError("the page kept navigating")


def navigate(page: Page, link: str) -> dict[str, Any]:
    """Click a nav link; once the page has settled, what it shows, and whether the document stayed
    (a client-side navigation) or was replaced (a full page load)."""
    page.evaluate("window.openBeforeClick = true")
    page.evaluate(f"document.getElementById({link!r}).click()")
    settle(page)
    state = shown(page) or {"page": None}
    state["same_document"] = page.evaluate("window.openBeforeClick === true")
    return state


class Problems(list[str]):
    """Every way a build is served wrong, so that one run names them all (route, answer)."""

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.append(what)


def check_direct_loads(page: Page, site: Served, build: Build, router: str, problems: Problems) -> None:
    """Every route loaded from the address bar, the 404 pages, and the Cache-Control of what they load."""
    for path, expected in build.routes.items():
        responses = page.goto(site.url(path))
        status = document(responses).status
        problems.check(status == 200, f"GET {path} answered {status}, expected 200")
        state = shown(page)
        what = state and (state["page"], state["version"], state["hydrated"])
        problems.check(
            what == (expected, "one", "one"), f"GET {path} showed {what}, expected {expected} of one"
        )
        for response in responses:
            path_loaded = urlsplit(response.url).path
            cache = response.headers.get("cache-control")
            if response.resource_type == "Document":
                problems.check(
                    cache == REVALIDATE_CACHE_CONTROL, f"{path_loaded} (page): Cache-Control {cache}"
                )
            elif path_loaded.startswith(build.hashed) and response.status == 200:
                problems.check(
                    cache == IMMUTABLE_CACHE_CONTROL, f"{path_loaded} (hashed): Cache-Control {cache}"
                )
    # The build's own 404 page from Lambda@Edge; the function always serves the plain one (no function
    # runs for an error page: docs/routers.md, "Two routers").
    own_or_plain = "404" if router == LAMBDA_EDGE else "plain"
    missing = {"/no-such-page": (404, own_or_plain), "/no-such-file.png": (404, own_or_plain)}
    if build.spa_fallback:
        missing["/no-such-page"] = (200, "404")  # index.html, whose router shows its not-found view
    for path, (expected_status, expected_page) in missing.items():
        status = document(page.goto(site.url(path))).status
        page_shown = page.wait_for(NOT_FOUND_SHOWN)
        problems.check(
            (status, page_shown) == (expected_status, expected_page),
            f"GET {path} answered {status} showing {page_shown!r}, "
            f"expected {expected_status} {expected_page!r}",
        )


def check_across(
    page: Page, site: Served, build: Build, switch: str, problems: Problems, observed: list[str]
) -> None:
    """A page of the live version open across `switch` ("release" of two, or "rollback" to one): its
    lazy chunk still loads (its own version's), and a client-side navigation lands on the page."""
    first = next(iter(build.routes))
    opened = "one" if switch == "release" else "two"
    page.goto(site.url(first))
    state = shown(page)
    problems.check(state is not None and state["hydrated"] == opened, f"{first} before the {switch}: {state}")
    settle(page)
    if switch == "release":
        site.release(VERSION_TWO)
    else:
        assert site.rollback() == VERSION_ONE
    mark = page.mark()
    lazy = load_lazy_chunk(page)
    problems.check(lazy == f"lazy {opened}", f"after the {switch}, the lazy chunk of {opened} gave {lazy!r}")
    if build.polls:
        # The page's own poll of _app/version.json (every 250 ms in this build) sees the new version.
        updated = page.wait_for("document.documentElement.dataset.updated === 'true'")
        problems.check(bool(updated), f"after the {switch}, the page's version poll never saw it")
    about = next(path for path, name in build.routes.items() if name == "about")
    state = navigate(page, "nav-about")
    problems.check(state["page"] == "about", f"after the {switch}, the link to {about} showed {state}")
    new = "two" if switch == "release" else "one"
    expected: dict[str, Any] = {
        "stays": {"version": opened, "hydrated": opened, "same_document": True},
        "reloads": {"version": new, "hydrated": new, "same_document": False},
        "swaps": {"version": new, "hydrated": new, "same_document": True},
        "mixes": {"version": opened, "data": f"data of version {new}", "same_document": True},
    }[build.after_switch]
    got = {name: state.get(name) for name in expected}
    problems.check(
        got == expected, f"after the {switch}, the link to {about} {build.after_switch} not: {got}"
    )
    requests = [
        f"{r.status} {urlsplit(r.url).path}" for r in page.responses(mark) if r.resource_type != "Script"
    ]
    observed.append(f"{switch}: page of {opened}, lazy {lazy!r}, then {state}; requests {requests}")


@needs_chromium
@needs_node
@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("build", BUILDS, ids=lambda build: build.name)
def test_real_build_across_release_and_rollback(
    aws: Aws, browser: Browser, build: Build, router: str, tmp_path: Path
) -> None:
    problems = Problems()
    observed: list[str] = []
    with served(aws, build, router, tmp_path) as site:
        site.release(VERSION_ONE)
        page = browser.new_page()
        try:
            check_direct_loads(page, site, build, router, problems)
            check_across(page, site, build, "release", problems, observed)
            check_across(page, site, build, "rollback", problems, observed)
        finally:
            page.close()
    print(f"\n{build.name} ({router})\n  " + "\n  ".join(observed))
    assert not problems, f"{build.name} through {router}:\n" + "\n".join(problems)


# --- the build's own rules ---------------------------------------------------------------------------

# The Vite app with the rules a Netlify site of it would ship (written into a copy of the build, not
# committed): moved pages, and the app's page for every path no file answers, the `/*` rewrite in place
# of spaFallback. Version two moves `/old-about` elsewhere and relaxes X-Frame-Options.
RULES_BUILD = replace(next(build for build in BUILDS if build.name == "vite"), spa_fallback=False)
REDIRECTS = """\
# Moved pages
/old-about      {old_about}    301
/posts/:slug    /blog/:slug    301
/archive/*      /blog/:splat   302
# The single-page app: its page wherever no file answers
/*              /index.html    200
"""
HEADERS = """\
/*
  X-Frame-Options: {frame}
  Content-Security-Policy: default-src 'self'
/about
  X-Robots-Tag: noindex
"""
RULES = {
    "v1": {"old_about": "/about", "frame": "DENY"},
    "v2": {"old_about": "/blog/first", "frame": "SAMEORIGIN"},
}
# An inline script the page adds once loaded: it runs only if no Content-Security-Policy forbids it.
INLINE_SCRIPT_RAN = """(() => {
  const script = document.createElement('script');
  script.textContent = 'window.inlineRan = true';
  document.head.append(script);
  return window.inlineRan === true;
})()"""


def build_with_rules(workdir: Path) -> Path:
    """A copy of the Vite build, each version with its `_redirects` and `_headers`."""
    for folder, values in RULES.items():
        tree = workdir / folder
        shutil.copytree(RULES_BUILD.directory / folder, tree)
        (tree / "_redirects").write_text(REDIRECTS.format(**values))
        (tree / "_headers").write_text(HEADERS.format(**values))
    return workdir


def visit(page: Page, site: Served, path: str) -> dict[str, Any]:
    """`path` loaded from the address bar: the redirects the browser followed (status and Location), the
    page it landed on (path, status, the rules' headers as received) and what the app shows there."""
    mark = page.mark()
    landed = document(page.goto(site.url(path)))
    state = shown(page) or {}
    return {
        "redirects": [(r.status, r.headers.get("location")) for r in page.redirects(mark)],
        "path": urlsplit(landed.url).path,
        "status": landed.status,
        "headers": {
            name: landed.headers.get(name)
            for name in ("x-frame-options", "content-security-policy", "x-robots-tag")
        },
        "shown": (state.get("page"), state.get("version"), state.get("hydrated")),
    }


def expected_visit(
    redirects: list[tuple[int, str]], path: str, page_name: str, version: str, robots: bool = False
) -> dict[str, Any]:
    return {
        "redirects": redirects,
        "path": path,
        "status": 200,
        "headers": {
            "x-frame-options": RULES["v1" if version == "one" else "v2"]["frame"],
            "content-security-policy": "default-src 'self'",
            "x-robots-tag": "noindex" if robots else None,
        },
        "shown": (page_name, version, version),
    }


@needs_chromium
@needs_node
@pytest.mark.parametrize("router", ROUTERS)
def test_build_rules_in_chromium_across_release_and_rollback(
    aws: Aws, browser: Browser, router: str, tmp_path: Path
) -> None:
    """The Vite build shipping `_redirects` and `_headers`, through each router: Chromium follows the
    version's redirects to the app's pages, which run under the version's headers; a release brings the
    next version's rules, a rollback the first one's back."""
    source = build_with_rules(tmp_path / "build")
    with served(aws, RULES_BUILD, router, tmp_path, source, tag="-rules") as site:
        site.release(VERSION_ONE)
        page = browser.new_page()
        try:
            # Each redirect as Chromium followed it, then the page it landed on, answered by the
            # `/*` rewrite (no file answers /about: the app routes it) with the `/*` and `/about` headers.
            assert visit(page, site, "/old-about") == expected_visit(
                [(301, "/about")], "/about", "about", "one", robots=True
            )
            assert visit(page, site, "/posts/first") == expected_visit(
                [(301, "/blog/first")], "/blog/first", "blog", "one"
            )
            assert visit(page, site, "/archive/first") == expected_visit(
                [(302, "/blog/first")], "/blog/first", "blog", "one"
            )
            assert visit(page, site, "/no-such-page") == expected_visit([], "/no-such-page", "404", "one")
            # The app's scripts ran under the build's Content-Security-Policy, which the browser
            # enforces: an inline script is refused.
            assert page.evaluate(INLINE_SCRIPT_RAN) is False

            # This page of version one stays open across the release: its lazy chunk, a file no longer
            # in the live version, is still the shared area's, not the `/*` rewrite's index.html.
            settle(page)
            site.release(VERSION_TWO)
            assert load_lazy_chunk(page) == "lazy one"
            assert visit(page, site, "/old-about") == expected_visit(
                [(301, "/blog/first")], "/blog/first", "blog", "two"
            )
            assert visit(page, site, "/posts/first")["redirects"] == [(301, "/blog/first")]

            assert site.rollback() == VERSION_ONE
            assert visit(page, site, "/old-about") == expected_visit(
                [(301, "/about")], "/about", "about", "one", robots=True
            )
        finally:
            page.close()


def test_the_committed_builds_are_small_and_complete() -> None:
    """Each committed build stays under 1 MiB (the repository carries ten of them), and every build
    the matrix serves has both versions, with the pages its routes name."""
    built = {path.name for path in BUILDS_DIR.iterdir()}
    assert built == {build.name for build in BUILDS}
    for build in BUILDS:
        for folder in ("v1", "v2"):
            files = [path for path in (build.directory / folder).rglob("*") if path.is_file()]
            assert sum(path.stat().st_size for path in files) < 1 << 20, f"{build.name}/{folder}"
            assert not any("node_modules" in path.parts for path in files)
            assert (build.directory / folder / "index.html").is_file()
