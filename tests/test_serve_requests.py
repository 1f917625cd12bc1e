"""`sitectl serve` and what viewers send: malformed requests and request bodies, byte ranges, big
objects streamed, a failing function, odd header values. Every request gets an answer on the wire
(never a dropped connection or a traceback), as a table of requests and answers and as a fuzz test."""

from __future__ import annotations

import re
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_function import CLOUDFRONT_FUNCTION
from edge_lambda.handler import make_response
from edge_lambda.routes import RouteSettings
from edge_lambda.settings import EdgeSettings
from scripts.commands import serve as serve_module
from scripts.commands.serve import PreviewServer, preview_server_running, single_byte_range
from scripts.demo import walkthrough as demo
from tests.serve_scaffold import ExampleSite, ManualClock, example_site, live_server
from tests.sitectl_scaffold import PARAMETER

FUZZ = settings(max_examples=80, derandomize=True, deadline=None, database=None)
CSS = "/assets/app.2defdb23.css"
CSS_BYTES = (demo.EXAMPLE_V1 / "assets" / "app.2defdb23.css").read_bytes()
SIZE = len(CSS_BYTES)


@dataclass
class Served:
    example: ExampleSite
    server: PreviewServer
    failures: list[str] = field(default_factory=list)
    """What reached the server's last-resort handler (`handle_error`): must stay empty."""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """Version one live in moto, served through the real edge handler, for the whole module."""
    with example_site() as example:
        example.release(example.version_one)
        with live_server(example, ManualClock()) as server:
            state = Served(example, server)
            handle_error = server.handle_error

            def record(request: Any, client_address: Any) -> None:
                state.failures.append(repr(sys.exc_info()[1]))
                handle_error(request, client_address)

            server.handle_error = record  # type: ignore[method-assign]
            yield state


@pytest.fixture(autouse=True)
def _each_test_counts_its_own_failures(request: pytest.FixtureRequest) -> None:
    if "served" in request.fixturenames:
        request.getfixturevalue("served").failures.clear()


@dataclass(frozen=True)
class Raw:
    status: int
    headers: dict[str, str]  # lower-case names; the last of repeated ones
    body: bytes
    rest: bytes  # what came after this answer's body (the next answer on the connection)


def exchange(server: PreviewServer, data: bytes) -> bytes:
    """Send `data`, close our side, and read everything the server sends until it closes."""
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as connection:
        try:
            connection.sendall(data)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before taking it all (a refused body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def parse(received: bytes, head_request: bool = False) -> Raw:
    head, separator, rest = received.partition(b"\r\n\r\n")
    assert separator, f"no complete answer: {received[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] (\d{3})( .*)?", lines[0])
    assert match, lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_request else int(headers.get("content-length", len(rest)))
    return Raw(int(match.group(1)), headers, rest[:length], rest[length:])


def ask(served: Served, request: str, body: bytes = b"") -> Raw:
    raw = parse(exchange(served.server, request.encode("latin-1") + body), request.startswith("HEAD"))
    assert served.failures == []
    return raw


# --- request bodies -------------------------------------------------------------------------


def test_a_content_length_that_is_not_a_number_is_400_and_closes(served: Served) -> None:
    for value in ("abc", "-1", "1e3", "5, 6", "\u00b2"):
        answer = ask(served, f"GET / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n")
        assert (answer.status, answer.headers["connection"]) == (400, "close"), value
        assert answer.body == f"400 Bad Request: Content-Length {value!r} is not a number of bytes\n".encode()


def test_two_content_lengths_that_disagree_are_400(served: Served) -> None:
    answer = ask(served, "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", b"hello!")
    assert (
        answer.status == 400
        and answer.body == b"400 Bad Request: Content-Length '5, 6' is not a number of bytes\n"
    )


