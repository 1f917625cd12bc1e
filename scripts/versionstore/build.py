"""A build directory as the store uploads it: which files go up, names S3 and the edge can take,
and the hashes a stored object is later proven against.

Everything here happens before the first request: a refused name or an unreadable file stops the
upload with nothing written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase, translate
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from edge_lambda import layout
from edge_lambda.handler import uri_problem
from edge_lambda.site_rules import HEADERS_FILE, REDIRECTS_FILE, RuleFileError, SiteRules, parse_rule_files
from scripts.versionstore import fingerprints
from scripts.versionstore.content_headers import HeaderRules
from scripts.versionstore.errors import StoreRefusedError

IGNORE_FILE = ".sitectlignore"
# The build's own fingerprint declarations: one glob a line, as `--immutable`; `!glob` as `--revalidate`.
IMMUTABLE_FILE = ".sitectlimmutable"
# Files above this size go up as multipart uploads in parts of PART_SIZE (S3: parts of 5 MiB to
# 5 GiB, at most 10,000 of them). The part size fixes the ETag, so the scan computes it the same way.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024

# What no site means to publish, like Firebase Hosting's `**/.*` and `**/node_modules/**`: every
# dot-name (.git/, .env, .env.production, .DS_Store, .npmrc, .idea/ ...) except `.well-known/`,
# which sites publish on purpose (security.txt, ACME, app links), plus editor and OS litter.
# Rules are gitignore-like: a trailing `/` matches folders only, a pattern with another `/` is
# anchored at the build root, any other pattern matches a name at any depth; the last match wins.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".*",
    "node_modules/",
    "__pycache__/",
    "Thumbs.db",
    "desktop.ini",
    "*~",
    "*.swp",
    "*.swo",
    "#*#",
    "*.tfstate",
    "*.tfstate.backup",
    # SSH private keys under their default names (the `.pub` halves are public and still go up).
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
)
DEFAULT_INCLUDES: tuple[str, ...] = (".well-known/",)


# Slots: one per file of the build, all held through the upload (a __dict__ each was 100+ bytes more).
@dataclass(frozen=True, slots=True)
class LocalFile:
    path: str  # relative, `/`-separated: the part of the key after `<version>/`
    source: Path
    size: int
    sha256: str
    md5: str  # of the whole file
    etag: str  # the ETag S3 gives the object as the store sends it (see `s3_etag`)
    content_type: str
    cache_control: str
    content_encoding: str | None = None
    # (device, inode) of the file that was hashed: what is sent must come from that very file, not
    # from whatever a path swapped meanwhile (a symlink out of the build) leads to.
    identity: tuple[int, int] | None = None

    @property
    def multipart(self) -> bool:
        return self.size > MULTIPART_THRESHOLD


@dataclass
class Build:
    files: list[LocalFile]
    excluded: list[str] = field(default_factory=list)  # relative paths, folders with a trailing `/`
    fingerprinted: dict[str, str] = field(default_factory=dict)
    """The files taken as fingerprinted (immutable, shared), each with why (`fingerprints`)."""
    rules: SiteRules = field(default_factory=SiteRules)
    """The build's `_redirects` and `_headers`, compiled: recorded in the manifest, never uploaded."""


@dataclass(frozen=True)
class Rule:
    pattern: str
    include: bool
    origin: str  # where it came from, for messages

    def matches(self, relative: str, is_dir: bool) -> bool:
        pattern = self.pattern
        if pattern.endswith("/"):
            if not is_dir:
                return False
            pattern = pattern.rstrip("/")
        if "/" in pattern:
            return fnmatchcase(relative, pattern.lstrip("/"))
        # The last segment of a `/`-separated path, without a PurePosixPath per rule and file (the
        # rules are matched against every file: most of a scan's time once was these objects); `.`,
        # the build's root as a symlink's target, has none.
        name = relative.rpartition("/")[2]
        return fnmatchcase(name if name != "." else PurePosixPath(relative).name, pattern)


