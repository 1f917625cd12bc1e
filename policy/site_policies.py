"""The policies of the versioned-site CrossGuard pack, importable without starting the pack.

`policy/__main__.py` wraps `POLICIES` in a `PolicyPack` (which starts a gRPC server and blocks);
`sitectl policy-check` and the tests call the same policy objects directly.

Properties arrive camelCase, as the engine hands them to a pack. During `pulumi preview` some values
are unknown: pulumi_policy wraps props in a proxy that raises `UnknownValueError` on access (the
engine then skips the whole policy for that resource). The validators read every value through
`_get`/`_elements`, which turn an unknown into `UNKNOWN`, so one unknown field neither crashes a
validator, nor counts as a violation, nor hides a violation in a field that is known. A value a policy
needs but cannot read (unknown, or not a plain value of the expected shape) is never a silent pass:
the validator calls `not_checked(urn, property)`, which `sitectl policy-check` prints and counts, and
which the pack under the Pulumi CLI reports as the engine's advisory "can't run policy ... during
preview" note (`engine_policies`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from edge_lambda import layout
from policy import resource_types as types

PACK_NAME = "versioned-site-policies"
# Policies without their own level use this one (pulumi_policy would otherwise default to advisory).
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY


class _Unknown:
    """A value the engine will only know after the update (stands in for pulumi_policy's sentinels)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

# How the engine spells an unknown value inside the properties it sends (one sentinel per kind).
_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


NotCheckedSink = Callable[[str, str], None]
"""(resource URN, property path) -> None: a value a policy needed could not be read."""

_NOT_CHECKED_SINK: ContextVar[NotCheckedSink | None] = ContextVar("not_checked_sink", default=None)


def not_checked(urn: str, prop: str) -> None:
    """Record that the running policy could not check `prop` of the resource `urn`."""
    sink = _NOT_CHECKED_SINK.get()
    if sink is not None:
        sink(urn, prop)


@contextmanager
def reporting_not_checked(sink: NotCheckedSink) -> Iterator[None]:
    """Send the `not_checked` calls of the validators run inside this block to `sink`."""
    token = _NOT_CHECKED_SINK.set(sink)
    try:
        yield
    finally:
        _NOT_CHECKED_SINK.reset(token)


def _check_known(urn: str, prop: str, value: Any) -> bool:
    """Whether `value` is known; records `prop` as not checked when it is not."""
    if value is UNKNOWN:
        not_checked(urn, prop)
        return False
    return True


def _is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWN_SENTINELS


def _get(container: Any, key: str) -> Any:
    """`container[key]`; None when absent or when `container` is not a mapping; UNKNOWN when unknown."""
    if container is UNKNOWN:
        return UNKNOWN
    if not isinstance(container, Mapping):
        return None
    try:
        value = container.get(key)
    except UnknownValueError:
        return UNKNOWN
    return UNKNOWN if _is_unknown(value) else value


def _elements(value: Any) -> Iterator[Any]:
    """The items of a list input (a lone object counts as a list of one); unknown items as UNKNOWN."""
    if value is None or value is UNKNOWN:
        return
    if isinstance(value, Mapping | str) or not isinstance(value, Sequence):
        yield value
        return
    for index in range(len(value)):
        try:
            item = value[index]
        except UnknownValueError:
            item = UNKNOWN
        yield UNKNOWN if _is_unknown(item) else item


def _has_content(value: Any) -> bool:
    """Whether an optional block input is set (a block with no fields set counts as absent)."""
    if value is None or value is UNKNOWN:
        return False
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str):
        return len(value) > 0
    return True


def _project_of(urn: str) -> str:
    """The Pulumi project of a resource, from its URN (`urn:pulumi:<stack>::<project>::...`): the
    namespace of the program's config keys, which a renamed project changes."""
    parts = urn.split("::")
    return parts[1] if len(parts) >= 4 and parts[1] else "<project>"


def _parent_types(urn: str) -> list[str]:
    """The types of a resource's ancestors, from its URN (`...::parentType$childType::name`)."""
    parts = urn.split("::")
    if len(parts) < 4:
        return []
    return parts[2].split("$")[:-1]


# ---------------------------------------------------------------------------------------------------
# No S3 website hosting


