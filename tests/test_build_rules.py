"""The rule table of the build's `_redirects` and `_headers` (tests/fixtures/build_rules.json), run twice
through the distribution's flow (`scripts.commands.distribution_flow`: origin group, custom error page):
1. the Lambda@Edge handler itself (origin-request and origin-response, its pointer read from a stub, the
   version's routes from its manifest's files and rules) in front of an in-memory bucket;
2. `sitectl serve` of each version uploaded with `sitectl upload` into moto (the rules read back from the
   sealed manifest, the two files never uploaded).
Both must give every row's status, Location and headers; then a rollback brings the old rules back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from moto import mock_aws

from components.release_guard import UnreleasableVersionError, check_releasable
from edge_function import host_redirect
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.routes import VersionRoutes
from edge_lambda.site_rules import parse_rule_files
from edge_lambda.version_routes import RoutesCache
from scripts.commands.distribution_flow import NO_HEADERS, EdgeAnswer, ViewerHeaders
from scripts.commands.http_client import Response
from scripts.commands.serve import Origin, PreviewServer, edge_function_for, version_routes_for
from scripts.commands.upload import upload_build
from scripts.commands.verify import rule_targets, verify_site
from scripts.versionstore import store as storage
from tests.clock import ManualClock
from tests.edge_scaffold import edge_settings
from tests.router_scaffold import NODE, NodeFunctions, PointerStub

TABLE = json.loads((Path(__file__).parent / "fixtures" / "build_rules.json").read_text(encoding="utf-8"))
VERSION: str = TABLE["version"]
SITES: dict[str, dict[str, Any]] = TABLE["sites"]
HOST_REDIRECTS: dict[str, str] = TABLE["hostRedirects"]
CASES: list[dict[str, Any]] = TABLE["cases"]
BUCKET = "rules-bucket"
PLAIN_404 = b"plain 404 page"


def content(path: str) -> bytes:
    return f"file:{path}".encode()


def case_id(case: dict[str, Any]) -> str:
    query = f"?{case['querystring']}" if case.get("querystring") else ""
    host = f"{case['host']}:" if case.get("host") else ""
    spa = "+spaFallback" if case.get("spaFallback") else ""
    return f"{host}{case['site']}{spa}:{case['uri']}{query}"


def viewer_of(case: dict[str, Any]) -> ViewerHeaders:
    return ViewerHeaders(host=case.get("host"))


class MemoryBucket:
    """The bucket as CloudFront's S3 origin answers: a key's bytes with its headers, else 403 (CloudFront
    may not list the bucket)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.bucket = BUCKET
        self.objects = objects

    def fetch(self, method: str, uri: str, viewer: ViewerHeaders = NO_HEADERS) -> EdgeAnswer:
        key = unquote(uri).lstrip("/")
        if key not in self.objects:
            return EdgeAnswer(403, [("Content-Type", "application/xml")], b"<Error>AccessDenied</Error>")
        body = self.objects[key]
        if viewer.if_none_match == '"etag"':
            return EdgeAnswer(304, [("ETag", '"etag"')], b"")
        headers = [("Content-Type", "text/html"), ("Cache-Control", "max-age=0"), ("ETag", '"etag"')]
        return EdgeAnswer(200, headers, b"" if method == "HEAD" else body)


def shared_area(spec: dict[str, Any]) -> dict[str, bytes]:
    """The site's `shared` files (other versions' fingerprinted files) where uploads put them."""
    return {f"{layout.SHARED_ASSET_PREFIX}{path}": content(path) for path in spec.get("shared", [])}


