"""The CloudFront Function router (`router.js`, viewer-request, cloudfront-js-2.0) and the code that
turns it into the function's code at deploy time (`code.py`). Standard library only."""
