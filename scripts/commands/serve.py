"""`sitectl serve`: a local HTTP server that answers like CloudFront in front of the site bucket.

It emulates the stack's router (`--router`, default: the stack's `router` config). This docstring
describes `lambda-edge`; with `cloudfront-function` each request goes once through the function's rules
(`edge_function.viewer_request`, held equal to `router.js` by the rule table) with the live version read
from the pointer on every request, as the function reads its store, and the origin group and error page
work as `distribution_flow.viewer_request_answer` says. A canary (`--canary VERSION --percent P`, or the
stack's running one, read from its record beside the pointer on every request) rides in the store value
as a release writes it, so each viewer gets the version its bucket says (its `site-bucket` cookie, else
the hash of its address and User-Agent), and the viewer-response function's rules
(`edge_function.viewer_response`) set the cookie on answers below 400.

Each request becomes a CloudFront origin-request event and goes through the real edge handler
(`edge_lambda.handler`), with the same settings file the component bundles. What the handler returns
decides the answer: a generated response (its 400/503 refusals) is sent as is; a rewritten request is
fetched from the bucket with S3 GetObject on the rewritten URI, passing on the object's Content-Type,
Cache-Control and ETag. A missing key answers 403, as S3 answers CloudFront, which may not list the
bucket. Like the distribution, that 403 fails over to the fallback origin (the edge runs again and
may serve a shared fingerprinted asset), and a miss there answers 404 with the `/404.html` page,
fetched through the edge (`scripts/commands/distribution_flow.py`); a build's 404 rule answers 404
with its own page.

It talks to whatever boto3 is configured for: a real account, or moto when AWS_ENDPOINT_URL names a
moto server (that is how `make demo` runs it).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click
from botocore.exceptions import BotoCoreError, ClientError

from components import release_guard
from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE, ROUTERS, host_redirect
from edge_function.code import LIVE_VERSION_KEY, Canary, parse_canary, rule_key_counts, store_value
from edge_function.rule_keys import CompiledRules, compile_rules, rule_key
from edge_function.viewer_request import FALLBACK_ORIGIN_PATH, viewer_request
from edge_function.viewer_response import viewer_response
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, is_response, response_with_rules, rewrite_request
from edge_lambda.routes import DEFAULT_REDIRECT_STATUS, DEFAULT_TRAILING_SLASH, RouteSettings, VersionRoutes
from edge_lambda.settings import CONFIG_ENV_VAR, EdgeSettings, load_settings
from edge_lambda.ssm_client import PointerFetchError, create_ssm_client, fetch_parameter
from edge_lambda.version_routes import RoutesCache
from scripts.commands.distribution_flow import (
    NO_HEADERS,
    EdgeAnswer,
    OriginAnswer,
    ViewerHeaders,
    distribution_answer,
    host_redirect_answer,
    viewer_request_answer,
)
from scripts.commands.errors import RefusedError, SitectlError, aws_errors, debugging, error_code
from scripts.commands.options import check_version_id, did_you_mean, version_option
from scripts.commands.project import short_stack_name
from scripts.commands.site import DEFAULT_PARAMETER_REGION, Site, site_options
from scripts.commands.stack import find_project_root
from scripts.versionstore import store as storage

log = logging.getLogger(__name__)

# What the edge function is: an origin-request event in, a request or a generated response out.
EdgeFunction = Callable[[dict[str, Any], object], dict[str, Any]]

ViewerRequestFunction = Callable[
    [Mapping[str, Any], str | None, RouteSettings, Mapping[str, str]], dict[str, Any]
]
"""(request, the store's live-version value, routing settings, the store's rule keys) -> the rewritten
request or a generated response, as `edge_function.viewer_request.viewer_request` answers (the demo can
pass router.js under Node)."""
LiveVersionReader = Callable[[], str | None]
"""() -> the live version as the CloudFront Function's store gives it (the version alone, or the whole
store value with its routes and canary); None: missing or unreadable."""
StoreReader = Callable[[str], str | None]
"""key -> its value in the CloudFront Function's store (the demo's), None when it is not there."""
CanaryReader = Callable[[], tuple[str, int] | None]
"""() -> the running canary (version, percent), None when none runs."""
ViewerResponseFunction = Callable[[Mapping[str, Any], bool, Mapping[str, str]], list[tuple[str, str]]]
"""(request, a canary is configured, the store's keys) -> the headers the viewer-response function adds, as
`edge_function.viewer_response.viewer_response` answers (the demo can pass viewer_response.js under Node)."""

DEFAULT_PORT = 8080
# A preview of one version never reads the pointer; the edge settings still name one.
PREVIEW_PARAMETER = "/sitectl/serve/preview-never-reads-the-pointer"
# Pulumi.yaml's default for edgeCacheTtlSeconds, for a --parameter without a stack.
DEFAULT_CACHE_TTL_SECONDS = 5
# The headers of an S3 object a viewer gets through CloudFront, in the casing S3 sends them.
_PASSED_OBJECT_HEADERS = (
    ("ContentType", "Content-Type"),
    ("CacheControl", "Cache-Control"),
    ("ETag", "ETag"),
    ("LastModified", "Last-Modified"),
    ("ContentEncoding", "Content-Encoding"),
    ("AcceptRanges", "Accept-Ranges"),
    ("ContentRange", "Content-Range"),
)
_USER_METADATA = "x-amz-meta-"
# A request body nothing here reads (a GET's, or a POST the edge refuses) is read and dropped up to
# this size, so that the connection can carry the next request; a larger one is refused (413).
MAX_DISCARDED_REQUEST_BODY_BYTES = 1024 * 1024
_COPY_CHUNK_BYTES = 64 * 1024
# One byte range, as RFC 9110 writes it: `bytes=0-99`, `bytes=100-`, `bytes=-100`.
_BYTE_RANGE = re.compile(r"\A[ \t]*bytes[ \t]*=[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*\Z", re.IGNORECASE)


def origin_request_event(
    method: str,
    raw_path: str,
    *,
    bucket: str,
    bucket_region: str,
    client_ip: str = "127.0.0.1",
    fallback: bool = False,
) -> dict[str, Any]:
    """The origin-request event CloudFront would send the edge function for this viewer request, to
    the primary origin or (`fallback`) to the origin group's fallback origin and its custom header.

    CloudFront passes the URI still percent-encoded and the query string without its `?`; for an S3
    origin the Host header is the bucket's regional domain, not the viewer's, and with the default
    origin request policy the viewer's own headers stay behind.
    """
    # Origin-form (`/path?query`) as browsers send it; urlsplit would read `//x` as a host name.
    if raw_path.startswith(("http://", "https://")):
        parts = urlsplit(raw_path)
        uri, query = parts.path, parts.query
    else:
        uri, _, query = raw_path.partition("?")
    origin_domain = f"{bucket}.s3.{bucket_region}.amazonaws.com"
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": "localhost",
                        "distributionId": "LOCALPREVIEW",
                        "eventType": "origin-request",
                        "requestId": uuid.uuid4().hex,
                    },
                    "request": {
                        "clientIp": client_ip,
                        "headers": {
                            "x-forwarded-for": [{"key": "X-Forwarded-For", "value": client_ip}],
                            "user-agent": [{"key": "User-Agent", "value": "Amazon CloudFront"}],
                            "host": [{"key": "Host", "value": origin_domain}],
                        },
                        "method": method,
                        "origin": {
                            "s3": {
                                "authMethod": "none",
                                "customHeaders": _fallback_headers() if fallback else {},
                                "domainName": origin_domain,
                                "path": "",
                                "region": bucket_region,
                            }
                        },
                        "querystring": query,
                        "uri": uri or "/",
                    },
                }
            }
        ]
    }


def _fallback_headers() -> dict[str, list[dict[str, str]]]:
    name = layout.FALLBACK_ORIGIN_HEADER
    return {name: [{"key": name, "value": layout.FALLBACK_ORIGIN_VALUE}]}


def generated_response_answer(response: dict[str, Any]) -> EdgeAnswer:
    """A response generated by the edge function, as CloudFront would send it to the viewer."""
    headers = [
        (entry.get("key", name), entry["value"])
        for name, entries in response.get("headers", {}).items()
        for entry in entries
    ]
    raw_body = response.get("body", "")
    body = (
        base64.b64decode(raw_body)
        if response.get("bodyEncoding") == "base64"
        else str(raw_body).encode("utf-8")
    )
    return EdgeAnswer(int(response["status"]), headers, body)


def _text_answer(status: HTTPStatus, message: str) -> EdgeAnswer:
    return EdgeAnswer(
        status.value,
        [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
        f"{status.value} {status.phrase}: {message}\n".encode(),
    )


def single_byte_range(header: str | None) -> str | None:
    """The Range header to pass to S3, or None to ask for the whole object.

    S3 answers one byte range per GetObject (206 with Content-Range, 416 InvalidRange when it starts
    past the end); it "doesn't support retrieving multiple ranges of data per GET request" and, as
    RFC 9110 allows, answers a Range it cannot use (several ranges, another unit, an invalid range such
    as `bytes=5-1`) with the whole object. So does this.
    """
    match = _BYTE_RANGE.match(header or "")
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if first and last and int(first) > int(last):
        return None
    return f"bytes={first}-{last}"


class Origin:
    """The site bucket, read the way CloudFront reads it through Origin Access Control."""

    def __init__(self, bucket: str, s3_client: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3_client
        self._lock = threading.Lock()

    @property
    def s3(self) -> Any:
        # Created on first use: under moto the mock must be running before the client exists.
        with self._lock:
            if self._s3 is None:
                import boto3  # only here: it is slow to import

                self._s3 = boto3.client("s3")
            return self._s3

    def region(self) -> str:
        """The bucket's region, for the event's origin; the client's own when S3 will not say."""
        try:
            location = self.s3.get_bucket_location(Bucket=self.bucket).get("LocationConstraint")
        except ClientError as error:
            if error_code(error) != "AccessDenied":
                raise
            return str(self.s3.meta.region_name)
        # S3 reports us-east-1 as no constraint at all.
        return location or "us-east-1"

    def fetch(self, method: str, uri: str, viewer: ViewerHeaders = NO_HEADERS) -> EdgeAnswer:
        """The bucket's answer to GetObject (HeadObject for HEAD) of the key `uri` names, with the
        viewer's If-None-Match and Range; the body is left in the bucket's stream (`EdgeAnswer.stream`)."""
        key = unquote(uri).lstrip("/")
        if not key:
            return _text_answer(HTTPStatus.FORBIDDEN, "the edge function left the URI empty")
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        byte_range = single_byte_range(viewer.byte_range)
        ranged = {**args, "Range": byte_range} if byte_range else args
        if_none_match = viewer.if_none_match
        try:
            # A revalidation is decided on the headers alone, as CloudFront does: no body is read.
            head = self.s3.head_object(**args) if if_none_match else None
            if head is not None and if_none_match and etag_matches(if_none_match, str(head.get("ETag", ""))):
                # S3 sends an object's user metadata (the version marker) with a 304 too.
                metadata = head.get("Metadata", {})
                kept = [(f"{_USER_METADATA}{name}", value) for name, value in metadata.items()]
                return EdgeAnswer(304, [("ETag", str(head["ETag"])), *kept], b"")
            # HeadObject takes a Range too: only Content-Length (and Content-Range) change.
            obj = self.s3.head_object(**ranged) if method == "HEAD" else self.s3.get_object(**ranged)
        except ClientError as error:
            code = error_code(error)
            if code in ("NoSuchKey", "404", "NotFound"):
                # S3 answers CloudFront 403 for a missing key: it may not list the bucket (GetObject,
                # "Permissions"; components/site.py), whatever this reader's own rights.
                return _text_answer(HTTPStatus.FORBIDDEN, f"no object {key!r} in the bucket")
            if code in ("InvalidRange", "416"):  # HeadObject's errors have no body, only the status
                return self._unsatisfiable(key, viewer.byte_range or "")
            raise
        headers: list[tuple[str, str]] = []
        for field, header in _PASSED_OBJECT_HEADERS:
            value = obj.get(field)
            if value is None:
                continue
            if header == "Last-Modified":
                value = format_datetime(value.astimezone(UTC), usegmt=True)
            headers.append((header, str(value)))
        # CloudFront passes an object's user metadata to viewers as S3 sends it (the version marker).
        headers += [(f"{_USER_METADATA}{key}", value) for key, value in obj.get("Metadata", {}).items()]
        headers.append(("Content-Length", str(obj["ContentLength"])))
        status = 206 if obj.get("ContentRange") else 200
        return EdgeAnswer(status, headers, b"", stream=None if method == "HEAD" else obj["Body"])

    def _unsatisfiable(self, key: str, byte_range: str) -> EdgeAnswer:
        """S3's 416 (InvalidRange), with the object's length in Content-Range as RFC 9110 asks."""
        size = self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        answer = _text_answer(
            HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, f"{byte_range!r}: the object has {size} bytes"
        )
        return EdgeAnswer(answer.status, [*answer.headers, ("Content-Range", f"bytes */{size}")], answer.body)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of entity tags compared weakly (`W/"x"` matches `"x"`)."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/").strip()
    return any(tag.strip().removeprefix("W/").strip() == wanted for tag in if_none_match.split(","))


