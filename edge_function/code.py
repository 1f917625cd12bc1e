"""The code of the viewer-request CloudFront Function: `router.js` with its two placeholders filled in.

A CloudFront Function has no environment variables and no configuration file, so the component bakes
the stack's settings into the code (a setting change publishes a new function version):
- `__KEY_VALUE_STORE_ID__`: the id of the KeyValueStore that holds the live version (the last part
  of the store's ARN; `cf.kvs(id)` opens it);
- `__SPA_FALLBACK__`: `true` or `false`, the stack's `spaFallback`;
- `__TRAILING_SLASH__` and `__REDIRECT_STATUS__`: the stack's `trailingSlash` and `redirectStatus`.

The store's `live-version` key holds `store_value(version, routes)`: the version id, a space and the
version's routes (`edge_lambda.routes.VersionRoutes.to_summary`), written together by the release so
that a viewer never gets a version with another version's routes, in the one read a request costs.
CloudFront counts every byte of the code against its 10 KB, so `minify` takes out comments and
whitespace with rJSmin (a port of Crockford's jsmin: it renames nothing and rewrites no expression; its
one limit, nested template literals, is refused here). The tests run the minified code under Node:
what the tests run is what CloudFront runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import rjsmin  # type: ignore[import-untyped]

from edge_function.rule_keys import RulesNotCarriedError, compile_rules
from edge_lambda import layout
from edge_lambda.routes import RouteSettings, RoutesTooLargeError, VersionRoutes

__all__ = ["RulesNotCarriedError"]

ROUTER_SOURCE = Path(__file__).with_name("router.js")
VIEWER_RESPONSE_SOURCE = Path(__file__).with_name("viewer_response.js")
# The viewer's bucket for the canary split, appended to both functions (one source, one rule).
VIEWER_BUCKET_SOURCE = Path(__file__).with_name("viewer_bucket.js")
# The build's rules as the store holds them (rule_keys.py), appended to the router.
BUILD_RULES_SOURCE = Path(__file__).with_name("build_rules.js")
# The viewer's query string added to a redirect's target: the router's and the host redirect's.
QUERY_SOURCE = Path(__file__).with_name("query.js")
SET_SPLIT_COOKIE_PLACEHOLDER = "__SET_SPLIT_COOKIE__"
KEY_VALUE_STORE_ID_PLACEHOLDER = "__KEY_VALUE_STORE_ID__"
SPA_FALLBACK_PLACEHOLDER = "__SPA_FALLBACK__"
TRAILING_SLASH_PLACEHOLDER = "__TRAILING_SLASH__"
REDIRECT_STATUS_PLACEHOLDER = "__REDIRECT_STATUS__"
# The store's key that holds the live version (or layout.NO_VERSION_RELEASED); router.js reads it.
LIVE_VERSION_KEY = "live-version"
# CloudFront KeyValueStore: a value holds at most 1,024 bytes.
MAX_STORE_VALUE_BYTES = 1024
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


def function_code(store_id: str, settings: RouteSettings) -> str:
    """`router.js` for the store `store_id` and the site's routing `settings`."""
    if not _KEY_VALUE_STORE_ID.match(store_id):
        raise FunctionCodeError(
            f"KeyValueStore id {store_id!r} is not an id: expected the UUID at the end of the store's ARN"
        )
    source = ROUTER_SOURCE.read_text(encoding="utf-8")
    values = {
        KEY_VALUE_STORE_ID_PLACEHOLDER: store_id,
        SPA_FALLBACK_PLACEHOLDER: "true" if settings.spa_fallback else "false",
        # RouteSettings has checked both: one of a few words and numbers, safe in a string literal.
        TRAILING_SLASH_PLACEHOLDER: settings.trailing_slash,
        REDIRECT_STATUS_PLACEHOLDER: str(settings.redirect_status),
    }
    code = source
    for placeholder, value in values.items():
        if source.count(placeholder) != 1:
            raise FunctionCodeError(f"{ROUTER_SOURCE} must hold {placeholder} exactly once")
        code = code.replace(placeholder, value)
    return minify(
        code
        + "".join(
            path.read_text(encoding="utf-8")
            for path in (VIEWER_BUCKET_SOURCE, BUILD_RULES_SOURCE, QUERY_SOURCE)
        )
    )


