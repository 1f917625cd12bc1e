"""`router.js` and `viewer_response.js` themselves, run under Node for `make demo --router
cloudfront-function`.

The code is rendered as the component deploys it (`edge_function.code.function_code`,
`viewer_response_code`: once with the canary's cookie, once without) and run by
`edge_function/node_driver.mjs`, the tests' driver, whose stand-in for the `cloudfront` module answers
`kvs().get()` from the store sent with each request: the demo sends its store's content, so the function
reads the live version on every request, as in CloudFront. Results come back in the Lambda@Edge shapes
`sitectl serve` handles (`edge_function.viewer_request` documents them); the viewer-response function's
as the headers it adds (`edge_function.viewer_response`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

from edge_function.code import LIVE_VERSION_KEY, function_code, viewer_response_code
from edge_lambda.handler import make_response
from edge_lambda.routes import RouteSettings

DRIVER = Path(__file__).resolve().parents[2] / "edge_function" / "node_driver.mjs"
# Any id will do: the stand-in store answers whatever id the code opens.
DEMO_STORE_ID = "demo-pointer-store"


def node_binary() -> str | None:
    return shutil.which("node")


# The viewer-response function as rendered with and without a canary configured.
_RESPONSE_FUNCTIONS = {True: "viewer-response-canary", False: "viewer-response"}


class NodeFunction:
    """One Node process running both functions; callable like `edge_function.viewer_request`, and its
    `viewer_response` like `edge_function.viewer_response`."""

    def __init__(self, node: str, workdir: Path, settings: RouteSettings) -> None:
        code = workdir / "router.js"
        code.write_text(function_code(DEMO_STORE_ID, settings), encoding="utf-8")
        functions = [f"router={code}"]
        for canary, name in _RESPONSE_FUNCTIONS.items():
            path = workdir / f"{name}.js"
            path.write_text(viewer_response_code(canary, DEMO_STORE_ID), encoding="utf-8")
            functions.append(f"{name}={path}")
        self._process = subprocess.Popen(
            [node, str(DRIVER), *functions],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        # The preview server answers on several threads; the driver answers one line per line.
        self._lock = threading.Lock()
        self._read()  # {"opened": [...]}: the code has loaded
        self.reads = 0
        """The store reads (kvs().get() calls) of the router's last run."""
        self.response_reads = 0
        """Those of the viewer-response function's last run."""

    def _read(self) -> dict[str, Any]:
        line = cast(IO[str], self._process.stdout).readline()
        if not line:
            raise RuntimeError(f"node exited with {self._process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def __call__(
        self,
        request: Mapping[str, Any],
        store_value: str | None,
        settings: RouteSettings,
        rule_keys: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        # `settings` were rendered into the code at start (the same the server passes).
        store = {**(rule_keys or {})}
        if store_value is not None:
            store[LIVE_VERSION_KEY] = store_value
        result = self._run("router", store, _viewer_request_event(request))
        if "statusCode" not in result:
            return {**request, "uri": result["uri"]}
        headers = {name: entry["value"] for name, entry in result.get("headers", {}).items()}
        headers.pop("content-type", None)  # make_response sets the same
        return make_response(int(result["statusCode"]), result["body"]["data"], _cased(headers))

    def viewer_response(
        self, request: Mapping[str, Any], set_split_cookie: bool, store: Mapping[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """The headers `viewer_response.js` adds to an answer to `request` when the store holds `store`
        (the build's header rules; Set-Cookie as CloudFront writes `response.cookies`: `name=value;
        attributes`)."""
        event = {
            **_viewer_request_event(request),
            "context": {"eventType": "viewer-response"},
            "response": {"statusCode": 200, "statusDescription": "OK", "headers": {}, "cookies": {}},
        }
        result = self._run(_RESPONSE_FUNCTIONS[set_split_cookie], store or {}, event)
        added = [(name, entry["value"]) for name, entry in result.get("headers", {}).items()]
        for name, cookie in result.get("cookies", {}).items():
            attributes = cookie.get("attributes")
            added.append(
                ("Set-Cookie", f"{name}={cookie['value']}" + (f"; {attributes}" if attributes else ""))
            )
        return added

    def _run(self, function: str, store: Mapping[str, str], event: dict[str, Any]) -> dict[str, Any]:
        message = {"function": function, "store": store, "event": event}
        with self._lock:
            stdin = cast(IO[str], self._process.stdin)
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
            answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"the function threw: {answer['error']}")
        if function == "router":
            self.reads = int(answer["reads"])
        else:
            self.response_reads = int(answer["reads"])
        result: dict[str, Any] = answer["result"]
        return result

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
    headers: dict[str, Any] = {}
    cookies: dict[str, Any] = {}
    for name, entries in request.get("headers", {}).items():
        if name == "cookie":
            for pair in "; ".join(entry["value"] for entry in entries).split(";"):
                key, equals, value = pair.strip().partition("=")
                if equals and key not in cookies:  # the first of several, as CloudFront's `value`
                    cookies[key] = {"value": value}
        elif entries:
            headers[name] = {"value": entries[0]["value"]}
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": request.get("clientIp", "127.0.0.1")},
        "request": {
            "method": request.get("method"),
            "uri": request.get("uri"),
            "querystring": querystring,
            "headers": headers,
            "cookies": cookies,
        },
    }
