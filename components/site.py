"""VersionedStaticSite: a private bucket of immutable versions behind CloudFront, switched by a pointer."""

# No `from __future__ import annotations` here: the component provider (provider/) reads the
# annotations of VersionedStaticSite and VersionedStaticSiteInputs at runtime to build its schema.
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pulumi
import pulumi_aws as aws

from components import access_logs as log_delivery
from components import domain, not_found_and_skew, pointer_guard, release_guard, tagging
from components.config_key import config_key
from components.edge_bundle import LAMBDA_RUNTIME, bundle_files
from components.private_bucket import private_bucket_guards
from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE, ROUTERS, host_redirect, rule_keys
from edge_function.code import (
    LIVE_VERSION_KEY,
    RulesNotCarriedError,
    function_code,
    key_value_store_id,
    manifest_rule_keys,
    manifest_store_value,
    viewer_response_code,
)
from edge_lambda import layout, switch_handler
from edge_lambda.routes import (
    DEFAULT_REDIRECT_STATUS,
    DEFAULT_TRAILING_SLASH,
    REDIRECT_STATUSES,
    TRAILING_SLASH_MODES,
    RouteSettings,
    RoutesTooLargeError,
)
from edge_lambda.settings import EdgeSettings
from scripts.versionstore import emergency

TYPE_TOKEN = "versioned-site:index:VersionedStaticSite"

# Lambda@Edge functions, their certificates and the pointer they read all live in us-east-1.
EDGE_REGION = layout.EDGE_REGION
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
MAX_EDGE_CACHE_TTL_SECONDS = 300
CLOUDFRONT_FUNCTION_RUNTIME = "cloudfront-js-2.0"

# AWS managed policies: CachingOptimized and SecurityHeadersPolicy.
MANAGED_CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
MANAGED_SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"

# An IAM role or user of any partition; S3 bucket policies name principals by ARN.
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")

ReleaseCheck = Callable[[str, str], None]
"""(bucket name, version) -> None; raises when the version must not be released."""
PointerReader = Callable[[str], str | None]
"""(parameter name) -> the pointer's value in AWS, None while the parameter does not exist."""
ManifestReader = Callable[[str, str], layout.Manifest | None]
RuleKeyWriter = Callable[[str, Mapping[str, str]], None]
"""(bucket, version) -> the version's manifest, None when the bucket or the manifest does not exist (yet)."""
EmergencyRecordReader = Callable[[str], emergency.EmergencyRecord | None]
"""(pointer name) -> the emergency rollback record beside it, None when there is none."""
EmergencyRecordClearer = Callable[[str], None]
"""(pointer name) -> None: deletes the emergency rollback record beside it."""
# The edge function's description records the pointer TTL its bundle was built with. A targeted
# release leaves the function untargeted, and the engine hands the program its deployed outputs (docs/
# releases.md, "Targeted releases"): the switch waits the TTL of the function that really runs.
# A description, not a tag: CloudFront's developer guide says edge functions cannot be tagged.
EDGE_DESCRIPTION_TTL = re.compile(r"; pointer cache TTL (\d+) s$")


