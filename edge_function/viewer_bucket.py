"""The viewer's bucket for the canary split in Python (`viewer_bucket.js` is the deployed rule; the
tests hold the two equal), for `sitectl serve` and the demo without Node.

A viewer's bucket is 0-99: its `site-bucket` cookie when that holds one, else a hash of its IP address
and User-Agent (what both function events carry, so a viewer is sticky before its cookie is set and
where CloudFront runs no viewer-response function). The cookie value `canary` asks for the canary.
"""

from __future__ import annotations

import re

SPLIT_COOKIE = "site-bucket"
# The cookie value that asks for the canary while one runs (sitectl verify, testers): below every share.
CANARY_REQUESTED = -1
SPLIT_COOKIE_ATTRIBUTES = "Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Lax"
_BUCKET = re.compile(r"^(?:[0-9]|[1-9][0-9])\Z")


def cookie_bucket(value: str | None) -> int | None:
    """The bucket the `site-bucket` cookie's `value` holds (CANARY_REQUESTED for `canary`), or None."""
    if value is None:
        return None
    if _BUCKET.match(value):
        return int(value)
    return CANARY_REQUESTED if value == "canary" else None


def hash_bucket(ip: str, user_agent: str | None) -> int:
    """viewer_bucket.js hashBucket: the bucket of a viewer without a cookie."""
    text = f"{ip} {user_agent or ''}"
    value = 0
    # JavaScript's charCodeAt: UTF-16 code units.
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        value = (value * 31 + int.from_bytes(data[i : i + 2], "little")) % 1000003
    return value % 100


def viewer_bucket(cookie: str | None, ip: str, user_agent: str | None) -> int:
    bucket = cookie_bucket(cookie)
    return hash_bucket(ip, user_agent) if bucket is None else bucket
