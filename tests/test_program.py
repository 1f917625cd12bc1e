"""The real program under Pulumi's mocks: security properties and what a release changes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pulumi
import pytest
from moto import mock_aws
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.site import MAX_EDGE_CACHE_TTL_SECONDS, deployed_ttl, edge_function_description
from edge_lambda import layout
from scripts.commands import distribution_flow
from scripts.offline.mockrun import ProgramError, RecordedResource, run_inline
from tests.conftest import shared_scope
from tests.pulumi_scaffold import (
    ROOT,
    SiteMocks,
    by_type,
    declare_site,
    named,
    one,
    run_program,
    stack_outputs,
    switch_event,
)

V1 = "20261127T101500Z"
V2 = "20261128T090000Z-1a2b3c4"
MOCK_BUCKET = "site-bucket-0a1b2c3"  # the name the mocks give the site bucket
POINTER = "/versioned-site/dev/live-version"


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    """Every run of the program reads the pointer (us-east-1) once the bucket's name is known."""
    with mock_aws():
        yield


@pytest.fixture
def aws(moto: None) -> None:
    """The site bucket holding complete uploads of V1 and V2, for the release guard."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for version in (V1, V2):
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.object_key(version, "index.html"), Body=b"<h1>hi</h1>")
        manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {})
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode())


def set_pointer(value: str) -> None:
    """The pointer as an earlier `pulumi up` left it."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=POINTER, Value=value, Type="String", Overwrite=True)


@pytest.fixture(scope=shared_scope)
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
    policy = json.loads(one(released, "aws:s3/bucketPolicy:BucketPolicy").props["policy"])
    bucket = f"arn:aws:s3:::{MOCK_BUCKET}"
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudFrontReadsThroughOAC",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                # No ListBucket: a missing key answers 403, a build's 404 rule 404 (its own page).
                "Action": "s3:GetObject",
                "Resource": f"{bucket}/*",
                "Condition": {
                    "StringEquals": {
                        "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E2SITECDN"
                    }
                },
            },
            {
                "Sid": "DenyWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket, f"{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


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
    request, response = behavior["lambdaFunctionAssociations"]
    assert (request["eventType"], response["eventType"]) == ("origin-request", "origin-response")
    for association in (request, response):
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
            "failoverCriteria": {"statusCodes": [403]},
            "members": [{"originId": "site-bucket"}, {"originId": "site-bucket-fallback"}],
        }
    ]
    behavior = cdn["defaultCacheBehavior"]
    assert behavior["targetOriginId"] == "site-bucket-with-fallback"
    # Origin groups fail over only GET, HEAD and OPTIONS: the behavior allows no other method.
    assert behavior["allowedMethods"] == ["GET", "HEAD"] == list(distribution_flow.ALLOWED_METHODS)


