"""Properties of the edge handler for every input (hypothesis): it never raises, and what it forwards
stays inside `/<version>/` whatever the URI, method, query string, event shape or SSM answer."""

from __future__ import annotations

import copy
import unicodedata
import urllib.parse
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache, is_response, uri_problem
from tests.clock import ManualClock
from tests.edge_scaffold import TTL_SECONDS, V1, V2, edge_settings, origin_request_event, request_of

# Derandomized: the same examples on every run and in CI; a few hundred each keep this file ~2 s.
PROPERTY = settings(max_examples=300, derandomize=True, deadline=None, database=None)

# Pieces that reach the refusals' edge cases more often than uniform text would.
URI_PIECES = [
    "/", "/", "/", "a", "index.html", ".", "..", ".a", "%", "%2", "%2e", "%2E", "%2f", "%5C", "%25",
    "%41", "%00", "%7f", "%C2%85", "%c2%a0", "%E2%80%A8", "%e2%80%a9", "%ff", "%C3", "%C3%A9",
    "%C0%AE", "%ED%A0%80", "%F0%9F%98%80", "\\", "\x00", "\x1f", "\x7f", "\x85", "\x9f", "\u2028",
    "\u2029", "\ud800", "\udfff", "\ufeff", "é", "日本", "?", "#", " ", "+",
]  # fmt: skip
uris = st.one_of(
    st.text(),
    st.lists(st.sampled_from(URI_PIECES), max_size=12).map("".join),
    st.lists(st.sampled_from(URI_PIECES), max_size=12).map(lambda pieces: "/" + "".join(pieces)),
)
methods = st.one_of(st.sampled_from(["GET", "HEAD", "POST", "get", ""]), st.text(max_size=8))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
EVENT_PATHS = [(), ("Records",), ("Records", 0), ("Records", 0, "cf"), ("Records", 0, "cf", "request")]
REQUEST_KEYS = ["uri", "method", "querystring", "headers"]


class FixedSSM:
    def __init__(self, value: str = V1) -> None:
        self.value = value

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 (botocore's parameter name)
        return {"Parameter": {"Name": Name, "Type": "String", "Value": self.value}}


def edge_function(spa: bool) -> OriginRequestHandler:
    config = edge_settings(spa_fallback=spa)
    ssm: Any = FixedSSM()  # GetParameter alone, the one call the cache makes
    return OriginRequestHandler(
        config, PointerCache(config, ssm, now=ManualClock(), log=lambda *_, **__: None)
    )


UNSAFE_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}  # controls, surrogates, line and paragraph separators


def assert_forwarded_safely(forwarded: dict[str, Any], request: dict[str, Any]) -> None:
    uri = forwarded["uri"]
    assert uri.startswith(f"/{V1}/")
    # S3 decodes the key once: what it sees must still be inside the prefix.
    decoded = urllib.parse.unquote_to_bytes(uri).decode("utf-8")
    segments = decoded.split("/")[1:]
    assert segments[0] == V1
    assert "" not in segments and "." not in segments and ".." not in segments
    assert "\\" not in decoded
    assert not any(unicodedata.category(character) in UNSAFE_CATEGORIES for character in uri + decoded)
    assert len(decoded.encode()) <= 1024
    assert {**forwarded, "uri": request["uri"]} == request, "only the URI changes"


@PROPERTY
@given(uri=uris, method=methods, querystring=st.text(), spa=st.booleans())
def test_any_request_is_forwarded_inside_the_version_or_refused(
    uri: str, method: str, querystring: str, spa: bool
) -> None:
    event = origin_request_event(uri, method=method, querystring=querystring)
    request = copy.deepcopy(request_of(event))
    result = edge_function(spa)(event)
    if is_response(result) and result["status"] == "308":
        # a page's other spelling, on this site: the same path with or without its trailing slash
        location = result["headers"]["location"][0]["value"]
        path, _, query = location.partition("?")
        assert path in (uri + "/", uri[:-1]) and path.startswith("/") and not path.startswith("//")
        assert all(0x21 <= ord(character) < 0x7F for character in query)
        assert method in ("GET", "HEAD") and uri_problem(uri) is None
    elif is_response(result):
        assert result["status"] in {"400", "405"}
        assert "uri" not in result
    else:
        assert method in ("GET", "HEAD")
        assert_forwarded_safely(result, request)


@PROPERTY
@given(
    where=st.sampled_from(EVENT_PATHS),
    replacement=json_values,
    request_key=st.sampled_from(REQUEST_KEYS),
    request_value=json_values,
)
def test_any_event_shape_is_answered_never_raised(
    where: tuple[Any, ...], replacement: Any, request_key: str, request_value: Any
) -> None:
    event: Any = origin_request_event("/docs/")
    request_of(event)[request_key] = request_value
    request = copy.deepcopy(request_of(event))
    if where:
        parent = event
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = replacement
    else:
        event = replacement
    result = edge_function(spa=False)(event)
    if is_response(result):
        assert result["status"] in {"400", "405"}
    else:
        assert_forwarded_safely(result, request)


ssm_outcomes = st.one_of(
    st.sampled_from([V1, V2, layout.NO_VERSION_RELEASED]).map(lambda value: {"Parameter": {"Value": value}}),
    json_values,
    st.dictionaries(st.just("Parameter"), json_values),
    st.sampled_from(
        [KeyError("Parameter"), TypeError("x"), ValueError("x"), OSError("x"), RuntimeError("x")]
    ),
)


class ScriptedSSM:
    """Answers (or raises) the next of `outcomes` on each call."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def get_parameter(self, Name: str) -> Any:  # noqa: N803 (botocore's parameter name)
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@PROPERTY
@given(outcomes=st.lists(ssm_outcomes, min_size=1, max_size=6))
def test_any_ssm_answer_costs_one_call_per_window_and_is_served_or_503(outcomes: list[Any]) -> None:
    config, clock = edge_settings(), ManualClock()
    ssm = ScriptedSSM(outcomes)
    client: Any = ssm
    function = OriginRequestHandler(
        config, PointerCache(config, client, now=clock, log=lambda *_, **__: None)
    )
    for window in range(len(outcomes)):
        for _ in range(3):
            result = function(origin_request_event("/a/"))
            if is_response(result):
                assert result["status"] == "503"
            else:
                assert result["uri"] in {f"/{V1}/a/index.html", f"/{V2}/a/index.html"}
        assert ssm.calls == window + 1
        clock.advance(TTL_SECONDS)
