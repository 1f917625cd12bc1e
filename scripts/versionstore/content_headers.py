"""Content-Type and Cache-Control of the files of a build, decided from their names alone.

The table is explicit rather than `mimetypes`, whose answers depend on the host's /etc/mime.types:
the same build must get the same headers from every machine that uploads it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# The classifier lives in the edge bundle: the edge function must agree with it (shared asset area).
from edge_lambda.fingerprint import is_fingerprinted, is_immutable_asset

__all__ = ["cache_control_for", "content_type_for", "is_fingerprinted"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".avif": "image/avif",
    ".webp": "image/webp",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}

# A fingerprinted file never changes under its name, so browsers and CloudFront may keep it a year.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
# Everything else (HTML above all: it names the fingerprinted assets) is revalidated on every use,
# so a release or rollback shows at once; revalidation of an unchanged object costs only a 304.
REVALIDATE_CACHE_CONTROL = "public, max-age=0, must-revalidate"


def content_type_for(path: str) -> str:
    """The Content-Type of a file from its extension; `application/octet-stream` when unknown."""
    suffix = PurePosixPath(path).suffix.lower()
    return CONTENT_TYPES.get(suffix, DEFAULT_CONTENT_TYPE)


def cache_control_for(path: str) -> str:
    """Immutable for a year when fingerprinted, revalidated otherwise; HTML is always revalidated."""
    return IMMUTABLE_CACHE_CONTROL if is_immutable_asset(path) else REVALIDATE_CACHE_CONTROL
