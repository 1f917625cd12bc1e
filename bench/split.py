"""What the canary split costs the CloudFront Function router, under Node: the deployed code's size,
and the handler's time per request with a canary (a viewer with its cookie, and one without, whose
bucket is hashed) as a ratio against the same requests with no canary, measured in the same run.

    uv run python bench/split.py [--iterations 200000]

CloudFront Functions bill no compute time but cap it (the "compute utilization" metric; AWS gives no
absolute figure): the ratio is what to watch. Node's JIT is not CloudFront's runtime, so absolute
nanoseconds are this machine's only."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.node_timing import median, time_cases  # noqa: E402
from edge_function.code import Canary, function_code, store_value  # noqa: E402
from edge_lambda.routes import RouteSettings, VersionRoutes  # noqa: E402

STORE_ID = "8aa76c93-3198-462c-aaf6-0123456789ab"
LIVE, CANARY = "20261127T101500Z", "20261128T090000Z-1a2b3c4"
ROUTES = VersionRoutes.from_paths(["index.html", "about.html", "docs/index.html"], False, None)


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
        "no canary (baseline)": _case(store_value(LIVE, ROUTES), None),
        "canary, viewer with its cookie": _case(with_canary, "42"),
        "canary, new viewer (hashed)": _case(with_canary, None),
    }
    rounds = time_cases(
        node, function_code(STORE_ID, RouteSettings()), cases, arguments.iterations, arguments.rounds
    )
    baseline = median(rounds, "no canary (baseline)")
    for name in cases:
        print(
            f"{name:32} {median(rounds, name):8.0f} ns per request  {median(rounds, name) / baseline:5.2f}x"
        )


def _case(value: str, cookie: str | None) -> dict[str, Any]:
    """A browser's GET of /about, with its `site-bucket` cookie or none; the store's live-version `value`."""
    headers = {"user-agent": {"value": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}}
    cookies = {} if cookie is None else {"site-bucket": {"value": cookie}}
    request = {"method": "GET", "uri": "/about", "querystring": {}, "headers": headers, "cookies": cookies}
    return {
        "store": {"live-version": value},
        "event": {"viewer": {"ip": "203.0.113.178"}, "request": request},
    }


if __name__ == "__main__":
    main()
