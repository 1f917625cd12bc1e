"""Lambda@Edge origin-request handler: serve the live version of the site from its S3 prefix.

CloudFront calls `handler` on each cache miss, before it asks the S3 origin. The function
1. lets only GET and HEAD through (405) and refuses, with 400, any URI that could escape the version
   prefix or confuse S3 (`uri_problem`), and any event that is not an origin request; none is ever
   forwarded, nor costs an SSM call, and no input makes the handler raise;
2. reads the live version from the SSM pointer parameter at most once per `cache_ttl_seconds` per
   container (`PointerCache`): if the lookup fails, in any way, it keeps serving the version it has;
   with none, or while the pointer says no version is released, it answers 503 with Retry-After;
3. rewrites the URI to the key of `/<version>/...` that answers it (`edge_lambda.routes`: clean URLs,
   trailing slashes), from what it knows of the version's files (`edge_lambda.version_routes`: its
   manifest, read once per version per container), leaving the query string untouched; or redirects
   to the page's other spelling; a file the manifest says is stored once in the shared area is
   asked for there (`/_assets/...`);
   the build's `_redirects` come first (`edge_lambda.site_rules`); the same function at origin-response
   adds the build's `_headers` (`response_with_rules`);
4. on the origin group's fallback origin (the live version answered 403, a missing key), reads fingerprinted
   assets and the default 404 page from outside every version (`edge_lambda.fallback`).

For `sitectl serve` and other local callers: `rewrite_request` rewrites a request for a fixed version
(no SSM), `make_response` builds a generated response, `is_response` tells the two results apart and
`OriginRequestHandler` runs the whole flow with given settings, SSM client and clock.

Standard library and botocore only, like everything in `edge_lambda/` (the Lambda bundle).
"""

from __future__ import annotations

import http
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from edge_lambda import fallback, layout, routes, site_rules
from edge_lambda.routes import Redirect, RouteSettings, VersionRoutes
from edge_lambda.settings import EdgeSettings, load_settings
from edge_lambda.site_rules import NOT_FOUND_STATUS, RuleMatch, answering_file
from edge_lambda.ssm_client import PointerFetchError, create_ssm_client, fetch_parameter
from edge_lambda.version_routes import RoutesCache

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

CloudFrontRequest = dict[str, Any]
"""`event["Records"][0]["cf"]["request"]` of an origin-request event; returned (rewritten) to go on."""
CloudFrontResponse = dict[str, Any]
"""A response generated at the edge: CloudFront sends it to the viewer and never calls the origin."""

ALLOWED_METHODS = ("GET", "HEAD")
INDEX_DOCUMENT = routes.INDEX_DOCUMENT
# S3 keys are at most 1,024 bytes, and the rewrite adds `/<version>` (up to 58) and `/index.html`.
MAX_URI_BYTES = 900

# Refused raw and after one percent-decoding (S3 decodes the key once): C0 and C1 control characters
# and DEL (Unicode category Cc), the line and paragraph separators U+2028/U+2029 (newlines to
# JavaScript and to some log parsers), and lone surrogates, which have no UTF-8 form (S3 keys are
# UTF-8) yet reach the handler through the event's JSON ("\ud800").
_UNSAFE_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# An encoded '/', '\' or '.' would become a separator or a dot segment in S3, after the checks here.
_ENCODED_SEPARATOR = re.compile(r"%(?:2[ef]|5c)", re.IGNORECASE)
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
# Printable ASCII but the space: kept as is in a redirect's query string.
_QUERY_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))
# What the origin-request call tells the origin-response call of the same request, when the version has
# build rules (`edge_lambda.site_rules`): the response event carries the request as it was forwarded
# (AWS, "Lambda@Edge event structure", response events: "the request that CloudFront forwarded to the
# origin and that might have been modified by the Lambda function that was triggered by an origin request
# event"), and the rewritten URI no longer says which path the viewer asked for. S3 ignores them.
RULE_PATH_HEADER = "x-versioned-site-path"
RULE_VERSION_HEADER = "x-versioned-site-version"
RULE_STATUS_HEADER = "x-versioned-site-status"
_RULE_HEADERS = (RULE_PATH_HEADER, RULE_VERSION_HEADER, RULE_STATUS_HEADER)


