"""The build's `_redirects` on the cloudfront-function router (edge_function/rule_keys.py: the rules as
KeyValueStore keys; build_rules.js and router.js: one read more per request for a version with rules):
the rows of tests/fixtures/build_rules.json through the distribution's flow (origin group, error page),
with router.js under Node and with its Python mirror (`sitectl serve`); the store reads a request makes;
the hashing of paths to keys in both languages; the limits, refused with the numbers; the one writer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, cast
from urllib.parse import unquote

import pytest

from edge_function import host_redirect
from edge_function.code import (
    LIVE_VERSION_KEY,
    MAX_FUNCTION_BYTES,
    Canary,
    function_code,
    manifest_store_value,
    rule_key_counts,
    store_value,
)
from edge_function.rule_keys import (
    MAX_RULE_KEY_BYTES,
    MAX_RULE_KEYS,
    RulesNotCarriedError,
    compile_rules,
    write_rule_keys,
)
from edge_function.viewer_request import viewer_request
from edge_function.viewer_response import viewer_response
from edge_lambda import layout
from edge_lambda.handler import is_response
from edge_lambda.routes import RouteSettings, VersionRoutes
from edge_lambda.site_rules import (
    NOT_FOUND_STATUS,
    SiteRules,
    file_answers,
    parse_redirects,
    parse_rule_files,
)
from edge_lambda.version_routes import RoutesCache
from scripts.commands.distribution_flow import EdgeAnswer, ViewerHeaders
from scripts.commands.serve import Origin, PreviewServer, ViewerRequestFunction
from scripts.demo.node_function import NodeFunction
from scripts.offline.kvs_fake import FakeStore, client_for, running_store
from tests.router_scaffold import NODE
from tests.test_build_rules import (
    CASES,
    HOST_REDIRECTS,
    PLAIN_404,
    SITES,
    VERSION,
    MemoryBucket,
    case_id,
    content,
    raw_path,
    shared_area,
    viewer_of,
)

needs_node = pytest.mark.skipif(NODE is None, reason="`node` is not installed: .ci/run installs `nodejs`")


def function_rules(spec: Mapping[str, Any]) -> SiteRules:
    """The rules of a table site this router carries today: all but 404 rules (their status needs the
    viewer-response function to change it; refused at upload until then)."""
    rules = parse_rule_files(spec["redirects"], spec["headers"])
    return SiteRules(tuple(r for r in rules.redirects if r.status != NOT_FOUND_STATUS), rules.headers)


def carried(case: dict[str, Any]) -> bool:
    """Whether the row's answer is the router's alone: not one of a 404 rule (see `function_rules`)."""
    if case["expect"].get("cacheControl") == "max-age=3600":
        return True  # the host redirect answers first
    spec = SITES[case["site"]]
    rules = parse_rule_files(spec["redirects"], None)
    found = rules.redirect_for(unquote(case["uri"]), lambda path: file_answers(path, spec["files"]))
    return found is None or found.status != NOT_FOUND_STATUS


FUNCTION_CASES = [case for case in CASES if carried(case)]


def function_server(
    site: str, function: ViewerRequestFunction, spa_fallback: bool = False, node: NodeFunction | None = None
) -> PreviewServer:
    """serve's cloudfront-function mode over the table's site: the viewer-request function given (router.js
    under Node, or its Python mirror), and the viewer-response function of `node` or its mirror."""
    spec = SITES[site]
    rules = function_rules(spec)
    objects = {f"{VERSION}/{path}": content(path) for path in spec["files"]} | shared_area(spec)
    objects["_site/404.html"] = PLAIN_404
    routes = RoutesCache(lambda v: VersionRoutes.from_paths(spec["files"], spa_fallback, None, rules))
    return PreviewServer(
        cast(Origin, MemoryBucket(objects)),
        lambda event, context: {},
        bucket_region="us-east-1",
        live_version=lambda: VERSION,
        route_settings=RouteSettings(spa_fallback=spa_fallback),
        version_routes=routes,
        viewer_function=function,
        viewer_response_function=viewer_response if node is None else node.viewer_response,
        host_redirects=HOST_REDIRECTS,
    )


def check(answer: EdgeAnswer, case: dict[str, Any]) -> None:
    """A row's status, Location (with the redirect's Cache-Control), headers (names in any case, as
    CloudFront Functions write them lowercase) and the file a 200 serves."""
    expect = case.get("cloudfrontFunction", case["expect"])
    headers = {name.lower(): value for name, value in answer.headers}
    body = answer.content()
    assert answer.status == expect["status"], (answer.status, headers, body)
    assert headers.get("location") == expect.get("location")
    if "location" in expect:
        assert headers["cache-control"] == expect.get("cacheControl", "max-age=300")
    for name, value in expect.get("headers", {}).items():
        assert headers.get(name.lower()) == value, (name, headers)
    if "uri" in expect and expect["status"] == 200:
        assert body == content(unquote(expect["uri"]).split("/", 2)[2])
    elif expect["status"] == 404:
        assert body == PLAIN_404  # the distribution's error page, `_site/404.html` in this mode
        assert "x-frame-options" not in headers, "no viewer-response function on answers of 400 and above"


@pytest.fixture(scope="module")
def node_routers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, NodeFunction]]:
    """router.js rendered without and with spaFallback, each in its Node process."""
    if NODE is None:
        pytest.skip("`node` is not installed")
    functions = {
        spa: NodeFunction(NODE, tmp_path_factory.mktemp("router"), RouteSettings(spa_fallback=spa))
        for spa in (False, True)
    }
    yield functions
    for function in functions.values():
        function.close()


@pytest.fixture(scope="module")
def node_router(node_routers: dict[bool, NodeFunction]) -> NodeFunction:
    return node_routers[False]


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=case_id)
def test_the_python_mirror_gives_every_row(case: dict[str, Any]) -> None:
    server = function_server(case["site"], viewer_request, bool(case.get("spaFallback")))
    try:
        check(server.answer("GET", raw_path(case), viewer_of(case)), case)
    finally:
        server.server_close()


@needs_node
@pytest.mark.parametrize("case", FUNCTION_CASES, ids=case_id)
def test_the_router_under_node_gives_every_row_in_at_most_two_reads(
    node_routers: dict[bool, NodeFunction], case: dict[str, Any]
) -> None:
    spa = bool(case.get("spaFallback"))
    function = node_routers[spa]
    function.reads = function.response_reads = 0
    server = function_server(case["site"], function, spa, node=function)
    try:
        answer = server.answer("GET", raw_path(case), viewer_of(case))
        check(answer, case)
    finally:
        server.server_close()
    # Each function: the live-version value, then (a version with rules) the one key the path hashes
    # to; none when the host redirect answered first; the viewer-response one only below 400 and not
    # on the router's own answers.
    host_redirected = case["expect"].get("cacheControl") == "max-age=3600"
    reads = 0 if host_redirected else 1 if case["site"] == "plain" else 2
    assert function.reads == reads
    served = not host_redirected and answer.status < 300
    assert function.response_reads == ((1 if case["site"] == "plain" else 2) if served else 0)


def test_the_rows_leave_out_only_what_needs_the_viewer_response_function() -> None:
    left_out = [case_id(case) for case in CASES if not carried(case)]
    assert left_out == ["main:/shop/missing", "main:/old/page", "main:/lost/page"]


@needs_node
def test_a_304_carries_the_header_rules_too(node_router: NodeFunction) -> None:
    for node in (None, node_router):
        server = function_server("main", node_router if node else viewer_request, node=node)
        try:
            answer = server.answer("GET", "/fonts/a.woff2", ViewerHeaders(if_none_match='"etag"'))
        finally:
            server.server_close()
        headers = {name.lower(): value for name, value in answer.headers}
        assert answer.status == 304
        assert headers["access-control-allow-origin"] == "*"
        assert headers["cache-control"] == "public, max-age=31536000, immutable"


@needs_node
def test_a_canary_viewer_gets_the_canarys_header_rules(node_router: NodeFunction) -> None:
    live, canary = "20261127T101500Z", "20261128T090000Z"
    blocks = {live: "/*\n  X-Version: live\n", canary: "/*\n  X-Version: canary\n"}
    store: dict[str, str] = {}
    counts = {}
    for version, text in blocks.items():
        compiled = compile_rules(version, parse_rule_files(None, text), ["index.html"])
        store.update(compiled.values)
        counts[version] = compiled.count
    routes = VersionRoutes.from_paths(["index.html"], False, None)
    store[LIVE_VERSION_KEY] = store_value(
        live, routes, Canary(canary, 50, routes, counts[canary]), rule_keys=counts[live]
    )
    for cookie, expected in (("10", "canary"), ("90", "live")):
        request = {
            "uri": "/",
            "clientIp": "203.0.113.1",
            "headers": {"cookie": [{"key": "Cookie", "value": f"site-bucket={cookie}"}]},
        }
        python = dict(viewer_response(request, True, store))
        node = dict(node_router.viewer_response(request, True, store))
        assert python["X-Version"] == node["x-version"] == expected


# --- many keys: the path's hash, the same in both languages ---------------------------------------

# Rules enough for several keys, with first segments in scripts that take one or two UTF-16 units each.
MANY = "".join(f"/s{n}/old{n} /new/{n} 301\n" for n in range(60)) + "".join(
    f"/{word}/x{n} /to/{word}/{n} 302\n" for n, word in enumerate(["é", "日本", "😀", "a😀b", "ü%20x"])
)
MANY_FILES = ("index.html", "s3/old3.html", "😀/x2/index.html")


def many() -> tuple[SiteRules, str, dict[str, str]]:
    rules = SiteRules(parse_redirects(MANY + "/u/:id/* /people/:id/:splat 308\n/s7/old7 /forced 301!\n"))
    compiled = compile_rules(VERSION, rules, MANY_FILES)
    routes = VersionRoutes.from_paths(MANY_FILES, False, None)
    return rules, store_value(VERSION, routes, rule_keys=compiled.count), compiled.values


MANY_PATHS = [
    *(f"/s{n}/old{n}" for n in range(0, 60, 7)),
    "/s3/old3",  # a file answers it: not redirected
    "/s7/old7/",  # forced, and a trailing slash
    "/%C3%A9/x0",
    "/%E6%97%A5%E6%9C%AC/x1",
    "/%F0%9F%98%80/x2",  # the file answers it
    "/%F0%9F%98%80/x2/",
    "/a%F0%9F%98%80b/x3",
    "/%C3%BC%2520x/x4",
    "/u/7/a%20b/c",
    "/u/7",
    "/nothing/here",
]


def python_location(rules: SiteRules, path: str) -> tuple[int, str] | None:
    found = rules.redirect_for(unquote(path), lambda p: unquote(p).strip("/") in ("s3/old3", "😀/x2"))
    return None if found is None else (found.status, found.location)


def test_a_version_with_many_rules_uses_several_keys_each_within_a_value() -> None:
    _, value, keys = many()
    assert rule_key_counts(value) == (len(keys), 0) and len(keys) > 1
    assert all(len(v.encode()) <= MAX_RULE_KEY_BYTES for v in keys.values())
    assert sorted(keys) == sorted(f"r/{VERSION}/{n}" for n in range(len(keys)))


@pytest.mark.parametrize("path", MANY_PATHS)
def test_both_languages_hash_a_path_to_the_key_that_holds_its_rules(
    node_router: NodeFunction, path: str
) -> None:
    rules, value, keys = many()
    request = {"uri": path, "method": "GET", "querystring": "", "headers": {}}
    answers = [f(request, value, RouteSettings(), keys) for f in (viewer_request, node_router)]
    assert node_router.reads == 2
    got = [
        (int(a["status"]), a["headers"]["location"][0]["value"]) if is_response(a) else a["uri"]
        for a in answers
    ]
    assert got[0] == got[1]
    expected = python_location(rules, path)  # Lambda@Edge's rules; None: clean URLs answer
    # no rule: a rewrite, or clean URLs' redirect of a folder page to its slash
    assert got[0] == expected or (
        expected is None and (isinstance(got[0], str) or got[0] == (308, path + "/"))
    )


# --- limits -----------------------------------------------------------------------------------------


def test_rules_beyond_the_keys_are_refused_naming_the_limit() -> None:
    lines = (f"/section-{n}/an-old-page-name-{n} /a/new/place/for/the/page/{n} 301\n" for n in range(1000))
    rules = SiteRules(parse_redirects("".join(lines)))
    with pytest.raises(RulesNotCarriedError) as refused:
        compile_rules(VERSION, rules, ())
    assert str(refused.value) == (
        "its 1000 redirect rules (_redirects), 0 header blocks (_headers) and the 0 paths files answer "
        "under rules not forced with `!` "
        f"need more than {MAX_RULE_KEYS} KeyValueStore keys of {MAX_RULE_KEY_BYTES} bytes (the "
        "cloudfront-function router's limit; the 0 rules every path tries, `/blog/*` or `/u/:id`, take 0 "
        "bytes of each): use fewer rules or `!` (a `/* /index.html 200` rule: `spaFallback` instead), or "
        "release it with `pulumi config set router lambda-edge`"
    )
    # 500 such rules fit, in a number of keys the value says
    fitting = SiteRules(rules.redirects[:500])
    assert 1 < compile_rules(VERSION, fitting, ()).count <= MAX_RULE_KEYS


def test_rules_every_path_tries_are_in_every_key_and_bounded_by_one() -> None:
    broad = "".join(f"/section-{n}/* /elsewhere-{n}/:splat 302\n" for n in range(40))
    with pytest.raises(RulesNotCarriedError) as refused:
        compile_rules(VERSION, SiteRules(parse_redirects(broad)), ())
    assert str(refused.value) == (
        "its 40 rules whose first two segments are not both literal (`/blog/*`, `/u/:id`, in _redirects or "
        "_headers) take 2180 bytes, and every path tries them, so they must fit one KeyValueStore key of "
        "1024 bytes (the "
        "cloudfront-function router's limit): spell some out with a second literal segment, or release it "
        "with `pulumi config set router lambda-edge`"
    )
    assert (
        compile_rules(VERSION, SiteRules(parse_redirects(broad[: broad.index("/section-18/")])), ()).count
        == 1
    )


def test_404_rules_are_refused_until_the_viewer_response_function_sets_their_status() -> None:
    with pytest.raises(RulesNotCarriedError, match=r"^_redirects:2 is a 404 rule, .*its limit: 0 404 rules"):
        compile_rules(VERSION, parse_rule_files("/a /b\n/shop/* /shop/404.html 404\n", None), ())


def test_a_version_without_rules_costs_no_key_and_no_count() -> None:
    manifest = layout.Manifest(VERSION, "2026-11-27T10:15:00+00:00", {})
    assert manifest_store_value(VERSION, manifest, False) == f'{VERSION} {{"s":"d","x":{{}}}}'
    assert rule_key_counts(manifest_store_value(VERSION, manifest, False)) == (0, 0)


# --- the one writer ---------------------------------------------------------------------------------


def test_the_writer_puts_only_the_keys_the_store_lacks_on_its_etag() -> None:
    _, _, keys = many()
    first = dict(list(keys.items())[:1])
    with running_store(FakeStore(items={LIVE_VERSION_KEY: VERSION, **first})) as (store, endpoint):
        kvs = client_for(endpoint)
        assert write_rule_keys(kvs, store.arn, keys) == len(keys) - 1
        assert {k: store.get(k) for k in keys} == keys
        assert write_rule_keys(kvs, store.arn, keys) == 0  # immutable: nothing to do a second time
        assert len(store.puts) == len(keys) - 1


def test_serve_given_the_store_reads_the_rule_keys_the_writer_put_there() -> None:
    """serve's function mode with the function's store (the demo's, tests/test_real_builds.py): the
    functions read the build rules' keys there, as router.js does, not the keys serve would compile, so
    a version made live without its keys routes as without rules until the writer puts them."""
    spec = SITES["main"]
    rules = function_rules(spec)
    routes = VersionRoutes.from_paths(spec["files"], False, None, rules)
    compiled = compile_rules(VERSION, rules, spec["files"])
    objects = {f"{VERSION}/{path}": content(path) for path in spec["files"]}
    objects["_site/404.html"] = PLAIN_404
    with running_store(FakeStore()) as (store, endpoint):
        store.put(LIVE_VERSION_KEY, store_value(VERSION, routes, rule_keys=compiled.count))
        server = PreviewServer(
            cast(Origin, MemoryBucket(objects)),
            lambda event, context: {},
            bucket_region="us-east-1",
            live_version=lambda: store.get(LIVE_VERSION_KEY),
            version_routes=RoutesCache(lambda v: routes),
            store=store.get,
        )
        try:
            before = server.answer("GET", "/gone")
            write_rule_keys(client_for(endpoint), store.arn, compiled.values)
            after = server.answer("GET", "/gone")
            headers = {name.lower(): value for name, value in after.headers}
        finally:
            server.server_close()
    assert (before.status, after.status, headers.get("location")) == (404, 301, "/new")


def test_a_writer_racing_another_is_refused_by_the_store() -> None:
    _, _, keys = many()
    with running_store(FakeStore()) as (store, endpoint):
        kvs = client_for(endpoint)

        class Racing:
            def __getattr__(self, name: str) -> Any:
                return getattr(kvs, name)

            def describe_key_value_store(self, **kwargs: Any) -> dict[str, Any]:
                answer: dict[str, Any] = kvs.describe_key_value_store(**kwargs)
                store.put("live-version", "another writer")  # the ETag moves on
                return answer

        with pytest.raises(Exception, match="ConflictException"):
            write_rule_keys(Racing(), store.arn, keys)


def test_literal_rules_are_compared_as_strings_the_others_as_expressions() -> None:
    _, _, keys = many()
    rules = [rule for value in keys.values() for rule in json.loads(value)["r"]]
    assert ["s7/old7", ["/forced"], -301] in rules
    assert ["^u/([^/]+)(?:/(.*?))?/?$", ["/people/", 1, "/", 2], 308] in rules
    assert all(set(json.loads(value)) == {"r", "f", "h"} for value in keys.values())


def test_the_router_with_rules_and_a_host_redirect_of_long_names_fits_10_kb() -> None:
    # The longest store id, and a pair of names 20 and 24 characters longer than www.example.com's:
    # what is left (docs/routers.md, "The function's code and its tests").
    apex = "a-rather-longer-company-name.example.com"
    code = host_redirect.with_router(
        function_code("a" * 64, RouteSettings("never", 301, True)), {f"www.{apex}": apex}
    )
    assert len(code.encode()) <= MAX_FUNCTION_BYTES
