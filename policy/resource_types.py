"""Every resource type token the policies look at, matched to the pinned pulumi-aws (7.51).

pulumi-aws 7 renamed several S3 resources and kept the old classes as deprecated aliases that still
register under their own tokens (e.g. `aws.s3.BucketV2` registers `aws:s3/bucketV2:BucketV2`), so each
group lists the current token first and then every deprecated one a program can still create.
"""

from __future__ import annotations

import edge_function.code
from edge_lambda import layout

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})

BUCKET_WEBSITE_CONFIGURATION_TYPES = frozenset(
    {
        "aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration",
        "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2",
    }
)

BUCKET_PUBLIC_ACCESS_BLOCK_TYPES = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})

BUCKET_ENCRYPTION_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)

BUCKET_ACL_TYPES = frozenset({"aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"})

# `aws:s3/BucketObject:BucketObject` is the alias pulumi-aws still declares for old state.
BUCKET_OBJECT_TYPES = frozenset(
    {
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:s3/bucketObject:BucketObject",
        "aws:s3/BucketObject:BucketObject",
        "aws:s3/objectCopy:ObjectCopy",
    }
)

BUCKET_POLICY_TYPES = frozenset({"aws:s3/bucketPolicy:BucketPolicy"})

CLOUDFRONT_DISTRIBUTION_TYPES = frozenset({"aws:cloudfront/distribution:Distribution"})

SSM_PARAMETER_TYPES = frozenset({"aws:ssm/parameter:Parameter"})

CLOUDFRONT_FUNCTION_TYPES = frozenset({"aws:cloudfront/function:Function"})

CLOUDFRONT_KEY_VALUE_STORE_KEY_TYPES = frozenset({"aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"})

# The only runtime that can read a KeyValueStore (cloudfront-js-1.0 has no `cloudfront` module).
CLOUDFRONT_FUNCTION_KVS_RUNTIME = "cloudfront-js-2.0"
# The store key that holds a site's live version.
LIVE_VERSION_KEY = edge_function.code.LIVE_VERSION_KEY

# The project's component, which owns the pointer parameter (see components/site.py).
VERSIONED_SITE_COMPONENT_TYPE = "versioned-site:index:VersionedStaticSite"
# The pointer parameter is named `/<project>/<stack>/live-version` (edge_lambda.layout).
POINTER_PARAMETER_NAME_SUFFIX = layout.POINTER_NAME_SUFFIX

# A custom domain (components/domain.py) and access logs (components/access_logs.py).
ACM_CERTIFICATE_TYPES = frozenset({"aws:acm/certificate:Certificate"})
ACM_CERTIFICATE_VALIDATION_TYPES = frozenset({"aws:acm/certificateValidation:CertificateValidation"})
ROUTE53_RECORD_TYPES = frozenset({"aws:route53/record:Record"})
BUCKET_OWNERSHIP_CONTROLS_TYPES = frozenset({"aws:s3/bucketOwnershipControls:BucketOwnershipControls"})
LOG_DELIVERY_DESTINATION_TYPES = frozenset({"aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination"})
# CloudFront takes ACM certificates from this region only.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
# The Route 53 hosted zone of every CloudFront distribution, for alias records.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
