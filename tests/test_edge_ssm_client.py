"""The edge's SSM client: the GetParameter-only model it ships, its timeouts, and its fallback to stock
botocore when the runtime's botocore lacks the internals the trimmed client uses."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge_lambda import ssm_client
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.ssm_model import API_VERSION, GET_PARAMETER_MODEL, SSM_ENDPOINTS
from tests.edge_scaffold import (
    BREAKAGES,
    BROKEN_ATTRIBUTES,
    PARAMETER_NAME,
    REGION,
    ROOT,
    V1,
    edge_settings,
    installed_get_parameter_model,
    installed_ssm_endpoints,
    origin_request_event,
    put_pointer,
)


def test_shipped_model_matches_the_installed_botocore() -> None:
    stale = "edge_lambda/ssm_model.py is out of date: run `uv run python tests/edge_scaffold.py`"
    assert installed_get_parameter_model() == GET_PARAMETER_MODEL, stale
    assert installed_ssm_endpoints() == SSM_ENDPOINTS, stale


def test_creating_clients_leaves_the_shipped_data_untouched() -> None:
    model, endpoints = copy.deepcopy(GET_PARAMETER_MODEL), copy.deepcopy(SSM_ENDPOINTS)
    ssm_client.create_ssm_client(REGION).meta.endpoint_url  # noqa: B018 (resolving is the point)
    assert (model, endpoints) == (GET_PARAMETER_MODEL, SSM_ENDPOINTS)


def test_client_resolves_the_regional_endpoint_from_the_shipped_endpoints() -> None:
    for region, host in [
        ("us-east-1", "ssm.us-east-1.amazonaws.com"),
        ("cn-north-1", "ssm.cn-north-1.amazonaws.com.cn"),
    ]:
        assert ssm_client.create_ssm_client(region).meta.endpoint_url == f"https://{host}"


def test_client_uses_the_shipped_model_short_timeouts_and_one_retry() -> None:
    client = ssm_client.create_ssm_client(REGION)
    assert client.meta.region_name == REGION
    assert client.meta.service_model.api_version == API_VERSION
    assert client.meta.service_model.operation_names == ["GetParameter"]
    config: Any = client.meta.config  # botocore sets these attributes dynamically
    assert config.connect_timeout == ssm_client.CONNECT_TIMEOUT_SECONDS == 1
    assert config.read_timeout == ssm_client.READ_TIMEOUT_SECONDS == 1
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


@pytest.mark.parametrize("broken", BREAKAGES)
def test_without_the_internals_it_uses_the_client_falls_back_to_stock_botocore(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    BREAKAGES[broken](monkeypatch)
    with pytest.raises((AttributeError, ImportError)):
        ssm_client.create_trimmed_ssm_client(REGION)
    logged: list[dict[str, Any]] = []
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(Name=PARAMETER_NAME, Value=V1, Type="String")
        client = ssm_client.create_ssm_client(
            REGION, log=lambda event, **fields: logged.append({"event": event, **fields})
        )
        assert ssm_client.fetch_parameter(client, PARAMETER_NAME) == V1
    # botocore's own model (every SSM operation), with the same timeouts and retries.
    assert "GetParameter" in client.meta.service_model.operation_names
    assert len(client.meta.service_model.operation_names) > 1
    config: Any = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 1)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert [entry["event"] for entry in logged] == ["ssm-client-fallback"]
    assert BROKEN_ATTRIBUTES[broken] in logged[0]["error"]


@pytest.mark.parametrize("broken", BREAKAGES)
def test_a_whole_request_is_served_when_botocore_lacks_the_internals(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    BREAKAGES[broken](monkeypatch)
    with mock_aws():
        put_pointer(boto3.client("ssm", region_name=REGION), V1)
        settings = edge_settings()
        function = OriginRequestHandler(settings, PointerCache(settings, log=lambda *_, **__: None))
        assert function(origin_request_event("/docs/"))["uri"] == f"/{V1}/docs/index.html"


def test_the_edge_imports_without_botocore_loader() -> None:
    # In a fresh interpreter: Loader renamed before the handler is imported, as an updated runtime might.
    code = (
        "import botocore.loaders, botocore.session\n"
        "loader_class = botocore.loaders.Loader; del botocore.loaders.Loader\n"
        "botocore.session.create_loader = lambda *_: loader_class()\n"
        "import edge_lambda.handler, edge_lambda.ssm_client\n"
        "print(edge_lambda.ssm_client.create_ssm_client('us-east-1').meta.endpoint_url)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "https://ssm.us-east-1.amazonaws.com"


def test_the_trimmed_client_is_used_while_the_internals_exist() -> None:
    logged: list[str] = []
    client = ssm_client.create_ssm_client(REGION, log=lambda event, **_: logged.append(event))
    assert client.meta.service_model.operation_names == ["GetParameter"] and logged == []
