"""What the distribution does around the edge function, for `sitectl serve`: the origin group's
failover and the custom error responses, as the component configures them
(`components/not_found_and_skew.py`).

With the Lambda@Edge router (`distribution_answer`):
1. The request goes to the primary origin through the edge function. When the bucket answers 403
   (a missing key: CloudFront may not list the bucket; an origin's answer, not one the function
   generated) to a GET, HEAD or OPTIONS, CloudFront sends the same request to the fallback origin,
   and the function runs again, seeing the fallback origin's custom header.
2. When the answer is still 403, CloudFront fetches `/404.html` through the same behavior (origin
   group and edge function again) and answers 404 with that page. A 404 is a build's 404 rule (its
   page, the status set at origin-response): the 404 custom error response has no page, so it passes.

With the CloudFront Function router (`viewer_request_answer`): the function runs once, before the
cache; the fallback origin gets the same rewritten URI under its origin path; the error page is
fetched without the function (CloudFront runs no viewer-request function for it). The viewer-response
function runs on the origin's answers below 400 only: not on the error page, nor on what the
viewer-request function generated (docs/routers.md, "The viewer-response function").

With either router, a method the behavior does not allow (anything but GET and HEAD) never reaches a
function or the bucket: CloudFront answers it with 403 itself, which the 403 custom error response
turns into 404 with the error page. The functions' own 405 is never seen by a viewer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_function import host_redirect
from edge_lambda import layout
from edge_lambda.fallback import FAILOVER_STATUS_CODES

# Origin groups fail over only these methods.
FAILOVER_METHODS = ("GET", "HEAD", "OPTIONS")
# The default behavior's allowed methods (`components/site.py`). CloudFront answers any other method
# with 403 "Invalid method" itself (AWS's developer guide, "HTTP 403 status code (Invalid method)").
ALLOWED_METHODS = ("GET", "HEAD")
_INVALID_METHOD_BODY = (
    b"403 Forbidden: this distribution is not configured to allow the HTTP request method that was used "
    b"for this request (only GET and HEAD)\n"
)
# Headers of the error page that describe the page object, not the viewer's answer.
_ERROR_PAGE_DROPPED_HEADERS = {"etag", "last-modified", "content-length"}


@dataclass(frozen=True)
class EdgeAnswer:
    """What a viewer gets: a status, headers and a body: `body`, then whatever `stream` still holds."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stream: Any | None = None
    """An object's body still coming from the bucket (botocore's StreamingBody): sent on in chunks,
    never held whole; the one who has the answer last reads or discards it."""

    def content(self) -> bytes:
        """The whole body (the stream read to its end and closed)."""
        if self.stream is None:
            return self.body
        try:
            return self.body + bytes(self.stream.read())
        finally:
            self.stream.close()

    def discard(self) -> None:
        """Close the stream, if any, without reading it."""
        if self.stream is not None:
            self.stream.close()


@dataclass(frozen=True)
class ViewerHeaders:
    """The viewer's headers that decide what the origin answers, and what the cloudfront-function
    router's functions read of the viewer (its canary bucket: `edge_function/viewer_bucket.py`)."""

    if_none_match: str | None = None
    byte_range: str | None = None
    """The Range header as sent (the origin decides on it: `Origin.fetch`)."""
    cookie: str | None = None
    """The Cookie header as sent."""
    user_agent: str | None = None
    client_ip: str = "127.0.0.1"
    """The viewer's address (the functions' `event.viewer.ip`: the connection's, never X-Forwarded-For)."""
    host: str | None = None
    """The Host header as sent (a custom domain's host redirect: `host_redirect_answer`)."""


NO_HEADERS = ViewerHeaders()


@dataclass(frozen=True)
class OriginAnswer:
    answer: EdgeAnswer
    from_origin: bool
    """False when the edge function generated the answer: CloudFront never fails over on those."""


ThroughEdge = Callable[[str, str, ViewerHeaders, bool], OriginAnswer]
"""(method, raw path, viewer headers, to the fallback origin) -> the answer of one origin request."""


def origin_group_answer(
    through_edge: ThroughEdge, method: str, raw_path: str, viewer: ViewerHeaders
) -> EdgeAnswer:
    primary = through_edge(method, raw_path, viewer, False)
    if primary.from_origin and primary.answer.status in FAILOVER_STATUS_CODES and method in FAILOVER_METHODS:
        primary.answer.discard()
        return through_edge(method, raw_path, viewer, True).answer
    return primary.answer


