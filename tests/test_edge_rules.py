"""One rule table, two routers: every case of `tests/fixtures/edge_rules.json` against the Lambda@Edge
handler and against the CloudFront Function (under Node), then a seeded fuzz run that feeds both the same
random requests and requires the same answer, and the function's size against CloudFront's quota."""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from edge_function.code import (
    MAX_FUNCTION_BYTES,
    ROUTER_SOURCE,
    VIEWER_BUCKET_SOURCE,
    FunctionCodeError,
    function_code,
    key_value_store_id,
    minify,
)
from edge_function.viewer_request import viewer_request
from edge_lambda import layout
from edge_lambda.handler import ALLOWED_METHODS, INDEX_DOCUMENT, MAX_URI_BYTES
from edge_lambda.routes import RouteSettings
from tests.router_scaffold import (
    CLOUDFRONT_FUNCTION,
    NODE,
    STORE_ID,
    Answer,
    Case,
    NodeRouter,
    case_id,
    function_expectation,
    load_rules,
    python_answer,
    python_function_answer,
    table_cases,
)

TABLE = table_cases()
FUNCTION_TABLE = table_cases(CLOUDFRONT_FUNCTION)
needs_node = pytest.mark.skipif(
    NODE is None, reason="`node` is not installed: .ci/run installs Debian's `nodejs` to run the function"
)


@pytest.fixture(scope="module")
def node_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRouter]:
    router = NodeRouter(tmp_path_factory.mktemp("edge-function"))
    yield router
    router.close()


def check(answer: Answer, case: Case, expect: dict[str, Any]) -> None:
    if "uri" in expect:
        assert answer == {"uri": expect["uri"], "querystring": case.querystring}
        return
    assert answer["status"] == expect["status"], answer
    assert expect.get("reason", "") in answer["body"]
    assert (answer["allow"] == "GET, HEAD") == (expect["status"] == 405)
    assert answer["location"] == expect.get("location")
    if "location" in expect:
        assert (answer["body"], answer["cache"]) == ("", "max-age=300")
        assert (
            answer["description"] == {301: "Moved Permanently", 308: "Permanent Redirect"}[expect["status"]]
        )


def test_the_table_is_large_and_covers_every_answer() -> None:
    answers = {expect.get("status", "rewrite") for _, expect in TABLE}
    assert answers == {"rewrite", 301, 308, 400, 405, 503}
    assert len(TABLE) == 259
    assert {case.trailing_slash for case, _ in TABLE} == {"auto", "always", "never"}
    differing = [
        case
        for (case, expect), (_, function) in zip(TABLE, FUNCTION_TABLE, strict=True)
        if expect != function
    ]
    assert [case.uri for case in differing] == [
        "/css/site.3f2a1b9c.css",
        "/css/site.3f2a1b9c.css",
        "/assets/Lazy-Q1AJiLvC.js",
        "/assets/Lazy-Q1AJiLvC.js",
        "/0123456789abcdef0",
        "/_app/immutable/entry/start.BxDF0K1a.js",
        "/assets/index-DiwrgTda.js",
        "/assets/index--d8fNYvv.js",
        "/main.12345678.js",
        "/summer-vacation.jpg",
        "/assets/index-DiwrgTda.js",
        "/data/static.json",
        "/photo-Summer24.jpg",
        *["/"] * 7,
        "/about",
        "/about/",
    ]
    split = [case for case, _ in TABLE if case.canary is not None or case.cookie is not None]
    assert len(split) == 22
    assert {case.canary_percent for case in split} >= {0, 5, 47, 48, 50, 100}


def test_the_table_says_where_the_function_differs() -> None:
    for (case, expect), (_, function) in zip(TABLE, FUNCTION_TABLE, strict=True):
        assert function == function_expectation(expect, case), case_id(case)


