"""A loopback HTTP server answering each request with scripted raw bytes, however malformed: for the
tests of what `sitectl verify` and `status` make of what a server sends. It stops with its block."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Dribble:
    """Send `data` one byte at a time, `interval` seconds apart, until it is sent or the client hangs up."""

    data: bytes
    interval: float = 0.002


@dataclass(frozen=True)
class Held:
    """Send `data`, then keep the connection open until the client hangs up (a body that goes on)."""

    data: bytes


Answer = bytes | Dribble | Held


def page(body: bytes, headers: Mapping[str, str] | None = None, status: str = "200 OK") -> bytes:
    """A well-formed answer with a Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class RawServer:
    url: str
    answers: dict[str, Answer]
    """Request target (as sent) -> what to send back; any other target gets NOT_FOUND."""
    requested: list[str] = field(default_factory=list)


def _read_head(connection: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def _answer(server: RawServer, connection: socket.socket, stop: threading.Event) -> None:
    with connection:
        connection.settimeout(5)
        try:
            words = _read_head(connection).split(b"\r\n", 1)[0].split()
            target = words[1].decode("latin-1") if len(words) > 1 else ""
            server.requested.append(target)
            answer = server.answers.get(target, NOT_FOUND)
            if isinstance(answer, Dribble):
                for byte in answer.data:
                    if stop.wait(answer.interval):
                        return
                    connection.sendall(bytes([byte]))
            elif isinstance(answer, Held):
                connection.sendall(answer.data)
                while not stop.is_set() and connection.recv(4096):
                    pass
            else:
                connection.sendall(answer)
        except OSError:
            return  # the client hung up: what it made of the answer is the test's business


@contextmanager
def raw_http_server(answers: Mapping[str, Answer]) -> Iterator[RawServer]:
    """A server on 127.0.0.1 answering `answers` (one connection per request) for the block."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = RawServer(f"http://127.0.0.1:{listener.getsockname()[1]}", dict(answers))
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=_answer, args=(server, connection, stop), daemon=True)
            worker.start()
            workers.append(worker)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        stop.set()
        acceptor.join()
        listener.close()
        for worker in workers:
            worker.join()
