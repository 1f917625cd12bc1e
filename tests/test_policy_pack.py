"""Each policy of the pack, fed resources declared with pulumi-aws under the preview mocks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from edge_lambda import layout
from policy import resource_types
from policy.site_policies import (
    PACK_ENFORCEMENT_LEVEL,
    POLICIES,
    engine_policies,
    open_statements,
    reporting_not_checked,
    versioned_site_one_router_validator,
)
from scripts.offline.policy_eval import check
from tests.policy_scaffold import (
    ACCOUNT,
    DISTRIBUTION_ARN,
    EDGE_FUNCTION_ARN,
    policy,
    preview,
    stack_violations,
    update,
    violations,
    violations_everywhere,
)

# ---------------------------------------------------------------------------------------------------
# Building blocks, declared the way programs declare them


def private_bucket(name: str, **bucket_args: Any) -> aws.s3.Bucket:
    bucket = aws.s3.Bucket(name, **bucket_args)
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=pulumi.ResourceOptions(parent=bucket),
    )
    return bucket


def distribution(
    name: str,
    origins: list[aws.cloudfront.DistributionOriginArgs],
    viewer_protocol_policy: str = "redirect-to-https",
    lambda_arns: list[pulumi.Input[str]] | None = None,
    ordered: list[aws.cloudfront.DistributionOrderedCacheBehaviorArgs] | None = None,
) -> aws.cloudfront.Distribution:
    associations = [
        aws.cloudfront.DistributionDefaultCacheBehaviorLambdaFunctionAssociationArgs(
            event_type="origin-request", lambda_arn=arn
        )
        for arn in lambda_arns or []
    ]
    return aws.cloudfront.Distribution(
        name,
        enabled=True,
        origins=origins,
        default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
            target_origin_id="site",
            viewer_protocol_policy=viewer_protocol_policy,
            allowed_methods=["GET", "HEAD"],
            cached_methods=["GET", "HEAD"],
            cache_policy_id="658327ea-f89d-4fab-a63d-7e88639e58f6",
            lambda_function_associations=associations,
        ),
        ordered_cache_behaviors=ordered,
        restrictions=aws.cloudfront.DistributionRestrictionsArgs(
            geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
        ),
        viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
            cloudfront_default_certificate=True
        ),
    )


def oac_origin(bucket: aws.s3.Bucket) -> aws.cloudfront.DistributionOriginArgs:
    control = aws.cloudfront.OriginAccessControl(
        "site-oac",
        origin_access_control_origin_type="s3",
        signing_behavior="always",
        signing_protocol="sigv4",
    )
    return aws.cloudfront.DistributionOriginArgs(
        origin_id="site",
        domain_name=bucket.bucket_regional_domain_name,
        origin_access_control_id=control.id,
    )


def known_oac_origin(origin_id: str = "site") -> aws.cloudfront.DistributionOriginArgs:
    return aws.cloudfront.DistributionOriginArgs(
        origin_id=origin_id,
        domain_name="site-bucket.s3.eu-west-1.amazonaws.com",
        origin_access_control_id="E3OACEXAMPLE",
    )


def test_every_policy_has_a_unique_name_and_an_explicit_level() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    levels = {p.name: p.enforcement_level for p in POLICIES}
    advisory = {name for name, level in levels.items() if level is EnforcementLevel.ADVISORY}
    # s3-bucket-encryption: S3 applies SSE-S3 to every bucket since January 2023, so a bucket that
    # declares none is encrypted all the same; only the advice to write the choice down remains.
    assert advisory == {"pointer-parameter-valid-version", "s3-bucket-encryption"}
    assert all(level is EnforcementLevel.MANDATORY for name, level in levels.items() if name not in advisory)
    assert PACK_ENFORCEMENT_LEVEL is EnforcementLevel.MANDATORY
    stack_policies = [p.name for p in POLICIES if isinstance(p, StackValidationPolicy)]
    assert stack_policies == [
        "s3-bucket-public-access-block",
        "s3-bucket-encryption",
        "cloudfront-function-association-live",
        "versioned-site-one-router",
        "cloudfront-certificate-us-east-1",
        "route53-alias-to-this-distribution",
        "access-log-destination-private",
    ]
    assert all(isinstance(p, ResourceValidationPolicy | StackValidationPolicy) for p in POLICIES)


def test_type_tokens_are_the_ones_pulumi_aws_registers() -> None:
    """The tokens each pulumi-aws class (current and deprecated) registers, read from the classes."""

    def program() -> None:
        bucket = aws.s3.Bucket("b1")
        aws.s3.BucketV2("b2")
        aws.s3.BucketWebsiteConfiguration("w1", bucket=bucket.id)
        aws.s3.BucketWebsiteConfigurationV2("w2", bucket=bucket.id)
        aws.s3.BucketAcl("a1", bucket=bucket.id)
        aws.s3.BucketAclV2("a2", bucket=bucket.id)
        aws.s3.BucketObject("o1", bucket=bucket.id, key="k")
        aws.s3.BucketObjectv2("o2", bucket=bucket.id, key="k")
        aws.s3.ObjectCopy("o3", bucket="b", key="k", source="s/k")
        aws.s3.BucketPolicy("p", bucket=bucket.id, policy="{}")
        aws.s3.BucketPublicAccessBlock("pab", bucket=bucket.id)
        aws.ssm.Parameter("param", type="String", value="x")
        aws.cloudfront.Distribution(
            "d",
            enabled=True,
            origins=[],
            default_cache_behavior={
                "target_origin_id": "x",
                "viewer_protocol_policy": "https-only",
                "allowed_methods": ["GET"],
                "cached_methods": ["GET"],
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={"cloudfront_default_certificate": True},
        )
        aws.cloudfront.Function("f", runtime="cloudfront-js-2.0", code="x")
        aws.cloudfront.KeyvaluestoreKey("k", key_value_store_arn="arn", key="k", value="v")

    registered = {r.name: r.type for r in preview(program).resources}
    assert registered["f"] in resource_types.CLOUDFRONT_FUNCTION_TYPES
    assert registered["k"] in resource_types.CLOUDFRONT_KEY_VALUE_STORE_KEY_TYPES
    assert {registered["b1"], registered["b2"]} == resource_types.BUCKET_TYPES
    assert {registered["w1"], registered["w2"]} == resource_types.BUCKET_WEBSITE_CONFIGURATION_TYPES
    assert {registered["a1"], registered["a2"]} == resource_types.BUCKET_ACL_TYPES
    assert {registered["o1"], registered["o2"], registered["o3"]} <= resource_types.BUCKET_OBJECT_TYPES
    assert registered["p"] in resource_types.BUCKET_POLICY_TYPES
    assert registered["pab"] in resource_types.BUCKET_PUBLIC_ACCESS_BLOCK_TYPES
    assert registered["param"] in resource_types.SSM_PARAMETER_TYPES
    assert registered["d"] in resource_types.CLOUDFRONT_DISTRIBUTION_TYPES


# ---------------------------------------------------------------------------------------------------
# s3-no-website-hosting


def test_website_configuration_resources_and_inline_website_are_refused() -> None:
    def program() -> None:
        bucket = private_bucket("site")
        aws.s3.BucketWebsiteConfiguration(
            "site-website",
            bucket=bucket.id,
            index_document=aws.s3.BucketWebsiteConfigurationIndexDocumentArgs(suffix="index.html"),
        )
        aws.s3.BucketWebsiteConfigurationV2(
            "site-website-v2",
            bucket=bucket.id,
            index_document=aws.s3.BucketWebsiteConfigurationV2IndexDocumentArgs(suffix="index.html"),
        )
        private_bucket("legacy", website=aws.s3.BucketWebsiteArgs(index_document="index.html"))
        aws.s3.BucketV2("legacy-v2", websites=[aws.s3.BucketV2WebsiteArgs(index_document="index.html")])

    found = violations_everywhere("s3-no-website-hosting", preview(program))
    assert set(found) == {"site-website", "site-website-v2", "legacy", "legacy-v2"}
    assert "Remove it" in found["site-website"][0] and "'site-website'" in found["site-website"][0]
    assert "Remove `website`" in found["legacy"][0]
    assert "Remove `websites`" in found["legacy-v2"][0]


def test_private_buckets_without_website_pass() -> None:
    def program() -> None:
        private_bucket("site", force_destroy=True)
        aws.s3.BucketV2("other")

    assert violations_everywhere("s3-no-website-hosting", preview(program)) == {}


# ---------------------------------------------------------------------------------------------------
# s3-bucket-public-access-block (stack policy)


def test_each_bucket_needs_its_own_public_access_block_linked_by_dependency() -> None:
    def program() -> None:
        private_bucket("covered")  # the block's `bucket` is the unknown id: linked by dependency
        aws.s3.Bucket("uncovered")
        aws.s3.BucketV2("uncovered-v2")

    run = preview(program)
    found = stack_violations("s3-bucket-public-access-block", run)
    assert sorted(v.urn.rsplit("::", 1)[1] for v in found if v.urn) == ["uncovered", "uncovered-v2"]
    assert all("block_public_acls=True" in v.message for v in found)


def test_public_access_block_with_any_setting_off_is_refused() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("site")
        aws.s3.BucketPublicAccessBlock(
            "site-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=False,
            ignore_public_acls=True,
        )

    found = stack_violations("s3-bucket-public-access-block", preview(program))
    assert len(found) == 1
    assert found[0].urn and found[0].urn.endswith("::site-public-access")
    assert "blockPublicPolicy, restrictPublicBuckets" in found[0].message
    assert "block_public_policy=True, restrict_public_buckets=True" in found[0].message


def test_public_access_block_matched_by_a_known_bucket_name() -> None:
    def program() -> None:
        aws.s3.Bucket("named", bucket="my-site-bucket")
        aws.s3.BucketPublicAccessBlock(
            "by-name",
            bucket="my-site-bucket",
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )

    assert stack_violations("s3-bucket-public-access-block", preview(program)) == []


def test_public_access_block_settings_unknown_at_preview_are_not_violations() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("site")
        # A setting computed from another resource's output is unknown during preview.
        flag = aws.s3.Bucket("flag-source").bucket.apply(lambda name: bool(name))
        aws.s3.BucketPublicAccessBlock(
            "site-public-access",
            bucket=bucket.id,
            block_public_acls=flag,
            block_public_policy=flag,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )

    found = stack_violations("s3-bucket-public-access-block", preview(program))
    # The unknown flags pass; only the bucket without any block is refused.
    assert [v.urn.rsplit("::", 1)[1] for v in found if v.urn] == ["flag-source"]


# ---------------------------------------------------------------------------------------------------
# s3-no-public-acl


def test_public_canned_acls_and_group_grants_are_refused() -> None:
    def program() -> None:
        bucket = private_bucket("site")
        aws.s3.BucketAclV2("site-acl", bucket=bucket.id, acl="public-read")
        aws.s3.BucketAcl(
            "site-grants",
            bucket=bucket.id,
            access_control_policy=aws.s3.BucketAclAccessControlPolicyArgs(
                owner=aws.s3.BucketAclAccessControlPolicyOwnerArgs(id="owner"),
                grants=[
                    aws.s3.BucketAclAccessControlPolicyGrantArgs(
                        permission="READ",
                        grantee=aws.s3.BucketAclAccessControlPolicyGrantGranteeArgs(
                            type="Group", uri="http://acs.amazonaws.com/groups/global/AllUsers"
                        ),
                    )
                ],
            ),
        )
        aws.s3.BucketObjectv2("index", bucket=bucket.id, key="index.html", content="hi", acl="public-read")
        aws.s3.BucketObject(
            "legacy-object", bucket=bucket.id, key="a.html", content="hi", acl="authenticated-read"
        )
        private_bucket(
            "inline",
            grants=[
                aws.s3.BucketGrantArgs(
                    type="Group",
                    permissions=["READ"],
                    uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                )
            ],
        )

    found = violations_everywhere("s3-no-public-acl", preview(program))
    assert set(found) == {"site-acl", "site-grants", "index", "legacy-object", "inline"}
    assert "canned ACL 'public-read'" in found["site-acl"][0]
    assert "AllUsers" in found["site-grants"][0]


def test_private_acls_pass() -> None:
    def program() -> None:
        bucket = private_bucket("site")
        aws.s3.BucketAclV2("site-acl", bucket=bucket.id, acl="private")
        aws.s3.BucketObjectv2("index", bucket=bucket.id, key="index.html", content="hi")
        aws.s3.BucketObjectv2(
            "owner", bucket=bucket.id, key="a", content="hi", acl="bucket-owner-full-control"
        )

    assert violations_everywhere("s3-no-public-acl", preview(program)) == {}


# ---------------------------------------------------------------------------------------------------
# s3-no-open-bucket-policy


def _statement(
    principal: Any, condition: dict[str, Any] | None = None, sid: str | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::site/*",
    }
    if condition is not None:
        statement["Condition"] = condition
    if sid:
        statement["Sid"] = sid
    return statement


def test_policies_open_to_everyone_without_source_condition_are_refused() -> None:
    def program() -> None:
        bucket = private_bucket("site")
        aws.s3.BucketPolicy(
            "star",
            bucket=bucket.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": [_statement("*", sid="PublicRead")]}),
        )
        # A policy document given as an object, not a JSON string.
        as_object: Any = {"Version": "2012-10-17", "Statement": [_statement({"AWS": ["*"]})]}
        aws.s3.BucketPolicy("aws-star-object", bucket=bucket.id, policy=as_object)
        aws.s3.BucketPolicy(
            "other-condition",
            bucket=bucket.id,
            policy=json.dumps(
                {"Statement": _statement({"AWS": "*"}, {"Bool": {"aws:SecureTransport": "true"}})}
            ),
        )
        document = aws.iam.get_policy_document_output(
            statements=[
                aws.iam.GetPolicyDocumentStatementArgs(
                    actions=["s3:GetObject"],
                    resources=["arn:aws:s3:::site/*"],
                    principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="*", identifiers=["*"])],
                )
            ]
        )
        aws.s3.BucketPolicy("from-document", bucket=bucket.id, policy=document.json)
        private_bucket("inline", policy=json.dumps({"Statement": [_statement("*")]}))

    found = violations_everywhere("s3-no-open-bucket-policy", preview(program))
    assert set(found) == {"star", "aws-star-object", "other-condition", "from-document", "inline"}
    assert "statement 'PublicRead'" in found["star"][0]
    assert "AWS:SourceArn" in found["star"][0] and "cloudfront.amazonaws.com" in found["star"][0]


def test_cloudfront_grants_and_conditioned_statements_pass() -> None:
    def program() -> None:
        bucket = private_bucket("site")
        oac_statement = _statement(
            {"Service": "cloudfront.amazonaws.com"}, {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}
        )
        aws.s3.BucketPolicy("oac", bucket=bucket.id, policy=json.dumps({"Statement": [oac_statement]}))
        # Any principal, but only on behalf of our account (condition keys are case-insensitive).
        account_only = _statement("*", {"StringEquals": {"aws:sourceaccount": ACCOUNT}})
        deny_all = {**_statement("*"), "Effect": "Deny"}
        aws.s3.BucketPolicy(
            "conditioned", bucket=bucket.id, policy=json.dumps({"Statement": [account_only, deny_all]})
        )
        # The usual program: the ARN of the distribution is unknown during preview.
        arn = aws.s3.Bucket("arn-source").arn
        aws.s3.BucketPolicy(
            "unknown",
            bucket=bucket.id,
            policy=pulumi.Output.json_dumps(
                {"Statement": [_statement("*", {"ArnLike": {"AWS:SourceArn": arn}})]}
            ),
        )

    assert violations_everywhere("s3-no-open-bucket-policy", preview(program)) == {}


_OAC_ARN = {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E2SITECDN"}


@pytest.mark.parametrize(
    ("statement", "open_labels"),
    [
        # IAM condition keys are case-insensitive: every spelling of the two source keys ties the grant.
        ({"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": _OAC_ARN}}, []),
        (
            {"Effect": "Allow", "Principal": "*", "Condition": {"ArnLike": {"aws:sourcearn": "arn:*"}}},
            [],
        ),
        (
            {"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"AWS:SOURCEACCOUNT": "1"}}},
            [],
        ),
        # Other condition keys do not.
        (
            {"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"AWS:SourceVpc": "vpc-1"}}},
            ["#0"],
        ),
        ({"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}}, ["'Open'"]),
        # Allow with NotPrincipal grants everyone not listed.
        ({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}}, ["#0"]),
        (
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
                "Condition": {"StringEquals": _OAC_ARN},
            },
            [],
        ),
        ({"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}}, []),
        ({"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}}, []),
    ],
)
def test_open_statements_table(statement: dict[str, Any], open_labels: list[str]) -> None:
    assert open_statements({"Statement": [statement]}) == open_labels


_U = UNKNOWN_STRING_VALUE  # a value known only after the update


@pytest.mark.parametrize(
    ("statements", "open_labels", "not_checked"),
    [
        (_U, [], ["policy.Statement"]),
        ([_U, {"Effect": "Allow", "Principal": "*"}], ["#1"], ["policy.Statement[0]"]),
        ([{"Effect": _U, "Principal": "*"}], [], ["policy.Statement[0].Effect"]),
        ([{"Effect": "Allow", "Principal": _U}], [], ["policy.Statement[0].Principal"]),
        ([{"Effect": "Allow", "NotPrincipal": _U}], [], ["policy.Statement[0].NotPrincipal"]),
        ([{"Effect": "Allow", "Principal": "*", "Condition": _U}], [], ["policy.Statement[0].Condition"]),
        # A Deny statement is skipped, not the rest of the policy.
        ([{"Effect": "Deny", "Principal": "*"}, {"Effect": "Allow", "Principal": "*"}], ["#1"], []),
        # A later statement is still checked after one that cannot be.
        (
            [{"Effect": "Allow", "Principal": _U}, {"Sid": "", "Effect": "Allow", "Principal": "*"}],
            ["#1"],
            ["policy.Statement[0].Principal"],
        ),
    ],
)
def test_open_statements_record_what_they_could_not_read(
    statements: Any, open_labels: list[str], not_checked: list[str]
) -> None:
    recorded: list[tuple[str, str]] = []
    with reporting_not_checked(lambda urn, prop: recorded.append((urn, prop))):
        assert open_statements({"Statement": statements}, "urn:policy") == open_labels
    assert recorded == [("urn:policy", prop) for prop in not_checked]


# ---------------------------------------------------------------------------------------------------
# cloudfront-s3-origin-oac


def test_s3_origins_without_origin_access_control_are_refused() -> None:
    def program() -> None:
        private_bucket("site")
        distribution(
            "empty-identity",
            [
                aws.cloudfront.DistributionOriginArgs(
                    origin_id="site",
                    domain_name="site-bucket.s3.eu-west-1.amazonaws.com",
                    s3_origin_config=aws.cloudfront.DistributionOriginS3OriginConfigArgs(
                        origin_access_identity=""
                    ),
                )
            ],
        )
        distribution(
            "legacy-identity",
            [
                aws.cloudfront.DistributionOriginArgs(
                    origin_id="site",
                    domain_name="site-bucket.s3.amazonaws.com",
                    s3_origin_config=aws.cloudfront.DistributionOriginS3OriginConfigArgs(
                        origin_access_identity="origin-access-identity/cloudfront/E2QWRUHAPOMQZL"
                    ),
                )
            ],
        )
        custom = aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
            http_port=80, https_port=443, origin_protocol_policy="http-only", origin_ssl_protocols=["TLSv1.2"]
        )
        distribution(
            "website-endpoint",
            [
                aws.cloudfront.DistributionOriginArgs(
                    origin_id="site",
                    domain_name="site-bucket.s3-website-eu-west-1.amazonaws.com",
                    custom_origin_config=custom,
                ),
                aws.cloudfront.DistributionOriginArgs(
                    origin_id="rest-as-custom",
                    domain_name="site-bucket.s3.eu-west-1.amazonaws.com",
                    custom_origin_config=custom,
                ),
            ],
        )

    found = violations_everywhere("cloudfront-s3-origin-oac", preview(program))
    assert set(found) == {"empty-identity", "legacy-identity", "website-endpoint"}
    assert "no origin access control" in found["empty-identity"][0]
    assert "legacy origin access identity" in found["legacy-identity"][0]
    assert len(found["website-endpoint"]) == 2
    assert "S3 website endpoint" in found["website-endpoint"][0]
    assert "'rest-as-custom'" in found["website-endpoint"][1]


def test_oac_origins_and_non_s3_custom_origins_pass() -> None:
    def program() -> None:
        bucket = private_bucket("site")
        api = aws.cloudfront.DistributionOriginArgs(
            origin_id="api",
            domain_name="api.example.com",
            custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                http_port=80,
                https_port=443,
                origin_protocol_policy="https-only",
                origin_ssl_protocols=["TLSv1.2"],
            ),
        )
        distribution("site-cdn", [oac_origin(bucket), api])  # OAC id and bucket domain unknown at preview
        distribution("known", [known_oac_origin()])

    assert violations_everywhere("cloudfront-s3-origin-oac", preview(program)) == {}


# ---------------------------------------------------------------------------------------------------
# cloudfront-https-only


def test_plain_http_viewers_are_refused_in_any_cache_behavior() -> None:
    def program() -> None:
        ordered = aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
            path_pattern="/assets/*",
            target_origin_id="site",
            viewer_protocol_policy="allow-all",
            allowed_methods=["GET", "HEAD"],
            cached_methods=["GET", "HEAD"],
        )
        distribution("default-http", [known_oac_origin()], viewer_protocol_policy="allow-all")
        distribution("ordered-http", [known_oac_origin()], ordered=[ordered])

    found = violations_everywhere("cloudfront-https-only", preview(program))
    assert set(found) == {"default-http", "ordered-http"}
    assert "default cache behavior" in found["default-http"][0]
    assert "'/assets/*'" in found["ordered-http"][0] and "redirect-to-https" in found["ordered-http"][0]


def test_https_viewers_pass() -> None:
    def program() -> None:
        distribution("redirect", [known_oac_origin()], viewer_protocol_policy="redirect-to-https")
        distribution("https", [known_oac_origin()], viewer_protocol_policy="https-only")

    assert violations_everywhere("cloudfront-https-only", preview(program)) == {}


# ---------------------------------------------------------------------------------------------------
# lambda-edge-numbered-version


def test_edge_associations_need_a_numbered_version() -> None:
    def program() -> None:
        distribution("latest", [known_oac_origin()], lambda_arns=[f"{EDGE_FUNCTION_ARN}:$LATEST"])
        distribution("unqualified", [known_oac_origin()], lambda_arns=[EDGE_FUNCTION_ARN])
        distribution("alias", [known_oac_origin()], lambda_arns=[f"{EDGE_FUNCTION_ARN}:live"])

    found = violations_everywhere("lambda-edge-numbered-version", preview(program))
    assert set(found) == {"latest", "unqualified", "alias"}
    assert "$LATEST" in found["latest"][0] and "publish=True" in found["latest"][0]
    assert "unqualified" in found["unqualified"][0]
    assert "alias" in found["alias"][0]


def test_numbered_versions_and_arns_unknown_at_preview_pass() -> None:
    def program() -> None:
        role = aws.iam.Role("edge-role", assume_role_policy="{}")
        function = aws.lambda_.Function(
            "edge",
            role=role.arn,
            runtime="python3.12",
            handler="edge_lambda.handler.handler",
            code=pulumi.AssetArchive(
                {"edge_lambda/handler.py": pulumi.StringAsset("def handler(e, c): ...")}
            ),
            publish=True,
        )
        distribution("numbered", [known_oac_origin()], lambda_arns=[f"{EDGE_FUNCTION_ARN}:42"])
        distribution("published", [known_oac_origin()], lambda_arns=[function.qualified_arn])

    run = preview(program)
    assert violations_everywhere("lambda-edge-numbered-version", run) == {}


def test_an_unpublished_functions_qualified_arn_is_refused_once_known() -> None:
    """Lambda numbers a version only when the function is published: without `publish`, the qualified
    ARN an update gives the association ends in $LATEST."""

    def program(publish: bool) -> None:
        role = aws.iam.Role("edge-role", assume_role_policy="{}")
        function = aws.lambda_.Function(
            "edge",
            role=role.arn,
            runtime="python3.12",
            handler="index.handler",
            code=pulumi.AssetArchive({"index.py": pulumi.StringAsset("def handler(e, c): ...")}),
            publish=publish,
        )
        distribution("cdn", [known_oac_origin()], lambda_arns=[function.qualified_arn])

    [found] = violations("lambda-edge-numbered-version", update(lambda: program(False)), "cdn")
    assert "points at $LATEST (arn:aws:lambda:eu-west-1:123456789012:function:edge-9f8e7d6:$LATEST)" in found
    assert violations("lambda-edge-numbered-version", update(lambda: program(True)), "cdn") == []


# ---------------------------------------------------------------------------------------------------
# pointer-parameter-valid-version (advisory)


class FakeSite(pulumi.ComponentResource):
    """Stands in for components.site.VersionedStaticSite: only its type token matters here."""

    def __init__(
        self, name: str, value: pulumi.Input[str], parameter_name: str = "/policy-test/test/live-version"
    ):
        super().__init__(resource_types.VERSIONED_SITE_COMPONENT_TYPE, name)
        aws.ssm.Parameter(
            f"{name}-pointer",
            name=parameter_name,
            type="String",
            value=value,
            opts=pulumi.ResourceOptions(parent=self),
        )


@pytest.mark.parametrize("value", ["latest", "", "2026-11-27", "20261127T101500Z-XYZ"])
def test_pointer_with_an_invalid_version_is_reported(value: str) -> None:
    found = violations(
        "pointer-parameter-valid-version", preview(lambda: FakeSite("site", value)), "site-pointer"
    )
    assert len(found) == 1
    assert repr(value) in found[0] and layout.NO_VERSION_RELEASED in found[0]


@pytest.mark.parametrize(
    "value", [layout.NO_VERSION_RELEASED, "20261127T101500Z", "20261127T101500Z-1a2b3c4"]
)
def test_pointer_with_a_version_or_the_sentinel_passes(value: str) -> None:
    assert (
        violations(
            "pointer-parameter-valid-version", preview(lambda: FakeSite("site", value)), "site-pointer"
        )
        == []
    )


def test_only_the_sites_pointer_is_checked() -> None:
    def program() -> None:
        aws.ssm.Parameter("unrelated", name="/other/live-version", type="String", value="anything")
        FakeSite("site", "anything", parameter_name="/policy-test/test/other")
        FakeSite("unknown", aws.s3.Bucket("b").bucket)

    assert violations_everywhere("pointer-parameter-valid-version", preview(program)) == {}


# ---------------------------------------------------------------------------------------------------
# Unknown values: never a crash, never a violation, never hiding a known violation


def test_unknowns_do_not_hide_known_violations_of_the_same_resource() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("site")
        distribution(
            "cdn",
            [oac_origin(bucket)],  # unknown domain and OAC id
            viewer_protocol_policy="allow-all",
            lambda_arns=[bucket.arn, f"{EDGE_FUNCTION_ARN}:$LATEST"],  # one unknown, one known-bad
        )

    run = preview(program)
    assert violations("cloudfront-s3-origin-oac", run, "cdn") == []
    assert len(violations("cloudfront-https-only", run, "cdn")) == 1
    assert len(violations("lambda-edge-numbered-version", run, "cdn")) == 1


@pytest.mark.parametrize("policy_name", [p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)])
def test_resource_policies_survive_entirely_unknown_inputs(policy_name: str) -> None:
    """Every input of every watched type computed from an unknown output."""
    unknown_types = [
        aws.s3.Bucket,
        aws.s3.BucketAclV2,
        aws.s3.BucketObjectv2,
        aws.s3.BucketPolicy,
        aws.s3.BucketWebsiteConfiguration,
    ]

    def program() -> None:
        source = aws.s3.Bucket("source")
        unknown: pulumi.Output[Any] = source.bucket.apply(lambda name: name)
        for index, kind in enumerate(unknown_types):
            kind(
                f"r{index}", opts=pulumi.ResourceOptions(depends_on=[source]), **_unknown_args(kind, unknown)
            )
        aws.cloudfront.Distribution(
            "cdn",
            enabled=True,
            origins=unknown,
            default_cache_behavior=unknown,
            ordered_cache_behaviors=unknown,
            restrictions=unknown,
            viewer_certificate=unknown,
        )
        FakeSite("site", unknown)

    found = violations_everywhere(policy_name, preview(program))
    # Only the website configuration is refused, by its type alone.
    assert set(found) == ({"r4"} if policy_name == "s3-no-website-hosting" else set())


def _unknown_args(kind: type, unknown: pulumi.Output[Any]) -> dict[str, Any]:
    if kind is aws.s3.Bucket:
        return {"website": unknown, "acl": unknown, "grants": unknown, "policy": unknown}
    if kind is aws.s3.BucketAclV2:
        return {"bucket": unknown, "acl": unknown, "access_control_policy": unknown}
    if kind is aws.s3.BucketObjectv2:
        return {"bucket": unknown, "key": unknown, "acl": unknown}
    if kind is aws.s3.BucketPolicy:
        return {"bucket": unknown, "policy": unknown}
    return {"bucket": unknown}


def test_stack_policy_survives_unknown_inputs() -> None:
    def program() -> None:
        source = aws.s3.Bucket("source", bucket="known-name")
        unknown: pulumi.Output[Any] = aws.s3.Bucket("other").bucket.apply(lambda name: name)
        aws.s3.BucketPublicAccessBlock(
            "source-public-access",
            bucket=source.bucket,
            block_public_acls=unknown,
            block_public_policy=unknown,
            ignore_public_acls=unknown,
            restrict_public_buckets=unknown,
        )

    found = stack_violations("s3-bucket-public-access-block", preview(program))
    assert [v.urn.rsplit("::", 1)[1] for v in found if v.urn] == ["other"]


def test_a_secret_pointer_value_is_checked_too() -> None:
    run = preview(lambda: FakeSite("site", pulumi.Output.secret("latest")))
    found = violations("pointer-parameter-valid-version", run, "site-pointer")
    assert len(found) == 1 and "'latest'" in found[0]


# ---------------------------------------------------------------------------------------------------
# s3-bucket-encryption (stack policy)


def test_buckets_need_declared_default_encryption_inline_or_linked() -> None:
    def program() -> None:
        linked = aws.s3.Bucket("linked")
        aws.s3.BucketServerSideEncryptionConfiguration(
            "linked-encryption",
            bucket=linked.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms"
                    )
                )
            ],
        )
        aws.s3.BucketV2(
            "inline-v2",
            server_side_encryption_configurations=[
                aws.s3.BucketV2ServerSideEncryptionConfigurationArgs(
                    rules=[
                        aws.s3.BucketV2ServerSideEncryptionConfigurationRuleArgs(
                            apply_server_side_encryption_by_defaults=[
                                aws.s3.BucketV2ServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                                    sse_algorithm="AES256"
                                )
                            ]
                        )
                    ]
                )
            ],
        )
        aws.s3.Bucket("bare")

    found = stack_violations("s3-bucket-encryption", preview(program))
    assert [v.urn.rsplit("::", 1)[1] for v in found if v.urn] == ["bare"]
    assert "sse_algorithm='AES256'" in found[0].message


# ---------------------------------------------------------------------------------------------------
# cloudfront-viewer-tls, cloudfront-custom-origin-tls


def _with_certificate(name: str, **certificate: Any) -> None:
    aws.cloudfront.Distribution(
        name,
        enabled=True,
        origins=[known_oac_origin()],
        default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
            target_origin_id="site",
            viewer_protocol_policy="redirect-to-https",
            allowed_methods=["GET", "HEAD"],
            cached_methods=["GET", "HEAD"],
        ),
        restrictions=aws.cloudfront.DistributionRestrictionsArgs(
            geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
        ),
        viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(**certificate),
    )


def test_custom_certificates_need_a_tls_1_2_security_policy() -> None:
    cert = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc"

    def program() -> None:
        for policy_name in ("TLSv1.2_2019", "TLSv1.1_2016", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"):
            _with_certificate(
                policy_name.replace(".", "-"), acm_certificate_arn=cert, minimum_protocol_version=policy_name
            )
        _with_certificate("iam", iam_certificate_id="ASCAEXAMPLE", minimum_protocol_version="TLSv1")
        _with_certificate("default", cloudfront_default_certificate=True)

    found = violations_everywhere("cloudfront-viewer-tls", preview(program))
    assert set(found) == {"TLSv1-2_2019", "TLSv1-1_2016", "iam"}
    assert "'TLSv1.2_2019'" in found["TLSv1-2_2019"][0] and "TLSv1.2_2021" in found["TLSv1-2_2019"][0]


def test_custom_origins_need_https_with_tls_1_2_only() -> None:
    def origin(origin_id: str, policy: str, protocols: list[str]) -> aws.cloudfront.DistributionOriginArgs:
        return aws.cloudfront.DistributionOriginArgs(
            origin_id=origin_id,
            domain_name=f"{origin_id}.example.com",
            custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                http_port=80, https_port=443, origin_protocol_policy=policy, origin_ssl_protocols=protocols
            ),
        )

    def program() -> None:
        distribution("good", [known_oac_origin(), origin("api", "https-only", ["TLSv1.2"])])
        distribution("matching", [origin("api", "match-viewer", ["TLSv1.2"])])
        distribution("old-tls", [origin("api", "https-only", ["TLSv1.1", "TLSv1.2", "SSLv3"])])

    found = violations_everywhere("cloudfront-custom-origin-tls", preview(program))
    assert set(found) == {"matching", "old-tls"}
    assert "origin_protocol_policy='match-viewer'" in found["matching"][0]
    assert "allows SSLv3, TLSv1.1 towards the origin" in found["old-tls"][0]


# ---------------------------------------------------------------------------------------------------
# Not checked: what a policy cannot read is named, never passed


def test_unknown_inputs_are_reported_as_not_checked_by_each_policy() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("site")
        unknown: pulumi.Output[Any] = bucket.bucket.apply(lambda name: name)
        aws.s3.BucketPublicAccessBlock(
            "site-public-access",
            bucket=bucket.id,
            block_public_acls=unknown,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3.BucketObjectv2("index", bucket=bucket.id, key="index.html", acl=unknown)
        _with_certificate(
            "cdn",
            acm_certificate_arn=f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc",
            minimum_protocol_version=unknown,
        )
        FakeSite("site", unknown)

    missed = {(n.policy, n.urn.rsplit("::", 1)[1], n.property) for n in check(preview(program)).not_checked}
    assert missed == {
        ("s3-bucket-public-access-block", "site-public-access", "blockPublicAcls"),
        ("s3-no-public-acl", "index", "acl"),
        ("cloudfront-viewer-tls", "cdn", "viewerCertificate.minimumProtocolVersion"),
        ("pointer-parameter-valid-version", "site-pointer", "value"),
        # The bucket's encryption configuration is missing: a violation, not a miss.
    }


# ---------------------------------------------------------------------------------------------------
# versioned-site-one-router without parent links (the URN alone says the resource is in a site)


def test_the_store_key_is_compared_with_the_pointer_even_without_parent_links() -> None:
    site = "urn:pulumi:prod::versioned-site::versioned-site:index:VersionedStaticSite"
    pointer = _policy_resource(
        "aws:ssm/parameter:Parameter",
        f"{site}$aws:ssm/parameter:Parameter::site-pointer",
        {"name": "/versioned-site/prod/live-version", "insecureValue": "20261127T101500Z"},
    )
    store = "aws:cloudfront/keyValueStore:KeyValueStore"
    key = _policy_resource(
        "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey",
        f"{site}${store}$aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey::site-live-version",
        {"key": "live-version", "value": "20261128T090000Z"},
    )
    messages: list[str] = []
    versioned_site_one_router_validator(
        StackValidationArgs([pointer, key]), lambda message, urn: messages.append(message)
    )
    assert messages == [
        "KeyValueStore key 'site-live-version' gives viewers '20261128T090000Z' while the pointer parameter, "
        "the record sitectl and the guards read, holds '20261127T101500Z'. Set the key's value from the "
        "pointer parameter (its insecure_value), so one update changes both."
    ]


def _policy_resource(resource_type: str, urn: str, props: dict[str, Any]) -> PolicyResource:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    return PolicyResource(resource_type, props, urn, urn.rsplit("::", 1)[1], options, None, None, [], {})


# ---------------------------------------------------------------------------------------------------
# Each policy on properties as the engine sends them: the exact messages, and the exact "not checked"
# record of every value it could not read (an unknown value, a list item, a nested field)

_SITE = resource_types.VERSIONED_SITE_COMPONENT_TYPE
_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
_BUCKET = "aws:s3/bucket:Bucket"
_OBJECT = "aws:s3/objectCopy:ObjectCopy"
_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
_FUNCTION = "aws:cloudfront/function:Function"
_PARAMETER = "aws:ssm/parameter:Parameter"
_KEY = "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"
_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _urn(resource_type: str, name: str, parents: tuple[str, ...] = ()) -> str:
    return f"urn:pulumi:test::policy-test::{'$'.join([*parents, resource_type])}::{name}"


def _engine_resource(
    resource_type: str,
    name: str,
    props: dict[str, Any],
    parents: tuple[str, ...] = (),
    dependencies: tuple[PolicyResource, ...] = (),
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(props),
        _urn(resource_type, name, parents),
        name,
        _OPTIONS,
        None,
        None,
        list(dependencies),
        property_dependencies or {},
    )


def _collecting(messages: list[str]) -> Callable[[str, str | None], None]:
    """A `report_violation` callback that keeps the messages."""

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return report


def _check_resource(
    policy_name: str, resource_type: str, name: str, props: dict[str, Any], parents: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """(messages, properties not checked) of one resource policy for one resource."""
    chosen = policy(policy_name)
    assert isinstance(chosen, ResourceValidationPolicy)
    urn = _urn(resource_type, name, parents)
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy(props), urn, name, _OPTIONS, None)
    messages: list[str] = []
    missed: list[tuple[str, str]] = []
    with reporting_not_checked(lambda at, prop: missed.append((at, prop))):
        chosen.validate(args, _collecting(messages))
    assert {at for at, _ in missed} <= {urn}
    return messages, [prop for _, prop in missed]


def _check_stack(
    policy_name: str, resources: list[PolicyResource]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """((resource name, message) of each violation, (resource name, property) of each value not checked)."""
    chosen = policy(policy_name)
    assert isinstance(chosen, StackValidationPolicy)
    found: list[tuple[str, str]] = []
    missed: list[tuple[str, str]] = []

    def report(message: str, urn: str | None) -> None:
        assert urn is not None
        found.append((urn.rsplit("::", 1)[1], message))

    with reporting_not_checked(lambda urn, prop: missed.append((urn.rsplit("::", 1)[1], prop))):
        chosen.validate(StackValidationArgs(resources), report)
    return found, missed


_NO_OAC = (
    "has no origin access control, so CloudFront reads the bucket anonymously (an empty legacy identity). "
    "Set origin_access_control_id to an aws.cloudfront.OriginAccessControl with "
    "origin_access_control_origin_type='s3' and signing_behavior='always'."
)
_PUBLIC_ACL_FIX = (
    "Remove `acl` (or use 'private'): the site is served through CloudFront with Origin Access Control."
)
_GRANT_FIX = "Remove that grant: the site is served through CloudFront with Origin Access Control."
_HTTP_FIX = (
    "(viewer_protocol_policy='allow-all'). Set viewer_protocol_policy='redirect-to-https' (or 'https-only')."
)
_EDGE_FIX = (
    "Lambda@Edge needs a numbered version. Create the function with publish=True and pass its qualified_arn."
)
_POINTER_MESSAGE = (
    "Pointer parameter 'site-pointer' holds 'latest', which is neither a version id (YYYYMMDDTHHMMSSZ[-<git "
    "sha, 7-40 lowercase hex>] (UTC), e.g. 20261127T101500Z-1a2b3c4) nor 'none' (nothing released); the edge "
    "function will answer 503. Set policy-test:version to an uploaded version (`sitectl release`) or to "
    "an empty string."
)

RESOURCE_CASES = [
    pytest.param(
        "s3-no-website-hosting",
        "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2",
        "site-website",
        {},
        (),
        [
            "'site-website' (aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2) turns on S3 "
            "static website hosting, which serves the bucket publicly over plain HTTP and cannot use Origin "
            "Access Control. Remove it: CloudFront serves the site from the private bucket (index documents "
            "are handled at the edge)."
        ],
        [],
        id="website-configuration",
    ),
    pytest.param(
        "s3-no-website-hosting",
        _BUCKET,
        "legacy",
        {"website": _U, "websites": [_U, {"indexDocument": "index.html"}]},
        (),
        [
            "Bucket 'legacy' sets the inline `websites` input, which turns on S3 static website hosting "
            "(public, plain HTTP). Remove `websites` and serve the bucket through CloudFront with Origin "
            "Access Control."
        ],
        ["website", "websites[0]"],
        id="website-unknown-then-websites",
    ),
    pytest.param(
        "s3-no-website-hosting",
        _BUCKET,
        "empty",
        {"website": {}, "websites": []},
        (),
        [],
        [],
        id="website-empty",
    ),
    pytest.param(
        "s3-no-public-acl",
        _BUCKET,
        "site",
        {
            "acl": "public-read",
            "grants": [
                {"type": "Group", "uri": _ALL_USERS, "permissions": ["READ"]},
                {"type": "CanonicalUser", "id": "abc", "permissions": ["FULL_CONTROL"]},
                _U,
                {"type": "Group", "uri": _U},
            ],
        },
        (),
        [
            "Bucket 'site' uses the canned ACL 'public-read', which grants access to everyone. "
            f"{_PUBLIC_ACL_FIX}",
            f"Bucket 'site' grants access to the group {_ALL_USERS}. {_GRANT_FIX}",
        ],
        ["grants[2].uri", "grants[3].uri"],
        id="acl-bucket",
    ),
    pytest.param(
        "s3-no-public-acl", _BUCKET, "site", {"grants": _U}, (), [], ["grants"], id="acl-bucket-unknown"
    ),
    pytest.param(
        "s3-no-public-acl",
        "aws:s3/bucketAclV2:BucketAclV2",
        "site-acl",
        {
            "acl": "public-read-write",
            "accessControlPolicy": {
                "grants": [
                    {
                        "grantee": {
                            "type": "Group",
                            "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                        }
                    },
                    {"grantee": {"type": "Group", "uri": _U}},
                ]
            },
        },
        (),
        [
            "Bucket ACL 'site-acl' uses the canned ACL 'public-read-write', which grants access to everyone. "
            f"{_PUBLIC_ACL_FIX}",
            "Bucket ACL 'site-acl' grants access to the group "
            f"http://acs.amazonaws.com/groups/global/AuthenticatedUsers. {_GRANT_FIX}",
        ],
        ["accessControlPolicy.grants[1].grantee.uri"],
        id="acl-bucket-acl",
    ),
    pytest.param(
        "s3-no-public-acl",
        _OBJECT,
        "index",
        {
            "acl": "authenticated-read",
            "grants": [{"type": "Group", "uri": _ALL_USERS}, {"type": "Group", "uri": _U}],
        },
        (),
        [
            "Object 'index' uses the canned ACL 'authenticated-read', which grants access to everyone. "
            f"{_PUBLIC_ACL_FIX}",
            f"Object 'index' grants access to the group {_ALL_USERS}. {_GRANT_FIX}",
        ],
        ["grants[1].uri"],
        id="acl-object",
    ),
    pytest.param(
        "s3-no-public-acl",
        _OBJECT,
        "index",
        {"acl": _U, "grants": _U},
        (),
        [],
        ["grants", "acl"],
        id="acl-object-unknown",
    ),
    pytest.param(
        "s3-no-open-bucket-policy",
        _BUCKET_POLICY,
        "site-policy",
        {"policy": json.dumps({"Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*"}]})},
        (),
        [
            "Bucket policy of 'site-policy': statement 'PublicRead' allows Principal \"*\" without an "
            "AWS:SourceArn or AWS:SourceAccount condition, so anyone can use it. Grant "
            '{"Service": "cloudfront.amazonaws.com"} instead, with Condition '
            '{"StringEquals": {"AWS:SourceArn": <distribution ARN>}}.'
        ],
        [],
        id="bucket-policy-open",
    ),
    pytest.param(
        "s3-no-open-bucket-policy",
        _BUCKET_POLICY,
        "site-policy",
        {"policy": "{not json"},
        (),
        [],
        ["policy (not a JSON object)"],
        id="bucket-policy-not-json",
    ),
    pytest.param(
        "s3-no-open-bucket-policy",
        _BUCKET_POLICY,
        "site-policy",
        {"policy": "[]"},
        (),
        [],
        ["policy (not a JSON object)"],
        id="bucket-policy-json-list",
    ),
    pytest.param(
        "s3-no-open-bucket-policy",
        _BUCKET_POLICY,
        "site-policy",
        {"policy": _U},
        (),
        [],
        ["policy"],
        id="bucket-policy-unknown",
    ),
    pytest.param(
        "s3-no-open-bucket-policy",
        _BUCKET,
        "site",
        {"policy": json.dumps({"Statement": [{"Effect": _U, "Principal": "*"}]})},
        (),
        [],
        ["policy.Statement[0].Effect"],
        id="bucket-inline-policy-unknown-effect",
    ),
    pytest.param(
        "cloudfront-s3-origin-oac",
        _DISTRIBUTION,
        "cdn",
        {
            "origins": [
                {
                    "originId": "anonymous",
                    "domainName": "b.s3.eu-west-1.amazonaws.com",
                    "s3OriginConfig": {"originAccessIdentity": ""},
                },
                {
                    "originId": "legacy",
                    "domainName": "b.s3.amazonaws.com",
                    "s3OriginConfig": {
                        "originAccessIdentity": "origin-access-identity/cloudfront/E2QWRUHAPOMQZL"
                    },
                },
                {
                    "originId": "website",
                    "domainName": "b.s3-website-eu-west-1.amazonaws.com",
                    "customOriginConfig": {"originProtocolPolicy": "http-only"},
                },
                {
                    "originId": "rest",
                    "domainName": "b.s3.eu-west-1.amazonaws.com",
                    "customOriginConfig": {"originProtocolPolicy": "https-only"},
                },
                {"originId": _U, "domainName": "b.s3.amazonaws.com"},
                {
                    "originId": "oac",
                    "domainName": "b.s3.amazonaws.com",
                    "originAccessControlId": "E3OACEXAMPLE",
                },
                {
                    "originId": "api",
                    "domainName": "api.example.com",
                    "customOriginConfig": {"originProtocolPolicy": "https-only"},
                },
            ]
        },
        (),
        [
            f"Distribution 'cdn': origin 'anonymous' {_NO_OAC}",
            "Distribution 'cdn': origin 'legacy' uses a legacy origin access identity. Replace it with an "
            "aws.cloudfront.OriginAccessControl (origin_access_control_id) and an empty "
            "origin_access_identity.",
            "Distribution 'cdn': origin 'website' uses the S3 website endpoint "
            "b.s3-website-eu-west-1.amazonaws.com as an origin, which needs a public bucket. Use the "
            "bucket's "
            "REST endpoint (bucket_regional_domain_name) as an S3 origin with origin_access_control_id.",
            "Distribution 'cdn': origin 'rest' reaches the S3 endpoint b.s3.eu-west-1.amazonaws.com as a "
            "custom "
            "origin, so CloudFront cannot sign its requests and the bucket must be public. Drop "
            "custom_origin_config and set origin_access_control_id.",
            f"Distribution 'cdn': origin (unknown id) {_NO_OAC}",
        ],
        [],
        id="origins",
    ),
    pytest.param(
        "cloudfront-s3-origin-oac",
        _DISTRIBUTION,
        "cdn",
        {
            "origins": [
                _U,
                {"originId": "a", "domainName": _U, "originAccessControlId": _U},
                # An unknown custom origin config may not be custom: an S3 domain is no violation yet.
                {"originId": "b", "domainName": "b.s3.amazonaws.com", "customOriginConfig": _U},
                {"originId": "c", "domainName": "c.s3.amazonaws.com", "s3OriginConfig": _U},
                {
                    "originId": "d",
                    "domainName": "d.s3.amazonaws.com",
                    "s3OriginConfig": {"originAccessIdentity": _U},
                },
            ]
        },
        (),
        [],
        [
            "origins[0]",
            "origins[1].domainName",
            "origins[1].originAccessControlId",
            "origins[2].customOriginConfig",
            "origins[3].s3OriginConfig",
            "origins[4].s3OriginConfig.originAccessIdentity",
        ],
        id="origins-unknown-parts",
    ),
    pytest.param(
        "cloudfront-s3-origin-oac",
        _DISTRIBUTION,
        "cdn",
        {"origins": _U},
        (),
        [],
        ["origins"],
        id="origins-unknown",
    ),
    pytest.param(
        "cloudfront-https-only",
        _DISTRIBUTION,
        "cdn",
        {
            "defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"},
            "orderedCacheBehaviors": [
                _U,
                {"pathPattern": "/a/*", "viewerProtocolPolicy": _U},
                {"pathPattern": _U, "viewerProtocolPolicy": "allow-all"},
            ],
        },
        (),
        [
            f"Distribution 'cdn': the default cache behavior lets viewers use plain HTTP {_HTTP_FIX}",
            "Distribution 'cdn': the cache behavior with an unknown path pattern lets viewers use plain HTTP "
            f"{_HTTP_FIX}",
        ],
        ["orderedCacheBehaviors[0]", "orderedCacheBehaviors[1].viewerProtocolPolicy"],
        id="https-behaviors",
    ),
    pytest.param(
        "cloudfront-https-only",
        _DISTRIBUTION,
        "cdn",
        {"defaultCacheBehavior": _U, "orderedCacheBehaviors": _U},
        (),
        [],
        ["defaultCacheBehavior", "orderedCacheBehaviors"],
        id="https-behaviors-unknown",
    ),
    pytest.param(
        "cloudfront-viewer-tls",
        _DISTRIBUTION,
        "cdn",
        {"viewerCertificate": {"acmCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc"}},
        (),
        [
            "Distribution 'cdn' serves its custom certificate with minimum_protocol_version unset (TLSv1), "
            "which lets viewers negotiate TLS 1.0 or 1.1. Set minimum_protocol_version='TLSv1.2_2021' (or "
            "newer)."
        ],
        [],
        id="viewer-tls-unset",
    ),
    pytest.param(
        "cloudfront-viewer-tls",
        _DISTRIBUTION,
        "cdn",
        {"viewerCertificate": _U},
        (),
        [],
        ["viewerCertificate"],
        id="viewer-tls-unknown",
    ),
    pytest.param(
        "cloudfront-viewer-tls",
        _DISTRIBUTION,
        "cdn",
        {"viewerCertificate": {"iamCertificateId": _U, "minimumProtocolVersion": "TLSv1"}},
        (),
        [],
        ["viewerCertificate.iamCertificateId"],
        id="viewer-tls-unknown-iam-certificate",
    ),
    pytest.param(
        "cloudfront-viewer-tls",
        _DISTRIBUTION,
        "cdn",
        {"viewerCertificate": {"acmCertificateArn": _U, "minimumProtocolVersion": "TLSv1"}},
        (),
        [],
        ["viewerCertificate.acmCertificateArn"],
        id="viewer-tls-unknown-acm-certificate",
    ),
    pytest.param(
        "cloudfront-custom-origin-tls",
        _DISTRIBUTION,
        "cdn",
        {
            "origins": [
                {
                    "originId": "api",
                    "domainName": "api.example.com",
                    # A lone value counts as a list of one.
                    "customOriginConfig": {
                        "originProtocolPolicy": "http-only",
                        "originSslProtocols": "TLSv1",
                    },
                },
                {"originId": "b", "domainName": "b.example.com", "customOriginConfig": _U},
                {
                    "originId": "c",
                    "domainName": "c.example.com",
                    "customOriginConfig": {"originProtocolPolicy": _U, "originSslProtocols": _U},
                },
                {
                    "originId": "d",
                    "domainName": "d.example.com",
                    "customOriginConfig": {
                        "originProtocolPolicy": "https-only",
                        "originSslProtocols": ["SSLv3", "TLSv1.2"],
                    },
                },
            ]
        },
        (),
        [
            "Distribution 'cdn': custom origin 'api' is reached with origin_protocol_policy='http-only', so "
            "requests and content cross the internet unencrypted. Set origin_protocol_policy='https-only'.",
            "Distribution 'cdn': custom origin 'api' allows TLSv1 towards the origin. Set "
            "origin_ssl_protocols=['TLSv1.2'].",
            "Distribution 'cdn': custom origin 'd' allows SSLv3 towards the origin. Set "
            "origin_ssl_protocols=['TLSv1.2'].",
        ],
        [
            "origins[1].customOriginConfig",
            "origins[2].customOriginConfig.originProtocolPolicy",
            "origins[2].customOriginConfig.originSslProtocols",
        ],
        id="custom-origin-tls",
    ),
    pytest.param(
        "lambda-edge-numbered-version",
        _DISTRIBUTION,
        "cdn",
        {
            "defaultCacheBehavior": {"lambdaFunctionAssociations": _U},
            "orderedCacheBehaviors": [
                {
                    "pathPattern": "/app/*",
                    "lambdaFunctionAssociations": [
                        {
                            "eventType": "origin-request",
                            "lambdaArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Site-Edge:Live",
                        },
                        {
                            "eventType": _U,
                            "lambdaArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Site-Edge",
                        },
                        {
                            "eventType": "viewer-request",
                            "lambdaArn": f"arn:aws:cloudfront::{ACCOUNT}:function/router",
                        },
                        {"eventType": "origin-response", "lambdaArn": _U},
                        {
                            "eventType": "origin-response",
                            "lambdaArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Site-Edge:7",
                        },
                    ],
                }
            ],
        },
        (),
        [
            "Distribution 'cdn': the origin-request Lambda@Edge association of the cache behavior '/app/*' "
            "points "
            f"at an alias (arn:aws:lambda:us-east-1:{ACCOUNT}:function:Site-Edge:Live); {_EDGE_FIX}",
            "Distribution 'cdn': the Lambda@Edge association of the cache behavior '/app/*' is an "
            "unqualified "
            f"function ARN (arn:aws:lambda:us-east-1:{ACCOUNT}:function:Site-Edge); {_EDGE_FIX}",
            "Distribution 'cdn': the viewer-request Lambda@Edge association of the cache behavior '/app/*' "
            "is not "
            f"a Lambda function version ARN (arn:aws:cloudfront::{ACCOUNT}:function/router); {_EDGE_FIX}",
        ],
        [
            "defaultCacheBehavior.lambdaFunctionAssociations",
            "orderedCacheBehaviors[0].lambdaFunctionAssociations[3].lambdaArn",
        ],
        id="edge-arns",
    ),
    pytest.param(
        "cloudfront-function-live",
        _FUNCTION,
        "router",
        {
            "publish": False,
            "runtime": "cloudfront-js-1.0",
            "keyValueStoreAssociations": [
                f"arn:aws:cloudfront::{ACCOUNT}:key-value-store/a",
                f"arn:aws:cloudfront::{ACCOUNT}:key-value-store/b",
            ],
        },
        (),
        [
            "CloudFront Function 'router' is not published (publish=False): distributions run only a "
            "function's "
            "LIVE stage, so they keep its previous code, or cannot use a new function at all. Set "
            "publish=True.",
            "CloudFront Function 'router' is associated with 2 KeyValueStores; AWS allows one per function.",
            "CloudFront Function 'router' reads a KeyValueStore on runtime 'cloudfront-js-1.0', which has no "
            "`cloudfront` module. Set runtime='cloudfront-js-2.0'.",
        ],
        [],
        id="function",
    ),
    pytest.param(
        "cloudfront-function-live",
        _FUNCTION,
        "router",
        {
            "publish": _U,
            "runtime": _U,
            "keyValueStoreAssociations": [f"arn:aws:cloudfront::{ACCOUNT}:key-value-store/a"],
        },
        (),
        [],
        ["publish", "runtime"],
        id="function-unknown",
    ),
    pytest.param(
        "cloudfront-function-live",
        _FUNCTION,
        "router",
        {"runtime": "cloudfront-js-1.0"},
        (),
        [],
        [],
        id="function-without-store",
    ),
    pytest.param(
        "cloudfront-function-live",
        _FUNCTION,
        "router",
        {"keyValueStoreAssociations": _U},
        (),
        [],
        ["keyValueStoreAssociations"],
        id="function-unknown-stores",
    ),
    pytest.param(
        "pointer-parameter-valid-version",
        _PARAMETER,
        "site-pointer",
        {"name": "/site/prod/live-version", "value": "latest"},
        (_SITE,),
        [_POINTER_MESSAGE],
        [],
        id="pointer",
    ),
    pytest.param(
        "pointer-parameter-valid-version",
        _PARAMETER,
        "site-pointer",
        {"name": "/site/prod/live-version", "value": "latest"},
        ("acme:index:Sites", _SITE),
        [_POINTER_MESSAGE],
        [],
        id="pointer-of-a-nested-site",
    ),
    pytest.param(
        "pointer-parameter-valid-version",
        _PARAMETER,
        "site-pointer",
        {"name": "/site/prod/live-version", "insecureValue": _U},
        (_SITE,),
        [],
        ["insecureValue"],
        id="pointer-unknown-insecure-value",
    ),
    # A parameter of the site whose name is unknown may be the pointer; one outside a site is not.
    pytest.param(
        "pointer-parameter-valid-version",
        _PARAMETER,
        "site-pointer",
        {"name": _U, "value": "latest"},
        (_SITE,),
        [],
        ["name"],
        id="pointer-unknown-name",
    ),
    pytest.param(
        "pointer-parameter-valid-version",
        _PARAMETER,
        "other",
        {"name": _U, "value": "latest"},
        (),
        [],
        [],
        id="not-a-pointer",
    ),
]


@pytest.mark.parametrize(
    ("policy_name", "resource_type", "name", "props", "parents", "messages", "not_checked"), RESOURCE_CASES
)
def test_resource_policy_messages_and_not_checked_records(
    policy_name: str,
    resource_type: str,
    name: str,
    props: dict[str, Any],
    parents: tuple[str, ...],
    messages: list[str],
    not_checked: list[str],
) -> None:
    assert _check_resource(policy_name, resource_type, name, props, parents) == (messages, not_checked)


def test_a_public_access_block_applies_to_the_bucket_it_depends_on_without_property_dependencies() -> None:
    site = _engine_resource(_BUCKET, "site", {"bucket": _U})
    other = _engine_resource(_BUCKET, "other", {"bucket": _U})
    block = _engine_resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "site-public-access",
        {
            "bucket": _U,
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
        dependencies=(site,),
    )
    assert _check_stack("s3-bucket-public-access-block", [site, other, block]) == (
        [
            (
                "other",
                "Bucket 'other' has no public access block. Add "
                "aws.s3.BucketPublicAccessBlock(bucket=<bucket>.id, "
                "block_public_acls=True, block_public_policy=True, ignore_public_acls=True, "
                "restrict_public_buckets=True).",
            )
        ],
        [],
    )


def test_encryption_inline_on_a_bucket_and_unknown_rules_of_a_configuration() -> None:
    encryption = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    resources = [
        # aws.s3.Bucket's inline block (BucketV2's list is in the preview test above).
        _engine_resource(
            _BUCKET,
            "inline",
            {
                "serverSideEncryptionConfiguration": {
                    "rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
                }
            },
        ),
        _engine_resource(_BUCKET, "bare", {}),
        _engine_resource(encryption, "pending-rules", {"bucket": "elsewhere", "rules": _U}),
        _engine_resource(
            encryption,
            "pending-algorithm",
            {"bucket": "elsewhere", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": _U}}]},
        ),
    ]
    assert _check_stack("s3-bucket-encryption", resources) == (
        [
            (
                "bare",
                "Bucket 'bare' declares no default encryption (S3 applies SSE-S3 to it anyway). "
                "To keep the choice in code, add aws.s3.BucketServerSideEncryptionConfiguration("
                "bucket=<bucket>.id, "
                "rules=[...(apply_server_side_encryption_by_default=...(sse_algorithm='AES256'"
                "))]) (SSE-S3: CloudFront's Origin Access Control reads SSE-KMS objects only with a key "
                "policy for "
                "it).",
            )
        ],
        [
            ("pending-rules", "rules"),
            ("pending-algorithm", "rules[0].applyServerSideEncryptionByDefault.sseAlgorithm"),
        ],
    )


_UNPUBLISHED = (
    "which is not published: CloudFront runs only a LIVE stage, so the distribution would run its previous "
    "code, or refuse the association. Create it with publish=True."
)


def test_function_associations_name_each_problem_and_what_they_could_not_read() -> None:
    router = _engine_resource(_FUNCTION, "router", {"publish": False})
    pending = _engine_resource(_FUNCTION, "pending", {"publish": _U})
    # Only depended on (depends_on): the distribution's behaviors were not given it.
    ordering = _engine_resource(_FUNCTION, "ordering", {"publish": False})
    associations = [
        _U,
        {
            "eventType": "viewer-request",
            "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:site-edge:1",
        },
        {"eventType": "viewer-response", "functionArn": _U},
        {"eventType": "viewer-request", "functionArn": f"arn:aws:cloudfront::{ACCOUNT}:function/router"},
    ]
    cdn = _engine_resource(
        _DISTRIBUTION,
        "cdn",
        {
            "defaultCacheBehavior": {"functionAssociations": _U},
            "orderedCacheBehaviors": [{"pathPattern": "/app/*", "functionAssociations": associations}],
        },
        dependencies=(router, pending, ordering),
        property_dependencies={"defaultCacheBehavior": [pending], "orderedCacheBehaviors": [router]},
    )
    # Without per-property dependencies (an older engine), a dependency is the link.
    legacy = _engine_resource(_DISTRIBUTION, "legacy", {"defaultCacheBehavior": {}}, dependencies=(ordering,))
    assert _check_stack("cloudfront-function-association-live", [router, pending, ordering, cdn, legacy]) == (
        [
            (
                "cdn",
                "Distribution 'cdn': the viewer-request function of the cache behavior '/app/*' is "
                f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:site-edge:1, not a CloudFront Function ARN. "
                "Pass an "
                "aws.cloudfront.Function's arn (a Lambda function belongs in lambda_function_associations).",
            ),
            ("cdn", f"Distribution 'cdn' associates CloudFront Function 'router', {_UNPUBLISHED}"),
            ("legacy", f"Distribution 'legacy' associates CloudFront Function 'ordering', {_UNPUBLISHED}"),
        ],
        [
            ("cdn", "defaultCacheBehavior.functionAssociations"),
            ("cdn", "orderedCacheBehaviors[0].functionAssociations[0]"),
            ("pending", "publish"),
        ],
    )


_BOTH_ROUTERS = {
    "defaultCacheBehavior": {
        "functionAssociations": [
            {"eventType": "viewer-request", "functionArn": f"arn:aws:cloudfront::{ACCOUNT}:function/router"}
        ],
        "lambdaFunctionAssociations": [
            {
                "eventType": "origin-request",
                "lambdaArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:site-edge:1",
            }
        ],
    }
}


def test_one_router_per_site_and_the_store_key_follows_the_pointer() -> None:
    resources = [
        _engine_resource(_DISTRIBUTION, "site-cdn", _BOTH_ROUTERS, parents=(_SITE,)),
        # Outside a VersionedStaticSite two routers are the program's own design.
        _engine_resource(_DISTRIBUTION, "other-cdn", _BOTH_ROUTERS),
        _engine_resource(
            _PARAMETER,
            "site-pointer",
            {"name": "/site/prod/live-version", "value": "20261127T101500Z"},
            parents=(_SITE,),
        ),
        _engine_resource(_KEY, "other-key", {"key": "other", "value": "x"}, parents=(_SITE,)),
        _engine_resource(_KEY, "own-key", {"key": "live-version", "value": "the program's own"}),
        _engine_resource(_KEY, "pending-key", {"key": "live-version", "value": _U}, parents=(_SITE,)),
        _engine_resource(
            _KEY, "site-live-version", {"key": "live-version", "value": "20261128T090000Z"}, parents=(_SITE,)
        ),
    ]
    assert _check_stack("versioned-site-one-router", resources) == (
        [
            (
                "site-cdn",
                "Distribution 'site-cdn': the default cache behavior has both routers, a viewer-request "
                "CloudFront "
                "Function and an origin-request Lambda@Edge function; each prefixes the live version, so "
                "every "
                "path would get it twice. Set policy-test:router to one.",
            ),
            (
                "site-live-version",
                "KeyValueStore key 'site-live-version' gives viewers '20261128T090000Z' while the pointer "
                "parameter, the record sitectl and the guards read, holds '20261127T101500Z'. Set the key's "
                "value "
                "from the pointer parameter (its insecure_value), so one update changes both.",
            ),
        ],
        [("pending-key", "value")],
    )


def test_a_store_key_is_not_compared_with_a_pointer_value_unknown_at_preview() -> None:
    resources = [
        _engine_resource(
            _PARAMETER,
            "site-pointer",
            {"name": "/site/prod/live-version", "insecureValue": _U},
            parents=(_SITE,),
        ),
        _engine_resource(
            _KEY, "site-live-version", {"key": "live-version", "value": "20261127T101500Z"}, parents=(_SITE,)
        ),
    ]
    assert _check_stack("versioned-site-one-router", resources) == (
        [],
        [("site-live-version", "pointer value")],
    )


# ---------------------------------------------------------------------------------------------------
# The pack as served to the engine (policy/__main__.py): what a policy could not read is raised after it
# ran, which pulumi_policy turns into its advisory "can't run policy ... during preview: <message>"


def test_the_served_policies_are_the_pack_s_policies() -> None:
    served = engine_policies()
    assert [(type(p), p.name, p.description, p.enforcement_level) for p in served] == [
        (type(p), p.name, p.description, p.enforcement_level) for p in POLICIES
    ]


def _served(name: str) -> ResourceValidationPolicy:
    served = next(p for p in engine_policies() if p.name == name)
    assert isinstance(served, ResourceValidationPolicy)
    return served


def test_a_served_policy_reports_its_violations_then_raises_what_it_could_not_read() -> None:
    props = {
        "origins": [{"originId": "site", "domainName": _U, "originAccessControlId": _U}],
        "defaultCacheBehavior": {
            "lambdaFunctionAssociations": [
                {"eventType": "origin-request", "lambdaArn": _U},
                {"eventType": "origin-response", "lambdaArn": f"{EDGE_FUNCTION_ARN}:$LATEST"},
            ]
        },
    }
    urn = _urn(_DISTRIBUTION, "cdn")
    messages: list[str] = []
    oac = _served("cloudfront-s3-origin-oac")
    args = ResourceValidationArgs(_DISTRIBUTION, unknown_checking_proxy(props), urn, "cdn", _OPTIONS, None)
    with pytest.raises(UnknownValueError) as raised:
        oac.validate(args, _collecting(messages))
    assert raised.value.message == (
        "not checked (unknown or not a plain value): cdn.origins[0].domainName, "
        "cdn.origins[0].originAccessControlId"
    )
    assert raised.value.props == ["origins[0].domainName", "origins[0].originAccessControlId"]

    edge = _served("lambda-edge-numbered-version")
    with pytest.raises(UnknownValueError) as raised:
        edge.validate(args, _collecting(messages))
    assert raised.value.message == (
        "not checked (unknown or not a plain value): "
        "cdn.defaultCacheBehavior.lambdaFunctionAssociations[0].lambdaArn"
    )
    assert messages == [
        "Distribution 'cdn': the origin-response Lambda@Edge association of the default cache behavior "
        "points at "
        f"$LATEST ({EDGE_FUNCTION_ARN}:$LATEST); {_EDGE_FIX}"
    ]


def test_a_served_policy_that_read_everything_raises_nothing() -> None:
    messages: list[str] = []
    https = _served("cloudfront-https-only")
    props = {"defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"}}
    args = ResourceValidationArgs(
        _DISTRIBUTION, unknown_checking_proxy(props), _urn(_DISTRIBUTION, "cdn"), "cdn", _OPTIONS, None
    )
    https.validate(args, _collecting(messages))
    assert messages == [
        f"Distribution 'cdn': the default cache behavior lets viewers use plain HTTP {_HTTP_FIX}"
    ]
