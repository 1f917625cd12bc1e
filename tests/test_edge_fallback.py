"""The fallback origin's rewrite (skew protection, the default 404 page) and the one classifier the
uploader and the edge share; the whole handler against moto's SSM."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge_lambda.fallback import is_fallback_request, original_uri, shared_uri
from edge_lambda.fingerprint import is_immutable_asset
from edge_lambda.handler import OriginRequestHandler, PointerCache, is_response, rewrite_request
from edge_lambda.routes import RouteSettings
from scripts.versionstore.content_headers import cache_control_for
from tests.clock import ManualClock
from tests.edge_scaffold import (
    REGION,
    V1,
    V2,
    edge_settings,
    fallback_origin_event,
    origin_request_event,
    put_pointer,
    request_of,
)

# viewer URI -> what the fallback origin is asked for, with V2 live (spa off, spa on)
FALLBACK_REWRITES = [
    ("/assets/index-BjQ8f2Kd.js", "/_assets/assets/index-BjQ8f2Kd.js", "/_assets/assets/index-BjQ8f2Kd.js"),
    ("/assets/Lazy-Q1AJiLvC.js", "/_assets/assets/Lazy-Q1AJiLvC.js", "/_assets/assets/Lazy-Q1AJiLvC.js"),
    (
        "/static/js/main.3f2a1b9c.chunk.js",
        "/_assets/static/js/main.3f2a1b9c.chunk.js",
        "/_assets/static/js/main.3f2a1b9c.chunk.js",
    ),
    ("/app.2defdb23.css", "/_assets/app.2defdb23.css", "/_assets/app.2defdb23.css"),
    ("/404.html", "/_site/404.html", "/_site/404.html"),
    # any other file too, whatever its name: the area holds exactly what uploads took as fingerprinted
    # (a name never taken so is not there, and stays a miss)
    ("/missing.js", "/_assets/missing.js", "/_assets/missing.js"),
    ("/assets/index--d8fNYvv.js", "/_assets/assets/index--d8fNYvv.js", "/_assets/assets/index--d8fNYvv.js"),
    ("/LICENSE", "/_assets/LICENSE", "/_assets/LICENSE"),
    # HTML, even fingerprinted, and folders: the live version again, never the shared area
    ("/page.3f2a1b9c.html", f"/{V2}/page.3f2a1b9c.html", f"/{V2}/page.3f2a1b9c.html"),
    ("/index.html", f"/{V2}/index.html", f"/{V2}/index.html"),
    ("/", f"/{V2}/index.html", f"/{V2}/index.html"),
    ("/app.3f2a1b9c.js/", f"/{V2}/app.3f2a1b9c.js/index.html", f"/{V2}/app.3f2a1b9c.js/index.html"),
    ("/docs/404.html", f"/{V2}/docs/404.html", f"/{V2}/docs/404.html"),
    ("/about/", f"/{V2}/about/index.html", f"/{V2}/about/index.html"),
    ("/about.txt", "/_assets/about.txt", "/_assets/about.txt"),
    # if CloudFront hands the second run the first run's rewrite, the result is the same
    (
        f"/{V1}/assets/Lazy-Q1AJiLvC.js",
        "/_assets/assets/Lazy-Q1AJiLvC.js",
        "/_assets/assets/Lazy-Q1AJiLvC.js",
    ),
    (f"/{V2}/about/index.html", f"/{V2}/about/index.html", f"/{V2}/about/index.html"),
    (f"/{V2}/404.html", "/_site/404.html", "/_site/404.html"),
    # another version's prefix on a live path is not a rewrite of this one: it stays a miss
    (f"/{V1}/about/index.html", f"/{V2}/{V1}/about/index.html", f"/{V2}/{V1}/about/index.html"),
]

IMMUTABLE_ASSETS = [
    ("assets/index-BjQ8f2Kd.js", True),
    ("static/js/main.3f2a1b9c.chunk.js", True),
    ("static/media/1a2b3c4d5e6f7a8b9c0d.woff2", True),
    ("assets/app.fa10386f.js", True),
    ("index.html", False),
    ("page.3f2a1b9c.html", False),
    ("PAGE.3F2A1B9C.HTM", False),
    ("assets/app.js", False),
    ("favicon.ico", False),
    ("robots.txt", False),
    ("assets/logo-12345678.png", False),  # digits only: a version number, not a hash
]


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ssm", region_name=REGION)
        put_pointer(client, V2)
        yield client


def _edge(ssm_client: Any, spa: bool) -> OriginRequestHandler:
    settings = edge_settings(spa_fallback=spa)
    return OriginRequestHandler(settings, PointerCache(settings, ssm_client, now=ManualClock()))


def test_fallback_rewrite_table(ssm: Any) -> None:
    for spa_fallback in (False, True):
        edge = _edge(ssm, spa_fallback)
        for uri, plain, spa in FALLBACK_REWRITES:
            expected = spa if spa_fallback else plain
            result = edge(fallback_origin_event(uri))
            assert not is_response(result), (uri, result)
            assert result["uri"] == expected, (uri, spa_fallback)
            fixed = rewrite_request(
                request_of(fallback_origin_event(uri)), V2, None, RouteSettings(spa_fallback=spa_fallback)
            )
            assert fixed["uri"] == expected, f"{uri}: a preview of a fixed version rewrites the same way"


def test_the_primary_origin_is_rewritten_as_before(ssm: Any) -> None:
    result = _edge(ssm, False)(origin_request_event("/assets/Lazy-Q1AJiLvC.js"))
    assert result["uri"] == f"/{V2}/assets/Lazy-Q1AJiLvC.js"
    assert not is_fallback_request(request_of(origin_request_event("/")))
    assert is_fallback_request(request_of(fallback_origin_event("/")))


def test_the_fallback_keeps_the_edges_refusals(ssm: Any) -> None:
    assert _edge(ssm, False)(fallback_origin_event("/assets/../x.3f2a1b9c.js"))["status"] == "400"
    assert _edge(ssm, False)(fallback_origin_event("/a.3f2a1b9c.js", method="POST"))["status"] == "405"


def test_a_shared_asset_needs_no_pointer() -> None:
    with mock_aws():  # no parameter at all: the live path would be a 503
        ssm_client = boto3.client("ssm", region_name=REGION)
        edge = _edge(ssm_client, False)
        assert (
            edge(fallback_origin_event("/assets/Lazy-Q1AJiLvC.js"))["uri"]
            == "/_assets/assets/Lazy-Q1AJiLvC.js"
        )
        assert edge(fallback_origin_event("/index.html"))["status"] == "503"


@pytest.mark.parametrize(("path", "immutable"), IMMUTABLE_ASSETS)
def test_the_strict_name_rule_makes_a_file_immutable_without_other_evidence(
    path: str, immutable: bool
) -> None:
    assert is_immutable_asset(path) is immutable
    assert (cache_control_for(path) == "public, max-age=31536000, immutable") is immutable
    # the fallback reads any file but HTML from the shared area, which holds what uploads decided
    assert (shared_uri("/" + path) is not None) is (not path.lower().endswith((".html", ".htm")))


def test_original_uri_removes_only_a_version_prefix() -> None:
    assert original_uri(f"/{V1}/a.js") == "/a.js"
    assert original_uri(f"/{V1}") == f"/{V1}"
    assert original_uri("/20261327T101500Z/a.js") == "/20261327T101500Z/a.js"  # month 13: no version
    assert original_uri("/assets/a.js") == "/assets/a.js"
    assert original_uri(f"/{V1}/a.js", V2) == f"/{V1}/a.js"
    assert original_uri(f"/{V2}/a.js", V2) == "/a.js"