def viewer_response_code(set_split_cookie: bool, store_id: str) -> str:
    """`viewer_response.js` (with the viewer's bucket and the build rules' matcher), minified, reading the
    store `store_id` (the router's: the build's header rules); it sets the canary's bucket cookie when
    `set_split_cookie` (a canary is configured)."""
    if not _KEY_VALUE_STORE_ID.match(store_id):
        raise FunctionCodeError(
            f"KeyValueStore id {store_id!r} is not an id: expected the UUID at the end of the store's ARN"
        )
    source = VIEWER_RESPONSE_SOURCE.read_text(encoding="utf-8")
    for placeholder in (SET_SPLIT_COOKIE_PLACEHOLDER, KEY_VALUE_STORE_ID_PLACEHOLDER):
        if source.count(placeholder) != 1:
            raise FunctionCodeError(f"{VIEWER_RESPONSE_SOURCE} must hold {placeholder} exactly once")
    code = source.replace(SET_SPLIT_COOKIE_PLACEHOLDER, "true" if set_split_cookie else "false")
    code = code.replace(KEY_VALUE_STORE_ID_PLACEHOLDER, store_id)
    return minify(
        code
        + "".join(path.read_text(encoding="utf-8") for path in (VIEWER_BUCKET_SOURCE, BUILD_RULES_SOURCE))
    )


# rJSmin handles template literals only unnested: a `${` whose expression holds another backtick.
_NESTED_TEMPLATE = re.compile(r"\$\{[^}`]*`")


def minify(code: str) -> str:
    """`code` without comments and needless whitespace (what CloudFront counts in its 10 KB), refused
    (FunctionCodeError) when it is over that, or holds a construct rJSmin does not take."""
    if _NESTED_TEMPLATE.search(code):
        raise FunctionCodeError(
            "a function's code must not nest template literals: rJSmin cannot minify them"
        )
    minified: str = rjsmin.jsmin(code)
    size = len(minified.encode("utf-8"))
    if size > MAX_FUNCTION_BYTES:
        raise FunctionCodeError(
            f"the function's code would be {size} bytes minified: CloudFront allows {MAX_FUNCTION_BYTES}"
        )
    return minified


@dataclass(frozen=True)
class Canary:
    """A canary in the store's value: `version` for the viewers whose bucket is below `percent`."""

    version: str
    percent: float
    routes: VersionRoutes | None
    rule_keys: int = 0
    """How many rule keys its build's rules take (`rule_keys.compile_rules`), 0 without rules."""


def _summary(routes: VersionRoutes, rule_keys: int) -> dict[str, object]:
    data: dict[str, object] = json.loads(routes.to_summary())
    if rule_keys:
        data["k"] = rule_keys  # router.js reads one more key, r/<version>/<n>, for this version
    return data


def store_value(
    version: str, routes: VersionRoutes | None, canary: Canary | None = None, rule_keys: int = 0
) -> str:
    """The `live-version` value for `version` (or `layout.NO_VERSION_RELEASED`) and its routes (and
    the count of its rule keys, `"k"`), with `canary` inside the routes' JSON (`"c"`: one value, so one
    read per request and both versions changed in one write; older functions ignore the key);
    RoutesTooLargeError when it does not fit the store's 1 KB value."""
    if routes is None or version == layout.NO_VERSION_RELEASED:
        if canary is not None:
            raise ValueError(f"a canary needs a live version with routes, not {version!r}")
        return version
    if canary is None and not rule_keys:
        return f"{version} {routes.to_summary()}"
    data = _summary(routes, rule_keys)
    if canary is not None:
        percent = int(canary.percent) if float(canary.percent).is_integer() else canary.percent
        data["c"] = {"v": canary.version, "p": percent}
        if (
            canary.routes is not None
        ):  # without: the function routes it as a version whose files it does not know
            data["c"]["r"] = _summary(canary.routes, canary.rule_keys)  # type: ignore[index]
    value = f"{version} {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}"
    size = len(value.encode("utf-8"))
    if size > MAX_STORE_VALUE_BYTES:
        both = (
            "the live version's and the canary's routes"
            if canary is not None
            else "the live version's routes"
        )
        raise RoutesTooLargeError(
            f"{both} need {size} bytes together, and the "
            f"cloudfront-function router's KeyValueStore value holds {MAX_STORE_VALUE_BYTES}"
        )
    return value