def exclusion_rules(
    root: Path, excludes: Sequence[str] = (), includes: Sequence[str] = (), use_defaults: bool = True
) -> list[Rule]:
    """Defaults, then the build's ignore file (`!pattern` re-includes), then --exclude, then --include."""
    rules: list[Rule] = []
    if use_defaults:
        rules += [Rule(p, False, "default") for p in DEFAULT_EXCLUDES]
        rules += [Rule(p, True, "default") for p in DEFAULT_INCLUDES]
    ignore_file = root / IGNORE_FILE
    if ignore_file.is_file():
        for line in _read_text(ignore_file).splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                negated = line.startswith("!")
                rules.append(Rule(line[1:] if negated else line, negated, IGNORE_FILE))
    rules += [Rule(p, False, "--exclude") for p in excludes]
    rules += [Rule(p, True, "--include") for p in includes]
    return rules


def is_excluded(rules: Iterable[Rule], relative: str, is_dir: bool) -> bool:
    excluded = False
    for rule in rules:
        if rule.matches(relative, is_dir):
            excluded = not rule.include
    return excluded


class Exclusions:
    """`is_excluded` with fixed `rules`, for every entry of a scan: most entries match no rule at all,
    which one regex per kind of entry (file, folder: the alternation of every rule's pattern that
    applies to it, `fnmatch.translate`d) tells at once; only an entry it matches goes through the
    rules one by one (the last match wins). The rules were once matched one by one against every
    entry: 17 default rules, a fifth of a 20,000-file scan's time in the main thread."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self._any = {is_dir: self._alternation(is_dir) for is_dir in (False, True)}

    def _alternation(self, is_dir: bool) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        """(a regex of the patterns matched against an entry's last segment, one of those matched
        against its whole path), as `Rule.matches` applies them to an entry of this kind."""
        names, paths = [], []
        for rule in self.rules:
            pattern = rule.pattern
            if pattern.endswith("/"):
                if not is_dir:
                    continue
                pattern = pattern.rstrip("/")
            if "/" in pattern:
                paths.append(translate(pattern.lstrip("/")))
            else:
                names.append(translate(pattern))
        return (
            re.compile("|".join(names)) if names else None,
            re.compile("|".join(paths)) if paths else None,
        )

    def excluded(self, relative: str, is_dir: bool) -> bool:
        names, paths = self._any[is_dir]
        name = relative.rpartition("/")[2]
        name = name if name != "." else PurePosixPath(relative).name
        if (names is None or not names.match(name)) and (paths is None or not paths.match(relative)):
            return False  # no rule matches
        return is_excluded(self.rules, relative, is_dir)


def _excluded_path(rules: Sequence[Rule], relative: str, resolved: Path) -> bool:
    """Whether `relative` (inside the build) is excluded, itself or through a folder above it."""
    parts = relative.split("/")
    for depth in range(1, len(parts) + 1):
        is_dir = depth < len(parts) or resolved.is_dir()
        if is_excluded(rules, "/".join(parts[:depth]), is_dir):
            return True
    return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StoreRefusedError(f"cannot read {path}: {error}; fix its permissions or encoding") from error


# C0 and C1 control characters and DEL: one regex search per name, not a test per character.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def name_problem(relative: str) -> str | None:
    """Why a file name cannot become a key a viewer can fetch, or None."""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if "\\" in relative:
        return "contains a backslash (browsers turn it into '/')"
    if _CONTROL_CHARACTER.search(relative):
        return "contains a control character"
    if any(segment.strip(".") == "" for segment in relative.split("/")):
        return "has a segment made of dots only, which browsers and proxies normalise away"
    # The edge's path limit (900 bytes, percent-encoded) is the one that binds: S3 takes keys up to
    # 1,024 bytes, and the longest version prefix is 58, so every name the edge serves is a valid key.
    problem = uri_problem("/" + quote(relative, safe="/"))
    if problem is not None:
        return f"could never be served by the edge: {problem}"
    return None


_SHOWN_NAME_CHARS = 120


def shown(name: str) -> str:
    """`name` for a one-line message: a name of a deep tree (thousands of characters) is cut in the
    middle."""
    if len(name) <= _SHOWN_NAME_CHARS:
        return name
    half = _SHOWN_NAME_CHARS // 2
    return f"{name[:half]}...({len(name)} characters)...{name[-half:]}"


def scan_build(
    directory: Path,
    *,
    excludes: Sequence[str] = (),
    includes: Sequence[str] = (),
    header_rules: HeaderRules | None = None,
) -> Build:
    """The files of a build, hashed, after exclusions. Refuses, before any request: a missing or
    empty directory, symlinks leading outside it or forming a loop, special files, unreadable files
    or folders, and names S3 or the edge cannot take (see `name_problem`), NFC/NFD twins included."""
    if not directory.is_dir():
        raise StoreRefusedError(f"{directory} is not a directory")
    root = directory.resolve()
    rules = exclusion_rules(root, excludes, includes)
    exclusions = Exclusions(rules)
    headers = header_rules or HeaderRules()
    build = Build(files=[])
    accepted: list[tuple[str, Path]] = []

    def folder(current: Path | str, relative: str) -> Iterator[os.DirEntry[str]]:
        try:
            return iter(sorted(os.scandir(current), key=lambda e: e.name))
        except OSError as error:
            raise StoreRefusedError(
                f"cannot read folder {shown(relative or '.')}: {error.strerror}; fix its permissions "
                "or exclude it (--exclude)"
            ) from error

    def kind(entry: os.DirEntry[str], path: Path | None) -> tuple[bool, bool]:
        """(folder, regular file): a symlink's target's (`path`), else the entry's own, from the
        folder listing itself (no stat); an entry gone meanwhile is neither."""
        if path is not None:
            return path.is_dir(), path.is_file()
        try:
            return entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
        except OSError:
            return False, False

    # Depth first, in name order, with a stack of open folders rather than recursion: a tree of any
    # depth is scanned (or refused by name) instead of exhausting Python's recursion limit. Each folder
    # carries its real path: a child that is not a symlink is the real path plus its name, so only
    # symlinks are resolved (resolving every folder costs one lstat per level of its path: cubic in
    # the depth, minutes for a tree 1,200 folders deep). Names are `/`-joined strings and a Path is
    # made only for what is kept: a scan of thousands of files spent most of its time building paths.
    stack = [(folder(root, ""), "", root, frozenset({root}))]
    while stack:
        entries, relative, real, ancestors = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        name = f"{relative}/{entry.name}" if relative else entry.name
        link: Path | None = None
        if entry.is_symlink():
            link = Path(entry.path)
            try:
                resolved = link.resolve(strict=True)
            except RuntimeError as error:  # Python < 3.13 raises this on a symlink loop
                raise StoreRefusedError(f"symlink {shown(name)} forms a loop; remove it") from error
            except OSError as error:  # Python 3.13 raises ELOOP on a symlink loop
                why = "forms a loop" if error.errno == errno.ELOOP else "is broken"
                raise StoreRefusedError(f"symlink {shown(name)} {why}; remove it") from None
            if not resolved.is_relative_to(root):
                raise StoreRefusedError(f"symlink {shown(name)} leads outside {directory} (to {resolved})")
            target = resolved.relative_to(root).as_posix()
            if not is_excluded(rules, name, link.is_dir()) and _excluded_path(rules, target, resolved):
                # Exclusions go by name: a link would publish an excluded file under another.
                raise StoreRefusedError(
                    f"symlink {shown(name)} leads to {shown(target)}, which is excluded: remove the link, "
                    f"or --include {shown(target)} if it is meant to be public"
                )
        is_dir, is_file = kind(entry, link)
        if exclusions.excluded(name, is_dir):
            build.excluded.append(name + "/" if is_dir else name)
            continue
        if is_dir:
            if link is None:
                resolved = real / entry.name
            if resolved in ancestors:
                raise StoreRefusedError(f"symlink {shown(name)} forms a loop; remove it")
            stack.append((folder(entry.path, name), name, resolved, ancestors | {resolved}))
        elif is_file:
            problem = name_problem(name)
            if problem is not None:
                raise StoreRefusedError(
                    f"file name {shown(name)!r} {problem}: rename it, or exclude it (--exclude)"
                )
            accepted.append((name, Path(entry.path)))
        else:
            raise StoreRefusedError(f"{shown(name)} is neither a regular file nor a directory; remove it")

    _refuse_unicode_twins(name for name, _ in accepted)
    build.rules = read_rule_files(dict(accepted))
    accepted = [(name, path) for name, path in accepted if name not in (REDIRECTS_FILE, HEADERS_FILE)]
    if not accepted:
        raise StoreRefusedError(f"{directory} holds no files to upload: refusing to upload an empty version")
    headers, declared = _declared_rules(root, headers)
    # The files are hashed on threads (hashing and reading release the GIL). A file whose text is
    # fingerprint evidence, when the build's names need some (`fingerprints.names_of`), is searched
    # for the names it holds from the same read: each is opened and read once. In batches (a few per
    # thread), not a future per file: thousands of futures cost more than small files take to hash.
    names = fingerprints.names_of(name for name, _ in accepted)
    size = max(1, -(-len(accepted) // (HASH_WORKERS * 4)))
    batches = [accepted[i : i + size] for i in range(0, len(accepted), size)]

    def digest_batch(batch: list[tuple[str, Path]]) -> list[FileDigest]:
        return [
            file_digest(path, name, names.wanted if names.wanted and fingerprints.text_kind(name) else None)
            for name, path in batch
        ]

    with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
        digests = [digest for batch in pool.map(digest_batch, batches) for digest in batch]
    found = {
        name: d.evidence for (name, _), d in zip(accepted, digests, strict=True) if d.evidence is not None
    }
    evidence = fingerprints.decide_build(dict(accepted), root, found, names)
    headers = replace(headers, named_by_build=frozenset(evidence.by_reference), by_name=names.by_name)
    build.files = [
        digest.local_file(name, path, headers) for (name, path), digest in zip(accepted, digests, strict=True)
    ]
    for local in build.files:
        if local.cache_control == layout.IMMUTABLE_CACHE_CONTROL:
            build.fingerprinted[local.path] = evidence.reasons.get(local.path, declared)
    return build


def read_rule_files(files: dict[str, Path]) -> SiteRules:
    """The build's `_redirects` and `_headers` (at its root), compiled; StoreRefusedError naming the file,
    line and reason for one that does not parse or asks for something unsupported."""
    texts = {
        name: _read_text(files[name]) if name in files else None for name in (REDIRECTS_FILE, HEADERS_FILE)
    }
    try:
        return parse_rule_files(texts[REDIRECTS_FILE], texts[HEADERS_FILE])
    except RuleFileError as error:
        raise StoreRefusedError(
            f'{error}; fix the line (Netlify\'s syntax, README "Redirects and headers") or remove the file'
        ) from None


def _declared_rules(root: Path, headers: HeaderRules) -> tuple[HeaderRules, str]:
    """`headers` plus the globs of the build's IMMUTABLE_FILE, and what to call a declared file."""
    declared = root / IMMUTABLE_FILE
    if not declared.is_file():
        return headers, "declared (--immutable)"
    lines = [line.strip() for line in _read_text(declared).splitlines()]
    globs = [line for line in lines if line and not line.startswith(("#", "!"))]
    never = [line[1:] for line in lines if line.startswith("!")]
    merged = replace(
        headers,
        immutable_globs=(*headers.immutable_globs, *globs),
        revalidate_globs=(*headers.revalidate_globs, *never),
    )
    return merged, f"declared (--immutable, {IMMUTABLE_FILE})"