def test_missing_paths_answer_404_with_the_404_page_fetched_through_the_edge(
    released: dict[str, RecordedResource],
) -> None:
    cdn = one(released, "aws:cloudfront/distribution:Distribution").props
    # A missing key is a 403 (no ListBucket); a 404 is a build's 404 rule, whose page passes as it is.
    assert cdn["customErrorResponses"][:2] == [
        {"errorCode": 403, "responseCode": 404, "responsePagePath": "/404.html", "errorCachingMinTtl": 10},
        {"errorCode": 404, "errorCachingMinTtl": 10},
    ]
    page = one(released, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert page.props["bucket"] == MOCK_BUCKET
    assert page.props["key"] == "_site/404.html"
    assert page.props["contentType"] == "text/html; charset=utf-8"
    assert page.props["cacheControl"] == "public, max-age=0, must-revalidate"
    assert "<h1>Page not found</h1>" in page.props["content"]
    assert page.parent is not None and released[page.parent].type == "aws:s3/bucket:Bucket"


def test_server_errors_reach_viewers_as_generated_and_are_never_cached(
    released: dict[str, RecordedResource],
) -> None:
    # CloudFront caches an origin-request function's generated answer, and every 5xx for 10 s unless
    # a custom error response says otherwise: the edge's 503 must not outlive its cause.
    cdn = one(released, "aws:cloudfront/distribution:Distribution").props
    assert cdn["customErrorResponses"][2:] == [
        {"errorCode": 500, "errorCachingMinTtl": 0},
        {"errorCode": 501, "errorCachingMinTtl": 0},
        {"errorCode": 502, "errorCachingMinTtl": 0},
        {"errorCode": 503, "errorCachingMinTtl": 0},
        {"errorCode": 504, "errorCachingMinTtl": 0},
    ]


def test_edge_function_lives_in_us_east_1_with_least_privilege(released: dict[str, RecordedResource]) -> None:
    (provider,) = [r for r in by_type(released, "pulumi:providers:aws") if r.name == "edge"]
    assert provider.props["region"] == "us-east-1"
    function = named(released, "site-edge")
    assert function.provider == provider.urn
    assert function.props["publish"] is True
    assert "environment" not in function.props, "Lambda@Edge refuses environment variables"
    assert function.props["handler"] == "edge_lambda.handler.handler"
    assert function.props["skipDestroy"] is True
    parameter = one(released, "aws:ssm/parameter:Parameter")
    assert parameter.provider == provider.urn

    # Lambda@Edge replicas assume the role as edgelambda, the function in us-east-1 as lambda.
    assert json.loads(named(released, "site-edge-role").props["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    assert json.loads(named(released, "site-edge-policy").props["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/versioned-site/dev/live-version",
            },
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::site-bucket-0a1b2c3/_manifests/*",
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.site-edge-9f8e7d6:*",
            },
        ],
    }


def test_the_switch_is_a_lambda_of_the_site_with_least_privilege(
    released: dict[str, RecordedResource],
) -> None:
    """The switch (edge_lambda/switch_handler.py) runs in AWS, so any language's program has it: its role
    reads the pointer, invalidates this one distribution, reads the edge function's versions' TTLs."""
    (provider,) = [r for r in by_type(released, "pulumi:providers:aws") if r.name == "edge"]
    function = named(released, "site-switch")
    assert function.provider == provider.urn
    assert (function.props["handler"], function.props["timeout"]) == (
        "edge_lambda.switch_handler.handler",
        360,
    )
    assert "publish" not in function.props  # invoked as $LATEST, the invocation's default qualifier
    code = function.props["code"]
    assert "edge_lambda/switch_handler.py" in code.assets and "edge_lambda/invalidation.py" in code.assets
    assert json.loads(named(released, "site-switch-role").props["assumeRolePolicy"])["Statement"][0][
        "Principal"
    ] == {"Service": "lambda.amazonaws.com"}
    edge_arn = "arn:aws:lambda:us-east-1:123456789012:function:site-edge-9f8e7d6"
    assert json.loads(named(released, "site-switch-policy").props["policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/versioned-site/dev/live-version",
        },
        {
            "Effect": "Allow",
            "Action": "cloudfront:CreateInvalidation",
            "Resource": "arn:aws:cloudfront::123456789012:distribution/E2SITECDN",
        },
        {
            "Effect": "Allow",
            "Action": "lambda:GetFunctionConfiguration",
            "Resource": [edge_arn, f"{edge_arn}:*"],
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "arn:aws:logs:us-east-1:*:log-group:/aws/lambda/site-switch-9f8e7d6:*",
        },
    ]
    invocation = named(released, "site-release-switch")
    assert (invocation.provider, invocation.props["functionName"]) == (provider.urn, "site-switch-9f8e7d6")
    assert "lifecycleScope" not in invocation.props  # CREATE_ONLY: a new version replaces it (docs)
    assert named(released, "site-switch-policy").urn in invocation.dependencies


# What the program asks AWS for, input by input (the function's code and the page's HTML have tests
# of their own): parent, provider ("edge": us-east-1; "default": the package's default provider, for aws
# the stack's region) and properties.
RESOURCE_INPUTS = [
    ("aws:s3/bucket:Bucket", "site", "default", {"forceDestroy": False}),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "site-bucket",
        "default",
        {
            "bucket": MOCK_BUCKET,
            "rules": [
                {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "bucketKeyEnabled": True}
            ],
        },
    ),
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "site-bucket",
        "default",
        {
            "bucket": MOCK_BUCKET,
            "rules": [
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
                }
            ],
        },
    ),
    (
        "aws:ssm/parameter:Parameter",
        "site",
        "edge",
        {
            "name": "/versioned-site/dev/live-version",
            "type": "String",
            "insecureValue": V1,
            "description": "Live version of the versioned-site; change it with `pulumi config set version`.",
        },
    ),
    (
        "aws:cloudfront/originAccessControl:OriginAccessControl",
        "site",
        "default",
        {
            "description": "site: CloudFront reads the private site bucket",
            "originAccessControlOriginType": "s3",
            "signingBehavior": "always",
            "signingProtocol": "sigv4",
        },
    ),
    (
        "aws:lambda/function:Function",
        "site",
        "edge",
        {
            "role": "arn:aws:iam::123456789012:role/site-edge-role",
            "runtime": "python3.13",
            "handler": "edge_lambda.handler.handler",
            "architectures": ["x86_64"],
            "memorySize": 128,
            "timeout": 20,
            "publish": True,
            "skipDestroy": True,
            "description": "versioned-site site: origin-request router; pointer cache TTL 5 s",
        },
    ),
    (
        "aws:lambda/invocation:Invocation",
        "site",
        "edge",
        {
            "functionName": "site-switch-9f8e7d6",
            # The switch Lambda's event (edge_lambda/switch_handler.py); the invocation's `input`.
            "input": {
                "version": V1,
                "parameterName": "/versioned-site/dev/live-version",
                "distributionId": "E2SITECDN",
                "cacheTtlSeconds": 5,
                "edgeFunction": "site-edge-9f8e7d6",
                "edgeFunctionVersion": "1",
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("type_token", "parent", "provider", "inputs"), RESOURCE_INPUTS, ids=[row[0] for row in RESOURCE_INPUTS]
)
def test_what_each_resource_asks_aws_for(
    released: dict[str, RecordedResource], type_token: str, parent: str, provider: str, inputs: dict[str, Any]
) -> None:
    found = by_type(released, type_token)
    # Two functions with Lambda@Edge: the edge router (this row) and the switch (its invocation's row).
    (resource,) = found if len(found) == 1 else [r for r in found if r.name == "site-edge"]
    assert resource.parent is not None and resource.provider is not None
    assert released[resource.parent].name == parent
    assert resource.provider.rsplit("::", 1)[1].split("_", 1)[0] == provider
    props = {k: v for k, v in resource.props.items() if k not in ("code", "__provider")}
    if "input" in props:
        props["input"] = json.loads(props["input"])
    assert props == inputs


def test_the_distribution_serves_ipv6_and_http3_everywhere_with_the_managed_policies(
    released: dict[str, RecordedResource],
) -> None:
    cdn = one(released, "aws:cloudfront/distribution:Distribution")
    props = cdn.props
    assert (props["enabled"], props["comment"], props["isIpv6Enabled"], props["httpVersion"]) == (
        True,
        "versioned-site site",
        True,
        "http2and3",
    )
    assert props["restrictions"] == {"geoRestriction": {"restrictionType": "none"}}
    assert props["defaultCacheBehavior"] == {
        "targetOriginId": "site-bucket-with-fallback",
        "viewerProtocolPolicy": "redirect-to-https",
        "allowedMethods": ["GET", "HEAD"],
        "cachedMethods": ["GET", "HEAD"],
        "compress": True,
        "cachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",  # CachingOptimized
        "responseHeadersPolicyId": "67f7725c-6f97-4210-82d7-5512b31e9d03",  # SecurityHeadersPolicy
        "lambdaFunctionAssociations": [
            {
                "eventType": "origin-request",
                "includeBody": False,
                "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:site-edge-9f8e7d6:1",
            },
            {
                "eventType": "origin-response",
                "includeBody": False,
                "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:site-edge-9f8e7d6:1",
            },
        ],
    }


def test_the_bucket_policy_waits_for_the_public_access_block_and_ownership(
    released: dict[str, RecordedResource],
) -> None:
    """S3 refuses a policy it judges public before the block exists; ACLs must be off first."""
    policy = one(released, "aws:s3/bucketPolicy:BucketPolicy")
    names = {urn.rsplit("::", 1)[1] for urn in policy.dependencies}
    assert {"site-public-access-block", "site-ownership"} <= names


def test_non_default_bucket_and_price_class_settings_reach_aws() -> None:
    registered = run_program(
        {"forceDestroyBucket": "true", "retainBucketOnDestroy": "false", "priceClass": "PriceClass_All"}
    )
    assert one(registered, "aws:s3/bucket:Bucket").props["forceDestroy"] is True
    assert one(registered, "aws:cloudfront/distribution:Distribution").props["priceClass"] == "PriceClass_All"


def test_edge_bundle_carries_settings_for_the_pointer(released: dict[str, RecordedResource]) -> None:
    code = named(released, "site-edge").props["code"]
    assert isinstance(code, __import__("pulumi").AssetArchive)
    config = json.loads(code.assets["edge_lambda/config.json"].text)
    assert config == {
        "parameter_name": "/versioned-site/dev/live-version",
        "region": "us-east-1",
        "cache_ttl_seconds": 5,
        "spa_fallback": False,
        "trailing_slash": "auto",
        "redirect_status": 308,
        # where the edge reads each version's manifest (the bucket's region: the stack's aws:region)
        "bucket": "site-bucket-0a1b2c3",
        "bucket_region": "eu-west-1",
    }
    assert "edge_lambda/layout.py" in code.assets
    assert "edge_lambda/routes.py" in code.assets and "edge_lambda/version_routes.py" in code.assets


def test_the_component_registers_each_output_under_its_name(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `pulumi stack export` and the console show for the component (the mocks keep no record)."""
    from components.site import VersionedStaticSite

    recorded: list[tuple[VersionedStaticSite, dict[str, Any]]] = []
    register = VersionedStaticSite.register_outputs

    def record(site: VersionedStaticSite, outputs: dict[str, Any]) -> None:
        recorded.append((site, dict(outputs)))
        register(site, outputs)

    monkeypatch.setattr(VersionedStaticSite, "register_outputs", record)
    run_program({"version": V1})
    [(site, outputs)] = recorded
    assert list(outputs) == [
        "bucket_name",
        "distribution_id",
        "distribution_domain",
        "url",
        "parameter_name",
        "parameter_region",
        "live_version",
        "release_targets",
        "certificate_validation_records",
        "dns_records",
        "version_config_key",
        "access_log_destination",
        "pointer_store_arn",
        "edge_cache_ttl_seconds",
    ]
    assert all(value is getattr(site, name) for name, value in outputs.items())


def test_pointer_holds_the_version_and_the_switch_depends_on_it(
    released: dict[str, RecordedResource],
) -> None:
    parameter = one(released, "aws:ssm/parameter:Parameter")
    assert parameter.props["name"] == "/versioned-site/dev/live-version"
    assert parameter.props["insecureValue"] == V1
    switch = named(released, "site-release-switch")
    assert parameter.urn in switch.dependencies
    assert switch_event(released)["version"] == V1
    assert switch_event(released)["cacheTtlSeconds"] == 5


def test_non_default_settings_reach_the_bundle_the_function_and_the_switch(aws: None) -> None:
    registered = run_program(
        {
            "version": V1,
            "edgeCacheTtlSeconds": "45",
            "spaFallback": "true",
            "trailingSlash": "never",
            "redirectStatus": "301",
        }
    )
    function = named(registered, "site-edge").props
    config = json.loads(function["code"].assets["edge_lambda/config.json"].text)
    assert config == {
        "parameter_name": "/versioned-site/dev/live-version",
        "region": "us-east-1",
        "cache_ttl_seconds": 45,
        "spa_fallback": True,
        "trailing_slash": "never",
        "redirect_status": 301,
        "bucket": "site-bucket-0a1b2c3",
        "bucket_region": "eu-west-1",
    }
    assert function["description"] == "versioned-site site: origin-request router; pointer cache TTL 45 s"
    assert "tags" not in function, "CloudFront's developer guide: edge functions cannot be tagged"
    assert switch_event(registered)["cacheTtlSeconds"] == 45


def test_the_stacks_exports_name_the_pointer_and_the_switch_as_release_targets(aws: None) -> None:
    """`sitectl release` targets exactly these two URNs: a third (the distribution, say) would make
    a release redeploy it."""
    component = "urn:pulumi:dev::versioned-site::versioned-site:index:VersionedStaticSite"
    assert stack_outputs({"version": V2}) == {
        "releaseTargets": [
            f"{component}$aws:ssm/parameter:Parameter::site-pointer",
            f"{component}$aws:lambda/invocation:Invocation::site-release-switch",
        ],
        "liveVersion": V2,
        "parameterName": "/versioned-site/dev/live-version",
        "parameterRegion": "us-east-1",
        "bucketName": MOCK_BUCKET,
        "distributionId": "E2SITECDN",
        "distributionDomain": "d111111abcdef8.cloudfront.net",
        "url": "https://d111111abcdef8.cloudfront.net",
        "router": "lambda-edge",
        "versionConfigKey": "versioned-site:version",
        "pointerStoreArn": "",
        "edgeCacheTtlSeconds": 5,
        "spaFallback": False,
        "canaryVersion": "",
        "canaryPercent": 0,
    }


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
    assert changed == ["site-pointer", "site-release-switch"]


def test_a_malformed_version_fails_at_once_naming_the_format() -> None:
    with pytest.raises(
        ProgramError, match=r"versioned-site:version 'latest' is not a valid version id.*YYYYMMDDTHHMMSSZ"
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


def test_a_version_a_prune_is_deleting_fails_at_preview_and_an_update_locks_what_it_releases(
    aws: None,
) -> None:
    from scripts.versionstore import store as storage

    s3 = boto3.client("s3", region_name="eu-west-1")
    now = storage.server_now(s3, MOCK_BUCKET)
    assert isinstance(
        storage.claim_deletion(s3, MOCK_BUCKET, V1, "sitectl prune on ci", now), storage.VersionLock
    )
    with pytest.raises(ProgramError, match=rf"version {V1} is being deleted by sitectl prune on ci since "):
        run_program({"version": V1}, preview=True)
    with pytest.raises(ProgramError, match=rf"version {V1} is being deleted by sitectl prune on ci since "):
        run_program({"version": V1})
    run_program({"version": V2}, preview=True)
    assert storage.read_lock(s3, MOCK_BUCKET, V2) is None, "a preview only reads"
    run_program({"version": V2})
    lock = storage.read_lock(s3, MOCK_BUCKET, V2)
    assert lock is not None and (lock.kind, lock.owner) == ("release", "pulumi up of stack dev")


def test_the_guard_is_skipped_while_the_bucket_does_not_exist() -> None:
    with mock_aws():
        registered = run_program({"version": V1}, preview=True)
    assert one(registered, "aws:ssm/parameter:Parameter").props["insecureValue"] == V1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"edgeCacheTtlSeconds": "0"}, "edgeCacheTtlSeconds is 0: set it between 1 and 300"),
        ({"priceClass": "PriceClass_Cheap"}, "priceClass 'PriceClass_Cheap' is not one of"),
        (
            {"domainNames": '["www.example.com"]', "hostedZoneId": "example.com"},
            "versioned-site:hostedZoneId 'example.com' is not a Route 53 hosted zone id",
        ),
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
    # The traceback points at the check (mutmut renames the functions it mutates: \S*validate).
    assert re.search(r'components/site\.py", line \d+, in \S*validate', str(failure.value))


@pytest.mark.usefixtures("versioned_site_project")
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"router": "nginx"},
            "versioned-site:router is 'nginx': set it to lambda-edge (the default) or cloudfront-function, "
            "e.g. `pulumi config set router cloudfront-function`",
        ),
        (
            {"version": "latest"},
            "versioned-site:version 'latest' is not a valid version id: expected "
            "YYYYMMDDTHHMMSSZ[-<git sha, 7-40 lowercase hex>] (UTC), e.g. 20261127T101500Z-1a2b3c4",
        ),
        (
            {"version": V1, "take_offline": True},
            f"versioned-site:takeOffline is true and versioned-site:version is {V1}: remove one "
            "(`pulumi config rm versioned-site:takeOffline` to release the version)",
        ),
        (
            {"parameter_name": "site/version"},
            "parameter_name 'site/version' must be a full SSM path starting with '/'",
        ),
        (
            {"edge_cache_ttl_seconds": 301},
            "versioned-site:edgeCacheTtlSeconds is 301: set it between 1 and 300",
        ),
        (
            {"price_class": "PriceClass_Cheap"},
            "versioned-site:priceClass 'PriceClass_Cheap' is not one of PriceClass_100, PriceClass_200, "
            "PriceClass_All",
        ),
        (
            {"version_readers": ["arn:aws:iam::222222222222:root"]},
            "versioned-site:versionReaders entry 'arn:aws:iam::222222222222:root' is not an IAM role or "
            "user ARN: give e.g. arn:aws:iam::222222222222:role/site-release",
        ),
        (
            {
                "domain_names": ["www.example.com"],
                "acm_certificate_arn": "arn:aws:acm:eu-west-1:1:certificate/x",
            },
            "versioned-site:acmCertificateArn 'arn:aws:acm:eu-west-1:1:certificate/x' must be an ACM "
            "certificate in us-east-1: CloudFront accepts no other region",
        ),
    ],
)
def test_each_bad_setting_is_refused_with_the_setting_and_the_fix(
    settings: dict[str, Any], message: str
) -> None:
    from components.site import VersionedStaticSiteArgs

    args: dict[str, Any] = {
        "version": None,
        "parameter_name": "/versioned-site/test/version",
        "edge_provider": None,
    }
    with pytest.raises(ValueError) as refused:
        VersionedStaticSiteArgs(**{**args, **settings}).validate()
    assert str(refused.value) == message


@pytest.mark.parametrize("ttl", ["1", "300"])
def test_the_edge_ttls_bounds_are_accepted(ttl: str) -> None:
    registered = run_program({"version": V1, "edgeCacheTtlSeconds": ttl})
    assert switch_event(registered)["cacheTtlSeconds"] == int(ttl)


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
    outputs = stack_outputs({"domainNames": '["www.example.com", "example.com"]', "acmCertificateArn": cert})
    assert outputs["url"] == "https://www.example.com"


def test_an_empty_bucket_says_how_to_upload() -> None:
    from components.release_guard import UnreleasableVersionError, check_releasable

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="empty-site-bucket")
        with pytest.raises(UnreleasableVersionError) as refused:
            check_releasable(s3, "empty-site-bucket", V1, False, version_key="versioned-site:version")
    assert str(refused.value) == (
        f"version {V1} has no complete upload in bucket empty-site-bucket (no _manifests/{V1}.json); "
        "latest complete versions: none: upload one with `sitectl upload DIR`. "
        "Upload it first, or set versioned-site:version to one of them."
    )


def test_the_guards_s3_client_has_the_stacks_region_and_profile(deployer_profile: str) -> None:
    from components.release_guard import default_s3_client

    client = default_s3_client("eu-west-1", "site-deployer")
    assert client.meta.region_name == "eu-west-1"
    assert client._request_signer._credentials.access_key == "deployer"


def test_the_programs_release_check_asks_s3_in_the_stacks_region_as_the_deployer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import contextvars

    from components import release_guard, site

    clients: list[tuple[str | None, str | None]] = []
    checked: list[tuple[object, ...]] = []

    def client(region: str | None, profile: str | None = None) -> str:
        clients.append((region, profile))
        return "the-s3-client"

    monkeypatch.setattr(release_guard, "default_s3_client", client)
    monkeypatch.setattr(
        release_guard, "check_releasable", lambda *call, **named: checked.append((*call, *named.values()))
    )

    def made_in_a_stack_in_eu_west_1() -> site.ReleaseCheck:
        # The SDK's config lives in a context variable: set here, it does not leak into other tests.
        pulumi.runtime.set_all_config({"aws:region": "eu-west-1"})
        return site._default_release_check(
            "site-deployer", True, False, "versioned-site:version", "versioned-site:spaFallback"
        )

    check = contextvars.copy_context().run(made_in_a_stack_in_eu_west_1)
    check("site-bucket", V1)
    assert clients == [("eu-west-1", "site-deployer")]
    # Outside a preview, the check takes the release lock for the update.
    assert checked == [
        (
            "the-s3-client",
            "site-bucket",
            V1,
            True,
            "pulumi up of stack stack",
            False,
            "versioned-site:version",
            "versioned-site:spaFallback",
        )
    ]


def test_the_programs_pointer_reader_asks_ssm_in_the_edge_region_as_the_deployer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from components import pointer_guard, site

    clients: list[tuple[str, str | None]] = []

    def client(region: str, profile: str | None = None) -> str:
        clients.append((region, profile))
        return "the-ssm-client"

    monkeypatch.setattr(pointer_guard, "default_ssm_client", client)
    monkeypatch.setattr(pointer_guard, "read_pointer", lambda ssm, name: f"{V1} read by {ssm} from {name}")
    read = site._default_pointer_reader("site-deployer")
    parameter = "/versioned-site/dev/version"
    assert read(parameter) == f"{V1} read by the-ssm-client from {parameter}"
    assert clients == [("us-east-1", "site-deployer")]  # the parameter lives beside the edge function


# --- The live version: the offline guard and the preview line


def _engine_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """What the program told the engine (pulumi.log): the mock engine logs it to the root logger."""
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "root"]


def test_an_unset_version_while_one_is_live_is_refused_naming_both_fixes(aws: None) -> None:
    set_pointer(V2)
    with pytest.raises(ProgramError) as failure:
        run_program({}, preview=True)
    # The error reaches the engine raw or wrapped by the SDK ("While processing resource: 'site-pointer'"),
    # whichever of the pointer's awaiting tasks fails first: the message is what the user reads.
    message = str(failure.value)
    assert f"versioned-site:version is not set, but {V2} is live" in message
    assert f"`pulumi config set versioned-site:version {V2}` to keep it" in message
    assert "release another version (`sitectl release --version VERSION`)" in message
    assert "`pulumi config set versioned-site:takeOffline true`" in message
    ssm = boto3.client("ssm", region_name="us-east-1")
    assert ssm.get_parameter(Name=POINTER)["Parameter"]["Value"] == V2


class Registrations(SiteMocks):
    """Every resource the program asks the engine for, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.types: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.types.append(args.typ)
        return super().new_resource(args)


@pytest.mark.parametrize("preview", [False, True], ids=["up --skip-preview", "preview"])
def test_an_unset_version_while_one_is_live_is_refused_before_any_resource_is_registered(
    aws: None, preview: bool
) -> None:
    # `pulumi up --skip-preview` and the Automation API's `up` register resources for real: a refusal
    # from inside an apply would come after the bucket (and whatever runs beside it) had changed.
    set_pointer(V2)
    mocks = Registrations()
    with pytest.raises(ProgramError, match=f"versioned-site:version is not set, but {V2} is live"):
        run_program({}, preview=preview, mocks=mocks)
    # Only the us-east-1 provider, which `__main__.py` makes before the component: no cloud resource.
    assert mocks.types == ["pulumi:providers:aws"]


def test_taking_a_live_site_offline_needs_take_offline_and_warns(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    set_pointer(V2)
    caplog.set_level(logging.INFO)
    registered = run_program({"takeOffline": "true"}, preview=True)
    assert one(registered, "aws:ssm/parameter:Parameter").props["insecureValue"] == "none"
    assert _engine_lines(caplog) == [
        ("WARNING", f"take the site offline {V2} -> none (versioned-site:takeOffline)")
    ]


def test_take_offline_with_a_version_is_refused_before_anything_is_created() -> None:
    with pytest.raises(ProgramError, match=f"takeOffline is true and versioned-site:version is {V1}"):
        run_program({"version": V1, "takeOffline": "true"})


@pytest.mark.parametrize("pointer", [None, "none"])
def test_a_stack_with_nothing_live_deploys_without_a_version(
    pointer: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    if pointer is not None:
        set_pointer(pointer)
    caplog.set_level(logging.INFO)
    registered = run_program({}, preview=True)
    assert one(registered, "aws:ssm/parameter:Parameter").props["insecureValue"] == "none"
    assert _engine_lines(caplog) == [("INFO", "live version unchanged: none")]


@pytest.mark.parametrize(
    ("live", "configured", "line"),
    [
        (None, V1, ("INFO", f"release none -> {V1}")),
        (V1, V2, ("INFO", f"release {V1} -> {V2}")),
        (V2, V1, ("WARNING", f"roll back {V2} -> {V1}")),
        (V2, V2, ("INFO", f"live version unchanged: {V2}")),
    ],
)
def test_every_preview_says_what_it_does_to_the_live_version(
    aws: None, caplog: pytest.LogCaptureFixture, live: str | None, configured: str, line: tuple[str, str]
) -> None:
    if live is not None:
        set_pointer(live)
    caplog.set_level(logging.INFO)
    run_program({"version": configured}, preview=True)
    assert _engine_lines(caplog) == [line]


def test_policy_check_runs_the_program_without_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the preview mocks the bucket is new, its name unknown: the release guard does not run, and
    the pointer guard's read gets the empty account's "not found" (a call that reached botocore's
    signing without credentials would fail the run with NoCredentialsError)."""
    from scripts.offline.mockrun import run_program as run_offline

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for config in ([], [f"version={V1}"]):
        run = run_offline(ROOT, "policy-check", config, preview=True)
        (pointer,) = [r for r in run.resources if r.type == "aws:ssm/parameter:Parameter"]
        assert pointer.props["insecureValue"] == UNKNOWN_STRING_VALUE


# --- The edge TTL the switch waits, and credentials


class DeployedFunctionMocks(SiteMocks):
    """The edge function as a targeted `up` sees it: untargeted, so the engine answers its deployed
    outputs (a SameStep keeps the old outputs), with the description it was deployed with."""

    def __init__(self, deployed_description: str | None) -> None:
        super().__init__()
        self.deployed_description = deployed_description

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == "aws:lambda/function:Function":
            outputs = {k: v for k, v in outputs.items() if k != "description"}
            if self.deployed_description is not None:
                outputs["description"] = self.deployed_description
        return resource_id, outputs


@pytest.mark.parametrize(
    ("deployed_description", "waits"),
    [
        ("versioned-site site: origin-request router; pointer cache TTL 30 s", 30),
        # A function deployed before the description carried the TTL: the configured TTL.
        (None, 12),
        ("", 12),
    ],
)
def test_the_switch_waits_the_ttl_of_the_deployed_function(
    aws: None, deployed_description: str | None, waits: int
) -> None:
    mocks = DeployedFunctionMocks(deployed_description)
    registered = run_program({"version": V1, "edgeCacheTtlSeconds": "12"}, mocks=mocks)
    function = named(registered, "site-edge")
    # What the new bundle will cache for.
    assert (
        function.props["description"] == "versioned-site site: origin-request router; pointer cache TTL 12 s"
    )
    assert switch_event(registered)["cacheTtlSeconds"] == waits


@pytest.mark.parametrize(
    ("description", "recorded"),
    [
        ("versioned-site site: origin-request router; pointer cache TTL 300 s", 300),
        ("versioned-site a-b: origin-request router; pointer cache TTL 1 s", 1),
        ("pointer cache TTL 30 s", 7),  # not the component's format
        ("versioned-site site: origin-request router; pointer cache TTL 30 s (edited)", 7),
        ("versioned-site site: origin-request router; pointer cache TTL -3 s", 7),
        ("edited by hand", 7),
        (None, 7),
    ],
)
def test_the_deployed_ttl_is_read_only_from_the_components_own_description(
    description: str | None, recorded: int
) -> None:
    assert deployed_ttl(description, configured=7) == recorded


def test_the_description_fits_lambdas_limit_with_the_longest_ttl() -> None:
    # Lambda refuses a description over 256 characters.
    description = edge_function_description("site", MAX_EDGE_CACHE_TTL_SECONDS)
    assert len(description) <= 256 and deployed_ttl(description, configured=7) == MAX_EDGE_CACHE_TTL_SECONDS


def test_the_stack_profile_reaches_the_edge_provider_the_guards_and_the_switch(
    aws: None, deployer_profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guards' clients are made with the profile (which exists only in the deployer's credentials
    file). Removing the environment's keys would not show it: moto's mock sets keys of its own."""
    from components import pointer_guard, release_guard

    profiles: set[tuple[str, str | None]] = set()

    def recording(service: str, make: Callable[..., Any]) -> Callable[..., Any]:
        def client(region: str | None, profile: str | None = None) -> Any:
            profiles.add((service, profile))
            return make(region, profile)

        return client

    monkeypatch.setattr(release_guard, "default_s3_client", recording("s3", release_guard.default_s3_client))
    monkeypatch.setattr(
        pointer_guard, "default_ssm_client", recording("ssm", pointer_guard.default_ssm_client)
    )
    set_pointer(V1)
    registered = run_program({"version": V2, "aws:profile": "site-deployer"}, preview=True)
    assert profiles == {("s3", "site-deployer"), ("ssm", "site-deployer")}
    (provider,) = [r for r in by_type(registered, "pulumi:providers:aws") if r.name == "edge"]
    assert provider.props["profile"] == "site-deployer"
    # The switch runs in AWS: it is invoked through the edge provider, with the stack's profile.
    assert (named(registered, "site-release-switch").provider or "").startswith(provider.urn)


def test_assumed_roles_in_stack_config_are_refused() -> None:
    with pytest.raises(ProgramError, match="aws:assumeRole is set, but the release guards and the switch"):
        run_program({"aws:assumeRole": '{"roleArn": "arn:aws:iam::123456789012:role/deployer"}'})


def test_a_misspelt_component_name_is_named_in_the_error() -> None:
    import components

    with pytest.raises(AttributeError, match=r"^module 'components' has no attribute 'VersionedSite'$"):
        components.VersionedSite  # noqa: B018


def test_the_sites_resource_options_reach_the_component() -> None:
    seen: list[str] = []

    def declare() -> None:
        platform = pulumi.ComponentResource("acme:index:Platform", "platform")
        site = declare_site(V1, pulumi.ResourceOptions(parent=platform))
        site.urn.apply(seen.append)

    run_inline(declare, "versioned-site", "test", {"aws:region": "eu-west-1"}, preview=False)
    assert seen == [
        "urn:pulumi:test::versioned-site::acme:index:Platform$versioned-site:index:VersionedStaticSite::site"
    ]
