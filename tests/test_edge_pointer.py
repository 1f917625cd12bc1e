"""The pointer cache and the whole handler against moto: TTL, stale-if-error, cold failure, sentinel,
stampede. Clocks are injected; no test waits for real time to pass."""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from edge_lambda import handler as handler_module
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache, is_response
from edge_lambda.settings import CONFIG_ENV_VAR
from edge_lambda.ssm_client import create_ssm_client
from tests.clock import ManualClock
from tests.edge_scaffold import (
    PARAMETER_NAME,
    REGION,
    TTL_SECONDS,
    V1,
    V2,
    FaultySSM,
    count_get_parameter_calls,
    edge_settings,
    origin_request_event,
    put_pointer,
)


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


class Logs(list[dict[str, Any]]):
    def __call__(self, event: str, **fields: Any) -> None:
        self.append({"event": event, **fields})


def edge(
    ssm_client: Any, clock: ManualClock, logs: Logs | None = None, spa: bool = False
) -> OriginRequestHandler:
    settings = edge_settings(spa_fallback=spa)
    return OriginRequestHandler(
        settings, PointerCache(settings, ssm_client, now=clock, log=logs if logs is not None else Logs())
    )


def uri_of(result: dict[str, Any]) -> str:
    assert not is_response(result), result
    uri: str = result["uri"]
    return uri


def test_serves_the_pointer_version_and_calls_ssm_once_per_window(ssm: Any) -> None:
    put_pointer(ssm, V1)
    client = create_ssm_client(REGION)
    calls = count_get_parameter_calls(client)
    clock = ManualClock()
    function = edge(client, clock)

    for _ in range(500):
        assert uri_of(function(origin_request_event("/about/"))) == f"/{V1}/about/index.html"
    assert calls[0] == 1

    put_pointer(ssm, V2)
    clock.advance(TTL_SECONDS - 0.001)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html", "still within the window"
    assert calls[0] == 1
    clock.advance(0.001)
    assert uri_of(function(origin_request_event("/"))) == f"/{V2}/index.html", "the window has ended"
    assert calls[0] == 2


def test_the_window_starts_when_ssm_has_answered(ssm: Any) -> None:
    """A GetParameter that takes 3 s (retries, a slow region) must not eat 3 s of the window."""
    put_pointer(ssm, V1)
    clock = ManualClock(start=100.0)
    client = create_ssm_client(REGION)
    calls = count_get_parameter_calls(client, on_call=lambda: clock.advance(3.0))
    function = edge(client, clock)

    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html"
    assert clock.now == 103.0 and calls[0] == 1
    put_pointer(ssm, V2)
    clock.now = 103.0 + TTL_SECONDS - 0.001
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html", "the window is TTL from 103"
    assert calls[0] == 1
    clock.now = 103.0 + TTL_SECONDS
    assert uri_of(function(origin_request_event("/"))) == f"/{V2}/index.html"
    assert calls[0] == 2


def test_ssm_client_is_created_lazily_and_in_the_configured_region(ssm: Any) -> None:
    put_pointer(ssm, V1)
    cache = PointerCache(edge_settings(), now=ManualClock())
    assert cache.lookup().version == V1


def test_spa_fallback_comes_from_the_settings(ssm: Any) -> None:
    put_pointer(ssm, V1)
    function = edge(ssm, ManualClock(), spa=True)
    assert uri_of(function(origin_request_event("/docs/guide"))) == f"/{V1}/index.html"


def test_refused_requests_cost_no_ssm_call(ssm: Any) -> None:
    put_pointer(ssm, V1)
    calls = count_get_parameter_calls(ssm)
    function = edge(ssm, ManualClock())
    assert function(origin_request_event("/a/../b"))["status"] == "400"
    assert function(origin_request_event("/", method="POST"))["status"] == "405"
    assert calls[0] == 0


def assert_unavailable(result: dict[str, Any], reason: str) -> None:
    assert is_response(result), "the origin must not be called"
    assert result["status"] == "503"
    assert result["headers"]["retry-after"] == [{"key": "Retry-After", "value": str(TTL_SECONDS)}]
    assert result["headers"]["cache-control"] == [{"key": "Cache-Control", "value": "no-store"}]
    assert result["body"] == f"Service Unavailable: {reason}\n"


