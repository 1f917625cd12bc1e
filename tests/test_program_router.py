"""The program's `router` modes under Pulumi's mocks: `cloudfront-function` registers a KeyValueStore, its
live-version key, a published viewer-request function and no Lambda@Edge or switch; `lambda-edge` (the
default, tests/test_program.py) is unchanged; a bad value fails before anything is created."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from pulumi.runtime import MockResourceArgs

import components.site as site_module
from edge_function.code import (
    function_code,
    manifest_rule_keys,
    manifest_store_value,
    rule_key_counts,
    viewer_response_code,
)
from edge_lambda import layout
from edge_lambda.routes import RouteSettings
from edge_lambda.site_rules import parse_rule_files
from scripts.offline.mockrun import ProgramError, RecordedResource, run_inline
from tests.conftest import shared_scope
from tests.pulumi_scaffold import SiteMocks, by_type, declare_site, one, run_program
from tests.test_program import MOCK_BUCKET, V1, V2, _comparable, set_pointer

FUNCTION_MODE = {"router": "cloudfront-function"}
STORE_ARN = "arn:aws:cloudfront::123456789012:key-value-store/7b6c3bb5-690e-51aa-b828-34058ec98bf0"


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def uploaded(moto: None) -> None:
    """The site bucket holding complete uploads of V1 and V2, for the release guard."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for version in (V1, V2):
        manifest = layout.Manifest(version, "2026-11-27T10:15:00+00:00", {})
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode())


@pytest.fixture(scope=shared_scope)
def function_mode() -> dict[str, RecordedResource]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=MOCK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        page = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")
        files = {
            path: page for path in ("index.html", "about.html", "blog.html", "docs/index.html", "LICENSE")
        }
        manifest = layout.Manifest(V1, "2026-11-27T10:15:00+00:00", files)
        s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V1), Body=manifest.to_json().encode())
        return run_program({"version": V1, **FUNCTION_MODE})


def names(registered: dict[str, RecordedResource]) -> list[str]:
    return sorted(urn.rsplit("::", 1)[1] for urn in registered if "pulumi:providers" not in urn)


def test_function_mode_has_a_store_a_key_and_a_function_and_no_lambda_edge_or_switch(
    function_mode: dict[str, RecordedResource],
) -> None:
    assert by_type(function_mode, "aws:lambda/function:Function") == []
    assert by_type(function_mode, "aws:iam/role:Role") == []
    assert by_type(function_mode, "aws:lambda/invocation:Invocation") == []
    assert names(function_mode) == [
        "site",
        "site-bucket",
        "site-bucket-policy",
        "site-canary",
        "site-cdn",
        "site-default-not-found-page",
        "site-encryption",
        "site-lifecycle",
        "site-live-version",
        "site-oac",
        "site-ownership",
        "site-pointer",
        "site-pointer-store",
        "site-public-access-block",
        "site-router",
        "site-viewer-response",
    ]


def test_the_store_key_holds_the_pointer_value_and_follows_the_ssm_parameter(
    function_mode: dict[str, RecordedResource],
) -> None:
    (provider,) = [r for r in by_type(function_mode, "pulumi:providers:aws") if r.name == "edge"]
    store = one(function_mode, "aws:cloudfront/keyValueStore:KeyValueStore")
    key = one(function_mode, "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey")
    (parameter,) = [
        p for p in by_type(function_mode, "aws:ssm/parameter:Parameter") if p.name == "site-pointer"
    ]
    assert parameter.props["insecureValue"] == V1, "SSM stays the record"
    # the version and, read from its manifest, its routes: pages are `p.html` but for docs/ and LICENSE
    routes = '{"s":"h","x":{"LICENSE":"fh","docs":"dd"}}'
    assert (key.props["key"], key.props["value"]) == ("live-version", f"{V1} {routes}")
    assert key.props["keyValueStoreArn"] == STORE_ARN
    assert key.parent == store.urn
    assert parameter.urn in key.dependencies, "the key is written once SSM holds the version"
    assert store.provider == key.provider == provider.urn
    assert (
        store.props["comment"] == "Live version of the versioned-site, read by its viewer-request function."
    )


