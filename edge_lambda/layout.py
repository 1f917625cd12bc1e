"""The one owner of the version format and the bucket layout.

Shipped inside the edge bundle, so it uses the standard library only. The component, the edge
function, the policy pack and `sitectl` all call it; nothing else spells a key or a version.

Layout of the site bucket:

    <version>/<path>                 the files of one build, immutable once its manifest exists
    _manifests/<version>.json        that build's manifest, written last: its presence is what
                                     makes a version complete (releasable)
    _claims/<version>.json           written first, only if absent: the one upload that owns the
                                     version id (who, where, since when)
    _locks/<version>.json            a release or a deletion of a complete version in progress:
                                     the two exclude each other (conditional writes of this key)
    _locks/_assets/<id>.json         a prune of the shared asset area in progress: publishing waits
    _assets/<path>                   every complete version's fingerprinted files, by their path:
                                     append-only, stored there once (a version's manifest says
                                     so per file: `ManifestFile.stored_in`), read by both routers
                                     for the version's own pages and by the fallback origin for
                                     pages of other versions (skew protection)
    _content/<sha256>/<path>         files stored once by path and content, for versions only the
                                     Lambda@Edge router serves (its manifest names each one): a
                                     release of an unchanged file stores and copies nothing
    _site/404.html                   the plain not-found page, for a version without its own 404.html

Manifests and claims live outside every version prefix so that a request rewritten to
`/<version>/...` can never read one, and so that listing complete versions costs one request per
1,000 versions, however many files they hold.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge_lambda.site_rules import SiteRules

# A UTC timestamp, optionally followed by a git sha: 20261127T101500Z or 20261127T101500Z-1a2b3c4.
VERSION_FORMAT = "YYYYMMDDTHHMMSSZ[-<git sha, 7-40 lowercase hex>] (UTC), e.g. 20261127T101500Z-1a2b3c4"
# Matched with fullmatch: `$` alone would accept a trailing newline.
_VERSION_RE = re.compile(r"(?P<ts>\d{8}T\d{6}Z)(?:-(?P<sha>[0-9a-f]{7,40}))?")
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

# The pointer's value before any version is released. SSM refuses an empty value, and the first
# `pulumi up` happens before anything is uploaded; the edge answers 503 while the pointer holds it.
NO_VERSION_RELEASED = "none"

# Lambda@Edge functions live in us-east-1, and so does the pointer they read (replicas in every region
# ask that one region), whatever the region of the stack and its bucket.
EDGE_REGION = "us-east-1"
POINTER_NAME_SUFFIX = "/live-version"
# Beside it, the running canary's record (`<version> <percent>` or `none`), written by `pulumi up`.
CANARY_NAME_SUFFIX = "/canary"

MANIFEST_PREFIX = "_manifests/"
CLAIM_PREFIX = "_claims/"
LOCK_PREFIX = "_locks/"
ASSET_PRUNE_PREFIX = f"{LOCK_PREFIX}_assets/"

# User metadata every object of a version is stored with (S3 returns it as `x-amz-meta-<key>`, and
# CloudFront passes those headers through to viewers): the version it belongs to, so that a response
# says which version served it, and the SHA-256 of its bytes, so that a stored object can be checked
# against a manifest without reading it. Keys are lowercase: S3 lowercases user metadata keys.
VERSION_METADATA_KEY = "site-version"
SHA256_METADATA_KEY = "sha256"
VERSION_HEADER = f"x-amz-meta-{VERSION_METADATA_KEY}"
_MANIFEST_SUFFIX = ".json"
MANIFEST_FORMAT = 1
# The Cache-Control of a file the upload took as fingerprinted (its name changes with its content):
# browsers and CloudFront keep it a year. Recorded per file in the manifest, it is the upload's decision
# that the shared area and both routers read (`ManifestFile.fingerprinted`).
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
ONE_YEAR_SECONDS = 31536000

# Version ids start with a digit, so these prefixes never collide with a version's.
SHARED_ASSET_PREFIX = "_assets/"
# A manifest entry's `in` for a file stored once in the shared area rather than under its version's
# prefix (`ManifestFile.stored_in`); "" (left out of the JSON) is the version's own prefix.
SHARED_AREA = "_assets"
# A manifest entry's `in` for a file stored once by path and content, `_content/<sha256>/<path>`: any
# version with the same bytes at the same path names that object instead of holding a copy. Only the
# Lambda@Edge router can serve it (it reads the manifest); see `sitectl upload --router`.
CONTENT_AREA = "_content"
CONTENT_PREFIX = f"{CONTENT_AREA}/"
STORED_IN_CHOICES = ("", SHARED_AREA, CONTENT_AREA)
# The page CloudFront's custom error responses fetch (`/404.html`, through the edge), and the plain
# page the component stores for versions that have none.
NOT_FOUND_PAGE_PATH = "/404.html"
DEFAULT_NOT_FOUND_KEY = "_site/404.html"

# The origin custom header that marks the origin group's second member (the fallback origin).
# Lambda@Edge sees it as request.origin.s3.customHeaders; S3 ignores it.
FALLBACK_ORIGIN_HEADER = "x-versioned-site-origin"
FALLBACK_ORIGIN_VALUE = "fallback"


class InvalidVersionError(ValueError):
    """A version id that does not follow VERSION_FORMAT."""


def canary_parameter_name(pointer_name: str) -> str:
    """The SSM parameter beside the pointer that records the running canary (the cloudfront-function
    router's; CANARY record values): `/<project>/<stack>/canary`."""
    return pointer_name.removesuffix(POINTER_NAME_SUFFIX) + CANARY_NAME_SUFFIX


def canary_record(version: str | None, percent: int) -> str:
    """The canary parameter's value: `<version> <percent>`, or `none` when no canary runs."""
    return NO_VERSION_RELEASED if not version else f"{version} {percent}"


def parse_canary_record(value: str | None) -> tuple[str, int] | None:
    """(version, percent) of a canary parameter's value; None when no canary runs (or the value is not
    a canary record)."""
    version, _, percent = (value or "").partition(" ")
    if not is_valid_version(version) or not (percent.isascii() and percent.isdigit()) or int(percent) > 100:
        return None
    return version, int(percent)


def pointer_parameter_name(project: str, stack: str) -> str:
    """The SSM parameter holding a stack's live version: `/<project>/<stack>/live-version`."""
    return f"/{project}/{stack}{POINTER_NAME_SUFFIX}"


def is_valid_version(value: object) -> bool:
    if not isinstance(value, str):
        return False
    match = _VERSION_RE.fullmatch(value)
    if match is None:
        return False
    try:
        datetime.strptime(match.group("ts"), _TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True


def validate_version(value: object, what: str = "version") -> str:
    """Return `value` if it is a valid version id, else raise with the expected format."""
    if not is_valid_version(value):
        raise InvalidVersionError(f"{what} {value!r} is not a valid version id: expected {VERSION_FORMAT}")
    assert isinstance(value, str)
    return value


def new_version(now: datetime | None = None, git_sha: str | None = None) -> str:
    """A version id for a build made at `now` (default: the current UTC time)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    version = moment.strftime(_TIMESTAMP_FORMAT)
    if git_sha:
        version = f"{version}-{git_sha.lower()}"
    return validate_version(version)


def version_created_at(version: str) -> datetime:
    """The UTC time encoded in a version id."""
    match = _VERSION_RE.fullmatch(validate_version(version))
    assert match is not None
    return datetime.strptime(match.group("ts"), _TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def sort_newest_first(versions: list[str]) -> list[str]:
    """Version ids sort by their timestamp, then by sha; newest first."""
    return sorted(versions, reverse=True)


def version_prefix(version: str) -> str:
    """The key prefix under which one version's files live: `<version>/`."""
    return f"{validate_version(version)}/"


def object_key(version: str, path: str) -> str:
    """The key of the file `path` (relative, `/`-separated) of `version`."""
    return version_prefix(version) + _relative_path(path)


def _relative_path(path: str) -> str:
    relative = path.lstrip("/")
    if not relative or any(part in ("", ".", "..") for part in relative.split("/")):
        raise ValueError(f"file path {path!r} must be relative, without empty, '.' or '..' segments")
    return relative


def shared_asset_key(path: str) -> str:
    """The key of the fingerprinted file `path` in the shared asset area: `_assets/<path>`."""
    return SHARED_ASSET_PREFIX + _relative_path(path)


def path_from_shared_asset_key(key: str) -> str | None:
    """The file path of a shared asset key, or None for a key outside the area."""
    if not key.startswith(SHARED_ASSET_PREFIX) or key == SHARED_ASSET_PREFIX:
        return None
    return key[len(SHARED_ASSET_PREFIX) :]


def stored_key(version: str, path: str, entry: ManifestFile) -> str:
    """The key holding the bytes of `version`'s file `path` (`entry`: its manifest entry)."""
    return area_key(path, entry) if entry.stored_once else object_key(version, path)


def area_key(path: str, entry: ManifestFile) -> str:
    """The key of a file stored once (`ManifestFile.stored_once`), whatever version names it."""
    if entry.stored_in == CONTENT_AREA:
        return content_key(path, entry.sha256)
    return shared_asset_key(path)


def content_key(path: str, sha256: str) -> str:
    """The key of the file `path` with the bytes `sha256` in the content area."""
    return f"{CONTENT_PREFIX}{sha256}/{_relative_path(path)}"


def manifest_key(version: str) -> str:
    return f"{MANIFEST_PREFIX}{validate_version(version)}{_MANIFEST_SUFFIX}"


def claim_key(version: str) -> str:
    """The key an upload creates (If-None-Match: *) before writing any object of `version`."""
    return f"{CLAIM_PREFIX}{validate_version(version)}{_MANIFEST_SUFFIX}"


def lock_key(version: str) -> str:
    """The key a release or a deletion of `version` writes, conditionally, before it acts."""
    return f"{LOCK_PREFIX}{validate_version(version)}{_MANIFEST_SUFFIX}"


def asset_prune_key(prune_id: str) -> str:
    """The key a prune of the shared asset area writes while it runs (`prune_id`: letters, digits)."""
    if not prune_id.isalnum():
        raise ValueError(f"prune id {prune_id!r} must be letters and digits")
    return f"{ASSET_PRUNE_PREFIX}{prune_id}{_MANIFEST_SUFFIX}"


def version_from_manifest_key(key: str) -> str | None:
    """The version a manifest key belongs to, or None for a key that is not a manifest."""
    if not key.startswith(MANIFEST_PREFIX) or not key.endswith(_MANIFEST_SUFFIX):
        return None
    candidate = key[len(MANIFEST_PREFIX) : -len(_MANIFEST_SUFFIX)]
    return candidate if is_valid_version(candidate) else None


def version_from_claim_key(key: str) -> str | None:
    """The version a claim key belongs to, or None for a key that is not a claim."""
    if not key.startswith(CLAIM_PREFIX) or not key.endswith(_MANIFEST_SUFFIX):
        return None
    candidate = key[len(CLAIM_PREFIX) : -len(_MANIFEST_SUFFIX)]
    return candidate if is_valid_version(candidate) else None


def version_from_prefix(prefix: str) -> str | None:
    """The version of a common prefix such as `20261127T101500Z/`, or None."""
    candidate = prefix.rstrip("/")
    return candidate if is_valid_version(candidate) else None


# Slots: one per file of every manifest held (the upload's, its donors', the edge's cached ones).
@dataclass(frozen=True, slots=True)
class ManifestFile:
    size: int
    sha256: str
    content_type: str
    cache_control: str
    # The S3 ETag the object must have (MD5 of a single-part object, md5-of-part-md5s "-N" of a
    # multipart one): a listing proves the stored bytes without reading them. Empty in manifests
    # written before it was recorded.
    etag: str = ""
    # Where the bytes are stored: "" under the version's prefix (every version written before the
    # shared area held files once), SHARED_AREA for `_assets/<path>`, CONTENT_AREA for
    # `_content/<sha256>/<path>` (`stored_key`).
    stored_in: str = ""

    @property
    def shared(self) -> bool:
        """Stored once in the shared area, not under its version's prefix."""
        return self.stored_in == SHARED_AREA

    @property
    def stored_once(self) -> bool:
        """Stored outside its version's prefix, in an area any version may name (`area_key`)."""
        return self.stored_in != ""

    @property
    def fingerprinted(self) -> bool:
        """The upload took this file as fingerprinted (immutable, and published to `_assets/`): its
        Cache-Control says `immutable` or a max-age of a year (as uploads and promotes have written it)."""
        if self.content_type.startswith("text/html"):
            return False
        directives = [directive.strip().lower() for directive in self.cache_control.split(",")]
        return "immutable" in directives or any(
            directive.startswith("max-age=")
            and directive[8:].isdigit()
            and int(directive[8:]) >= ONE_YEAR_SECONDS
            for directive in directives
        )


@dataclass(frozen=True)
class Manifest:
    """What a complete version holds: written after every one of its files."""

    version: str
    created: str  # ISO 8601, UTC, when the upload completed
    files: dict[str, ManifestFile] = field(default_factory=dict)
    rules: SiteRules = field(default_factory=SiteRules)
    """The build's `_redirects` and `_headers`, compiled (`edge_lambda.site_rules`); written only when
    the build has some, so manifests of builds without them are as before."""

    def fingerprinted_paths(self) -> set[str]:
        """The files the upload took as fingerprinted."""
        return {path for path, f in self.files.items() if f.fingerprinted}

    def stored_elsewhere(self) -> dict[str, str]:
        """path -> the key prefix (without `/`) holding it, for each file not under the version's own
        prefix: what a router needs besides the routes."""
        return {
            path: f"{CONTENT_AREA}/{f.sha256}" if f.stored_in == CONTENT_AREA else f.stored_in
            for path, f in self.files.items()
            if f.stored_in
        }

    def by_content(self) -> list[str]:
        """The files stored in the content area (only the Lambda@Edge router serves those)."""
        return sorted(path for path, f in self.files.items() if f.stored_in == CONTENT_AREA)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def to_json(self) -> str:
        return json.dumps(self._document(), indent=1, sort_keys=True)

    def _document(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "created": self.created,
            "file_count": len(self.files),
            "total_bytes": self.total_bytes,
            "files": {
                path: {
                    "size": f.size,
                    "sha256": f.sha256,
                    "content_type": f.content_type,
                    "cache_control": f.cache_control,
                    **({"etag": f.etag} if f.etag else {}),
                    **({"in": f.stored_in} if f.stored_in else {}),
                }
                for path, f in sorted(self.files.items())
            },
            **({"rules": self.rules.to_json()} if self.rules else {}),
        }

    def files_digest(self) -> str:
        """SHA-256 of the files part alone (paths, sizes, contents, headers) and of the rules, if any: two
        builds with the same digest store the same objects with the same headers and rules, whatever
        their version or time. The same text as `to_json`'s parts without indentation, with the sorted
        keys: what claims recorded since the digest exists (the C encoder: no indentation)."""
        data = self._document()
        part = {"files": data["files"], "rules": data["rules"]} if "rules" in data else data["files"]
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse and check a manifest: ValueError, naming the first bad entry, for anything that is
        not exactly what `to_json` writes (a path with `..` or `/` at its start, a size that is not a
        whole number, a hash that is not hex, a header that is not text)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"not a version manifest of format {MANIFEST_FORMAT}")
        files = data.get("files")
        if not isinstance(files, dict):
            raise ValueError("its files are not an object of paths")
        created = data.get("created")
        if not isinstance(created, str):
            raise ValueError("its creation time is not text")
        return cls(
            version=validate_version(data.get("version"), "manifest version"),
            created=created,
            files={_manifest_path(path): _manifest_file(path, entry) for path, entry in files.items()},
            rules=SiteRules.from_json(data["rules"]) if "rules" in data else SiteRules(),
        )


_HEX = re.compile(r"[0-9a-f]{1,64}")
_C0_CONTROL = re.compile("[\x00-\x1f]")


def _manifest_path(path: str) -> str:
    if path != path.lstrip("/") or path != _relative_path(path) or _C0_CONTROL.search(path):
        raise ValueError(f"file path {path!r} must be relative, without empty, '.' or '..' segments")
    return path


def _manifest_file(path: str, entry: object) -> ManifestFile:
    if not isinstance(entry, dict):
        raise ValueError(f"entry {path!r} is not an object")
    size, sha256, etag = entry.get("size"), entry.get("sha256"), entry.get("etag", "")
    content_type, cache_control = entry.get("content_type"), entry.get("cache_control")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"entry {path!r}: size {size!r} is not a whole number of bytes")
    if not isinstance(sha256, str) or not _HEX.fullmatch(sha256):
        raise ValueError(f"entry {path!r}: sha256 {sha256!r} is not lowercase hex")
    if not isinstance(etag, str):
        raise ValueError(f"entry {path!r}: etag {etag!r} is not text")
    if not isinstance(content_type, str) or not isinstance(cache_control, str):
        raise ValueError(f"entry {path!r}: content_type and cache_control must be text")
    stored_in = entry.get("in", "")
    if stored_in not in STORED_IN_CHOICES:
        raise ValueError(
            f"entry {path!r}: in {stored_in!r} is not {SHARED_AREA!r} or {CONTENT_AREA!r} (or absent)"
        )
    return ManifestFile(size, sha256, content_type, cache_control, etag, stored_in)
