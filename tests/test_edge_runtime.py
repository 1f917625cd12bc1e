"""The bundle in the runtime it deploys to: the files `components.edge_bundle` builds, run by the Lambda
runtime's Python with only the botocore that runtime ships (`tests.edge_scaffold.runtime_python`),
against moto_server and against an SSM endpoint that answers garbage, errors, throttling and slowly.

The first run builds that venv under .cache/ (uv, botocore from PyPI: a few seconds); later runs reuse it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from components.edge_bundle import RUNTIME_BOTOCORE_VERSION, bundle_files
from edge_lambda import layout
from scripts.demo.local_aws import moto_server
from tests.edge_scaffold import (
    FAULTS,
    REGION,
    RUNTIME_PYTHON_VERSION,
    SLOW_ANSWER_SECONDS,
    TTL_SECONDS,
    V1,
    FaultySSM,
    edge_settings,
    put_pointer,
    runtime_python,
    write_bundle,
)

# The read timeout the driver gives the client for the "slow" scenario: the real 1 s would make the
# test wait 4 s; what is checked is that botocore gives up after each attempt's read timeout.
TEST_READ_TIMEOUT_SECONDS = 0.2
FAILING_WINDOWS = 2
MANIFEST_BUCKET = "runtime-manifests"

# Runs in the runtime's interpreter, isolated (-I): the venv's site-packages (botocore and its
# dependencies, nothing of the project's) and the bundle.
DRIVER = """
import json, os, sys, time
bundle, moto_endpoint, faulty_endpoint, read_timeout, windows = sys.argv[1:6]
sys.path.insert(0, bundle)
backoffs = []
time.sleep = backoffs.append  # botocore waits out its retry backoff with time.sleep: record it instead
import random
# botocore's jitter (ExponentialBackoff binds random.random when imported): fixed, so each wait is exact.
random.random = lambda: 0.25

import botocore
import edge_lambda.handler as edge
from edge_lambda import ssm_client
from edge_lambda.settings import load_settings

def event(uri):
    return {"Records": [{"cf": {"request": {"method": "GET", "uri": uri, "querystring": "", "headers": {}}}}]}

out = {"python": "%d.%d" % sys.version_info[:2], "botocore": botocore.__version__, "scenarios": {}}
os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
out["moto"] = [edge.handler(event(uri), None).get("uri") for uri in ("/docs/", "/app/route")]
out["moto"].append(edge.handler(event("/%C2%85"), None)["status"])
# The trimmed client, not the stock fallback: the runtime's botocore has the internals it uses.
out["client_operations"] = ssm_client.create_ssm_client("us-east-1").meta.service_model.operation_names
# A version's manifest, read with the trimmed S3 client (its model from the project's newer botocore).
from edge_lambda import version_routes
bucket, version = os.environ["MANIFEST"].split("/")
fallbacks = []
manifests = version_routes.ManifestRoutes(
    bucket, "us-east-1", False, log=lambda event, **_: fallbacks.append(event)
)
routes = manifests(version)
out["manifest"] = {"style": routes.style, "exceptions": routes.exceptions, "fallbacks": fallbacks}
out["s3_client_operations"] = manifests._s3.meta.service_model.operation_names

ssm_client.READ_TIMEOUT_SECONDS = float(read_timeout)
settings = load_settings()
for scenario in sys.argv[6:]:
    os.environ["AWS_ENDPOINT_URL"] = faulty_endpoint + "/" + scenario
    now, errors = [0.0], []
    cache = edge.PointerCache(settings, now=lambda: now[0], log=lambda _, **fields: errors.append(fields))
    function = edge.OriginRequestHandler(settings, cache)
    uris = [function(event("/")).get("uri")]
    del backoffs[:]
    started = time.perf_counter()
    for _ in range(int(windows)):
        now[0] += settings.cache_ttl_seconds
        uris += [function(event("/a.js")).get("uri") for _ in range(10)]
    out["scenarios"][scenario] = {
        "uris": uris,
        "errors": errors,
        "backoffs": list(backoffs),
        "seconds": time.perf_counter() - started,
    }