@pytest.mark.parametrize("length", ["1048577", "99999999999999999999999999999", "9" * 5000])
def test_a_huge_content_length_is_413_without_reading_it(served: Served, length: str) -> None:
    answer = ask(served, f"POST / HTTP/1.1\r\nContent-Length: {length}\r\n\r\n", b"x" * 100)
    assert (answer.status, answer.headers["connection"]) == (413, "close")
    # The reason phrase is the running Python's: "Content Too Large" (RFC 9110) from 3.13 on.
    phrase = HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase
    assert answer.body.startswith(f"413 {phrase}: a request body of {length} bytes".encode())


def test_a_small_body_is_read_and_dropped_and_the_connection_goes_on(served: Served) -> None:
    first = ask(
        served,
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
        b"hello" + f"GET {CSS} HTTP/1.1\r\n\r\n".encode(),
    )
    assert first.status == 404  # CloudFront answers POST 403, shown as the 404 page
    second = parse(first.rest)
    assert (second.status, second.body) == (200, CSS_BYTES)


def test_a_chunked_body_is_not_taken_for_the_next_request(served: Served) -> None:
    smuggled = b"5\r\nhello\r\n0\r\n\r\nGET /about/ HTTP/1.1\r\n\r\n"
    answer = ask(served, f"GET {CSS} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", smuggled)
    assert (answer.status, answer.body, answer.headers["connection"]) == (200, CSS_BYTES, "close")
    assert answer.rest == b""


# --- byte ranges ------------------------------------------------------------------------------


def test_a_byte_range_is_206_with_content_range(served: Served) -> None:
    # S3 answers one range with 206 and Content-Range; CloudFront passes it on (RangeGETs).
    cases = {
        "bytes=0-3": (0, 3),
        "bytes=-3": (SIZE - 3, SIZE - 1),
        "bytes=10-": (10, SIZE - 1),
        f"bytes=5-{SIZE + 100}": (5, SIZE - 1),
        " BYTES = 1 - 2 ": (1, 2),
    }
    for header, (first, last) in cases.items():
        answer = ask(served, f"GET {CSS} HTTP/1.1\r\nRange: {header}\r\n\r\n")
        assert answer.status == 206, header
        assert answer.headers["content-range"] == f"bytes {first}-{last}/{SIZE}", header
        assert answer.body == CSS_BYTES[first : last + 1], header
        assert answer.headers["content-length"] == str(last + 1 - first), header
        assert answer.headers["accept-ranges"] == "bytes"


def test_a_head_with_a_range_is_206_without_a_body(served: Served) -> None:
    answer = ask(served, f"HEAD {CSS} HTTP/1.1\r\nRange: bytes=0-9\r\n\r\n")
    assert (answer.status, answer.headers["content-range"], answer.headers["content-length"]) == (
        206,
        f"bytes 0-9/{SIZE}",
        "10",
    )
    assert answer.rest == b""


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_range_past_the_end_is_416_with_the_length(served: Served, method: str) -> None:
    for header in (f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 9}", "bytes=-0"):
        answer = ask(served, f"{method} {CSS} HTTP/1.1\r\nRange: {header}\r\n\r\n")
        assert (answer.status, answer.headers["content-range"]) == (416, f"bytes */{SIZE}"), header


def test_ranges_s3_cannot_use_get_the_whole_object(served: Served) -> None:
    # S3 answers one range per request; several, another unit or an invalid range: the whole object.
    for header in (
        "bytes=0-1,3-4",
        "bytes=5-1",
        "items=0-1",
        "garbage",
        "bytes=",
        "bytes=-",
        "bytes=\u00b2-3",
    ):
        answer = ask(served, f"GET {CSS} HTTP/1.1\r\nRange: {header}\r\n\r\n")
        assert (answer.status, answer.body, "content-range" in answer.headers) == (200, CSS_BYTES, False), (
            header
        )


def test_single_byte_range_is_what_s3_is_asked() -> None:
    assert [single_byte_range(h) for h in ("bytes=0-3", "bytes=-5", "bytes=7-", "bytes = 1 - 2")] == [
        "bytes=0-3",
        "bytes=-5",
        "bytes=7-",
        "bytes=1-2",
    ]
    assert [single_byte_range(h) for h in (None, "", "bytes=0-1,2-3", "bytes=3-2", "bytes=-", "x=1-2")] == [
        None
    ] * 6