def handler_server(site: str, spa_fallback: bool = False) -> PreviewServer:
    spec = SITES[site]
    rules = parse_rule_files(spec["redirects"], spec["headers"])
    settings = edge_settings(spa_fallback)
    pointer = PointerCache(settings, ssm_client=cast(Any, PointerStub(VERSION)), now=ManualClock())
    routes = RoutesCache(lambda version: VersionRoutes.from_paths(spec["files"], spa_fallback, None, rules))
    handler = OriginRequestHandler(settings, pointer, routes)
    objects = {f"{VERSION}/{path}": content(path) for path in spec["files"]} | shared_area(spec)
    objects["_site/404.html"] = PLAIN_404
    return PreviewServer(
        cast(Origin, MemoryBucket(objects)), handler, bucket_region="us-east-1", host_redirects=HOST_REDIRECTS
    )


def raw_path(case: dict[str, Any]) -> str:
    return case["uri"] + (f"?{case['querystring']}" if case.get("querystring") else "")


def check(answer: EdgeAnswer, case: dict[str, Any]) -> None:
    expect = case["expect"]
    headers = dict(answer.headers)
    body = answer.content()
    assert answer.status == expect["status"], (answer.status, headers, body)
    assert headers.get("Location") == expect.get("location")
    if "location" in expect:
        # The build's redirects: max-age=300; the host redirect's own (host_redirect.js): an hour.
        assert headers["Cache-Control"] == expect.get("cacheControl", "max-age=300")
    for name, value in expect.get("headers", {}).items():
        assert headers.get(name) == value, (name, headers)
    if "uri" in expect:
        # The rewritten file's own bytes: a 404 rule's page too, never replaced by the 404 page.
        assert body == content(unquote(expect["uri"]).split("/", 2)[2])
    elif expect["status"] == 404:
        assert body in (PLAIN_404, content("404.html"))


def test_the_table_covers_every_kind_of_rule() -> None:
    kinds = {case["expect"]["status"] for case in CASES}
    assert kinds == {200, 301, 302, 303, 307, 308, 404}
    assert len(CASES) == 47
    # Precedence: the host redirect, the build's rules, clean URLs and trailing slashes, spaFallback.
    assert {bool(case.get("host")) for case in CASES} == {True, False}
    assert {bool(case.get("spaFallback")) for case in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_lambda_edge_handler_gives_every_row(case: dict[str, Any]) -> None:
    server = handler_server(case["site"], bool(case.get("spaFallback")))
    try:
        check(server.answer("GET", raw_path(case), viewer_of(case)), case)
    finally:
        server.server_close()


@pytest.fixture(scope="module")
def host_function(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFunctions]:
    """The viewer-request function deployed for the table's host redirect, under Node."""
    if NODE is None:
        pytest.skip("node is not installed")
    code = {"redirect": host_redirect.standalone_code(HOST_REDIRECTS)}
    running = NodeFunctions(tmp_path_factory.mktemp("host-redirect"), code)
    yield running
    running.close()


@pytest.mark.parametrize("case", [case for case in CASES if case.get("host")], ids=case_id)
def test_the_deployed_host_redirect_answers_the_host_rows_first(
    host_function: NodeFunctions, case: dict[str, Any]
) -> None:
    """What serve (and the handler's rows) answer before any build rule is what the function in front of
    either router answers (`host_redirect.location`, its Python twin, is held equal here)."""
    query = case.get("querystring", "")
    pairs = [pair.partition("=") for pair in query.split("&") if pair]
    request = {
        "method": "GET",
        "uri": case["uri"],
        "querystring": {name: {"value": value} for name, _, value in pairs},
        "headers": {"host": {"value": case["host"]}},
        "cookies": {},
    }
    event = {"version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": "203.0.113.1"}}
    result = host_function.run("redirect", {**event, "request": request})
    location = host_redirect.location(HOST_REDIRECTS, case["host"], case["uri"], query)
    if location is None:
        assert result == request
        return
    assert location == case["expect"]["location"]
    assert result == {
        "statusCode": 301,
        "statusDescription": "Moved Permanently",
        "headers": {"location": {"value": location}, "cache-control": {"value": "max-age=3600"}},
    }


