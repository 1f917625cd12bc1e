"""The CloudFront Function router's rules in Python, for `sitectl serve` and the demo where Node is absent.

Built from the Lambda@Edge handler's own rule functions (`uri_problem`, `live_answer`, `make_response`)
plus the three things the function does differently: fingerprinted files come from the shared area
before the cache, the 503 while nothing is released carries the function's fixed Retry-After, and a
canary in the store's value serves its share of viewers (`viewer_bucket.py`).
`tests/test_edge_rules.py` runs it against the same table and random requests as `router.js`, so the
three cannot drift apart. Results have the Lambda@Edge shapes (`handler.make_response`, a request dict)
so that a local server treats both routers alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_function.code import parse_canary, parse_store_value
from edge_function.viewer_bucket import SPLIT_COOKIE, viewer_bucket
from edge_lambda import layout
from edge_lambda.handler import live_answer, make_response, refusal
from edge_lambda.routes import RouteSettings, VersionRoutes

# router.js RETRY_AFTER_SECONDS: nothing caches a generated answer at viewer-request, and a store update
# reaches the edges within seconds.
RETRY_AFTER_SECONDS = 5
# The fallback origin's origin path in this mode (components/not_found_and_skew.py): CloudFront runs no
# viewer-request function for the error page, so `/404.html` reaches the fallback origin as is, and
# this prefix makes it the plain page `_site/404.html`; any other miss stays a miss.
FALLBACK_ORIGIN_PATH = "/" + layout.DEFAULT_NOT_FOUND_KEY.rsplit("/", 1)[0]


def _unavailable(reason: str) -> dict[str, Any]:
    return make_response(
        503,
        f"Service Unavailable: {reason}\n",
        {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def viewer_request(
    request: Mapping[str, Any], store_value: str | None, settings: RouteSettings
) -> dict[str, Any]:
    """What `router.js` does with `request` when the store's `live-version` key holds `store_value`
    (`edge_function.code.store_value`; None: the key is missing or unreadable) and the function was
    rendered with `settings`: a generated response (refusal, 503, redirect), or the request with its URI
    rewritten (a copy; the rest untouched)."""
    refused = refusal(request)
    if refused is not None:
        return refused
    uri = request["uri"]
    if store_value is None:
        return _unavailable("the live version is unavailable")
    live_version, routes = parse_store_value(store_value)
    if live_version == layout.NO_VERSION_RELEASED:
        return _unavailable("no version released")
    if not layout.is_valid_version(live_version):
        return _unavailable("the live version is unavailable")
    canary = parse_canary(store_value)
    if canary is not None and request_bucket(request) < canary.percent:
        live_version, routes = canary.version, canary.routes
    routes = routes or VersionRoutes.unknown(settings.spa_fallback)
    if routes.serves_shared(uri):
        return {**request, "uri": "/" + layout.shared_asset_key(uri)}
    return live_answer(dict(request), live_version, routes, settings)


def _header(request: Mapping[str, Any], name: str) -> list[str]:
    return [entry["value"] for entry in request.get("headers", {}).get(name, [])]


def request_cookie(request: Mapping[str, Any], name: str) -> str | None:
    """The first value of cookie `name` in a Lambda@Edge-shaped request's Cookie headers, as CloudFront
    Functions hands it over (`request.cookies[name].value`: the first of several)."""
    for header in _header(request, "cookie"):
        for pair in header.split(";"):
            key, equals, value = pair.strip().partition("=")
            if equals and key == name:
                return value
    return None


def request_user_agent(request: Mapping[str, Any]) -> str | None:
    """The User-Agent of a Lambda@Edge-shaped request (None: it sent none)."""
    agents = _header(request, "user-agent")
    return agents[0] if agents else None


def request_bucket(request: Mapping[str, Any]) -> int:
    """The viewer's canary bucket (`viewer_bucket.js`) for a Lambda@Edge-shaped request: its cookie, else
    the hash of its `clientIp` and User-Agent."""
    return viewer_bucket(
        request_cookie(request, SPLIT_COOKIE), str(request.get("clientIp", "")), request_user_agent(request)
    )