def test_sentinel_answers_503_until_a_version_is_released(ssm: Any) -> None:
    put_pointer(ssm, layout.NO_VERSION_RELEASED)
    calls = count_get_parameter_calls(ssm)
    clock, logs = ManualClock(), Logs()
    function = edge(ssm, clock, logs)
    for _ in range(10):
        assert_unavailable(function(origin_request_event("/")), "no version released")
    assert calls[0] == 1, "the sentinel is cached like a version"
    assert logs == [], "nothing released is not an error"

    put_pointer(ssm, V1)
    clock.advance(TTL_SECONDS)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html"


def test_cold_failure_answers_503_logs_once_and_retries_next_window(ssm: Any) -> None:
    calls = count_get_parameter_calls(ssm)
    clock, logs = ManualClock(), Logs()
    function = edge(ssm, clock, logs)  # the parameter does not exist: ParameterNotFound
    for _ in range(20):
        assert_unavailable(function(origin_request_event("/")), "the live version is unavailable")
    assert calls[0] == 1
    assert len(logs) == 1
    assert "ParameterNotFound" in logs[0].pop("error")
    assert logs == [{"event": "pointer-lookup-failed", "serving": None, "retry_in_seconds": TTL_SECONDS}]

    put_pointer(ssm, V1)
    clock.advance(TTL_SECONDS)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html"
    assert calls[0] == 2


def test_stale_if_error_keeps_serving_and_logs_once_per_window(ssm: Any) -> None:
    put_pointer(ssm, V1)
    calls = count_get_parameter_calls(ssm)
    clock, logs = ManualClock(), Logs()
    function = edge(ssm, clock, logs)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html"

    ssm.delete_parameter(Name=PARAMETER_NAME)
    for window in range(3):
        clock.advance(TTL_SECONDS)
        for _ in range(50):
            assert uri_of(function(origin_request_event("/x.js"))) == f"/{V1}/x.js"
        assert calls[0] == 2 + window
        assert len(logs) == 1 + window
    assert all(log["serving"] == V1 and "ParameterNotFound" in log["error"] for log in logs)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def refusing_endpoint() -> str:
    """An endpoint that refuses connections."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def client_for(endpoint: str) -> Any:
    return boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url=endpoint,
        config=Config(connect_timeout=0.1, read_timeout=0.1, retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [("silent_endpoint", "Read timeout"), ("refusing_endpoint", "Could not connect")],
)
def test_timeouts_and_connection_errors_fall_back_to_the_cached_version(
    ssm: Any, request: pytest.FixtureRequest, endpoint: str, error: str
) -> None:
    failing = client_for(request.getfixturevalue(endpoint))
    put_pointer(ssm, V1)
    clock, logs = ManualClock(), Logs()
    cache = PointerCache(edge_settings(), ssm, now=clock, log=logs)
    assert cache.lookup().version == V1

    cache._ssm_client = failing  # SSM becomes unreachable
    clock.advance(TTL_SECONDS)
    assert cache.lookup().version == V1
    assert len(logs) == 1 and error in logs[0]["error"]

    cold = PointerCache(edge_settings(), failing, now=clock, log=logs)
    assert cold.lookup().version is None
    assert len(logs) == 2


@pytest.mark.parametrize("bad_value", ["latest", "../20261127T101500Z", "20261127T101500Z/", "None"])
def test_a_pointer_that_is_not_a_version_is_an_error_never_a_prefix(ssm: Any, bad_value: str) -> None:
    put_pointer(ssm, bad_value)
    clock, logs = ManualClock(), Logs()
    function = edge(ssm, clock, logs)
    assert_unavailable(function(origin_request_event("/")), "the live version is unavailable")
    assert len(logs) == 1 and repr(bad_value) in logs[0]["error"]

    put_pointer(ssm, V1)
    clock.advance(TTL_SECONDS)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html"
    put_pointer(ssm, bad_value)
    clock.advance(TTL_SECONDS)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html", "stale-if-error"
    assert len(logs) == 2


THREADS = 16
DEADLOCK_GUARD_SECONDS = 10


class HeldLookups:
    """THREADS concurrent `cache.lookup()`s, with SSM's answer held back until `release()`."""

    def __init__(self, ssm: Any, cache: PointerCache) -> None:
        self.in_call, self._release = threading.Event(), threading.Event()
        # Recorded in the worker threads, asserted by the test in the main thread (an assertion raised
        # in a worker would only be printed as a warning).
        self.held_until_released: list[bool] = []
        self.calls = count_get_parameter_calls(ssm, on_call=self._hold)
        self.results: queue.Queue[str | None] = queue.Queue()
        start = threading.Barrier(THREADS)

        def request() -> None:
            start.wait()
            self.results.put(cache.lookup().version)

        self._threads = [threading.Thread(target=request) for _ in range(THREADS)]
        for thread in self._threads:
            thread.start()
        assert self.in_call.wait(DEADLOCK_GUARD_SECONDS), "one lookup calls SSM"

    def _hold(self) -> None:
        self.in_call.set()
        self.held_until_released.append(self._release.wait(DEADLOCK_GUARD_SECONDS))

    def release(self) -> None:
        self._release.set()
        for thread in self._threads:
            thread.join(DEADLOCK_GUARD_SECONDS)
        assert not any(thread.is_alive() for thread in self._threads), "a lookup is stuck"
        assert self.held_until_released == [True], "SSM was called once and answered after release()"


