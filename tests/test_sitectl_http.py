"""What `sitectl verify` and `status` make of malformed, slow, huge or strange answers and pages: one
line each in the report, never a traceback, never unbounded time or memory. The answers come from a
loopback server sending scripted raw bytes (`tests/raw_http_scaffold.py`)."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_lambda import layout
from scripts.commands import http_client
from scripts.commands.errors import SitectlError
from scripts.commands.site import http_get
from scripts.commands.verify import Response, SmokePath, fetch, verify_site
from scripts.sitectl import cli
from tests.raw_http_scaffold import Dribble, Held, page, raw_http_server
from tests.sitectl_scaffold import BUCKET, V1, World, put_version, world

__all__ = ["world"]

FUZZ = settings(max_examples=40, derandomize=True, deadline=None, database=None)
MARKED = {layout.VERSION_HEADER: V1}

# What a server sends -> the one line (or the answer) verify reports.
MALFORMED_ANSWERS = [
    ("garbage status line", b"garbage\r\n\r\n", "not an HTTP status line: 'garbage\\r\\n'"),
    ("negative status", b"HTTP/1.1 -1 No\r\n\r\n", "not an HTTP status line: 'HTTP/1.1 -1 No\\r\\n'"),
    ("nothing at all", b"", "the server closed the connection without answering"),
    (
        "body cut short",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
        "the body was cut short after 3 bytes, 97 more expected",
    ),
    (
        "chunk cut short",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        "the body was cut short",
    ),
    (
        "header line of 70,000 bytes",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        "malformed answer: got more than 65536 bytes when reading header line",
    ),
    (
        "200 headers",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: a\r\n" * 200 + b"\r\n",
        "malformed answer: got more than 100 headers",
    ),
]


@pytest.mark.parametrize(("name", "raw", "error"), MALFORMED_ANSWERS, ids=[c[0] for c in MALFORMED_ANSWERS])
def test_a_malformed_answer_is_one_line(name: str, raw: bytes, error: str) -> None:
    with raw_http_server({"/": raw}) as server:
        assert fetch(server.url + "/", 5) == Response(0, {}, b"", error)


def test_odd_but_well_formed_answers_are_answers() -> None:
    odd = {
        "/999": b"HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok",
        "/latin": "HTTP/1.1 200 OK\r\nX-Note: caf\u00e9\r\nContent-Length: 0\r\n\r\n".encode("latin-1"),
        "/until-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it",
    }
    with raw_http_server(odd) as server:
        assert fetch(server.url + "/999", 5) == Response(999, {"content-length": "2"}, b"ok")
        latin = fetch(server.url + "/latin", 5)
        assert (latin.status, latin.headers["x-note"], latin.error) == (200, "caf\u00e9", None)
        assert fetch(server.url + "/until-close", 5).body == b"all of it"


def test_a_slow_answer_ends_at_the_timeout_of_the_whole_request() -> None:
    # One byte at a time: every read gets data well within any per-read timeout, so only a budget for
    # the whole request ends it. The clock moves one second at each look, as a 1 byte/s answer would.
    slow = Dribble(page(b"x" * 1000))
    ticks = itertools.count()
    with raw_http_server({"/": slow}) as server:
        answer = http_client.get(server.url + "/", 3, clock=lambda: float(next(ticks)))
    assert answer == Response(0, {}, b"", "no complete answer within 3 s")


# 3 GiB announced; the cap and a bit more sent, then the server waits for the client to hang up.
HUGE = Held(
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (3 * 1024**3)
    + b"x" * (http_client.MAX_BODY_BYTES + 64 * 1024)
)


def test_a_huge_body_is_cut_at_the_cap_and_left_unread() -> None:
    with raw_http_server({"/": HUGE}) as server:
        answer = http_client.get(server.url + "/", 5, max_body=1000)
    assert (answer.status, answer.body, answer.complete, answer.error) == (200, b"x" * 1000, False, None)


def test_status_reads_at_most_the_cap() -> None:
    with (
        raw_http_server({"/index.html": HUGE}) as server,
        pytest.raises(SitectlError, match=r"the body is longer than 8388608 bytes$"),
    ):
        http_get(server.url + "/index.html")


MANIFEST = layout.Manifest(
    V1,
    "2026-11-01T10:00:00+00:00",
    {
        "index.html": layout.ManifestFile(1, "0", "text/html", "no-cache"),
        "a b.png": layout.ManifestFile(1, "0", "image/png", "no-cache"),
        "caf\u00e9.png": layout.ManifestFile(1, "0", "image/png", "no-cache"),
        "xy.css": layout.ManifestFile(1, "0", "text/css", "no-cache"),
        "broken.js": layout.ManifestFile(1, "0", "text/javascript", "no-cache"),
    },
)
STRANGE_PAGE = (
    '<img src="/a b.png"><img src=" /caf\u00e9.png#top"><link rel=stylesheet href="/x\ny.css">'
    '<script src="http://[bad/x.js"></script><script src="//[::1/y.js"></script>'
    '<script src="http://localhost:99999/z.js"></script><script src="/broken.js"></script>'
).encode()


def test_strange_references_are_requested_as_a_browser_would_or_reported() -> None:
    answers = {
        "/": page(STRANGE_PAGE, {"Content-Type": "text/html", **MARKED}),
        "/a%20b.png": page(b"p", {"Content-Type": "image/png", **MARKED}),
        "/caf%C3%A9.png": page(b"p", {"Content-Type": "image/png", **MARKED}),
        "/xy.css": page(b"c", {"Content-Type": "text/css", **MARKED}),
        "/broken.js": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    }
    with raw_http_server(answers) as server:
        report = verify_site(server.url, V1, MANIFEST)
    assert report.problems == [
        "the root page references 'http://[bad/x.js', which is not a valid URL",
        "the root page references '//[::1/y.js', which is not a valid URL",
        "the root page references 'http://localhost:99999/z.js', which is not a valid URL",
        "/broken.js: no answer: the body was cut short after 3 bytes, 7 more expected",
    ]
    assert sorted(server.requested) == ["/", "/a%20b.png", "/broken.js", "/caf%C3%A9.png", "/xy.css"]


def test_a_smoke_path_with_a_space_is_requested_encoded() -> None:
    answers = {
        "/": page(b"", {"Content-Type": "text/html", **MARKED}),
        "/a%20b.png": page(b"p", {"Content-Type": "image/png", **MARKED}),
    }
    with raw_http_server(answers) as server:
        report = verify_site(server.url, V1, MANIFEST, [SmokePath("/a b.png")])
    assert report.ok, report.problems
    assert server.requested.count("/a%20b.png") == 1


def test_verify_and_status_report_a_garbage_answer_in_one_line(world: World) -> None:
    put_version(world, V1, {"index.html": b"<html></html>"})
    deps = world.deps()
    deps.http_get = http_get
    with raw_http_server({"/": b"garbage\r\n", "/index.html": b"garbage\r\n"}) as server:
        verify = world.invoke("verify", "--url", server.url, "--version", V1, "--bucket", BUCKET)
        status = CliRunner().invoke(
            cli, ["status", "--url", server.url, "--bucket", BUCKET, "--check"], obj=deps
        )
    assert verify.exit_code == 1 and verify.exception is not None
    assert verify.output.splitlines()[0] == "/: no answer: not an HTTP status line: 'garbage\\r\\n'"
    assert status.exit_code == 1, status.output
    assert (
        f"DISAGREE: which version the URL serves is unknown: GET {server.url}/index.html failed: "
        "not an HTTP status line: 'garbage\\r\\n'"
    ) in status.output


# --- fuzz: whatever comes back, an answer or one line ----------------------------------------


_header_line = st.binary(min_size=0, max_size=40).filter(lambda b: b"\r\n" not in b)
_answers = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda status, headers, length, body: (
            b"HTTP/1.1 "
            + status
            + b"\r\n"
            + b"".join(h + b"\r\n" for h in headers)
            + (b"Content-Length: " + length + b"\r\n" if length is not None else b"")
            + b"\r\n"
            + body
        ),
        st.one_of(st.sampled_from([b"200 OK", b"404 x", b"301 Moved"]), _header_line),
        st.lists(
            st.one_of(_header_line, st.sampled_from([b"Location: //[x", b"Transfer-Encoding: chunked"]))
        ),
        st.one_of(st.none(), st.from_regex(rb"\A-?[0-9a-f ]{0,12}\Z")),
        st.binary(max_size=200),
    ),
)


def test_fuzz_any_answer_is_an_answer_or_one_line() -> None:
    with raw_http_server({}) as server:

        @FUZZ
        @given(raw=_answers)
        def check(raw: bytes) -> None:
            server.answers["/"] = raw
            answer = http_client.get(server.url + "/", 5, follow_redirects=True)
            if answer.error is not None:
                assert answer.status == 0 and "\n" not in answer.error and 0 < len(answer.error) <= 200
            else:
                assert 100 <= answer.status <= 999

        check()


_url_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
_references = st.one_of(
    _url_text,
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(["/", "//", "http://", "https://[", "//[::1", "?", "#"]),
        _url_text,
    ),
)


@FUZZ
@given(references=st.lists(_references, max_size=6), smoke=_url_text)
def test_fuzz_any_page_gives_a_report(references: list[str], smoke: str) -> None:
    html = "".join(
        f'<img src="{r.replace(chr(34), "")}"><link rel=stylesheet href={r!r}>' for r in references
    )
    requested: list[str] = []

    def fetcher(url: str, timeout: float) -> Response:
        requested.append(url)
        assert url.isascii() and " " not in url, url
        return Response(200, {"content-type": "text/html", **MARKED}, html.encode())

    report = verify_site("https://site.example.org", V1, MANIFEST, [SmokePath("/" + smoke)], fetcher=fetcher)
    assert all("\n" not in line for line in report.problems + report.notes)
    assert requested[0] == "https://site.example.org/"
