"""moto on 127.0.0.1: the embedded AWS of the demo, the tests and the benchmarks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (any free port), in this process; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # One access-log line per request to moto would drown everything else.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