def test_concurrent_cold_misses_make_one_call(ssm: Any) -> None:
    put_pointer(ssm, V1)
    lookups = HeldLookups(ssm, PointerCache(edge_settings(), ssm, now=ManualClock()))
    assert lookups.results.empty(), "before any value, every caller waits for the one call"
    lookups.release()
    assert lookups.calls[0] == 1
    assert [lookups.results.get_nowait() for _ in range(THREADS)] == [V1] * THREADS


def test_concurrent_expired_misses_make_one_call_and_serve_the_previous_version_meanwhile(ssm: Any) -> None:
    put_pointer(ssm, V1)
    clock = ManualClock()
    cache = PointerCache(edge_settings(), ssm, now=clock)
    assert cache.lookup().version == V1
    put_pointer(ssm, V2)
    clock.advance(TTL_SECONDS)

    lookups = HeldLookups(ssm, cache)
    # While one thread refreshes, every other one answers at once with the version it had.
    stale = [lookups.results.get(timeout=DEADLOCK_GUARD_SECONDS) for _ in range(THREADS - 1)]
    assert stale == [V1] * (THREADS - 1)
    lookups.release()
    assert lookups.results.get_nowait() == V2
    assert lookups.calls[0] == 1
    assert cache.lookup().version == V2


def test_module_handler_reads_its_settings_file_once(
    ssm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_pointer(ssm, V1)
    config = tmp_path / "config.json"
    config.write_text(edge_settings(spa_fallback=True).to_json())
    monkeypatch.setenv(CONFIG_ENV_VAR, str(config))
    monkeypatch.setattr(handler_module, "_default_handler", None)

    result = handler_module.handler(origin_request_event("/app/route", querystring="a=1"), None)
    assert result["uri"] == f"/{V1}/index.html"
    assert result["querystring"] == "a=1"
    config.write_text(json.dumps({"broken": True}))
    assert handler_module.handler(origin_request_event("/"), None)["uri"] == f"/{V1}/index.html"


class ScriptedSSM:
    """A stand-in SSM client: GetParameter answers V1 first, then `failure` (raised, or returned as the
    parsed response)."""

    def __init__(self, failure: BaseException | dict[str, Any]) -> None:
        self.failure = failure
        self.calls = 0

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 (botocore's parameter name)
        self.calls += 1
        if self.calls == 1:
            return {"Parameter": {"Name": Name, "Type": "String", "Value": V1}}
        if isinstance(self.failure, BaseException):
            raise self.failure
        return self.failure


WINDOWS = 3


def assert_stale_once_per_window(ssm_client: Any, calls: Callable[[], int], attempts: int = 1) -> Logs:
    clock, logs = ManualClock(), Logs()
    function = edge(ssm_client, clock, logs)
    assert uri_of(function(origin_request_event("/"))) == f"/{V1}/index.html"
    for window in range(1, WINDOWS + 1):
        clock.advance(TTL_SECONDS)
        for _ in range(50):
            assert uri_of(function(origin_request_event("/a.css"))) == f"/{V1}/a.css", "stale-if-error"
        assert calls() == 1 + window * attempts, "one lookup per window, not per request"
        assert len(logs) == window
    assert all(log["event"] == "pointer-lookup-failed" and log["serving"] == V1 for log in logs)
    return logs


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        (KeyError("Parameter"), "KeyError('Parameter')"),
        (TypeError("'NoneType' object is not subscriptable"), "TypeError"),
        (ValueError("Expecting value: line 1 column 1"), "ValueError"),
        (AttributeError("'NoneType' object has no attribute 'get'"), "AttributeError"),
        (RuntimeError("a bug in a botocore the runtime updated"), "RuntimeError"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "UnicodeDecodeError"),
        ({}, "answered without a parameter value"),
        ({"Parameter": None}, "answered without a parameter value"),
        ({"Parameter": "20261127T101500Z"}, "answered without a parameter value"),
        ({"Parameter": {"Name": PARAMETER_NAME}}, "answered without a parameter value"),
        ({"Parameter": {"Value": 20261127}}, "answered without a parameter value"),
    ],
)
def test_any_lookup_failure_is_stale_if_error_once_per_window(
    failure: BaseException | dict[str, Any], logged: str
) -> None:
    scripted = ScriptedSSM(failure)
    logs = assert_stale_once_per_window(scripted, lambda: scripted.calls)
    assert all(logged in log["error"] and PARAMETER_NAME in log["error"] for log in logs)