def no_s3_website_hosting_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type in types.BUCKET_WEBSITE_CONFIGURATION_TYPES:
        report_violation(
            f"'{args.name}' ({args.resource_type}) turns on S3 static website hosting, which serves the "
            "bucket publicly over plain HTTP and cannot use Origin Access Control. Remove it: CloudFront "
            "serves the site from the private bucket (index documents are handled at the edge).",
            None,
        )
    elif args.resource_type in types.BUCKET_TYPES:
        # aws.s3.Bucket takes one `website` block; the deprecated aws.s3.BucketV2 a `websites` list.
        for key in ("website", "websites"):
            blocks = _get(args.props, key)
            if not _check_known(args.urn, key, blocks):
                continue
            known = [b for i, b in enumerate(_elements(blocks)) if _check_known(args.urn, f"{key}[{i}]", b)]
            if any(_has_content(block) for block in known):
                report_violation(
                    f"Bucket '{args.name}' sets the inline `{key}` input, which turns on S3 static website "
                    f"hosting (public, plain HTTP). Remove `{key}` and serve the bucket through CloudFront "
                    "with Origin Access Control.",
                    None,
                )


# ---------------------------------------------------------------------------------------------------
# Every bucket has a public access block with all four settings true


PUBLIC_ACCESS_BLOCK_SETTINGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
_PYTHON_SETTING_NAMES = {
    "blockPublicAcls": "block_public_acls",
    "blockPublicPolicy": "block_public_policy",
    "ignorePublicAcls": "ignore_public_acls",
    "restrictPublicBuckets": "restrict_public_buckets",
}


def _urns(resources: Sequence[PolicyResource]) -> set[str]:
    return {r.urn for r in resources}


def _applies_to_bucket(block: PolicyResource, bucket: PolicyResource) -> bool:
    """Whether `block` (a public access block, an encryption configuration) applies to `bucket`.

    During preview a new bucket's name and id are unknown, so the link is the dependency the
    program declared by passing `bucket.id` (or `bucket.bucket`) as the block's `bucket` input;
    once known, both carry the same bucket name.
    """
    linked = block.property_dependencies.get("bucket")
    if linked is not None and bucket.urn in _urns(linked):
        return True
    target = _get(block.props, "bucket")
    if isinstance(target, str) and target == _get(bucket.props, "bucket"):
        return True
    # Without per-property dependencies, a dependency on the bucket is the link.
    return linked is None and bucket.urn in _urns(block.dependencies)


def s3_public_access_block_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    buckets = [r for r in args.resources if r.resource_type in types.BUCKET_TYPES]
    blocks = [r for r in args.resources if r.resource_type in types.BUCKET_PUBLIC_ACCESS_BLOCK_TYPES]

    for block in blocks:
        values = {s: _get(block.props, s) for s in PUBLIC_ACCESS_BLOCK_SETTINGS}
        off = [s for s, value in values.items() if _check_known(block.urn, s, value) and value is not True]
        if off:
            fix = ", ".join(f"{_PYTHON_SETTING_NAMES[s]}=True" for s in off)
            report_violation(
                f"Public access block '{block.name}' leaves {', '.join(off)} unset or false, so the "
                f"bucket can still be made public. Set {fix}.",
                block.urn,
            )

    for bucket in buckets:
        if not any(_applies_to_bucket(block, bucket) for block in blocks):
            report_violation(
                f"Bucket '{bucket.name}' has no public access block. Add "
                f"aws.s3.BucketPublicAccessBlock(bucket=<bucket>.id, block_public_acls=True, "
                "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True).",
                bucket.urn,
            )


# ---------------------------------------------------------------------------------------------------
# Every bucket declares default encryption at rest (advisory)
#
# Advisory, not mandatory: since January 5, 2023 S3 applies SSE-S3 to every bucket without a default
# encryption configuration, and to every new object; a bucket cannot be left unencrypted
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html). A program that
# declares nothing is secure: the advice only keeps the choice written in code and reviewable.

# S3's default encryption algorithms: SSE-S3, SSE-KMS, dual-layer SSE-KMS.
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})


def _sse_algorithms(urn: str, path: str, value: Any) -> list[str]:
    """Every `sseAlgorithm` inside an encryption configuration (inline blocks and the resource's rules
    nest it differently); unknown parts are recorded as not checked."""
    if not _check_known(urn, path, value):
        return []
    if isinstance(value, Mapping):
        found = []
        for key in value:
            item = _get(value, key)
            if key == "sseAlgorithm":
                if _check_known(urn, f"{path}.{key}", item) and isinstance(item, str):
                    found.append(item)
            else:
                found.extend(_sse_algorithms(urn, f"{path}.{key}", item))
        return found
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [
            a for i, item in enumerate(_elements(value)) for a in _sse_algorithms(urn, f"{path}[{i}]", item)
        ]
    return []


def _encrypts(urn: str, path: str, value: Any) -> bool:
    return any(algorithm in SSE_ALGORITHMS for algorithm in _sse_algorithms(urn, path, value))


