"""Which files of a build are fingerprinted, decided at upload from the build's own evidence.

A name alone cannot be exact: `team-pictures.jpg` has the shape of a Rollup name (`[name]-[hash]`,
8 characters of `A-Za-z0-9-_`), and an all-digit webpack hash has the shape of a date. So the upload
takes a file as fingerprinted (immutable for a year, published to `_assets/` for open pages of other
versions) when, besides the `--immutable`/`--revalidate` globs the site declares:

- its name is one the strict name rule knows (`edge_lambda.fingerprint.is_fingerprinted`: a framework's
  hashed-only folder such as `_next/static/`, `_app/immutable/`, `_astro/`; a 16+ hex name; a hash
  token that does not read as words), or
- it is a script or a style sheet whose name has a bundler's hash shape (`has_hash_shape`: what every
  bundler writes, 0 misses on their alphabets) **and** the build names it: its file name, or its hash
  token, appears in the build's JavaScript, CSS or JSON (a lazily imported chunk is named by its
  importer; webpack's runtime holds its chunks' hashes; `.vite/manifest.json` and
  `asset-manifest.json` list every output), or a page names it and its hash is hex (an entry), or
- it is in a folder whose every file is hash-shaped and one of whose scripts was taken so (Vite's
  `assets/`: the images and fonts go with the chunks).

Images and documents people name (`summer-vacation.jpg`, referenced from a style sheet or not) are
taken only by the strict rule: measured on a corpus of human-chosen names in
tests/test_fingerprint_recall.py.

The decision is recorded per file in the manifest (its Cache-Control: `layout.IMMUTABLE_CACHE_CONTROL`),
so the uploader, the shared area and both routers read the same answer (docs/open-pages.md,
"Fingerprinted files").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge_lambda.fingerprint import file_name, has_hash_shape, hash_tokens, is_fingerprinted
from scripts.versionstore.content_headers import name_suffix

# Files whose text names other files of the build.
REFERENCING_SUFFIXES = (".js", ".mjs", ".cjs", ".css", ".json")
HTML_SUFFIXES = (".html", ".htm")
# A script or a style sheet named only by a page is the build's entry: its name is a bundler's.
ENTRY_SUFFIXES = (".js", ".mjs", ".cjs", ".css")
# Bundler manifests in a folder that is not uploaded (dot-folders are not): read for their names.
BUNDLER_MANIFESTS = (".vite/manifest.json", ".vite/ssr-manifest.json")
# A text file is read up to this size for references (a bundle larger than this is rare; its tail
# is not read).
MAX_READ_BYTES = 32 * 1024 * 1024
# Every string `decide` looks up is a hash-shaped file name or one of its hash tokens
# (`edge_lambda.fingerprint.hash_tokens`: 8 characters or more), so a shorter token of the build's text
# can never be evidence: the scan matches only tokens this long, and runs on the bytes as read (every
# token character is ASCII, so no decoding is needed to find them): a fifth of the time of decoding
# and matching every token, on the benchmark's builds (bench/upload.py).
MIN_TOKEN_CHARACTERS = 8
# The characters of a token (a file name: `[A-Za-z0-9_~.-]`). A token is a run of them: the text is
# mapped to RUN_MARK for each and a space for anything else (one `bytes.translate`), and a run of
# MIN_TOKEN_CHARACTERS marks found with `bytes.find` (in C, as fast as memchr). The regex
# `[A-Za-z0-9_~.-]{8,}` finds the same runs, but tries a match at every token character and fails
# on each short run, one character at a time: 6x the CPU on the benchmark's 20,000-file site (300 MB
# of scripts, styles and pages), about the same on a real site's text, where most runs are tokens.
TOKEN_CHARACTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-")
_RUN_MARK = b"a"
_RUNS = bytes(_RUN_MARK[0] if byte in TOKEN_CHARACTERS else ord(" ") for byte in range(256))
_MIN_RUN = _RUN_MARK * MIN_TOKEN_CHARACTERS

SCRIPTS, PAGES = "scripts", "pages"  # `text_kind`
NAME = "by name"
NAMED = "named by the build's scripts"
HASHED_FOLDER = "in a folder of hashed files"
_HEX = re.compile(r"[0-9a-f]{8,64}")


@dataclass
class Fingerprints:
    """The upload's decision: the files taken as fingerprinted by evidence, and why each was."""

    by_reference: set[str] = field(default_factory=set)
    """Hash-shaped files the build names (beyond what the strict name rule takes)."""
    reasons: dict[str, str] = field(default_factory=dict)


def text_tokens(text: str | bytes, wanted: Collection[str] | None = None) -> set[str]:
    """The tokens of `text` that could be evidence (MIN_TOKEN_CHARACTERS or more), each also without
    its leading and trailing dots (`./chunk-ab12cd34.js.` names `chunk-ab12cd34.js`); only those in
    `wanted` (None: all)."""
    data = text.encode("utf-8", errors="replace") if isinstance(text, str) else text
    runs = data.translate(_RUNS)
    found = set()
    start = runs.find(_MIN_RUN)
    while start >= 0:
        end = runs.find(b" ", start + MIN_TOKEN_CHARACTERS)
        end = len(runs) if end < 0 else end
        found.add(data[start:end])
        start = runs.find(_MIN_RUN, end)
    found |= {token.strip(b".") for token in found if token[:1] == b"." or token[-1:] == b"."}
    tokens = {token.decode("ascii") for token in found}
    return tokens if wanted is None else tokens.intersection(wanted)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(MAX_READ_BYTES)
    except OSError:
        return b""  # unreadable files are refused by the scan itself, with the fix


