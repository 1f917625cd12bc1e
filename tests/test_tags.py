"""Tags: every resource type the component creates is tagged with the site's `tags`, or cannot be
(pulumi-aws's Args for it take no `tags`); the stack's `aws:defaultTags` reach the us-east-1 provider."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator

import pytest
from moto import mock_aws

from scripts.offline.mockrun import RecordedResource
from tests.pulumi_scaffold import SiteMocks, run_program

TAGS = {"team": "web", "cost-centre": "1234"}
DEFAULT_TAGS = {"owner": "platform", "env": "prod"}
COMPONENT = "versioned-site:index:VersionedStaticSite"

# Every type the component creates, in some configuration: tagged with the site's tags ...
TAGGED = {
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketObjectv2:BucketObjectv2",
    "aws:ssm/parameter:Parameter",
    "aws:cloudfront/distribution:Distribution",
    "aws:iam/role:Role",
    "aws:lambda/function:Function",
    "aws:acm/certificate:Certificate",
    "aws:cloudfront/keyValueStore:KeyValueStore",
    "aws:cloudfront/function:Function",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/logDeliverySource:LogDeliverySource",
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination",
    "aws:cloudwatch/logDelivery:LogDelivery",
}
# ... or not taggable at all, and why.
NOT_TAGGABLE = {
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "a setting of the bucket",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "a setting of the bucket",
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ): "a setting of the bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "a setting of the bucket",
    "aws:s3/bucketPolicy:BucketPolicy": "a setting of the bucket",
    "aws:cloudfront/originAccessControl:OriginAccessControl": "CloudFront takes no tags on it",
    "aws:iam/rolePolicy:RolePolicy": "an inline policy, part of the role",
    "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey": "a key inside the store",
    "aws:acm/certificateValidation:CertificateValidation": "a wait, no AWS resource",
    "aws:route53/record:Record": "Route 53 tags zones and health checks, not records",
    "aws:lambda/invocation:Invocation": "the switch's call of its function, no AWS resource",
}

CONFIGURATIONS = {
    "lambda-edge, domain in a zone, logs to S3": {
        "domainNames": '["example.com", "www.example.com"]',
        "accessLogs": "s3",
    },
    "cloudfront-function, logs to CloudWatch": {"router": "cloudfront-function", "accessLogs": "cloudwatch"},
}


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, dict[str, RecordedResource]]]:
    config = {"tags": json.dumps(TAGS), "aws:defaultTags": json.dumps({"tags": DEFAULT_TAGS})}
    with mock_aws():
        yield {
            label: run_program({**config, **extra}, mocks=SiteMocks(hosted_zones={"example.com": "Z0ZONE"}))
            for label, extra in CONFIGURATIONS.items()
        }


def _created_by_the_component(registered: dict[str, RecordedResource]) -> list[RecordedResource]:
    """Every resource whose chain of parents reaches the component."""

    def under_component(resource: RecordedResource) -> bool:
        parent = registered.get(resource.parent or "")
        while parent is not None:
            if parent.type == COMPONENT:
                return True
            parent = registered.get(parent.parent or "")
        return False

    return [r for r in registered.values() if under_component(r)]


def _args_take_tags(type_token: str) -> bool:
    """Whether pulumi-aws's Args class for `type_token` has a `tags` input."""
    module, resource = type_token.split(":")[1].split("/")[0], type_token.rsplit(":", 1)[1]
    package = importlib.import_module(f"pulumi_aws.{'lambda_' if module == 'lambda' else module}")
    return "tags" in inspect.signature(getattr(package, f"{resource}Args").__init__).parameters


def test_the_tables_list_every_type_the_component_creates(
    runs: dict[str, dict[str, RecordedResource]],
) -> None:
    created = {r.type for registered in runs.values() for r in _created_by_the_component(registered)}
    assert created == TAGGED | set(NOT_TAGGABLE)


