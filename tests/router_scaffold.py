"""Both edge routers behind one call, for the shared rule table (`tests/fixtures/edge_rules.json`):
`python_answer` runs the Lambda@Edge handler's whole origin-request flow, `NodeRouter.answer` runs the
CloudFront Function under Node (`edge_function/node_driver.mjs` says what stands in for CloudFront).
Both return an `Answer`: the rewritten URI and query string, or a generated response's status,
description, body and Allow header, so that two answers compare with `==`."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, cast

from botocore.exceptions import ClientError

from edge_function.code import LIVE_VERSION_KEY, Canary, function_code, parse_canary, store_value
from edge_function.viewer_bucket import SPLIT_COOKIE, viewer_bucket
from edge_function.viewer_request import viewer_request
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache, is_response
from edge_lambda.routes import REDIRECT_STATUSES, TRAILING_SLASH_MODES, RouteSettings, VersionRoutes
from edge_lambda.version_routes import RoutesCache
from tests.clock import ManualClock
from tests.edge_scaffold import PARAMETER_NAME, edge_settings, origin_request_event, request_of

ROOT = Path(__file__).resolve().parent.parent
RULES_FILE = ROOT / "tests" / "fixtures" / "edge_rules.json"
DRIVER = ROOT / "edge_function" / "node_driver.mjs"
NODE = shutil.which("node")
# The viewer of every case (the documented origin-request event's): its bucket without a cookie is 47.
VIEWER_IP = "203.0.113.178"
USER_AGENT = "Amazon CloudFront"
# Rendered into the function as the store's id; the stub records what `cf.kvs()` was given.
STORE_ID = "8aa76c93-3198-462c-aaf6-0123456789ab"

Answer = dict[str, Any]


@dataclass(frozen=True)
class Case:
    method: str
    uri: str
    querystring: str
    spa_fallback: bool
    version: str | None
    """The live-version pointer's value; None: there is no pointer (SSM parameter or KVS key)."""
    files: tuple[str, ...] | None = None
    """The live version's files (its manifest); None: the routers do not know them."""
    fingerprinted: tuple[str, ...] | None = None
    """Those its upload took as fingerprinted; None: as the strict name rule says (an old manifest)."""
    trailing_slash: str = "auto"
    redirect_status: int = 308
    canary: str | None = None
    """A canary's version in the store's value (the function only; Lambda@Edge refuses canaries)."""
    canary_percent: float = 0
    canary_files: tuple[str, ...] | None = None
    cookie: str | None = None
    """The viewer's `site-bucket` cookie; None: it sends none (its bucket is the hash of its IP and agent)."""

    @property
    def settings(self) -> RouteSettings:
        return RouteSettings(self.trailing_slash, self.redirect_status, self.spa_fallback)

    def routes(self) -> VersionRoutes | None:
        if self.files is None:
            return None
        return VersionRoutes.from_paths(self.files, self.spa_fallback, self.fingerprinted)

    def store_value(self) -> str | None:
        """The store's `live-version` value as a release writes it (the version alone for a pointer
        that is not a valid version, since the release writes none)."""
        if self.version is None or not layout.is_valid_version(self.version):
            return self.version
        routes = self.routes()
        if self.canary is None:
            return store_value(self.version, routes)
        canary_routes = (
            None
            if self.canary_files is None
            else VersionRoutes.from_paths(self.canary_files, self.spa_fallback, None)
        )
        return store_value(
            self.version,
            routes or VersionRoutes.unknown(self.spa_fallback),
            Canary(self.canary, self.canary_percent, canary_routes),
        )

    def served_by_canary(self) -> bool:
        """Whether the function serves this viewer the canary (held against both routers' code)."""
        value = self.store_value()
        canary = None if value is None else parse_canary(value)
        if canary is None or not layout.is_valid_version(str(self.version)):
            return False
        return viewer_bucket(self.cookie, VIEWER_IP, USER_AGENT) < canary.percent

    def as_canary(self) -> Case:
        """The same request to a stable version that is this case's canary."""
        return replace(self, version=self.canary, files=self.canary_files, fingerprinted=None, canary=None)


def _text(spec: str | list[list[Any]]) -> str:
    """A table string: literal, or [text, repeat] pieces joined."""
    if isinstance(spec, str):
        return spec
    return "".join(str(text) * int(count) for text, count in spec)


def load_rules() -> dict[str, Any]:
    rules: dict[str, Any] = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return rules


LAMBDA_EDGE = "lambda-edge"
CLOUDFRONT_FUNCTION = "cloudfront-function"


