"""Access logs (CloudFront standard logging v2) under Pulumi's mocks: off by default; to a private bucket
written only by the log delivery service, or to a CloudWatch log group in us-east-1; the pack accepts both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from scripts.offline.mockrun import MOCK_ACCOUNT_ID, RecordedResource
from tests.pulumi_scaffold import by_type, one, run_program, stack_outputs

SOURCE = "aws:cloudwatch/logDeliverySource:LogDeliverySource"
DESTINATION = "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination"
DELIVERY = "aws:cloudwatch/logDelivery:LogDelivery"
LOG_BUCKET = "site-logs-0a1b2c3"  # the name the mocks give the log bucket
DISTRIBUTION_ARN = f"arn:aws:cloudfront::{MOCK_ACCOUNT_ID}:distribution/E2SITECDN"


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def _named(registered: dict[str, RecordedResource], name: str) -> RecordedResource:
    (found,) = [r for r in registered.values() if r.name == name]
    return found


def _edge(registered: dict[str, RecordedResource]) -> str:
    (provider,) = [r for r in by_type(registered, "pulumi:providers:aws") if r.name == "edge"]
    return provider.urn


def _delivery_chain(registered: dict[str, RecordedResource], destination_arn: str) -> None:
    """The distribution is the source (us-east-1), the destination is `destination_arn`, one delivery
    pairs them."""
    source, target, delivery = (
        one(registered, SOURCE),
        one(registered, DESTINATION),
        one(registered, DELIVERY),
    )
    for resource in (source, target, delivery):
        assert resource.provider == _edge(registered), resource.urn
    assert source.props["logType"] == "ACCESS_LOGS"
    assert source.props["resourceArn"] == DISTRIBUTION_ARN
    assert target.props["deliveryDestinationConfiguration"] == {"destinationResourceArn": destination_arn}
    assert delivery.props["deliverySourceName"] == "site-access-log-source-7b8c9d0"
    assert delivery.props["deliveryDestinationArn"] == (
        f"arn:aws:logs:us-east-1:{MOCK_ACCOUNT_ID}:delivery-destination:site-access-log-destination-7b8c9d0"
    )


def test_access_logs_are_off_by_default() -> None:
    registered = run_program({})
    assert [r for r in registered.values() if r.type.startswith("aws:cloudwatch/")] == []
    assert [r for r in registered.values() if r.name.startswith("site-logs")] == []
    assert "accessLogDestination" not in stack_outputs({})


def test_logs_to_s3_go_to_a_private_bucket_only_the_delivery_service_writes() -> None:
    registered = run_program({"accessLogs": "s3", "accessLogRetentionDays": "30"})
    _delivery_chain(registered, f"arn:aws:s3:::{LOG_BUCKET}")
    assert _named(registered, "site-logs-ownership").props["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    block = _named(registered, "site-logs-public-access-block").props
    assert [
        block[k]
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    ]
    assert all(
        block[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert _named(registered, "site-logs-encryption").props["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    assert _named(registered, "site-logs-lifecycle").props["rules"] == [
        {
            "id": "expire-access-logs",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": 30},
        }
    ]
    assert json.loads(_named(registered, "site-logs-policy").props["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSLogDeliveryWrite",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{LOG_BUCKET}/*",
                "Condition": {
                    "StringEquals": {
                        "s3:x-amz-acl": "bucket-owner-full-control",
                        "aws:SourceAccount": MOCK_ACCOUNT_ID,
                    },
                    "ArnLike": {
                        "aws:SourceArn": f"arn:aws:logs:us-east-1:{MOCK_ACCOUNT_ID}:delivery-source:*"
                    },
                },
            },
            {
                "Sid": "DenyWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{LOG_BUCKET}", f"arn:aws:s3:::{LOG_BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
    # The log bucket and its guards are kept on destroy like the version bucket.
    kept = {r.name for r in registered.values() if r.retain_on_delete and r.name.startswith("site-logs")}
    assert kept == {
        "site-logs",
        "site-logs-ownership",
        "site-logs-public-access-block",
        "site-logs-encryption",
        "site-logs-lifecycle",
        "site-logs-policy",
    }
    assert stack_outputs({"accessLogs": "s3"})["accessLogDestination"] == f"arn:aws:s3:::{LOG_BUCKET}"


def test_logs_to_cloudwatch_go_to_a_log_group_in_us_east_1_with_the_retention() -> None:
    registered = run_program({"accessLogs": "cloudwatch", "accessLogRetentionDays": "14"})
    group = one(registered, "aws:cloudwatch/logGroup:LogGroup")
    assert group.provider == _edge(registered)
    assert group.props["retentionInDays"] == 14
    assert group.props["namePrefix"] == "/aws/vendedlogs/cloudfront/site-"
    group_name = "/aws/vendedlogs/cloudfront/site-20261206000000000001"
    arn = f"arn:aws:logs:us-east-1:{MOCK_ACCOUNT_ID}:log-group:{group_name}"
    _delivery_chain(registered, arn)
    assert [r for r in registered.values() if r.name.startswith("site-logs")] == []


@pytest.mark.usefixtures("versioned_site_project")
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"access_logs": "firehose"},
            "versioned-site:accessLogs is 'firehose': set it to off (the default), s3 or cloudwatch, e.g. "
            "`pulumi config set accessLogs s3`",
        ),
        (
            {"access_logs": "cloudwatch", "access_log_retention_days": 10},
            "versioned-site:accessLogRetentionDays is 10: CloudWatch Logs keeps logs for one of 1, 3, 5, 7, "
            "14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 "
            "days; pick one of those",
        ),
        (
            {"access_logs": "s3", "access_log_retention_days": 0},
            "versioned-site:accessLogRetentionDays is 0: give a number of days from 1 to 36500",
        ),
    ],
)
def test_bad_log_settings_are_refused_with_the_fix(settings: dict[str, Any], message: str) -> None:
    from components.site import VersionedStaticSiteArgs

    args: dict[str, Any] = {"version": None, "parameter_name": "/p/s/live-version", "edge_provider": None}
    with pytest.raises(ValueError) as refused:
        VersionedStaticSiteArgs(**{**args, **settings}).validate()
    assert str(refused.value) == message