class PreviewServer(ThreadingHTTPServer):
    """Serves the bucket through the edge function, on 127.0.0.1 only."""

    daemon_threads = True

    def __init__(
        self,
        origin: Origin,
        edge_function: EdgeFunction,
        *,
        bucket_region: str,
        host: str = "127.0.0.1",
        port: int = 0,
        failover: bool = True,
        live_version: LiveVersionReader | None = None,
        route_settings: RouteSettings | None = None,
        version_routes: RoutesCache | None = None,
        viewer_function: ViewerRequestFunction = viewer_request,
        canary: CanaryReader | None = None,
        viewer_response_function: ViewerResponseFunction = viewer_response,
        host_redirects: Mapping[str, str] | None = None,
        store: StoreReader | None = None,
    ) -> None:
        self.origin = origin
        self.edge_function = edge_function
        self.bucket_region = bucket_region
        self.failover = failover
        """False: no origin group and no custom error responses (as before skew protection)."""
        self.live_version = live_version
        """Set: the cloudfront-function router, reading the live version this way on every request."""
        self.route_settings = route_settings or RouteSettings()
        self.version_routes = version_routes or RoutesCache(None, self.route_settings.spa_fallback)
        """The function's routes of each version, as the release writes them into its store value."""
        self.viewer_function = viewer_function
        self._rule_keys_of: dict[str, CompiledRules] = {}
        self.canary = canary
        """Set: the running canary beside the live version, read this way on every request."""
        self.viewer_response_function = viewer_response_function
        self.host_redirects = dict(host_redirects or {})
        """A custom domain's host redirect ({from host: to host}, `host_redirect.rules`)."""
        self.store = store
        """Set: the functions read the build rules' keys there, as a release wrote them
        (`rule_keys.write_rule_keys`); None: the keys a release would write, compiled here."""
        super().__init__((host, port), _PreviewRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback for whatever escaped a connection's handler: one line
        # instead (SITECTL_DEBUG=1 adds the traceback).
        error = sys.exc_info()[1]
        log.error("sitectl serve: a connection failed: %s", error, exc_info=debugging())

    def answer(self, method: str, raw_path: str, viewer: ViewerHeaders = NO_HEADERS) -> EdgeAnswer:
        """Everything CloudFront does for one viewer request, minus its cache: the origin group's
        failover and the custom error responses included (`distribution_flow`)."""
        redirected = host_redirect_answer(self.host_redirects, method, raw_path, viewer)
        if redirected is not None:
            return redirected
        if self.live_version is None:
            return distribution_answer(self._through_edge, method, raw_path, viewer, failover=self.failover)
        request = self._function_request(method, raw_path, viewer)
        # The store is read once per request, by the viewer-request function (not at all for a method
        # CloudFront refuses first); the viewer-response function's code is rendered with whether a
        # canary is configured, which the same value says here.
        read: list[str | None] = []

        def through_function(_method: str, _path: str, _viewer: ViewerHeaders) -> EdgeAnswer | str:
            return self._through_function(request, read)

        def respond(answer: EdgeAnswer) -> EdgeAnswer:
            canary_configured = read[0] is not None and parse_canary(read[0]) is not None
            # The store as the function reads it: the value, and the rule keys a release wrote.
            store = {} if read[0] is None else {LIVE_VERSION_KEY: read[0], **self._rule_keys(read[0])}
            try:
                added = self.viewer_response_function(request, canary_configured, store)
            except Exception as error:
                answer.discard()
                log.exception("the viewer-response function failed on %s %s", method, raw_path)
                return _text_answer(HTTPStatus.SERVICE_UNAVAILABLE, f"the function failed: {error}")
            # A header the function sets replaces the origin's (a cookie is added).
            replaced = {name.lower() for name, _ in added} - {"set-cookie"}
            kept = [(name, value) for name, value in answer.headers if name.lower() not in replaced]
            return EdgeAnswer(answer.status, [*kept, *added], answer.body, answer.stream)

        return viewer_request_answer(
            through_function,
            self._fetch,
            method,
            raw_path,
            viewer,
            FALLBACK_ORIGIN_PATH,
            respond,
        )

    def _function_request(self, method: str, raw_path: str, viewer: ViewerHeaders) -> dict[str, Any]:
        """The request as the functions see it (in the Lambda@Edge shape `viewer_request` takes): the
        viewer's address, User-Agent and cookies, which decide its canary bucket."""
        request: dict[str, Any] = origin_request_event(
            method,
            raw_path,
            bucket=self.origin.bucket,
            bucket_region=self.bucket_region,
            client_ip=viewer.client_ip,
        )["Records"][0]["cf"]["request"]
        headers = {"host": request["headers"]["host"]}
        if viewer.user_agent is not None:
            headers["user-agent"] = [{"key": "User-Agent", "value": viewer.user_agent}]
        if viewer.cookie is not None:
            headers["cookie"] = [{"key": "Cookie", "value": viewer.cookie}]
        return {**request, "headers": headers}

    def _store_value(self) -> str | None:
        """The store's `live-version` value as a release writes it (edge_function/code.py): the live
        version with its routes and the running canary with its own; what the reader gives when that is
        no bare version (the demo's store holds the whole value)."""
        assert self.live_version is not None
        live = self.live_version()
        if live is None or not layout.is_valid_version(live):
            return live
        running = self.canary() if self.canary is not None else None
        canary = (
            None
            if running is None
            else Canary(
                running[0],
                running[1],
                self.version_routes.lookup(running[0]),
                self._compiled_rules(running[0]).count,
            )
        )
        rule_keys = self._compiled_rules(live).count
        return store_value(live, self.version_routes.lookup(live), canary, rule_keys=rule_keys)

    def _compiled_rules(self, version: str) -> CompiledRules:
        """`version`'s build rules as the release writes them into the store (edge_function/rule_keys.py),
        computed once per version (versions are immutable)."""
        if version not in self._rule_keys_of:
            routes = self.version_routes.lookup(version)
            self._rule_keys_of[version] = compile_rules(version, routes.rules, routes.files or ())
        return self._rule_keys_of[version]

    def _rule_keys(self, value: str | None) -> dict[str, str]:
        """The store's rule keys a release has written for the versions `value` names (live, canary)."""
        if value is None:
            return {}
        running = parse_canary(value)
        if self.store is not None:
            # The keys the value counts (`"k"`), read as the functions read them: one never written is
            # missing here too.
            live_count, canary_count = rule_key_counts(value)
            wanted = [(value.partition(" ")[0], live_count)]
            if running is not None:
                wanted.append((running.version, canary_count))
            read: dict[str, str] = {}
            for version, count in wanted:
                for key in (rule_key(version, index) for index in range(count)):
                    found = self.store(key)
                    if found is not None:
                        read[key] = found
            return read
        versions = [value.partition(" ")[0], *([] if running is None else [running.version])]
        keys: dict[str, str] = {}
        for version in versions:
            if layout.is_valid_version(version):
                keys.update(self._compiled_rules(version).values)
        return keys

    def _through_function(self, request: dict[str, Any], read: list[str | None]) -> EdgeAnswer | str:
        """The viewer-request function: its generated answer, or the URI it rewrote the request to; the
        store value it read is appended to `read`."""
        try:
            read.append(self._store_value())
            result = self.viewer_function(request, read[0], self.route_settings, self._rule_keys(read[0]))
            return generated_response_answer(result) if is_response(result) else str(result["uri"])
        except Exception as error:
            # CloudFront answers 503 when the function fails (FunctionExecutionError).
            log.exception("the viewer-request function failed on %s %s", request["method"], request["uri"])
            return _text_answer(HTTPStatus.SERVICE_UNAVAILABLE, f"the function failed: {error}")

    def _fetch(self, method: str, uri: str, viewer: ViewerHeaders) -> EdgeAnswer:
        try:
            return self.origin.fetch(method, uri, viewer)
        except (ClientError, BotoCoreError) as error:
            log.warning("origin error on %s: %s", uri, error)
            return _text_answer(HTTPStatus.BAD_GATEWAY, f"the bucket refused: {error}")

    def _through_edge(
        self, method: str, raw_path: str, viewer: ViewerHeaders, fallback: bool
    ) -> OriginAnswer:
        """One origin request: the edge function, then the bucket unless the function answered."""
        event = origin_request_event(
            method, raw_path, bucket=self.origin.bucket, bucket_region=self.bucket_region, fallback=fallback
        )
        try:
            result = self.edge_function(event, None)
        except Exception as error:
            # CloudFront answers 503 when the function raises (LambdaExecutionError).
            log.exception("the edge function raised on %s %s", method, raw_path)
            answer = _text_answer(HTTPStatus.SERVICE_UNAVAILABLE, f"the edge function raised: {error}")
            return OriginAnswer(answer, from_origin=False)
        if is_response(result):
            return OriginAnswer(generated_response_answer(result), from_origin=False)
        try:
            fetched = self.origin.fetch(method, result["uri"], viewer)
        except (ClientError, BotoCoreError) as error:
            # CloudFront answers 502 when it cannot get a usable answer from the origin.
            log.warning("origin error on %s: %s", result["uri"], error)
            answer = _text_answer(HTTPStatus.BAD_GATEWAY, f"the bucket refused: {error}")
            return OriginAnswer(answer, from_origin=False)
        return OriginAnswer(self._origin_response(result, fetched), from_origin=True)

    def _origin_response(self, request: dict[str, Any], fetched: EdgeAnswer) -> EdgeAnswer:
        """The origin-response trigger (the same function): it runs on every origin answer, errors and
        304s included (AWS, "CloudFront events that can trigger a Lambda@Edge function"); its status and
        headers replace the origin's, the body stays."""
        names = [name for name, _ in fetched.headers]
        event = origin_response_event(request, fetched.status, fetched.headers)
        try:
            response = self.edge_function(event, None)
        except Exception as error:
            fetched.discard()
            log.exception("the edge function raised on the origin response of %s", request.get("uri"))
            return _text_answer(HTTPStatus.SERVICE_UNAVAILABLE, f"the edge function raised: {error}")
        if not isinstance(response, dict) or not is_response(response):
            return fetched  # a function with no origin-response step leaves the answer as it is
        headers = [
            (entry.get("key", name), entry["value"])
            for name, entries in response.get("headers", {}).items()
            for entry in entries
        ]
        # Keep the origin's order for the headers it sent; added ones follow.
        order = {name.lower(): index for index, name in enumerate(names)}
        headers.sort(key=lambda header: order.get(header[0].lower(), len(order)))
        return EdgeAnswer(int(response["status"]), headers, fetched.body, fetched.stream)


def origin_response_event(
    request: dict[str, Any], status: int, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    """The origin-response event CloudFront sends the edge function for the origin's answer to `request`
    (the request as forwarded, with whatever the origin-request call changed)."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append({"key": name, "value": value})
    return {
        "Records": [
            {
                "cf": {
                    "config": {"distributionId": "LOCALPREVIEW", "eventType": "origin-response"},
                    "request": request,
                    "response": {
                        "status": str(status),
                        "statusDescription": HTTPStatus(status).phrase,
                        "headers": grouped,
                    },
                }
            }
        ]
    }


class _PreviewRequestHandler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "sitectl-serve"
    protocol_version = "HTTP/1.1"
    # A request line without a version is not HTTP/0.9 to CloudFront: answer with a status line.
    default_request_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._respond("GET")

    def do_HEAD(self) -> None:
        self._respond("HEAD")

    def __getattr__(self, name: str) -> Any:
        # Every other method (POST, PUT, PROPFIND, TRACE ...) gets CloudFront's answer: 403 turned
        # into the 404 page (distribution_flow); http.server would answer 501 for unknown ones.
        if name.startswith("do_"):
            return lambda: self._respond(name[3:])
        raise AttributeError(name)

    def _respond(self, method: str) -> None:
        refusal = self._drop_request_body()
        if refusal is not None:
            self._send(method, refusal)
            return
        # http.server collapses a leading `//` in self.path; the edge must see the path as sent.
        words = self.requestline.split()
        raw_path = words[1] if len(words) == 3 else self.path
        viewer = ViewerHeaders(
            self.headers.get("If-None-Match"),
            self.headers.get("Range"),
            "; ".join(self.headers.get_all("Cookie") or []) or None,
            self.headers.get("User-Agent"),
            str(self.client_address[0]),
            self.headers.get("Host"),
        )
        try:
            answer = self.server.answer(method, raw_path, viewer)
        except Exception as error:
            # A bug of this emulation, not an answer CloudFront would give: one line, and the
            # connection stays usable.
            log.error("sitectl serve failed on %s %s: %s", method, raw_path, error, exc_info=debugging())
            answer = _text_answer(HTTPStatus.INTERNAL_SERVER_ERROR, f"sitectl serve failed: {error}")
        self._send(method, answer)

    def _drop_request_body(self) -> EdgeAnswer | None:
        """Read and drop the request's body (an unread one would be parsed as the next request on
        this kept-alive connection); an answer refusing a body that cannot be dropped so."""
        if self.headers.get("Transfer-Encoding") is not None:
            # Not parsed here: the connection closes after the answer instead.
            self.close_connection = True
            return None
        declared = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not declared:
            return None
        value = declared.pop()
        if declared or not (value.isascii() and value.isdigit()):
            self.close_connection = True
            shown = ", ".join(sorted({value, *declared}))
            return _text_answer(HTTPStatus.BAD_REQUEST, f"Content-Length {shown!r} is not a number of bytes")
        if len(value) > 18 or int(value) > MAX_DISCARDED_REQUEST_BODY_BYTES:
            self.close_connection = True
            return _text_answer(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a request body of {value} bytes; sitectl serve takes at most "
                f"{MAX_DISCARDED_REQUEST_BODY_BYTES} (the site is read-only: GET and HEAD need none)",
            )
        left = int(value)
        while left > 0:
            chunk = self.rfile.read(min(_COPY_CHUNK_BYTES, left))
            if not chunk:  # the client stopped sending
                self.close_connection = True
                break
            left -= len(chunk)
        return None

    def _send(self, method: str, answer: EdgeAnswer) -> None:
        """Send `answer`, its stream copied in chunks; a viewer hanging up ends it quietly."""
        try:
            self.send_response(answer.status)
            names = {name.lower() for name, _ in answer.headers}
            for name, value in answer.headers:
                self.send_header(_header_text(name), _header_text(value))
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(answer.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if method == "HEAD" or answer.status == 304:
                return
            self.wfile.write(answer.body)
            while answer.stream is not None and (chunk := answer.stream.read(_COPY_CHUNK_BYTES)):
                self.wfile.write(chunk)
        except (OSError, BotoCoreError) as error:
            # The viewer hung up, or the bucket's stream broke after the headers went out.
            log.info("%s %s: answer cut short: %s", method, self.path, error)
            self.close_connection = True
        finally:
            answer.discard()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def _header_text(text: str) -> str:
    """`text` as a header line can carry it: no line breaks (they would end the header), and only
    ISO-8859-1, which http.server encodes headers in."""
    flat = text.replace("\r", " ").replace("\n", " ")
    return flat.encode("latin-1", errors="replace").decode("latin-1")


def version_routes_for(origin: Origin, spa_fallback: bool) -> RoutesCache:
    """Each version's routes as the edge learns them: from its manifest; for a version not complete
    yet (a preview), from the objects under its prefix."""

    def load(version: str) -> VersionRoutes:
        manifest = storage.read_manifest(origin.s3, origin.bucket, version)
        if manifest is not None:
            return VersionRoutes.from_paths(
                manifest.files,
                spa_fallback,
                manifest.fingerprinted_paths(),
                manifest.rules,
                manifest.stored_elsewhere(),
            )
        # Not sealed yet: its files in the shared area are unknown, and found there by the fallback.
        prefix = layout.version_prefix(version)
        paths = [
            stored.key[len(prefix) :] for stored in storage.version_objects(origin.s3, origin.bucket, version)
        ]
        return VersionRoutes.from_paths(paths, spa_fallback)

    return RoutesCache(load, spa_fallback)


def edge_function_for(
    version: str | None, settings: EdgeSettings, version_routes: RoutesCache | None = None
) -> EdgeFunction:
    """The edge handler following the pointer (with its own pointer cache), or, for a preview of
    `version`, its rewrite for that fixed version, which never reads the pointer: a preview works for
    a version that is not released, or not even complete yet. `version_routes`: what the edge knows of
    each version's files (default: as the settings' bucket says, `RoutesCache.from_settings`)."""
    version_routes = version_routes or RoutesCache.from_settings(settings)
    if version is None:
        return OriginRequestHandler(settings, version_routes=version_routes)
    fixed = layout.validate_version(version)

    def preview(event: dict[str, Any], context: object) -> dict[str, Any]:
        record = event["Records"][0]["cf"]
        if record["config"]["eventType"] == "origin-response":
            return response_with_rules(record["request"], record["response"], version_routes.lookup)
        return rewrite_request(
            record["request"], fixed, version_routes.lookup(fixed), settings.route_settings
        )

    return preview


def live_version_for(version: str | None, settings: EdgeSettings) -> LiveVersionReader:
    """The live version as the function would read it: the pointer parameter on every request (the
    store holds the same value, written in the same update; a function keeps nothing between
    requests), or the fixed `version` of a preview."""
    if version is not None:
        fixed = layout.validate_version(version)
        return lambda: fixed
    clients: list[Any] = []

    def read() -> str | None:
        if not clients:
            clients.append(create_ssm_client(settings.region))
        try:
            return fetch_parameter(clients[0], settings.parameter_name)
        except PointerFetchError as error:
            log.warning("%s", error)
            return None

    return read


def canary_for(canary: tuple[str, int] | None, settings: EdgeSettings, *, follow: bool) -> CanaryReader:
    """The running canary as the function would find it in its store: the fixed `canary` (version,
    percent) when given; else, when following the pointer (`follow`), the stack's record beside it
    (`layout.canary_parameter_name`, `<version> <percent>` or `none`), read on every request, as the
    same update writes it into the store value; else none."""
    if canary is not None:
        fixed = (layout.validate_version(canary[0], "--canary"), canary[1])
        return lambda: fixed
    if not follow:
        return lambda: None
    name = layout.canary_parameter_name(settings.parameter_name)
    clients: list[Any] = []

    def read() -> tuple[str, int] | None:
        if not clients:
            clients.append(create_ssm_client(settings.region))
        try:
            return layout.parse_canary_record(fetch_parameter(clients[0], name))
        except PointerFetchError as error:
            # A stack without the record (deployed before canaries) runs none.
            if "ParameterNotFound" not in str(error):
                log.warning("%s: served without a canary", error)
            return None

    return read


def start_preview_server(
    bucket: str,
    settings: EdgeSettings,
    *,
    version: str | None = None,
    port: int = 0,
    s3_client: Any | None = None,
    edge_function: EdgeFunction | None = None,
    failover: bool = True,
    router: str = LAMBDA_EDGE,
    live_version: LiveVersionReader | None = None,
    viewer_function: ViewerRequestFunction = viewer_request,
    canary: CanaryReader | None = None,
    viewer_response_function: ViewerResponseFunction = viewer_response,
    host_redirects: Mapping[str, str] | None = None,
    store: StoreReader | None = None,
) -> PreviewServer:
    """A preview server bound to 127.0.0.1:`port` (0: any free port); call serve_forever().

    `edge_function` replaces `edge_function_for(version, settings)`, e.g. a handler on a test clock;
    `failover=False` leaves out the origin group and the custom error responses. With `router`
    cloudfront-function, `live_version` replaces `live_version_for(version, settings)`, `canary`
    replaces `canary_for(None, settings, follow=version is None)` (the stack's running canary), and
    `viewer_function` and `viewer_response_function` the functions' Python rules, and `store` (a
    stand-in of the function's KeyValueStore) the rule keys compiled from the manifests. `host_redirects`:
    a custom domain's host redirect (`stack_host_redirects`), answered first with either router.
    """
    origin = Origin(bucket, s3_client)
    function_mode = router == CLOUDFRONT_FUNCTION
    version_routes = version_routes_for(origin, settings.spa_fallback)
    return PreviewServer(
        origin,
        edge_function or edge_function_for(version, settings, version_routes),
        bucket_region=origin.region(),
        port=port,
        failover=failover,
        live_version=(live_version or live_version_for(version, settings)) if function_mode else None,
        route_settings=settings.route_settings,
        version_routes=version_routes,
        viewer_function=viewer_function,
        canary=(canary or canary_for(None, settings, follow=version is None)) if function_mode else None,
        viewer_response_function=viewer_response_function,
        host_redirects=host_redirects,
        store=store if function_mode else None,
    )


@contextmanager
def preview_server_running(
    bucket: str,
    settings: EdgeSettings,
    *,
    version: str | None = None,
    port: int = 0,
    s3_client: Any | None = None,
    edge_function: EdgeFunction | None = None,
    failover: bool = True,
    router: str = LAMBDA_EDGE,
    live_version: LiveVersionReader | None = None,
    viewer_function: ViewerRequestFunction = viewer_request,
    canary: CanaryReader | None = None,
    viewer_response_function: ViewerResponseFunction = viewer_response,
    host_redirects: Mapping[str, str] | None = None,
    store: StoreReader | None = None,
) -> Iterator[PreviewServer]:
    """A preview server answering in a background thread for the duration of the block."""
    server = start_preview_server(
        bucket,
        settings,
        version=version,
        port=port,
        s3_client=s3_client,
        edge_function=edge_function,
        failover=failover,
        router=router,
        live_version=live_version,
        viewer_function=viewer_function,
        canary=canary,
        viewer_response_function=viewer_response_function,
        host_redirects=host_redirects,
        store=store,
    )
    # A short poll interval: leaving the block waits for the next poll.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sitectl-serve", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def configure_request_log() -> None:
    """One line per request on stderr, and nothing from boto below a warning: the edge function creates
    its SSM client on the first request, and botocore logs at INFO where it found credentials."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for library in ("botocore", "boto3", "urllib3"):
        logging.getLogger(library).setLevel(logging.WARNING)


def stack_edge_config(site: Site) -> tuple[str, dict[str, str]]:
    """The stack's config as its program reads it: Pulumi.<stack>.yaml over Pulumi.yaml's defaults;
    the project's name, and its own keys by their short names (`router`), whatever it is called."""
    # Imported here: it brings in Pulumi, which only a --stack run needs.
    from scripts.offline.mockrun import ProgramError, load_project, load_stack_config

    root = site.project_dir or find_project_root()
    try:
        project, values = load_project(root)
        values.update(load_stack_config(root, project, short_stack_name(str(site.stack_name))))
    except ProgramError as error:
        raise RefusedError(str(error)) from error
    return project, {key.removeprefix(f"{project}:"): value for key, value in values.items()}


def stack_host_redirects(site: Site) -> dict[str, str]:
    """The stack's host redirect ({from host: to host}) from its domainNames and hostRedirect, as the
    program deploys it (`edge_function/host_redirect.py`); RefusedError for values it would refuse."""
    project, config = stack_edge_config(site)
    try:
        names = json.loads(config.get("domainNames", "[]"))
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise RefusedError(f"the stack's {project}:domainNames is not a list of host names: fix it")
    mode = config.get("hostRedirect", host_redirect.OFF)
    try:
        host_redirect.validate(names, mode, f"{project}:{{}}".format)
    except ValueError as error:
        raise RefusedError(str(error)) from error
    return host_redirect.rules(names, mode)


def resolve_settings(
    site: Site,
    edge_config: Path | None,
    cache_ttl_seconds: int | None,
    spa_fallback: bool | None,
    version: str | None = None,
) -> EdgeSettings:
    """The edge settings to serve with: the config file when one is named (the component's
    config.json), else what the component would put in it: the stack's pointer parameter (or
    --parameter), with the stack's edgeCacheTtlSeconds, spaFallback (unless given here), trailingSlash
    and redirectStatus. A preview of `version` never reads the pointer, so it needs none."""
    if edge_config is not None:
        if cache_ttl_seconds is not None or spa_fallback is not None:
            raise RefusedError("--cache-ttl and --spa-fallback conflict with --edge-config, which sets both")
        return load_settings(edge_config)
    parameter = site.parameter()
    if parameter is None and version is not None:
        parameter = (PREVIEW_PARAMETER, DEFAULT_PARAMETER_REGION)
    if parameter is None:
        raise RefusedError(
            f"no pointer parameter: pass --edge-config (or set {CONFIG_ENV_VAR}) to the edge's config.json, "
            "or name the stack with --stack, or the parameter with --parameter"
        )
    project, config = stack_edge_config(site) if site.has_stack else ("", {})
    if cache_ttl_seconds is None:
        configured = config.get("edgeCacheTtlSeconds", str(DEFAULT_CACHE_TTL_SECONDS))
        if not (configured.isascii() and configured.strip().isdigit() and len(configured.strip()) <= 6):
            # As the program's config.get_int refuses it.
            raise RefusedError(
                f"the stack's {project}:edgeCacheTtlSeconds is {configured!r}: set a whole number of "
                "seconds, 1-300 (`pulumi config set edgeCacheTtlSeconds 5`), or pass --cache-ttl"
            )
        cache_ttl_seconds = int(configured)
    if spa_fallback is None:
        spa_fallback = config.get("spaFallback", "false").lower() == "true"
    name, region = parameter
    return EdgeSettings(
        parameter_name=name,
        region=region,
        cache_ttl_seconds=cache_ttl_seconds,
        spa_fallback=spa_fallback,
        trailing_slash=config.get("trailingSlash", DEFAULT_TRAILING_SLASH),
        redirect_status=int(config.get("redirectStatus", DEFAULT_REDIRECT_STATUS)),
    )


def resolve_router(site: Site) -> str:
    """The stack's `router` config (Pulumi.yaml's default, lambda-edge, without a stack)."""
    project, config = stack_edge_config(site) if site.has_stack else ("", {})
    router = config.get("router", LAMBDA_EDGE)
    if router not in ROUTERS:
        raise RefusedError(
            f"the stack's {project}:router is {router!r}: set it to {' or '.join(ROUTERS)}, or pass --router"
        )
    return router


@click.command("serve")
@version_option(
    "Preview this version (complete or not) without reading the pointer. Default: follow the pointer."
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--edge-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV_VAR,
    show_envvar=True,
    default=None,
    help="The edge function's config.json (parameter, region, TTL, SPA fallback).",
)
@click.option(
    "--cache-ttl",
    "cache_ttl_seconds",
    type=click.IntRange(1, 300),
    default=None,
    help="Seconds the edge caches the pointer (default: the stack's edgeCacheTtlSeconds, else "
    f"{DEFAULT_CACHE_TTL_SECONDS}).",
)
@click.option(
    "--spa-fallback/--no-spa-fallback",
    default=None,
    help="Serve index.html for extension-less paths (default: the stack's spaFallback, else no).",
)
@click.option(
    "--router",
    type=click.Choice(ROUTERS),
    default=None,
    help=f"The edge router to emulate (default: the stack's `router` config, else {LAMBDA_EDGE}).",
)
@click.option(
    "--canary",
    "canary_version",
    metavar="VERSION",
    default=None,
    help=f"Serve VERSION to --percent of viewers beside the live one, as a canary ({CLOUDFRONT_FUNCTION} "
    "router). Default: the stack's running canary, when following its pointer.",
)
@click.option(
    "--percent",
    "canary_percent",
    type=click.IntRange(1, 99),
    default=None,
    help="The canary's share of viewers, 1-99 (with --canary).",
)
@site_options()
@aws_errors
def serve(
    version: str | None,
    port: int,
    edge_config: Path | None,
    cache_ttl_seconds: int | None,
    spa_fallback: bool | None,
    router: str | None,
    canary_version: str | None,
    canary_percent: int | None,
    site: Site,
) -> None:
    """Serve the site on 127.0.0.1 through the real edge function, as the distribution does.

    Follows the pointer like the live site, or with --version previews one version (released or
    not, complete or not) without touching the pointer. With the cloudfront-function router it
    serves the stack's running canary, or --canary VERSION --percent P, to that share of viewers (a
    viewer's `site-bucket` cookie, else its address and User-Agent; `site-bucket=canary` asks for the
    canary). Works against AWS, or moto or LocalStack through AWS_ENDPOINT_URL.
    """
    if (canary_version is None) != (canary_percent is None):
        raise RefusedError(
            "--canary and --percent go together: `sitectl serve --canary VERSION --percent 5` serves "
            "VERSION to 5% of viewers"
        )
    if canary_version is not None:
        check_version_id(canary_version, "--canary")
    try:
        settings = resolve_settings(site, edge_config, cache_ttl_seconds, spa_fallback, version)
    except (OSError, ValueError) as error:
        if edge_config is None:
            raise RefusedError(f"the stack's edge settings are not usable: {error}") from error
        raise RefusedError(
            f"--edge-config {edge_config} is not usable: {error}; expected a JSON object with "
            "parameter_name, region, cache_ttl_seconds (the component's config.json)"
        ) from error
    router = router or resolve_router(site)
    if canary_version is not None and router != CLOUDFRONT_FUNCTION:
        raise RefusedError(
            f"--canary needs the {CLOUDFRONT_FUNCTION} router: {router} rewrites after CloudFront's cache "
            "lookup, under a key without the version, so one viewer's canary page would be served to "
            f"everyone; pass --router {CLOUDFRONT_FUNCTION}"
        )
    bucket = site.bucket()
    for shown, wanted in (("version", version), ("canary", canary_version)):
        if wanted is not None and not storage.version_objects_exist(site.s3(), bucket, wanted):
            suggestion = did_you_mean(wanted, storage.prefix_versions(site.s3(), bucket))
            click.echo(
                f"warning: {shown} {wanted} has no objects in s3://{bucket}: every path it serves will be "
                f"404{suggestion}",
                err=True,
            )
        if wanted is None or router != CLOUDFRONT_FUNCTION:
            continue
        manifest = release_guard.manifest_of(site.s3(), bucket, wanted)
        if (refusal := release_guard.by_content_refusal(manifest) if manifest else None) is not None:
            # Its release guard refuses such a version: a preview must not show it served (as 404s).
            raise RefusedError(
                f"{refusal}: preview it with --router {LAMBDA_EDGE}, or upload the build again with "
                f"`sitectl upload --router {CLOUDFRONT_FUNCTION}`"
            )
    fixed_canary = (
        None if canary_version is None or canary_percent is None else (canary_version, canary_percent)
    )
    canary = (
        canary_for(fixed_canary, settings, follow=version is None) if router == CLOUDFRONT_FUNCTION else None
    )
    try:
        server = start_preview_server(
            bucket,
            settings,
            version=version,
            port=port,
            s3_client=site.s3(),
            router=router,
            canary=canary,
            host_redirects=stack_host_redirects(site) if site.has_stack else None,
        )
    except OSError as error:
        raise SitectlError(f"cannot listen on 127.0.0.1:{port}: {error}") from error
    following = f"version {version}, pointer ignored" if version else f"the pointer {settings.parameter_name}"
    if fixed_canary is not None:
        following += f", canary {fixed_canary[0]} for {fixed_canary[1]}% of viewers"
    elif router == CLOUDFRONT_FUNCTION and version is None:
        following += " and the stack's canary record"
    click.echo(
        f"serving s3://{bucket} at {server.url}/ as the {router} router, following {following}; "
        "Ctrl-C to stop",
        err=True,
    )
    configure_request_log()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