def test_the_distribution_moves_to_the_function_only_after_the_store_key_is_written(
    function_mode: dict[str, RecordedResource],
) -> None:
    # Before the key exists the function answers 503 to every viewer: the distribution, which takes
    # nothing from the key, must depend on it explicitly: the SDK registers it, and so the engine
    # updates it, only once the key's registration (its write) has finished.
    key = one(function_mode, "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey")
    distribution = one(function_mode, "aws:cloudfront/distribution:Distribution")
    assert key.urn in distribution.dependencies


def test_the_function_is_published_reads_the_store_and_runs_at_viewer_request(
    function_mode: dict[str, RecordedResource],
) -> None:
    (provider,) = [r for r in by_type(function_mode, "pulumi:providers:aws") if r.name == "edge"]
    site = one(function_mode, "versioned-site:index:VersionedStaticSite")
    (function,) = [
        f for f in by_type(function_mode, "aws:cloudfront/function:Function") if f.name == "site-router"
    ]
    store = one(function_mode, "aws:cloudfront/keyValueStore:KeyValueStore")
    # CloudFront resources are global: created through the us-east-1 provider, under the component.
    assert (function.parent, function.provider) == (store.parent, store.provider) == (site.urn, provider.urn)
    assert function.props["runtime"] == "cloudfront-js-2.0"
    assert (
        function.props["comment"]
        == "versioned-site: live version from the KeyValueStore, rewrite before the cache"
    )
    assert function.props["publish"] is True
    assert function.props["keyValueStoreAssociations"] == [STORE_ARN]
    assert function.props["code"] == function_code("7b6c3bb5-690e-51aa-b828-34058ec98bf0", RouteSettings())
    behavior = one(function_mode, "aws:cloudfront/distribution:Distribution").props["defaultCacheBehavior"]
    assert behavior["functionAssociations"] == [
        {
            "eventType": "viewer-request",
            "functionArn": "arn:aws:cloudfront::123456789012:function/site-router-9f8e7d6",
        },
        {
            "eventType": "viewer-response",
            "functionArn": "arn:aws:cloudfront::123456789012:function/site-viewer-response-9f8e7d6",
        },
    ]
    assert "lambdaFunctionAssociations" not in behavior


def test_one_viewer_response_function_is_published_beside_the_router(
    function_mode: dict[str, RecordedResource],
) -> None:
    site = one(function_mode, "versioned-site:index:VersionedStaticSite")
    store = one(function_mode, "aws:cloudfront/keyValueStore:KeyValueStore")
    (function,) = [
        f
        for f in by_type(function_mode, "aws:cloudfront/function:Function")
        if f.name == "site-viewer-response"
    ]
    assert (function.parent, function.provider) == (site.urn, store.provider)
    assert function.props["runtime"] == "cloudfront-js-2.0"
    assert function.props["publish"] is True
    assert function.props["keyValueStoreAssociations"] == [STORE_ARN], "the router's store: header rules"
    assert function.props["code"] == viewer_response_code(False, "7b6c3bb5-690e-51aa-b828-34058ec98bf0")


def test_the_fallback_origin_reads_the_plain_404_page_under_site(
    function_mode: dict[str, RecordedResource],
) -> None:
    cdn = one(function_mode, "aws:cloudfront/distribution:Distribution").props
    domain = f"{MOCK_BUCKET}.s3.eu-west-1.amazonaws.com"
    assert cdn["origins"] == [
        {"originId": "site-bucket", "domainName": domain, "originAccessControlId": "site-oac-id"},
        {
            "originId": "site-bucket-fallback",
            "domainName": domain,
            "originAccessControlId": "site-oac-id",
            "originPath": "/_site",
            "customHeaders": [{"name": "x-versioned-site-origin", "value": "fallback"}],
        },
    ]
    assert cdn["customErrorResponses"][0] == {
        "errorCode": 403,
        "responseCode": 404,
        "responsePagePath": "/404.html",
        "errorCachingMinTtl": 10,
    }
    assert {"errorCode": 503, "errorCachingMinTtl": 0} in cdn["customErrorResponses"]
    assert one(function_mode, "aws:s3/bucketObjectv2:BucketObjectv2").props["key"] == "_site/404.html"


def test_spa_fallback_is_rendered_into_the_function() -> None:
    registered = run_program({"spaFallback": "true", **FUNCTION_MODE})
    (router,) = [
        f for f in by_type(registered, "aws:cloudfront/function:Function") if f.name == "site-router"
    ]
    code = router.props["code"]
    assert "const SPA_FALLBACK='true'==='true';" in code


