"""Policies for a site's custom domain and access logs: the certificate CloudFront uses is in us-east-1,
every alias record to CloudFront points at a distribution of this stack under one of its names, access
logs go to a destination without ACLs (and never through the legacy logging config, which needs them).

The helpers (`_get`, `_elements`, `_check_known`, `not_checked`) are `site_policies`'s: unknown values
are recorded as not checked, never passed silently. `site_policies.POLICIES` includes these.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
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

from policy import resource_types as types


def _base() -> ModuleType:
    """site_policies, whose POLICIES list takes these: imported on use, so either module can go first."""
    from policy import site_policies

    return site_policies


# ---------------------------------------------------------------------------------------------------
# The certificate a distribution serves is in us-east-1


def _region(resource: PolicyResource) -> Any:
    """The region a resource is created in: its own `region` input, else its provider's; UNKNOWN/None."""
    base = _base()
    own = base._get(resource.props, "region")
    if own is not None:
        return own
    if resource.provider is None:
        return None
    return base._get(resource.provider.props, "region")


def _certificates_behind(dependency: PolicyResource) -> Iterator[PolicyResource]:
    """The certificates of the stack a viewer certificate input comes from (through a validation)."""
    if dependency.resource_type in types.ACM_CERTIFICATE_TYPES:
        yield dependency
    elif dependency.resource_type in types.ACM_CERTIFICATE_VALIDATION_TYPES:
        for certificate in dependency.property_dependencies.get("certificateArn") or []:
            yield from _certificates_behind(certificate)


def cloudfront_certificate_region_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    base = _base()
    for distribution in args.resources:
        if distribution.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
            continue
        viewer = base._get(distribution.props, "viewerCertificate")
        arn = base._get(viewer, "acmCertificateArn")
        if isinstance(arn, str) and arn:
            if not arn.startswith(f"arn:aws:acm:{types.CLOUDFRONT_CERTIFICATE_REGION}:"):
                report_violation(
                    f"Distribution '{distribution.name}' serves the ACM certificate {arn}, which is not in "
                    f"{types.CLOUDFRONT_CERTIFICATE_REGION}: CloudFront takes certificates from that region "
                    "only. Request it there (a provider with region us-east-1).",
                    distribution.urn,
                )
            continue
        for dependency in distribution.property_dependencies.get("viewerCertificate") or []:
            for certificate in _certificates_behind(dependency):
                region = _region(certificate)
                if not base._check_known(certificate.urn, "region", region) or region is None:
                    if region is None:
                        base.not_checked(certificate.urn, "region")
                    continue
                if region != types.CLOUDFRONT_CERTIFICATE_REGION:
                    report_violation(
                        f"Certificate '{certificate.name}' is requested in {region}, but distribution "
                        f"'{distribution.name}' serves it: CloudFront takes ACM certificates from "
                        f"{types.CLOUDFRONT_CERTIFICATE_REGION} only. Create it with the us-east-1 provider.",
                        certificate.urn,
                    )


# ---------------------------------------------------------------------------------------------------
# Alias records to CloudFront point at a distribution of this stack, under one of its names


def _covers(alias: str, name: str) -> bool:
    """Whether a CloudFront alternate name covers the record name: equal, or `*.example.com` for one
    more label (`www.example.com`, and the record `*.example.com` itself)."""
    alias, name = alias.lower().rstrip("."), name.lower().rstrip(".")
    if alias == name:
        return True
    if alias.startswith("*."):
        suffix = alias[1:]
        label = name[: -len(suffix)] if name.endswith(suffix) else ""
        return bool(label) and "." not in label
    return False


def route53_alias_to_this_distribution_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    base = _base()
    distributions = [r for r in args.resources if r.resource_type in types.CLOUDFRONT_DISTRIBUTION_TYPES]
    for record in args.resources:
        if record.resource_type not in types.ROUTE53_RECORD_TYPES:
            continue
        aliases = base._get(record.props, "aliases")
        if not base._check_known(record.urn, "aliases", aliases):
            continue
        linked = [
            d
            for d in record.property_dependencies.get("aliases") or []
            if d.resource_type in types.CLOUDFRONT_DISTRIBUTION_TYPES
        ]
        for index, alias in enumerate(base._elements(aliases)):
            path = f"aliases[{index}]"
            zone, target = base._get(alias, "zoneId"), base._get(alias, "name")
            to_cloudfront = bool(linked) or zone == types.CLOUDFRONT_HOSTED_ZONE_ID
            if isinstance(target, str) and target.rstrip(".").endswith(".cloudfront.net"):
                to_cloudfront = True
            if not to_cloudfront:
                if zone is base.UNKNOWN and target is base.UNKNOWN:
                    base.not_checked(record.urn, f"{path}.zoneId")
                continue
            targets = linked or [
                d
                for d in distributions
                if isinstance(target, str) and base._get(d.props, "domainName") == target
            ]
            if not targets:
                if not base._check_known(record.urn, f"{path}.name", target):
                    continue
                report_violation(
                    f"Record '{record.name}' points at the CloudFront distribution {target}, which is not in "
                    "this stack: a record to a distribution you do not manage serves whatever it serves (or "
                    "becomes a takeover once it is deleted). Point it at this stack's distribution "
                    "(distribution.domain_name, distribution.hosted_zone_id).",
                    record.urn,
                )
                continue
            name = base._get(record.props, "name")
            if not base._check_known(record.urn, "name", name) or not isinstance(name, str):
                continue
            for distribution in targets:
                served = base._get(distribution.props, "aliases")
                if not base._check_known(distribution.urn, "aliases", served):
                    continue
                names = [a for a in base._elements(served) if isinstance(a, str)]
                if not any(_covers(a, name) for a in names):
                    report_violation(
                        f"Record '{record.name}' sends {name} to distribution '{distribution.name}', which "
                        f"does not list it among its aliases ({', '.join(names) or 'none'}): CloudFront "
                        "refuses requests for that name. Add it to domainNames (the distribution's "
                        "aliases) or remove the record.",
                        record.urn,
                    )


