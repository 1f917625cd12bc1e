"""sitectl's S3 client (`scripts.commands.site.default_s3_client`): botocore with a model cut to the S3
operations sitectl calls (`scripts/commands/s3_model.py`), built by the edge's `trimmed_client`, with
boto3's standard configuration otherwise, and stock botocore when the internals it relies on change."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from botocore import xform_name
from botocore.loaders import Loader
from botocore.utils import parse_timestamp
from moto import mock_aws

from edge_lambda import trimmed_client
from scripts.commands import site
from scripts.commands.s3_model import API_VERSION, SITECTL_S3_MODEL
from tests.edge_scaffold import BREAKAGES, ROOT, SITECTL_S3_OPERATIONS, installed_sitectl_s3_model

BUCKET = "site-bucket"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield


def test_shipped_model_matches_the_installed_botocore() -> None:
    stale = "scripts/commands/s3_model.py is out of date: run `uv run python tests/edge_scaffold.py`"
    assert installed_sitectl_s3_model() == SITECTL_S3_MODEL, stale
    assert list(SITECTL_S3_MODEL["operations"]) == sorted(SITECTL_S3_OPERATIONS)
    assert SITECTL_S3_MODEL["metadata"]["apiVersion"] == API_VERSION


def test_sitectl_calls_no_s3_operation_outside_the_model() -> None:
    # Every S3 operation's method name (`put_object(`) or paginator name (`"list_objects_v2"`) in
    # sitectl's code: one missing from the model would fail at run time with an AttributeError.
    every = Loader().load_service_model("s3", "service-2", API_VERSION)["operations"]
    code = "\n".join(path.read_text() for path in (ROOT / "scripts").rglob("*.py"))
    called = {op for op in every if re.search(rf'\.{xform_name(op)}\(|"{xform_name(op)}"', code)}
    assert called <= set(SITECTL_S3_OPERATIONS), f"add {sorted(called - set(SITECTL_S3_OPERATIONS))}"
    assert called, "the scan found no S3 call at all"


def test_the_client_is_the_trimmed_one_configured_as_before(aws: None) -> None:
    s3: Any = site.default_s3_client()
    assert s3.meta.service_model.operation_names == sorted(SITECTL_S3_OPERATIONS)
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.config.max_pool_connections == site.S3_MAX_CONNECTIONS
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 9}
    assert s3.meta.config.request_checksum_calculation == "when_required"
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=BUCKET, Key="a/b.txt", Body=b"hi")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="a/")
    assert [item["Key"] for page in pages for item in page["Contents"]] == ["a/b.txt"]
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key="missing")


def test_the_endpoint_comes_from_the_standard_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    assert site.default_s3_client().meta.endpoint_url == "http://127.0.0.1:5999"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:5000")
    with pytest.raises(site.RefusedError, match="check AWS_ENDPOINT_URL"):
        site.default_s3_client()


@pytest.mark.parametrize("broken", BREAKAGES)
def test_without_the_internals_it_uses_it_falls_back_to_stock_botocore(
    broken: str, monkeypatch: pytest.MonkeyPatch, aws: None
) -> None:
    BREAKAGES[broken](monkeypatch)
    s3: Any = site.default_s3_client()
    assert len(s3.meta.service_model.operation_names) > len(SITECTL_S3_OPERATIONS)  # botocore's own
    assert s3.meta.config.max_pool_connections == site.S3_MAX_CONNECTIONS
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_the_upload_path_does_not_import_boto3() -> None:
    # boto3 (with s3transfer) is a third of sitectl's start-up and the upload uses nothing of it.
    probe = "import sys, scripts.sitectl; print('boto3' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False", "a module sitectl imports imports boto3 at the top"


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-07T00:49:58.000Z",  # what S3 writes in a listing
        "2026-12-07T00:49:58Z",
        "2026-12-07T00:49:58.123456Z",
        "Mon, 07 Dec 2026 00:49:58 GMT",  # an HTTP date (a header's Last-Modified)
        "1796604598",
        1796604598,
        "2026-12-07T00:49:58+01:00",
    ],
)
def test_the_timestamp_parser_gives_botocore_s_instant(value: Any) -> None:
    ours, botocores = trimmed_client.iso_timestamp(value), parse_timestamp(value)
    assert ours == botocores and ours.utcoffset() == botocores.utcoffset()


def test_a_listing_s_timestamps_are_not_parsed_by_botocore_s_general_parser(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3: Any = site.default_s3_client()
    stock: Any = botocore.session.Session().create_client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for n in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"k{n}", Body=b"x")
    calls: list[object] = []

    def general(value: Any) -> object:
        calls.append(value)
        return parse_timestamp(value)

    # What a client's parser uses unless told otherwise (dateutil's parser, about 0.1 ms a key).
    monkeypatch.setattr(botocore.parsers, "DEFAULT_TIMESTAMP_PARSER", general)
    listed = [item["LastModified"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert calls == []
    assert listed == [item["LastModified"] for item in stock.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(calls) == 3, "the stock client's page: one call a key"
    # a header's HTTP date (botocore's own parsing, through ours): the same instant
    assert s3.head_object(Bucket=BUCKET, Key="k0")["LastModified"] == listed[0]
