"""The Lambda bundle: exactly the `edge_lambda` modules plus config.json, and enough to run alone."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.edge_bundle import bundle_files
from scripts.demo.local_aws import moto_server
from tests.edge_scaffold import (
    REGION,
    V1,
    edge_settings,
    fallback_origin_event,
    origin_request_event,
    put_pointer,
    site_packages,
    write_bundle,
)

EDGE_DIR = Path(__file__).resolve().parent.parent / "edge_lambda"


def test_bundle_holds_every_module_and_the_generated_config() -> None:
    settings = edge_settings(spa_fallback=True)
    files = bundle_files(settings)
    modules = {f"edge_lambda/{path.name}" for path in EDGE_DIR.glob("*.py")}
    assert set(files) == modules | {"edge_lambda/config.json"}
    assert {"edge_lambda/handler.py", "edge_lambda/__init__.py"} <= set(files)
    assert json.loads(files["edge_lambda/config.json"]) == json.loads(settings.to_json())


def test_bundle_imports_only_the_standard_library_botocore_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "edge_lambda", "mypy_boto3_ssm"}
    for name, content in bundle_files(edge_settings()).items():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(content)):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{name} imports {roots - allowed}"


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


# Runs in a fresh interpreter with no site processing (-S: not even the project's editable install)
# and no environment-derived paths (-I): only the bundle and the installed packages, as on Lambda.
RUN_BUNDLE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import edge_lambda.handler
outside = ("components", "scripts", "policy", "tests", "pulumi", "moto")
result = edge_lambda.handler.handler(json.loads(sys.argv[3]), None)
print(json.dumps({
    "result": result,
    "handler_file": edge_lambda.handler.__file__,
    "outside_modules": sorted(m for m in sys.modules if m.split(".")[0] in outside),
}))
"""


def run_bundle(bundle: Path, event: dict[str, Any], endpoint: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": endpoint,
    }
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN_BUNDLE, str(bundle), site_packages(), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        cwd=bundle,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    output: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return output


def test_handler_runs_from_the_bundle_alone(tmp_path: Path, moto_endpoint: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=moto_endpoint)
    put_pointer(ssm, V1)
    bundle = write_bundle(bundle_files(edge_settings(spa_fallback=True)), tmp_path / "bundle")

    output = run_bundle(bundle, origin_request_event("/app/route", querystring="x=1"), moto_endpoint)

    assert output["result"]["uri"] == f"/{V1}/index.html", "spa_fallback read from the bundled config.json"
    assert output["result"]["querystring"] == "x=1"
    assert Path(output["handler_file"]).is_relative_to(bundle)
    assert output["outside_modules"] == [], "nothing from the project, Pulumi or moto"

    refused = run_bundle(bundle, origin_request_event("/%2e%2e/_manifests/x.json"), moto_endpoint)
    assert refused["result"]["status"] == "400"

    chunk = run_bundle(bundle, fallback_origin_event("/assets/Lazy-Q1AJiLvC.js"), moto_endpoint)
    assert chunk["result"]["uri"] == "/_assets/assets/Lazy-Q1AJiLvC.js", "the fallback rewrite ships too"
