"""Host redirects at viewer request (apex <-> www): the rule table, and the CloudFront Function code that
applies it, alone (`standalone_code`, with Lambda@Edge) or in front of the router (`with_router`).

A redirect must be answered before the cache: the cache key carries no Host, so a 301 cached for
www.example.com would be served to example.com too (a redirect loop). A viewer-request function's own
response goes straight to the viewer, never through the cache. The table is a plain host -> host map so
that the build's redirect rules (issue 28) can add theirs to the same function later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from edge_function.code import QUERY_SOURCE, FunctionCodeError, minify

SOURCE = Path(__file__).with_name("host_redirect.js")
# What the function's 301 says, as host_redirect.js answers it.
STATUS = 301
CACHE_CONTROL = "max-age=3600"
RULES_PLACEHOLDER = "__HOST_REDIRECTS__"
OFF = "off"
TO_APEX = "to-apex"
TO_WWW = "to-www"
MODES = (OFF, TO_APEX, TO_WWW)
# The router's entry point (as written, or minified), renamed when the redirect goes in front of it.
_ROUTER_HANDLER = re.compile(r"async function handler\(event\)\s*\{")
_ROUTED_HANDLER = "async function routeRequest(event) {"


def apex_and_www(domain_names: Sequence[str]) -> tuple[str, str] | None:
    """The first pair example.com / www.example.com among `domain_names`, or None."""
    for name in domain_names:
        if name.startswith("www.") and name.removeprefix("www.") in domain_names:
            return name.removeprefix("www."), name
    return None


def validate(
    domain_names: Sequence[str], mode: str, config_key: Callable[[str], str] = "versioned-site:{}".format
) -> None:
    """Refuse a mode that is not one of MODES, or a redirect without both names. `config_key` names a
    setting as the stack config spells it (`components.config_key`: the project's own name; no Pulumi
    import here)."""
    if mode not in MODES:
        raise ValueError(
            f"{config_key('hostRedirect')} is {mode!r}: set it to {OFF} (the default), {TO_APEX} or "
            f"{TO_WWW}, e.g. `pulumi config set hostRedirect {TO_APEX}`"
        )
    if mode != OFF and apex_and_www(domain_names) is None:
        raise ValueError(
            f"{config_key('hostRedirect')} is {mode} but {config_key('domainNames')} has no pair of names "
            "example.com and www.example.com: list both (the certificate covers both), or set it to off"
        )


def rules(domain_names: Sequence[str], mode: str) -> dict[str, str]:
    """{from host: to host}: empty when off."""
    pair = apex_and_www(domain_names) if mode != OFF else None
    if pair is None:
        return {}
    apex, www = pair
    return {www: apex} if mode == TO_APEX else {apex: www}


def location(redirects: Mapping[str, str], host: str | None, uri: str, query: str) -> str | None:
    """Where `host_redirect.js` sends a request whose Host header is `host` (with the query string as
    sent), or None: the same rule for `sitectl serve`, held equal to the function under Node by the
    build rule table (tests/test_build_rules.py)."""
    # A Host with a port (example.com:443) names the same site.
    name = (host or "").lower().split(":")[0]
    if name not in redirects:
        return None
    target = f"https://{redirects[name]}{uri}"
    return f"{target}?{query}" if query else target


def _render(redirects: Mapping[str, str]) -> str:
    source = SOURCE.read_text(encoding="utf-8")
    if source.count(RULES_PLACEHOLDER) != 1:
        raise FunctionCodeError(f"{SOURCE} must hold {RULES_PLACEHOLDER} exactly once")
    # Host names checked by components/domain.py: letters, digits, '-', '.', '*': safe in JSON and JS.
    return source.replace(RULES_PLACEHOLDER, json.dumps(dict(redirects), sort_keys=True))


def standalone_code(redirects: Mapping[str, str]) -> str:
    """A viewer-request function that only redirects (the Lambda@Edge router runs later, at origin)."""
    # The router's code holds `withQuery` (query.js) already; alone, the redirect needs its own.
    return minify(
        _render(redirects)
        + QUERY_SOURCE.read_text(encoding="utf-8")
        + "\nasync function handler(event) {\n"
        + "  const redirect = hostRedirect(event.request);\n"
        + "  return redirect === null ? event.request : redirect;\n}\n"
    )


def with_router(router_code: str, redirects: Mapping[str, str]) -> str:
    """The router's code (edge_function/code.py) with the redirect in front of its handler."""
    routed, count = _ROUTER_HANDLER.subn(_ROUTED_HANDLER, router_code)
    if count != 1:
        raise FunctionCodeError("the router's code must define `async function handler(event)` exactly once")
    return minify(
        routed
        + "\n"
        + _render(redirects)
        + "\nasync function handler(event) {\n"
        + "  const redirect = hostRedirect(event.request);\n"
        + "  return redirect === null ? routeRequest(event) : redirect;\n}\n"
    )