def test_the_table_parameters_are_the_handlers() -> None:
    assert load_rules()["parameters"] == {
        "allowed_methods": list(ALLOWED_METHODS),
        "max_uri_bytes": MAX_URI_BYTES,
        "index_document": INDEX_DOCUMENT,
        "no_version_released": layout.NO_VERSION_RELEASED,
    }


@pytest.mark.parametrize(("case", "expect"), TABLE, ids=[case_id(case) for case, _ in TABLE])
def test_lambda_edge_handler_follows_the_table(case: Case, expect: dict[str, Any]) -> None:
    check(python_answer(case), case, expect)


@needs_node
@pytest.mark.parametrize(
    ("case", "expect"), FUNCTION_TABLE, ids=[case_id(case) for case, _ in FUNCTION_TABLE]
)
def test_cloudfront_function_follows_the_table(
    node_router: NodeRouter, case: Case, expect: dict[str, Any]
) -> None:
    check(node_router.answer(case), case, expect)


@pytest.mark.parametrize(
    ("case", "expect"), FUNCTION_TABLE, ids=[case_id(case) for case, _ in FUNCTION_TABLE]
)
def test_the_functions_python_rules_follow_the_table(case: Case, expect: dict[str, Any]) -> None:
    check(python_function_answer(case), case, expect)


# --- the same random requests to both --------------------------------------------------------------