def test_the_handler_adds_headers_to_a_304_too() -> None:
    server = handler_server("main")
    try:
        answer = server.answer("GET", "/fonts/a.woff2", ViewerHeaders(if_none_match='"etag"'))
    finally:
        server.server_close()
    assert answer.status == 304
    assert dict(answer.headers)["Access-Control-Allow-Origin"] == "*"


def test_a_viewer_cannot_forge_the_markers_of_another_version() -> None:
    settings = edge_settings()
    pointer = PointerCache(settings, ssm_client=cast(Any, PointerStub(VERSION)), now=ManualClock())
    spec = SITES["main"]
    routes = RoutesCache(
        lambda v: VersionRoutes.from_paths(
            spec["files"], False, None, parse_rule_files(None, spec["headers"])
        )
    )
    handler = OriginRequestHandler(settings, pointer, routes)
    forged = {"x-versioned-site-path": [{"key": "x", "value": "/fonts/x"}]}
    request = {"uri": "/about", "method": "GET", "querystring": "", "headers": forged}
    result = handler.handle_request(request)
    assert result["headers"]["x-versioned-site-path"] == [{"key": "x-versioned-site-path", "value": "/about"}]


# Module-scoped even under `make mutation` (not `shared_scope`): uploading three versions per test would
# make each mutant of the parser take minutes; the parser is tested directly by tests/test_site_rules.py,
# and each row here reaches the rules' matching at request time, inside the test.
@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each site uploaded as its own version (ids one second apart) into one moto bucket."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        versions = {}
        for index, (name, spec) in enumerate(sorted(SITES.items())):
            root = tmp_path_factory.mktemp(name)
            for path in spec["files"]:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(content(path))
            for file, text in (("_redirects", spec["redirects"]), ("_headers", spec["headers"])):
                if text is not None:
                    (root / file).write_text(text, encoding="utf-8")
            version = f"{VERSION[:-3]}{10 + index}Z"
            upload_build(s3, BUCKET, root, version)
            versions[name] = version
        s3.put_object(Bucket=BUCKET, Key="_site/404.html", Body=PLAIN_404)
        for spec in SITES.values():
            for key, body in shared_area(spec).items():
                s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        yield versions


def serve_answer(
    versions: dict[str, str],
    site: str,
    path: str,
    viewer: ViewerHeaders = NO_HEADERS,
    spa_fallback: bool = False,
) -> EdgeAnswer:
    origin = Origin(BUCKET, boto3.client("s3", region_name="us-east-1"))
    routes = version_routes_for(origin, spa_fallback)
    function = edge_function_for(versions[site], edge_settings(spa_fallback), routes)
    server = PreviewServer(origin, function, bucket_region="us-east-1", host_redirects=HOST_REDIRECTS)
    try:
        answer = server.answer("GET", path, viewer)
        return EdgeAnswer(answer.status, answer.headers, answer.content())
    finally:
        server.server_close()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sitectl_serve_gives_every_row(uploaded: dict[str, str], case: dict[str, Any]) -> None:
    version = uploaded[case["site"]]
    expect = case["expect"]
    if "uri" in expect:  # the version id of this upload
        case = {**case, "expect": {**expect, "uri": expect["uri"].replace(VERSION, version)}}
    spa_fallback = bool(case.get("spaFallback"))
    check(serve_answer(uploaded, case["site"], raw_path(case), viewer_of(case), spa_fallback), case)


def test_the_two_files_are_never_served(uploaded: dict[str, str]) -> None:
    for path in ("/_redirects", "/_headers"):
        assert serve_answer(uploaded, "main", path).status == 404


