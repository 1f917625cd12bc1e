"""What the routers know of a version's files (`edge_lambda.routes.VersionRoutes`), how the Lambda@Edge
handler learns it (`edge_lambda.version_routes`: the manifest, once per version per container) and what it
costs the CloudFront Function's store value. The answers themselves are the rule table's
(tests/fixtures/edge_rules.json, run against both routers by tests/test_edge_rules.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws

from edge_function.code import parse_store_value, store_value
from edge_lambda import layout
from edge_lambda.fingerprint import is_shared_by_name
from edge_lambda.handler import OriginRequestHandler, PointerCache, is_response
from edge_lambda.routes import MAX_SUMMARY_BYTES, RoutesTooLargeError, VersionRoutes
from edge_lambda.settings import EdgeSettings
from edge_lambda.version_routes import KEPT_VERSIONS, RETRY_SECONDS, ManifestRoutes, RoutesCache
from tests.clock import ManualClock
from tests.edge_scaffold import PARAMETER_NAME, REGION, V1, V2, origin_request_event, put_pointer

BUCKET = "site-bucket"

# The page files of real builds (tests/fixtures/edge_rules.json has the same layouts), and what the
# function's store value holds for them.
LAYOUTS = [
    (
        "Next.js export, default",
        ["index.html", "404.html", "about.html", "about.txt", "blog.html", "blog/first-post.html"],
        False,
        '{"s":"h","x":{}}',
    ),
    (
        "Next.js export, trailingSlash: true",
        ["index.html", "404.html", "404/index.html", "about/index.html", "about/index.txt"],
        False,
        '{"s":"d","x":{"404":"hd"}}',
    ),
    (
        "SvelteKit adapter-static, default",
        ["index.html", "about.html", "blog.html", "blog/hello.html", "_app/version.json"],
        False,
        '{"s":"h","x":{}}',
    ),
    (
        "Astro, default",
        ["index.html", "404.html", "about/index.html", "blog/index.html", "blog/first/index.html"],
        False,
        '{"s":"d","x":{"404":"hh"}}',
    ),
    ("Vite SPA", ["index.html", "assets/index-DiwrgTda.js", "vite.svg"], True, '{"s":"s","x":{}}'),
    (
        "files without an extension",
        ["index.html", "LICENSE", ".well-known/apple-app-site-association", "a.html", "b.html"],
        False,
        '{"s":"h","x":{".well-known/apple-app-site-association":"fh","LICENSE":"fh"}}',
    ),
]


@pytest.mark.parametrize(("name", "paths", "spa", "summary"), LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_a_real_builds_routes_fit_in_a_few_bytes(
    name: str, paths: list[str], spa: bool, summary: str
) -> None:
    # the upload took each hash-shaped file as fingerprinted (the build names it): nothing to except
    routes = VersionRoutes.from_paths(paths, spa, {p for p in paths if is_shared_by_name("/" + p)})
    assert routes.to_summary() == summary
    assert VersionRoutes.from_summary(summary) == routes
    assert parse_store_value(store_value(V1, routes)) == (V1, routes)


def test_the_function_learns_the_files_whose_names_mislead() -> None:
    paths = ["index.html", "summer-vacation.jpg", "data/static.json", "assets/index-DiwrgTda.js"]
    # taken: the chunk (named by the build) and the declared data file; not the photo, named like a chunk
    routes = VersionRoutes.from_paths(paths, False, ["assets/index-DiwrgTda.js", "data/static.json"])
    summary = '{"s":"d","x":{},"n":["summer-vacation.jpg"],"a":["data/static.json"]}'
    assert routes.to_summary() == summary
    assert VersionRoutes.from_summary(summary) == routes
    shared = [
        "/assets/index-DiwrgTda.js",
        "/data/static.json",
        "/assets/other-AbCd1234.js",
        "/x.12345678.css",
    ]
    assert [
        uri for uri in [*shared, "/summer-vacation.jpg", "/index.html", "/a.js"] if routes.serves_shared(uri)
    ] == shared
    # a manifest from before the decision was recorded: the strict name rule decided
    old = VersionRoutes.from_paths(paths)
    assert (old.unshared, old.shared) == (("assets/index-DiwrgTda.js", "summer-vacation.jpg"), ())


def test_the_store_value_of_no_version_and_of_a_value_without_routes() -> None:
    assert store_value(layout.NO_VERSION_RELEASED, VersionRoutes()) == "none"
    assert store_value(V1, None) == V1
    assert parse_store_value(V1) == (V1, None)
    assert parse_store_value(f"{V1} not json") == (V1, None)
    assert parse_store_value(f'{V1} {{"s":"h"}}') == (V1, None), "router.js needs both members too"


def test_routes_that_do_not_fit_the_store_value_are_refused_with_the_count() -> None:
    # 40 folder pages in a site of 41 `.html` pages: 25 bytes an exception (`"guide/chapter-000":"dd",`)
    paths = [f"page-{n:03}.html" for n in range(41)] + [f"guide/chapter-{n:03}/index.html" for n in range(40)]
    routes = VersionRoutes.from_paths(paths)
    assert routes.style == "h" and len(routes.exceptions) == 40
    with pytest.raises(RoutesTooLargeError) as refused:
        routes.to_summary()
    assert str(refused.value) == (
        "40 paths are not routed the way most pages are (first: 'guide/chapter-000'); they need "
        f"1015 bytes, and the cloudfront-function router's KeyValueStore value has {MAX_SUMMARY_BYTES}"
    )
    assert len(VersionRoutes.from_paths(paths[:-3]).to_summary().encode()) <= MAX_SUMMARY_BYTES == 966


# --- the Lambda@Edge handler learns a version's files once per container ------------------------


class Loads:
    def __init__(self, fail: bool = False) -> None:
        self.versions: list[str] = []
        self.fail = fail

    def __call__(self, version: str) -> VersionRoutes:
        self.versions.append(version)
        if self.fail:
            raise OSError("connect timeout")
        return VersionRoutes.from_paths(["index.html", "about.html", "docs.html"])


def test_each_version_is_loaded_once_and_the_last_few_are_kept() -> None:
    loads = Loads()
    cache = RoutesCache(loads)
    versions = [f"2026112{n}T101500Z" for n in range(KEPT_VERSIONS + 1)]
    for _ in range(100):
        assert cache.lookup(V1).style == "h"
    for version in versions:
        cache.lookup(version)
        cache.lookup(version)
    assert loads.versions == [V1, *versions]
    cache.lookup(versions[-1])
    cache.lookup(versions[0])  # dropped: the oldest of five
    assert loads.versions == [V1, *versions, versions[0]]


def test_a_failed_load_routes_as_before_and_is_retried_once_per_window() -> None:
    loads, clock, logged = Loads(fail=True), ManualClock(), []
    cache = RoutesCache(loads, spa_fallback=True, now=clock, log=lambda event, **fields: logged.append(event))
    for _ in range(50):
        assert cache.lookup(V1) == VersionRoutes("s")
    assert loads.versions == [V1]
    assert logged == ["version-routes-unavailable"]
    clock.advance(RETRY_SECONDS)
    loads.fail = False
    assert cache.lookup(V1).style == "h"
    assert loads.versions == [V1, V1]


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        ssm = boto3.client("ssm", region_name=REGION)
        yield s3, ssm


def _put_manifest(s3: Any, version: str, paths: list[str]) -> None:
    page = layout.ManifestFile(1, "0" * 64, "text/html; charset=utf-8", "no-cache", "0" * 32)
    manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {path: page for path in paths})
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode())


def test_the_handler_reads_the_live_versions_manifest_once(aws: tuple[Any, Any]) -> None:
    s3, ssm = aws
    _put_manifest(s3, V1, ["index.html", "about.html", "LICENSE"])
    _put_manifest(s3, V2, ["index.html", "about/index.html"])
    put_pointer(ssm, V1)
    settings = EdgeSettings(PARAMETER_NAME, REGION, 5, bucket=BUCKET, bucket_region="eu-west-1")
    clock = ManualClock()
    reads: list[str] = []
    manifests = ManifestRoutes(BUCKET, "eu-west-1", spa_fallback=False)

    def read(version: str) -> VersionRoutes:
        reads.append(version)
        return manifests(version)

    cache = RoutesCache(read)
    edge = OriginRequestHandler(settings, PointerCache(settings, ssm, now=clock), cache)

    for _ in range(20):
        assert edge(origin_request_event("/about"))["uri"] == f"/{V1}/about.html"
        assert edge(origin_request_event("/LICENSE"))["uri"] == f"/{V1}/LICENSE"
    put_pointer(ssm, V2)
    clock.advance(5)
    redirect = edge(origin_request_event("/about", querystring="x=1"))
    assert is_response(redirect) and redirect["headers"]["location"][0]["value"] == "/about/?x=1"
    assert edge(origin_request_event("/about/"))["uri"] == f"/{V2}/about/index.html"
    assert reads == [V1, V2]


def test_the_default_cache_reads_the_bucket_the_settings_name(aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    # a manifest written before the edge read manifests: the same format, nothing new in it
    _put_manifest(s3, V1, ["index.html", "about.html"])
    settings = EdgeSettings(PARAMETER_NAME, REGION, 5, bucket=BUCKET, bucket_region="eu-west-1")
    assert RoutesCache.from_settings(settings).lookup(V1) == VersionRoutes("h")
    missing = RoutesCache.from_settings(settings, log=lambda *a, **k: None)
    assert missing.lookup(V2) == VersionRoutes("d"), "no manifest: routed as before"
    assert RoutesCache.from_settings(EdgeSettings(PARAMETER_NAME, REGION, 5)).lookup(V1) == VersionRoutes("d")


def test_settings_refuse_a_bucket_without_its_region_and_bad_routing_values() -> None:
    with pytest.raises(ValueError, match="bucket_region must name the region of bucket b"):
        EdgeSettings(PARAMETER_NAME, REGION, 5, bucket="b")
    with pytest.raises(ValueError, match="trailingSlash 'sometimes' is not one of auto, always, never"):
        EdgeSettings(PARAMETER_NAME, REGION, 5, trailing_slash="sometimes")
    with pytest.raises(ValueError, match="redirectStatus 302 is not 301 or 308"):
        EdgeSettings(PARAMETER_NAME, REGION, 5, redirect_status=302)
    text = EdgeSettings(PARAMETER_NAME, REGION, 5, bucket="b", bucket_region="eu-west-1").to_json()
    assert EdgeSettings.from_json(text).bucket == "b"
    old = json.dumps({"parameter_name": PARAMETER_NAME, "region": REGION, "cache_ttl_seconds": 5})
    assert cast(Any, EdgeSettings.from_json(old)).route_settings.trailing_slash == "auto"


@pytest.mark.parametrize(
    ("content_type", "cache_control", "fingerprinted"),
    [
        ("text/javascript", "public, max-age=31536000, immutable", True),  # what uploads write
        ("text/css", "max-age=31536000", True),  # a year, written by hand or another tool
        ("image/png", "public, immutable", True),
        ("text/javascript", "public, max-age=0, must-revalidate", False),
        ("text/javascript", "max-age=86400", False),
        ("text/javascript", "max-age=abc", False),
        ("text/html; charset=utf-8", "public, max-age=31536000, immutable", False),  # never a page
    ],
)
def test_the_manifest_records_the_decision_as_the_cache_control(
    content_type: str, cache_control: str, fingerprinted: bool
) -> None:
    assert layout.ManifestFile(1, "0" * 64, content_type, cache_control).fingerprinted is fingerprinted


def test_files_stored_once_are_asked_for_in_the_shared_area_and_older_versions_from_their_prefix(
    aws: tuple[Any, Any],
) -> None:
    """A version uploaded since fingerprinted files are stored once names them `in: _assets`: the
    handler asks the shared area for them directly (no miss under the prefix, no fallback hop); a
    version stored before keeps every file under its prefix, and is served from there unchanged."""
    s3, ssm = aws
    page = layout.ManifestFile(1, "0" * 64, "text/html; charset=utf-8", "no-cache", "0" * 32)
    chunk = layout.ManifestFile(
        1, "1" * 64, "text/javascript", layout.IMMUTABLE_CACHE_CONTROL, "1" * 32, layout.SHARED_AREA
    )
    files = {"index.html": page, "assets/app-Q1AJiLvC.js": chunk, "assets/a b.12345678.js": chunk}
    manifest = layout.Manifest(V2, "2026-11-27T10:15:00+00:00", files)
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V2), Body=manifest.to_json().encode())
    assert json.loads(manifest.to_json())["files"]["assets/app-Q1AJiLvC.js"]["in"] == "_assets"
    before = {"index.html": page, "assets/app-Q1AJiLvC.js": layout.ManifestFile(1, "1" * 64, "a", "b", "c")}
    old = layout.Manifest(V1, "2026-11-26T10:15:00+00:00", before)
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=old.to_json().encode())
    settings = EdgeSettings(PARAMETER_NAME, REGION, 5, bucket=BUCKET, bucket_region="eu-west-1")
    clock = ManualClock()
    edge = OriginRequestHandler(settings, PointerCache(settings, ssm, now=clock))

    put_pointer(ssm, V2)
    assert edge(origin_request_event("/assets/app-Q1AJiLvC.js"))["uri"] == "/_assets/assets/app-Q1AJiLvC.js"
    assert (
        edge(origin_request_event("/assets/a%20b.12345678.js"))["uri"] == "/_assets/assets/a%20b.12345678.js"
    )
    assert edge(origin_request_event("/"))["uri"] == f"/{V2}/index.html"
    put_pointer(ssm, V1)
    clock.advance(5)
    assert edge(origin_request_event("/assets/app-Q1AJiLvC.js"))["uri"] == f"/{V1}/assets/app-Q1AJiLvC.js"
