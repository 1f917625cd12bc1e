"""`versionReaders`: the one bucket policy grant a cross-account `sitectl promote` needs from its
source stack, checked on the real program under Pulumi's mocks."""

from __future__ import annotations

import json

import pytest

from policy.site_policies import open_statements
from scripts.offline.mockrun import ProgramError
from tests.pulumi_scaffold import one, run_program

PROD_DEPLOYER = "arn:aws:iam::222222222222:role/site-release"
BUCKET_ARN = "arn:aws:s3:::site-bucket-0a1b2c3"  # the ARN the mocks give the site bucket


def test_version_readers_may_list_and_read_the_bucket_and_nothing_else() -> None:
    registered = run_program({"versionReaders": json.dumps([PROD_DEPLOYER])})
    policy = json.loads(one(registered, "aws:s3/bucketPolicy:BucketPolicy").props["policy"])
    readers = [s for s in policy["Statement"] if s.get("Sid") == "VersionReadersPromote"]
    assert readers == [
        {
            "Sid": "VersionReadersPromote",
            "Effect": "Allow",
            "Principal": {"AWS": [PROD_DEPLOYER]},
            "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
            "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        }
    ]
    assert [s["Sid"] for s in policy["Statement"]] == [
        "CloudFrontReadsThroughOAC",
        "VersionReadersPromote",
        "DenyWithoutTLS",
    ]
    assert open_statements(policy) == []  # the pack's "no open bucket policy" accepts it


def test_without_version_readers_the_policy_has_no_such_grant() -> None:
    policy = json.loads(one(run_program({}), "aws:s3/bucketPolicy:BucketPolicy").props["policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["CloudFrontReadsThroughOAC", "DenyWithoutTLS"]


@pytest.mark.parametrize("reader", ["*", "222222222222", "arn:aws:iam::222222222222:root", "arn:aws:s3:::x"])
def test_a_reader_that_is_not_a_role_or_user_arn_fails_before_anything_is_created(reader: str) -> None:
    with pytest.raises(
        ProgramError, match="versionReaders entry .* is not an IAM role or user ARN"
    ) as failure:
        run_program({"versionReaders": json.dumps([reader])})
    assert isinstance(failure.value.__cause__, ValueError)