def _refuse_unicode_twins(names: Iterable[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        normal = unicodedata.normalize("NFC", name)
        if normal in seen:
            raise StoreRefusedError(
                f"file names {seen[normal]!r} and {name!r} differ only in Unicode normalisation (NFC/NFD): "
                "browsers send one of them; rename one"
            )
        seen[normal] = name


def s3_etag(whole_md5: str, part_md5s: Sequence[bytes], size: int) -> str:
    """The ETag S3 gives an object sent as the store sends it (SSE-S3): the MD5 of a single-part
    object; for a multipart one the MD5 of the parts' binary MD5s, then `-<parts>`."""
    if size <= MULTIPART_THRESHOLD:
        return whole_md5
    return f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


# hashlib releases the GIL while it hashes (buffers over 2 KiB), and so does reading: files are
# hashed on this many threads, as many as there are cores, up to 8.
HASH_WORKERS = max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class FileDigest:
    """What reading a file once gives: its size and hashes, and which file it was."""

    size: int
    sha256: str
    md5: str
    etag: str
    identity: tuple[int, int]
    # The fingerprint evidence its text holds (`fingerprints.referenced_names`), when it was asked for.
    evidence: frozenset[str] | None = None

    def local_file(self, relative: str, path: Path, headers: HeaderRules) -> LocalFile:
        return LocalFile(
            path=relative,
            source=path,
            size=self.size,
            sha256=self.sha256,
            md5=self.md5,
            etag=self.etag,
            content_type=headers.content_type(relative),
            cache_control=headers.cache_control(relative),
            content_encoding=headers.content_encoding(relative),
            identity=self.identity,
        )


def file_digest(path: Path, relative: str, evidence: Collection[str] | None = None) -> FileDigest:
    """Read `path` once: its size, SHA-256, MD5 and the ETag S3 will give it (`s3_etag`); a file
    that cannot be read is refused, naming it by `relative`. `evidence`: the strings to look for in
    its first MAX_READ_BYTES (`fingerprints.names_of`), those found given as the digest's `evidence`
    (not for a multipart file, read in parts: the scan reads its text separately)."""
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    part_md5s: list[bytes] = []
    size = 0
    found = None
    try:
        with path.open("rb") as stream:
            stat = os.fstat(stream.fileno())
            # Part MD5s only matter for a multipart upload; a file that grows past the threshold while
            # it is scanned fails later, at its upload or the seal.
            chunk_size = PART_SIZE if stat.st_size > MULTIPART_THRESHOLD else _READ_CHUNK
            if evidence is not None and chunk_size == _READ_CHUNK:
                # Its size, not MAX_READ_BYTES: a read allocates what it is asked for before it reads.
                text = stream.read(min(stat.st_size, fingerprints.MAX_READ_BYTES))
                found = frozenset(fingerprints.text_tokens(text, evidence))
                sha256.update(text)
                md5.update(text)
                size += len(text)
                del text
            while chunk := stream.read(chunk_size):
                sha256.update(chunk)
                md5.update(chunk)
                if chunk_size == PART_SIZE:
                    part_md5s.append(hashlib.md5(chunk, usedforsecurity=False).digest())
                size += len(chunk)
    except OSError as error:
        raise StoreRefusedError(
            f"cannot read {relative}: {error.strerror}; fix its permissions or exclude it (--exclude)"
        ) from error
    whole = md5.hexdigest()
    return FileDigest(
        size, sha256.hexdigest(), whole, s3_etag(whole, part_md5s, size), (stat.st_dev, stat.st_ino), found
    )


def file_identity(descriptor: int) -> tuple[int, int]:
    """(device, inode) of an open file."""
    stat = os.fstat(descriptor)
    return stat.st_dev, stat.st_ino