def test_a_200_that_is_not_a_get_parameter_answer_is_stale_if_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case with this botocore: a 200 whose body botocore parses into no `Parameter`."""
    with FaultySSM().serving() as faulty:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"{faulty.url}/not-get-parameter")
        logs = assert_stale_once_per_window(
            create_ssm_client(REGION), lambda: faulty.calls["not-get-parameter"]
        )
    assert "answered without a parameter value" in logs[0]["error"]


def test_a_client_that_cannot_be_created_answers_503_and_is_retried_next_window(
    ssm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_pointer(ssm, V1)
    created: list[str] = []

    def create(region: str, **_: Any) -> Any:
        created.append(region)
        if len(created) == 1:
            raise ValueError("Invalid endpoint: https://ssm..amazonaws.com")
        return ssm

    monkeypatch.setattr(handler_module, "create_ssm_client", create)
    clock, logs = ManualClock(), Logs()
    cache = PointerCache(edge_settings(), now=clock, log=logs)
    assert cache.lookup().version is None
    assert cache.lookup().version is None
    assert created == [REGION] and len(logs) == 1 and "Invalid endpoint" in logs[0]["error"]
    clock.advance(TTL_SECONDS)
    assert cache.lookup().version == V1
    assert created == [REGION, REGION]


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (None, "400"),
        ("GET /", "400"),
        ([], "400"),
        ({}, "400"),
        ({"Records": []}, "400"),
        ({"Records": {}}, "400"),
        ({"Records": ["cf"]}, "400"),
        ({"Records": [{"cf": {}}]}, "400"),
        ({"Records": [{"cf": {"request": ["GET", "/"]}}]}, "400"),
        ({"Records": [{"cf": {"request": {}}}]}, "405"),
        ({"Records": [{"cf": {"request": {"method": ["GET"], "uri": "/"}}}]}, "405"),
        ({"Records": [{"cf": {"request": {"method": "GET"}}}]}, "400"),
        ({"Records": [{"cf": {"request": {"method": "GET", "uri": None}}}]}, "400"),
        ({"Records": [{"cf": {"request": {"method": "GET", "uri": b"/"}}}]}, "400"),
    ],
)
def test_events_that_are_not_origin_requests_are_answered_not_raised(event: Any, status: str) -> None:
    scripted = ScriptedSSM({})
    result = edge(scripted, ManualClock())(event)
    assert result["status"] == status
    assert scripted.calls == 0


def test_an_event_without_a_request_is_refused_saying_so() -> None:
    result = edge(ScriptedSSM({}), ManualClock())({"Records": []})
    assert (result["status"], result["body"]) == (
        "400",
        "Bad Request: not a CloudFront origin-request event\n",
    )


def test_log_events_are_one_json_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    handler_module.log_event("pointer-lookup-failed", error="boom", serving=None, retry_in_seconds=5)
    assert capsys.readouterr().out == (
        '{"event": "pointer-lookup-failed", "error": "boom", "serving": null, "retry_in_seconds": 5}\n'
    )
