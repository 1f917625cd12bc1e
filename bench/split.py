"""What the canary split costs the CloudFront Function router, under Node: the deployed code's size,
and the handler's time per request with a canary (a viewer with its cookie, and one without, whose
bucket is hashed) as a ratio against the same requests with no canary, measured in the same run.

    uv run python bench/split.py [--iterations 200000]

CloudFront Functions bill no compute time but cap it (the "compute utilization" metric; AWS gives no
absolute figure): the ratio is what to watch. Node's JIT is not CloudFront's runtime, so absolute
nanoseconds are this machine's only."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_function.code import Canary, function_code, store_value  # noqa: E402
from edge_lambda.routes import RouteSettings, VersionRoutes  # noqa: E402

STORE_ID = "8aa76c93-3198-462c-aaf6-0123456789ab"
LIVE, CANARY = "20261127T101500Z", "20261128T090000Z-1a2b3c4"
ROUTES = VersionRoutes.from_paths(["index.html", "about.html", "docs/index.html"], False, None)

# Loads the rendered code with a `cloudfront` stub whose store answers at once, then times the handler.
HARNESS = r"""
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
const dataUrl = (s) => 'data:text/javascript,' + encodeURIComponent(s);
globalThis.store = {};
const stub = "export default { kvs() { return { async get(k) { return globalThis.store[k]; } }; } };";
register(dataUrl(`export async function resolve(s, c, n) {
  return s === 'cloudfront' ? { url: ${JSON.stringify(dataUrl(stub))}, shortCircuit: true } : n(s, c); }`));
const [path, casesJson, iterations] = process.argv.slice(2);
const handler = (await import(dataUrl(readFileSync(path, 'utf8') + '\nexport { handler };'))).handler;
const results = {};
for (const [name, c] of Object.entries(JSON.parse(casesJson))) {
  globalThis.store = { 'live-version': c.value };
  const event = () => ({ viewer: { ip: '203.0.113.178' }, request: { method: 'GET', uri: '/about',
    querystring: {}, headers: { 'user-agent': { value: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0' } },
    cookies: c.cookie === null ? {} : { 'site-bucket': { value: c.cookie } } } });
  for (let i = 0; i < 20000; i++) await handler(event());
  const start = process.hrtime.bigint();
  for (let i = 0; i < Number(iterations); i++) await handler(event());
  results[name] = Number(process.hrtime.bigint() - start) / Number(iterations);
}
process.stdout.write(JSON.stringify(results));
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("bench/split.py needs `node` (Debian's nodejs)")
    code = function_code("a" * 64, RouteSettings())
    print(f"router.js as deployed (64-character store id): {len(code.encode())} of 10240 bytes")
    with_canary = store_value(LIVE, ROUTES, Canary(CANARY, 5, ROUTES))
    cases = {
        "no canary (baseline)": {"value": store_value(LIVE, ROUTES), "cookie": None},
        "canary, viewer with its cookie": {"value": with_canary, "cookie": "42"},
        "canary, new viewer (hashed)": {"value": with_canary, "cookie": None},
    }
    with tempfile.TemporaryDirectory() as directory:
        router, harness = Path(directory, "router.js"), Path(directory, "harness.mjs")
        router.write_text(function_code(STORE_ID, RouteSettings()), encoding="utf-8")
        harness.write_text(HARNESS, encoding="utf-8")
        rounds = [
            json.loads(
                subprocess.run(
                    [node, str(harness), str(router), json.dumps(cases), str(arguments.iterations)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(arguments.rounds)
        ]
    baseline = sorted(r["no canary (baseline)"] for r in rounds)[len(rounds) // 2]
    for name in cases:
        median = sorted(r[name] for r in rounds)[len(rounds) // 2]
        print(f"{name:32} {median:8.0f} ns per request  {median / baseline:5.2f}x")


if __name__ == "__main__":
    main()
