"""Redirect and header rules that ship with a build: `_redirects` and `_headers` at its root, in Netlify's
syntax (Cloudflare Pages reads the same files).

`sitectl upload` parses both files (`parse_rule_files`) before it sends anything, refuses what it cannot
parse or does not support with `<file>:<line>: <reason>` (`RuleFileError`), leaves the two files out of
the version (they are never served) and writes the compiled rules into the version's manifest
(`layout.Manifest.rules`), so that a release applies them, a rollback brings them back and `promote`
carries them (the manifest is copied byte for byte). Both routers and `sitectl serve` read them from there.

What is supported, as Netlify documents it ("Redirects and rewrites", "Custom headers"; where it is
silent, the choice is written here):

- `_redirects`: one rule a line, `from to [status][!]`; `#` comments; blank lines. Statuses 301 (the
  default), 302, 303, 307, 308; 200, a rewrite inside the same version (the viewer's URL stays); 404,
  the `to` page served with status 404. `*` as the last segment of `from` (the splat, given to `to` as
  `:splat`) and `:name` segments (placeholders), both carried to `to` percent-encoded. Paths are
  case-sensitive and compared decoded (`/caf%C3%A9` and `/café` are one path); a trailing `/` is
  optional on both sides (`/old` matches `/old/`). The first matching rule wins. A rule applies only
  where no file answers the path (as clean URLs would resolve it), unless it is forced with `!`.
  The viewer's query string is kept (added to `to`'s own). `to` may be absolute (`https://...`) for
  a redirect, never for 200 or 404 (that would be a proxy).
- `_headers`: a path pattern (same patterns) on its own line, then indented `Name: value` lines; every
  matching block adds its headers; the same name from several blocks is joined with `, `.
- Refused: query-parameter matching (`/store id=:id ...`), conditions (`Country=`, `Language=`, `Role=`,
  `Cookie=`), domain-level `from` (`https://...`: the stack's `hostRedirect` does apex/www), proxies
  (an absolute `to` with 200), other statuses, a `*` that is not a whole last segment, headers that the
  edge may not set (`FORBIDDEN_HEADERS`), and more rules than `MAX_REDIRECT_RULES`/`MAX_HEADER_RULES`.

Standard library only: it ships in the Lambda@Edge bundle.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

REDIRECTS_FILE = "_redirects"
HEADERS_FILE = "_headers"
RULE_FILES = (REDIRECTS_FILE, HEADERS_FILE)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
REWRITE_STATUS = 200
NOT_FOUND_STATUS = 404
STATUSES = (REWRITE_STATUS, *REDIRECT_STATUSES, NOT_FOUND_STATUS)
DEFAULT_STATUS = 301
# Each request walks the rules in order: bounded work per request, and a manifest that stays small.
MAX_REDIRECT_RULES = 1000
MAX_HEADER_RULES = 100
MAX_LINE_CHARS = 2000
# How long a viewer may keep a redirect of the build's rules: a later version may change it.
REDIRECT_CACHE_CONTROL = "max-age=300"
# Headers no edge function may set on a response (AWS, "Restrictions on edge functions": disallowed
# headers, and those read-only in origin-response or viewer-response events), so that both routers can
# carry every rule. Names lowercase; a trailing `*` is a prefix.
FORBIDDEN_HEADERS = (
    "connection",
    "content-encoding",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "warning",
    "x-accel-*",
    "x-amz-cf-*",
    "x-cache",
    "x-edge-*",
    "x-forwarded-proto",
    "x-real-ip",
)
_PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
# A segment's value put into a target: everything but the separators that would change its meaning.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
# Printable ASCII but the space: a target is sent as is, only other characters are percent-encoded.
_URL_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))


class RuleFileError(ValueError):
    """A rule file that cannot be parsed or uses something unsupported: `<file>:<line>: <reason>`."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Pattern:
    """A `from` path (or a `_headers` path): literal segments, `:name` placeholders, a final `*`."""

    text: str
    segments: tuple[str, ...]
    splat: bool

    @property
    def literal(self) -> bool:
        return not self.splat and not any(s.startswith(":") for s in self.segments)

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """ValueError (the reason) for a pattern that is not a path or misplaces `*`."""
        if not text.startswith("/"):
            raise ValueError(f"{text!r} is not a path: it must start with '/'")
        try:
            decoded = urllib.parse.unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise ValueError(f"{text!r} has percent-escapes that are not UTF-8") from None
        parts = _segments(decoded)
        splat = bool(parts) and parts[-1] == "*"
        if splat:
            parts = parts[:-1]
        for part in parts:
            if "*" in part:
                raise ValueError(f"{text!r}: `*` (the splat) must be the whole last segment, as in /blog/*")
            if part in (".", ".."):
                raise ValueError(f"{text!r} has a '.' or '..' segment")
            if part.startswith(":") and not _PLACEHOLDER.fullmatch(part):
                raise ValueError(f"{text!r}: {part!r} is not a placeholder (`:` then letters, digits, `_`)")
        return cls(text, tuple(parts), splat)

    def match(self, path: str) -> dict[str, str] | None:
        """The captures (`splat` and each placeholder) when the decoded `path` matches, else None."""
        return self.match_segments(_segments(path))

    @property
    def first(self) -> str | None:
        """The literal first segment every matching path starts with; None when any may match."""
        if not self.segments or self.segments[0].startswith(":"):
            return None
        return self.segments[0]

    def match_segments(self, parts: Sequence[str]) -> dict[str, str] | None:
        if len(parts) < len(self.segments) or (not self.splat and len(parts) != len(self.segments)):
            return None
        captures: dict[str, str] = {}
        for want, got in zip(self.segments, parts, strict=False):
            if want.startswith(":"):
                if not got:
                    return None
                captures[want[1:]] = got
            elif want != got:
                return None
        if self.splat:
            captures["splat"] = "/".join(parts[len(self.segments) :])
        return captures


