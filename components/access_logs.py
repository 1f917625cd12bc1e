"""CloudFront access logs (standard logging v2): off by default; to a private S3 bucket or to CloudWatch Logs.

Standard logging v2 delivers through CloudWatch Logs' vended-log deliveries: a delivery source (the
distribution, in us-east-1), a delivery destination (the bucket or the log group) and the delivery that
pairs them. Unlike the legacy logging config it needs no bucket ACLs, so the log bucket is as private as
the site's: BucketOwnerEnforced, public access blocked, encrypted, written only by the log delivery
service for this account's delivery sources. docs/adoption.md, "Access logs".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import tagging
from components.config_key import config_key
from components.private_bucket import private_bucket_guards

OFF = "off"
S3 = "s3"
CLOUDWATCH = "cloudwatch"
DESTINATIONS = (OFF, S3, CLOUDWATCH)
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy); S3 expiry takes any.
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
DEFAULT_RETENTION_DAYS = 90
# The service principal that writes vended logs (CloudWatch Logs User Guide, "Logs sent to Amazon S3").
LOG_DELIVERY_SERVICE = "delivery.logs.amazonaws.com"
# A CloudFront delivery source must be created in us-east-1.
SOURCE_REGION = "us-east-1"


def validate(destination: str, retention_days: int) -> None:
    if destination not in DESTINATIONS:
        raise ValueError(
            f"{config_key('accessLogs')} is {destination!r}: set it to {OFF} (the default), {S3} or "
            f"{CLOUDWATCH}, e.g. `pulumi config set accessLogs {S3}`"
        )
    if destination == CLOUDWATCH and retention_days not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError(
            f"{config_key('accessLogRetentionDays')} is {retention_days}: CloudWatch Logs keeps logs for one "
            f"of {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))} days; pick one of those"
        )
    if destination == S3 and not 1 <= retention_days <= 36500:
        raise ValueError(
            f"{config_key('accessLogRetentionDays')} is {retention_days}: "
            "give a number of days from 1 to 36500"
        )


@dataclass
class AccessLogs:
    destination_arn: pulumi.Output[str]
    """The bucket's or the log group's ARN (the stack output `accessLogDestination`)."""


def attach(
    site: pulumi.ComponentResource,
    name: str,
    distribution: aws.cloudfront.Distribution,
    destination: str,
    retention_days: int,
    edge_provider: pulumi.ProviderResource,
    tags: Mapping[str, str],
    kept: pulumi.ResourceOptions,
) -> AccessLogs | None:
    """The delivery of `distribution`'s access logs to `destination`, or None when logging is off."""
    if destination == OFF:
        return None
    edge = pulumi.ResourceOptions(parent=site, provider=edge_provider)
    if destination == S3:
        destination_arn = _log_bucket(site, name, retention_days, tags, kept).arn
    else:
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name_prefix=f"/aws/vendedlogs/cloudfront/{name}-",
            retention_in_days=retention_days,
            tags=tagging.resource_tags(tags),
            # /aws/vendedlogs/: CloudWatch's one resource policy for vended logs covers such groups with a
            # wildcard instead of growing per group. In us-east-1, beside the delivery source.
            # CloudWatch adds the group's resource policy for the delivery service when the delivery is
            # created (the deployer needs logs:PutResourcePolicy).
            opts=edge,
        )
        destination_arn = log_group.arn
    source = aws.cloudwatch.LogDeliverySource(
        f"{name}-access-log-source",
        log_type="ACCESS_LOGS",
        resource_arn=distribution.arn,
        tags=tagging.resource_tags(tags),
        opts=edge,
    )
    target = aws.cloudwatch.LogDeliveryDestination(
        f"{name}-access-log-destination",
        delivery_destination_configuration=aws.cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs(
            destination_resource_arn=destination_arn
        ),
        tags=tagging.resource_tags(tags),
        opts=edge,
    )
    aws.cloudwatch.LogDelivery(
        f"{name}-access-log-delivery",
        delivery_source_name=source.name,
        delivery_destination_arn=target.arn,
        tags=tagging.resource_tags(tags),
        opts=edge,
    )
    return AccessLogs(destination_arn=destination_arn)


def _log_bucket(
    site: pulumi.ComponentResource,
    name: str,
    retention_days: int,
    tags: Mapping[str, str],
    kept: pulumi.ResourceOptions,
) -> aws.s3.Bucket:
    """A bucket that only the log delivery service writes, for this account's delivery sources."""
    bucket = aws.s3.Bucket(
        f"{name}-logs",
        tags=tagging.resource_tags(tags),
        opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(parent=site)),
    )
    in_bucket = pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(parent=bucket))
    guards = private_bucket_guards(f"{name}-logs", bucket, in_bucket, bucket_key=False)
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-logs-lifecycle",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
            )
        ],
        opts=in_bucket,
    )
    account = aws.get_caller_identity_output().account_id
    aws.s3.BucketPolicy(
        f"{name}-logs-policy",
        bucket=bucket.id,
        policy=pulumi.Output.all(bucket.arn, account).apply(lambda v: log_bucket_policy(v[0], v[1])),
        opts=pulumi.ResourceOptions.merge(
            in_bucket, pulumi.ResourceOptions(depends_on=[guards.public_access_block, guards.ownership])
        ),
    )
    return bucket


def log_bucket_policy(bucket_arn: str, account_id: str) -> str:
    """The log delivery service may write, for delivery sources of this account only; no plain HTTP."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AWSLogDeliveryWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": LOG_DELIVERY_SERVICE},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/*",
                    "Condition": {
                        "StringEquals": {
                            "s3:x-amz-acl": "bucket-owner-full-control",
                            "aws:SourceAccount": account_id,
                        },
                        "ArnLike": {
                            "aws:SourceArn": f"arn:aws:logs:{SOURCE_REGION}:{account_id}:delivery-source:*"
                        },
                    },
                },
                {
                    "Sid": "DenyWithoutTLS",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )
