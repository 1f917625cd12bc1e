"""A version's build rules (`edge_lambda.site_rules`) as the CloudFront Function router reads them: keys
of its KeyValueStore, written under the version's name, never changed, removed only with the version.

A CloudFront Function keeps nothing between requests and its store's values hold 1,024 bytes, so the
rules are split by the request path's first segment: key `r/<version>/<n>` holds the rules whose
literal first segment hashes to `n` (`bucket`: 31-polynomial over its UTF-16 code units, modulo the
version's key count `k`), the rules that start with `*` or a placeholder (any path may match them), in
file order, and the paths a file answers (`f`, decoded, as clean URLs resolve them) among those that a
rule not forced with `!` matches: "a rule applies only where no file answers" without the file list.
`k` rides in the `live-version` value (`code.store_value`): a request of a version with rules makes one
read more, of the one key its path hashes to; a version without rules none. `compile_rules` picks the
smallest `k` whose keys all fit, up to `MAX_RULE_KEYS`, and refuses beyond (`RulesNotCarriedError`).

One value: `{"r": [[pattern, to, status], ...], "f": [path, ...]}`; `pattern` is the decoded `from` as
`/seg/:name/*` (`""` for `/`), `to` percent-encoded as `site_rules` fills it, `status` negative when
forced. `write_rule_keys` is the one writer: every path that makes a version live (the program's
`pulumi up`, `sitectl rollback --now`, the demo) calls it before the `live-version` key moves;
`delete_rule_keys` the one remover (`sitectl prune`, after the version's objects are deleted);
`list_keys` and `rule_key_version` find the keys of versions no longer stored (prune's sweep).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from edge_lambda import layout
from edge_lambda.routes import RoutesTooLargeError
from edge_lambda.site_rules import (
    _PLACEHOLDER,
    _URL_SAFE,
    NOT_FOUND_STATUS,
    HeaderRule,
    Pattern,
    RedirectRule,
    SiteRules,
    answering_file,
)

# The keys' prefix in the store (the `live-version` key is the only other).
RULE_KEY_PREFIX = "r/"
# CloudFront KeyValueStore: a value holds at most 1,024 bytes (code.MAX_STORE_VALUE_BYTES).
MAX_RULE_KEY_BYTES = 1024
# ListKeys answers at most 50 items a page (botocore's model: ListKeysRequest.MaxResults, max 50).
LIST_KEYS_PAGE = 50
# Keys one version may use: 64 KB of the store's 5 MB, so that a store keeps about 80 versions with
# the most rules (prune removes a version's keys with it).
MAX_RULE_KEYS = 64
# Characters with a meaning in a JavaScript regular expression, escaped in a literal segment.
_REGEX_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")
_SEGMENT_GROUP = "([^/]+)"
# A key's value without rules: `r` redirects, `f` paths files answer, `h` header blocks.
_FRAME = '{"r":[],"f":[],"h":[]}'


class RulesNotCarriedError(RoutesTooLargeError):
    """A version whose build rules the cloudfront-function router cannot carry (the limit named)."""


def rule_key(version: str, index: int) -> str:
    return f"{RULE_KEY_PREFIX}{version}/{index}"


def _polynomial(text: str) -> int:
    """`text`'s UTF-16 code units (JavaScript's string units) as a base-31 number."""
    data = text.encode("utf-16-le", "surrogatepass")
    value = 0
    for i in range(0, len(data), 2):
        value = value * 31 + int.from_bytes(data[i : i + 2], "little")
    return value


def hash31(text: str, modulus: int) -> int:
    """viewer_bucket.js `hash31`, which reduces modulo `modulus` at each step: the same number."""
    return _polynomial(text) % modulus


def rule_key_version(key: str) -> str | None:
    """The version a store key is a rule key of (`r/<version>/...`), None for any other key."""
    if not key.startswith(RULE_KEY_PREFIX):
        return None
    version, slash, _ = key[len(RULE_KEY_PREFIX) :].partition("/")
    return version if slash and layout.is_valid_version(version) else None


def path_key(path: str) -> str:
    """What a decoded relative path is hashed by: its first two segments (`blog/a/b/` -> `blog/a`)."""
    return "/".join(path.rstrip("/").split("/")[:2])


def bucket(path: str, count: int) -> int:
    """Which of `count` keys holds the rules a decoded relative path may match (router.js)."""
    return hash31(path_key(path), count)


def _rule_path_key(source: Pattern) -> str | None:
    """The `path_key` of every path `source` matches, or None when they differ (the rule then goes into
    every key): a pattern whose first two segments are literal, or a one-segment (or root) literal."""
    segments = source.segments
    literal = [s for s in segments[:2] if not s.startswith(":")]
    if len(segments) >= 2 and len(literal) == 2:
        return "/".join(segments[:2])
    if not source.splat and len(segments) == len(literal) <= 1:
        return "/".join(segments)
    return None


def _regex(source: Pattern) -> tuple[str, dict[str, int]]:
    """`source` as a JavaScript regular expression over the decoded path without its leading `/` (a
    trailing `/` optional, as `Pattern.match`), and the group of each capture (a name's last wins)."""
    pieces: list[str] = []
    groups: dict[str, int] = {}
    for segment in source.segments:
        if segment.startswith(":"):
            groups[segment[1:]] = pieces.count(_SEGMENT_GROUP) + 1
            pieces.append(_SEGMENT_GROUP)
        else:
            pieces.append(_REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), segment))
    body = "/".join(pieces)
    if source.splat:
        groups["splat"] = pieces.count(_SEGMENT_GROUP) + 1
        body = f"{body}(?:/(.*?))?" if pieces else "(.*?)"
    return f"^{body}/?$", groups


