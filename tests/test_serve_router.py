"""`sitectl serve` emulating the cloudfront-function router: the live version read on every request (a
rollback is served at once), fingerprinted files from the shared area, misses answered with the plain
404 page (no function runs for the error page), and the 503 with the function's Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.commands.errors import RefusedError
from scripts.commands.serve import preview_server_running, resolve_router
from scripts.commands.site import Site, SiteDeps
from scripts.commands.verify import verify_site
from scripts.versionstore import store as storage
from tests.clock import ManualClock
from tests.serve_scaffold import ExampleSite, example_site, live_server, request
from tests.sitectl_scaffold import FakeStack, store_as_before

ROOT = Path(__file__).resolve().parent.parent
CHUNK_ONE = "/assets/lazy.2f781bed.js"


@pytest.fixture
def example() -> Iterator[ExampleSite]:
    with example_site() as site:
        yield site


def test_a_rollback_is_served_at_once_where_lambda_edge_waits_its_ttl(example: ExampleSite) -> None:
    example.release(example.version_one)
    clock = ManualClock()
    with (
        preview_server_running(
            example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
        ) as function,
        live_server(example, clock) as lambda_edge,
    ):

        def versions() -> tuple[str, str]:
            return (
                request(function, "/").headers["x-amz-meta-site-version"],
                request(lambda_edge, "/").headers["x-amz-meta-site-version"],
            )

        assert versions() == (example.version_one, example.version_one)
        example.release(example.version_two)
        assert versions() == (example.version_two, example.version_one)  # the edge caches the pointer
        clock.advance(5)
        assert versions() == (example.version_two, example.version_two)
        example.release(example.version_one)  # the rollback
        assert versions() == (example.version_one, example.version_two)


def test_a_page_of_the_previous_version_loads_its_chunk_from_the_shared_area(example: ExampleSite) -> None:
    example.release(example.version_two)
    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
    ) as server:
        chunk = request(server, CHUNK_ONE)
    assert chunk.status == 200
    assert 'export const version = "one";' in chunk.text
    assert chunk.headers["x-amz-meta-site-version"] == example.version_one


def test_a_miss_answers_404_with_the_plain_page(example: ExampleSite) -> None:
    example.release(example.version_two)
    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
    ) as server:
        for path in ("/no-such-page.png", "/assets/missing.3f2a1b9c.js", "/docs/"):
            page = request(server, path)
            assert page.status == 404, path
            assert "<h1>Page not found</h1>" in page.text, path
            assert "Version two" not in page.text, path
        own = request(server, "/404.html")
    assert own.status == 200 and "Version two: page not found" in own.text


def test_nothing_released_is_the_functions_503(example: ExampleSite) -> None:
    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
    ) as server:
        answer = request(server, "/")
        refused = request(server, "/a/../b")
    assert (answer.status, answer.headers["retry-after"], answer.headers["cache-control"]) == (
        503,
        "5",
        "no-store",
    )
    assert answer.text == "Service Unavailable: no version released\n"
    assert (refused.status, refused.text) == (400, "Bad Request: the path contains a '.' or '..' segment\n")


def test_a_version_preview_in_function_mode_ignores_the_pointer(example: ExampleSite) -> None:
    example.release(example.version_one)
    with preview_server_running(
        example.bucket,
        example.settings,
        version=example.version_two,
        s3_client=example.s3,
        router="cloudfront-function",
    ) as server:
        assert request(server, "/").headers["x-amz-meta-site-version"] == example.version_two


def _site(stack: str, project_dir: Path) -> Site:
    return Site(
        deps=SiteDeps(stack_factory=lambda name, _dir: FakeStack(name=name)),
        stack_name=stack,
        project_dir=project_dir,
    )


def test_serve_emulates_the_stacks_router(tmp_path: Path) -> None:
    assert resolve_router(_site("dev", ROOT)) == "lambda-edge"  # Pulumi.yaml's default
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.fast.yaml").write_text("config:\n  versioned-site:router: cloudfront-function\n")
    assert resolve_router(_site("fast", tmp_path)) == "cloudfront-function"
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  versioned-site:router: cloudfront\n")
    with pytest.raises(RefusedError, match="versioned-site:router is 'cloudfront': set it to lambda-edge or"):
        resolve_router(_site("bad", tmp_path))


def test_verify_accepts_a_shared_copy_with_the_versions_bytes_and_nothing_else(example: ExampleSite) -> None:
    example.release(example.version_one)
    example.release(example.version_two)  # app.fa10386f.js: the same bytes in both, shared by version one
    manifest = storage.read_manifest(example.s3, example.bucket, example.version_two)
    assert manifest is not None
    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
    ) as server:
        shared = request(server, "/assets/app.fa10386f.js")
        assert shared.headers["x-amz-meta-site-version"] == example.version_one
        # Stored once by version one, and named so by version two's manifest: accepted with either router.
        assert verify_site(server.url, example.version_two, manifest).problems == []
        assert verify_site(server.url, example.version_two, manifest, shared_assets=True).problems == []
        # A version stored before (its files under its prefix): with Lambda@Edge every file from the
        # version itself, so another version's marker is a problem there.
        store_as_before(example.s3, example.bucket, example.version_two, unshare=False)
        manifest = storage.read_manifest(example.s3, example.bucket, example.version_two)
        assert manifest is not None
        strict = verify_site(server.url, example.version_two, manifest).problems
        assert strict == [
            f"/assets/app.fa10386f.js: serves version {example.version_one}, expected {example.version_two}"
        ]
        assert verify_site(server.url, example.version_two, manifest, shared_assets=True).problems == []
        # The same name with other bytes (what the uploader warns about) is not the version's file.
        example.s3.put_object(
            Bucket=example.bucket,
            Key="_assets/assets/app.fa10386f.js",
            Body=b"other",
            ContentType="text/javascript; charset=utf-8",
            Metadata={"site-version": example.version_one, "sha256": "0" * 64},
        )
        problems = verify_site(server.url, example.version_two, manifest, shared_assets=True).problems
    assert problems == [
        f"/assets/app.fa10386f.js: serves version {example.version_one}, expected {example.version_two}"
    ]


def test_another_method_never_reaches_the_function_and_gets_the_plain_404_page(example: ExampleSite) -> None:
    # CloudFront answers a method the behavior does not allow with 403 before the viewer-request
    # function runs; the 403 custom error response serves the page, fetched without the function.
    example.release(example.version_one)
    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
    ) as server:
        answer = request(server, "/index.html", method="DELETE")
    assert answer.status == 404
    assert "Page not found" in answer.text and "allow" not in answer.headers
