"""A program of one's own: its certificate, its config key, and the site from the versioned-site package.

The certificate is a resource of this program, so its ARN is an Output when the component gets it. The
tests run this file under Pulumi's mocks (tests/test_examples.py)."""

import pulumi
import pulumi_aws as aws

from versioned_site import VersionedStaticSite, VersionedStaticSiteArgs, pointer_parameter_name

config = pulumi.Config()
domain_name = config.require("domainName")

# CloudFront takes certificates from us-east-1 only; Lambda@Edge and the pointer live there too.
us_east_1 = aws.Provider("us-east-1", region="us-east-1")
certificate = aws.acm.Certificate(
    "certificate",
    domain_name=domain_name,
    validation_method="DNS",
    opts=pulumi.ResourceOptions(provider=us_east_1),
)

site = VersionedStaticSite(
    "shop",
    VersionedStaticSiteArgs(
        version=config.get("version") or None,
        parameter_name=pointer_parameter_name(pulumi.get_project(), pulumi.get_stack()),
        edge_provider=us_east_1,
        domain_names=[domain_name],
        acm_certificate_arn=certificate.arn,
        spa_fallback=True,
    ),
)

# What sitectl reads from the stack (README, "Use the component from your own program").
pulumi.export("url", site.url)
pulumi.export("bucketName", site.bucket_name)
pulumi.export("distributionId", site.distribution_id)
pulumi.export("parameterName", site.parameter_name)
pulumi.export("parameterRegion", site.parameter_region)
pulumi.export("liveVersion", site.live_version)
pulumi.export("releaseTargets", site.release_targets)
pulumi.export("versionConfigKey", site.version_config_key)
pulumi.export("dnsRecords", site.dns_records)
