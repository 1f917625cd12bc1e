"""`router.js` itself, run under Node for `make demo --router cloudfront-function`.

The code is rendered as the component deploys it (`edge_function.code.function_code`) and run by
`edge_function/node_driver.mjs`, the tests' driver, whose stand-in for the `cloudfront` module answers
`kvs().get()` from the store sent with each request: the demo sends its store's content, so the function
reads the live version on every request, as in CloudFront. Results come back in the Lambda@Edge shapes
`sitectl serve` handles (`edge_function.viewer_request` documents them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

from edge_function.code import LIVE_VERSION_KEY, function_code
from edge_lambda.handler import make_response
from edge_lambda.routes import RouteSettings

DRIVER = Path(__file__).resolve().parents[2] / "edge_function" / "node_driver.mjs"
# Any id will do: the stand-in store answers whatever id the code opens.
DEMO_STORE_ID = "demo-pointer-store"


def node_binary() -> str | None:
    return shutil.which("node")


class NodeFunction:
    """One Node process running the function; callable like `edge_function.viewer_request`."""

    def __init__(self, node: str, workdir: Path, settings: RouteSettings) -> None:
        code = workdir / "router.js"
        code.write_text(function_code(DEMO_STORE_ID, settings), encoding="utf-8")
        self._process = subprocess.Popen(
            [node, str(DRIVER), f"router={code}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        # The preview server answers on several threads; the driver answers one line per line.
        self._lock = threading.Lock()
        self._read()  # {"opened": [...]}: the code has loaded

    def _read(self) -> dict[str, Any]:
        line = cast(IO[str], self._process.stdout).readline()
        if not line:
            raise RuntimeError(f"node exited with {self._process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def __call__(
        self, request: Mapping[str, Any], store_value: str | None, settings: RouteSettings
    ) -> dict[str, Any]:
        # `settings` were rendered into the code at start (the same the server passes).
        store = {} if store_value is None else {LIVE_VERSION_KEY: store_value}
        message = {"function": "router", "store": store, "event": _viewer_request_event(request)}
        with self._lock:
            stdin = cast(IO[str], self._process.stdin)
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
            answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"the function threw: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        if "statusCode" not in result:
            return {**request, "uri": result["uri"]}
        headers = {name: entry["value"] for name, entry in result.get("headers", {}).items()}
        headers.pop("content-type", None)  # make_response sets the same
        return make_response(int(result["statusCode"]), result["body"]["data"], _cased(headers))

    def close(self) -> None:
        cast(IO[str], self._process.stdin).close()
        self._process.wait(timeout=10)


def _cased(headers: Mapping[str, str]) -> dict[str, str]:
    return {"-".join(part.capitalize() for part in name.split("-")): value for name, value in headers.items()}


def _viewer_request_event(request: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudFront Functions event for a request in the Lambda@Edge shape serve builds."""
    querystring: dict[str, Any] = {}
    for pair in filter(None, str(request.get("querystring", "")).split("&")):
        name, _, value = pair.partition("=")
        querystring[name] = {"value": value}
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": request.get("clientIp", "127.0.0.1")},
        "request": {
            "method": request.get("method"),
            "uri": request.get("uri"),
            "querystring": querystring,
            "headers": {},
            "cookies": {},
        },
    }