def _segments(path: str) -> list[str]:
    """`/a/b/` -> ['a', 'b']: a trailing `/` is optional, `/` is no segment at all."""
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _fill(target: str, captures: Mapping[str, str]) -> str:
    """`target` with `:splat` and `:name` replaced by the (percent-encoded) captured values."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in captures:
            return match.group(0)
        return urllib.parse.quote(captures[name], safe=_SEGMENT_SAFE + ("/" if name == "splat" else ""))

    return urllib.parse.quote(_PLACEHOLDER.sub(value, target), safe=_URL_SAFE)


def is_absolute(target: str) -> bool:
    return target.startswith(("https://", "http://"))


@dataclass(frozen=True)
class RedirectRule:
    source: Pattern
    to: str
    status: int
    force: bool
    line: int

    def target(self, captures: Mapping[str, str]) -> str:
        return _fill(self.to, captures)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.source.text,
            "to": self.to,
            "status": self.status,
            "force": self.force,
            "line": self.line,
        }


@dataclass(frozen=True)
class HeaderRule:
    source: Pattern
    headers: tuple[tuple[str, str], ...]
    line: int

    def to_json(self) -> dict[str, Any]:
        return {"for": self.source.text, "headers": [list(h) for h in self.headers], "line": self.line}


_Rule = TypeVar("_Rule", RedirectRule, HeaderRule)


class _FirstSegmentIndex(Generic[_Rule]):
    """The rules a path can match, by its first segment, in file order: a request walks those (and the
    rules whose first segment is a placeholder or a splat), not every rule."""

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.anywhere: list[_Rule] = [rule for rule in rules if rule.source.first is None]
        self.by_first: dict[str, list[_Rule]] = {}
        for rule in rules:
            first = rule.source.first
            if first is not None and first not in self.by_first:
                self.by_first[first] = [r for r in rules if r.source.first in (first, None)]

    def candidates(self, parts: Sequence[str]) -> list[_Rule]:
        return self.by_first.get(parts[0], self.anywhere) if parts else self.anywhere


@dataclass(frozen=True)
class RuleMatch:
    """The rule that answers a path, and where it sends it (`location`: percent-encoded, no query)."""

    rule: RedirectRule
    location: str

    @property
    def status(self) -> int:
        return self.rule.status

    @property
    def internal(self) -> bool:
        """A rewrite (200) or a not-found page (404): served from the version, no redirect."""
        return self.rule.status in (REWRITE_STATUS, NOT_FOUND_STATUS)


@dataclass(frozen=True)
class SiteRules:
    """A version's compiled rules (see the module docstring)."""

    redirects: tuple[RedirectRule, ...] = ()
    headers: tuple[HeaderRule, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.redirects or self.headers)

    @functools.cached_property
    def _redirect_index(self) -> _FirstSegmentIndex[RedirectRule]:
        return _FirstSegmentIndex(self.redirects)

    @functools.cached_property
    def _header_index(self) -> _FirstSegmentIndex[HeaderRule]:
        return _FirstSegmentIndex(self.headers)

    def redirect_for(self, path: str, file_answers: Callable[[str], bool]) -> RuleMatch | None:
        """The first rule matching the decoded `path` that applies there (forced, or no file answers
        the path: `file_answers(path)`, asked at most once), or None."""
        answered: bool | None = None
        parts = _segments(path)
        for rule in self._redirect_index.candidates(parts):
            captures = rule.source.match_segments(parts)
            if captures is None:
                continue
            if not rule.force:
                if answered is None:
                    answered = file_answers(path)
                if answered:
                    continue
            return RuleMatch(rule, rule.target(captures))
        return None

    def headers_for(self, path: str) -> list[tuple[str, str]]:
        """The headers every block matching the decoded `path` adds, in order; one name's values from
        several blocks joined with `, `."""
        merged: dict[str, tuple[str, str]] = {}
        parts = _segments(path)
        for rule in self._header_index.candidates(parts):
            if rule.source.match_segments(parts) is None:
                continue
            for name, value in rule.headers:
                key = name.lower()
                merged[key] = (
                    (merged[key][0], f"{merged[key][1]}, {value}") if key in merged else (name, value)
                )
        return list(merged.values())

    def literal_redirects(self) -> list[RedirectRule]:
        """The redirect rules with a literal `from` (no splat, no placeholder): what `verify` checks."""
        return [r for r in self.redirects if r.source.literal and r.status in REDIRECT_STATUSES]

    def to_json(self) -> dict[str, Any]:
        return {
            "redirects": [rule.to_json() for rule in self.redirects],
            "headers": [rule.to_json() for rule in self.headers],
        }

    @classmethod
    def from_json(cls, data: object) -> SiteRules:
        """Rules as `to_json` wrote them; ValueError for anything else (a manifest is checked when read)."""
        if not isinstance(data, dict):
            raise ValueError("its rules are not an object")
        redirects, headers = data.get("redirects", []), data.get("headers", [])
        if not isinstance(redirects, list) or not isinstance(headers, list):
            raise ValueError("its rules' redirects and headers must be arrays")
        try:
            return cls(
                tuple(
                    _redirect_rule(r["from"], r["to"], r["status"], r["force"], r["line"]) for r in redirects
                ),
                tuple(_header_rule(h["for"], h["headers"], h["line"]) for h in headers),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"its rules do not parse: {error}") from None