def _target(to: str, groups: Mapping[str, int]) -> list[str | int]:
    """`to` percent-encoded as `site_rules._fill` leaves it, in pieces: text, or the group whose capture
    goes there (router.js encodes it)."""
    pieces: list[str | int] = []
    text = urllib.parse.quote(to, safe=_URL_SAFE)
    end = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) in groups:
            pieces += [text[end : match.start()], groups[match.group(1)]]
            end = match.end()
    pieces.append(text[end:])
    return [p for p in pieces if p != ""]


def _matcher(source: Pattern) -> tuple[str, dict[str, int]]:
    """What build_rules.js `ruleMatch` takes: a literal path compared as a string (no RegExp built for
    it), unless it would read as an expression; else the expression."""
    regex, groups = _regex(source)
    literal = "/".join(source.segments)
    return (literal if source.literal and not literal.startswith("^") else regex), groups


def _header_json(rule: HeaderRule) -> str:
    """`[matcher, [name, value, name, value, ...]]`: a `_headers` block."""
    return _encode([_matcher(rule.source)[0], [part for pair in rule.headers for part in pair]])


def _redirect_json(rule: RedirectRule) -> str:
    matcher, groups = _matcher(rule.source)
    return _encode([matcher, _target(rule.to, groups), -rule.status if rule.force else rule.status])