def test_a_range_on_a_missing_path_is_the_404_page(served: Served) -> None:
    answer = ask(served, "GET /nothing-here.css HTTP/1.1\r\nRange: bytes=0-3\r\n\r\n")
    assert answer.status == 404 and answer.body == (demo.EXAMPLE_V1 / "404.html").read_bytes()


# --- what http.server refuses itself, and odd requests ---------------------------------------


REFUSED_BY_HTTP_SERVER = [
    (b"garbage\r\n\r\n", 400),
    (b"GET /a b HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\n\r\n", 505),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"X-Many: a\r\n" * 200 + b"\r\n", 431),
]


@pytest.mark.parametrize(
    ("data", "status"), REFUSED_BY_HTTP_SERVER, ids=[str(s) for _, s in REFUSED_BY_HTTP_SERVER]
)
def test_malformed_requests_get_an_answer(served: Served, data: bytes, status: int) -> None:
    assert parse(exchange(served.server, data)).status == status
    assert served.failures == []


def test_odd_paths_and_methods_get_the_edges_answers(served: Served) -> None:
    assert ask(served, "GET /caf\u00e9/ HTTP/1.1\r\n\r\n").status == 404
    assert ask(served, "GET /%00 HTTP/1.1\r\n\r\n").status == 400
    assert ask(served, "G\u00c9T / HTTP/1.1\r\n\r\n").status == 404
    assert ask(served, "GET /%ZZ HTTP/1.1\r\nIf-None-Match: ,,,W/\r\n\r\n").status in (400, 404)


# --- streaming, a failing function, odd header values ----------------------------------------