def test_every_resource_that_takes_tags_has_the_sites(runs: dict[str, dict[str, RecordedResource]]) -> None:
    for registered in runs.values():
        for resource in _created_by_the_component(registered):
            if resource.type in TAGGED:
                assert {k: v for k, v in resource.props["tags"].items() if k in TAGS} == TAGS, resource.urn


@pytest.mark.parametrize("type_token", sorted(TAGGED))
def test_a_tagged_type_takes_tags(type_token: str) -> None:
    assert _args_take_tags(type_token)


@pytest.mark.parametrize("type_token", sorted(t for t in NOT_TAGGABLE if t.startswith("aws:")))
def test_an_untagged_type_cannot_take_tags(type_token: str) -> None:
    assert not _args_take_tags(type_token)


def test_the_edge_function_has_the_sites_tags_and_its_ttl_in_its_description(
    runs: dict[str, dict[str, RecordedResource]],
) -> None:
    from components.site import edge_function_description

    lambda_edge = runs["lambda-edge, domain in a zone, logs to S3"]
    (function,) = [r for r in lambda_edge.values() if r.name == "site-edge"]
    assert function.props["tags"] == TAGS
    assert function.props["description"] == edge_function_description("site", 5)


def test_the_stacks_default_tags_reach_both_providers(runs: dict[str, dict[str, RecordedResource]]) -> None:
    for registered in runs.values():
        providers = {r.name: r for r in registered.values() if r.type == "pulumi:providers:aws"}
        # The explicit us-east-1 provider reads no `aws:` config: the program passes them on.
        # (A provider's object inputs reach the engine as JSON.)
        assert json.loads(providers["edge"].props["defaultTags"]) == {"tags": DEFAULT_TAGS}
        # The default provider is configured by the engine from the stack's `aws:` keys.
        (default,) = [p for name, p in providers.items() if name.startswith("default")]
        assert json.loads(default.props["defaultTags"]) == {"tags": DEFAULT_TAGS}
        # Every us-east-1 resource is on the edge provider.
        for resource in _created_by_the_component(registered):
            if resource.type in ("aws:acm/certificate:Certificate", "aws:ssm/parameter:Parameter"):
                assert resource.provider == providers["edge"].urn


def test_no_default_tags_leave_the_edge_provider_without_them() -> None:
    with mock_aws():
        registered = run_program({})
    (edge,) = [r for r in registered.values() if r.type == "pulumi:providers:aws" and r.name == "edge"]
    assert "defaultTags" not in edge.props


@pytest.mark.usefixtures("versioned_site_project")
@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            {f"k{i}": "v" for i in range(11)},
            "versioned-site:tags has 11 tags: S3 allows 10 on an object, and the site's 404 page carries "
            "them; give at most 10",
        ),
        (
            {"aws:createdBy": "me"},
            "versioned-site:tags key 'aws:createdBy' is reserved (aws: is AWS's, versioned-site: the "
            "component's): choose another key",
        ),
        (
            {"versioned-site:edge-cache-ttl-seconds": "9"},
            "versioned-site:tags key 'versioned-site:edge-cache-ttl-seconds' is reserved (aws: is AWS's, "
            "versioned-site: the component's): choose another key",
        ),
        (
            {"k" * 129: "v"},
            f"versioned-site:tags entry {'k' * 129!r} is too long: AWS allows keys of 1-128 and values of "
            "up to 256 characters",
        ),
        (
            {"release": 7},
            "versioned-site:tags entry 'release': 7 is not a string pair: quote the value, e.g. "
            "`pulumi config set --path 'tags.release' '\"7\"'`",
        ),
    ],
)
def test_bad_tags_are_refused_with_the_fix(tags: dict[str, object], message: str) -> None:
    from components.site import VersionedStaticSiteArgs

    args = VersionedStaticSiteArgs(version=None, parameter_name="/p/s/live-version", edge_provider=None)
    args.tags = tags  # type: ignore[assignment]
    with pytest.raises(ValueError) as refused:
        args.validate()
    assert str(refused.value) == message
