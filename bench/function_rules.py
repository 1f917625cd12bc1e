"""What the build's `_redirects` cost the CloudFront Function router, under Node: the deployed code's
size, the store reads per request, and the handler's time per request for a version with rules (its
keys as full as the limits let them be) as a ratio against the same request to a version without rules,
measured in the same run.

    uv run python bench/function_rules.py [--iterations 100000]

As bench/split.py: the store stub answers at once (CloudFront's reads are local to the edge, AWS gives
no latency figure), and Node's JIT is not CloudFront's runtime, so read the ratios."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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

# Loads the rendered code with a `cloudfront` stub whose store answers at once and counts its reads.
HARNESS = r"""
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
const dataUrl = (s) => 'data:text/javascript,' + encodeURIComponent(s);
globalThis.store = {};
globalThis.reads = 0;
const stub = "export default { kvs() { return { async get(k) { globalThis.reads++; " +
  "if (!(k in globalThis.store)) throw new Error('no key'); return globalThis.store[k]; } }; } };";
register(dataUrl(`export async function resolve(s, c, n) {
  return s === 'cloudfront' ? { url: ${JSON.stringify(dataUrl(stub))}, shortCircuit: true } : n(s, c); }`));
const [path, casesJson, iterations] = process.argv.slice(2);
const handler = (await import(dataUrl(readFileSync(path, 'utf8') + '\nexport { handler };'))).handler;
const results = {};
for (const [name, c] of Object.entries(JSON.parse(casesJson))) {
  globalThis.store = c.store;
  const event = () => ({ viewer: { ip: '203.0.113.178' }, request: { method: 'GET', uri: c.uri,
    querystring: {}, headers: {}, cookies: {} }, response: { statusCode: 200, headers: {}, cookies: {} } });
  globalThis.reads = 0;
  const answer = await handler(event());
  const reads = globalThis.reads;
  for (let i = 0; i < 20000; i++) await handler(event());
  const start = process.hrtime.bigint();
  for (let i = 0; i < Number(iterations); i++) await handler(event());
  results[name] = { ns: Number(process.hrtime.bigint() - start) / Number(iterations), reads,
    answer: answer.uri || answer.statusCode };
}
process.stdout.write(JSON.stringify(results));
"""


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
        "no rules, /about (baseline)": {"store": plain, "uri": "/about"},
        "rules, /about (no rule matches)": {"store": ruled, "uri": "/about"},
        "rules, /section-7/old-page-247 (301)": {"store": ruled, "uri": "/section-7/old-page-247"},
        "rules, /area-7/a/b (the last rule every path tries)": {"store": ruled, "uri": "/area-7/a/b"},
    }
    response_cases = {
        "viewer-response, no rules (baseline)": {"store": plain, "uri": "/about"},
        "viewer-response, rules, /about (one block)": {"store": ruled, "uri": "/about"},
    }
    for title, code, table in (
        ("viewer-request (router.js)", function_code(STORE_ID, RouteSettings()), cases),
        ("viewer-response (viewer_response.js)", viewer_response_code(False, STORE_ID), response_cases),
    ):
        print(title)
        _run(node, code, table, arguments.iterations, arguments.rounds)


def _run(node: str, code: str, cases: Mapping[str, Mapping[str, Any]], iterations: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        function, harness = Path(directory, "function.js"), Path(directory, "harness.mjs")
        function.write_text(code, encoding="utf-8")
        harness.write_text(HARNESS, encoding="utf-8")
        rounds = [
            json.loads(
                subprocess.run(
                    [node, str(harness), str(function), json.dumps(cases), str(iterations)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(count)
        ]
    baseline_name = next(iter(cases))
    baseline = sorted(r[baseline_name]["ns"] for r in rounds)[len(rounds) // 2]
    for name in cases:
        median = sorted(r[name]["ns"] for r in rounds)[len(rounds) // 2]
        first = rounds[0][name]
        ratio = median / baseline
        print(f"  {name:52} {median:8.0f} ns  {ratio:5.2f}x  {first['reads']} reads  -> {first['answer']}")


if __name__ == "__main__":
    main()