def test_first_up_without_a_version_puts_the_sentinel_in_the_store() -> None:
    registered = run_program(FUNCTION_MODE)
    key = one(registered, "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey")
    assert key.props["value"] == layout.NO_VERSION_RELEASED == "none"


def test_changing_only_the_version_changes_only_the_pointer_and_the_store_key(uploaded: None) -> None:
    first = _comparable(run_program({"version": V1, **FUNCTION_MODE}))
    second = _comparable(run_program({"version": V2, **FUNCTION_MODE}))
    assert first.keys() == second.keys()
    changed = sorted(urn.rsplit("::", 1)[1] for urn in first if first[urn] != second[urn])
    assert changed == ["site-live-version", "site-pointer"]


def test_the_guards_apply_in_function_mode(uploaded: None) -> None:
    set_pointer(V1)
    with pytest.raises(ProgramError, match=f"versioned-site:version is not set, but {V1} is live"):
        run_program(FUNCTION_MODE)
    with pytest.raises(ProgramError, match="has no complete upload in bucket"):
        run_program({"version": "20250101T000000Z", **FUNCTION_MODE})


def test_switching_router_swaps_only_the_edge_resources(uploaded: None) -> None:
    lambda_edge = run_program({"version": V1})
    function = run_program({"version": V1, **FUNCTION_MODE})
    kept = set(names(lambda_edge)) & set(names(function))
    assert set(names(lambda_edge)) - kept == {
        "site-edge",
        "site-edge-policy",
        "site-edge-role",
        "site-release-switch",
        "site-switch",
        "site-switch-policy",
        "site-switch-role",
    }
    assert set(names(function)) - kept == {
        "site-canary",
        "site-live-version",
        "site-pointer-store",
        "site-router",
        "site-viewer-response",
    }
    unchanged = {urn.rsplit("::", 1)[1] for urn in lambda_edge if urn in function}
    assert "site-bucket" in unchanged and "site-pointer" in unchanged


@pytest.mark.parametrize("router", ["lambda_edge", "cloudfront", "Lambda-Edge", ""])
def test_an_unknown_router_fails_before_anything_is_created(router: str) -> None:
    mocks = CountingMocks()
    with pytest.raises(
        ProgramError, match=f"versioned-site:router is '{router}': set it to lambda-edge"
    ) as failure:
        run_program({"router": router}, mocks=mocks)
    assert "pulumi config set router cloudfront-function" in str(failure.value)
    # Providers are engine plugins' configuration, not cloud resources: the program may declare them first.
    assert [typ for typ in mocks.created if not typ.startswith("pulumi:providers:")] == []


