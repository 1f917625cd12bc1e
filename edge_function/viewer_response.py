"""The viewer-response function's rules in Python (`viewer_response.js` is the deployed function; the
tests hold the two equal), for `sitectl serve`: while a canary is configured, an answer to a viewer
without a bucket cookie sets the bucket its requests were routed by.

Requests have the Lambda@Edge shape `sitectl serve` builds (`edge_function.viewer_request`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_function.viewer_bucket import SPLIT_COOKIE, SPLIT_COOKIE_ATTRIBUTES, cookie_bucket, hash_bucket
from edge_function.viewer_request import request_cookie, request_user_agent


def viewer_response(request: Mapping[str, Any], set_split_cookie: bool) -> list[tuple[str, str]]:
    """The headers the function adds to an answer to `request` (status below 400: CloudFront runs it on
    no other), when rendered with `set_split_cookie` (a canary is configured): the `site-bucket`
    Set-Cookie as CloudFront writes `response.cookies`, `name=value; attributes`."""
    if not set_split_cookie or cookie_bucket(request_cookie(request, SPLIT_COOKIE)) is not None:
        return []
    bucket = hash_bucket(str(request.get("clientIp", "")), request_user_agent(request))
    return [("Set-Cookie", f"{SPLIT_COOKIE}={bucket}; {SPLIT_COOKIE_ATTRIBUTES}")]
