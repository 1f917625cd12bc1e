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

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from edge_function.code import parse_canary, parse_store_value, rule_key_counts
from edge_function.rule_keys import bucket, rule_key
from edge_function.viewer_bucket import SPLIT_COOKIE, viewer_bucket
from edge_lambda import layout
from edge_lambda.handler import _QUERY_SAFE, live_answer, make_response, refusal
from edge_lambda.routes import INDEX_DOCUMENT, RouteSettings, VersionRoutes
from edge_lambda.site_rules import _SEGMENT_SAFE, REDIRECT_CACHE_CONTROL, REDIRECT_STATUSES

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
    request: Mapping[str, Any],
    store_value: str | None,
    settings: RouteSettings,
    rule_keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What `router.js` does with `request` when the store's `live-version` key holds `store_value`
    (`edge_function.code.store_value`; None: the key is missing or unreadable), its other keys are
    `rule_keys` (the build rules' keys, `edge_function.rule_keys`) and the function was rendered with
    `settings`: a generated response (refusal, 503, redirect), or the request with its URI rewritten
    (a copy; the rest untouched)."""
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
    keys, canary_keys = rule_key_counts(store_value)
    canary = parse_canary(store_value)
    if canary is not None and request_bucket(request) < canary.percent:
        live_version, routes, keys = canary.version, canary.routes, canary_keys
    routes = routes or VersionRoutes.unknown(settings.spa_fallback)
    if keys:
        # router.js marks the viewer's path for the viewer-response function's header rules
        mark = {"x-site-path": [{"key": "x-site-path", "value": uri}]}
        request = {**request, "headers": {**(request.get("headers") or {}), **mark}}
        shared = routes.serves_shared(uri)
        found = build_rule(rule_keys or {}, live_version, keys, urllib.parse.unquote(uri[1:]), shared)
        if found is not None and found[0] in REDIRECT_STATUSES:
            query = urllib.parse.quote(str(request.get("querystring") or ""), safe=_QUERY_SAFE)
            location = found[1] + (("&" if "?" in found[1] else "?") + query if query else "")
            return make_response(
                found[0], "", {"Location": location, "Cache-Control": REDIRECT_CACHE_CONTROL}
            )
        if found is not None:
            return {**request, "uri": f"/{live_version}{rule_target(found[1].split('?')[0], routes)}"}
    if routes.serves_shared(uri):
        return {**request, "uri": "/" + layout.shared_asset_key(uri)}
    return live_answer(dict(request), live_version, routes, settings)


def build_rule(
    rule_keys: Mapping[str, str], version: str, count: int, path: str, shared: bool = False
) -> tuple[int, str] | None:
    """build_rules.js `ruleFor` on the key the decoded relative `path` hashes to: the status and the
    filled target of the first rule that answers it, or None (also for a key that is not there).
    `shared`: the shared area serves the path (a file answers it: only forced rules apply)."""
    value = rule_keys.get(rule_key(version, bucket(path, count)))
    if value is None:
        return None
    data = json.loads(value)
    for matcher, pieces, status in data["r"]:
        match = rule_match(matcher, path)
        if match is not None and (status < 0 or not (shared or path in data["f"])):
            to = "".join(
                piece
                if isinstance(piece, str)
                else urllib.parse.quote(match.group(piece) or "", safe=_SEGMENT_SAFE + "/")
                for piece in pieces
            )
            return abs(status), to
    return None


def rule_match(matcher: str, path: str) -> re.Match[str] | None:
    """build_rules.js `ruleMatch`: a rule's or header block's matcher (an expression, or a literal path)
    against the decoded relative `path`."""
    if matcher.startswith("^"):
        return re.search(matcher, path)
    return re.match("", "") if matcher == (path[:-1] if path.endswith("/") else path) else None


def rule_target(uri: str, routes: VersionRoutes) -> str:
    """router.js `route(uri, routes, true)`: the key path a 200 or 404 rule's target is served from, as
    clean URLs resolve it, never a redirect whatever trailingSlash says."""
    if uri == "/":
        return "/" + INDEX_DOCUMENT
    slash = uri.endswith("/")
    bare = uri[:-1] if slash else uri
    kinds = routes.kinds(urllib.parse.unquote(bare[1:]))
    if slash:
        return uri + INDEX_DOCUMENT if kinds[1] == "d" else bare + ".html"
    kind = kinds[0]
    if kind == "f":
        return uri
    if kind == "s":
        return "/" + INDEX_DOCUMENT
    return uri + ".html" if kind == "h" else f"{uri}/{INDEX_DOCUMENT}"


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
