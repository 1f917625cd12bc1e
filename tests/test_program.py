"""The real program under Pulumi's mocks: security properties and what a release changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge_lambda import layout
from scripts.offline.mockrun import ProgramError, RecordedResource
from tests.pulumi_scaffold import by_type, distribution_arn, one, run_program

V1 = "20261127T101500Z"
V2 = "20261128T090000Z-1a2b3c4"
MOCK_BUCKET = "site-bucket-0a1b2c3"  # the name the mocks give the site bucket


@pytest.fixture
def aws() -> Iterator[None]:
    """moto with the site bucket holding complete uploads of V1 and V2, for the release guard."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for version in (V1, V2):
            s3.put_object(
                Bucket=MOCK_BUCKET, Key=layout.object_key(version, "index.html"), Body=b"<h1>hi</h1>"
            )
            manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {})
            s3.put_object(
                Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode()
            )
        yield


@pytest.fixture(scope="module")
def released() -> dict[str, RecordedResource]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V1), Body=b"{}")
        return run_program({"version": V1})


def test_every_resource_is_a_descendant_of_the_component(released: dict[str, RecordedResource]) -> None:
    component = one(released, "versioned-site:index:VersionedStaticSite")
    assert component.parent == "urn:pulumi:dev::versioned-site::pulumi:pulumi:Stack::versioned-site-dev"
    for resource in released.values():
        if resource is component or resource.type.startswith("pulumi:providers:"):
            continue
        chain, parent = [], resource.parent
        while parent and parent in released:
            chain.append(parent)
            parent = released[parent].parent
        assert component.urn in chain, f"{resource.urn} is not under the component (parents: {chain})"


