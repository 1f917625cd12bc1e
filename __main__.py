"""versioned-site: read the stack config, build the site, export what sitectl and people need."""

from typing import Any

import pulumi
import pulumi_aws as aws

from components import VersionedStaticSite, VersionedStaticSiteArgs
from edge_lambda.layout import EDGE_REGION, pointer_parameter_name

config = pulumi.Config()
aws_config = pulumi.Config("aws")

# The guards and the switch call AWS with boto3, which knows a profile but not the provider's
# assume-role settings: refuse those rather than read the pointer with other credentials.
for key in ("assumeRole", "assumeRoles", "assumeRoleWithWebIdentity"):
    if aws_config.get(key):
        raise ValueError(
            f"aws:{key} is set, but the release guards and the switch use boto3's credentials: assume the "
            "role in the environment instead (an AWS_PROFILE with role_arn, or CI's OIDC credentials) "
            f"and `pulumi config rm aws:{key}`"
        )
aws_profile = aws_config.get("profile") or None

# Lambda@Edge and the pointer must live in us-east-1, whatever the stack's own region. An explicit
# provider reads no `aws:` stack config: it gets the stack's profile here, as the default provider does.
# The same for `aws:defaultTags`: without them here, every us-east-1 resource would miss the stack's tags.
default_tags = aws_config.get_object("defaultTags") or {}
edge_provider = aws.Provider(
    "edge",
    region=EDGE_REGION,
    profile=aws_profile,
    default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags["tags"]) if default_tags.get("tags") else None,
)

# Unset settings keep the defaults of VersionedStaticSiteArgs (the same as Pulumi.yaml declares).
optional: dict[str, Any] = {
    "edge_cache_ttl_seconds": config.get_int("edgeCacheTtlSeconds"),
    "spa_fallback": config.get_bool("spaFallback"),
    "trailing_slash": config.get("trailingSlash"),
    "redirect_status": config.get_int("redirectStatus"),
    "price_class": config.get("priceClass"),
    "domain_names": config.get_object("domainNames"),
    "acm_certificate_arn": config.get("acmCertificateArn") or None,
    "hosted_zone_id": config.get("hostedZoneId") or None,
    "force_destroy_bucket": config.get_bool("forceDestroyBucket"),
    "retain_bucket_on_destroy": config.get_bool("retainBucketOnDestroy"),
    "version_readers": config.get_object("versionReaders"),
    "take_offline": config.get_bool("takeOffline"),
    "router": config.get("router"),
    "tags": config.get_object("tags"),
    "host_redirect": config.get("hostRedirect"),
    "access_logs": config.get("accessLogs"),
    "access_log_retention_days": config.get_int("accessLogRetentionDays"),
    "release_rolled_back": config.get("releaseRolledBack"),
    "canary_version": config.get("canaryVersion") or None,
    "canary_percent": config.get_int("canaryPercent"),
}
site_args = VersionedStaticSiteArgs(
    version=config.get("version") or None,
    parameter_name=pointer_parameter_name(pulumi.get_project(), pulumi.get_stack()),
    edge_provider=edge_provider,
    aws_profile=aws_profile,
    **{key: value for key, value in optional.items() if value is not None},
)
site = VersionedStaticSite("site", site_args)

pulumi.export("url", site.url)
pulumi.export("distributionId", site.distribution_id)
pulumi.export("distributionDomain", site.distribution_domain)
pulumi.export("bucketName", site.bucket_name)
pulumi.export("parameterName", site.parameter_name)
pulumi.export("parameterRegion", site.parameter_region)
pulumi.export("liveVersion", site.live_version)
pulumi.export("releaseTargets", site.release_targets)
# What `sitectl rollback --now` needs to write the live version where the routers read it, directly.
pulumi.export("pointerStoreArn", site.pointer_store_arn)
pulumi.export("edgeCacheTtlSeconds", site.edge_cache_ttl_seconds)
# The KeyValueStore value carries the version's routes, which depend on it (edge_function/code.py).
pulumi.export("spaFallback", site_args.spa_fallback)
if site_args.access_logs != "off":
    pulumi.export("accessLogDestination", site.access_log_destination)
if site_args.domain_names:
    # Without a Route 53 zone here, the records to create at the DNS provider (README, "A custom domain").
    pulumi.export("certificateValidationRecords", site.certificate_validation_records)
    pulumi.export("dnsRecords", site.dns_records)
# The config key `sitectl release` sets: the project's `version`, whatever the project is called.
pulumi.export("versionConfigKey", site.version_config_key)
# Which router serves the site: sitectl verify accepts a fingerprinted file from the shared area only
# with cloudfront-function.
pulumi.export("router", site_args.router)
# The canary (cloudfront-function router): sitectl canary, status and verify read it.
pulumi.export("canaryVersion", site_args.canary_version or "")
pulumi.export("canaryPercent", site_args.canary_percent)