class CountingMocks(SiteMocks):
    """Records the type of every resource the program asks the engine to create."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[str] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        self.created.append(args.typ)
        return super().new_resource(args)


@pytest.mark.parametrize(
    ("router", "targets"),
    [
        ("lambda-edge", ["site-pointer", "site-release-switch"]),
        ("cloudfront-function", ["site-pointer", "site-canary", "site-live-version", "site-viewer-response"]),
    ],
)
def test_release_targets_name_what_a_release_changes_in_each_mode(router: str, targets: list[str]) -> None:
    seen: list[list[str]] = []

    def declare() -> None:
        declare_site(V1, router=router).release_targets.apply(seen.append)

    run_inline(declare, "versioned-site", "test", {"aws:region": "eu-west-1"}, preview=False)
    assert [[urn.rsplit("::", 1)[1] for urn in urns] for urns in seen] == [targets]


def test_function_mode_refuses_a_version_whose_fingerprinted_files_are_not_shared(uploaded: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    chunk = layout.ManifestFile(10, "ab" * 32, "text/javascript", "public, max-age=31536000, immutable")
    page = layout.ManifestFile(
        10, "cd" * 32, "text/html; charset=utf-8", "public, max-age=0, must-revalidate"
    )
    files = {"index.html": page, "assets/Lazy-Q1AJiLvC.js": chunk, "assets/app.3f2a1b9c.css": chunk}
    manifest = layout.Manifest(V2, "2026-11-28T09:00:00+00:00", files)
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V2), Body=manifest.to_json().encode())
    s3.put_object(Bucket=MOCK_BUCKET, Key="_assets/assets/app.3f2a1b9c.css", Body=b"x")

    run_program({"version": V2})  # Lambda@Edge reads a version's own copy first: no need
    with pytest.raises(ProgramError) as refused:
        run_program({"version": V2, **FUNCTION_MODE})
    assert (
        f"version {V2} has 1 fingerprinted files that are not in the shared area "
        "(first: _assets/assets/Lazy-Q1AJiLvC.js), and the cloudfront-function router serves them only "
        f"from there. Run `sitectl share-assets --version {V2}`, then deploy again."
    ) in str(refused.value)

    s3.put_object(Bucket=MOCK_BUCKET, Key="_assets/assets/Lazy-Q1AJiLvC.js", Body=b"x")
    key = one(
        run_program({"version": V2, **FUNCTION_MODE}), "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"
    )
    assert key.props["value"] == V2 + ' {"s":"d","x":{}}'  # the root index.html alone: no page to route


def test_function_mode_refuses_a_version_whose_routes_do_not_fit_the_store_value(uploaded: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    page = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")
    paths = [f"page-{n:03}.html" for n in range(41)] + [f"guide/chapter-{n:03}/index.html" for n in range(40)]
    manifest = layout.Manifest(V2, "2026-11-28T09:00:00+00:00", dict.fromkeys(paths, page))
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V2), Body=manifest.to_json().encode())

    run_program({"version": V2})  # Lambda@Edge holds the whole manifest: no limit
    with pytest.raises(ProgramError) as refused:
        run_program({"version": V2, **FUNCTION_MODE})
    assert (
        f"version {V2} cannot be routed by the cloudfront-function router: 40 paths are not routed the way "
        "most pages are (first: 'guide/chapter-000'); they need 1015 bytes, and the cloudfront-function "
        "router's KeyValueStore value has 966. Use `pulumi config set router lambda-edge` (it reads the "
        "whole manifest), or name those pages the way the others are named"
    ) in str(refused.value)


def test_function_mode_writes_a_versions_rule_keys_during_the_update_before_its_value(
    uploaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    page = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")
    rules = parse_rule_files("/old /new 301\n/blog/* /news/:splat 302\n", "/*\n  X-Frame-Options: DENY\n")
    manifest = layout.Manifest(V2, "2026-11-28T09:00:00+00:00", {"index.html": page}, rules)
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V2), Body=manifest.to_json().encode())
    writes: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(
        site_module,
        "_default_rule_key_writer",
        lambda profile: lambda arn, keys: writes.append((arn, dict(keys))),
    )

    run_program({"version": V2, **FUNCTION_MODE}, preview=True)
    assert writes == [], "a preview writes nothing"
    registered = run_program({"version": V2, **FUNCTION_MODE})
    assert writes == [(STORE_ARN, manifest_rule_keys(V2, manifest))]
    assert list(writes[0][1]) == [f"r/{V2}/0"]
    key = [r for r in by_type(registered, "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey")][0]
    assert key.props["value"] == manifest_store_value(V2, manifest, False)
    assert rule_key_counts(key.props["value"]) == (1, 0)


def test_function_mode_refuses_rules_beyond_its_limits_in_one_line(uploaded: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    page = layout.ManifestFile(1, "0" * 64, "text/html", "no-cache")
    rules = parse_rule_files("/old /new 301\n/shop/* /shop/404.html 404\n", "/*\n  X-Frame-Options: DENY\n")
    manifest = layout.Manifest(V2, "2026-11-28T09:00:00+00:00", {"index.html": page}, rules)
    s3.put_object(Bucket=MOCK_BUCKET, Key=layout.manifest_key(V2), Body=manifest.to_json().encode())

    run_program({"version": V2})  # Lambda@Edge applies them
    with pytest.raises(ProgramError) as refused:
        run_program({"version": V2, **FUNCTION_MODE}, preview=True)
    assert (
        f"version {V2} cannot be routed by the cloudfront-function router: _redirects:2 is a 404 rule, and "
        "this router carries none yet (its limit: 0 404 rules: the status needs the viewer-response "
        "function); release it with `pulumi config set router lambda-edge`, or remove the rule and upload "
        "again"
    ) in str(refused.value)