@dataclass
class VersionedStaticSiteArgs:
    version: str | None
    """The live version id (layout.VERSION_FORMAT), or None/"" before the first release."""
    parameter_name: str
    """Full SSM path of the pointer parameter, e.g. /versioned-site/prod/live-version."""
    edge_provider: pulumi.ProviderResource | None = None
    """An aws.Provider for us-east-1: Lambda@Edge and the pointer must live there. Default: one the
    component creates (`<name>-edge`) with the stack's `aws:profile`."""
    edge_cache_ttl_seconds: int = 5
    """How long each edge container caches the pointer; a release waits this long before invalidating."""
    spa_fallback: bool = False
    """Serve the version's index.html for extension-less paths that name nothing (single-page apps)."""
    trailing_slash: str = DEFAULT_TRAILING_SLASH
    """When a page's other spelling redirects: `auto`, `always` or `never` (edge_lambda/routes.py)."""
    redirect_status: int = DEFAULT_REDIRECT_STATUS
    """The status of those redirects: 308 or 301."""
    price_class: pulumi.Input[str] = "PriceClass_100"
    """CloudFront price class (a string or an Output)."""
    domain_names: Sequence[str] = field(default_factory=list)
    """The site's own names (CloudFront aliases); the first is the URL. components/domain.py."""
    acm_certificate_arn: pulumi.Input[str] | None = None
    """One's own ACM certificate in us-east-1 covering domain_names (a string or an Output); without
    it the component requests one and validates it through DNS."""
    hosted_zone_id: str | None = None
    """The Route 53 zone of domain_names; without it the zone is looked up by the names, and with none
    found the certificate waits for validation records created elsewhere."""
    find_zone_id: domain.ZoneFinder | None = None
    """Looks a public zone up by name; default: aws.route53.get_zone with the edge provider."""
    read_certificate_status: domain.CertificateStatusReader | None = None
    """Reads a requested certificate's status (zone elsewhere); default: ACM with boto3."""
    force_destroy_bucket: bool = False
    """When the bucket is deleted, delete every version in it first (throw-away stacks only; needs
    retain_bucket_on_destroy False, or nothing deletes the bucket)."""
    retain_bucket_on_destroy: bool = True
    """`pulumi destroy` (or a replacement) leaves the bucket, its versions and its guards in the account
    and only forgets them (the `retainOnDelete` option). README: "Deleting a stack"."""
    version_readers: pulumi.Input[Sequence[pulumi.Input[str]]] = field(default_factory=list)
    """IAM role or user ARNs (e.g. another account's deployer) that may read versions from this
    bucket: `sitectl promote --from-stack` this stack into theirs."""
    release_check: ReleaseCheck | None = None
    """Guard run at preview against the existing bucket; default: the version's manifest must exist."""
    take_offline: bool = False
    """With `version` unset, let the deployment point a live site at `none` (every viewer gets 503)."""
    read_pointer: PointerReader | None = None
    """Reads the live pointer for the offline guard and the preview line; default: SSM with boto3."""
    read_manifest: ManifestReader | None = None
    """Reads a version's manifest for the cloudfront-function router's routes (its KeyValueStore
    value); default: with boto3."""
    write_rule_keys: RuleKeyWriter | None = None
    """Writes a version's build-rule keys into the cloudfront-function router's store (during an update,
    before its `live-version` key): `(store ARN, keys)`; default: `rule_keys.write_rule_keys` with boto3."""
    aws_profile: str | None = None
    """The `aws:profile` of the stack: the guards and the switch use it, as the providers do."""
    router: str = LAMBDA_EDGE
    """Which edge router applies the live version: `lambda-edge` or `cloudfront-function` (ROUTERS)."""
    host_redirect: str = host_redirect.OFF
    """`to-apex` or `to-www`: answer the other name of an example.com / www.example.com pair in
    domain_names with 301, before the cache (edge_function/host_redirect.py); `off` serves both."""
    access_logs: str = log_delivery.OFF
    """CloudFront access logs (standard logging v2): `off`, `s3` (a private bucket of the site) or
    `cloudwatch` (a log group in us-east-1). components/access_logs.py."""
    access_log_retention_days: int = log_delivery.DEFAULT_RETENTION_DAYS
    """How long access logs are kept (S3 expiry; for CloudWatch one of its retention periods)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every resource of the site that takes tags (components/tagging.py), in every region."""
    version_config_key: str | None = None
    """The stack config key `version` comes from, which `sitectl release` sets (exported as
    `version_config_key`); default `<project>:version`."""
    release_rolled_back: str | None = None
    """The version an emergency rollback (`sitectl rollback --now`) took down, when `version` names it
    again on purpose; without it such a deployment is refused (scripts/versionstore/emergency.py)."""
    canary_version: str | None = None
    """A complete version served to `canary_percent` of viewers beside `version` (cloudfront-function
    router only; docs/routers.md, "Canary releases")."""
    canary_percent: int = 0
    """The canary's share of viewers, 1 to 99 (each viewer keeps its bucket, so it keeps its version)."""
    read_emergency_record: EmergencyRecordReader | None = None
    """Reads the emergency rollback record beside the pointer; default: SSM with boto3."""
    clear_emergency_record: EmergencyRecordClearer | None = None
    """Deletes that record once an update moved the pointer on; default: SSM with boto3."""

    def version_key(self) -> str:
        """The stack config key of `version`: `version_config_key`, else `<project>:version` (the
        `versionConfigKey` output)."""
        return self.version_config_key or config_key("version")

    def _validate_canary(self) -> None:
        if not self.canary_version:
            if self.canary_percent:
                raise ValueError(
                    f"{config_key('canaryPercent')} is {self.canary_percent} but no canaryVersion is set: "
                    "`pulumi config rm canaryPercent`, or start one with "
                    "`pulumi config set canaryVersion VERSION`"
                )
            return
        if self.router != CLOUDFRONT_FUNCTION:
            raise ValueError(
                f"{config_key('canaryVersion')} needs router {CLOUDFRONT_FUNCTION}: the {LAMBDA_EDGE} router "
                "rewrites after the cache lookup, under a cache key without the version, so one viewer's "
                "canary page would be cached for everyone. Switch with `pulumi config set router "
                f'{CLOUDFRONT_FUNCTION}` and `pulumi up` (README, "Choosing a router"), or `pulumi config rm '
                "canaryVersion`"
            )
        layout.validate_version(self.canary_version, config_key("canaryVersion"))
        if not self.version:
            raise ValueError(
                f"{config_key('canaryVersion')} is {self.canary_version} but no version is live beside it: "
                f"release it instead (`sitectl release --version {self.canary_version}`)"
            )
        if self.canary_version == self.version:
            raise ValueError(
                f"{config_key('canaryVersion')} {self.canary_version} is the live version already: "
                "`pulumi config rm canaryVersion` (and canaryPercent)"
            )
        if isinstance(self.canary_percent, bool) or not 1 <= self.canary_percent <= 99:
            raise ValueError(
                f"{config_key('canaryPercent')} is {self.canary_percent!r}: set it to a whole number from 1 "
                "to 99 (to serve the canary to everyone, release it: set `version` to it and remove "
                "canaryVersion)"
            )

    def validate(self) -> None:
        """Check every invariant before anything is created, with the fix in the message. An Output
        where the component needs a plain value is refused; Outputs where it takes them are checked
        when their value is known (`_checked_price_class`, the bucket policy's readers)."""
        for name in PLAIN_INPUTS:
            if _contains_output(getattr(self, name)):
                raise ValueError(
                    f"VersionedStaticSite input {name} is an Output, but it must be a plain value: it "
                    "decides which resources the component creates or what its edge code contains; pass a "
                    "literal or a stack config value"
                )
        if self.router not in ROUTERS:
            raise ValueError(
                f"{config_key('router')} is {self.router!r}: set it to {LAMBDA_EDGE} (the default) or "
                f"{CLOUDFRONT_FUNCTION}, e.g. `pulumi config set router {CLOUDFRONT_FUNCTION}`"
            )
        if self.version:
            layout.validate_version(self.version, self.version_key())
            if self.take_offline:
                raise ValueError(
                    f"{config_key('takeOffline')} is true and {self.version_key()} is {self.version}: "
                    f"remove one (`pulumi config rm {config_key('takeOffline')}` to release the version)"
                )
        self._validate_canary()
        if self.trailing_slash not in TRAILING_SLASH_MODES:
            raise ValueError(
                f"{config_key('trailingSlash')} is {self.trailing_slash!r}: set it to one of "
                f"{', '.join(TRAILING_SLASH_MODES)} (auto, the default, suits Next.js, SvelteKit, Astro "
                "and Vite)"
            )
        if self.redirect_status not in REDIRECT_STATUSES:
            raise ValueError(
                f"{config_key('redirectStatus')} is {self.redirect_status}: set it to 308 or 301"
            )
        if not self.parameter_name.startswith("/"):
            raise ValueError(
                f"parameter_name {self.parameter_name!r} must be a full SSM path starting with '/'"
            )
        if not 1 <= self.edge_cache_ttl_seconds <= MAX_EDGE_CACHE_TTL_SECONDS:
            raise ValueError(
                f"{config_key('edgeCacheTtlSeconds')} is {self.edge_cache_ttl_seconds}: "
                f"set it between 1 and {MAX_EDGE_CACHE_TTL_SECONDS}"
            )
        if isinstance(self.price_class, str):
            _check_price_class(self.price_class)
        if isinstance(self.version_readers, (list, tuple)):
            for reader in self.version_readers:
                if isinstance(reader, str):
                    _check_version_reader(reader)
        domain.validate(self.domain_names, self.acm_certificate_arn, self.hosted_zone_id)
        tagging.validate(self.tags)
        log_delivery.validate(self.access_logs, self.access_log_retention_days)
        host_redirect.validate(self.domain_names, self.host_redirect, config_key)
        if self.force_destroy_bucket and self.retain_bucket_on_destroy:
            raise ValueError(
                f"{config_key('forceDestroyBucket')} is true, but {config_key('retainBucketOnDestroy')} "
                "(true by default) keeps the bucket on destroy: to delete it with its versions, also "
                "`pulumi config set retainBucketOnDestroy false`; to keep them, remove forceDestroyBucket"
            )


