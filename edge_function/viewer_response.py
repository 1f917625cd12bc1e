"""The viewer-response function's rules in Python (`viewer_response.js` is the deployed function; the
tests hold the two equal), for `sitectl serve`: the build's header rules of the viewer's version (read
from the store as the function reads them), and while a canary is configured, an answer to a viewer
without a bucket cookie sets the bucket its requests were routed by.

Requests have the Lambda@Edge shape `sitectl serve` builds (`edge_function.viewer_request`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from edge_function.code import LIVE_VERSION_KEY
from edge_function.rule_keys import bucket, rule_key
from edge_function.viewer_bucket import SPLIT_COOKIE, SPLIT_COOKIE_ATTRIBUTES, cookie_bucket, hash_bucket
from edge_function.viewer_request import request_bucket, request_cookie, request_user_agent, rule_match

# router.js marks a request of a version with rules with the viewer's path (see header_rules).
PATH_HEADER = "x-site-path"


def viewer_response(
    request: Mapping[str, Any], set_split_cookie: bool, store: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """The headers the function adds to an answer to `request` (status below 400: CloudFront runs it on
    no other) when the store holds `store` (its `live-version` value and rule keys): the build's header
    rules (`header_rules`), then, rendered with `set_split_cookie` (a canary is configured), the
    `site-bucket` Set-Cookie as CloudFront writes `response.cookies`, `name=value; attributes`."""
    added = header_rules(request, store or {})
    if not set_split_cookie or cookie_bucket(request_cookie(request, SPLIT_COOKIE)) is not None:
        return added
    bucket_ = hash_bucket(str(request.get("clientIp", "")), request_user_agent(request))
    return [*added, ("Set-Cookie", f"{SPLIT_COOKIE}={bucket_}; {SPLIT_COOKIE_ATTRIBUTES}")]


def header_rules(request: Mapping[str, Any], store: Mapping[str, str]) -> list[tuple[str, str]]:
    """viewer_response.js `headerRules`: the headers of the `_headers` blocks matching the viewer's path
    (router.js's `x-site-path` mark, else the request's URI) for the version the viewer gets (the live
    one, or the canary for its bucket), one name's values joined with `, `; none on any failure."""
    try:
        version, _, summary = store[LIVE_VERSION_KEY].partition(" ")
        data = json.loads(summary)
        count = data.get("k")
        canary = data.get("c")
        share = canary.get("p") if isinstance(canary, dict) and isinstance(canary.get("v"), str) else None
        if isinstance(share, int | float) and not isinstance(share, bool) and request_bucket(request) < share:
            version, count = canary["v"], (canary.get("r") or {}).get("k")
        if not count:
            return []
        marked = (request.get("headers") or {}).get(PATH_HEADER)
        path = urllib.parse.unquote((marked[0]["value"] if marked else request["uri"])[1:])
        blocks = json.loads(store[rule_key(version, bucket(path, count))])["h"]
    except (KeyError, ValueError, TypeError, AttributeError):
        return []
    merged: dict[str, tuple[str, str]] = {}
    for matcher, pairs in blocks:
        if rule_match(matcher, path) is None:
            continue
        for name, value in zip(pairs[::2], pairs[1::2], strict=True):
            key = name.lower()
            merged[key] = (merged[key][0], f"{merged[key][1]}, {value}") if key in merged else (name, value)
    return list(merged.values())