def make_response(status: int, body: str, headers: Mapping[str, str] | None = None) -> CloudFrontResponse:
    """A Lambda@Edge generated response: plain text `body`, plus `headers` named as sent
    (e.g. {"Retry-After": "5"})."""
    all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    return {
        "status": str(status),
        "statusDescription": http.HTTPStatus(status).phrase,
        "headers": {name.lower(): [{"key": name, "value": value}] for name, value in all_headers.items()},
        "body": body,
    }


def is_response(result: Mapping[str, Any]) -> bool:
    """True for a generated response, False for a request to forward to the origin."""
    return "status" in result


def uri_problem(uri: str) -> str | None:
    """Why `uri` must not reach the origin, or None when it is safe to prefix with a version."""
    if _UNSAFE_CHARACTER.search(uri):
        return "the path contains a control character, U+2028/U+2029 or a lone surrogate"
    if len(uri.encode("utf-8")) > MAX_URI_BYTES:
        return f"the path is longer than {MAX_URI_BYTES} bytes"
    if not uri.startswith("/"):
        return "the path must start with '/'"
    if "\\" in uri:
        return "the path contains a backslash"
    if _ENCODED_SEPARATOR.search(uri):
        return "the path contains a percent-encoded '/', '\\' or '.'"
    if _MALFORMED_ESCAPE.search(uri):
        return "the path contains a malformed percent-escape"
    try:
        decoded = urllib.parse.unquote_to_bytes(uri).decode("utf-8")
    except UnicodeDecodeError:
        return "the path contains percent-escapes that are not UTF-8"
    if _UNSAFE_CHARACTER.search(decoded):
        return "the path contains a percent-encoded control character or U+2028/U+2029"
    segments = uri[1:].split("/")
    # The last segment is empty for a path ending in '/', which serves that folder's index.html.
    if "" in segments[:-1]:
        return "the path contains an empty segment ('//')"
    if "." in segments or ".." in segments:
        return "the path contains a '.' or '..' segment"
    return None


def redirect_response(redirect: Redirect, querystring: str) -> CloudFrontResponse:
    """The redirect to the other spelling of a page (`routes.route`), with the viewer's query string."""
    # CloudFront hands over the query string as the viewer sent it (no space or control character can be
    # in a request line); anything else is escaped so that no input can break the header.
    query = urllib.parse.quote(querystring, safe=_QUERY_SAFE)
    location = redirect.location + (f"?{query}" if query else "")
    return make_response(
        redirect.status, "", {"Location": location, "Cache-Control": routes.REDIRECT_CACHE_CONTROL}
    )


def refusal(request: Mapping[str, Any]) -> CloudFrontResponse | None:
    """405 for a method other than GET/HEAD, 400 for a URI `uri_problem` refuses; None to go on.
    Both routers refuse alike (`edge_function/viewer_request.py` calls this too)."""
    if request.get("method") not in ALLOWED_METHODS:
        return make_response(405, "Method Not Allowed\n", {"Allow": ", ".join(ALLOWED_METHODS)})
    uri = request.get("uri")
    problem = uri_problem(uri) if isinstance(uri, str) else "the request has no URI"
    if problem is not None:
        return make_response(400, f"Bad Request: {problem}\n")
    return None


def _request_of(event: Any) -> CloudFrontRequest | None:
    """The request of an origin-request event; None for anything else (never sent by CloudFront, but a
    test invocation or a misrouted trigger must get an answer, not a crash)."""
    try:
        request = event["Records"][0]["cf"]["request"]
    except (LookupError, TypeError):
        return None
    return request if isinstance(request, dict) else None