def s3_bucket_encryption_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    buckets = [r for r in args.resources if r.resource_type in types.BUCKET_TYPES]
    configurations = [
        r
        for r in args.resources
        if r.resource_type in types.BUCKET_ENCRYPTION_TYPES
        and _encrypts(r.urn, "rules", _get(r.props, "rules"))
    ]
    for bucket in buckets:
        inline = any(
            _encrypts(bucket.urn, key, _get(bucket.props, key))
            for key in ("serverSideEncryptionConfiguration", "serverSideEncryptionConfigurations")
        )
        if not inline and not any(_applies_to_bucket(c, bucket) for c in configurations):
            report_violation(
                f"Bucket '{bucket.name}' declares no default encryption (S3 applies SSE-S3 to it anyway). "
                "To keep the choice in code, add aws.s3.BucketServerSideEncryptionConfiguration("
                "bucket=<bucket>.id, rules=[...(apply_server_side_encryption_by_default=...("
                "sse_algorithm='AES256'))]) (SSE-S3: CloudFront's Origin Access Control reads SSE-KMS "
                "objects only with a key policy for it).",
                bucket.urn,
            )


# ---------------------------------------------------------------------------------------------------
# No public bucket or object ACL

# Canned ACLs that grant the AllUsers or AuthenticatedUsers group (any AWS account) access.
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GRANTEE_URIS = frozenset(
    {
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    }
)


def _public_grant_uris(urn: str, path: str, grants: Any, grantee_key: str | None) -> list[str]:
    found: list[str] = []
    if not _check_known(urn, path, grants):
        return found
    for index, grant in enumerate(_elements(grants)):
        grantee = _get(grant, grantee_key) if grantee_key else grant
        where = f"{path}[{index}]" + (f".{grantee_key}" if grantee_key else "")
        uri = _get(grantee, "uri")
        if _check_known(urn, f"{where}.uri", uri) and isinstance(uri, str) and uri in PUBLIC_GRANTEE_URIS:
            found.append(uri)
    return found


def no_public_acl_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = args.resource_type
    if kind in types.BUCKET_TYPES:
        what = f"Bucket '{args.name}'"
        public_uris = _public_grant_uris(args.urn, "grants", _get(args.props, "grants"), None)
    elif kind in types.BUCKET_ACL_TYPES:
        what = f"Bucket ACL '{args.name}'"
        grants = _get(_get(args.props, "accessControlPolicy"), "grants")
        public_uris = _public_grant_uris(args.urn, "accessControlPolicy.grants", grants, "grantee")
    elif kind in types.BUCKET_OBJECT_TYPES:
        what = f"Object '{args.name}'"
        public_uris = _public_grant_uris(args.urn, "grants", _get(args.props, "grants"), None)
    else:
        return

    acl = _get(args.props, "acl")
    if _check_known(args.urn, "acl", acl) and isinstance(acl, str) and acl in PUBLIC_CANNED_ACLS:
        report_violation(
            f"{what} uses the canned ACL '{acl}', which grants access to everyone. Remove `acl` (or use "
            "'private'): the site is served through CloudFront with Origin Access Control.",
            None,
        )
    for uri in public_uris:
        report_violation(
            f"{what} grants access to the group {uri}. Remove that grant: the site is served through "
            "CloudFront with Origin Access Control.",
            None,
        )


# ---------------------------------------------------------------------------------------------------
# No bucket policy statement open to everyone without a source condition

# IAM condition keys are case-insensitive; either one ties a service principal to our resources.
SOURCE_CONDITION_KEYS = frozenset({"aws:sourcearn", "aws:sourceaccount"})


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(item == "*" for item in _elements(_get(principal, "AWS")))
    return False