def test_a_rollback_brings_the_old_rules_back(uploaded: dict[str, str]) -> None:
    """The pointer moves from the version with rules to one without and back: each answer is its live
    version's (the rules are the version's, read from its manifest)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    ssm = boto3.client("ssm", region_name="us-east-1")
    settings = edge_settings()
    origin = Origin(BUCKET, s3)
    answers = []
    for live in ("main", "plain", "main"):
        ssm.put_parameter(Name=settings.parameter_name, Value=uploaded[live], Type="String", Overwrite=True)
        server = PreviewServer(
            origin,
            edge_function_for(None, settings, version_routes_for(origin, False)),
            bucket_region="us-east-1",
        )
        try:
            gone = server.answer("GET", "/gone")
            page = server.answer("GET", "/old")
            answers.append(
                (gone.status, dict(gone.headers).get("Location"), dict(page.headers).get("X-Frame-Options"))
            )
            gone.discard()
            page.discard()
        finally:
            server.server_close()
    assert answers == [(301, "/new", "DENY"), (404, None, None), (301, "/new", "DENY")]


def test_spa_fallback_and_the_spa_rule_together_are_refused_at_release(uploaded: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    check_releasable(s3, BUCKET, uploaded["spa"], False)
    with pytest.raises(UnreleasableVersionError) as refused:
        check_releasable(
            s3, BUCKET, uploaded["spa"], False, spa_fallback=True, spa_fallback_key="shop:spaFallback"
        )
    # The key under the program's own project name (a renamed project reads `shop:spaFallback`).
    assert str(refused.value) == (
        f"version {uploaded['spa']}: _redirects:1 `/* /index.html 200` serves the root page for every path, "
        "which shop:spaFallback does too: keep one (remove the line and upload again, or "
        "`pulumi config set shop:spaFallback false`)"
    )
    check_releasable(s3, BUCKET, uploaded["main"], False, spa_fallback=True)


def test_verify_checks_every_literal_redirect_rule_of_the_version(uploaded: dict[str, str]) -> None:
    """`sitectl verify` checks each redirect rule with a literal `from` that applies (status and
    Location) by default: through an edge that applies the rules it passes; through one that ignores
    them (an edge function deployed before them, say) each dropped redirect is a line."""
    s3 = boto3.client("s3", region_name="us-east-1")
    version = uploaded["main"]
    manifest = storage.read_manifest(s3, BUCKET, version)
    assert manifest is not None
    checked = [target.label for target in rule_targets("https://example.com/", manifest)]
    # /old is shadowed by old.html; splats and placeholders are not literal; 200 and 404 are no redirects.
    assert checked == ["/gone", "/temp", "/see", "/keep", "/perm", "/about", "/docs", "/men%C3%BC", "/search"]
    origin = Origin(BUCKET, s3)

    def fetcher_through(routes: RoutesCache) -> Callable[[str, float], Response]:
        server = PreviewServer(
            origin, edge_function_for(version, edge_settings(), routes), bucket_region="us-east-1"
        )

        def fetch(url: str, timeout: float) -> Response:
            parts = urlsplit(url)
            answer = server.answer("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            return Response(answer.status, {n.lower(): v for n, v in answer.headers}, answer.content())

        return fetch

    report = verify_site(
        "https://example.com", version, manifest, fetcher=fetcher_through(version_routes_for(origin, False))
    )
    assert [p for p in report.problems if "redirect" in p or "Location" in p or "_redirects" in p] == []
    ignoring = RoutesCache(lambda v: VersionRoutes.from_paths(manifest.files))
    report = verify_site("https://example.com", version, manifest, fetcher=fetcher_through(ignoring))
    assert f"/gone: HTTP 404, expected 301 (_redirects:3 of {version})" in report.problems
    assert f"/about: HTTP 200, expected 301 (_redirects:8 of {version})" in report.problems
    assert not report.ok


def test_verify_names_a_redirect_to_the_wrong_place(uploaded: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    version = uploaded["main"]
    manifest = storage.read_manifest(s3, BUCKET, version)
    assert manifest is not None

    def fetch(url: str, timeout: float) -> Response:
        if urlsplit(url).path == "/gone":
            return Response(301, {"location": "/elsewhere"}, b"")
        return Response(404, {}, b"")

    report = verify_site("https://example.com", version, manifest, fetcher=fetch)
    assert (
        f"/gone: Location '/elsewhere', expected 'https://example.com/new' (_redirects:3 of {version})"
        in report.problems
    )