def _response_of(event: Any) -> tuple[CloudFrontRequest, CloudFrontResponse] | None:
    """The request and response of an origin-response event (the same function is associated with both
    events); None for any other event."""
    try:
        record = event["Records"][0]["cf"]
        if record["config"]["eventType"] != "origin-response":
            return None
        request, response = record["request"], record["response"]
    except (LookupError, TypeError):
        return None
    return (request, response) if isinstance(request, dict) and isinstance(response, dict) else None


def rewrite_request(
    request: CloudFrontRequest,
    version: str,
    version_routes: VersionRoutes | None = None,
    settings: RouteSettings | None = None,
) -> CloudFrontRequest | CloudFrontResponse:
    """`request` rewritten to `version` (a copy; the query string untouched), or the 400/405 response
    that refuses it, or a redirect. For a fixed version, e.g. a local preview; `version_routes` default to
    what the edge knows of a version whose manifest it cannot read. InvalidVersionError for a bad id."""
    layout.validate_version(version)
    refusal_answer = refusal(request)
    if refusal_answer is not None:
        return refusal_answer
    settings = settings or RouteSettings()
    version_routes = version_routes or VersionRoutes.unknown(settings.spa_fallback)
    return _shared_request(request) or live_answer(request, version, version_routes, settings)


def _shared_request(request: CloudFrontRequest) -> CloudFrontRequest | None:
    """On the fallback origin (see `edge_lambda.fallback`), the request for the area outside every
    version that serves this path; None for a path the live version must answer."""
    if not fallback.is_fallback_request(request):
        return None
    shared = fallback.shared_uri(fallback.original_uri(request["uri"]))
    return None if shared is None else {**request, "uri": shared}


def live_answer(
    request: CloudFrontRequest, version: str, version_routes: VersionRoutes, settings: RouteSettings
) -> CloudFrontRequest | CloudFrontResponse:
    """`request` rewritten to the key of `version` that answers it (`routes.route`), or the redirect to
    the page's other spelling. `request` must have passed `refusal`."""
    uri = request["uri"]
    if fallback.is_fallback_request(request):
        uri = fallback.original_uri(uri, version)
    querystring = request.get("querystring")
    query = querystring if isinstance(querystring, str) else ""
    found = None
    if version_routes.rules:
        # The build's rules first (the first match, where no file answers unless forced), then clean URLs.
        found = version_routes.rules.redirect_for(urllib.parse.unquote(uri), version_routes.file_answers)
        if found is not None and not found.internal:
            return rule_redirect_response(found, query)
        request = _with_rule_markers(request, uri, version, found)
    if found is not None:
        target: str | Redirect = _rewrite_key(found.location, version_routes, settings)
    else:
        target = routes.route(uri, version_routes, settings)
    if isinstance(target, Redirect):
        return redirect_response(target, query)
    # A file stored once in the shared area (the manifest says so) is asked for there directly, not
    # through a miss under the version's prefix and the fallback origin.
    return {**request, "uri": f"/{version_routes.key_prefix(version, target)}{target}"}


def _rewrite_key(location: str, version_routes: VersionRoutes, settings: RouteSettings) -> str:
    """The key path a 200 or 404 rule's target is served from: the file that answers it, else where
    clean URLs would look (a miss then gets the 404 page)."""
    path = location.split("?", 1)[0]
    name = answering_file(urllib.parse.unquote(path), version_routes.files or ())
    if name is not None:
        return "/" + urllib.parse.quote(name, safe="/-._~!$&'()*+,;=:@")
    target = routes.route(path, version_routes, settings)
    if isinstance(target, Redirect):
        bare = target.location
        return bare + INDEX_DOCUMENT if bare.endswith("/") else bare + routes.PAGE_SUFFIX
    return target


