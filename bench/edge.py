"""Benchmark of the edge function (`make bench`), in one run against one in-process moto.

1. Warm path: requests per second of `OriginRequestHandler` versus a naive handler that calls SSM on
   every request, both against `mock_aws`. Goal: at least 100 times faster.
2. SSM calls per 10,000 requests spread over 60 simulated seconds (TTL 5 s, so 12 windows), with SSM
   answering and with SSM failing. Goal: one call per TTL window.
3. Cold start: import plus first request of the bundle (`components.edge_bundle.bundle_files`) in
   fresh interpreters, versus `import boto3` alone; median of interleaved runs. Goal: at most 1.3
   times. The first request goes to the same moto, served by `ThreadedMotoServer` on 127.0.0.1: the
   fresh interpreter must not import moto, which imports boto3 before the clock starts.
   The same handler run in the Lambda runtime's Python with the botocore it ships
   (`tests.edge_scaffold.runtime_python`), for the record. And the S3 client for manifests plus its
   first read (a 1,000-file manifest), trimmed (`version_routes.create_s3_client`) against botocore's
   stock client, as a ratio pair by pair.

4. The build's rules (`_redirects`, `_headers`), on a cache miss: origin-request plus origin-response of
   a version with the most rules a build may carry (1,000 redirects, 100 header blocks; a path no rule
   matches, so every rule is walked) against the same version without rules, in one run; and the cost of
   learning a version (parsing its manifest, once per version per container) with and without them.
   `python bench/edge.py --rules` runs this part alone.

Prints a table and writes bench/results/edge.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import botocore  # noqa: E402
import moto  # noqa: E402
from moto import mock_aws  # noqa: E402

from components.edge_bundle import LAMBDA_RUNTIME, RUNTIME_BOTOCORE_VERSION, bundle_files  # noqa: E402
from edge_lambda.handler import OriginRequestHandler, PointerCache, rewrite_request  # noqa: E402
from edge_lambda.layout import Manifest, ManifestFile, manifest_key  # noqa: E402
from edge_lambda.routes import VersionRoutes  # noqa: E402
from edge_lambda.settings import EdgeSettings  # noqa: E402
from edge_lambda.site_rules import (  # noqa: E402
    MAX_HEADER_RULES,
    MAX_REDIRECT_RULES,
    parse_rule_files,
)
from edge_lambda.ssm_client import create_ssm_client  # noqa: E402
from edge_lambda.version_routes import RoutesCache  # noqa: E402
from scripts.demo.local_aws import moto_server  # noqa: E402
from tests.clock import ManualClock  # noqa: E402
from tests.edge_scaffold import (  # noqa: E402
    count_get_parameter_calls,
    origin_request_event,
    runtime_python,
    site_packages,
    write_bundle,
)

REGION = "us-east-1"
SETTINGS = EdgeSettings(
    parameter_name="/versioned-site/bench/live-version", region=REGION, cache_ttl_seconds=5
)
VERSION = "20261127T101500Z-1a2b3c4"
URIS = ["/", "/docs/", "/css/site.3f2a1b9c.css", "/about", "/js/app.9f8e7d6c.js", "/img/logo.svg"]
EVENTS = [origin_request_event(uri, querystring="utm_source=bench") for uri in URIS]

WARM_REQUESTS = 50_000
NAIVE_REQUESTS = 500
COUNTED_REQUESTS = 10_000
SIMULATED_SECONDS = 60.0
COLD_RUNS = 11
MANIFEST_BUCKET = "bench-manifests"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def requests_per_second(handle: Callable[[dict[str, Any]], dict[str, Any]], count: int) -> float:
    expected = f"/{VERSION}/index.html"
    assert handle(EVENTS[0])["uri"] == expected, "warm up, and check the answer"
    started = time.perf_counter()
    for i in range(count):
        handle(EVENTS[i % len(EVENTS)])
    return count / (time.perf_counter() - started)


def bench_manifest(files: int = 1_000) -> bytes:
    """A 1,000-file version's manifest, as the edge reads it."""
    page = ManifestFile(1, "0" * 64, "text/html; charset=utf-8", "no-cache", "0" * 32)
    paths = [f"docs/page-{i}/index.html" for i in range(files)]
    return Manifest(VERSION, "2026-11-27T10:15:00+00:00", dict.fromkeys(paths, page)).to_json().encode()


