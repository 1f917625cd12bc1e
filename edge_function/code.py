"""The code of the viewer-request CloudFront Function: `router.js` with its two placeholders filled in.

A CloudFront Function has no environment variables and no configuration file, so the component bakes
the stack's settings into the code (a setting change publishes a new function version):
- `__KEY_VALUE_STORE_ID__`: the id of the KeyValueStore that holds the live version (the last part
  of the store's ARN; `cf.kvs(id)` opens it);
- `__SPA_FALLBACK__`: `true` or `false`, the stack's `spaFallback`.
Whole-line `//` comments are left out (CloudFront counts them in its 10 KB); nothing else in the file
changes, and the tests run the rendered code: what the tests run is what CloudFront runs.
"""

from __future__ import annotations

import re
from pathlib import Path

ROUTER_SOURCE = Path(__file__).with_name("router.js")
KEY_VALUE_STORE_ID_PLACEHOLDER = "__KEY_VALUE_STORE_ID__"
SPA_FALLBACK_PLACEHOLDER = "__SPA_FALLBACK__"
# The store's key that holds the live version (or layout.NO_VERSION_RELEASED); router.js reads it.
LIVE_VERSION_KEY = "live-version"
# CloudFront Functions quota: "Maximum size of a function: 10 KB" (not adjustable).
MAX_FUNCTION_BYTES = 10 * 1024

# A KeyValueStore id is a UUID (arn:aws:cloudfront::<account>:key-value-store/<id>). Letters, digits
# and '-' only: it is pasted into a JavaScript string literal.
_KEY_VALUE_STORE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")
_KEY_VALUE_STORE_ARN = re.compile(r"^arn:aws[a-z-]*:cloudfront::\d{12}:key-value-store/(?P<id>[^/]+)$")


class FunctionCodeError(ValueError):
    """A setting that cannot go into the function's code."""


def key_value_store_id(arn: str) -> str:
    """The id `cf.kvs()` takes, from a KeyValueStore ARN (pulumi-aws exposes the ARN, not the id)."""
    match = _KEY_VALUE_STORE_ARN.match(arn)
    if match is None:
        raise FunctionCodeError(
            f"{arn!r} is not a KeyValueStore ARN: expected arn:aws:cloudfront::<account>:key-value-store/<id>"
        )
    return match.group("id")


def function_code(store_id: str, spa_fallback: bool) -> str:
    """`router.js` for the store `store_id` and the given SPA fallback."""
    if not _KEY_VALUE_STORE_ID.match(store_id):
        raise FunctionCodeError(
            f"KeyValueStore id {store_id!r} is not an id: expected the UUID at the end of the store's ARN"
        )
    source = ROUTER_SOURCE.read_text(encoding="utf-8")
    for placeholder in (KEY_VALUE_STORE_ID_PLACEHOLDER, SPA_FALLBACK_PLACEHOLDER):
        if source.count(placeholder) != 1:
            raise FunctionCodeError(f"{ROUTER_SOURCE} must hold {placeholder} exactly once")
    code = source.replace(KEY_VALUE_STORE_ID_PLACEHOLDER, store_id)
    code = code.replace(SPA_FALLBACK_PLACEHOLDER, "true" if spa_fallback else "false")
    return "".join(line for line in code.splitlines(keepends=True) if not line.lstrip().startswith("//"))