def host_redirect_answer(
    redirects: Mapping[str, str], method: str, raw_path: str, viewer: ViewerHeaders
) -> EdgeAnswer | None:
    """A custom domain's host redirect (apex <-> www), the first thing either router does: a
    viewer-request function, before the cache and before the build's rules (`edge_function/
    host_redirect.js`, alone or in front of the router); None for a request it lets through. A method
    the behavior does not allow never reaches it."""
    if method not in ALLOWED_METHODS:
        return None
    uri, _, query = raw_path.partition("?")
    target = host_redirect.location(redirects, viewer.host, uri, query)
    if target is None:
        return None
    return EdgeAnswer(
        host_redirect.STATUS,
        [("Location", target), ("Cache-Control", host_redirect.CACHE_CONTROL), ("Content-Length", "0")],
        b"",
    )


def distribution_answer(
    through_edge: ThroughEdge, method: str, raw_path: str, viewer: ViewerHeaders, *, failover: bool
) -> EdgeAnswer:
    """The viewer's answer. `failover=False` answers as a distribution with a single origin and no
    custom error responses (as before skew protection), for comparison."""
    if method not in ALLOWED_METHODS:
        answer = invalid_method_answer()
    elif not failover:
        return through_edge(method, raw_path, viewer, False).answer
    else:
        answer = origin_group_answer(through_edge, method, raw_path, viewer)
    if not failover or answer.status not in FAILOVER_STATUS_CODES:
        return answer
    page = origin_group_answer(through_edge, "GET", layout.NOT_FOUND_PAGE_PATH, NO_HEADERS)
    return _with_error_page(answer, page, method)


Fetch = Callable[[str, str, ViewerHeaders], EdgeAnswer]
"""(method, the key's URI at the origin, viewer headers) -> the bucket's answer."""
ViewerFunction = Callable[[str, str, ViewerHeaders], EdgeAnswer | str]
"""(method, raw path, viewer) -> the function's generated answer, or the URI it rewrote the request to."""
ViewerResponse = Callable[[EdgeAnswer], EdgeAnswer]
"""The viewer-response function: the origin's answer (below 400) -> what the viewer gets."""


def viewer_request_answer(
    function: ViewerFunction,
    fetch: Fetch,
    method: str,
    raw_path: str,
    viewer: ViewerHeaders,
    fallback_origin_path: str,
    viewer_response: ViewerResponse | None = None,
) -> EdgeAnswer:
    """The viewer's answer with a viewer-request function (the cloudfront-function router) and,
    if given, the viewer-response function beside it."""
    if method not in ALLOWED_METHODS:
        answer = invalid_method_answer()
    else:
        rewritten = function(method, raw_path, viewer)
        if isinstance(rewritten, EdgeAnswer):
            return rewritten
        answer = _fetch_through_group(fetch, method, rewritten, viewer, fallback_origin_path)
        if answer.status < 400 and viewer_response is not None:
            return viewer_response(answer)
    if answer.status not in FAILOVER_STATUS_CODES:
        return answer
    page = _fetch_through_group(fetch, "GET", layout.NOT_FOUND_PAGE_PATH, NO_HEADERS, fallback_origin_path)
    return _with_error_page(answer, page, method)


def invalid_method_answer() -> EdgeAnswer:
    """CloudFront's own answer to a method the behavior does not allow, before custom error responses."""
    return EdgeAnswer(403, [("Content-Type", "text/plain; charset=utf-8")], _INVALID_METHOD_BODY)


def _fetch_through_group(
    fetch: Fetch, method: str, uri: str, viewer: ViewerHeaders, fallback_origin_path: str
) -> EdgeAnswer:
    primary = fetch(method, uri, viewer)
    if primary.status in FAILOVER_STATUS_CODES and method in FAILOVER_METHODS:
        primary.discard()
        return fetch(method, fallback_origin_path + uri, viewer)
    return primary


def _with_error_page(answer: EdgeAnswer, page: EdgeAnswer, method: str) -> EdgeAnswer:
    if page.status != 200:
        page.discard()
        return answer  # CloudFront passes the origin's error on when the error page fails too
    answer.discard()
    body = page.content()
    headers = [(n, v) for n, v in page.headers if n.lower() not in _ERROR_PAGE_DROPPED_HEADERS]
    headers.append(("Content-Length", str(len(body))))
    return EdgeAnswer(404, headers, b"" if method == "HEAD" else body)