def naive_handler(settings: EdgeSettings) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The handler without a cache: one GetParameter per request, same rewrite."""
    ssm = boto3.client("ssm", region_name=settings.region)

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        version = ssm.get_parameter(Name=settings.parameter_name)["Parameter"]["Value"]
        return rewrite_request(event["Records"][0]["cf"]["request"], version, None, settings.route_settings)

    return handle


def ssm_calls_per_requests(ssm: Any, fail_after: int | None) -> int:
    """GetParameter calls for COUNTED_REQUESTS spread evenly over SIMULATED_SECONDS; from request
    `fail_after` on, the parameter is gone (SSM answers ParameterNotFound)."""
    ssm.put_parameter(Name=SETTINGS.parameter_name, Value=VERSION, Type="String", Overwrite=True)
    client = create_ssm_client(REGION)
    calls = count_get_parameter_calls(client)
    clock = ManualClock()
    function = OriginRequestHandler(
        SETTINGS, PointerCache(SETTINGS, client, now=clock, log=lambda *_, **__: None)
    )
    step = SIMULATED_SECONDS / COUNTED_REQUESTS
    for i in range(COUNTED_REQUESTS):
        if i == fail_after:
            ssm.delete_parameter(Name=SETTINGS.parameter_name)
        answer = function(EVENTS[i % len(EVENTS)])
        # A rewrite, or a redirect (`/about` without a manifest: every page a folder), never a 503.
        assert "uri" in answer or answer["status"] in ("301", "308"), "stale-if-error keeps serving"
        clock.advance(step)
    return calls[0]


# The same preamble for every cold-start script; the clock starts after it.
_PREAMBLE = "import json, sys, time\nsys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
COLD_BOTO3 = (
    _PREAMBLE + "t0 = time.perf_counter()\nimport boto3\nprint(json.dumps([time.perf_counter() - t0]))\n"
)
COLD_HANDLER = (
    _PREAMBLE
    + "event = json.loads(sys.argv[3])\n"
    + "t0 = time.perf_counter()\n"
    + "import edge_lambda.handler\n"
    + "t1 = time.perf_counter()\n"
    + "result = edge_lambda.handler.handler(event, None)\n"
    + "t2 = time.perf_counter()\n"
    + "assert result['uri'] == sys.argv[4], result\n"
    + "print(json.dumps([t2 - t0, t1 - t0, t2 - t1]))\n"
)
COLD_NAIVE = (
    _PREAMBLE
    + "t0 = time.perf_counter()\n"
    + "import boto3\n"
    + "value = boto3.client('ssm', region_name=sys.argv[3]).get_parameter(Name=sys.argv[4])\n"
    + "print(json.dumps([time.perf_counter() - t0]))\n"
)

# The S3 client for manifests, then the first manifest read (what a container's first request of a
# version adds): the trimmed client (`version_routes.create_s3_client`) or botocore's stock one, with the
# same config. The clock starts after the imports both need.
COLD_S3 = (
    _PREAMBLE
    + "import botocore.session\n"
    + "from edge_lambda import version_routes\n"
    + "from edge_lambda.ssm_client import client_config\n"
    + "bucket, key, trimmed = sys.argv[3], sys.argv[4], sys.argv[5] == 'trimmed'\n"
    + "t0 = time.perf_counter()\n"
    + "client = version_routes.create_s3_client(sys.argv[6]) if trimmed else "
    + "botocore.session.get_session().create_client('s3', region_name=sys.argv[6], config=client_config())\n"
    + "t1 = time.perf_counter()\n"
    + "body = client.get_object(Bucket=bucket, Key=key)['Body'].read()\n"
    + "t2 = time.perf_counter()\n"
    + "assert (len(client.meta.service_model.operation_names) == 1) == trimmed\n"
    + "print(json.dumps([t2 - t0, t1 - t0]))\n"
)


def run_cold(script: str, bundle: Path, endpoint: str, *args: str, python: Path | None = None) -> list[float]:
    # -I -S: no site processing, so nothing but the bundle and the installed packages, as on Lambda.
    packages = next(python.parent.parent.glob("lib/python*/site-packages")) if python else site_packages()
    completed = subprocess.run(
        [str(python or sys.executable), "-I", "-S", "-c", script, str(bundle), str(packages), *args],
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_ENDPOINT_URL": endpoint,
            **FAKE_CREDENTIALS,
        },
        cwd=bundle,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"cold-start run failed:\n{completed.stderr}")
    timings: list[float] = json.loads(completed.stdout.splitlines()[-1])
    return [seconds * 1000 for seconds in timings]


def cold_start(bundle_root: Path) -> dict[str, float]:
    with moto_server() as endpoint:
        ssm = boto3.client("ssm", region_name=REGION, endpoint_url=endpoint)
        ssm.put_parameter(Name=SETTINGS.parameter_name, Value=VERSION, Type="String", Overwrite=True)
        bundle = write_bundle(bundle_files(SETTINGS), bundle_root)
        event = json.dumps(EVENTS[0])
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        s3.create_bucket(Bucket=MANIFEST_BUCKET)
        s3.put_object(Bucket=MANIFEST_BUCKET, Key=manifest_key(VERSION), Body=bench_manifest())
        s3_args = (MANIFEST_BUCKET, manifest_key(VERSION))
        runtime = runtime_python()
        boto3_ms, handler_ms, import_ms, first_ms, naive_ms, runtime_ms = [], [], [], [], [], []
        s3_ms: dict[str, list[float]] = {"trimmed": [], "stock": [], "trimmed_create": [], "stock_create": []}
        # Interleaved, so that load from elsewhere on the machine hits every kind of run alike.
        for _ in range(COLD_RUNS):
            boto3_ms += run_cold(COLD_BOTO3, bundle, endpoint)
            total, imported, first = run_cold(COLD_HANDLER, bundle, endpoint, event, f"/{VERSION}/index.html")
            handler_ms.append(total)
            import_ms.append(imported)
            first_ms.append(first)
            naive_ms += run_cold(COLD_NAIVE, bundle, endpoint, REGION, SETTINGS.parameter_name)
            runtime_ms.append(
                run_cold(COLD_HANDLER, bundle, endpoint, event, f"/{VERSION}/index.html", python=runtime)[0]
            )
            for kind in ("trimmed", "stock"):
                total, created = run_cold(COLD_S3, bundle, endpoint, *s3_args, kind, REGION)
                s3_ms[kind].append(total)
                s3_ms[f"{kind}_create"].append(created)
    return {
        "import_boto3_ms": statistics.median(boto3_ms),
        "handler_ms": statistics.median(handler_ms),
        "handler_import_ms": statistics.median(import_ms),
        "handler_first_request_ms": statistics.median(first_ms),
        "naive_boto3_client_ms": statistics.median(naive_ms),
        "handler_in_runtime_ms": statistics.median(runtime_ms),
        "s3_client_and_first_manifest_ms": statistics.median(s3_ms["trimmed"]),
        "s3_client_created_ms": statistics.median(s3_ms["trimmed_create"]),
        "stock_s3_client_and_first_manifest_ms": statistics.median(s3_ms["stock"]),
        "stock_s3_client_created_ms": statistics.median(s3_ms["stock_create"]),
        "s3_trimmed_over_stock": statistics.median(
            [t / s for t, s in zip(s3_ms["trimmed"], s3_ms["stock"], strict=True)]
        ),
        "runs": COLD_RUNS,
    }


RULE_REQUESTS = 5_000


def bench_rules() -> dict[str, float]:
    """Misses per second (origin-request, then origin-response on S3's 200) and manifest loading, for a
    1,000-file version with the most rules a build may carry, against the same version without them."""
    redirects = "".join(f"/old/page-{i}/:id /new/page-{i}/:id 301\n" for i in range(MAX_REDIRECT_RULES - 1))
    redirects += "/blog/* /news/:splat 302\n"
    headers = (
        "".join(f"/area-{i}/*\n  X-Area: {i}\n" for i in range(MAX_HEADER_RULES - 1))
        + "/*\n  X-Frame-Options: DENY\n"
    )
    rules = parse_rule_files(redirects, headers)
    plain = bench_manifest()
    manifest = Manifest.from_json(plain)
    ruled = Manifest(manifest.version, manifest.created, manifest.files, rules).to_json().encode()

    def load_ms(body: bytes, runs: int = 20) -> float:
        started = time.perf_counter()
        for _ in range(runs):
            parsed = Manifest.from_json(body)
            VersionRoutes.from_paths(parsed.files, False, parsed.fingerprinted_paths(), parsed.rules)
        return (time.perf_counter() - started) / runs * 1000

    def misses_per_second(body: bytes, uri: str = "/docs/page-7/") -> float:
        parsed = Manifest.from_json(body)
        routes = VersionRoutes.from_paths(parsed.files, False, parsed.fingerprinted_paths(), parsed.rules)
        pointer = PointerCache(SETTINGS, ssm_client=cast(Any, _FixedPointer()), now=ManualClock())
        handler = OriginRequestHandler(SETTINGS, pointer, RoutesCache(lambda version: routes))
        event = origin_request_event(uri, querystring="utm_source=bench")
        origin_answer = {"status": "200", "statusDescription": "OK", "headers": {}}
        started = time.perf_counter()
        for _ in range(RULE_REQUESTS):
            forwarded = handler(event)
            assert forwarded["uri"].startswith(f"/{VERSION}/"), forwarded
            response_event = {
                "Records": [
                    {
                        "cf": {
                            "config": {"eventType": "origin-response"},
                            "request": forwarded,
                            "response": origin_answer,
                        }
                    }
                ]
            }
            handler(response_event)
        return RULE_REQUESTS / (time.perf_counter() - started)

    without, with_rules = misses_per_second(plain), misses_per_second(ruled)
    # Worst case: every rule starts with the path's first segment, and none matches (walked to the end).
    worst = misses_per_second(ruled, "/old/page-7/a/b/")
    return {
        "misses_per_second_every_rule_walked": round(worst),
        "microseconds_per_miss_added_every_rule_walked": round((1 / worst - 1 / without) * 1e6, 1),
        "misses_per_second_without_rules": round(without),
        "misses_per_second_with_rules": round(with_rules),
        "slowdown": round(without / with_rules, 1),
        "microseconds_per_miss_added": round((1 / with_rules - 1 / without) * 1e6, 1),
        "manifest_load_ms_without_rules": round(load_ms(plain), 2),
        "manifest_load_ms_with_rules": round(load_ms(ruled), 2),
        "manifest_bytes_without_rules": len(plain),
        "manifest_bytes_with_rules": len(ruled),
    }


class _FixedPointer:
    """GetParameter answering the bench's version (no moto: the rules' cost alone)."""

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 (boto3's argument name)
        return {"Parameter": {"Name": Name, "Type": "String", "Value": VERSION}}


def print_rules(r: dict[str, float]) -> None:
    print(
        f"build rules ({MAX_REDIRECT_RULES} redirects, {MAX_HEADER_RULES} header blocks, "
        "none matching the path):\n"
        f"  misses per second (origin-request + origin-response): {r['misses_per_second_without_rules']:,} "
        f"without rules, {r['misses_per_second_with_rules']:,} with ({r['slowdown']}x, "
        f"+{r['microseconds_per_miss_added']} us a miss); a path every rule must be tried on: "
        f"{r['misses_per_second_every_rule_walked']:,} "
        f"(+{r['microseconds_per_miss_added_every_rule_walked']} us)\n"
        f"  learning a 1,000-file version (once per version per container): "
        f"{r['manifest_load_ms_without_rules']} ms without rules "
        f"({r['manifest_bytes_without_rules']:,} bytes), "
        f"{r['manifest_load_ms_with_rules']} ms with ({r['manifest_bytes_with_rules']:,} bytes)"
    )


def main() -> None:
    if "--rules" in sys.argv[1:]:
        print_rules(bench_rules())
        return
    for name, value in FAKE_CREDENTIALS.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)

    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name=SETTINGS.parameter_name, Value=VERSION, Type="String")
        edge = OriginRequestHandler(SETTINGS)
        edge_rps = requests_per_second(edge, WARM_REQUESTS)
        naive_rps = requests_per_second(naive_handler(SETTINGS), NAIVE_REQUESTS)
        calls_ok = ssm_calls_per_requests(ssm, fail_after=None)
        calls_failing = ssm_calls_per_requests(ssm, fail_after=COUNTED_REQUESTS // 2)

    with tempfile.TemporaryDirectory() as bundle_root:
        cold = cold_start(Path(bundle_root))

    windows = int(SIMULATED_SECONDS / SETTINGS.cache_ttl_seconds)
    rules = bench_rules()
    results = {
        "warm_requests_per_second": {"edge": round(edge_rps), "naive": round(naive_rps)},
        "warm_speedup": round(edge_rps / naive_rps, 1),
        "ssm_calls_per_10000_requests": {
            "ttl_windows": windows,
            "edge": calls_ok,
            "edge_ssm_failing_half_the_time": calls_failing,
            "naive": COUNTED_REQUESTS,
        },
        "cold_start": {k: round(v, 1) if isinstance(v, float) else v for k, v in cold.items()},
        "cold_start_ratio": round(cold["handler_ms"] / cold["import_boto3_ms"], 2),
        "build_rules": rules,
        "versions": {
            "python": platform.python_version(),
            "boto3": boto3.__version__,
            "botocore": botocore.__version__,
            "moto": moto.__version__,
            "runtime": f"{LAMBDA_RUNTIME}, botocore {RUNTIME_BOTOCORE_VERSION}",
        },
    }
    print_table(results)
    print_rules(rules)
    out = ROOT / "bench" / "results" / "edge.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


def print_table(r: dict[str, Any]) -> None:
    calls, cold = r["ssm_calls_per_10000_requests"], r["cold_start"]
    rows = [
        ("metric", "edge handler", "naive / baseline", "goal", "result"),
        (
            "warm requests per second",
            f"{r['warm_requests_per_second']['edge']:,}",
            f"{r['warm_requests_per_second']['naive']:,}",
            ">= 100x naive",
            f"{r['warm_speedup']:,}x",
        ),
        (
            f"SSM calls / {COUNTED_REQUESTS:,} requests over {SIMULATED_SECONDS:.0f} s",
            str(calls["edge"]),
            f"{calls['naive']:,}",
            f"1 per {SETTINGS.cache_ttl_seconds} s window ({calls['ttl_windows']})",
            f"{calls['edge'] / calls['ttl_windows']:.2f} per window",
        ),
        (
            "  the same, SSM failing for the 2nd half",
            str(calls["edge_ssm_failing_half_the_time"]),
            f"{calls['naive']:,}",
            f"1 per window ({calls['ttl_windows']})",
            f"{calls['edge_ssm_failing_half_the_time'] / calls['ttl_windows']:.2f} per window",
        ),
        (
            f"cold start ms, median of {cold['runs']}",
            f"{cold['handler_ms']:.1f}",
            f"{cold['import_boto3_ms']:.1f} (import boto3)",
            "<= 1.3x import boto3",
            f"{r['cold_start_ratio']:.2f}x",
        ),
        (
            "  handler: import / first request",
            f"{cold['handler_import_ms']:.1f} / {cold['handler_first_request_ms']:.1f}",
            "",
            "",
            "",
        ),
        (
            "  boto3.client('ssm') + first request",
            "",
            f"{cold['naive_boto3_client_ms']:.1f}",
            "(for comparison)",
            f"{cold['naive_boto3_client_ms'] / cold['import_boto3_ms']:.2f}x",
        ),
        (
            "  S3 client + first manifest read (created)",
            f"{cold['s3_client_and_first_manifest_ms']:.1f} ({cold['s3_client_created_ms']:.1f})",
            f"{cold['stock_s3_client_and_first_manifest_ms']:.1f} ({cold['stock_s3_client_created_ms']:.1f})"
            " (stock)",
            "(trimmed / stock, pair by pair)",
            f"{cold['s3_trimmed_over_stock']:.2f}x",
        ),
        (
            f"  handler in {r['versions']['runtime']}",
            f"{cold['handler_in_runtime_ms']:.1f}",
            "",
            "(the runtime's own)",
            "",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))
    v = r["versions"]
    print(f"\nPython {v['python']}, boto3 {v['boto3']}, botocore {v['botocore']}, moto {v['moto']}")


if __name__ == "__main__":
    main()