class SlowBody:
    """An object's body that records the size of every read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.reads: list[int | None] = []
        self.closed = threading.Event()

    def read(self, amount: int | None = None) -> bytes:
        self.reads.append(amount)
        taken = self.left if amount is None else min(amount, self.left)
        self.left -= taken
        return b"x" * taken

    def close(self) -> None:
        self.closed.set()


class BigObjectS3:
    """S3 holding one object of `size` bytes under every key."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bodies: list[SlowBody] = []

    def get_bucket_location(self, **_: Any) -> dict[str, Any]:
        return {"LocationConstraint": None}

    def get_object(self, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803 (boto3's argument name)
        if Key.startswith("_manifests/"):
            # no manifest: the edge routes the version without knowing its files
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": ""}}, "GetObject")
        self.bodies.append(SlowBody(self.size))
        return {"Body": self.bodies[-1], "ContentLength": self.size, "ContentType": "video/mp4"}


SETTINGS = EdgeSettings(parameter_name=PARAMETER, region="us-east-1", cache_ttl_seconds=5)
VERSION = "20261127T101500Z"


def test_an_object_is_streamed_in_chunks_never_read_whole() -> None:
    size = 5 * 1024 * 1024 + 3
    s3 = BigObjectS3(size)
    with preview_server_running("bucket", SETTINGS, version=VERSION, s3_client=s3) as server:
        answer = parse(exchange(server, b"GET /movie.mp4 HTTP/1.1\r\n\r\n"))
    assert (answer.status, len(answer.body), answer.body.count(b"x")) == (200, size, size)
    (body,) = s3.bodies
    assert None not in body.reads and max(r for r in body.reads if r is not None) <= 64 * 1024
    assert body.closed.wait(10)


def test_a_viewer_hanging_up_mid_object_closes_the_stream_quietly(caplog: pytest.LogCaptureFixture) -> None:
    s3 = BigObjectS3(64 * 1024 * 1024)
    with preview_server_running("bucket", SETTINGS, version=VERSION, s3_client=s3) as server:
        host, port = server.server_address[:2]
        with socket.create_connection((str(host), int(port)), timeout=10) as connection:
            connection.sendall(b"GET /movie.mp4 HTTP/1.1\r\n\r\n")
            assert connection.recv(100).startswith(b"HTTP/1.1 200")
            # Hang up with a reset, as a closed browser tab does, while the server is still writing.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The server ends the answer when its write fails: the stream is closed, not read to its end.
        (body,) = s3.bodies
        assert body.closed.wait(10) and body.left > 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_failing_viewer_request_function_is_503() -> None:
    def failing(request: Any, live: str | None, settings: RouteSettings, keys: Any) -> dict[str, Any]:
        raise RuntimeError("the function broke")

    with preview_server_running(
        "bucket",
        SETTINGS,
        s3_client=BigObjectS3(1),
        router=CLOUDFRONT_FUNCTION,
        live_version=lambda: VERSION,
        viewer_function=failing,
    ) as server:
        answer = parse(exchange(server, b"GET / HTTP/1.1\r\n\r\n"))
    assert (answer.status, answer.body) == (
        503,
        b"503 Service Unavailable: the function failed: the function broke\n",
    )


def test_header_values_that_cannot_go_on_the_wire_are_flattened() -> None:
    def odd(event: dict[str, Any], context: object) -> dict[str, Any]:
        return make_response(200, "ok", {"X-Note": "caf\u00e9 \u2192 a\r\nSet-Cookie: stolen=1"})

    with preview_server_running("bucket", SETTINGS, s3_client=BigObjectS3(1), edge_function=odd) as server:
        answer = parse(exchange(server, b"GET / HTTP/1.1\r\n\r\n"))
    assert (answer.status, answer.body) == (200, b"ok")
    assert (
        answer.headers["x-note"] == "caf\u00e9 ? a  Set-Cookie: stolen=1"
        and "set-cookie" not in answer.headers
    )


def test_a_bug_in_the_emulation_is_500_and_one_line(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("Body")

    monkeypatch.setattr(served.server.origin, "fetch", broken)
    answer = ask(served, f"GET {CSS} HTTP/1.1\r\n\r\n")
    assert (answer.status, answer.body) == (500, b"500 Internal Server Error: sitectl serve failed: 'Body'\n")
    logged = [r for r in caplog.records if r.name == serve_module.__name__ and r.levelname == "ERROR"]
    assert [r.getMessage() for r in logged] == [f"sitectl serve failed on GET {CSS}: 'Body'"]
    assert not logged[0].exc_info  # no traceback without SITECTL_DEBUG


# --- fuzz: any request gets an answer --------------------------------------------------------


_token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=1, max_size=8)
_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
_target = st.one_of(
    st.sampled_from(["/", CSS, "/about", "//x", "/404.html", "*", "http://h/a"]),
    st.builds(lambda t: "/" + t, st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=30)),
)
_header = st.one_of(
    st.tuples(
        st.sampled_from(["Content-Length", "Range", "If-None-Match", "Transfer-Encoding", "Host"]), _value
    ),
    st.tuples(st.just("Range"), st.from_regex(r"\Abytes=[0-9]{0,4}-[0-9]{0,4}(,[0-9]{0,3}-[0-9]{0,3})?\Z")),
    st.tuples(st.just("Content-Length"), st.from_regex(r"\A[0-9]{1,3}\Z")),
    st.tuples(_token.filter(lambda t: ":" not in t), _value),
)


@FUZZ
@given(
    method=st.one_of(st.sampled_from(["GET", "HEAD", "POST", "OPTIONS", "PUT"]), _token),
    target=_target,
    headers=st.lists(_header, max_size=5),
    body=st.binary(max_size=64),
)
def test_fuzz_every_request_gets_an_answer(
    served: Served, method: str, target: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    received = exchange(served.server, head.encode("latin-1") + b"\r\n" + body)
    assert re.match(rb"\AHTTP/1\.[01] [1-5][0-9][0-9] ", received), received[:200]
    assert served.failures == []
