"""Times a rendered CloudFront Function's handler under Node, for the benches of the function router
(bench/split.py, bench/function_rules.py): each case is a store (the KeyValueStore's keys and values)
and the event the handler gets, run `iterations` times after a warm-up, in `rounds` fresh Node processes.
Node's JIT is not CloudFront's runtime: compare cases of one run, not nanoseconds across machines."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Loads the code with a `cloudfront` stub whose store answers at once and counts its reads; a missing
# key is an error, as `kvs.get` raises for one.
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
  // A function returning the event as a literal: each call a fresh event, as cheap as one written inline.
  const event = new Function('return ' + JSON.stringify(c.event) + ';');
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


def time_cases(
    node: str, code: str, cases: Mapping[str, Mapping[str, Any]], iterations: int, rounds: int
) -> list[dict[str, dict[str, Any]]]:
    """Each round's results per case: `ns` per request, the store `reads` of one request, its `answer`
    (the rewritten URI, or the status of a generated response)."""
    with tempfile.TemporaryDirectory() as directory:
        function, harness = Path(directory, "function.js"), Path(directory, "harness.mjs")
        function.write_text(code, encoding="utf-8")
        harness.write_text(HARNESS, encoding="utf-8")
        command = [node, str(harness), str(function), json.dumps(cases), str(iterations)]
        return [
            json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            for _ in range(rounds)
        ]


def median(rounds: list[dict[str, dict[str, Any]]], name: str) -> float:
    """The median over rounds of a case's nanoseconds per request."""
    values = sorted(r[name]["ns"] for r in rounds)
    return float(values[len(values) // 2])