def _check_price_class(price_class: str) -> str:
    if price_class not in PRICE_CLASSES:
        raise ValueError(
            f"{config_key('priceClass')} {price_class!r} is not one of {', '.join(PRICE_CLASSES)}"
        )
    return price_class


def _check_version_reader(reader: str) -> str:
    if not _PRINCIPAL_ARN.match(str(reader)):
        raise ValueError(
            f"{config_key('versionReaders')} entry {reader!r} is not an IAM role or user ARN: "
            "give e.g. arn:aws:iam::222222222222:role/site-release"
        )
    return reader


def _contains_output(value: object) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, Mapping):
        return any(_contains_output(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_output(item) for item in value)
    return False


class VersionedStaticSiteInputs(TypedDict, total=False):
    """The component's inputs as any language gives them: the component provider's schema
    (provider/schema.json) is generated from these annotations and docstrings. A plain type is a plain
    input there (it decides which resources exist, or goes into the edge code); `pulumi.Input` takes an
    Output too. Python programs pass VersionedStaticSiteArgs, which adds hooks no schema can carry."""

    version: str | None
    """The live version id (YYYYMMDDTHHMMSSZ[-<git sha>]), or empty before the first release."""
    parameter_name: str
    """Full SSM path of the pointer parameter in us-east-1; default /<project>/<stack>/live-version."""
    edge_cache_ttl_seconds: int
    """Seconds an edge container caches the live version (1-300, default 5); a release waits as long."""
    spa_fallback: bool
    """Serve the version's index.html for extension-less paths (single-page apps); default false."""
    trailing_slash: str
    """When a page's other spelling redirects: auto (default), always or never."""
    redirect_status: int
    """The status of those redirects: 308 (default) or 301."""
    price_class: pulumi.Input[str]
    """CloudFront price class: PriceClass_100 (default), PriceClass_200 or PriceClass_All."""
    domain_names: Sequence[str]
    """The site's own names (CloudFront aliases); the first is the URL."""
    acm_certificate_arn: pulumi.Input[str]
    """An ACM certificate in us-east-1 for domainNames (an Output too); default: one requested here."""
    hosted_zone_id: str
    """The Route 53 zone of domainNames; without it the zone is looked up by the names."""
    force_destroy_bucket: bool
    """When the bucket is deleted, delete every version in it first (needs retainBucketOnDestroy false)."""
    retain_bucket_on_destroy: bool
    """`pulumi destroy` leaves the bucket, its versions and its guards in the account (default true)."""
    version_readers: pulumi.Input[Sequence[pulumi.Input[str]]]
    """IAM role or user ARNs that may list and read versions from the bucket (`sitectl promote`)."""
    take_offline: bool
    """With version empty, point a live site at `none` (every viewer gets 503); refused otherwise."""
    router: str
    """Where the live version is applied: cloudfront-function (the default here) or lambda-edge."""
    host_redirect: str
    """With example.com and www.example.com in domainNames: to-apex or to-www answers the other name with
    301 before the cache; off (default) serves both."""
    access_logs: str
    """CloudFront access logs: off (default), s3 (a private bucket of the site) or cloudwatch."""
    access_log_retention_days: int
    """How long access logs are kept, in days."""
    tags: Mapping[str, str]
    """Tags for every resource of the site that takes tags."""
    version_config_key: str
    """The stack config key `version` comes from, which `sitectl release` sets; default <project>:version."""
    release_rolled_back: str
    """The version an emergency rollback took down, when `version` releases it again on purpose."""
    canary_version: str
    """A complete version served to canary_percent of viewers beside version (cloudfront-function only)."""
    canary_percent: int
    """The canary's share of viewers, 1 to 99."""


# Python-only: hooks and the us-east-1 provider, which no schema can carry (the component makes its own).
PYTHON_ONLY_ARGS = (
    "edge_provider",
    "release_check",
    "read_pointer",
    "read_emergency_record",
    "clear_emergency_record",
    "find_zone_id",
    "read_certificate_status",
    "read_manifest",
    "write_rule_keys",
    "aws_profile",  # the provider reads the consumer stack's `aws:profile` itself
)
# Inputs the component needs as plain values (a plain type in VersionedStaticSiteInputs).
PLAIN_INPUTS = tuple(
    name
    for name in VersionedStaticSiteInputs.__annotations__
    if name not in ("price_class", "version_readers", "acm_certificate_arn")
)


def args_from_inputs(inputs: Mapping[str, Any] | VersionedStaticSiteArgs) -> VersionedStaticSiteArgs:
    """The Args of a construct call from another language (the component provider passes the inputs as
    a dict of Python names), with the stack's `aws:profile` as a Python program passes it.

    Either router works there: the switch is a Lambda of the site (edge_lambda/switch_handler.py),
    invoked by the engine's AWS provider, so nothing of it runs in the consumer's language.
    `cloudfront-function` stays the default there (no wait at a release)."""
    if isinstance(inputs, VersionedStaticSiteArgs):
        return inputs
    known = {f.name for f in fields(VersionedStaticSiteArgs)} - set(PYTHON_ONLY_ARGS)
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise ValueError(f"VersionedStaticSite has no input {unknown[0]!r}: see provider/schema.json")
    values = {key: value for key, value in inputs.items() if value is not None}
    values.setdefault("aws_profile", pulumi.Config("aws").get("profile"))
    values.setdefault("router", CLOUDFRONT_FUNCTION)
    values.setdefault("version", None)
    # The same pointer name the stack program of this repository uses.
    values.setdefault(
        "parameter_name", layout.pointer_parameter_name(pulumi.get_project(), pulumi.get_stack())
    )
    return VersionedStaticSiteArgs(**values)


# What `args` is declared as: the Args class for Python callers (and mypy); at runtime the Inputs, which
# the component provider's analyzer reads (it supports no callables or provider objects).
if TYPE_CHECKING:
    _DeclaredArgs = VersionedStaticSiteArgs
else:
    _DeclaredArgs = VersionedStaticSiteInputs


class VersionedStaticSite(pulumi.ComponentResource):
    """A static site whose every build is an immutable version; the pointer selects the live one."""

    # Each output's docstring is its description in the provider's schema (provider/schema.json).
    bucket_name: pulumi.Output[str]
    """The private bucket holding every version (`sitectl upload` writes there)."""
    distribution_id: pulumi.Output[str]
    """The CloudFront distribution's id."""
    distribution_domain: pulumi.Output[str]
    """The distribution's *.cloudfront.net name."""
    url: pulumi.Output[str]
    """The site's URL: https:// and the first domain name, else the distribution's name."""
    parameter_name: pulumi.Output[str]
    """The SSM parameter (the pointer) holding the live version."""
    parameter_region: pulumi.Output[str]
    """The pointer's region (us-east-1)."""
    live_version: pulumi.Output[str]
    """The version the pointer holds after this deployment (`none` before the first release)."""
    release_targets: pulumi.Output[list[str]]
    """URNs a release updates (`pulumi up --target`): the pointer, then the switch or the store's key."""
    certificate_validation_records: pulumi.Output[list[dict[str, str]]]
    """DNS records that validate the requested certificate, to create where the names' DNS lives."""
    dns_records: pulumi.Output[list[dict[str, str]]]
    """DNS records pointing the domain names at the distribution, for DNS outside Route 53."""
    access_log_destination: pulumi.Output[str]
    """Where CloudFront's access logs go (a bucket or a log group ARN), empty when they are off."""
    version_config_key: pulumi.Output[str]
    """The stack config key of the version (`sitectl release` sets it): export it as versionConfigKey."""
    pointer_store_arn: pulumi.Output[str]
    """The KeyValueStore the cloudfront-function router reads (empty with lambda-edge)."""
    edge_cache_ttl_seconds: pulumi.Output[int]
    """Seconds an edge container caches the live version: `sitectl rollback --now` waits as long."""

    def __init__(self, name: str, args: _DeclaredArgs, opts: pulumi.ResourceOptions | None = None):
        args = args_from_inputs(args)
        args.validate()
        # The pointer guard, before this component or any child is registered: an unset version while
        # one is live fails every `up`, previewed or not, with nothing changed.
        read_pointer = args.read_pointer or _default_pointer_reader(args.aws_profile)
        change = pointer_guard.check_before_any_resource(
            read_pointer,
            args.parameter_name,
            lambda live: pointer_guard.plan_pointer_change(
                live, args.version, args.take_offline, args.version_key(), config_key("takeOffline")
            ),
        )
        # An emergency rollback's record, read the same way: CI's next `up` of a stale config must not
        # put the version it took down back live.
        version_key = args.version_key()
        record = pointer_guard.check_before_any_resource(
            args.read_emergency_record or _default_record_reader(args.aws_profile),
            args.parameter_name,
            lambda found: _checked_record(found, args, version_key),
        )
        # The running canary (cloudfront-function router), read the same way, for the preview's line.
        canary_change = None
        if args.router == CLOUDFRONT_FUNCTION:
            canary_change = pointer_guard.check_before_any_resource(
                read_pointer,
                layout.canary_parameter_name(args.parameter_name),
                lambda live: pointer_guard.plan_canary_change(
                    live, change.target, args.canary_version, args.canary_percent
                ),
            )
        super().__init__(TYPE_TOKEN, name, None, opts)
        edge_provider = args.edge_provider
        if edge_provider is None:
            # An explicit provider reads no `aws:` stack config: it gets the stack's profile here.
            edge_provider = aws.Provider(
                f"{name}-edge",
                region=EDGE_REGION,
                profile=args.aws_profile,
                opts=pulumi.ResourceOptions(parent=self),
            )
            args = replace(args, edge_provider=edge_provider)
        edge = pulumi.ResourceOptions(parent=self, provider=edge_provider)

        # --- Storage: private, owner-enforced, encrypted; never a website endpoint. Every version lives
        # here: destroy leaves the bucket and the settings that keep it private (retainOnDelete is not
        # inherited from a parent, so each one says it).
        kept = pulumi.ResourceOptions(retain_on_delete=args.retain_bucket_on_destroy)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=args.force_destroy_bucket,
            tags=tagging.resource_tags(args.tags),
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(parent=self)),
        )
        in_bucket = pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(parent=bucket))
        guards = private_bucket_guards(name, bucket, in_bucket, bucket_key=True)
        # An interrupted upload leaves multipart parts that are billed until aborted.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=in_bucket,
        )

        not_found_and_skew.default_not_found_page(name, bucket, tagging.resource_tags(args.tags))

        # --- Pointer: the live version, read by every edge container.
        release_check = args.release_check or _default_release_check(
            args.aws_profile,
            args.router == CLOUDFRONT_FUNCTION,
            args.spa_fallback,
            args.version_key(),
            config_key("spaFallback"),
        )
        # The release guard needs the bucket's name, so it runs inside an `apply`: whenever the bucket
        # already exists (its name is known, at preview too) a version never uploaded fails before the
        # pointer changes. A new bucket has an unknown name at preview (so under `sitectl policy-check`'s
        # mocks): nothing can be uploaded yet, and the guard runs at update instead.
        pointer_value: pulumi.Output[str] = bucket.bucket.apply(
            lambda b: _guarded_pointer_value(args, b, release_check, change)
        )
        pointer = aws.ssm.Parameter(
            f"{name}-pointer",
            name=args.parameter_name,
            type="String",
            # A version id is no secret; `value` would make every output derived from it one.
            insecure_value=pointer_value,
            description="Live version of the versioned-site; change it with `pulumi config set version`.",
            tags=tagging.resource_tags(args.tags),
            opts=edge,
        )

        # --- Router: where the live version is applied (docs/routers.md, "Two routers"). Never both
        # on one behavior: the origin-request handler would prefix the version a second time.
        router_function: CloudFrontFunctionRouter | None = None
        edge_function: aws.lambda_.Function | None = None
        function_associations = None
        lambda_function_associations = None
        if args.router == CLOUDFRONT_FUNCTION:
            read_manifest = args.read_manifest or _default_manifest_reader(args.aws_profile)
            write_keys = args.write_rule_keys or _default_rule_key_writer(args.aws_profile)
            assert canary_change is not None
            router_function = _cloudfront_function_router(
                self,
                name,
                args,
                pointer,
                bucket,
                (read_manifest, write_keys),
                _CanaryPlan(canary_change, release_check),
            )
            function_associations = [
                aws.cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs(
                    # Before the cache lookup: the rewritten URI, with the version, is the cache key.
                    event_type="viewer-request",
                    function_arn=router_function.function.arn,
                ),
                aws.cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs(
                    # On the way out (answers below 400): the canary's cookie, the build's headers.
                    event_type="viewer-response",
                    function_arn=router_function.viewer_response.arn,
                ),
            ]
        else:
            edge_function = _lambda_edge_router(self, name, args, pointer, bucket)
            redirects = host_redirect.rules(args.domain_names, args.host_redirect)
            if redirects:
                # The router runs at origin request, after the cache: the redirect needs its own function
                # before it (a CloudFront Function at viewer request beside Lambda@Edge at origin request).
                function_associations = [
                    aws.cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs(
                        event_type="viewer-request",
                        function_arn=_host_redirect_function(self, name, args, redirects).arn,
                    )
                ]
            lambda_function_associations = [
                aws.cloudfront.DistributionDefaultCacheBehaviorLambdaFunctionAssociationArgs(
                    event_type="origin-request",
                    # A numbered version: Lambda@Edge refuses $LATEST and aliases.
                    lambda_arn=edge_function.qualified_arn,
                    include_body=False,
                ),
                # The same function adds the build's `_headers` (and a 404 rule's status) to what the
                # origin answers: origin-response runs on misses only, errors included, and what it
                # returns is cached (docs/rules.md, "Redirects and headers of the build").
                aws.cloudfront.DistributionDefaultCacheBehaviorLambdaFunctionAssociationArgs(
                    event_type="origin-response",
                    lambda_arn=edge_function.qualified_arn,
                    include_body=False,
                ),
            ]

        # --- Edge: CloudFront reads the bucket through Origin Access Control only.
        origin_access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            description=f"{name}: CloudFront reads the private site bucket",
            opts=pulumi.ResourceOptions(parent=self),
        )
        custom_domain = _custom_domain(self, name, args) if args.domain_names else None
        if custom_domain is not None:
            viewer_certificate = custom_domain.viewer_certificate
        else:
            viewer_certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            )
        distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"versioned-site {name}",
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=pulumi.Output.from_input(args.price_class).apply(_check_price_class),
            aliases=custom_domain.aliases if custom_domain is not None else None,
            # Skew protection and the 404 page: an origin group whose fallback the edge recognises.
            origins=not_found_and_skew.bucket_origins(
                bucket.bucket_regional_domain_name,
                origin_access_control.id,
                not_found_and_skew.fallback_origin_path(args.router == CLOUDFRONT_FUNCTION),
            ),
            origin_groups=not_found_and_skew.origin_groups(),
            custom_error_responses=not_found_and_skew.custom_error_responses(),
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=not_found_and_skew.ORIGIN_GROUP_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD"],
                cached_methods=["GET", "HEAD"],
                compress=True,
                cache_policy_id=MANAGED_CACHING_OPTIMIZED,
                response_headers_policy_id=MANAGED_SECURITY_HEADERS,
                function_associations=function_associations,
                lambda_function_associations=lambda_function_associations,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=viewer_certificate,
            tags=tagging.resource_tags(args.tags),
            # With the CloudFront Function router, the distribution moves to the function only once the
            # store's key is written: before it, every viewer would get the function's 503 ("the live
            # version is unavailable"). Explicit, since no input of the distribution comes from the key.
            # What this cannot order is the key's propagation to the edges (AWS publishes no figure).
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[router_function.live_version] if router_function is not None else None,
            ),
        )

        # Only this distribution may read, objects only: without ListBucket a missing key answers 403, so
        # that the distribution tells a miss (403: the 404 page) from a build's 404 rule (404: its page).
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, distribution.arn, args.version_readers).apply(
                lambda v: _bucket_policy(v[0], v[1], [_check_version_reader(r) for r in v[2]])
            ),
            # A policy written before the public access block could be judged public and refused.
            opts=pulumi.ResourceOptions.merge(
                in_bucket, pulumi.ResourceOptions(depends_on=[guards.public_access_block, guards.ownership])
            ),
        )

        if custom_domain is not None:
            domain.alias_records(self, name, custom_domain, args.domain_names, distribution)
        logs = log_delivery.attach(
            self,
            name,
            distribution,
            args.access_logs,
            args.access_log_retention_days,
            edge_provider,
            args.tags,
            kept,
        )

        # What a release changes (`releaseTargets`): the pointer, then what makes viewers see it.
        release_resources: list[pulumi.Resource] = [pointer]
        if router_function is not None:
            # No switch: a new version is a new set of cache keys, nothing cached needs invalidating.
            # The viewer-response function sets the canary's cookie only while one is configured, so a
            # targeted `up` that starts or ends a canary (`sitectl canary`) republishes it too.
            release_resources.extend(
                [router_function.canary_record, router_function.live_version, router_function.viewer_response]
            )
        if edge_function is not None:
            # --- Switch: after the pointer lands, wait the edge TTL, then invalidate `/*`.
            switch = _switch(self, name, args, pointer, distribution, edge_function)
            release_resources.append(switch)

        self.bucket_name = bucket.bucket
        self.distribution_id = distribution.id
        self.distribution_domain = distribution.domain_name
        served_names = pulumi.Output.from_input(custom_domain.aliases) if custom_domain is not None else None
        self.url = pulumi.Output.all(served_names, distribution.domain_name).apply(
            lambda v: f"https://{(list(v[0] or []) or [v[1]])[0]}"
        )
        self.certificate_validation_records = (
            custom_domain.validation_records if custom_domain is not None else pulumi.Output.from_input([])
        )
        # Without a zone here, the records to create at the DNS provider (an apex needs its ALIAS, ANAME
        # or flattened CNAME: DNS allows no CNAME at a zone's apex).
        self.dns_records = (
            distribution.domain_name.apply(
                lambda target: [{"name": d, "type": "CNAME", "value": target} for d in args.domain_names]
            )
            if custom_domain is not None and custom_domain.hosted_zone_id is None
            else pulumi.Output.from_input([])
        )
        self.access_log_destination = (
            logs.destination_arn if logs is not None else pulumi.Output.from_input("")
        )
        self.parameter_name = pointer.name
        self.parameter_region = pulumi.Output.from_input(EDGE_REGION)
        self.live_version = pointer.insecure_value
        self.release_targets = pulumi.Output.all(*(resource.urn for resource in release_resources)).apply(
            lambda urns: list(urns)
        )
        if record is not None and not pulumi.runtime.is_dry_run():
            clear = args.clear_emergency_record or _default_record_clearer(args.aws_profile)
            # Once the pointer holds the new value (its output resolves after the update), a version
            # other than the one the rollback made live ends the record.
            pointer.insecure_value.apply(
                lambda live: clear(args.parameter_name) if emergency.clears(record, live) else None
            )
        self.version_config_key = pulumi.Output.from_input(version_key)
        self.pointer_store_arn = (
            router_function.store.arn if router_function is not None else pulumi.Output.from_input("")
        )
        self.edge_cache_ttl_seconds = pulumi.Output.from_input(args.edge_cache_ttl_seconds)
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "distribution_id": self.distribution_id,
                "distribution_domain": self.distribution_domain,
                "url": self.url,
                "parameter_name": self.parameter_name,
                "parameter_region": self.parameter_region,
                "live_version": self.live_version,
                "release_targets": self.release_targets,
                "certificate_validation_records": self.certificate_validation_records,
                "dns_records": self.dns_records,
                "version_config_key": self.version_config_key,
                "access_log_destination": self.access_log_destination,
                "pointer_store_arn": self.pointer_store_arn,
                "edge_cache_ttl_seconds": self.edge_cache_ttl_seconds,
            }
        )


