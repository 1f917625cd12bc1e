"""The handler's rewrite helpers and generated responses beyond the shared rule table (no SSM involved)."""

from __future__ import annotations

import pytest

from edge_lambda import layout
from edge_lambda.handler import (
    MAX_URI_BYTES,
    is_response,
    make_response,
    rewrite_request,
    rewrite_uri,
    uri_problem,
)
from tests.edge_scaffold import V1, origin_request_event, request_of

# The rewrite and refusal table of both edge routers is tests/fixtures/edge_rules.json, run against this
# handler and the CloudFront Function by tests/test_edge_rules.py. Here: what the table does not express.


def test_rewrite_request_keeps_the_query_string_and_the_rest_of_the_request() -> None:
    request = request_of(origin_request_event("/docs/", querystring="q=%2e%2e&x=a/b"))
    original = dict(request)
    rewritten = rewrite_request(request, V1, spa_fallback=False)
    assert not is_response(rewritten)
    assert rewritten["uri"] == f"/{V1}/docs/index.html"
    assert rewritten["querystring"] == "q=%2e%2e&x=a/b"
    assert {**rewritten, "uri": original["uri"]} == original
    assert request == original, "the caller's request is not modified"


def test_rewrite_request_refuses_a_bad_version_id() -> None:
    with pytest.raises(layout.InvalidVersionError):
        rewrite_request(request_of(origin_request_event("/")), "../secrets", spa_fallback=False)


def test_longest_accepted_uri_still_fits_an_s3_key() -> None:
    uri = "/" + "a" * (MAX_URI_BYTES - 1)
    assert uri_problem(uri) is None
    longest_version = "20261127T101500Z-" + "a" * 40
    assert len(rewrite_uri(uri, longest_version, spa_fallback=False).lstrip("/").encode()) <= 1024


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head_reach_the_origin(method: str) -> None:
    response = rewrite_request(request_of(origin_request_event("/", method=method)), V1, spa_fallback=False)
    assert response["status"] == "405"
    assert response["headers"]["allow"] == [{"key": "Allow", "value": "GET, HEAD"}]


def test_head_is_rewritten_like_get() -> None:
    rewritten = rewrite_request(request_of(origin_request_event("/", method="HEAD")), V1, spa_fallback=False)
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