def _redirect_rule(source: object, to: object, status: object, force: object, line: object) -> RedirectRule:
    if not isinstance(source, str) or not isinstance(to, str) or not isinstance(line, int):
        raise ValueError("a redirect's from and to must be text")
    if status not in STATUSES or not isinstance(force, bool):
        raise ValueError(f"a redirect's status {status!r} is not one of {STATUSES}")
    assert isinstance(status, int)
    return RedirectRule(Pattern.parse(source), to, status, force, line)


def _header_rule(source: object, headers: object, line: object) -> HeaderRule:
    if not isinstance(source, str) or not isinstance(headers, list) or not isinstance(line, int):
        raise ValueError("a header rule needs a path and a list of headers")
    pairs = []
    for pair in headers:
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise ValueError(f"header {pair!r} is not [name, value]")
        pairs.append((pair[0], pair[1]))
    return HeaderRule(Pattern.parse(source), tuple(pairs), line)


def _lines(text: str) -> Iterable[tuple[int, str]]:
    return enumerate(text.splitlines(), start=1)


def parse_redirects(text: str, file: str = REDIRECTS_FILE) -> tuple[RedirectRule, ...]:
    """The rules of a `_redirects` file; RuleFileError at the first line it refuses."""
    rules: list[RedirectRule] = []
    for number, raw in _lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def refuse(reason: str, line_number: int = number) -> RuleFileError:
            return RuleFileError(file, line_number, reason)

        if len(line) > MAX_LINE_CHARS:
            raise refuse(f"the line is longer than {MAX_LINE_CHARS} characters")
        if _CONTROL.search(line):
            raise refuse("the line holds a control character")
        tokens = line.split()
        if len(tokens) < 2:
            raise refuse(f"{tokens[0]!r} has no target: write `from to [status]`, e.g. `/old /new 301`")
        source, to, *rest = tokens
        if is_absolute(source):
            raise refuse(
                "domain-level redirects (a `from` with a host) are not supported: the stack's "
                "`hostRedirect` setting redirects apex <-> www; write a path"
            )
        if "=" in to and not to.startswith("/") and not is_absolute(to):
            raise refuse(
                "query-parameter matching (`from key=value to`) is not supported: match the path only "
                "(the query string is kept)"
            )
        status, force = DEFAULT_STATUS, False
        if rest:
            token = rest.pop(0)
            force = token.endswith("!")
            digits = token[:-1] if force else token
            if not digits.isdigit():
                raise refuse(
                    f"{token!r} is not a status: use 301, 302, 303, 307, 308, 200 or 404 (`!` to force)"
                )
            status = int(digits)
            if status not in STATUSES:
                raise refuse(f"status {status} is not supported: use 301, 302, 303, 307, 308, 200 or 404")
        if rest:
            raise refuse(
                f"{' '.join(rest)!r}: conditions (Country=, Language=, Role=, Cookie=) and other options "
                "are not supported: write `from to [status][!]`"
            )
        try:
            pattern = Pattern.parse(source)
        except ValueError as error:
            raise refuse(str(error)) from None
        if status in (REWRITE_STATUS, NOT_FOUND_STATUS) and not to.startswith("/"):
            raise refuse(
                f"a {status} rule serves a page of this site: its target must be a path starting with '/' "
                "(proxying to another site is not supported)"
            )
        if not is_absolute(to) and not to.startswith("/"):
            raise refuse(f"target {to!r} must be a path starting with '/' or an https:// URL")
        if not is_absolute(to) and {".", ".."} & set(urllib.parse.unquote(to.split("?")[0]).split("/")):
            raise refuse(f"target {to!r} has a '.' or '..' segment")
        named = {s[1:] for s in pattern.segments if s.startswith(":")} | (
            {"splat"} if pattern.splat else set()
        )
        target_path = urllib.parse.urlsplit(to).path if is_absolute(to) else to
        missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(target_path)} - named)
        if missing:
            hint = " (`:splat` needs a `*` at the end of `from`)" if "splat" in missing else ""
            raise refuse(f"the target uses :{', :'.join(missing)}, which `from` does not capture{hint}")
        if len(rules) >= MAX_REDIRECT_RULES:
            raise refuse(
                f"more than {MAX_REDIRECT_RULES} redirect rules: every request walks them; use splats "
                "and placeholders to say more with fewer"
            )
        rules.append(RedirectRule(pattern, to, status, force, number))
    return tuple(rules)