def manifest_routes(manifest: layout.Manifest | None, spa_fallback: bool) -> VersionRoutes | None:
    """The routes a version's `manifest` gives (None without one)."""
    if manifest is None:
        return None
    return VersionRoutes.from_paths(manifest.files, spa_fallback, manifest.fingerprinted_paths())


def manifest_rule_keys(version: str, manifest: layout.Manifest | None) -> dict[str, str]:
    """The KeyValueStore keys of `version`'s build rules (`rule_keys.compile_rules`; none without rules or
    a manifest): what `rule_keys.write_rule_keys` must have written before the `live-version` value that
    `manifest_store_value` gives reaches the store. RulesNotCarriedError beyond this router's limits."""
    if manifest is None:
        return {}
    return compile_rules(version, manifest.rules, manifest.files).values


def manifest_store_value(
    version: str,
    manifest: layout.Manifest | None,
    spa_fallback: bool,
    canary: tuple[str, int, layout.Manifest | None] | None = None,
) -> str:
    """`store_value` for `version` with the routes its `manifest` gives (None: no routes) and its rule
    keys' count, and the `canary` (version, percent, manifest) if one runs, as a deployment writes it;
    RoutesTooLargeError when they do not fit, RulesNotCarriedError for build rules (`_redirects`,
    `_headers`) beyond what this router carries (`rule_keys.compile_rules`)."""
    routes = manifest_routes(manifest, spa_fallback)
    rule_keys = len(manifest_rule_keys(version, manifest))
    if canary is None:
        return store_value(version, routes, rule_keys=rule_keys)
    canary_version, percent, canary_manifest = canary
    return store_value(
        version,
        routes or VersionRoutes.unknown(spa_fallback),
        Canary(
            canary_version,
            percent,
            manifest_routes(canary_manifest, spa_fallback),
            len(manifest_rule_keys(canary_version, canary_manifest)),
        ),
        rule_keys=rule_keys,
    )


def parse_store_value(value: str) -> tuple[str, VersionRoutes | None]:
    """The version and the routes of a `live-version` value, as `router.js` reads it (routes that do
    not parse are None: the function routes as without them)."""
    version, _, summary = value.partition(" ")
    if not summary:
        return version, None
    try:
        routes = VersionRoutes.from_summary(summary)
    except (ValueError, KeyError, TypeError, AttributeError):
        return version, None
    return version, routes


def rule_key_counts(value: str) -> tuple[int, int]:
    """How many rule keys the live version and the canary of a `live-version` value have (`"k"`), as
    `router.js` reads them (0: none, or not a count)."""
    _, _, summary = value.partition(" ")
    try:
        data = json.loads(summary)
    except ValueError:
        return 0, 0
    if not isinstance(data, dict):
        return 0, 0
    canary = data.get("c")
    routes = canary.get("r") if isinstance(canary, dict) else None
    counts = (data.get("k"), routes.get("k") if isinstance(routes, dict) else None)
    live, of_canary = (c if isinstance(c, int) and not isinstance(c, bool) and c > 0 else 0 for c in counts)
    return live, of_canary


def parse_canary(value: str) -> Canary | None:
    """The canary of a `live-version` value as `router.js` reads it: None when there is none, or its
    version is not one, or its share is not a number (the function then serves the live version)."""
    _, _, summary = value.partition(" ")
    try:
        data = json.loads(summary)
    except ValueError:
        return None
    canary = data.get("c") if isinstance(data, dict) else None
    if not isinstance(canary, dict) or not isinstance(canary.get("v"), str):
        return None
    percent = canary.get("p")
    if not layout.is_valid_version(canary["v"]) or isinstance(percent, bool):
        return None
    if not isinstance(percent, int | float):
        return None
    routes = None
    if isinstance(canary.get("r"), dict):
        try:
            routes = VersionRoutes.from_summary(json.dumps(canary["r"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            routes = None
    return Canary(canary["v"], percent, routes)