def _has_source_condition(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator in condition:
        keys = _get(condition, operator)
        if isinstance(keys, Mapping) and any(str(key).lower() in SOURCE_CONDITION_KEYS for key in keys):
            return True
    return False


def _policy_document(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except ValueError:
            return None
        return document if isinstance(document, Mapping) else None
    return None


def open_statements(document: Mapping[str, Any], urn: str = "") -> list[str]:
    """Labels (Sid or index) of the Allow statements open to everyone without a source condition;
    the parts it cannot read are recorded as not checked on `urn`."""
    found: list[str] = []
    statements = _get(document, "Statement")
    if not _check_known(urn, "policy.Statement", statements):
        return found
    for index, statement in enumerate(_elements(statements)):
        path = f"policy.Statement[{index}]"
        effect = _get(statement, "Effect")
        if not _check_known(urn, path, statement) or not _check_known(urn, f"{path}.Effect", effect):
            continue
        if effect != "Allow":
            continue
        principal = _get(statement, "Principal")
        not_principal = _get(statement, "NotPrincipal")
        if not (
            _check_known(urn, f"{path}.Principal", principal)
            and _check_known(urn, f"{path}.NotPrincipal", not_principal)
        ):
            continue
        # `Allow` with `NotPrincipal` grants everyone who is not listed.
        open_to_all = _is_everyone(principal) or _has_content(not_principal)
        condition = _get(statement, "Condition")
        if (
            open_to_all
            and _check_known(urn, f"{path}.Condition", condition)
            and not _has_source_condition(condition)
        ):
            sid = _get(statement, "Sid")
            found.append(repr(sid) if isinstance(sid, str) and sid else f"#{index}")
    return found


def no_open_bucket_policy_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in types.BUCKET_POLICY_TYPES | types.BUCKET_TYPES:
        return
    value = _get(args.props, "policy")
    if value is None or not _check_known(args.urn, "policy", value):
        return
    document = _policy_document(value)
    if document is None:
        not_checked(args.urn, "policy (not a JSON object)")
        return
    for label in open_statements(document, args.urn):
        report_violation(
            f"Bucket policy of '{args.name}': statement {label} allows Principal \"*\" without an "
            "AWS:SourceArn or AWS:SourceAccount condition, so anyone can use it. Grant "
            '{"Service": "cloudfront.amazonaws.com"} instead, with Condition '
            '{"StringEquals": {"AWS:SourceArn": <distribution ARN>}}.',
            None,
        )


# ---------------------------------------------------------------------------------------------------
# CloudFront: S3 origins use Origin Access Control, viewers use HTTPS

_S3_WEBSITE_DOMAIN_RE = re.compile(r"\.s3-website[.-][a-z0-9.-]*amazonaws\.com(\.cn)?$")
_S3_REST_DOMAIN_RE = re.compile(r"\.s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$")


def _cache_behaviors(urn: str, props: Any) -> Iterator[tuple[str, str, Any]]:
    """(property path, label, behavior) of each known cache behavior; unknown ones are not checked."""
    default = _get(props, "defaultCacheBehavior")
    if _check_known(urn, "defaultCacheBehavior", default):
        yield "defaultCacheBehavior", "default cache behavior", default
    ordered = _get(props, "orderedCacheBehaviors")
    if not _check_known(urn, "orderedCacheBehaviors", ordered):
        return
    for index, behavior in enumerate(_elements(ordered)):
        path = f"orderedCacheBehaviors[{index}]"
        if not _check_known(urn, path, behavior):
            continue
        pattern = _get(behavior, "pathPattern")
        label = (
            f"cache behavior {pattern!r}"
            if isinstance(pattern, str)
            else "cache behavior with an unknown path pattern"
        )
        yield path, label, behavior


def _origins(urn: str, props: Any) -> Iterator[tuple[str, Any]]:
    """(property path, origin) of each known origin of a distribution."""
    origins = _get(props, "origins")
    if not _check_known(urn, "origins", origins):
        return
    for index, origin in enumerate(_elements(origins)):
        if _check_known(urn, f"origins[{index}]", origin):
            yield f"origins[{index}]", origin


def _origin_problem(urn: str, path: str, origin: Any) -> str | None:
    """What is wrong with one origin of a distribution, or None."""
    domain = _get(origin, "domainName")
    custom = _get(origin, "customOriginConfig")
    s3_config = _get(origin, "s3OriginConfig")
    # An unknown domain is recorded; it is not a str below.
    _check_known(urn, f"{path}.domainName", domain)
    if isinstance(domain, str) and _S3_WEBSITE_DOMAIN_RE.search(domain):
        return (
            f"uses the S3 website endpoint {domain} as an origin, which needs a public bucket. Use "
            "the bucket's REST endpoint (bucket_regional_domain_name) as an S3 origin with "
            "origin_access_control_id"
        )
    if not (
        _check_known(urn, f"{path}.customOriginConfig", custom)
        and _check_known(urn, f"{path}.s3OriginConfig", s3_config)
    ):
        return None
    if custom is not None:
        if isinstance(domain, str) and _S3_REST_DOMAIN_RE.search(domain):
            return (
                f"reaches the S3 endpoint {domain} as a custom origin, so CloudFront cannot sign its "
                "requests and the bucket must be public. Drop custom_origin_config and set "
                "origin_access_control_id"
            )
        return None
    # Without a custom origin config the provider sends an S3 origin config, with an empty legacy
    # identity when none is given.
    identity = _get(s3_config, "originAccessIdentity")
    if not _check_known(urn, f"{path}.s3OriginConfig.originAccessIdentity", identity):
        return None
    if isinstance(identity, str) and identity:
        return (
            "uses a legacy origin access identity. Replace it with an aws.cloudfront.OriginAccessControl "
            "(origin_access_control_id) and an empty origin_access_identity"
        )
    control = _get(origin, "originAccessControlId")
    if not _check_known(urn, f"{path}.originAccessControlId", control) or (
        isinstance(control, str) and control
    ):
        return None
    return (
        "has no origin access control, so CloudFront reads the bucket anonymously (an empty legacy "
        "identity). Set origin_access_control_id to an aws.cloudfront.OriginAccessControl with "
        "origin_access_control_origin_type='s3' and signing_behavior='always'"
    )


def _origin_label(origin: Any) -> str:
    origin_id = _get(origin, "originId")
    return repr(origin_id) if isinstance(origin_id, str) else "(unknown id)"


def cloudfront_s3_origin_oac_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
        return
    for path, origin in _origins(args.urn, args.props):
        problem = _origin_problem(args.urn, path, origin)
        if problem:
            report_violation(f"Distribution '{args.name}': origin {_origin_label(origin)} {problem}.", None)


def cloudfront_https_only_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
        return
    for path, label, behavior in _cache_behaviors(args.urn, args.props):
        policy = _get(behavior, "viewerProtocolPolicy")
        if _check_known(args.urn, f"{path}.viewerProtocolPolicy", policy) and policy == "allow-all":
            report_violation(
                f"Distribution '{args.name}': the {label} lets viewers use plain HTTP "
                "(viewer_protocol_policy='allow-all'). Set viewer_protocol_policy='redirect-to-https' "
                "(or 'https-only').",
                None,
            )


# ---------------------------------------------------------------------------------------------------
# CloudFront: viewers with a custom certificate get TLS 1.2 or newer; custom origins are reached over TLS

# CloudFront's security policies that allow neither SSLv3, TLS 1.0 nor TLS 1.1 (2021 drops weak ciphers).
MODERN_VIEWER_TLS_POLICIES = ("TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")


def cloudfront_viewer_tls_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
        return
    certificate = _get(args.props, "viewerCertificate")
    if not _check_known(args.urn, "viewerCertificate", certificate):
        return
    acm = _get(certificate, "acmCertificateArn")
    iam = _get(certificate, "iamCertificateId")
    if not (
        _check_known(args.urn, "viewerCertificate.acmCertificateArn", acm)
        and _check_known(args.urn, "viewerCertificate.iamCertificateId", iam)
    ):
        return
    # With the default *.cloudfront.net certificate CloudFront fixes the policy (TLSv1); nothing to set.
    if not (acm or iam):
        return
    minimum = _get(certificate, "minimumProtocolVersion")
    if not _check_known(args.urn, "viewerCertificate.minimumProtocolVersion", minimum):
        return
    if minimum not in MODERN_VIEWER_TLS_POLICIES:
        shown = repr(minimum) if isinstance(minimum, str) else "unset (TLSv1)"
        report_violation(
            f"Distribution '{args.name}' serves its custom certificate with minimum_protocol_version "
            f"{shown}, which lets viewers negotiate TLS 1.0 or 1.1. Set minimum_protocol_version="
            f"'{MODERN_VIEWER_TLS_POLICIES[0]}' (or newer).",
            None,
        )


def cloudfront_custom_origin_tls_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
        return
    for path, origin in _origins(args.urn, args.props):
        custom = _get(origin, "customOriginConfig")
        if not _check_known(args.urn, f"{path}.customOriginConfig", custom) or custom is None:
            continue
        label = f"Distribution '{args.name}': custom origin {_origin_label(origin)}"
        protocol = _get(custom, "originProtocolPolicy")
        if _check_known(args.urn, f"{path}.customOriginConfig.originProtocolPolicy", protocol) and (
            protocol != "https-only"
        ):
            report_violation(
                f"{label} is reached with origin_protocol_policy={protocol!r}, so requests and content "
                "cross the internet unencrypted. Set origin_protocol_policy='https-only'.",
                None,
            )
        protocols = _get(custom, "originSslProtocols")
        if not _check_known(args.urn, f"{path}.customOriginConfig.originSslProtocols", protocols):
            continue
        weak = sorted(p for p in _elements(protocols) if isinstance(p, str) and p != "TLSv1.2")
        if weak:
            report_violation(
                f"{label} allows {', '.join(weak)} towards the origin. Set origin_ssl_protocols=['TLSv1.2'].",
                None,
            )


# ---------------------------------------------------------------------------------------------------
# Lambda@Edge associations use a numbered version

_NUMBERED_VERSION_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+:\d+$"
)


def _edge_arn_problem(arn: str) -> str | None:
    if _NUMBERED_VERSION_ARN_RE.match(arn):
        return None
    if arn.endswith(":$LATEST"):
        return "points at $LATEST"
    if re.match(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$", arn):
        return "is an unqualified function ARN"
    if re.match(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$", arn):
        return "points at an alias"
    return "is not a Lambda function version ARN"


def lambda_edge_numbered_version_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
        return
    for path, label, behavior in _cache_behaviors(args.urn, args.props):
        associations = _get(behavior, "lambdaFunctionAssociations")
        if not _check_known(args.urn, f"{path}.lambdaFunctionAssociations", associations):
            continue
        for index, association in enumerate(_elements(associations)):
            arn = _get(association, "lambdaArn")
            if not isinstance(arn, str):
                # Unknown until the function version is published (or not a plain string).
                not_checked(args.urn, f"{path}.lambdaFunctionAssociations[{index}].lambdaArn")
                continue
            problem = _edge_arn_problem(arn)
            if problem:
                event = _get(association, "eventType")
                event_label = f" {event}" if isinstance(event, str) else ""
                report_violation(
                    f"Distribution '{args.name}': the{event_label} Lambda@Edge association of the {label} "
                    f"{problem} ({arn}); Lambda@Edge needs a numbered version. Create the function with "
                    "publish=True and pass its qualified_arn.",
                    None,
                )


# ---------------------------------------------------------------------------------------------------
# CloudFront Functions: published, on the runtime that reads a KeyValueStore; associations run LIVE code

_CLOUDFRONT_FUNCTION_ARN_RE = re.compile(r"^arn:aws[a-z-]*:cloudfront::\d{12}:function/[A-Za-z0-9_-]{1,64}$")


def _function_problems(urn: str, props: Any) -> list[str]:
    """What keeps a CloudFront Function from running as written: unpublished, or a store it cannot read."""
    problems = []
    publish = _get(props, "publish")
    if _check_known(urn, "publish", publish) and publish is False:
        problems.append(
            "is not published (publish=False): distributions run only a function's LIVE stage, so they "
            "keep its previous code, or cannot use a new function at all. Set publish=True"
        )
    stores = _get(props, "keyValueStoreAssociations")
    runtime = _get(props, "runtime")
    if _check_known(urn, "keyValueStoreAssociations", stores) and stores:
        count = len(list(_elements(stores)))
        if count > 1:
            problems.append(f"is associated with {count} KeyValueStores; AWS allows one per function")
        if _check_known(urn, "runtime", runtime) and runtime != types.CLOUDFRONT_FUNCTION_KVS_RUNTIME:
            problems.append(
                f"reads a KeyValueStore on runtime {runtime!r}, which has no `cloudfront` module. "
                f"Set runtime={types.CLOUDFRONT_FUNCTION_KVS_RUNTIME!r}"
            )
    return problems


def cloudfront_function_live_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in types.CLOUDFRONT_FUNCTION_TYPES:
        return
    for problem in _function_problems(args.urn, args.props):
        report_violation(f"CloudFront Function '{args.name}' {problem}.", None)


def _function_associations(urn: str, props: Any) -> Iterator[tuple[str, str, Any]]:
    """(property path, label, association) of each known function association of a distribution."""
    for path, label, behavior in _cache_behaviors(urn, props):
        associations = _get(behavior, "functionAssociations")
        if not _check_known(urn, f"{path}.functionAssociations", associations):
            continue
        for index, association in enumerate(_elements(associations)):
            if _check_known(urn, f"{path}.functionAssociations[{index}]", association):
                yield f"{path}.functionAssociations[{index}]", label, association


def _associated_functions(distribution: PolicyResource) -> list[PolicyResource]:
    """The CloudFront Functions of the stack that `distribution`'s cache behaviors were given: its
    property dependencies there (a function's ARN is an output, unknown before it exists)."""
    linked = [
        *distribution.property_dependencies.get("defaultCacheBehavior", []),
        *distribution.property_dependencies.get("orderedCacheBehaviors", []),
    ]
    if not distribution.property_dependencies:
        linked = list(distribution.dependencies)
    return [r for r in linked if r.resource_type in types.CLOUDFRONT_FUNCTION_TYPES]


def cloudfront_function_association_live_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for distribution in args.resources:
        if distribution.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
            continue
        for _path, label, association in _function_associations(distribution.urn, distribution.props):
            arn = _get(association, "functionArn")
            if isinstance(arn, str) and not _CLOUDFRONT_FUNCTION_ARN_RE.match(arn):
                report_violation(
                    f"Distribution '{distribution.name}': the {_get(association, 'eventType')} function of "
                    f"the {label} is {arn}, not a CloudFront Function ARN. Pass an aws.cloudfront.Function's "
                    "arn (a Lambda function belongs in lambda_function_associations).",
                    distribution.urn,
                )
        for function in _associated_functions(distribution):
            publish = _get(function.props, "publish")
            if _check_known(function.urn, "publish", publish) and publish is False:
                report_violation(
                    f"Distribution '{distribution.name}' associates CloudFront Function '{function.name}', "
                    "which is not published: CloudFront runs only a LIVE stage, so the distribution would "
                    "run its previous code, or refuse the association. Create it with publish=True.",
                    distribution.urn,
                )


# ---------------------------------------------------------------------------------------------------
# A VersionedStaticSite applies the version once, and viewers get the version its record says


def _site_of(resource: PolicyResource) -> str | None:
    """The URN of the VersionedStaticSite `resource` belongs to (through its parents), or None. When
    the parents are not given (the URN names the component's type, not which one), the type token:
    the stack's sites count as one rather than being skipped."""
    parent = resource.parent
    while parent is not None:
        if parent.resource_type == types.VERSIONED_SITE_COMPONENT_TYPE:
            return parent.urn
        parent = parent.parent
    in_site = types.VERSIONED_SITE_COMPONENT_TYPE in _parent_types(resource.urn)
    return types.VERSIONED_SITE_COMPONENT_TYPE if in_site else None


def versioned_site_one_router_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for distribution in args.resources:
        if (
            distribution.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES
            or _site_of(distribution) is None
        ):
            continue
        # A viewer-request function that reads no KeyValueStore does not apply the live version (the
        # host redirect, edge_function/host_redirect.py): beside Lambda@Edge it is no second router.
        associated = _associated_functions(distribution)
        only_redirects = bool(associated) and not any(
            _has_content(_get(f.props, "keyValueStoreAssociations")) for f in associated
        )
        for _path, label, behavior in _cache_behaviors(distribution.urn, distribution.props):
            functions = [_get(a, "eventType") for a in _elements(_get(behavior, "functionAssociations"))]
            lambdas = [_get(a, "eventType") for a in _elements(_get(behavior, "lambdaFunctionAssociations"))]
            if "viewer-request" in functions and "origin-request" in lambdas and not only_redirects:
                report_violation(
                    f"Distribution '{distribution.name}': the {label} has both routers, a viewer-request "
                    "CloudFront Function and an origin-request Lambda@Edge function; each prefixes the "
                    "live version, so every path would get it twice. "
                    f"Set {_project_of(distribution.urn)}:router to one.",
                    distribution.urn,
                )
    pointers = {
        _site_of(r): _get(r.props, "insecureValue") or _get(r.props, "value")
        for r in args.resources
        if is_pointer_parameter(r.resource_type, r.urn, r.props)
    }
    keys = [r for r in args.resources if r.resource_type in types.CLOUDFRONT_KEY_VALUE_STORE_KEY_TYPES]
    for key in keys:
        # A key outside every site (None) is the program's own: no pointer is keyed None.
        site = _site_of(key)
        if site not in pointers or _get(key.props, "key") != types.LIVE_VERSION_KEY:
            continue
        value, pointer = _get(key.props, "value"), pointers[site]
        if not (_check_known(key.urn, "value", value) and _check_known(key.urn, "pointer value", pointer)):
            continue
        if value != pointer:
            report_violation(
                f"KeyValueStore key '{key.name}' gives viewers {value!r} while the pointer parameter, the "
                f"record sitectl and the guards read, holds {pointer!r}. Set the key's value from the "
                "pointer parameter (its insecure_value), so one update changes both.",
                key.urn,
            )


# ---------------------------------------------------------------------------------------------------
# Advisory: the pointer parameter holds a valid version or the "no version released" sentinel


def is_pointer_parameter(resource_type: str, urn: str, props: Any) -> bool:
    """The live-version pointer of a VersionedStaticSite: named `.../live-version`, child of the site."""
    if resource_type not in types.SSM_PARAMETER_TYPES:
        return False
    name = _get(props, "name")
    return (
        isinstance(name, str)
        and name.endswith(types.POINTER_PARAMETER_NAME_SUFFIX)
        and types.VERSIONED_SITE_COMPONENT_TYPE in _parent_types(urn)
    )


def pointer_value_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_pointer_parameter(args.resource_type, args.urn, args.props):
        in_site = types.VERSIONED_SITE_COMPONENT_TYPE in _parent_types(args.urn)
        if in_site and args.resource_type in types.SSM_PARAMETER_TYPES:
            # A parameter of the site whose name is unknown may be the pointer.
            _check_known(args.urn, "name", _get(args.props, "name"))
        return
    value = _get(args.props, "value")
    key = "value"
    if value is None:
        value, key = _get(args.props, "insecureValue"), "insecureValue"
    if not _check_known(args.urn, key, value):
        return
    if not (value == layout.NO_VERSION_RELEASED or layout.is_valid_version(value)):
        report_violation(
            f"Pointer parameter '{args.name}' holds {value!r}, which is neither a version id "
            f"({layout.VERSION_FORMAT}) nor {layout.NO_VERSION_RELEASED!r} (nothing released); the edge "
            f"function will answer 503. Set {_project_of(args.urn)}:version to an uploaded version (`sitectl "
            "release`) or to an empty string.",
            None,
        )


# ---------------------------------------------------------------------------------------------------

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="s3-no-website-hosting",
        description="S3 buckets must not use static website hosting (public, plain HTTP, no OAC).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=no_s3_website_hosting_validator,
    ),
    StackValidationPolicy(
        name="s3-bucket-public-access-block",
        description="Every S3 bucket has a public access block with all four settings true.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=s3_public_access_block_validator,
    ),
    StackValidationPolicy(
        name="s3-bucket-encryption",
        description="Every S3 bucket declares its default encryption at rest (SSE-S3 or SSE-KMS); advisory, "
        "since S3 applies SSE-S3 to every bucket that declares none.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=s3_bucket_encryption_validator,
    ),
    ResourceValidationPolicy(
        name="s3-no-public-acl",
        description="No bucket or object ACL grants access to everyone or to any AWS account.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=no_public_acl_validator,
    ),
    ResourceValidationPolicy(
        name="s3-no-open-bucket-policy",
        description='No bucket policy allows Principal "*" without an AWS:SourceArn or AWS:SourceAccount '
        "condition.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=no_open_bucket_policy_validator,
    ),
    ResourceValidationPolicy(
        name="cloudfront-s3-origin-oac",
        description="Every S3 origin of a CloudFront distribution uses Origin Access Control.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_s3_origin_oac_validator,
    ),
    ResourceValidationPolicy(
        name="cloudfront-https-only",
        description="CloudFront never serves viewers over plain HTTP.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_https_only_validator,
    ),
    ResourceValidationPolicy(
        name="cloudfront-viewer-tls",
        description="A distribution with a custom certificate accepts viewers on TLS 1.2 or newer only.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_viewer_tls_validator,
    ),
    ResourceValidationPolicy(
        name="cloudfront-custom-origin-tls",
        description="CloudFront reaches every custom origin over HTTPS with TLS 1.2 only.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_custom_origin_tls_validator,
    ),
    ResourceValidationPolicy(
        name="lambda-edge-numbered-version",
        description="Lambda@Edge associations use a numbered function version ARN.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=lambda_edge_numbered_version_validator,
    ),
    ResourceValidationPolicy(
        name="cloudfront-function-live",
        description="CloudFront Functions are published, and read a KeyValueStore only on cloudfront-js-2.0, "
        "one store each.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_function_live_validator,
    ),
    StackValidationPolicy(
        name="cloudfront-function-association-live",
        description="Distributions associate CloudFront Function ARNs whose function has a LIVE stage.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_function_association_live_validator,
    ),
    StackValidationPolicy(
        name="versioned-site-one-router",
        description="A VersionedStaticSite's behaviors apply the live version once (one router), and its "
        "KeyValueStore key holds the pointer parameter's value.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=versioned_site_one_router_validator,
    ),
    ResourceValidationPolicy(
        name="pointer-parameter-valid-version",
        description="The live-version pointer holds a version id or the 'no version released' sentinel.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=pointer_value_validator,
    ),
]

# A custom domain's certificate and records, access logs (policy/domain_policies.py).
from policy import domain_policies  # noqa: E402  (it uses this module's helpers)

POLICIES.extend(domain_policies.DOMAIN_POLICIES)


# ---------------------------------------------------------------------------------------------------
# Under the Pulumi CLI: what a policy could not read becomes the engine's own "can't run" note


class _NotCheckedError(UnknownValueError):
    """Raised after a validator ran to its end: pulumi_policy keeps the violations it reported and adds
    an advisory "can't run policy ... during preview: <message>" diagnostic, as for a proxy's unknown."""

    def __init__(self, missed: Sequence[tuple[str, str]]) -> None:
        super().__init__(UNKNOWN_STRING_VALUE, [prop for _, prop in missed])
        where = ", ".join(f"{urn.split('::')[-1]}.{prop}" for urn, prop in missed)
        self.message = f"not checked (unknown or not a plain value): {where}"


def _noting_not_checked(validate: Callable[..., Any]) -> Callable[..., None]:
    def validate_and_note(args: Any, report_violation: ReportViolation) -> None:
        missed: list[tuple[str, str]] = []
        with reporting_not_checked(lambda urn, prop: missed.append((urn, prop))):
            validate(args, report_violation)
        if missed:
            raise _NotCheckedError(missed)

    return validate_and_note


def engine_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """POLICIES as the pack serves them to the engine: each also reports, as an advisory note, the
    values it could not check (during `pulumi preview`; `pulumi up` knows them)."""
    served: list[ResourceValidationPolicy | StackValidationPolicy] = []
    for policy in POLICIES:
        kind = type(policy)
        served.append(
            kind(
                name=policy.name,
                description=policy.description,
                enforcement_level=policy.enforcement_level,
                validate=_noting_not_checked(policy.validate),
            )
        )
    return served