def test_bucket_is_private_owner_enforced_and_encrypted(released: dict[str, RecordedResource]) -> None:
    bucket = one(released, "aws:s3/bucket:Bucket")
    assert "website" not in bucket.props and "acl" not in bucket.props
    assert not [r for r in released.values() if "Website" in r.type], "no website configuration of any form"
    block = one(released, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").props
    for setting in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block[setting] is True, setting
    ownership = one(released, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").props
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    encryption = one(
        released, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).props
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"


def test_bucket_policy_allows_only_this_distribution_and_denies_plain_http(
    released: dict[str, RecordedResource],
) -> None:
    distribution = one(released, "aws:cloudfront/distribution:Distribution")
    policy = json.loads(one(released, "aws:s3/bucketPolicy:BucketPolicy").props["policy"])
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert sorted(allow["Action"]) == ["s3:GetObject", "s3:ListBucket"]
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution_arn(distribution.name)}}
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_distribution_reads_through_oac_over_https_with_numbered_edge_version(
    released: dict[str, RecordedResource],
) -> None:
    oac = one(released, "aws:cloudfront/originAccessControl:OriginAccessControl").props
    assert (oac["originAccessControlOriginType"], oac["signingBehavior"], oac["signingProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    cdn = one(released, "aws:cloudfront/distribution:Distribution").props
    for origin in cdn["origins"]:
        assert origin["originAccessControlId"] == "site-oac-id"
        assert "customOriginConfig" not in origin and "s3OriginConfig" not in origin
    behavior = cdn["defaultCacheBehavior"]
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["compress"] is True
    assert behavior["cachePolicyId"] and behavior["responseHeadersPolicyId"]
    (association,) = behavior["lambdaFunctionAssociations"]
    assert association["eventType"] == "origin-request"
    assert association["lambdaArn"].rsplit(":", 1)[1] == "1", "a numbered version, never $LATEST"
    assert cdn["priceClass"] == "PriceClass_100"
    assert cdn["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}


def test_the_default_behavior_fails_over_to_the_fallback_origin_the_edge_recognises(
    released: dict[str, RecordedResource],
) -> None:
    cdn = one(released, "aws:cloudfront/distribution:Distribution").props
    domain = f"{MOCK_BUCKET}.s3.eu-west-1.amazonaws.com"
    assert cdn["origins"] == [
        {"originId": "site-bucket", "domainName": domain, "originAccessControlId": "site-oac-id"},
        {
            "originId": "site-bucket-fallback",
            "domainName": domain,
            "originAccessControlId": "site-oac-id",
            "customHeaders": [{"name": "x-versioned-site-origin", "value": "fallback"}],
        },
    ]
    assert cdn["originGroups"] == [
        {
            "originId": "site-bucket-with-fallback",
            "failoverCriteria": {"statusCodes": [403, 404]},
            "members": [{"originId": "site-bucket"}, {"originId": "site-bucket-fallback"}],
        }
    ]
    behavior = cdn["defaultCacheBehavior"]
    assert behavior["targetOriginId"] == "site-bucket-with-fallback"
    # Origin groups fail over only GET, HEAD and OPTIONS: the behavior allows no other method.
    assert behavior["allowedMethods"] == ["GET", "HEAD"]


def test_missing_paths_answer_404_with_the_404_page_fetched_through_the_edge(
    released: dict[str, RecordedResource],
) -> None:
    cdn = one(released, "aws:cloudfront/distribution:Distribution").props
    assert cdn["customErrorResponses"] == [
        {"errorCode": 403, "responseCode": 404, "responsePagePath": "/404.html", "errorCachingMinTtl": 10},
        {"errorCode": 404, "responseCode": 404, "responsePagePath": "/404.html", "errorCachingMinTtl": 10},
    ]
    page = one(released, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert page.props["bucket"] == MOCK_BUCKET
    assert page.props["key"] == "_site/404.html"
    assert page.props["contentType"] == "text/html; charset=utf-8"
    assert page.props["cacheControl"] == "public, max-age=0, must-revalidate"
    assert "<h1>Page not found</h1>" in page.props["content"]
    assert page.parent is not None and released[page.parent].type == "aws:s3/bucket:Bucket"


def test_edge_function_lives_in_us_east_1_with_least_privilege(released: dict[str, RecordedResource]) -> None:
    (provider,) = [r for r in by_type(released, "pulumi:providers:aws") if r.name == "edge"]
    assert provider.props["region"] == "us-east-1"
    function = one(released, "aws:lambda/function:Function")
    assert function.provider == provider.urn
    assert function.props["publish"] is True
    assert "environment" not in function.props, "Lambda@Edge refuses environment variables"
    assert function.props["handler"] == "edge_lambda.handler.handler"
    assert function.props["skipDestroy"] is True
    parameter = one(released, "aws:ssm/parameter:Parameter")
    assert parameter.provider == provider.urn

    trust = json.loads(one(released, "aws:iam/role:Role").props["assumeRolePolicy"])
    assert sorted(trust["Statement"][0]["Principal"]["Service"]) == [
        "edgelambda.amazonaws.com",
        "lambda.amazonaws.com",
    ]
    permissions = json.loads(one(released, "aws:iam/rolePolicy:RolePolicy").props["policy"])["Statement"]
    ssm = [s for s in permissions if "ssm:GetParameter" in s["Action"]]
    assert ssm == [
        {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/versioned-site/dev/live-version",
        }
    ]
    others = {a for s in permissions if s not in ssm for a in s["Action"]}
    assert others == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def test_edge_bundle_carries_settings_for_the_pointer(released: dict[str, RecordedResource]) -> None:
    code = one(released, "aws:lambda/function:Function").props["code"]
    assert isinstance(code, __import__("pulumi").AssetArchive)
    config = json.loads(code.assets["edge_lambda/config.json"].text)
    assert config == {
        "parameter_name": "/versioned-site/dev/live-version",
        "region": "us-east-1",
        "cache_ttl_seconds": 5,
        "spa_fallback": False,
    }
    assert "edge_lambda/layout.py" in code.assets


def test_pointer_holds_the_version_and_the_switch_depends_on_it(
    released: dict[str, RecordedResource],
) -> None:
    parameter = one(released, "aws:ssm/parameter:Parameter")
    assert parameter.props["name"] == "/versioned-site/dev/live-version"
    assert parameter.props["insecureValue"] == V1
    switch = one(released, "pulumi-python:dynamic:Resource")
    assert parameter.urn in switch.dependencies
    assert switch.props["version"] == V1
    assert switch.props["cache_ttl_seconds"] == 5


def test_first_up_without_a_version_points_at_the_sentinel() -> None:
    registered = run_program({})
    assert one(registered, "aws:ssm/parameter:Parameter").props["insecureValue"] == layout.NO_VERSION_RELEASED


def _comparable(registered: dict[str, RecordedResource]) -> dict[str, Any]:
    return {
        urn: (r.parent, sorted(r.dependencies), r.provider, _plain(r.props)) for urn, r in registered.items()
    }


def _plain(value: Any) -> Any:
    import pulumi

    if isinstance(value, pulumi.AssetArchive):
        return {path: _plain(asset) for path, asset in value.assets.items()}
    if isinstance(value, pulumi.StringAsset):
        return value.text
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_changing_only_the_version_changes_only_the_pointer_and_the_switch(aws: None) -> None:
    first = _comparable(run_program({"version": V1}))
    second = _comparable(run_program({"version": V2}))
    assert first.keys() == second.keys()
    changed = sorted(urn.rsplit("::", 1)[1] for urn in first if first[urn] != second[urn])
    assert changed == ["site-pointer", "site-switch"]


def test_a_malformed_version_fails_at_once_naming_the_format() -> None:
    with pytest.raises(
        ProgramError, match=r"'latest' is not a valid version id.*YYYYMMDDTHHMMSSZ"
    ) as failure:
        run_program({"version": "latest"})
    assert isinstance(failure.value.__cause__, layout.InvalidVersionError)


def test_a_version_never_uploaded_fails_at_preview_naming_the_latest_complete_ones(aws: None) -> None:
    with pytest.raises(ProgramError) as failure:
        run_program({"version": "20261201T000000Z"}, preview=True)
    message = str(failure.value)
    assert "20261201T000000Z has no complete upload" in message
    assert f"latest complete versions: {V2}, {V1}" in message


def test_an_incomplete_upload_is_not_releasable(aws: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.object_key("20261130T000000Z", "index.html"), Body=b"x")
    with pytest.raises(ProgramError, match="20261130T000000Z has no complete upload"):
        run_program({"version": "20261130T000000Z"}, preview=True)


def test_the_guard_is_skipped_while_the_bucket_does_not_exist() -> None:
    with mock_aws():
        registered = run_program({"version": V1}, preview=True)
    assert one(registered, "aws:ssm/parameter:Parameter").props["insecureValue"] == V1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"edgeCacheTtlSeconds": "0"}, "edgeCacheTtlSeconds is 0: set it between 1 and 300"),
        ({"priceClass": "PriceClass_Cheap"}, "priceClass 'PriceClass_Cheap' is not one of"),
        ({"domainNames": '["www.example.com"]'}, "domainNames needs versioned-site:acmCertificateArn"),
        (
            {
                "domainNames": '["www.example.com"]',
                "acmCertificateArn": "arn:aws:acm:eu-west-1:1:certificate/x",
            },
            "must be an ACM certificate in us-east-1",
        ),
    ],
)
def test_bad_settings_fail_before_anything_is_created(config: dict[str, str], message: str) -> None:
    with pytest.raises(ProgramError, match=message) as failure:
        run_program(config)
    assert isinstance(failure.value.__cause__, ValueError)
    assert "components/site.py" in str(failure.value) and "in validate" in str(failure.value)


def test_custom_domain_uses_the_certificate_and_becomes_the_url() -> None:
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    registered = run_program({"domainNames": '["www.example.com"]', "acmCertificateArn": cert})
    cdn = one(registered, "aws:cloudfront/distribution:Distribution").props
    assert cdn["aliases"] == ["www.example.com"]
    assert cdn["viewerCertificate"] == {
        "acmCertificateArn": cert,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert len(by_type(registered, "aws:cloudfront/distribution:Distribution")) == 1


def test_an_empty_bucket_says_how_to_upload() -> None:
    from components.release_guard import UnreleasableVersionError, check_releasable

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="empty-site-bucket")
        with pytest.raises(UnreleasableVersionError, match="latest complete versions: none: upload one"):
            check_releasable(s3, "empty-site-bucket", V1)
