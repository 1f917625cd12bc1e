"""Content-Type, Content-Encoding and Cache-Control of the files of a build, decided from their names.

The table is explicit rather than `mimetypes`, whose answers depend on the host's /etc/mime.types:
the same build must get the same headers from every machine that uploads it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
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
# type of the inner name, and the encoding the browser must undo. `data.tar.gz` stays an archive.
CONTENT_ENCODINGS = {".gz": "gzip", ".br": "br"}
_ARCHIVE_INNER_SUFFIXES = {".tar", ""}

# A fingerprinted file never changes under its name, so browsers and CloudFront may keep it a year.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
# Everything else (HTML above all: it names the fingerprinted assets) is revalidated on every use,
# so a release or rollback shows at once; revalidation of an unchanged object costs only a 304.
REVALIDATE_CACHE_CONTROL = "public, max-age=0, must-revalidate"

# Folders whose every file is content-addressed by the framework that writes them.
IMMUTABLE_FOLDERS: tuple[str, ...] = ("_next/static/*", "_astro/*", "_app/immutable/*")

# webpack/CRA `main.3f2a1b9c.chunk.js`, Parcel `index.1a2b3c4d.js`, Next `framework-2c79e2a64abdb08b.js`,
# Angular < 17 `main.3f2a1b9c4d5e6f70.js`: 8-64 lowercase hex digits mixing digits and letters.
_HEX_HASH = re.compile(r"(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}")
# Vite/Rollup `index-CreK2-Ey.js`, `Lazy-Q1AJiLvC.js`, Astro `index.CtSceO8m.js`: 8 base64url
# characters; esbuild/Angular 17+ `main-X6UJZK2V.js`: 8 base32 characters.
_B64_HASH = re.compile(r"[A-Za-z0-9_-]{8}")
# Parts that read as words or numbers (`Summer24`, `licenses`, `2024`, `FEATURED`, `MyPhoto1`):
# a random hash almost never looks like this, a human-chosen name usually does.
_WORDLIKE = re.compile(r"[0-9]*|[A-Z]?[a-z]+[0-9]*|(?:[A-Z][a-z]+)+[0-9]*|[A-Z]+[0-9]*")
# esbuild's base32 hashes are all capitals in about one build in five; for its own chunk names,
# take them as hashes anyway.
_ESBUILD_NAMES = {"main", "polyfills", "styles", "chunk", "runtime", "scripts", "worker", "vendor"}


def _inner_name(path: str) -> tuple[str, str | None]:
    """The name whose type a file has, and its Content-Encoding: `a.js.gz` -> (`a.js`, gzip)."""
    pure = PurePosixPath(path)
    encoding = CONTENT_ENCODINGS.get(pure.suffix.lower())
    if encoding is not None:
        inner = pure.with_suffix("")
        if inner.suffix.lower() not in _ARCHIVE_INNER_SUFFIXES and inner.suffix.lower() in CONTENT_TYPES:
            return str(inner), encoding
    return path, None


def content_type_for(path: str) -> str:
    """The Content-Type of a file from its extension; `application/octet-stream` when unknown."""
    inner, _ = _inner_name(path)
    return CONTENT_TYPES.get(PurePosixPath(inner).suffix.lower(), DEFAULT_CONTENT_TYPE)


def content_encoding_for(path: str) -> str | None:
    """`gzip` or `br` for a precompressed web file (`app.js.gz`), else None."""
    return _inner_name(path)[1]


def _is_hash(token: str, stem: str) -> bool:
    if _HEX_HASH.fullmatch(token):
        return True
    if not _B64_HASH.fullmatch(token) or token[0] in "-_" or token[-1] in "-_":
        return False
    if token.isdigit():  # a date or a counter: `report-20241231.pdf`
        return False
    if token.isupper():  # esbuild base32, or a word in capitals (`photo-FEATURED.jpg`, `SUMMER24`)
        return not _WORDLIKE.fullmatch(token) or stem.lower() in _ESBUILD_NAMES
    return not all(_WORDLIKE.fullmatch(part) for part in re.split(r"[-_]", token))


def is_fingerprinted(path: str) -> bool:
    """True when the file name carries a content hash the way bundlers write one: a `.`- or
    `-`-separated token before a later `.` (see `_HEX_HASH`, `_B64_HASH`), or a name that is a hash
    of 16+ hex digits (`chunks/8c3f1a2b4d5e6f70.js`), or a file in a framework's immutable folder."""
    path = _inner_name(path)[0]
    if any(fnmatchcase(path, pattern) for pattern in IMMUTABLE_FOLDERS):
        return True
    name = PurePosixPath(path).name
    stem = name.split(".", 1)[0]
    if len(stem) >= 16 and _HEX_HASH.fullmatch(stem):
        return True
    for start in (i for i, c in enumerate(name) if c in ".-" and i > 0):
        for end in (j for j, c in enumerate(name) if c == "." and j > start + 1):
            if _is_hash(name[start + 1 : end], name[:start].split("-")[0].split(".")[0]):
                return True
    return False


def cache_control_for(path: str) -> str:
    """Immutable for a year when fingerprinted, revalidated otherwise; HTML is always revalidated."""
    return HeaderRules().cache_control(path)


@dataclass(frozen=True)
class HeaderRules:
    """The headers policy of one upload: the bundler rules above, plus globs (matched against the
    path in the build) that mark files immutable, or never immutable, whatever their names say."""

    immutable_globs: Sequence[str] = ()
    revalidate_globs: Sequence[str] = ()

    def content_type(self, path: str) -> str:
        return content_type_for(path)

    def content_encoding(self, path: str) -> str | None:
        return content_encoding_for(path)

    def cache_control(self, path: str) -> str:
        if content_type_for(path).startswith("text/html"):
            return REVALIDATE_CACHE_CONTROL
        if any(fnmatchcase(path, glob) for glob in self.revalidate_globs):
            return REVALIDATE_CACHE_CONTROL
        if any(fnmatchcase(path, glob) for glob in self.immutable_globs) or is_fingerprinted(path):
            return IMMUTABLE_CACHE_CONTROL
        return REVALIDATE_CACHE_CONTROL
