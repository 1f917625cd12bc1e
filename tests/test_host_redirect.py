"""Apex <-> www: the rule table, the viewer-request code under Node (alone, and in front of the router),
and what the component deploys for each router. The redirect is answered before the cache: the cache key
has no Host, so a cached 301 for one name would reach the other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from edge_function import host_redirect
from edge_function.code import MAX_FUNCTION_BYTES, function_code, store_value
from edge_lambda.routes import RouteSettings
from tests.pulumi_scaffold import SiteMocks, by_type, one, run_program
from tests.router_scaffold import NODE, NodeFunctions

STORE_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
VERSION = "20261127T101500Z"
BOTH = ["example.com", "www.example.com"]
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.mark.parametrize(
    ("names", "mode", "expected"),
    [
        (BOTH, "to-apex", {"www.example.com": "example.com"}),
        (BOTH, "to-www", {"example.com": "www.example.com"}),
        (
            ["www.example.com", "shop.example.com", "example.com"],
            "to-www",
            {"example.com": "www.example.com"},
        ),
        (BOTH, "off", {}),
        ([], "off", {}),
    ],
)
def test_the_rule_table(names: list[str], mode: str, expected: dict[str, str]) -> None:
    assert host_redirect.rules(names, mode) == expected


def _event(host: str, uri: str = "/about/", querystring: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "203.0.113.178"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": querystring or {},
            "headers": {"host": {"value": host}},
            "cookies": {},
        },
    }


SETTINGS = RouteSettings("auto", 308, False)


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFunctions]:
    if NODE is None:
        pytest.skip("node is not installed")
    router = function_code(STORE_ID, SETTINGS)
    running = NodeFunctions(
        tmp_path_factory.mktemp("host-redirect"),
        {
            "redirect": host_redirect.standalone_code({"www.example.com": "example.com"}),
            "router": router,
            "both": host_redirect.with_router(router, {"www.example.com": "example.com"}),
        },
    )
    yield running
    running.close()


def _redirect(location: str) -> dict[str, Any]:
    return {
        "statusCode": 301,
        "statusDescription": "Moved Permanently",
        "headers": {"location": {"value": location}, "cache-control": {"value": "max-age=3600"}},
    }


@needs_node
@pytest.mark.parametrize("function", ["redirect", "both"])
@pytest.mark.parametrize(
    ("host", "uri", "querystring", "location"),
    [
        ("www.example.com", "/about/", {}, "https://example.com/about/"),
        ("WWW.Example.com", "/", {}, "https://example.com/"),
        ("www.example.com:443", "/a%20b.html", {}, "https://example.com/a%20b.html"),
        (
            "www.example.com",
            "/search",
            {"q": {"value": "a%20b"}, "tag": {"value": "x", "multiValue": [{"value": "x"}, {"value": "y"}]}},
            "https://example.com/search?q=a%20b&tag=x&tag=y",
        ),
    ],
)
def test_the_other_name_is_redirected_with_its_path_and_query(
    functions: NodeFunctions, function: str, host: str, uri: str, querystring: dict[str, Any], location: str
) -> None:
    # No live version in the store: the redirect never asks the router.
    assert functions.run(function, _event(host, uri, querystring)) == _redirect(location)


@needs_node
def test_the_canonical_name_passes_through_unchanged_alone(functions: NodeFunctions) -> None:
    event = _event("example.com", "/about/", {"a": {"value": "1"}})
    assert functions.run("redirect", event) == event["request"]


@needs_node
@pytest.mark.parametrize("uri", ["/", "/about/", "/assets/app-1a2b3c4d.js", "/missing.png"])
def test_the_canonical_name_gets_exactly_the_routers_answer(functions: NodeFunctions, uri: str) -> None:
    store = {"live-version": store_value(VERSION, None)}
    event = _event("example.com", uri)
    assert functions.run("both", event, store) == functions.run("router", event, store)
    assert functions.run("both", _event("example.com", uri), {}) == functions.run("router", event, {})


def test_the_router_with_the_redirect_stays_within_cloudfronts_size_limit() -> None:
    code = host_redirect.with_router(function_code(STORE_ID, SETTINGS), {"www.example.com": "example.com"})
    assert len(code.encode()) <= MAX_FUNCTION_BYTES
    assert code.count("async function handler(event){") == 1
    assert code.count("async function routeRequest(event){") == 1


# --- what the component deploys


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    with mock_aws():
        yield


CONFIG = {"domainNames": json.dumps(BOTH), "hostRedirect": "to-apex"}
ZONES = {"example.com": "Z0EXAMPLE"}


def test_with_lambda_edge_a_redirect_function_runs_at_viewer_request_before_the_router() -> None:
    registered = run_program(CONFIG, mocks=SiteMocks(hosted_zones=ZONES))
    function = one(registered, "aws:cloudfront/function:Function")
    assert function.name == "site-host-redirect"
    assert function.props["runtime"] == "cloudfront-js-2.0"
    assert function.props["publish"] is True
    assert function.props["code"] == host_redirect.standalone_code({"www.example.com": "example.com"})
    (edge,) = [r for r in by_type(registered, "pulumi:providers:aws") if r.name == "edge"]
    assert function.provider == edge.urn
    behavior = one(registered, "aws:cloudfront/distribution:Distribution").props["defaultCacheBehavior"]
    assert behavior["functionAssociations"] == [
        {
            "eventType": "viewer-request",
            "functionArn": "arn:aws:cloudfront::123456789012:function/site-host-redirect-9f8e7d6",
        }
    ]
    assert [a["eventType"] for a in behavior["lambdaFunctionAssociations"]] == [
        "origin-request",
        "origin-response",
    ]


def test_with_the_cloudfront_function_router_the_redirect_goes_in_front_of_it() -> None:
    registered = run_program({**CONFIG, "router": "cloudfront-function"}, mocks=SiteMocks(hosted_zones=ZONES))
    functions = {f.name: f for f in by_type(registered, "aws:cloudfront/function:Function")}
    assert sorted(functions) == ["site-router", "site-viewer-response"]
    router = functions["site-router"]
    assert 'const HOST_REDIRECTS={"www.example.com":"example.com"};' in router.props["code"]
    assert "async function routeRequest(event){" in router.props["code"]


def test_without_the_option_no_redirect_is_deployed() -> None:
    registered = run_program({"domainNames": json.dumps(BOTH)}, mocks=SiteMocks(hosted_zones=ZONES))
    assert by_type(registered, "aws:cloudfront/function:Function") == []
    behavior = one(registered, "aws:cloudfront/distribution:Distribution").props["defaultCacheBehavior"]
    assert behavior.get("functionAssociations") in (None, [])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"domain_names": ["www.example.com"], "host_redirect": "to-apex"},
            "versioned-site:hostRedirect is to-apex but versioned-site:domainNames has no pair of names "
            "example.com and www.example.com: list both (the certificate covers both), or set it to off",
        ),
        (
            {"domain_names": BOTH, "host_redirect": "apex"},
            "versioned-site:hostRedirect is 'apex': set it to off (the default), to-apex or to-www, e.g. "
            "`pulumi config set hostRedirect to-apex`",
        ),
    ],
)
@pytest.mark.usefixtures("versioned_site_project")
def test_bad_redirect_settings_are_refused_with_the_fix(settings: dict[str, Any], message: str) -> None:
    from components.site import VersionedStaticSiteArgs

    args: dict[str, Any] = {"version": None, "parameter_name": "/p/s/live-version", "edge_provider": None}
    with pytest.raises(ValueError) as refused:
        VersionedStaticSiteArgs(**{**args, **settings}).validate()
    assert str(refused.value) == message