# ---------------------------------------------------------------------------------------------------
# Access logs: a destination without ACLs, and no legacy logging config


def cloudfront_no_legacy_logging_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    base = _base()
    if args.resource_type not in types.CLOUDFRONT_DISTRIBUTION_TYPES:
        return
    logging_config = base._get(args.props, "loggingConfig")
    if base._check_known(args.urn, "loggingConfig", logging_config) and base._has_content(logging_config):
        report_violation(
            f"Distribution '{args.name}' uses the legacy standard logging (`logging_config`), which writes "
            "to the bucket through ACLs, so the bucket must allow them. Remove it and use standard logging "
            f"v2 ({base._project_of(args.urn)}:accessLogs, or "
            "aws.cloudwatch.LogDeliverySource/Destination/Delivery).",
            None,
        )


def _destination_buckets(
    destination: PolicyResource, buckets: list[PolicyResource]
) -> tuple[list[PolicyResource], Any]:
    """The stack's buckets a delivery destination writes to, and the destination's ARN."""
    base = _base()
    configuration = base._get(destination.props, "deliveryDestinationConfiguration")
    arn = base._get(configuration, "destinationResourceArn")
    linked = [
        b
        for b in destination.property_dependencies.get("deliveryDestinationConfiguration") or []
        if b.resource_type in types.BUCKET_TYPES
    ]
    if linked:
        return linked, arn
    named = [
        b for b in buckets if isinstance(arn, str) and arn == f"arn:aws:s3:::{base._get(b.props, 'bucket')}"
    ]
    return named, arn


def access_log_destination_private_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    base = _base()
    buckets = [r for r in args.resources if r.resource_type in types.BUCKET_TYPES]
    controls = [
        r
        for r in args.resources
        if r.resource_type in types.BUCKET_OWNERSHIP_CONTROLS_TYPES
        and base._get(base._get(r.props, "rule"), "objectOwnership") == "BucketOwnerEnforced"
    ]
    for destination in args.resources:
        if destination.resource_type not in types.LOG_DELIVERY_DESTINATION_TYPES:
            continue
        targets, arn = _destination_buckets(destination, buckets)
        if not targets:
            if arn is base.UNKNOWN or (isinstance(arn, str) and arn.startswith("arn:aws:s3:::")):
                # A bucket of another stack (or not known yet): its settings are not in this plan.
                base.not_checked(destination.urn, "deliveryDestinationConfiguration.destinationResourceArn")
            continue
        for bucket in targets:
            if not any(base._applies_to_bucket(c, bucket) for c in controls):
                report_violation(
                    f"Log destination '{destination.name}' writes to bucket '{bucket.name}', which does not "
                    "enforce bucket-owner ownership, so ACLs can still grant access to the logs. Add "
                    "aws.s3.BucketOwnershipControls(bucket=<bucket>.id, rule=...(object_ownership="
                    "'BucketOwnerEnforced')): standard logging v2 needs no ACLs.",
                    destination.urn,
                )


DOMAIN_POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    StackValidationPolicy(
        name="cloudfront-certificate-us-east-1",
        description="The ACM certificate a distribution serves is in us-east-1 (CloudFront takes no other).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_certificate_region_validator,
    ),
    StackValidationPolicy(
        name="route53-alias-to-this-distribution",
        description="Alias records to CloudFront point at a distribution of this stack, under one of its "
        "names.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=route53_alias_to_this_distribution_validator,
    ),
    ResourceValidationPolicy(
        name="cloudfront-no-legacy-logging",
        description="No legacy standard logging (it needs bucket ACLs); standard logging v2 instead.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=cloudfront_no_legacy_logging_validator,
    ),
    StackValidationPolicy(
        name="access-log-destination-private",
        description="An S3 access log destination of the stack enforces bucket-owner ownership (no ACLs).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=access_log_destination_private_validator,
    ),
]
