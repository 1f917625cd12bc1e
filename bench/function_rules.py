"""What the build's `_redirects` cost the CloudFront Function router, under Node: the deployed code's
size, the store reads per request, and the handler's time per request for a version with rules (its
keys as full as the limits let them be) as a ratio against the same request to a version without rules,
measured in the same run.

    uv run python bench/function_rules.py [--iterations 100000]

As bench/split.py: the store stub answers at once (CloudFront's reads are local to the edge, AWS gives
no latency figure), and Node's JIT is not CloudFront's runtime, so read the ratios."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.node_timing import median, time_cases  # noqa: E402
from edge_function import host_redirect  # noqa: E402
from edge_function.code import LIVE_VERSION_KEY, function_code, store_value, viewer_response_code  # noqa: E402
from edge_function.rule_keys import compile_rules  # noqa: E402
from edge_lambda.routes import RouteSettings, VersionRoutes  # noqa: E402
from edge_lambda.site_rules import SiteRules, parse_headers, parse_redirects  # noqa: E402

STORE_ID = "8aa76c93-3198-462c-aaf6-0123456789ab"
VERSION = "20261127T101500Z"
FILES = ["index.html", "about.html", "docs/index.html", *(f"blog/post-{n}.html" for n in range(200))]
# 250 literal redirects of two segments and 8 rules every path tries (`/x/*`, `/u/:id`): keys about
# as full as compile_rules lets them be.
HEADERS = "/*\n  X-Frame-Options: DENY\n/fonts/*\n  Cache-Control: public, max-age=31536000, immutable\n"
REDIRECTS = "".join(f"/section-{n % 40}/old-page-{n} /new/page/{n} 301\n" for n in range(250)) + "".join(
    f"/area-{n}/* /moved-{n}/:splat 302\n" for n in range(8)
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("bench/function_rules.py needs `node` (Debian's nodejs)")
    code = function_code("a" * 64, RouteSettings())
    with_host = host_redirect.with_router(code, {"www.example.com": "example.com"})
    print(f"router.js as deployed (64-character store id): {len(code.encode())} of 10240 bytes")
    print(f"  with a host redirect (www.example.com -> example.com): {len(with_host.encode())}")
    routes = VersionRoutes.from_paths(FILES, False, None)
    compiled = compile_rules(VERSION, SiteRules(parse_redirects(REDIRECTS), parse_headers(HEADERS)), FILES)
    print(
        f"viewer_response.js as deployed: {len(viewer_response_code(True, 'a' * 64).encode())} of 10240 bytes"
    )
    sizes = sorted(len(v.encode()) for v in compiled.values.values())
    print(
        f"rules: {len(REDIRECTS.splitlines())} redirects in {compiled.count} keys of {sizes[0]}-{sizes[-1]} "
        f"bytes ({sum(sizes)} in all)"
    )
    plain = {LIVE_VERSION_KEY: store_value(VERSION, routes)}
    ruled = {LIVE_VERSION_KEY: store_value(VERSION, routes, rule_keys=compiled.count), **compiled.values}
    cases = {
        "no rules, /about (baseline)": _case(plain, "/about"),
        "rules, /about (no rule matches)": _case(ruled, "/about"),
        "rules, /section-7/old-page-247 (301)": _case(ruled, "/section-7/old-page-247"),
        "rules, /area-7/a/b (the last rule every path tries)": _case(ruled, "/area-7/a/b"),
    }
    response_cases = {
        "viewer-response, no rules (baseline)": _case(plain, "/about"),
        "viewer-response, rules, /about (one block)": _case(ruled, "/about"),
    }
    for title, code, table in (
        ("viewer-request (router.js)", function_code(STORE_ID, RouteSettings()), cases),
        ("viewer-response (viewer_response.js)", viewer_response_code(False, STORE_ID), response_cases),
    ):
        print(title)
        _run(node, code, table, arguments.iterations, arguments.rounds)


def _case(store: Mapping[str, str], uri: str) -> dict[str, Any]:
    """A GET of `uri` with the given store; the response part is what viewer-response reads."""
    request = {"method": "GET", "uri": uri, "querystring": {}, "headers": {}, "cookies": {}}
    response = {"statusCode": 200, "headers": {}, "cookies": {}}
    return {
        "store": store,
        "event": {"viewer": {"ip": "203.0.113.178"}, "request": request, "response": response},
    }


def _run(node: str, code: str, cases: Mapping[str, Mapping[str, Any]], iterations: int, count: int) -> None:
    rounds = time_cases(node, code, cases, iterations, count)
    baseline = median(rounds, next(iter(cases)))
    for name in cases:
        first = rounds[0][name]
        ns = median(rounds, name)
        reads, answer = first["reads"], first["answer"]
        print(f"  {name:52} {ns:8.0f} ns  {ns / baseline:5.2f}x  {reads} reads  -> {answer}")


if __name__ == "__main__":
    main()
