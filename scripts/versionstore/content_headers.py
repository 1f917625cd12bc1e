"""Content-Type and Cache-Control of the files of a build, decided from their names alone.

The table is explicit rather than `mimetypes`, whose answers depend on the host's /etc/mime.types:
the same build must get the same headers from every machine that uploads it.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

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

_HEX_HASH = re.compile(r"^(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}$")
# Vite/Rollup style: 8 base64url characters mixing upper case, lower case and digits.
_BASE64_HASH = re.compile(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9_]{8}$")
_NAME_SEPARATORS = re.compile(r"[.-]")


def content_type_for(path: str) -> str:
    """The Content-Type of a file from its extension; `application/octet-stream` when unknown."""
    suffix = PurePosixPath(path).suffix.lower()
    return CONTENT_TYPES.get(suffix, DEFAULT_CONTENT_TYPE)


def is_fingerprinted(path: str) -> bool:
    """True when the file name carries a content hash: `app.3f2a9c1b.js`, `index-BjQ8f2Kd.css`.

    Only the name counts, not the folders. A segment after the base name qualifies when it is 8-64
    hexadecimal digits mixing digits and letters (webpack, Next.js, esbuild) or 8 base64url characters
    mixing upper case, lower case and digits (Vite, Rollup); a whole name of 16+ such hex digits too.
    """
    name = PurePosixPath(path).name
    first, *rest = _NAME_SEPARATORS.split(name.rsplit(".", 1)[0])
    if len(first) >= 16 and _HEX_HASH.match(first):  # a chunk named by its hash alone
        return True
    return any(_HEX_HASH.match(s) or _BASE64_HASH.match(s) for s in rest)


def cache_control_for(path: str) -> str:
    """Immutable for a year when fingerprinted, revalidated otherwise; HTML is always revalidated."""
    if content_type_for(path).startswith("text/html"):
        return REVALIDATE_CACHE_CONTROL
    return IMMUTABLE_CACHE_CONTROL if is_fingerprinted(path) else REVALIDATE_CACHE_CONTROL
