"""The handler's rewrite helpers and generated responses beyond the shared rule table (no SSM involved)."""

from __future__ import annotations

import pytest

from edge_lambda import layout
from edge_lambda.handler import (
    MAX_URI_BYTES,
    is_response,
    make_response,
    rewrite_request,
    uri_problem,
)
from edge_lambda.routes import RouteSettings, VersionRoutes
from tests.edge_scaffold import V1, origin_request_event, request_of

# The rewrite and refusal table of both edge routers is tests/fixtures/edge_rules.json, run against this
# handler and the CloudFront Function by tests/test_edge_rules.py. Here: what the table does not express.

REWRITES = [
    # uri, without spa_fallback, with spa_fallback: the key, or the redirect ("308 <location>"), for a
    # version whose files the edge does not know (its manifest unreadable): every page a folder.
    ("/", "/{v}/index.html", "/{v}/index.html"),
    ("/docs/", "/{v}/docs/index.html", "/{v}/docs/index.html"),
    ("/a/b/c/", "/{v}/a/b/c/index.html", "/{v}/a/b/c/index.html"),
    ("/index.html", "/{v}/index.html", "/{v}/index.html"),
    ("/css/site.3f2a1b9c.css", "/{v}/css/site.3f2a1b9c.css", "/{v}/css/site.3f2a1b9c.css"),
    ("/favicon.ico", "/{v}/favicon.ico", "/{v}/favicon.ico"),
    ("/.well-known/security.txt", "/{v}/.well-known/security.txt", "/{v}/.well-known/security.txt"),
    ("/caf%C3%A9.html", "/{v}/caf%C3%A9.html", "/{v}/caf%C3%A9.html"),
    ("/%E2%82%AC/", "/{v}/%E2%82%AC/index.html", "/{v}/%E2%82%AC/index.html"),
    ("/\u65e5\u672c.html", "/{v}/\u65e5\u672c.html", "/{v}/\u65e5\u672c.html"),
    ("/%F0%9F%98%80", "308 /%F0%9F%98%80/", "/{v}/index.html"),
    ("/about", "308 /about/", "/{v}/index.html"),
    ("/docs/guide", "308 /docs/guide/", "/{v}/index.html"),
    ("/v1.2/notes", "308 /v1.2/notes/", "/{v}/index.html"),
    ("/.hidden", "308 /.hidden/", "/{v}/index.html"),
]


def _answer(uri: str, spa_fallback: bool, querystring: str = "") -> str:
    request = request_of(origin_request_event(uri, querystring=querystring))
    result = rewrite_request(request, V1, None, RouteSettings(spa_fallback=spa_fallback))
    if is_response(result):
        return f"{result['status']} {result['headers']['location'][0]['value']}"
    return str(result["uri"])


@pytest.mark.parametrize(("uri", "plain", "spa"), REWRITES)
def test_rewrite_table(uri: str, plain: str, spa: str) -> None:
    assert uri_problem(uri) is None
    assert _answer(uri, spa_fallback=False) == plain.format(v=V1)
    assert _answer(uri, spa_fallback=True) == spa.format(v=V1)


def test_a_redirect_has_the_lambda_at_edge_shape_and_keeps_the_query_string() -> None:
    request = request_of(origin_request_event("/about", querystring="_rsc=1a&b=%2F"))
    settings = RouteSettings(redirect_status=301)
    response = rewrite_request(
        request, V1, VersionRoutes.from_paths(["index.html", "about/index.html"]), settings
    )
    assert response == {
        "status": "301",
        "statusDescription": "Moved Permanently",
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "text/plain; charset=utf-8"}],
            "location": [{"key": "Location", "value": "/about/?_rsc=1a&b=%2F"}],
            "cache-control": [{"key": "Cache-Control", "value": "max-age=300"}],
        },
        "body": "",
    }