FUZZ_SEED = 17
FUZZ_CASES = 800
# Pieces that reach every rule: separators, dots, escapes (good, encoded-unsafe, malformed, not UTF-8,
# overlong, encoded surrogates and C1 controls), control characters (C0, DEL, C1), U+2028/U+2029, surrogate
# halves (lone, or paired by chance), content hashes, backslashes, non-ASCII (two, three and four UTF-8
# bytes), extensions.
_SAFE_PIECES = ["/", "/", "/", "a", "b", "docs", "index", ".html", ".css", "v1.2", "-", "%C3%A9", "%20"]
_PIECES = [
    *_SAFE_PIECES * 20,
    *("/", "//", ".", "..", "...", "a", "b", "docs", "index", ".html", ".css", "-", "_", "~", " "),
    *("%", "%2", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%00", "%0a", "%1F", "%7f", "%7F", "%20", "%25"),
    *("%C3%A9", "%zz", "%g1", "\\", "\x00", "\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\u00e9", "\u20ac"),
    *("\U0001f600", "?", "#", ";", "=", "&", "+", "@", ":"),
    *("\x85", "\x9f", "\u2028", "\u2029", "\ud83d", "\ude00", "\udfff", "\ufeff", "\U0010ffff"),
    *("%C2%85", "%c2%9f", "%E2%80%A8", "%e2%80%a9", "%C2%A0", "%FF", "%C3", "%A9", "%C0%AE", "%E0%80%AE"),
    *("%ED%A0%80", "%F0%9F%98%80", "%F0%9F%98", "%F4%90%80%80", "%F4%8F%BF%BF"),
    *(".3f2a1b9c", "-Q1AJiLvC", "0123456789abcdef0", ".HTML", ".htm", ".js"),
]
_METHODS = ["GET"] * 24 + ["HEAD"] * 4 + ["POST", "OPTIONS", "PUT", "DELETE", "get"]
_POINTERS = ["20261127T101500Z"] * 4 + [
    "20261128T090000Z-1a2b3c4",
    "none",
    None,
    "latest",
    "20261131T000000Z",
    "20240229T235959Z",
    "20261127T101500Z-ABCDEF1",
]


# The live version's files: none known, and real builds' layouts (pages as `p.html`, as `p/index.html`,
# both, files without an extension, names that are properties of every JavaScript object).
_FILE_SETS: list[tuple[str, ...] | None] = [
    None,
    None,
    ("index.html", "a.html", "docs.html", "docs/index.html", "b/index.html", "a/b.html"),
    ("index.html", "a/index.html", "docs/index.html", "v1.2/index.html", "LICENSE", "a/b", "\u00e9.html"),
    ("index.html", "index", "a", "docs", "docs.html", "b.c.d.html", "%25.html", "__proto__/index.html"),
]


def random_case(rng: random.Random) -> Case:
    pieces = [rng.choice(_PIECES) for _ in range(rng.randint(0, 10))]
    uri = "".join(pieces)
    if rng.random() < 0.85:
        uri = "/" + uri
    if rng.random() < 0.15:  # a file name with a content hash (or what almost is one)
        uri = rng.choice(["/", "/assets/", "/a/b/", "/%C3%A9/"]) + rng.choice(
            ["app", "index", "0123456789abcdef0"]
        )
        uri += rng.choice([".3f2a1b9c", "-Q1AJiLvC", "-q1ajilvc", ".3f2a1b9", ""])
        uri += rng.choice([".js", ".css", ".html", ".HTM", ""])
    if rng.random() < 0.2:  # a page or a file of the file sets, with or without a trailing slash
        uri = rng.choice(
            ["/a", "/docs", "/b", "/v1.2", "/LICENSE", "/a/b", "/__proto__", "/index", "/%C3%A9", "/\u00e9"]
        )
        uri += rng.choice(["", "", "/", ".html"])
    if rng.random() < 0.05:  # around the length limit, in one-, two- and four-byte characters
        filler = rng.choice(["a", "\u00e9", "\U0001f600"])
        uri = "/" + filler * ((MAX_URI_BYTES - rng.randint(-3, 3)) // len(filler.encode()))
    return Case(
        method=rng.choice(_METHODS),
        # as the event's JSON delivers it to either router: an escaped surrogate pair is one character
        uri=json.loads(json.dumps(uri)),
        querystring=rng.choice(["", "q=1", "a=%2e%2e&b=/x"]),
        spa_fallback=rng.random() < 0.5,
        version=rng.choice(_POINTERS),
        files=rng.choice(_FILE_SETS),
        trailing_slash=rng.choice(["auto", "auto", "always", "never"]),
        redirect_status=rng.choice([308, 308, 301]),
    )


_CANARIES = ["20261128T090000Z-1a2b3c4", "20261128T090000Z-1a2b3c4", "20261127T101500Z", "latest"]
_COOKIES = [None, None, "0", "46", "47", "99", "canary", "100", "abc", "", "07"]


def with_split(case: Case, rng: random.Random) -> Case:
    """`case` with, four times in ten, a canary in the store's value; and a bucket cookie, or none."""
    cookie = rng.choice(_COOKIES)
    if rng.random() >= 0.4:
        return replace(case, cookie=cookie)
    return replace(
        case,
        canary=rng.choice(_CANARIES),
        canary_percent=rng.choice([0, 5, 47, 48, 50, 100]),
        canary_files=rng.choice(_FILE_SETS),
        cookie=cookie,
    )


def fuzz_cases() -> list[Case]:
    rng = random.Random(FUZZ_SEED)
    # the split from its own generator: the requests stay those of the seed
    split = random.Random(FUZZ_SEED + 1)
    return [with_split(random_case(rng), split) for _ in range(FUZZ_CASES)]


def test_the_fuzz_cases_reach_every_answer() -> None:
    statuses = [python_answer(case).get("status", "rewrite") for case in fuzz_cases()]
    counts = {status: statuses.count(status) for status in ("rewrite", 301, 308, 400, 405, 503)}
    minimum = {"rewrite": 40, 301: 5, 308: 10, 400: 40, 405: 40, 503: 40}
    assert all(counts[status] >= minimum[status] for status in counts), counts
    shared = [
        case
        for case in fuzz_cases()
        if function_expectation(python_answer(case), case) != python_answer(case)
    ]
    assert len(shared) >= 10, "the function's shared-asset rule is reached"
    canaries = [case for case in fuzz_cases() if case.served_by_canary()]
    assert len(canaries) >= 60, "the function's split is reached"


@needs_node
def test_both_routers_answer_random_requests_alike(node_router: NodeRouter) -> None:
    differences = []
    for case in fuzz_cases():
        python, javascript = function_expectation(python_answer(case), case), node_router.answer(case)
        if python != javascript:
            differences.append(f"{case_id(case)}: handler {python} != function {javascript}")
    assert differences == []


@needs_node
def test_the_functions_python_rules_answer_random_requests_as_the_function(node_router: NodeRouter) -> None:
    differences = []
    for case in fuzz_cases():
        python, javascript = python_function_answer(case), node_router.answer(case)
        if python != javascript:
            differences.append(f"{case_id(case)}: Python {python} != function {javascript}")
    assert differences == []


# --- the function's code as deployed --------------------------------------------------------------


@needs_node
def test_the_function_opens_the_store_it_was_rendered_for(node_router: NodeRouter) -> None:
    assert node_router.opened_stores == [STORE_ID] * 12


@needs_node
def test_the_function_answers_503_uncached_and_with_retry_after(node_router: NodeRouter) -> None:
    result = node_router.result(Case("GET", "/", "", False, "none"))
    assert result == {
        "statusCode": 503,
        "statusDescription": "Service Unavailable",
        "headers": {
            "retry-after": {"value": "5"},
            "cache-control": {"value": "no-store"},
            "content-type": {"value": "text/plain; charset=utf-8"},
        },
        "body": {"encoding": "text", "data": "Service Unavailable: no version released\n"},
    }


@needs_node
def test_the_function_keeps_the_rest_of_the_request(node_router: NodeRouter) -> None:
    result = node_router.result(Case("HEAD", "/docs/", "a=%2e%2e&b=/x", False, "20261127T101500Z"))
    assert result == {
        "method": "HEAD",
        "uri": "/20261127T101500Z/docs/index.html",
        "querystring": {"a": {"value": "%2e%2e"}, "b": {"value": "/x"}},
        "headers": {
            "host": {"value": "d111111abcdef8.cloudfront.net"},
            "user-agent": {"value": "Amazon CloudFront"},
        },
        "cookies": {},
    }


@pytest.mark.parametrize(
    "settings",
    [
        RouteSettings(mode, status, spa)
        for mode in ("auto", "always", "never")
        for status in (301, 308)
        for spa in (False, True)
    ],
)
def test_the_deployed_function_fits_cloudfront_functions_10_kb(settings: RouteSettings) -> None:
    # The docs quote no size: this is the number. 64 characters is the longest id the renderer takes.
    longest_id = "a" * 64
    with pytest.raises(FunctionCodeError):
        function_code(longest_id + "a", settings)
    assert len(function_code(longest_id, settings).encode("utf-8")) <= MAX_FUNCTION_BYTES == 10240


def test_rendering_replaces_only_the_placeholders() -> None:
    code = function_code(STORE_ID, RouteSettings("never", 301, spa_fallback=True))
    source = ROUTER_SOURCE.read_text(encoding="utf-8") + VIEWER_BUCKET_SOURCE.read_text(encoding="utf-8")
    assert "const kvs=cf.kvs('8aa76c93-3198-462c-aaf6-0123456789ab');" in code
    assert "const SPA_FALLBACK='true'==='true';" in code
    assert "const TRAILING_SLASH='never';" in code
    assert "const REDIRECT_STATUS=Number('301');" in code
    default = function_code(STORE_ID, RouteSettings())
    assert "const SPA_FALLBACK='false'==='true';" in default
    assert "const TRAILING_SLASH='auto';" in default
    assert "const REDIRECT_STATUS=Number('308');" in default
    assert "__" not in code.replace("__proto__", "")
    assert code.startswith("import cf from'cloudfront';const kvs=")
    # Minified: no comment and no indentation is left, and every string, template and regular
    # expression literal of the source is there unchanged (the placeholders' filled in).
    assert "//" not in code.replace("'//'", "") and "\n " not in code
    filled = source.replace("__KEY_VALUE_STORE_ID__", STORE_ID).replace("__SPA_FALLBACK__", "true")
    filled = filled.replace("__TRAILING_SLASH__", "never").replace("__REDIRECT_STATUS__", "301")
    literals = re.findall(
        r"'(?:[^'\\\n]|\\.)*'|`[^`]*`|(?<=[(=,:!&|?;{}\s])/(?![/*])(?:[^/\\\n]|\\.)+/[gimsuy]*", filled
    )
    code_lines = [line for line in filled.splitlines() if not line.lstrip().startswith("//")]
    literals = [literal for literal in literals if any(literal in line for line in code_lines)]
    assert len(literals) > 80
    assert [literal for literal in literals if literal not in code] == []
    assert len(code.encode()) < len(source.encode()) * 0.6


def test_minifying_keeps_what_the_code_does() -> None:
    # The constructs jsmin-style minifiers get wrong, each checked by running both forms under Node.
    source = """
    const a = 10, b = 2, g = 5;
    // a comment with 'quotes' and /slashes/
    const division = a / b / g;  /* block comment */
    const pattern = /\\/+|\\/\\*[^*]*\\*\\//g;
    function regexAfterReturn(text) {
      return /^\\s*\\/\\//.test(text);
    }
    const text = 'not // a comment, not /* one */ either';
    const template = `${a} - ${b}  spaced   `;
    let i = 1;
    const plus = a + +i, minus = a - -i;
    const asi = i
    ++i
    const matches = [pattern.test('//x'), regexAfterReturn('  //')];
    const result = [division, ...matches, text, template, plus, minus, asi, i];
    console.log(JSON.stringify(result));
    """
    minified = minify(source)
    assert len(minified) < len(source) * 0.75
    if NODE is None:
        pytest.skip("`node` is not installed: .ci/run installs Debian's `nodejs`")
    outputs = [
        subprocess.run([NODE, "-e", form], capture_output=True, text=True, check=True).stdout
        for form in (source, minified)
    ]
    assert (
        outputs[0]
        == outputs[1]
        == '[1,true,true,"not // a comment, not /* one */ either","10 - 2  spaced   ",11,11,1,2]\n'
    )


def test_code_that_cannot_be_minified_safely_or_is_too_large_is_refused() -> None:
    with pytest.raises(FunctionCodeError, match="must not nest template literals"):
        minify("const a = `${`inner`}`;")
    with pytest.raises(FunctionCodeError, match="10241 bytes minified: CloudFront allows 10240"):
        minify("const a = '" + "x" * 10230 + "';")


def test_the_store_id_comes_from_its_arn() -> None:
    arn = "arn:aws:cloudfront::123456789012:key-value-store/8aa76c93-3198-462c-aaf6-0123456789ab"
    assert key_value_store_id(arn) == "8aa76c93-3198-462c-aaf6-0123456789ab"
    with pytest.raises(FunctionCodeError, match="not a KeyValueStore ARN"):
        key_value_store_id("arn:aws:cloudfront::123456789012:function/router")


@pytest.mark.parametrize("store_id", ["", "x');alert(1);('", "a b", "-leading", "a" * 65])
def test_a_store_id_that_is_not_an_id_is_refused(store_id: str) -> None:
    with pytest.raises(FunctionCodeError, match="is not an id"):
        function_code(store_id, RouteSettings())


def test_the_functions_python_rules_answer_503_as_the_function_does() -> None:
    response = viewer_request({"method": "GET", "uri": "/about"}, "none", RouteSettings())
    assert response["status"] == "503"
    assert response["headers"]["retry-after"] == [{"key": "Retry-After", "value": "5"}]
    assert response["headers"]["cache-control"] == [{"key": "Cache-Control", "value": "no-store"}]
    assert response["body"] == "Service Unavailable: no version released\n"