def _custom_domain(
    site: pulumi.ComponentResource, name: str, args: VersionedStaticSiteArgs
) -> domain.CustomDomain:
    assert args.edge_provider is not None  # VersionedStaticSite.__init__ gives it one
    return domain.prepare(
        site,
        name,
        args.domain_names,
        args.acm_certificate_arn,
        args.hosted_zone_id,
        args.edge_provider,
        tags=args.tags,
        find_zone_id=args.find_zone_id or domain.default_zone_finder(args.edge_provider),
        read_certificate_status=args.read_certificate_status
        or domain.default_certificate_status_reader(args.aws_profile),
    )


def _bucket_policy(bucket_arn: str, distribution_arn: str, version_readers: list[str]) -> str:
    statements: list[dict[str, object]] = [
        {
            "Sid": "CloudFrontReadsThroughOAC",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
        },
        {
            "Sid": "DenyWithoutTLS",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    if version_readers:
        # What `sitectl promote` reads from a source bucket. The bucket is BucketOwnerEnforced, so
        # this account owns every object and this grant covers all of them.
        statements.insert(
            1,
            {
                "Sid": "VersionReadersPromote",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(version_readers)},
                "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
            },
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _guarded_pointer_value(
    args: VersionedStaticSiteArgs,
    bucket: str,
    release_check: ReleaseCheck,
    change: pointer_guard.PointerChange,
) -> str:
    """The pointer's new value, once the release guard passed too; says in the preview what it does to
    the site."""
    if args.version:
        release_check(bucket, args.version)
    # Engine diagnostics: `pulumi preview` and `up` print them under the stack, and a warning stands
    # out in a CI plan or a pull request's preview comment.
    if change.is_warning:
        pulumi.log.warn(change.line)
    else:
        pulumi.log.info(change.line)
    return change.target


def edge_function_description(name: str, cache_ttl_seconds: int) -> str:
    """The edge function's description (at most 256 characters for Lambda), ending with its TTL."""
    return f"versioned-site {name}: origin-request router; pointer cache TTL {cache_ttl_seconds} s"


def deployed_ttl(description: str | None, configured: int) -> int:
    """The TTL the deployed function's description records; the configured one when it records none
    (a function deployed before the description carried it)."""
    recorded = EDGE_DESCRIPTION_TTL.search(description or "")
    return int(recorded.group(1)) if recorded else configured


def _default_release_check(
    profile: str | None,
    require_shared_assets: bool,
    spa_fallback: bool,
    version_key: str,
    spa_fallback_key: str,
) -> ReleaseCheck:
    region = pulumi.Config("aws").get("region")

    def check(bucket: str, version: str) -> None:
        s3 = release_guard.default_s3_client(region, profile)
        # A preview only reads; an update is about to write the pointer: it takes the release lock.
        owner = None if pulumi.runtime.is_dry_run() else f"pulumi up of stack {pulumi.get_stack()}"
        release_guard.check_releasable(
            s3,
            bucket,
            version,
            require_shared_assets,
            owner,
            spa_fallback,
            version_key=version_key,
            spa_fallback_key=spa_fallback_key,
        )

    return check


def _default_rule_key_writer(profile: str | None) -> RuleKeyWriter:
    def write(store_arn: str, keys: Mapping[str, str]) -> None:
        import boto3

        # The store is global; its data-plane API signs with SigV4A (boto3[crt]).
        kvs = boto3.session.Session(profile_name=profile).client(
            "cloudfront-keyvaluestore", region_name=EDGE_REGION
        )
        rule_keys.write_rule_keys(kvs, store_arn, keys)

    return write


def _default_manifest_reader(profile: str | None) -> ManifestReader:
    region = pulumi.Config("aws").get("region")

    def read(bucket: str, version: str) -> layout.Manifest | None:
        s3 = release_guard.default_s3_client(region, profile)
        return release_guard.manifest_of(s3, bucket, version)

    return read


def _checked_record(
    record: emergency.EmergencyRecord | None, args: VersionedStaticSiteArgs, version_key: str
) -> emergency.EmergencyRecord | None:
    emergency.check_deployment(record, args.version, args.release_rolled_back, version_key)
    # A canary the rollback ended stays ended for a config that still names it (a stale checkout, CI).
    emergency.check_canary(record, args.canary_version, args.release_rolled_back, version_key)
    if record is not None:
        pulumi.log.warn(f"emergency rollback in force: {record.describe()}")
    return record


def _default_record_reader(profile: str | None) -> EmergencyRecordReader:
    def read(pointer_name: str) -> emergency.EmergencyRecord | None:
        return emergency.read_record(pointer_guard.default_ssm_client(EDGE_REGION, profile), pointer_name)

    return read


def _default_record_clearer(profile: str | None) -> EmergencyRecordClearer:
    def clear(pointer_name: str) -> None:
        emergency.clear_record(pointer_guard.default_ssm_client(EDGE_REGION, profile), pointer_name)

    return clear


def _default_pointer_reader(profile: str | None) -> PointerReader:
    def read(parameter_name: str) -> str | None:
        ssm = pointer_guard.default_ssm_client(EDGE_REGION, profile)
        return pointer_guard.read_pointer(ssm, parameter_name)

    return read


def _trust_policy(service: str | list[str]) -> str:
    """A role's trust policy letting `service` (one or a list, as IAM takes either) assume it."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _lambda_edge_router(
    site: pulumi.ComponentResource,
    name: str,
    args: VersionedStaticSiteArgs,
    pointer: aws.ssm.Parameter,
    bucket: aws.s3.Bucket,
) -> aws.lambda_.Function:
    """The Lambda@Edge origin-request function (numbered version) that reads `pointer`, and its role."""

    # --- Edge function: settings travel in the bundle (Lambda@Edge allows no environment variables).
    # The bucket is where the edge reads each version's manifest, once per version per container, to
    # know its files (edge_lambda/version_routes.py).
    def bundle(values: list[str]) -> pulumi.AssetArchive:
        settings = EdgeSettings(
            parameter_name=args.parameter_name,
            region=EDGE_REGION,
            cache_ttl_seconds=args.edge_cache_ttl_seconds,
            spa_fallback=args.spa_fallback,
            trailing_slash=args.trailing_slash,
            redirect_status=args.redirect_status,
            bucket=values[0],
            bucket_region=values[1],
        )
        return pulumi.AssetArchive(
            {path: pulumi.StringAsset(content.decode()) for path, content in bundle_files(settings).items()}
        )

    role = aws.iam.Role(
        f"{name}-edge-role",
        # Lambda@Edge replicas run as edgelambda.amazonaws.com, so the role trusts both services.
        assume_role_policy=_trust_policy(["lambda.amazonaws.com", "edgelambda.amazonaws.com"]),
        tags=tagging.resource_tags(args.tags),
        opts=pulumi.ResourceOptions(parent=site),
    )
    function = aws.lambda_.Function(
        f"{name}-edge",
        role=role.arn,
        runtime=LAMBDA_RUNTIME,
        handler="edge_lambda.handler.handler",
        code=pulumi.Output.all(bucket.bucket, bucket.region).apply(bundle),
        # Lambda@Edge: x86_64 only, origin-request timeout at most 30 s, a published numbered version.
        # The pointer lookup's worst case is 5 s with the runtime's botocore 1.38 and 10 s with one that
        # honours x-amz-retry-after (edge_lambda/ssm_client.py); 20 s leaves room, since a timeout
        # would also discard the container and its cached version.
        architectures=["x86_64"],
        memory_size=128,
        timeout=20,
        publish=True,
        # Replicas of a Lambda@Edge function linger for hours after the distribution drops it, and
        # AWS refuses to delete the function meanwhile: on destroy, leave it (it costs nothing idle)
        # and delete it by hand later (README: "Deleting a stack").
        skip_destroy=True,
        tags=tagging.resource_tags(args.tags),
        description=edge_function_description(name, args.edge_cache_ttl_seconds),
        opts=pulumi.ResourceOptions(parent=site, provider=args.edge_provider),
    )
    aws.iam.RolePolicy(
        f"{name}-edge-policy",
        role=role.id,
        policy=pulumi.Output.all(pointer.arn, function.name, bucket.arn).apply(
            lambda values: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": values[0]},
                        # Each version's manifest, the file list routing needs; nothing else of the bucket.
                        {
                            "Effect": "Allow",
                            "Action": "s3:GetObject",
                            "Resource": f"{values[2]}/{layout.MANIFEST_PREFIX}*",
                        },
                        {
                            # Replicas log in the region that runs them, under a us-east-1. prefix.
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogGroup",
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                            ],
                            "Resource": f"arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.{values[1]}:*",
                        },
                    ],
                }
            )
        ),
        opts=pulumi.ResourceOptions(parent=role),
    )
    return function


# The switch Lambda's limit: the longest wait (the largest TTL and the margin, counted from the pointer's
# update, which precedes the invocation) plus its three API calls. Lambda allows up to 900 s.
SWITCH_TIMEOUT_SECONDS = MAX_EDGE_CACHE_TTL_SECONDS + 60


def switch_bundle() -> pulumi.AssetArchive:
    """The switch Lambda's code: the `edge_lambda` package (no Pulumi), whose `switch_handler` runs the
    one wait-and-invalidate `sitectl rollback --now` runs too."""
    package = Path(switch_handler.__file__).parent
    return pulumi.AssetArchive(
        {
            f"edge_lambda/{path.name}": pulumi.StringAsset(path.read_text())
            for path in sorted(package.glob("*.py"))
        }
    )


def _switch(
    site: pulumi.ComponentResource,
    name: str,
    args: VersionedStaticSiteArgs,
    pointer: aws.ssm.Parameter,
    distribution: aws.cloudfront.Distribution,
    edge_function: aws.lambda_.Function,
) -> aws.lambda_.Invocation:
    """The switch: a Lambda of the site that waits the edge TTL after the pointer moved, then invalidates
    `/*`, invoked by an `aws.lambda.Invocation` whose input holds the version. A new version is a new
    input: the invocation is replaced, so the engine invokes the function again (lifecycle scope
    CREATE_ONLY); a failed invocation leaves the old one in the state, and the next `up` retries.
    docs/adoption.md, "The switch from another language"."""
    edge = pulumi.ResourceOptions(parent=site, provider=args.edge_provider)
    role = aws.iam.Role(
        f"{name}-switch-role",
        assume_role_policy=_trust_policy("lambda.amazonaws.com"),
        tags=tagging.resource_tags(args.tags),
        opts=pulumi.ResourceOptions(parent=site),
    )
    function = aws.lambda_.Function(
        f"{name}-switch",
        role=role.arn,
        runtime=LAMBDA_RUNTIME,
        handler="edge_lambda.switch_handler.handler",
        code=switch_bundle(),
        memory_size=128,
        timeout=SWITCH_TIMEOUT_SECONDS,
        description=f"versioned-site {name}: after a release, wait the edge TTL, then invalidate /*",
        tags=tagging.resource_tags(args.tags),
        opts=edge,
    )
    policy = aws.iam.RolePolicy(
        f"{name}-switch-policy",
        role=role.id,
        policy=pulumi.Output.all(pointer.arn, distribution.arn, edge_function.arn, function.name).apply(
            lambda values: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        # Confirm the pointer and read when it changed.
                        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": values[0]},
                        # Invalidate this distribution only.
                        {"Effect": "Allow", "Action": "cloudfront:CreateInvalidation", "Resource": values[1]},
                        # The TTL the edge function's previous version records, in its description.
                        {
                            "Effect": "Allow",
                            "Action": "lambda:GetFunctionConfiguration",
                            "Resource": [values[2], f"{values[2]}:*"],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": f"arn:aws:logs:{EDGE_REGION}:*:log-group:/aws/lambda/{values[3]}:*",
                        },
                    ],
                }
            )
        ),
        opts=pulumi.ResourceOptions(parent=role),
    )
    event = {
        "version": pointer.insecure_value,
        "parameterName": pointer.name,
        "distributionId": distribution.id,
        "cacheTtlSeconds": edge_function.description.apply(
            lambda description: deployed_ttl(description, args.edge_cache_ttl_seconds)
        ),
        "edgeFunction": edge_function.name,
        "edgeFunctionVersion": edge_function.version,
    }
    return aws.lambda_.Invocation(
        f"{name}-release-switch",
        function_name=function.name,
        input=pulumi.Output.json_dumps(event),
        # After the pointer's update (its value is in the input) and with the role's policy in place.
        opts=pulumi.ResourceOptions.merge(edge, pulumi.ResourceOptions(depends_on=[pointer, policy])),
    )


def _host_redirect_function(
    site: pulumi.ComponentResource, name: str, args: VersionedStaticSiteArgs, redirects: Mapping[str, str]
) -> aws.cloudfront.Function:
    """A viewer-request CloudFront Function that only answers host redirects (with Lambda@Edge)."""
    return aws.cloudfront.Function(
        f"{name}-host-redirect",
        runtime=CLOUDFRONT_FUNCTION_RUNTIME,
        comment="versioned-site: redirect to the canonical host, before the cache",
        publish=True,
        code=host_redirect.standalone_code(redirects),
        tags=tagging.resource_tags(args.tags),
        opts=pulumi.ResourceOptions(parent=site, provider=args.edge_provider),
    )


@dataclass
class CloudFrontFunctionRouter:
    store: aws.cloudfront.KeyValueStore
    live_version: aws.cloudfront.KeyvaluestoreKey
    function: aws.cloudfront.Function
    viewer_response: aws.cloudfront.Function
    canary_record: aws.ssm.Parameter


@dataclass(frozen=True)
class _CanaryPlan:
    change: pointer_guard.CanaryChange
    release_check: ReleaseCheck


def _guarded_canary_record(args: VersionedStaticSiteArgs, bucket: str, canary: _CanaryPlan) -> str:
    """The canary parameter's new value, once the canary passed the release guard; says in the preview
    what the deployment does to the canary."""
    if args.canary_version:
        canary.release_check(bucket, args.canary_version)
    line = canary.change.line
    if line is not None:
        if canary.change.kind == "abort":
            pulumi.log.warn(line)
        else:
            pulumi.log.info(line)
    return layout.canary_record(args.canary_version, args.canary_percent)


def _cloudfront_function_router(
    site: pulumi.ComponentResource,
    name: str,
    args: VersionedStaticSiteArgs,
    pointer: aws.ssm.Parameter,
    bucket: aws.s3.Bucket,
    manifests: tuple[ManifestReader, RuleKeyWriter],
    canary: _CanaryPlan,
) -> CloudFrontFunctionRouter:
    """The viewer-request CloudFront Function and the KeyValueStore key it reads the live version from,
    the canary's record beside the pointer, and the viewer-response function."""
    read_manifest, write_keys = manifests
    route_settings = RouteSettings(args.trailing_slash, args.redirect_status, args.spa_fallback)
    # One viewer-request function per behavior: host redirects go in front of the router, in its code.
    redirects = host_redirect.rules(args.domain_names, args.host_redirect)

    def live_plan(values: list[str]) -> tuple[str, dict[str, str]]:
        # The version and its routes in one value: one read per request, never one without the other;
        # a canary rides in it too (docs/routers.md, "Canary releases": why not a second key). With
        # it, the keys of both versions' build rules, which must be in the store before the value.
        version, bucket_name, record = values
        if not layout.is_valid_version(version):
            return version, {}
        running = layout.parse_canary_record(record)
        manifest = read_manifest(bucket_name, version)
        canary_manifest = None if running is None else read_manifest(bucket_name, running[0])
        try:
            value = manifest_store_value(
                version,
                manifest,
                args.spa_fallback,
                None if running is None else (running[0], running[1], canary_manifest),
            )
            keys = manifest_rule_keys(version, manifest)
            if running is not None:
                keys.update(manifest_rule_keys(running[0], canary_manifest))
        except RulesNotCarriedError as error:
            raise ValueError(
                f"version {version} cannot be routed by the cloudfront-function router: {error}"
            ) from None
        except RoutesTooLargeError as error:
            raise ValueError(
                f"version {version} cannot be routed by the cloudfront-function router: {error}. Use "
                f"`pulumi config set router {LAMBDA_EDGE}` (it reads the whole manifest), or name those "
                "pages the way the others are named"
            ) from None
        return value, keys

    def with_rule_keys(values: list[Any]) -> str:
        # During an update only (never a preview): the versions' rule keys first, so that no edge reads a
        # value naming keys it does not have yet. Written once per version (immutable), never deleted
        # here: `sitectl prune` removes them with their version.
        store_arn, (value, keys) = values
        if keys and not pulumi.runtime.is_dry_run():
            write_keys(store_arn, keys)
        return str(value)

    # CloudFront resources are global; the us-east-1 provider, like the pointer beside them.
    edge = pulumi.ResourceOptions(parent=site, provider=args.edge_provider)
    store = aws.cloudfront.KeyValueStore(
        f"{name}-pointer-store",
        comment="Live version of the versioned-site, read by its viewer-request function.",
        tags=tagging.resource_tags(args.tags),
        opts=edge,
    )
    # The canary's record beside the pointer (`<version> <percent>` or `none`), after its release guard:
    # a canary must be complete and shared like a release. status, history and prune read it.
    canary_record = aws.ssm.Parameter(
        f"{name}-canary",
        name=layout.canary_parameter_name(args.parameter_name),
        type="String",
        insecure_value=bucket.bucket.apply(lambda b: _guarded_canary_record(args, b, canary)),
        description="Canary of the versioned-site (<version> <percent>, or none); set by `pulumi up`.",
        tags=tagging.resource_tags(args.tags),
        opts=pulumi.ResourceOptions(parent=site, provider=args.edge_provider),
    )
    # The pointer's own value, once SSM holds it: the record (history, sitectl, policy) is never behind
    # what viewers get, and a failed write here leaves the state `sitectl release` already repairs.
    live_version = aws.cloudfront.KeyvaluestoreKey(
        f"{name}-live-version",
        key_value_store_arn=store.arn,
        key=LIVE_VERSION_KEY,
        value=pulumi.Output.all(
            store.arn,
            pulumi.Output.all(pointer.insecure_value, bucket.bucket, canary_record.insecure_value).apply(
                live_plan
            ),
        ).apply(with_rule_keys),
        # The store's child: it inherits the store's (us-east-1) provider.
        opts=pulumi.ResourceOptions(parent=store),
    )
    function = aws.cloudfront.Function(
        f"{name}-router",
        runtime=CLOUDFRONT_FUNCTION_RUNTIME,
        comment="versioned-site: live version from the KeyValueStore, rewrite before the cache",
        # CloudFront runs only the LIVE stage: publish every change.
        publish=True,
        # No environment variables in a CloudFront Function: the store id and settings are in the code.
        code=store.arn.apply(
            lambda arn: (
                host_redirect.with_router(function_code(key_value_store_id(arn), route_settings), redirects)
                if redirects
                else function_code(key_value_store_id(arn), route_settings)
            )
        ),
        # One store per function (AWS limit).
        key_value_store_associations=[store.arn],
        tags=tagging.resource_tags(args.tags),
        opts=edge,
    )
    # One viewer-response function per behavior too, shared by the canary's bucket cookie and the build's
    # header rules (edge_function/viewer_response.js), which it reads from the router's store (one store
    # per function; a store may be associated with several).
    viewer_response = aws.cloudfront.Function(
        f"{name}-viewer-response",
        runtime=CLOUDFRONT_FUNCTION_RUNTIME,
        comment="versioned-site: the canary's bucket cookie and header rules, on answers below 400",
        publish=True,
        code=store.arn.apply(
            lambda arn: viewer_response_code(bool(args.canary_version), key_value_store_id(arn))
        ),
        key_value_store_associations=[store.arn],
        tags=tagging.resource_tags(args.tags),
        opts=edge,
    )
    return CloudFrontFunctionRouter(
        store=store,
        live_version=live_version,
        function=function,
        viewer_response=viewer_response,
        canary_record=canary_record,
    )
