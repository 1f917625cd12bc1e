"""The guards every bucket of a site carries: owner-enforced (no ACLs), public access blocked, SSE-S3.

The version bucket (`site.py`) and the access-log bucket (`access_logs.py`) both call this, so the two
stay alike. Resource names are `<prefix>-ownership`, `<prefix>-public-access-block` and
`<prefix>-encryption`, as deployed stacks have them (tests/test_protection.py pins their URNs).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass
class PrivateBucketGuards:
    ownership: aws.s3.BucketOwnershipControls
    public_access_block: aws.s3.BucketPublicAccessBlock
    """What a bucket policy must wait for: one written before the block could be judged public and refused."""


def private_bucket_guards(
    prefix: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions, *, bucket_key: bool
) -> PrivateBucketGuards:
    """`bucket`'s ownership controls, public access block and default encryption, created with `opts`
    (the bucket as parent, and whether destroy keeps them). `bucket_key`: S3 Bucket Keys for SSE-S3."""
    ownership = aws.s3.BucketOwnershipControls(
        f"{prefix}-ownership",
        bucket=bucket.id,
        # No ACLs: OAC reads and log delivery v2 writes without them.
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    public_access_block = aws.s3.BucketPublicAccessBlock(
        f"{prefix}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{prefix}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                # SSE-S3, not SSE-KMS: OAC reads, and the log delivery service writes, SSE-KMS objects
                # only with a key policy for them.
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                ),
                # Unset rather than False when off, so the log bucket's settings stay as deployed.
                bucket_key_enabled=True if bucket_key else None,
            )
        ],
        opts=opts,
    )
    return PrivateBucketGuards(ownership=ownership, public_access_block=public_access_block)
