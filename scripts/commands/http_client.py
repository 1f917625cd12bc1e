"""The one HTTP GET of `sitectl verify` and `sitectl status`: a viewer's request, bounded.

It never raises for what the server answers or fails to answer: a refused connection, a garbage
status line, an over-long header line or too many headers, a body cut short, all become one line in
`Response.error`. `timeout` bounds the whole request (connect, status line, headers, body), not each
read: a server answering one byte a second is cut off at the deadline. At most `max_body` bytes of the
body are read and kept; a longer body is left unread (`Response.complete` is False), so a 3 GiB object
costs neither 3 GiB of memory nor the time to download it.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from scripts.commands.errors import one_line as one_line

# An HTML page or index.html bigger than this is not what a site serves; assets' bodies are not needed.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_REDIRECTS = 5
_READ_CHUNK_BYTES = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Characters a browser percent-encodes in a URL's path and query (WHATWG URL, path percent-encode set,
# plus the C0 controls, space and everything outside ASCII, which are encoded as UTF-8).
_ENCODED_BY_BROWSERS = frozenset('"<>`{}')


@dataclass(frozen=True)
class Response:
    status: int  # 0 when no HTTP answer came back
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    error: str | None = None
    complete: bool = True  # False: the body went on past `max_body` and was left unread


def browser_url(url: str) -> str:
    """`url` as a browser requests it: ASCII tabs and newlines removed, C0 controls and spaces stripped
    at both ends, and in the rest spaces, controls, `"<>\\`{}` and non-ASCII characters percent-encoded
    (as UTF-8). An existing `%XX` stays as it is."""
    text = "".join(c for c in url if c not in "\t\n\r").strip("".join(map(chr, range(0x21))))
    return "".join(_encode(c) if _needs_encoding(c) else c for c in text)


def _needs_encoding(char: str) -> bool:
    return ord(char) <= 0x20 or ord(char) >= 0x7F or char in _ENCODED_BY_BROWSERS


def _encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", errors="surrogatepass"))


@dataclass
class _Budget:
    """The time left for one request, on `clock`; TimeoutError once it is spent."""

    seconds: float
    clock: Callable[[], float]
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.clock() + self.seconds

    def remaining(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise TimeoutError("the request's time is spent")
        return left


class _BudgetedReader(io.RawIOBase):
    """The socket's reads, each allowed only the time left of the request's budget."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, budget: _Budget) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._budget.remaining())
        return self._raw.readinto(buffer) or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


class _BudgetedSocket:
    """A connected socket whose reader (http.client reads the status line, headers and body through
    `makefile`) and writes stop when the budget is spent."""

    def __init__(self, sock: socket.socket, budget: _Budget) -> None:
        self._sock = sock
        self._budget = budget

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        raw = self._sock.makefile("rb", buffering=0)
        return io.BufferedReader(_BudgetedReader(raw, self._sock, self._budget))

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._budget.remaining())
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _BudgetedConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, budget: _Budget, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget

    def connect(self) -> None:
        # Connecting (and the TLS handshake) may take what is left, no more.
        self.timeout = self.budget.remaining()
        super().connect()
        self.sock = _BudgetedSocket(self.sock, self.budget)


class _BudgetedHTTPSConnection(_BudgetedConnection, http.client.HTTPSConnection):
    pass


class _BudgetedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Opens http and https URLs with budgeted connections (proxies from the environment still apply)."""

    def __init__(self, budget: _Budget) -> None:
        urllib.request.HTTPHandler.__init__(self)
        urllib.request.HTTPSHandler.__init__(self)
        self._budget = budget

    def do_open(self, http_class: Any, req: Any, **http_conn_args: Any) -> Any:
        tls = issubclass(http_class, http.client.HTTPSConnection)
        bounded = _BudgetedHTTPSConnection if tls else _BudgetedConnection

        def connection(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            return bounded(*args, budget=self._budget, **kwargs)

        return super().do_open(connection, req, **http_conn_args)


class _EveryAnswer(urllib.request.HTTPErrorProcessor):
    """Hands every status back as an answer (no HTTPError, no redirect followed): verify checks what
    viewers get, a 301 included."""

    def http_response(self, request: Any, response: Any) -> Any:
        return response

    https_response = http_response


def get(
    url: str,
    timeout: float,
    *,
    headers: Mapping[str, str] | None = None,
    max_body: int = MAX_BODY_BYTES,
    follow_redirects: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Response:
    """GET `url` within `timeout` seconds in all (redirects followed share them), keeping at most
    `max_body` bytes of the body. Never raises for what the network or the server does."""
    budget = _Budget(timeout, clock)
    target = url
    if not url.lower().startswith(("http://", "https://")):  # never file:, ftp: or data: (urllib opens them)
        return Response(0, {}, b"", one_line(f"{url!r} is not an http(s) URL"))
    for _ in range(MAX_REDIRECTS + 1):
        answer = _get_once(target, budget, headers or {}, max_body)
        location = answer.headers.get("location")
        if not (follow_redirects and answer.status in _REDIRECT_STATUSES and location):
            return answer
        try:
            target = urljoin(target, browser_url(location))
            scheme = urlsplit(target).scheme
        except ValueError:
            scheme = ""
        if scheme not in ("http", "https"):
            return Response(0, {}, b"", one_line(f"HTTP {answer.status} to {location!r}, not an http(s) URL"))
    return Response(0, {}, b"", f"more than {MAX_REDIRECTS} redirects")


def _get_once(url: str, budget: _Budget, headers: Mapping[str, str], max_body: int) -> Response:
    try:
        opener = urllib.request.build_opener(_BudgetedHandler(budget), _EveryAnswer())
        request = urllib.request.Request(browser_url(url), headers=dict(headers))
        with opener.open(request, timeout=budget.seconds) as answer:
            names = {name.lower(): value for name, value in answer.headers.items()}
            body, complete = _read_body(answer, max_body)
            return Response(int(answer.status), names, body, complete=complete)
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Response(0, {}, b"", describe(error, budget.seconds))


def _read_body(answer: http.client.HTTPResponse, max_body: int) -> tuple[bytes, bool]:
    """The body, at most `max_body` bytes of it, and whether that is all of it."""
    chunks: list[bytes] = []
    kept = 0
    while kept <= max_body:
        chunk = answer.read(min(_READ_CHUNK_BYTES, max_body + 1 - kept))
        if not chunk:
            # http.client returns b"" at a close before Content-Length bytes came, without raising.
            if answer.length:
                raise http.client.IncompleteRead(b"".join(chunks), answer.length)
            return b"".join(chunks), True
        chunks.append(chunk)
        kept += len(chunk)
    return b"".join(chunks)[:max_body], False


def describe(error: BaseException, timeout: float) -> str:
    """One line for what went wrong with a request of `timeout` seconds."""
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        return describe(error.reason, timeout)
    if isinstance(error, urllib.error.URLError):
        return one_line(str(error.reason))
    if isinstance(error, http.client.IncompleteRead):
        if error.expected is None:  # a chunked body: http.client knows only the chunk it was reading
            return "the body was cut short"
        return f"the body was cut short after {len(error.partial)} bytes, {error.expected} more expected"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, http.client.BadStatusLine):
        return one_line(f"not an HTTP status line: {error.args[0]!r}")
    if isinstance(error, http.client.LineTooLong):
        return one_line(f"malformed answer: {error}")
    if isinstance(error, TimeoutError):
        # Every read may take only what is left of the budget: any timeout means it is spent.
        return f"no complete answer within {timeout:g} s"
    if isinstance(error, http.client.HTTPException):
        return one_line(f"malformed answer: {error}")
    return one_line(f"{type(error).__name__}: {error}")
