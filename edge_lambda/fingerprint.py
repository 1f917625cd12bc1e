"""Which files of a build are fingerprinted: named by their content, so immutable under their name.

The one classifier, used by the uploader (Cache-Control, and which files go to the shared asset area)
and by the edge function (which paths the fallback origin serves from that area). Both must agree: a
file the uploader does not publish must never be looked for there, and the reverse. Standard library
only: it ships in the Lambda@Edge bundle.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_HEX_HASH = re.compile(r"^(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}$")
# Vite/Rollup style: 8 base64url characters mixing upper case, lower case and digits.
_BASE64_HASH = re.compile(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9_]{8}$")
_NAME_SEPARATORS = re.compile(r"[.-]")
# HTML names the fingerprinted assets and must show a release at once, whatever its name looks like.
_NEVER_IMMUTABLE_SUFFIXES = (".html", ".htm")


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


def is_immutable_asset(path: str) -> bool:
    """A fingerprinted file other than HTML: cached for a year, and kept reachable across releases
    (the shared asset area) for pages of other versions that still reference it."""
    return is_fingerprinted(path) and not path.lower().endswith(_NEVER_IMMUTABLE_SUFFIXES)
