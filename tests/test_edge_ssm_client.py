"""The edge's SSM client: the GetParameter-only model it ships, and its timeouts."""

from __future__ import annotations

import copy
from typing import Any

from edge_lambda import ssm_client
from edge_lambda.ssm_model import API_VERSION, GET_PARAMETER_MODEL, SSM_ENDPOINTS
from tests.edge_scaffold import REGION, installed_get_parameter_model, installed_ssm_endpoints


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