def _with_rule_markers(
    request: CloudFrontRequest, uri: str, version: str, found: RuleMatch | None
) -> CloudFrontRequest:
    """`request` carrying, for the origin-response call, the viewer's path, the version whose rules
    apply and a 404 rule's status (headers a viewer may have sent under these names are replaced)."""
    headers = {k: v for k, v in (request.get("headers") or {}).items() if k not in _RULE_HEADERS}
    marks = {RULE_PATH_HEADER: urllib.parse.quote(uri, safe=_QUERY_SAFE), RULE_VERSION_HEADER: version}
    if found is not None and found.status == NOT_FOUND_STATUS:
        marks[RULE_STATUS_HEADER] = str(NOT_FOUND_STATUS)
    for name, value in marks.items():
        headers[name] = [{"key": name, "value": value}]
    return {**request, "headers": headers}


def rule_redirect_response(found: RuleMatch, querystring: str) -> CloudFrontResponse:
    """A build rule's redirect, the viewer's query string added to the target's own."""
    query = urllib.parse.quote(querystring, safe=_QUERY_SAFE)
    location = found.location
    if query:
        location += ("&" if "?" in location else "?") + query
    return make_response(
        found.status, "", {"Location": location, "Cache-Control": site_rules.REDIRECT_CACHE_CONTROL}
    )


def _header_value(headers: Any, name: str) -> str | None:
    try:
        value = headers[name][0]["value"]
    except (LookupError, TypeError):
        return None
    return value if isinstance(value, str) else None


