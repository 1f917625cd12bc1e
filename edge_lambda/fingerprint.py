"""Which names look fingerprinted: named by their content, so immutable under their name.

Two rules on names. `is_fingerprinted` is strict: a name it takes is a content hash with no other
evidence (a framework's hashed-only folder, 16+ hex digits, a hash token that does not read as words).
`has_hash_shape` is what every bundler writes with its default pattern (0 misses on names generated from
their alphabets, tests/test_fingerprint_recall.py), and also some names people choose
(`summer-vacation.jpg`): the upload takes such a file as fingerprinted only when the build names it
(`scripts/versionstore/fingerprints.py`), and records the decision per file in the manifest. The
CloudFront Function, which cannot read a manifest, routes hash-shaped paths to the shared area, with
the live version's exceptions in its store value (`edge_lambda.routes.VersionRoutes`). Standard library
only: it ships in the Lambda@Edge bundle.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

# Folders whose every file is content-addressed by the framework that writes them.
IMMUTABLE_FOLDERS: tuple[str, ...] = ("_next/static/*", "_astro/*", "_app/immutable/*")

# webpack/CRA `main.3f2a1b9c.chunk.js`, Parcel `index.1a2b3c4d.js`, Next `framework-2c79e2a64abdb08b.js`,
# Angular < 17 `main.3f2a1b9c4d5e6f70.js`: 8-64 lowercase hex digits mixing digits and letters.
_HEX_HASH = re.compile(r"(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}")
_HEX_HASH_ANY = re.compile(r"[0-9a-f]{16,64}")
# Vite/Rollup `index-CreK2-Ey.js`, `Lazy-Q1AJiLvC.js`, Astro `index.CtSceO8m.js`: 8 base64url
# characters; esbuild/Angular 17+ `main-X6UJZK2V.js`: 8 base32 characters.
_B64_HASH = re.compile(r"[A-Za-z0-9_-]{8}")
# Parts that read as words or numbers (`Summer24`, `licenses`, `2024`, `FEATURED`, `MyPhoto1`):
# a random hash almost never looks like this, a human-chosen name usually does.
_WORDLIKE = re.compile(r"[0-9]*|[A-Z]?[a-z]+[0-9]*|(?:[A-Z][a-z]+)+[0-9]*|[A-Z]+[0-9]*")
# esbuild's base32 hashes are all capitals in about one build in five; for its own chunk names,
# take them as hashes anyway.
_ESBUILD_NAMES = {"main", "polyfills", "styles", "chunk", "runtime", "scripts", "worker", "vendor"}
# HTML names the fingerprinted assets and must show a release at once, whatever its name looks like.
_NEVER_IMMUTABLE_SUFFIXES = (".html", ".htm")


def file_name(path: str) -> str:
    """`PurePosixPath(path).name` of a path that does not end in `/`: its last segment, from the string
    (called for every file of an upload, where a PurePosixPath each was most of the time); pathlib's
    own reading for a last segment of `.`, which it drops."""
    name = path.rpartition("/")[2]
    return name if name != "." else PurePosixPath(path).name


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
    of 16+ hex digits (`chunks/8c3f1a2b4d5e6f70.js`), or a file in a framework's immutable folder.
    `path` is relative to the build (`assets/x.js`) or a viewer path (`/assets/x.js`)."""
    path = path.lstrip("/")
    if path.endswith("/") or not path:  # a folder, not a file
        return False
    if any(fnmatchcase(path, pattern) for pattern in IMMUTABLE_FOLDERS):
        return True
    name = file_name(path)
    stem = name.split(".", 1)[0]
    if len(stem) >= 16 and _HEX_HASH.fullmatch(stem):
        return True
    for start in (i for i, c in enumerate(name) if c in ".-" and i > 0):
        for end in (j for j, c in enumerate(name) if c == "." and j > start + 1):
            if _is_hash(name[start + 1 : end], name[:start].split("-")[0].split(".")[0]):
                return True
    return False


# Rollup/Vite `[name]-[hash]` (8 of `A-Za-z0-9-_`, either end included), esbuild/Angular (8 of base32,
# inside that alphabet), webpack/Rspack/Parcel (8-64 hex, all digits or all letters included).
_SHAPE_TOKEN = re.compile(r"[A-Za-z0-9_-]{8}|[0-9a-f]{8,64}")


def hash_tokens(name: str) -> list[str]:
    """The parts of the file name `name` that have a bundler's hash shape: after a `.` or `-`
    (not the first character), up to a later `.`."""
    tokens = []
    for start in (i for i, c in enumerate(name) if c in ".-" and i > 0):
        for end in (j for j, c in enumerate(name) if c == "." and j > start + 1):
            if _SHAPE_TOKEN.fullmatch(name[start + 1 : end]):
                tokens.append(name[start + 1 : end])
    return tokens


def has_hash_shape(path: str) -> bool:
    """True when `path` could be a bundler's content-hashed output by its name alone: a framework's
    hashed-only folder, a 16+ hex name, or a hash-shaped token (`hash_tokens`). Broad on purpose."""
    path = path.lstrip("/")
    if path.endswith("/") or not path:
        return False
    if any(fnmatchcase(path, pattern) for pattern in IMMUTABLE_FOLDERS):
        return True
    name = file_name(path)
    stem = name.split(".", 1)[0]
    return (len(stem) >= 16 and _HEX_HASH_ANY.fullmatch(stem) is not None) or bool(hash_tokens(name))


def is_shared_by_name(path: str) -> bool:
    """What the CloudFront Function serves from the shared area unless the live version says otherwise:
    a hash-shaped file other than HTML."""
    return has_hash_shape(path) and not path.lower().endswith(_NEVER_IMMUTABLE_SUFFIXES)


def is_immutable_asset(path: str) -> bool:
    """A fingerprinted file other than HTML: cached for a year, and kept reachable across releases
    (the shared asset area) for pages of other versions that still reference it."""
    return is_fingerprinted(path) and not path.lower().endswith(_NEVER_IMMUTABLE_SUFFIXES)
