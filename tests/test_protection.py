"""What `pulumi destroy` keeps: the bucket with every version and the settings that keep it private;
and every resource's URN, pinned, so that a refactor that moves one adds `aliases` instead of
replacing it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from scripts.offline.mockrun import ProgramError, RecordedResource
from tests.pulumi_scaffold import run_program

KEPT = {
    "site-bucket",
    "site-ownership",
    "site-public-access-block",
    "site-encryption",
    "site-lifecycle",
    "site-bucket-policy",
}


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def _retained(registered: dict[str, RecordedResource]) -> set[str]:
    return {r.name for r in registered.values() if r.retain_on_delete}


def test_destroy_keeps_the_bucket_and_what_keeps_it_private_by_default() -> None:
    registered = run_program({})
    assert _retained(registered) == KEPT
    (bucket,) = [r for r in registered.values() if r.name == "site-bucket"]
    assert bucket.props["forceDestroy"] is False


def test_retain_bucket_on_destroy_false_lets_destroy_delete_it_with_force_destroy() -> None:
    registered = run_program({"retainBucketOnDestroy": "false", "forceDestroyBucket": "true"})
    assert _retained(registered) == set()
    (bucket,) = [r for r in registered.values() if r.name == "site-bucket"]
    assert bucket.props["forceDestroy"] is True


def test_force_destroy_while_the_bucket_is_retained_is_refused_with_both_fixes() -> None:
    with pytest.raises(ProgramError) as failure:
        run_program({"forceDestroyBucket": "true"})
    assert (
        "versioned-site:forceDestroyBucket is true, but versioned-site:retainBucketOnDestroy (true by "
        "default) keeps the bucket on destroy: to delete it with its versions, also "
        "`pulumi config set retainBucketOnDestroy false`; to keep them, remove forceDestroyBucket"
    ) in str(failure.value)


def _engine_urn(resource: RecordedResource, registered: dict[str, RecordedResource], stack: str) -> str:
    """The URN the real engine gives: the types of every parent below the stack, then the resource's
    (pulumi/pulumi, resource.NewURN with the parent's qualified type)."""
    types = [resource.type]
    parent = registered.get(resource.parent or "")
    while parent is not None and parent.type != "pulumi:pulumi:Stack":
        types.insert(0, parent.type)
        parent = registered.get(parent.parent or "")
    return f"urn:pulumi:{stack}::versioned-site::{'$'.join(types)}::{resource.name}"


SITE = "versioned-site:index:VersionedStaticSite"
BUCKET = f"{SITE}$aws:s3/bucket:Bucket"
# Every URN of a stack as deployed so far (lambda-edge, then cloudfront-function). A resource whose URN
# changes is replaced (deleted and created): after a move, give it `aliases=[pulumi.Alias(...)]` with
# its old name or parent, and add the new URN here.
LAMBDA_EDGE_URNS = {
    f"{SITE}::site",
    f"{SITE}$aws:s3/bucket:Bucket::site-bucket",
    f"{BUCKET}$aws:s3/bucketOwnershipControls:BucketOwnershipControls::site-ownership",
    f"{BUCKET}$aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::site-public-access-block",
    f"{BUCKET}$aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    "::site-encryption",
    f"{BUCKET}$aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::site-lifecycle",
    f"{BUCKET}$aws:s3/bucketObjectv2:BucketObjectv2::site-default-not-found-page",
    f"{BUCKET}$aws:s3/bucketPolicy:BucketPolicy::site-bucket-policy",
    f"{SITE}$aws:ssm/parameter:Parameter::site-pointer",
    f"{SITE}$aws:iam/role:Role::site-edge-role",
    f"{SITE}$aws:iam/role:Role$aws:iam/rolePolicy:RolePolicy::site-edge-policy",
    f"{SITE}$aws:lambda/function:Function::site-edge",
    f"{SITE}$aws:cloudfront/originAccessControl:OriginAccessControl::site-oac",
    f"{SITE}$aws:cloudfront/distribution:Distribution::site-cdn",
    f"{SITE}$aws:iam/role:Role::site-switch-role",
    f"{SITE}$aws:iam/role:Role$aws:iam/rolePolicy:RolePolicy::site-switch-policy",
    f"{SITE}$aws:lambda/function:Function::site-switch",
    f"{SITE}$aws:lambda/invocation:Invocation::site-release-switch",
}
CLOUDFRONT_FUNCTION_URNS = (
    LAMBDA_EDGE_URNS
    - {
        f"{SITE}$aws:iam/role:Role::site-edge-role",
        f"{SITE}$aws:iam/role:Role$aws:iam/rolePolicy:RolePolicy::site-edge-policy",
        f"{SITE}$aws:lambda/function:Function::site-edge",
        f"{SITE}$aws:iam/role:Role::site-switch-role",
        f"{SITE}$aws:iam/role:Role$aws:iam/rolePolicy:RolePolicy::site-switch-policy",
        f"{SITE}$aws:lambda/function:Function::site-switch",
        f"{SITE}$aws:lambda/invocation:Invocation::site-release-switch",
    }
) | {
    f"{SITE}$aws:cloudfront/keyValueStore:KeyValueStore::site-pointer-store",
    f"{SITE}$aws:cloudfront/keyValueStore:KeyValueStore$aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"
    "::site-live-version",
    f"{SITE}$aws:cloudfront/function:Function::site-router",
    f"{SITE}$aws:cloudfront/function:Function::site-viewer-response",
    f"{SITE}$aws:ssm/parameter:Parameter::site-canary",
}


LOG_BUCKET = f"{SITE}$aws:s3/bucket:Bucket"
# With `accessLogs: s3`: the log bucket and its guards (components/private_bucket.py, shared with the
# version bucket), then the delivery.
S3_ACCESS_LOG_URNS = {
    f"{LOG_BUCKET}::site-logs",
    f"{LOG_BUCKET}$aws:s3/bucketOwnershipControls:BucketOwnershipControls::site-logs-ownership",
    f"{LOG_BUCKET}$aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::site-logs-public-access-block",
    f"{LOG_BUCKET}$aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    "::site-logs-encryption",
    f"{LOG_BUCKET}$aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::site-logs-lifecycle",
    f"{LOG_BUCKET}$aws:s3/bucketPolicy:BucketPolicy::site-logs-policy",
    f"{SITE}$aws:cloudwatch/logDeliverySource:LogDeliverySource::site-access-log-source",
    f"{SITE}$aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination::site-access-log-destination",
    f"{SITE}$aws:cloudwatch/logDelivery:LogDelivery::site-access-log-delivery",
}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, LAMBDA_EDGE_URNS),
        ({"router": "cloudfront-function"}, CLOUDFRONT_FUNCTION_URNS),
        ({"accessLogs": "s3"}, LAMBDA_EDGE_URNS | S3_ACCESS_LOG_URNS),
    ],
)
def test_every_resource_keeps_the_urn_it_was_deployed_with(
    config: dict[str, str], expected: set[str]
) -> None:
    registered = run_program(config)
    urns = {
        _engine_urn(r, registered, "dev").removeprefix("urn:pulumi:dev::versioned-site::")
        for r in registered.values()
        if not r.is_provider
    }
    assert urns == expected