def table_cases(router: str = LAMBDA_EDGE) -> list[tuple[Case, dict[str, Any]]]:
    """Every row of the table as (case, expect) for `router`, with defaults filled in and pieces joined."""
    rules = load_rules()
    rows = []
    for row in rules["cases"]:
        fields = {**rules["defaults"], **row}
        case = Case(
            method=fields["method"],
            uri=_text(fields["uri"]),
            querystring=fields["querystring"],
            spa_fallback=fields["spaFallback"],
            version=fields["version"],
            files=None if fields.get("files") is None else tuple(fields["files"]),
            fingerprinted=None if fields.get("fingerprinted") is None else tuple(fields["fingerprinted"]),
            trailing_slash=fields.get("trailingSlash", "auto"),
            redirect_status=fields.get("redirectStatus", 308),
            canary=fields.get("canary"),
            canary_percent=fields.get("canaryPercent", 0),
            canary_files=None if fields.get("canaryFiles") is None else tuple(fields["canaryFiles"]),
            cookie=fields.get("cookie"),
        )
        expect = dict(
            row.get("cloudfrontFunction", row["expect"]) if router == CLOUDFRONT_FUNCTION else row["expect"]
        )
        for name in ("uri", "location"):
            if name in expect:
                expect[name] = _text(expect[name])
        rows.append((case, expect))
    return rows


def case_id(case: Case) -> str:
    uri = case.uri if len(case.uri) < 40 else f"{case.uri[:20]}...({len(case.uri)} chars)"
    shown = f"{case.method} {uri!r} spa={case.spa_fallback} version={case.version}"
    if case.files is not None:
        shown += f" files={len(case.files)}:{case.files[1] if len(case.files) > 1 else ''}"
    if (case.trailing_slash, case.redirect_status) != ("auto", 308):
        shown += f" trailingSlash={case.trailing_slash} {case.redirect_status}"
    if case.canary is not None:
        shown += f" canary={case.canary}@{case.canary_percent}%"
        shown += f" files={len(case.canary_files)}" if case.canary_files is not None else ""
    if case.cookie is not None:
        shown += f" cookie={case.cookie!r}"
    return shown


# --- the Lambda@Edge handler -----------------------------------------------------------------------


class PointerStub:
    """GetParameter as SSM answers it for one parameter holding `value` (None: no such parameter)."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 (boto3's argument name)
        if Name != PARAMETER_NAME or self.value is None:
            error = {"Error": {"Code": "ParameterNotFound", "Message": ""}}
            raise ClientError(cast(Any, error), "GetParameter")
        return {"Parameter": {"Name": Name, "Type": "String", "Value": self.value}}


def python_answer(case: Case) -> Answer:
    """The handler's answer in a fresh container (no pointer read yet, so no stale version to keep)."""
    settings = edge_settings(
        spa_fallback=case.spa_fallback,
        trailing_slash=case.trailing_slash,
        redirect_status=case.redirect_status,
    )
    pointer = PointerCache(
        settings, ssm_client=cast(Any, PointerStub(case.version)), now=ManualClock(), log=lambda *a, **k: None
    )
    files = case.files
    load = None if files is None else lambda version: cast(VersionRoutes, case.routes())
    version_routes = RoutesCache(load, case.spa_fallback)
    event = origin_request_event(case.uri, method=case.method, querystring=case.querystring)
    result = OriginRequestHandler(settings, pointer, version_routes).handle_request(request_of(event))
    return _answer(result)


def _answer(result: dict[str, Any]) -> Answer:
    if not is_response(result):
        return {"uri": result["uri"], "querystring": result["querystring"]}
    headers = result["headers"]
    return {
        "status": int(result["status"]),
        "description": result["statusDescription"],
        "body": result["body"],
        "allow": headers["allow"][0]["value"] if "allow" in headers else None,
        "location": headers["location"][0]["value"] if "location" in headers else None,
        "cache": headers["cache-control"][0]["value"] if "cache-control" in headers else None,
    }


def python_function_answer(case: Case) -> Answer:
    """The answer of `edge_function.viewer_request`, the function's rules in Python (for serve)."""
    request = request_of(origin_request_event(case.uri, method=case.method, querystring=case.querystring))
    if case.cookie is not None:
        request["headers"]["cookie"] = [{"key": "Cookie", "value": f"{SPLIT_COOKIE}={case.cookie}"}]
    result = viewer_request(request, case.store_value(), case.settings)
    return _answer(result)


def function_expectation(handler_answer: Answer, case: Case) -> Answer:
    """What the CloudFront Function must answer where the handler answered `handler_answer`: the same,
    except that a fingerprinted path the handler routes in the live version comes from the shared area
    (the handler reads it there only on the fallback origin), and a viewer of a canary gets the answer
    the handler gives for the canary's version."""
    if case.served_by_canary():
        row = "description" not in handler_answer and "querystring" not in handler_answer
        handler_answer = python_answer(case.as_canary())
        case = case.as_canary()
        if row:  # a table row: the rewritten URI, or the redirect's status and location
            handler_answer = (
                {"uri": handler_answer["uri"]}
                if "uri" in handler_answer
                else {"status": handler_answer["status"], "location": handler_answer["location"]}
            )
    routed = "uri" in handler_answer or handler_answer.get("status") in REDIRECT_STATUSES
    routes = case.routes() or VersionRoutes.unknown(case.spa_fallback)
    if not routed or not routes.serves_shared(case.uri):
        return handler_answer
    shared = {"uri": "/" + layout.shared_asset_key(case.uri)}
    # an answer (not a table row) carries the query string
    return (
        {**shared, "querystring": case.querystring}
        if "description" in handler_answer or "querystring" in handler_answer
        else shared
    )


