"""The benchmark's moto server lists from a sorted index (`bench/moto_listing.py`): the same pages,
keys and continuation tokens as moto's own ListObjectsV2, after keys are added and removed too."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench import moto_listing

BUCKET = "listing-bench"


def _pages(s3: Any, **kwargs: Any) -> list[tuple[list[str], bool, str | None]]:
    pages = []
    token = None
    while True:
        page = s3.list_objects_v2(
            Bucket=BUCKET, MaxKeys=16, **kwargs, **({"ContinuationToken": token} if token else {})
        )
        keys = [item["Key"] for item in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        pages.append((keys, page["IsTruncated"], token))
        if not token:
            return pages


LISTINGS: list[dict[str, str]] = [
    {},
    {"Prefix": "_assets/"},
    {"Prefix": "v1/docs/"},
    {"Prefix": "v1/docs/", "StartAfter": "v1/docs/page-0017.html"},
    {"Prefix": "absent/"},
    {"StartAfter": "v1/"},
]


def test_indexed_listing_answers_what_moto_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    names = [f"v1/docs/page-{i:04d}.html" for i in range(60)]
    names += [f"_assets/chunk-{i:03d}.{rng.getrandbits(32):08x}.js" for i in range(45)]
    names += [f"_claims/{i}.json" for i in range(5)]
    rng.shuffle(names)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for name in names[:80]:
            s3.put_object(Bucket=BUCKET, Key=name, Body=b"x")
        expected = [_pages(s3, **listing) for listing in LISTINGS]
        with_delimiter = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")["CommonPrefixes"]

        for owner, attribute, replacement in moto_listing.patches():
            monkeypatch.setattr(owner, attribute, replacement)
        assert [_pages(s3, **listing) for listing in LISTINGS] == expected
        assert s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")["CommonPrefixes"] == with_delimiter

        # Keys added, overwritten and deleted after the index was built: listed as moto would.
        for name in names[80:]:
            s3.put_object(Bucket=BUCKET, Key=name, Body=b"y")
        s3.put_object(Bucket=BUCKET, Key=names[0], Body=b"z")
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": name} for name in names[1:30]]})
        s3.delete_object(Bucket=BUCKET, Key=names[30])
        after = [_pages(s3, **listing) for listing in LISTINGS]
        monkeypatch.undo()
        assert [_pages(s3, **listing) for listing in LISTINGS] == after
        assert {key for keys, _, _ in after[0] for key in keys} == set(names) - set(names[1:31])
