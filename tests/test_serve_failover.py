"""`sitectl serve` as the distribution with its origin group and custom error responses: an open
page of another version keeps its chunks, a missing path answers the live version's 404 page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from scripts.commands.upload import upload_build
from scripts.versionstore.not_found_page import DEFAULT_NOT_FOUND_HTML
from tests.clock import ManualClock
from tests.serve_scaffold import ExampleSite, example_site, live_server, request
from tests.sitectl_scaffold import write_build

CHUNK_ONE = "/assets/lazy.2f781bed.js"
CHUNK_TWO = "/assets/lazy.b9cf53c0.js"
IMMUTABLE = "public, max-age=31536000, immutable"
JAVASCRIPT = "text/javascript; charset=utf-8"
HTML = "text/html; charset=utf-8"
REVALIDATE = "public, max-age=0, must-revalidate"
VERSION_THREE = "20261129T090000Z"


@pytest.fixture
def example() -> Iterator[ExampleSite]:
    with example_site() as site:
        yield site


def test_after_a_release_a_page_of_the_previous_version_still_loads_its_chunk(example: ExampleSite) -> None:
    example.release(example.version_two)
    with live_server(example, ManualClock()) as server:
        chunk = request(server, CHUNK_ONE)
    assert chunk.status == 200
    assert 'export const version = "one";' in chunk.text
    assert (chunk.headers["content-type"], chunk.headers["cache-control"]) == (JAVASCRIPT, IMMUTABLE)


def test_after_a_rollback_a_page_of_the_later_version_still_loads_its_chunk(example: ExampleSite) -> None:
    example.release(example.version_two)
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        chunk = request(server, CHUNK_TWO)
        head = request(server, CHUNK_TWO, method="HEAD")
    assert chunk.status == 200 and 'export const version = "two";' in chunk.text
    assert (head.status, head.body, head.headers["content-type"]) == (200, b"", JAVASCRIPT)


def test_without_the_origin_group_the_chunk_is_gone(example: ExampleSite) -> None:
    """The check above can fail: the same request to a distribution without failover."""
    example.release(example.version_two)
    with live_server(example, ManualClock(), failover=False) as server:
        chunk = request(server, CHUNK_ONE)
    # S3's own answer to a reader that may not list the bucket (CloudFront), with no error page.
    assert chunk.status == 403
    assert (
        chunk.text
        == f"403 Forbidden: no object '{example.version_two}/assets/lazy.2f781bed.js' in the bucket\n"
    )


def test_a_missing_path_answers_404_with_the_live_versions_own_page(example: ExampleSite) -> None:
    example.release(example.version_two)
    with live_server(example, ManualClock()) as server:
        for path in ("/no-such-page.png", "/assets/missing.js", "/index.3f2a1b9c.html", "/docs/"):
            page = request(server, path)
            head = request(server, path, method="HEAD")
            assert page.status == 404, path
            assert page.headers["content-type"] == HTML, path
            assert '<h1 id="version">Version two: page not found</h1>' in page.text, path
            assert page.headers["content-length"] == str(len(page.body)), path
            assert "etag" not in page.headers, path
            assert (head.status, head.body) == (404, b""), path


def test_a_version_without_404_html_answers_the_default_page(example: ExampleSite, tmp_path: Path) -> None:
    build = write_build(tmp_path / "three", {"index.html": "<h1>three</h1>", "a.1111aaaa.js": "a"})
    upload_build(example.s3, example.bucket, build, VERSION_THREE)
    example.release(VERSION_THREE)
    with live_server(example, ManualClock()) as server:
        page = request(server, "/no-such-page/")
        own = request(server, "/")
    assert own.status == 200 and own.text == "<h1>three</h1>"
    assert page.status == 404
    # The page and headers `put_default_not_found_page` stored, as the component stores them.
    assert (page.headers["content-type"], page.headers["cache-control"]) == (HTML, REVALIDATE)
    assert page.body == DEFAULT_NOT_FOUND_HTML.encode()
    assert "<h1>Page not found</h1>" in page.text


def test_spa_mode_still_serves_index_html_for_extension_less_paths(example: ExampleSite) -> None:
    example.release(example.version_two)
    spa = ExampleSite(
        replace(example.site, settings=replace(example.settings, spa_fallback=True)),
        example.stack,
        example.version_one,
        example.version_two,
    )
    with live_server(spa, ManualClock()) as server:
        route = request(server, "/some/client/route")
        missing = request(server, "/some/client/route.png")
    assert route.status == 200 and '<h1 id="version">Version two</h1>' in route.text
    assert missing.status == 404 and "Version two: page not found" in missing.text


def test_a_304_and_the_edges_refusals_never_fail_over(example: ExampleSite) -> None:
    example.release(example.version_two)
    with live_server(example, ManualClock()) as server:
        etag = request(server, "/").headers["etag"]
        assert request(server, "/", headers={"If-None-Match": etag}).status == 304
        assert request(server, "/a/../b.3f2a1b9c.js").status == 400
        assert request(server, CHUNK_ONE, method="POST").status == 404  # CloudFront's 403, as the 404 page
