"""The edge's S3 client (manifests, `edge_lambda.version_routes`): the GetObject-only model it ships, its
timeouts, and its fallback to stock botocore when the runtime's botocore lacks the internals the trimmed
client uses (`edge_lambda.trimmed_client`, shared with the SSM client)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge_lambda import layout, trimmed_client, version_routes
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.routes import VersionRoutes
from edge_lambda.s3_model import API_VERSION, GET_OBJECT_MODEL, S3_ENDPOINTS
from edge_lambda.settings import EdgeSettings
from tests.edge_scaffold import (
    BREAKAGES,
    BROKEN_ATTRIBUTES,
    PARAMETER_NAME,
    REGION,
    V1,
    installed_get_object_model,
    installed_s3_endpoints,
    origin_request_event,
    put_pointer,
)

BUCKET = "site-bucket"
BUCKET_REGION = "eu-west-1"


@pytest.fixture
def bucket() -> Iterator[Any]:
    """A bucket holding V1's manifest, a folder-style build with one `.html` page (`/about`)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=BUCKET_REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        page = layout.ManifestFile(1, "0" * 64, "text/html; charset=utf-8", "no-cache", "0" * 32)
        files = {path: page for path in ("index.html", "docs/index.html", "about.html")}
        manifest = layout.Manifest(V1, "2026-11-27T10:15:00+00:00", files)
        s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
        yield s3


def test_shipped_model_matches_the_installed_botocore() -> None:
    stale = "edge_lambda/s3_model.py is out of date: run `uv run python tests/edge_scaffold.py`"
    assert installed_get_object_model() == GET_OBJECT_MODEL, stale
    assert installed_s3_endpoints() == S3_ENDPOINTS, stale


def test_the_shipped_model_is_a_small_part_of_botocores() -> None:
    assert list(GET_OBJECT_MODEL["operations"]) == ["GetObject"]
    # What the endpoint rules read of the model stays: S3's client context parameters.
    assert "ForcePathStyle" in GET_OBJECT_MODEL["clientContextParams"]
    assert [list(p["services"]) for p in S3_ENDPOINTS["partitions"]] == [["s3"]] * len(
        S3_ENDPOINTS["partitions"]
    )


def test_creating_clients_leaves_the_shipped_data_untouched() -> None:
    model, endpoints = copy.deepcopy(GET_OBJECT_MODEL), copy.deepcopy(S3_ENDPOINTS)
    version_routes.create_s3_client(REGION).meta.endpoint_url  # noqa: B018 (resolving is the point)
    assert (model, endpoints) == (GET_OBJECT_MODEL, S3_ENDPOINTS)


def test_client_uses_the_shipped_model_short_timeouts_and_one_retry() -> None:
    logged: list[str] = []
    client = version_routes.create_s3_client(BUCKET_REGION, log=lambda event, **_: logged.append(event))
    assert client.meta.region_name == BUCKET_REGION
    assert client.meta.endpoint_url == f"https://s3.{BUCKET_REGION}.amazonaws.com"
    assert client.meta.service_model.api_version == API_VERSION
    assert client.meta.service_model.operation_names == ["GetObject"]
    config: Any = client.meta.config  # botocore sets these attributes dynamically
    assert (config.connect_timeout, config.read_timeout) == (1, 1)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert logged == []


def test_the_trimmed_client_reads_a_manifest(bucket: Any) -> None:
    routes = version_routes.ManifestRoutes(BUCKET, BUCKET_REGION, spa_fallback=False)
    assert routes(V1) == VersionRoutes("d", {"about": "hh"})


@pytest.mark.parametrize("broken", BREAKAGES)
def test_without_the_internals_it_uses_the_client_falls_back_to_stock_botocore(
    broken: str, monkeypatch: pytest.MonkeyPatch, bucket: Any
) -> None:
    BREAKAGES[broken](monkeypatch)
    with pytest.raises((AttributeError, ImportError)):
        trimmed_client.create_trimmed_client(version_routes.S3_GET_OBJECT, BUCKET_REGION, trimmed_config())
    logged: list[dict[str, Any]] = []
    routes = version_routes.ManifestRoutes(
        BUCKET, BUCKET_REGION, False, log=lambda event, **fields: logged.append({"event": event, **fields})
    )
    assert routes(V1) == VersionRoutes("d", {"about": "hh"})
    client: Any = routes._s3
    assert len(client.meta.service_model.operation_names) > 1  # botocore's own model
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (1, 1)
    assert [entry["event"] for entry in logged] == ["s3-client-fallback"]
    assert BROKEN_ATTRIBUTES[broken] in logged[0]["error"]


@pytest.mark.parametrize("broken", BREAKAGES)
def test_a_whole_request_is_routed_by_the_manifest_when_botocore_lacks_the_internals(
    broken: str, monkeypatch: pytest.MonkeyPatch, bucket: Any
) -> None:
    BREAKAGES[broken](monkeypatch)
    put_pointer(boto3.client("ssm", region_name=REGION), V1)
    settings = EdgeSettings(PARAMETER_NAME, REGION, 5, bucket=BUCKET, bucket_region=BUCKET_REGION)
    quiet = PointerCache(settings, log=lambda *_, **__: None)
    function = OriginRequestHandler(settings, quiet, version_routes.RoutesCache.from_settings(settings))
    assert function(origin_request_event("/about"))["uri"] == f"/{V1}/about.html"  # known from the manifest
    assert function(origin_request_event("/docs/"))["uri"] == f"/{V1}/docs/index.html"


def trimmed_config() -> Any:
    from edge_lambda.ssm_client import client_config

    return client_config()