print(json.dumps(out))
"""

# botocore 1.38's standard retry mode (retries/standard.py): 500-504, throttling error codes and
# connection errors (read timeouts, truncated answers) are retried; a 200 is not, whatever its body.
ATTEMPTS = {
    "garbage": 1,
    "not-get-parameter": 1,
    "value-not-a-string": 1,
    "server-error": 2,
    "throttled": 2,
    "slow": 2,
    "truncated": 2,
}


@pytest.fixture(scope="module")
def runtime_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], FaultySSM]]:
    python = runtime_python()
    bundle = write_bundle(bundle_files(edge_settings(spa_fallback=True)), tmp_path_factory.mktemp("bundle"))
    with moto_server() as moto_endpoint, FaultySSM().serving() as faulty:
        # Module-scoped: before conftest's per-test fake credentials, so they are given here.
        ssm = boto3.client(
            "ssm",
            region_name=REGION,
            endpoint_url=moto_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        put_pointer(ssm, V1)
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=moto_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=MANIFEST_BUCKET)
        page = layout.ManifestFile(1, "0" * 64, "text/html; charset=utf-8", "no-cache", "0" * 32)
        files = {path: page for path in ("index.html", "docs/index.html", "about.html")}
        manifest = layout.Manifest(V1, "2026-11-27T10:15:00+00:00", files)
        s3.put_object(Bucket=MANIFEST_BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
        completed = subprocess.run(
            [str(python), "-I", "-c", DRIVER, str(bundle), moto_endpoint, faulty.url]
            + [str(TEST_READ_TIMEOUT_SECONDS), str(FAILING_WINDOWS), *ATTEMPTS],
            capture_output=True,
            text=True,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "MANIFEST": f"{MANIFEST_BUCKET}/{V1}",
            },
            cwd=bundle,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        yield json.loads(completed.stdout.splitlines()[-1]), faulty


def test_runs_in_the_runtime_python_with_its_botocore_alone(runtime_run: tuple[dict[str, Any], Any]) -> None:
    output, _ = runtime_run
    assert (output["python"], output["botocore"]) == (RUNTIME_PYTHON_VERSION, RUNTIME_BOTOCORE_VERSION)
    assert output["moto"] == [f"/{V1}/docs/index.html", f"/{V1}/index.html", "400"]
    assert output["client_operations"] == ["GetParameter"]
    # The S3 client for manifests is the trimmed one too, and reads them with the runtime's botocore.
    assert output["s3_client_operations"] == ["GetObject"]
    assert output["manifest"] == {"style": "d", "exceptions": {"about": "hh"}, "fallbacks": []}


def test_the_scenarios_cover_every_fault() -> None:
    assert set(ATTEMPTS) == set(FAULTS)


@pytest.mark.parametrize("scenario", list(ATTEMPTS))
def test_every_fault_serves_the_cached_version_and_calls_ssm_once_per_window(
    runtime_run: tuple[dict[str, Any], FaultySSM], scenario: str
) -> None:
    output, faulty = runtime_run
    result = output["scenarios"][scenario]
    assert result["uris"] == [f"/{V1}/index.html"] + [f"/{V1}/a.js"] * 10 * FAILING_WINDOWS
    attempts = ATTEMPTS[scenario]
    assert faulty.calls[scenario] == 1 + attempts * FAILING_WINDOWS, "one lookup per window, not per request"
    assert len(result["errors"]) == FAILING_WINDOWS, "logged once per window"
    assert all(error["serving"] == V1 for error in result["errors"])
    assert all(error["retry_in_seconds"] == TTL_SECONDS for error in result["errors"])
    # botocore 1.38's standard mode waits rand() * 2 ** (attempt - 1) s before each retry, throttled or
    # not: with one retry, rand() * 1 (the driver fixes rand() at 0.25).
    assert result["backoffs"] == [0.25] * ((attempts - 1) * FAILING_WINDOWS)


def test_a_slow_answer_costs_one_read_timeout_per_attempt(runtime_run: tuple[dict[str, Any], Any]) -> None:
    output, _ = runtime_run
    waited = output["scenarios"]["slow"]["seconds"]
    attempts_timed_out = ATTEMPTS["slow"] * FAILING_WINDOWS
    assert TEST_READ_TIMEOUT_SECONDS * attempts_timed_out <= waited < SLOW_ANSWER_SECONDS
    assert "Read timeout" in output["scenarios"]["slow"]["errors"][0]["error"]
