"""The distribution's origins, origin group and custom error responses: skew protection and the
version's own 404 page (see docs/open-pages.md, "Across a release: open pages and 404s").

Both origins are the site bucket through the same Origin Access Control; the second (the fallback)
carries an origin custom header, which Lambda@Edge sees as request.origin.s3.customHeaders, so the
edge function knows the live version missed (`edge_lambda.fallback`). A custom header rather than an
origin path: CloudFront would put an origin path in front of every key the edge asks for, and the
fallback reads keys in three places (`_assets/`, `_site/`, the live version).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from edge_function.viewer_request import FALLBACK_ORIGIN_PATH
from edge_lambda import layout
from edge_lambda.fallback import FAILOVER_STATUS_CODES
from scripts.versionstore import not_found_page

PRIMARY_ORIGIN_ID = "site-bucket"
FALLBACK_ORIGIN_ID = "site-bucket-fallback"
ORIGIN_GROUP_ID = "site-bucket-with-fallback"
# How long CloudFront caches a 404 before asking again: short, so an upload that adds the path, or a
# release, shows quickly (the switch also invalidates everything).
ERROR_CACHING_MIN_TTL_SECONDS = 10
# The 5xx codes a custom error response can configure. CloudFront caches error answers for 10 s by
# default, a response generated at origin-request included, and whatever their Cache-Control says:
# the edge's 503 ("no version released", "the live version is unavailable") would outlive the
# release or the SSM hiccup that caused it. Error caching minimum TTL 0, and no page: the viewer gets
# the answer as generated (its Retry-After), and the next request asks again.
SERVER_ERROR_STATUS_CODES = (500, 501, 502, 503, 504)
SERVER_ERROR_CACHING_MIN_TTL_SECONDS = 0
# The status of a build's 404 rule (`/old/* /gone.html 404`): its own page, never replaced.
RULE_PAGE_STATUS = 404


def fallback_origin_path(viewer_request_router: bool) -> str | None:
    """The fallback origin's origin path: none for Lambda@Edge, which rewrites the fallback's keys
    itself; `/_site` for the CloudFront Function router.

    With the function, nothing runs at origin-request: a miss reaches the fallback origin as
    `/<version>/...` (the function's rewrite) and the error page fetch as `/404.html` (CloudFront runs no
    viewer-request function for it). The origin path makes the second `_site/404.html`, the plain page,
    and leaves every other miss a miss (`_site/<version>/...` does not exist). Fingerprinted files need
    no fallback there: the function reads them from the shared area directly."""
    return FALLBACK_ORIGIN_PATH if viewer_request_router else None


def bucket_origins(
    domain_name: pulumi.Input[str],
    origin_access_control_id: pulumi.Input[str],
    fallback_origin_path: str | None = None,
) -> list[aws.cloudfront.DistributionOriginArgs]:
    """The primary origin and the fallback origin: the same bucket, the same OAC."""
    return [
        aws.cloudfront.DistributionOriginArgs(
            origin_id=PRIMARY_ORIGIN_ID,
            domain_name=domain_name,
            origin_access_control_id=origin_access_control_id,
        ),
        aws.cloudfront.DistributionOriginArgs(
            origin_id=FALLBACK_ORIGIN_ID,
            domain_name=domain_name,
            origin_access_control_id=origin_access_control_id,
            origin_path=fallback_origin_path,
            custom_headers=[
                aws.cloudfront.DistributionOriginCustomHeaderArgs(
                    name=layout.FALLBACK_ORIGIN_HEADER, value=layout.FALLBACK_ORIGIN_VALUE
                )
            ],
        ),
    ]


def origin_groups() -> list[aws.cloudfront.DistributionOriginGroupArgs]:
    """Fail over to the fallback origin on a missing key (403). CloudFront fails over only GET, HEAD and
    OPTIONS requests, and invokes the origin-request function again for the second origin."""
    return [
        aws.cloudfront.DistributionOriginGroupArgs(
            origin_id=ORIGIN_GROUP_ID,
            failover_criteria=aws.cloudfront.DistributionOriginGroupFailoverCriteriaArgs(
                status_codes=list(FAILOVER_STATUS_CODES)
            ),
            members=[
                aws.cloudfront.DistributionOriginGroupMemberArgs(origin_id=PRIMARY_ORIGIN_ID),
                aws.cloudfront.DistributionOriginGroupMemberArgs(origin_id=FALLBACK_ORIGIN_ID),
            ],
        )
    ]


def custom_error_responses() -> list[aws.cloudfront.DistributionCustomErrorResponseArgs]:
    """403 (a missing key: CloudFront may not list the bucket) answers 404 with `/404.html`, which
    CloudFront fetches through the same behavior, so through the edge: the live version's own
    404.html, else the default page. 404 has no page: only a build's 404 rule sends one (its own page,
    `edge_lambda.site_rules`), which passes as it is, cached like a miss. 5xx answers pass unchanged and
    are not cached (`SERVER_ERROR_CACHING_MIN_TTL_SECONDS`)."""
    not_found = [
        aws.cloudfront.DistributionCustomErrorResponseArgs(
            error_code=code,
            response_code=404,
            response_page_path=layout.NOT_FOUND_PAGE_PATH,
            error_caching_min_ttl=ERROR_CACHING_MIN_TTL_SECONDS,
        )
        for code in FAILOVER_STATUS_CODES
    ]
    rule_page = aws.cloudfront.DistributionCustomErrorResponseArgs(
        error_code=RULE_PAGE_STATUS, error_caching_min_ttl=ERROR_CACHING_MIN_TTL_SECONDS
    )
    server_errors = [
        aws.cloudfront.DistributionCustomErrorResponseArgs(
            error_code=code, error_caching_min_ttl=SERVER_ERROR_CACHING_MIN_TTL_SECONDS
        )
        for code in SERVER_ERROR_STATUS_CODES
    ]
    return [*not_found, rule_page, *server_errors]


def default_not_found_page(
    name: str, bucket: aws.s3.Bucket, tags: dict[str, str] | None = None
) -> aws.s3.BucketObjectv2:
    """The plain page for versions without a 404.html, outside every version prefix."""
    return aws.s3.BucketObjectv2(
        f"{name}-default-not-found-page",
        bucket=bucket.id,
        key=layout.DEFAULT_NOT_FOUND_KEY,
        content=not_found_page.DEFAULT_NOT_FOUND_HTML,
        content_type=not_found_page.CONTENT_TYPE,
        cache_control=not_found_page.CACHE_CONTROL,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=bucket),
    )