def header_problem(name: str) -> str | None:
    """Why no edge function may set the response header `name`, or None."""
    lowered = name.lower()
    for forbidden in FORBIDDEN_HEADERS:
        if lowered == forbidden or (forbidden.endswith("*") and lowered.startswith(forbidden[:-1])):
            return f"{name} is a header CloudFront's edge functions may not set"
    return None


def parse_headers(text: str, file: str = HEADERS_FILE) -> tuple[HeaderRule, ...]:
    """The blocks of a `_headers` file; RuleFileError at the first line it refuses."""
    rules: list[HeaderRule] = []
    current: tuple[Pattern, int, list[tuple[str, str]]] | None = None

    def close() -> None:
        if current is None:
            return
        pattern, line, headers = current
        if not headers:
            raise RuleFileError(file, line, f"{pattern.text} has no `Name: value` lines under it (indented)")
        if len(rules) >= MAX_HEADER_RULES:
            raise RuleFileError(file, line, f"more than {MAX_HEADER_RULES} header blocks: use `*` patterns")
        rules.append(HeaderRule(pattern, tuple(headers), line))

    for number, raw in _lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_CHARS:
            raise RuleFileError(file, number, f"the line is longer than {MAX_LINE_CHARS} characters")
        if _CONTROL.search(line):
            raise RuleFileError(file, number, "the line holds a control character")
        if not raw[0].isspace():
            close()
            if is_absolute(line):
                raise RuleFileError(file, number, "a path with a host is not supported: write a path")
            try:
                current = (Pattern.parse(line), number, [])
            except ValueError as error:
                raise RuleFileError(file, number, str(error)) from None
            continue
        if current is None:
            raise RuleFileError(
                file, number, "a header line before any path: start the block with a path line"
            )
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise RuleFileError(file, number, f"{line!r} is not `Name: value`")
        if not value:
            raise RuleFileError(file, number, f"header {name} has no value")
        problem = header_problem(name)
        if problem is not None:
            raise RuleFileError(file, number, problem)
        current[2].append((name, value))
    close()
    return tuple(rules)


def parse_rule_files(redirects: str | None, headers: str | None) -> SiteRules:
    """The rules of a build's `_redirects` and `_headers` texts (None: no such file)."""
    return SiteRules(
        parse_redirects(redirects) if redirects is not None else (),
        parse_headers(headers) if headers is not None else (),
    )


def spa_rule_conflict(rules: SiteRules) -> RedirectRule | None:
    """A `/* /index.html 200` rule: with the stack's `spaFallback` it says the same thing twice."""
    for rule in rules.redirects:
        spa_target = rule.to.rstrip("/") in ("", "/index.html", "/index")
        if rule.source.splat and not rule.source.segments and rule.status == REWRITE_STATUS and spa_target:
            return rule
    return None


def answering_file(path: str, files: Collection[str]) -> str | None:
    """The file of the version that answers the decoded `path` the way clean URLs resolve it (`p`,
    `p.html`, `p/index.html`; `/p/`: `p/index.html`, `p.html`), or None."""
    relative = path.lstrip("/")
    if not relative or relative.endswith("/"):
        bare = relative.rstrip("/")
        candidates = [f"{bare}/index.html", f"{bare}.html"] if bare else ["index.html"]
    else:
        candidates = [relative, f"{relative}.html", f"{relative}/index.html"]
    return next((c for c in candidates if c in files), None)


def file_answers(path: str, files: Collection[str]) -> bool:
    return answering_file(path, files) is not None
