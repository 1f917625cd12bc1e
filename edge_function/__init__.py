"""The CloudFront Function router (`router.js`, viewer-request, cloudfront-js-2.0) and the code that
turns it into the function's code at deploy time (`code.py`), and its rules in Python for local serving
(`viewer_request.py`). Standard library, `edge_lambda` and rjsmin (the minifier) only."""

# The stack config `router`'s values (components/site.py, `sitectl serve`): where the live version is
# applied, by a Lambda@Edge origin-request function (after the cache) or this viewer-request function.
LAMBDA_EDGE = "lambda-edge"
CLOUDFRONT_FUNCTION = "cloudfront-function"
ROUTERS = (LAMBDA_EDGE, CLOUDFRONT_FUNCTION)
