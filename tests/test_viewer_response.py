"""The viewer-response CloudFront Function (`edge_function/viewer_response.js`), rendered as deployed and
run under Node: what it changes on an answer (the canary's bucket cookie, only while a canary is
configured), the viewer's bucket in JavaScript and in Python (`edge_function/viewer_bucket.py`, for
`sitectl serve`) alike, and its size against CloudFront's quota."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from edge_function.code import MAX_FUNCTION_BYTES, VIEWER_RESPONSE_SOURCE, viewer_response_code
from edge_function.viewer_bucket import (
    CANARY_REQUESTED,
    SPLIT_COOKIE,
    SPLIT_COOKIE_ATTRIBUTES,
    cookie_bucket,
    hash_bucket,
)
from edge_function.viewer_response import viewer_response
from tests.router_scaffold import NODE, STORE_ID, NodeFunctions

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
AGENT = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFunctions]:
    if NODE is None:
        pytest.skip("node is not installed")
    running = NodeFunctions(
        tmp_path_factory.mktemp("viewer-response"),
        {
            "off": viewer_response_code(False, STORE_ID),
            "on": viewer_response_code(True, STORE_ID),
        },
    )
    yield running
    running.close()


def event(cookie: str | None = None, ip: str = "203.0.113.178", agent: str | None = AGENT) -> dict[str, Any]:
    """A viewer-response event as CloudFront Functions sends it: the viewer, its request (cookies apart
    from headers), and the answer with its own cookies (Set-Cookie) apart from its headers."""
    headers = {"host": {"value": "d111111abcdef8.cloudfront.net"}}
    if agent is not None:
        headers["user-agent"] = {"value": agent}
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-response", "distributionId": "EDFDVBD6EXAMPLE"},
        "viewer": {"ip": ip},
        "request": {
            "method": "GET",
            "uri": "/20261127T101500Z/about.html",
            "querystring": {},
            "headers": headers,
            "cookies": {} if cookie is None else {SPLIT_COOKIE: {"value": cookie}},
        },
        "response": {
            "statusCode": 200,
            "statusDescription": "OK",
            "headers": {
                "content-type": {"value": "text/html"},
                "x-amz-meta-site-version": {"value": "20261127T101500Z"},
            },
            "cookies": {},
        },
    }


@needs_node
@pytest.mark.parametrize("cookie", [None, "7", "canary", "garbage"])
def test_without_a_canary_the_answer_goes_out_unchanged(functions: NodeFunctions, cookie: str | None) -> None:
    sent = event(cookie)
    assert functions.run("off", sent) == sent["response"]


@needs_node
def test_a_viewer_without_a_bucket_gets_the_one_its_requests_were_routed_by(functions: NodeFunctions) -> None:
    sent = event()
    answer = functions.run("on", copy.deepcopy(sent))
    bucket = hash_bucket("203.0.113.178", AGENT)
    assert answer == {
        **sent["response"],
        "cookies": {SPLIT_COOKIE: {"value": str(bucket), "attributes": SPLIT_COOKIE_ATTRIBUTES}},
    }
    assert SPLIT_COOKIE_ATTRIBUTES == "Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Lax"


@needs_node
@pytest.mark.parametrize("cookie", ["0", "7", "99", "canary"])
def test_a_viewer_with_a_bucket_keeps_it(functions: NodeFunctions, cookie: str) -> None:
    sent = event(cookie)
    assert functions.run("on", sent) == sent["response"]


@needs_node
@pytest.mark.parametrize("cookie", ["", "100", "-1", "07", "7 ", "1e1", "0x1", "Canary", "abc"])
def test_a_malformed_bucket_is_replaced(functions: NodeFunctions, cookie: str) -> None:
    answer = functions.run("on", event(cookie))
    assert answer["cookies"][SPLIT_COOKIE]["value"] == str(hash_bucket("203.0.113.178", AGENT))


def test_the_cookies_buckets_literally() -> None:
    assert [cookie_bucket(v) for v in ("0", "9", "10", "99", "canary")] == [0, 9, 10, 99, CANARY_REQUESTED]
    assert [cookie_bucket(v) for v in (None, "", "100", "-1", "07", "7\n", "\uff17", "CANARY")] == [None] * 8


def test_the_hash_bucket_literally() -> None:
    # Fixed values: a change of the hash moves viewers between versions mid-canary.
    assert hash_bucket("203.0.113.178", AGENT) == 9
    assert hash_bucket("2001:db8::1", None) == 83
    assert hash_bucket("198.51.100.7", "curl/8.5.0") == 31


@needs_node
def test_both_languages_give_every_viewer_the_same_bucket(functions: NodeFunctions) -> None:
    rng = random.Random(31)
    alphabet = "abcXYZ019 ./;()-_\u00e9\u4e2d\U0001f600"
    differences = []
    buckets = set()
    for _ in range(200):
        ip = (
            ".".join(str(rng.randrange(256)) for _ in range(4))
            if rng.random() < 0.8
            else "2001:db8::" + str(rng.randrange(99))
        )
        agent = (
            None if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(120)))
        )
        expected = hash_bucket(ip, agent)
        buckets.add(expected)
        answer = functions.run("on", event(None, ip, agent))
        if answer["cookies"][SPLIT_COOKIE]["value"] != str(expected):
            differences.append((ip, agent, answer["cookies"][SPLIT_COOKIE]["value"], expected))
    assert differences == []
    assert len(buckets) > 75, "viewers spread over the buckets"


def test_the_deployed_function_fits_cloudfront_functions_10_kb() -> None:
    for flag in (False, True):
        code = viewer_response_code(flag, STORE_ID)
        assert len(code.encode()) <= MAX_FUNCTION_BYTES
        assert f"const SET_SPLIT_COOKIE='{str(flag).lower()}'==='true';" in code
    assert "async function headerRules(event,response)" in viewer_response_code(False, STORE_ID), (
        "issue 28's place"
    )
    assert "__SET_SPLIT_COOKIE__" in VIEWER_RESPONSE_SOURCE.read_text()


@needs_node
def test_the_python_rules_add_what_the_function_adds(functions: NodeFunctions) -> None:
    """`edge_function/viewer_response.py` (what `sitectl serve` runs) against the deployed function."""
    rng = random.Random(43)
    cookies = [None, "0", "47", "99", "canary", "", "100", "07", "abc", "Canary"]
    for _ in range(60):
        cookie = rng.choice(cookies)
        ip = ".".join(str(rng.randrange(256)) for _ in range(4))
        agent = rng.choice([None, AGENT, "curl/8.5.0", "viewer-" + str(rng.randrange(1000))])
        headers: dict[str, list[dict[str, str]]] = {}
        if agent is not None:
            headers["user-agent"] = [{"key": "User-Agent", "value": agent}]
        if cookie is not None:
            headers["cookie"] = [{"key": "Cookie", "value": f"theme=dark; {SPLIT_COOKIE}={cookie}"}]
        for configured, name in ((False, "off"), (True, "on")):
            sent = event(cookie, ip, agent)
            answer = functions.run(name, sent)
            added = [
                ("Set-Cookie", f"{key}={value['value']}; {value['attributes']}")
                for key, value in answer.get("cookies", {}).items()
            ]
            python = viewer_response({"clientIp": ip, "headers": headers}, configured)
            assert python == added, (cookie, ip, agent, configured)