def text_kind(path: str) -> str | None:
    """SCRIPTS for a file whose text is read for the names it imports (JS, CSS, JSON), PAGES for a
    page (HTML), None for any other."""
    suffix = name_suffix(file_name(path)).lower()
    return SCRIPTS if suffix in REFERENCING_SUFFIXES else PAGES if suffix in HTML_SUFFIXES else None


def referenced_names(
    files: Iterable[tuple[str, Path]],
    root: Path | None = None,
    wanted: Collection[str] | None = None,
    found: Mapping[str, Collection[str]] | None = None,
) -> tuple[set[str], set[str]]:
    """The tokens (file names, hash tokens) the build's JS, CSS and JSON hold, and those its HTML
    holds, from `files` (path in the build, file) plus any bundler manifest under `root`; only those in
    `wanted` (None: all). `found`: the tokens of files read already (path -> `_tokens` of its first
    MAX_READ_BYTES, with `wanted`): those are not read again."""
    scripts: set[str] = set()
    pages: set[str] = set()
    sources = list(files)
    if root is not None:
        for name in BUNDLER_MANIFESTS:
            candidate = root / name
            if candidate.is_file() and all(path != name for path, _ in sources):
                sources.append((name, candidate))
    found = found or {}
    for path, source in sources:
        kind = text_kind(path)
        if kind is not None:
            tokens = found[path] if path in found else text_tokens(_read(source), wanted)
            (scripts if kind == SCRIPTS else pages).update(tokens)
    return scripts, pages


def _is_script(path: str) -> bool:
    return path.lower().endswith(ENTRY_SUFFIXES)


def decide(
    paths: Iterable[str], scripts: set[str], pages: set[str], by_name: Collection[str] | None = None
) -> Fingerprints:
    """Which of `paths` the evidence makes fingerprinted (see the module docstring); the site's globs
    are applied by `content_headers.HeaderRules` on top. `by_name`: those of `paths` the strict name
    rule takes (`Names.by_name`), if known already."""
    all_paths = list(paths)
    decision = Fingerprints()
    for path in all_paths:
        if path in by_name if by_name is not None else is_fingerprinted(path):
            decision.reasons[path] = NAME
            continue
        if not _is_script(path) or not has_hash_shape(path):
            continue
        name = file_name(path)
        tokens = hash_tokens(name)
        if not {name, *tokens}.isdisjoint(scripts):
            # a chunk another script imports (by name, or by its hash as webpack's runtime does)
            decision.reasons[path] = NAMED
        elif name in pages and any(_HEX.fullmatch(token) for token in [*tokens, name.split(".", 1)[0]]):
            # an entry script or style a page names, with a hex hash (webpack, Parcel, Turbopack)
            decision.reasons[path] = NAMED
    # A folder a bundler fills: every file in it hash-shaped, and a script of it taken above (Vite's
    # `assets/`: its images and fonts, and an entry named only by the HTML, go with its chunks).
    folders: dict[str, list[str]] = {}
    for path in all_paths:
        folders.setdefault(path.rpartition("/")[0], []).append(path)
    for members in folders.values():
        seeded = any(_is_script(path) and path in decision.reasons for path in members)
        if seeded and all(has_hash_shape(path) for path in members):
            for path in members:
                if path not in decision.reasons and not path.lower().endswith(HTML_SUFFIXES):
                    decision.reasons[path] = HASHED_FOLDER
    decision.by_reference = {path for path, reason in decision.reasons.items() if reason != NAME}
    return decision


def needs_evidence(path: str) -> bool:
    """Whether what the build names can change `decide`'s answer for `path`: a script or a style
    sheet with a bundler's hash shape that the strict name rule does not take."""
    return _is_script(path) and has_hash_shape(path) and not is_fingerprinted(path)


@dataclass(frozen=True)
class Names:
    """What a build's names alone say, before any text is read: the files the strict name rule takes
    (`is_fingerprinted`), and the strings `decide` looks up in the build's text (the name and hash
    tokens of each file that `needs_evidence`; none: no text is read)."""

    by_name: frozenset[str]
    wanted: frozenset[str]


def names_of(paths: Iterable[str]) -> Names:
    """`Names` of a build's files: the strict rule asked once per file (the scan and the headers
    reuse the answer). Only tokens in `wanted` are kept of the text: the only ones `decide` asks
    about, so the same decision, without holding every long token of the build (a page's inline
    data) until it is made."""
    by_name: set[str] = set()
    wanted: set[str] = set()
    for path in paths:
        if is_fingerprinted(path):
            by_name.add(path)
        elif _is_script(path) and has_hash_shape(path):  # `needs_evidence`
            name = file_name(path)
            wanted.update((name, *hash_tokens(name)))
    return Names(frozenset(by_name), frozenset(wanted))


def decide_build(
    files: Mapping[str, Path],
    root: Path | None = None,
    found: Mapping[str, Collection[str]] | None = None,
    names: Names | None = None,
) -> Fingerprints:
    """`decide` for the files of a build (path in the build -> file). The build's text is read only
    when a file's decision depends on it (`needs_evidence`): a build whose hashed names the strict rule
    takes (Next.js's `_next/static/`, 16+ hex digits...) is decided from its names alone. `found`: the
    tokens of files the scan read already (`referenced_names`); `names`: `names_of(files)`, if made."""
    names = names or names_of(files)
    if not names.wanted:
        return decide(files, set(), set(), names.by_name)
    scripts, pages = referenced_names(files.items(), root, names.wanted, found)
    return decide(files, scripts, pages, names.by_name)
