"""versioned-site: read the stack config, build the site, export what sitectl and people need."""

from typing import Any

import pulumi
import pulumi_aws as aws

from components import VersionedStaticSite, VersionedStaticSiteArgs
from edge_lambda.layout import EDGE_REGION, pointer_parameter_name

config = pulumi.Config()

# Lambda@Edge and the pointer must live in us-east-1, whatever the stack's own region.
edge_provider = aws.Provider("edge", region=EDGE_REGION)

# Unset settings keep the defaults of VersionedStaticSiteArgs (the same as Pulumi.yaml declares).
optional: dict[str, Any] = {
    "edge_cache_ttl_seconds": config.get_int("edgeCacheTtlSeconds"),
    "spa_fallback": config.get_bool("spaFallback"),
    "price_class": config.get("priceClass"),
    "domain_names": config.get_object("domainNames"),
    "acm_certificate_arn": config.get("acmCertificateArn") or None,
    "force_destroy_bucket": config.get_bool("forceDestroyBucket"),
    "version_readers": config.get_object("versionReaders"),
}
site = VersionedStaticSite(
    "site",
    VersionedStaticSiteArgs(
        version=config.get("version") or None,
        parameter_name=pointer_parameter_name(pulumi.get_project(), pulumi.get_stack()),
        edge_provider=edge_provider,
        **{key: value for key, value in optional.items() if value is not None},
    ),
)

pulumi.export("url", site.url)
pulumi.export("distributionId", site.distribution_id)
pulumi.export("distributionDomain", site.distribution_domain)
pulumi.export("bucketName", site.bucket_name)
pulumi.export("parameterName", site.parameter_name)
pulumi.export("parameterRegion", site.parameter_region)
pulumi.export("liveVersion", site.live_version)
pulumi.export("releaseTargets", site.release_targets)