# --- the CloudFront Function ----------------------------------------------------------------------


def viewer_request_event(case: Case) -> dict[str, Any]:
    """A CloudFront Functions viewer-request event (query string as an object of {value} entries)."""
    querystring: dict[str, Any] = {}
    for pair in filter(None, case.querystring.split("&")):
        name, _, value = pair.partition("=")
        querystring[name] = {"value": value}
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request", "distributionId": "EDFDVBD6EXAMPLE"},
        "viewer": {"ip": VIEWER_IP},
        "request": {
            "method": case.method,
            "uri": case.uri,
            "querystring": querystring,
            "headers": {
                "host": {"value": "d111111abcdef8.cloudfront.net"},
                "user-agent": {"value": USER_AGENT},
            },
            "cookies": {} if case.cookie is None else {SPLIT_COOKIE: {"value": case.cookie}},
        },
    }


def _function_name(settings: RouteSettings) -> str:
    return (
        f"{'spa' if settings.spa_fallback else 'plain'}-{settings.trailing_slash}-{settings.redirect_status}"
    )


class NodeRouter:
    """One Node process running the function rendered for every combination of routing settings."""

    def __init__(self, directory: Path) -> None:
        assert NODE is not None
        arguments = []
        for spa_fallback in (False, True):
            for trailing_slash in TRAILING_SLASH_MODES:
                for status in REDIRECT_STATUSES:
                    settings = RouteSettings(trailing_slash, status, spa_fallback)
                    name = _function_name(settings)
                    path = directory / f"router-{name}.js"
                    path.write_text(function_code(STORE_ID, settings), encoding="utf-8")
                    arguments.append(f"{name}={path}")
        self._process = subprocess.Popen(
            [NODE, str(DRIVER), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.opened_stores: list[str] = self._read()["opened"]

    def _read(self) -> dict[str, Any]:
        line = cast(IO[str], self._process.stdout).readline()
        if not line:
            raise RuntimeError(f"node exited with {self._process.wait()}: see its stderr above")
        message: dict[str, Any] = json.loads(line)
        return message

    def result(self, case: Case) -> dict[str, Any]:
        """The function's raw return value for `case` (a request or a response object)."""
        value = case.store_value()
        store: Mapping[str, str] = {} if value is None else {LIVE_VERSION_KEY: value}
        message = {
            "function": _function_name(case.settings),
            "store": store,
            "event": viewer_request_event(case),
        }
        stdin = cast(IO[str], self._process.stdin)
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise AssertionError(f"the function threw for {case_id(case)}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    def answer(self, case: Case) -> Answer:
        result = self.result(case)
        if "statusCode" not in result:
            # the query string goes back to its table form only when the function left it as sent
            querystring = result["querystring"]
            if querystring == viewer_request_event(case)["request"]["querystring"]:
                querystring = case.querystring
            return {"uri": result["uri"], "querystring": querystring}
        headers = result["headers"]
        return {
            "status": result["statusCode"],
            "description": result["statusDescription"],
            "body": result["body"]["data"],
            "allow": headers["allow"]["value"] if "allow" in headers else None,
            "location": headers["location"]["value"] if "location" in headers else None,
            "cache": headers["cache-control"]["value"] if "cache-control" in headers else None,
        }

    def close(self) -> None:
        cast(IO[str], self._process.stdin).close()
        self._process.wait(timeout=10)


class NodeFunctions:
    """The rendered functions under Node (edge_function/node_driver.mjs), as CloudFront runs them."""

    def __init__(self, directory: Path, codes: dict[str, str]) -> None:
        assert NODE is not None
        arguments = []
        for name, code in codes.items():
            path = directory / f"{name}.js"
            path.write_text(code, encoding="utf-8")
            arguments.append(f"{name}={path}")
        self._process = subprocess.Popen(
            [NODE, str(DRIVER), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()

    def _read(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(cast(IO[str], self._process.stdout).readline())
        return message

    def run(
        self, function: str, event: dict[str, Any], store: dict[str, str] | None = None
    ) -> dict[str, Any]:
        stdin = cast(IO[str], self._process.stdin)
        stdin.write(json.dumps({"function": function, "store": store or {}, "event": event}) + "\n")
        stdin.flush()
        answer = self._read()
        assert "error" not in answer, answer["error"]
        self.reads: int = answer["reads"]
        """The store reads (kvs().get() calls) of the last run."""
        result: dict[str, Any] = answer["result"]
        return result

    def close(self) -> None:
        cast(IO[str], self._process.stdin).close()
        self._process.wait(timeout=10)