def response_with_rules(
    request: CloudFrontRequest, response: CloudFrontResponse, lookup: Callable[[str], VersionRoutes]
) -> CloudFrontResponse:
    """The origin-response step: the origin's `response` with the headers of the build's `_headers`
    blocks matching the viewer's path, and a 404 rule's status, as the origin-request call marked the
    `request` (`_with_rule_markers`); unchanged when it marked nothing. `lookup(version)`: its routes."""
    headers = request.get("headers") if isinstance(request, dict) else None
    version, path = _header_value(headers, RULE_VERSION_HEADER), _header_value(headers, RULE_PATH_HEADER)
    if version is None or path is None or not layout.is_valid_version(version):
        return response
    rules = lookup(version).rules
    answer = {**response, "headers": dict(response.get("headers") or {})}
    for name, value in rules.headers_for(urllib.parse.unquote(path)):
        answer["headers"][name.lower()] = [{"key": name, "value": value}]
    if (
        _header_value(headers, RULE_STATUS_HEADER) == str(NOT_FOUND_STATUS)
        and str(answer.get("status")) == "200"
    ):
        answer["status"] = str(NOT_FOUND_STATUS)
        answer["statusDescription"] = http.HTTPStatus(NOT_FOUND_STATUS).phrase
    return answer


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on stdout, which Lambda sends to CloudWatch Logs in the region that ran it."""
    print(json.dumps({"event": event, **fields}), flush=True)


@dataclass(frozen=True)
class PointerState:
    """What one container knows of the pointer until `expires_at` (on the cache's clock)."""

    version: str | None
    """The version to serve, None when there is none."""
    unavailable_reason: str | None
    """Why there is no version to serve, for the 503 body."""
    expires_at: float


class PointerCache:
    """The live version, read from SSM at most once per TTL window, however many requests ask.

    Thread-safe: the first caller of a window refreshes while the others keep the previous value or,
    before any, wait for that one call. Failures and bad values keep the previous version
    (stale-if-error) and are logged once per window. `ssm_client` is created on first use when not
    given (so that a moto mock started later still applies); `now` is a monotonic clock in seconds.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        ssm_client: SSMClient | None = None,
        now: Callable[[], float] = time.monotonic,
        log: Callable[..., None] = log_event,
    ) -> None:
        self._parameter_name = settings.parameter_name
        self._region = settings.region
        self._ttl_seconds = settings.cache_ttl_seconds
        self._ssm_client = ssm_client
        self._now = now
        self._log = log
        self._state: PointerState | None = None
        self._refresh_lock = threading.Lock()

    def lookup(self) -> PointerState:
        state = self._state
        if state is not None and self._now() < state.expires_at:
            return state
        if state is None:
            self._refresh_lock.acquire()
        elif not self._refresh_lock.acquire(blocking=False):
            return state  # another thread is refreshing: serve what this container has meanwhile
        try:
            state = self._state
            if state is None or self._now() >= state.expires_at:
                state = self._state = self._refresh(state)
            return state
        finally:
            self._refresh_lock.release()

    def _refresh(self, previous: PointerState | None) -> PointerState:
        try:
            if self._ssm_client is None:
                self._ssm_client = create_ssm_client(self._region, log=self._log)
            value = fetch_parameter(self._ssm_client, self._parameter_name)
        except PointerFetchError as error:
            return self._keep(previous, str(error))
        except Exception as error:
            # Whatever else fails (a botocore error outside its documented types, in a botocore the
            # runtime updated underneath the function), the lookup failed: serve what this container
            # has, and ask again next window rather than on every request.
            return self._keep(previous, f"GetParameter {self._parameter_name} failed: {error!r}")
        # The window starts when SSM has answered: a slow answer must not leave it already expired.
        expires_at = self._now() + self._ttl_seconds
        if value == layout.NO_VERSION_RELEASED:
            return PointerState(None, "no version released", expires_at)
        if not layout.is_valid_version(value):
            return self._keep(
                previous,
                f"pointer {self._parameter_name} holds {value!r}: neither a version id "
                f"({layout.VERSION_FORMAT}) nor {layout.NO_VERSION_RELEASED!r}",
            )
        return PointerState(value, None, expires_at)

    def _keep(self, previous: PointerState | None, error: str) -> PointerState:
        expires_at = self._now() + self._ttl_seconds
        serving = previous.version if previous is not None else None
        self._log("pointer-lookup-failed", error=error, serving=serving, retry_in_seconds=self._ttl_seconds)
        if previous is None:
            return PointerState(None, "the live version is unavailable", expires_at)
        return replace(previous, expires_at=expires_at)


class OriginRequestHandler:
    """The whole origin-request flow for one set of settings (see the module docstring)."""

    def __init__(
        self,
        settings: EdgeSettings,
        pointer: PointerCache | None = None,
        version_routes: RoutesCache | None = None,
    ) -> None:
        self.settings = settings
        self.pointer = pointer or PointerCache(settings)
        self.version_routes = version_routes or RoutesCache.from_settings(settings)

    def handle_request(self, request: CloudFrontRequest) -> CloudFrontRequest | CloudFrontResponse:
        refusal_answer = refusal(request)
        if refusal_answer is not None:
            return refusal_answer
        shared = _shared_request(request)
        if shared is not None:
            return shared  # outside every version: no pointer needed
        state = self.pointer.lookup()
        if state.version is None:
            return make_response(
                503,
                f"Service Unavailable: {state.unavailable_reason}\n",
                {"Retry-After": str(self.settings.cache_ttl_seconds), "Cache-Control": "no-store"},
            )
        version_routes = self.version_routes.lookup(state.version)
        return live_answer(request, state.version, version_routes, self.settings.route_settings)

    def handle_response(self, request: CloudFrontRequest, response: CloudFrontResponse) -> CloudFrontResponse:
        """The origin-response trigger: the build's header rules and a 404 rule's status."""
        return response_with_rules(request, response, self.version_routes.lookup)

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        response = _response_of(event)
        if response is not None:
            return self.handle_response(response[0], response[1])
        request = _request_of(event)
        if request is None:
            return make_response(400, "Bad Request: not a CloudFront origin-request event\n")
        return self.handle_request(request)


_default_handler: OriginRequestHandler | None = None
_default_handler_lock = threading.Lock()


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point (`edge_lambda.handler.handler`): settings from `load_settings()`, read
    once per container on the first event."""
    global _default_handler
    if _default_handler is None:
        with _default_handler_lock:
            if _default_handler is None:
                _default_handler = OriginRequestHandler(load_settings())
    return _default_handler(event, context)