def test_rewrite_request_keeps_the_query_string_and_the_rest_of_the_request() -> None:
    request = request_of(origin_request_event("/docs/", querystring="q=%2e%2e&x=a/b"))
    original = dict(request)
    rewritten = rewrite_request(request, V1)
    assert not is_response(rewritten)
    assert rewritten["uri"] == f"/{V1}/docs/index.html"
    assert rewritten["querystring"] == "q=%2e%2e&x=a/b"
    assert {**rewritten, "uri": original["uri"]} == original
    assert request == original, "the caller's request is not modified"


def test_rewrite_request_refuses_a_bad_version_id() -> None:
    with pytest.raises(layout.InvalidVersionError):
        rewrite_request(request_of(origin_request_event("/")), "../secrets")


REFUSED = [
    ("/..", "'.' or '..' segment"),
    ("/../_manifests/x.json", "'.' or '..' segment"),
    ("/a/../b", "'.' or '..' segment"),
    ("/./a", "'.' or '..' segment"),
    ("/a/.", "'.' or '..' segment"),
    ("/a/./", "'.' or '..' segment"),
    ("//", "empty segment"),
    ("//a", "empty segment"),
    ("/a//b", "empty segment"),
    ("/a//", "empty segment"),
    ("/a\\b", "backslash"),
    ("/\\..\\x", "backslash"),
    ("/%2e%2e/_manifests/x.json", "percent-encoded"),
    ("/%2E", "percent-encoded"),
    ("/a%2Fb", "percent-encoded"),
    ("/a%2fb", "percent-encoded"),
    ("/a%5Cb", "percent-encoded"),
    ("/a%5cb", "percent-encoded"),
    ("/a%00b", "percent-encoded"),
    ("/a%0Ab", "percent-encoded"),
    ("/a%7F", "percent-encoded"),
    ("/a\x00b", "control character"),
    ("/a\nb", "control character"),
    ("/a\tb", "control character"),
    ("/a\x7f", "control character"),
    ("/a%zz", "malformed percent-escape"),
    ("/a%", "malformed percent-escape"),
    ("/a%2", "malformed percent-escape"),
    ("/" + "a" * MAX_URI_BYTES, "longer than"),
    ("/" + "%C3%A9" * 150, "longer than"),
    ("", "must start with '/'"),
    ("index.html", "must start with '/'"),
]


@pytest.mark.parametrize(("uri", "reason"), REFUSED)
def test_refusals(uri: str, reason: str) -> None:
    assert reason in (uri_problem(uri) or "")
    response = rewrite_request(
        request_of(origin_request_event(uri)), V1, None, RouteSettings(spa_fallback=True)
    )
    assert is_response(response)
    assert response["status"] == "400"
    assert reason in response["body"]
    assert "uri" not in response


def test_longest_accepted_uri_still_fits_an_s3_key() -> None:
    uri = "/" + "a" * (MAX_URI_BYTES - 1)
    assert uri_problem(uri) is None
    longest_version = "20261127T101500Z-" + "a" * 40
    rewritten = rewrite_request(
        request_of(origin_request_event(uri)), longest_version, None, RouteSettings("never")
    )
    assert rewritten["uri"] == f"/{longest_version}{uri}/index.html"
    assert len(rewritten["uri"].lstrip("/").encode()) <= 1024


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head_reach_the_origin(method: str) -> None:
    response = rewrite_request(request_of(origin_request_event("/", method=method)), V1)
    assert response["status"] == "405"
    assert response["headers"]["allow"] == [{"key": "Allow", "value": "GET, HEAD"}]


def test_head_is_rewritten_like_get() -> None:
    rewritten = rewrite_request(request_of(origin_request_event("/", method="HEAD")), V1)
    assert rewritten["uri"] == f"/{V1}/index.html"
    assert rewritten["method"] == "HEAD"


def test_make_response_has_the_lambda_at_edge_shape() -> None:
    response = make_response(503, "Service Unavailable\n", {"Retry-After": "5", "Cache-Control": "no-store"})
    assert response == {
        "status": "503",
        "statusDescription": "Service Unavailable",
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "text/plain; charset=utf-8"}],
            "retry-after": [{"key": "Retry-After", "value": "5"}],
            "cache-control": [{"key": "Cache-Control", "value": "no-store"}],
        },
        "body": "Service Unavailable\n",
    }
    assert is_response(response)