def _encode(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def answered_paths(files: Collection[str]) -> set[str]:
    """Every decoded relative path a file of the version answers (`site_rules.answering_file`), the
    `p` and `p/` spellings, `` for the root."""
    files = frozenset(files)
    paths: set[str] = set()
    for name in files:
        paths.add(name)
        for suffix in (".html", "/index.html"):
            if name.endswith(suffix):
                paths.update({name[: -len(suffix)], name[: -len(suffix)] + "/"})
        if name == "index.html":
            paths.add("")
    return {p for p in paths if answering_file("/" + p, files) is not None}


@dataclass(frozen=True)
class CompiledRules:
    """A version's rule keys: how many (`count`, 0 without rules) and each key's value."""

    count: int
    values: dict[str, str]


def compile_rules(version: str, rules: SiteRules, files: Collection[str]) -> CompiledRules:
    """The keys of `version`, whose build has `rules` and `files`; RulesNotCarriedError when no key
    count up to MAX_RULE_KEYS gives keys of MAX_RULE_KEY_BYTES at most."""
    not_found = [rule for rule in rules.redirects if rule.status == NOT_FOUND_STATUS]
    if not_found:
        raise RulesNotCarriedError(
            f"_redirects:{not_found[0].line} is a 404 rule, and this router carries none yet (its limit: 0 "
            "404 rules: the status needs the viewer-response function); release it with `pulumi config set "
            "router lambda-edge`, or remove the rule and upload again"
        )
    if not rules:
        return CompiledRules(0, {})
    placed = [(_rule_path_key(rule.source), _redirect_json(rule)) for rule in rules.redirects]
    blocks = [(_rule_path_key(rule.source), _header_json(rule)) for rule in rules.headers]
    # Only the answered paths a rule not forced matches can change what a request gets.
    unforced: dict[str | None, list[Pattern]] = {}
    for rule in rules.redirects:
        if not rule.force:
            unforced.setdefault(_rule_path_key(rule.source), []).append(rule.source)
    shadowing = sorted(
        path
        for path in answered_paths(files)
        if any(
            source.match("/" + path) is not None
            for source in (*unforced.get(path_key(path), ()), *unforced.get(None, ()))
        )
    )
    everywhere = sum(len(text.encode()) + 1 for key, text in (*placed, *blocks) if key is None)
    broad = sum(key is None for key, _ in (*placed, *blocks))
    if everywhere > MAX_RULE_KEY_BYTES - len(_FRAME):
        raise RulesNotCarriedError(
            f"its {broad} rules whose first two segments are not both literal (`/blog/*`, `/u/:id`, in "
            f"_redirects or _headers) take {everywhere} bytes, and every path tries them, so they must fit "
            f"one KeyValueStore key of {MAX_RULE_KEY_BYTES} bytes (the cloudfront-function router's limit): "
            "spell some out with a second literal segment, or release it with `pulumi config set router "
            "lambda-edge`"
        )
    # Each element's bytes and its comma (one too many, as `]` is), and the number its key hashes from.
    items = [
        (_polynomial(key), len(text.encode()) + 1) for key, text in (*placed, *blocks) if key is not None
    ]
    items += [(_polynomial(path_key(path)), len(_encode(path).encode()) + 1) for path in shadowing]
    for count in range(1, MAX_RULE_KEYS + 1):
        sizes = [len(_FRAME) + everywhere] * count
        for number, size in items:
            sizes[number % count] += size
        if max(sizes) <= MAX_RULE_KEY_BYTES:
            return CompiledRules(count, _values(version, count, placed, shadowing, blocks))
    raise RulesNotCarriedError(
        f"its {len(rules.redirects)} redirect rules (_redirects), {len(rules.headers)} header blocks "
        f"(_headers) and the {len(shadowing)} paths files answer under rules not forced with `!` need more "
        f"than {MAX_RULE_KEYS} KeyValueStore keys of {MAX_RULE_KEY_BYTES} bytes (the cloudfront-function "
        f"router's limit; the {broad} rules every path tries, `/blog/*` or `/u/:id`, take {everywhere} "
        "bytes of each): use fewer rules or `!` (a `/* /index.html 200` rule: `spaFallback` instead), or "
        "release it with `pulumi config set router lambda-edge`"
    )


def _values(
    version: str,
    count: int,
    placed: list[tuple[str | None, str]],
    shadowing: list[str],
    blocks: list[tuple[str | None, str]],
) -> dict[str, str]:
    held: list[list[str]] = [[] for _ in range(count)]
    for key, text in placed:  # in file order
        for index in range(count) if key is None else (hash31(key, count),):
            held[index].append(text)
    headers: list[list[str]] = [[] for _ in range(count)]
    for key, text in blocks:
        for index in range(count) if key is None else (hash31(key, count),):
            headers[index].append(text)
    paths: list[list[str]] = [[] for _ in range(count)]
    for path in shadowing:
        paths[bucket(path, count)].append(_encode(path))
    return {
        rule_key(version, index): '{"r":['
        + ",".join(held[index])
        + '],"f":['
        + ",".join(paths[index])
        + '],"h":['
        + ",".join(headers[index])
        + "]}"
        for index in range(count)
    }


def write_rule_keys(kvs: Any, store_arn: str, values: Mapping[str, str]) -> int:
    """Each of `values` the store does not hold yet, written (PutKey on the store's current ETag; a
    racing writer makes CloudFront refuse it with ConflictException, raised). Keys of a version are
    never changed, so one already there is left alone. Returns how many were written."""
    etag: str | None = None
    written = 0
    for key, value in values.items():
        try:
            if kvs.get_key(KvsARN=store_arn, Key=key)["Value"] == value:
                continue
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        if etag is None:
            etag = kvs.describe_key_value_store(KvsARN=store_arn)["ETag"]
        etag = kvs.put_key(KvsARN=store_arn, Key=key, Value=value, IfMatch=etag)["ETag"]
        written += 1
    return written


def delete_rule_keys(kvs: Any, store_arn: str, keys: Collection[str]) -> int:
    """`keys` (a version's, as `compile_rules` names them) deleted from the store, after the version's
    objects went (`sitectl prune`): DeleteKey on the store's current ETag, as `write_rule_keys` writes (a
    racing writer makes CloudFront refuse it with ConflictException, raised). A key already gone is
    skipped. No store call without keys. Returns how many were deleted."""
    etag: str | None = None
    deleted = 0
    for key in keys:
        if etag is None:
            etag = kvs.describe_key_value_store(KvsARN=store_arn)["ETag"]
        try:
            etag = kvs.delete_key(KvsARN=store_arn, Key=key, IfMatch=etag)["ETag"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            continue
        deleted += 1
    return deleted


def list_keys(kvs: Any, store_arn: str) -> dict[str, str]:
    """Every key of the store with its value: ListKeys, `LIST_KEYS_PAGE` items a request, following
    NextToken until a page comes without one."""
    found: dict[str, str] = {}
    token: str | None = None
    while True:
        page = kvs.list_keys(
            KvsARN=store_arn, MaxResults=LIST_KEYS_PAGE, **({"NextToken": token} if token else {})
        )
        found.update((item["Key"], item["Value"]) for item in page.get("Items", []))
        token = page.get("NextToken")
        if not token:
            return found
