"""The plain not-found page for versions without their own `404.html`, at `layout.DEFAULT_NOT_FOUND_KEY`.

The component stores it with the bucket (an `aws.s3.BucketObjectv2`); the demo and the tests store it
with `put_default_not_found_page`, the same bytes and headers. The edge reads it through the fallback
origin when CloudFront's custom error response asks for `/404.html` and the live version has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge_lambda import layout
from scripts.versionstore.content_headers import REVALIDATE_CACHE_CONTROL, content_type_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

DEFAULT_NOT_FOUND_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Page not found</title></head>
<body>
  <h1>Page not found</h1>
  <p>There is nothing at this address. <a href="/">Go to the home page</a>.</p>
</body>
</html>
"""
CONTENT_TYPE = content_type_for(layout.DEFAULT_NOT_FOUND_KEY)
# Revalidated like every page: a version that brings its own 404.html takes over at once.
CACHE_CONTROL = REVALIDATE_CACHE_CONTROL


def put_default_not_found_page(s3: S3Client, bucket: str) -> None:
    """Store the page as the component does (for the demo and tests, which have no Pulumi)."""
    s3.put_object(
        Bucket=bucket,
        Key=layout.DEFAULT_NOT_FOUND_KEY,
        Body=DEFAULT_NOT_FOUND_HTML.encode(),
        ContentType=CONTENT_TYPE,
        CacheControl=CACHE_CONTROL,
    )
