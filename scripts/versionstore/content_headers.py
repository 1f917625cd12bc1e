"""Content-Type, Content-Encoding and Cache-Control of the files of a build, decided from their names.

The table is explicit rather than `mimetypes`, whose answers depend on the host's /etc/mime.types:
the same build must get the same headers from every machine that uploads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

# The classifier lives in the edge bundle: the edge function must agree with it (shared asset area).
from edge_lambda import layout
from edge_lambda.fingerprint import is_fingerprinted

__all__ = [
    "HeaderRules",
    "cache_control_for",
    "content_encoding_for",
    "content_type_for",
    "is_fingerprinted",
]

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
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".data": "application/octet-stream",
    ".gz": "application/gzip",
    ".zip": "application/zip",
}
# `app.js.gz` / `game.wasm.br` next to what they compress (Unity WebGL, precompressed builds): the
# type of the inner name, and the encoding the browser must undo. An inner name with no type of its
# own (`data.tar.gz`, `dump.gz`, `notes.xyz.gz`) stays an archive: downloaded as the .gz it is, not
# unpacked by the browser.
CONTENT_ENCODINGS = {".gz": "gzip", ".br": "br"}

# A fingerprinted file never changes under its name, so browsers and CloudFront may keep it a year.
IMMUTABLE_CACHE_CONTROL = layout.IMMUTABLE_CACHE_CONTROL
# Everything else (HTML above all: it names the fingerprinted assets) is revalidated on every use,
# so a release or rollback shows at once; revalidation of an unchanged object costs only a 304.
REVALIDATE_CACHE_CONTROL = "public, max-age=0, must-revalidate"


def name_suffix(name: str) -> str:
    """`PurePosixPath(name).suffix` of one file name: its last `.`-part, none for `.name` or `name.`."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _type_suffix(path: str) -> tuple[str, str | None]:
    """The suffix whose type a file has, and its Content-Encoding: `a.js.gz` -> (`.js`, gzip). From
    strings: called several times per file of every upload, where a PurePosixPath each was most of
    the time of choosing headers."""
    if path.endswith(("/", "/.")) or "/./" in path:  # not a build's path: pathlib's own reading
        name = PurePosixPath(path).name
    else:
        name = path.rpartition("/")[2]
    suffix = name_suffix(name)
    encoding = CONTENT_ENCODINGS.get(suffix.lower())
    if encoding is not None:
        inner = name_suffix(name[: -len(suffix)])
        if inner.lower() in CONTENT_TYPES:
            return inner, encoding
    return suffix, None


def content_type_for(path: str) -> str:
    """The Content-Type of a file from its extension; `application/octet-stream` when unknown."""
    return CONTENT_TYPES.get(_type_suffix(path)[0].lower(), DEFAULT_CONTENT_TYPE)


def content_encoding_for(path: str) -> str | None:
    """`gzip` or `br` for a precompressed web file (`app.js.gz`), else None."""
    return _type_suffix(path)[1]


def cache_control_for(path: str) -> str:
    """Immutable for a year when fingerprinted, revalidated otherwise; HTML is always revalidated."""
    return HeaderRules().cache_control(path)


@dataclass(frozen=True)
class HeaderRules:
    """The headers policy of one upload: the bundler rules above, plus globs (matched against the
    path in the build) that mark files immutable, or never immutable, whatever their names say."""

    immutable_globs: Sequence[str] = ()
    revalidate_globs: Sequence[str] = ()
    named_by_build: frozenset[str] = frozenset()
    """Hash-shaped files the build's own evidence makes fingerprinted (`fingerprints.decide`)."""
    by_name: frozenset[str] | None = None
    """The build's files the strict name rule takes (`is_fingerprinted`), when the scan asked it once
    for each already (`fingerprints.names_of`); None: asked here, per path."""

    def content_type(self, path: str) -> str:
        return content_type_for(path)

    def content_encoding(self, path: str) -> str | None:
        return content_encoding_for(path)

    def cache_control(self, path: str) -> str:
        if content_type_for(path).startswith("text/html"):
            return REVALIDATE_CACHE_CONTROL
        if any(fnmatchcase(path, glob) for glob in self.revalidate_globs):
            return REVALIDATE_CACHE_CONTROL
        if any(fnmatchcase(path, glob) for glob in self.immutable_globs) or (
            path in self.by_name if self.by_name is not None else is_fingerprinted(path)
        ):
            return IMMUTABLE_CACHE_CONTROL
        if path in self.named_by_build:
            return IMMUTABLE_CACHE_CONTROL
        return REVALIDATE_CACHE_CONTROL
