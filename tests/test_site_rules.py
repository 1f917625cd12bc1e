"""The build's `_redirects` and `_headers` (edge_lambda/site_rules.py): what parses, what is refused with
file:line:reason, how a path matches, and how the rules travel with the version (manifest, upload).
What each router answers with them is the rule table's (tests/fixtures/edge_rules.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_lambda import layout
from edge_lambda.site_rules import (
    HeaderRule,
    Pattern,
    RedirectRule,
    RuleFileError,
    SiteRules,
    answering_file,
    file_answers,
    parse_headers,
    parse_redirects,
    parse_rule_files,
    spa_rule_conflict,
)
from scripts.commands.upload import upload_build
from scripts.versionstore import store as storage
from scripts.versionstore.errors import StoreRefusedError
from tests.sitectl_scaffold import BUCKET, V1, V2, World, keys, sample_build, world, write_build

__all__ = ["world"]

REDIRECTS = """\
# moved pages
/old-page      /new-page
/blog/*        /news/:splat   302
/u/:id/posts   /people/:id    308
/app/*         /app/index.html 200
/shop/*        /shop/404.html 404
/docs          https://docs.example.com/  301!
"""

HEADERS = """\
/*
  X-Frame-Options: DENY
  X-Robots-Tag: noindex
/fonts/*
  Cache-Control: public, max-age=31536000, immutable
/blog/*
  X-Robots-Tag: nofollow
"""


def test_a_redirects_file_parses_to_its_rules() -> None:
    rules = parse_redirects(REDIRECTS)
    assert [rule.to_json() for rule in rules] == [
        {"from": "/old-page", "to": "/new-page", "status": 301, "force": False, "line": 2},
        {"from": "/blog/*", "to": "/news/:splat", "status": 302, "force": False, "line": 3},
        {"from": "/u/:id/posts", "to": "/people/:id", "status": 308, "force": False, "line": 4},
        {"from": "/app/*", "to": "/app/index.html", "status": 200, "force": False, "line": 5},
        {"from": "/shop/*", "to": "/shop/404.html", "status": 404, "force": False, "line": 6},
        {"from": "/docs", "to": "https://docs.example.com/", "status": 301, "force": True, "line": 7},
    ]


def test_a_headers_file_parses_to_its_blocks_and_merges_them_per_path() -> None:
    rules = SiteRules(headers=parse_headers(HEADERS))
    assert [rule.to_json() for rule in rules.headers] == [
        {"for": "/*", "headers": [["X-Frame-Options", "DENY"], ["X-Robots-Tag", "noindex"]], "line": 1},
        {"for": "/fonts/*", "headers": [["Cache-Control", "public, max-age=31536000, immutable"]], "line": 4},
        {"for": "/blog/*", "headers": [["X-Robots-Tag", "nofollow"]], "line": 6},
    ]
    assert rules.headers_for("/blog/post") == [
        ("X-Frame-Options", "DENY"),
        ("X-Robots-Tag", "noindex, nofollow"),
    ]
    assert rules.headers_for("/fonts/a.woff2")[-1] == ("Cache-Control", "public, max-age=31536000, immutable")
    assert rules.headers_for("/") == [("X-Frame-Options", "DENY"), ("X-Robots-Tag", "noindex")]


@pytest.mark.parametrize(
    ("pattern", "path", "captures"),
    [
        ("/old", "/old", {}),
        ("/old", "/old/", {}),
        ("/old/", "/old", {}),
        ("/old", "/older", None),
        ("/old", "/Old", None),  # paths are case-sensitive, as Netlify's
        ("/blog/*", "/blog", {"splat": ""}),
        ("/blog/*", "/blog/", {"splat": ""}),
        ("/blog/*", "/blog/2024/post", {"splat": "2024/post"}),
        ("/blog/*", "/blogs/x", None),
        ("/*", "/", {"splat": ""}),
        ("/u/:id", "/u/42", {"id": "42"}),
        ("/u/:id", "/u/", None),
        ("/u/:id", "/u/42/x", None),
        ("/:lang/*", "/fr/a/b", {"lang": "fr", "splat": "a/b"}),
        # Compared decoded: an encoded rule and a raw one are the same path.
        ("/caf%C3%A9", "/café", {}),
        ("/café/*", "/café/menü", {"splat": "menü"}),
    ],
)
def test_patterns_match_decoded_paths(pattern: str, path: str, captures: dict[str, str] | None) -> None:
    assert Pattern.parse(pattern).match(path) == captures


def _rule(line: str) -> RedirectRule:
    (rule,) = parse_redirects(line)
    return rule


@pytest.mark.parametrize(
    ("line", "path", "location"),
    [
        ("/blog/* /news/:splat", "/blog/2024/été", "/news/2024/%C3%A9t%C3%A9"),
        ("/u/:id /people/:id", "/u/a b", "/people/a%20b"),
        ("/u/:id /people/:id", "/u/a?b", "/people/a%3Fb"),
        ("/x/* https://example.com/y/:splat", "/x/ü", "https://example.com/y/%C3%BC"),
        ("/a /b?c=1", "/a", "/b?c=1"),
        # Only an absolute target's path must use captured names: `:src` in its query is text.
        ("/a https://x.example.com/p?ref=:src", "/a", "https://x.example.com/p?ref=:src"),
    ],
)
def test_captures_reach_the_target_percent_encoded(line: str, path: str, location: str) -> None:
    found = SiteRules(redirects=(_rule(line),)).redirect_for(path, lambda p: False)
    assert found is not None
    assert found.location == location


def test_a_rule_applies_only_where_no_file_answers_unless_forced() -> None:
    files = {"index.html", "old.html", "blog/index.html"}
    rules = SiteRules(redirects=parse_redirects("/old /new\n/blog/* /news/:splat\n"))
    assert rules.redirect_for("/old", lambda p: file_answers(p, files)) is None
    assert rules.redirect_for("/blog/", lambda p: file_answers(p, files)) is None
    found = rules.redirect_for("/blog/post", lambda p: file_answers(p, files))
    assert found is not None and found.location == "/news/post"
    # The shadowed rule is passed over: the next matching rule, forced, applies.
    forced = SiteRules(redirects=parse_redirects("/old /new\n/old /forced 301!\n"))
    found = forced.redirect_for("/old", lambda p: file_answers(p, files))
    assert found is not None and found.location == "/forced"


@pytest.mark.parametrize(
    ("path", "answered"),
    [
        ("/", True),
        ("/old", True),
        ("/old/", True),
        ("/blog", True),
        ("/blog/", True),
        ("/nope", False),
        ("/x.css", True),
    ],
)
def test_a_file_answers_a_path_as_clean_urls_resolve_it(path: str, answered: bool) -> None:
    assert file_answers(path, {"index.html", "old.html", "blog/index.html", "x.css"}) is answered


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("/a", "_redirects:1: '/a' has no target: write `from to [status]`, e.g. `/old /new 301`"),
        (
            "\n\n/a /b 410",
            "_redirects:3: status 410 is not supported: use 301, 302, 303, 307, 308, 200 or 404",
        ),
        (
            "/a /b 30x",
            "_redirects:1: '30x' is not a status: use 301, 302, 303, 307, 308, 200 or 404 (`!` to force)",
        ),
        (
            "/a\t/b\t302\tCountry=fr",
            "_redirects:1: 'Country=fr': conditions (Country=, Language=, Role=, Cookie=) and other options "
            "are not supported: write `from to [status][!]`",
        ),
        (
            "/store id=:id /b 301",
            "_redirects:1: query-parameter matching (`from key=value to`) is not supported: match the path "
            "only (the query string is kept)",
        ),
        (
            "https://old.example.com/* /:splat 301",
            "_redirects:1: domain-level redirects (a `from` with a host) are not supported: the stack's "
            "`hostRedirect` setting redirects apex <-> www; write a path",
        ),
        (
            "http://old.example.com/* /:splat 301",
            "_redirects:1: domain-level redirects (a `from` with a host) are not supported: the stack's "
            "`hostRedirect` setting redirects apex <-> www; write a path",
        ),
        (
            "/a/* https://other.example.com/:splat 200",
            "_redirects:1: a 200 rule serves a page of this site: its target must be a path starting with "
            "'/' (proxying to another site is not supported)",
        ),
        (
            "/a/*/b /c",
            "_redirects:1: '/a/*/b': `*` (the splat) must be the whole last segment, as in /blog/*",
        ),
        (
            "/a /b/:splat",
            "_redirects:1: the target uses :splat, which `from` does not capture (`:splat` needs a `*` at "
            "the end of `from`)",
        ),
        ("/a/:id /b/:name", "_redirects:1: the target uses :name, which `from` does not capture"),
        ("/a/:id /b/:x/:y", "_redirects:1: the target uses :x, :y, which `from` does not capture"),
        ("a /b", "_redirects:1: 'a' is not a path: it must start with '/'"),
        ("/a b", "_redirects:1: target 'b' must be a path starting with '/' or an https:// URL"),
        ("/%ff /b", "_redirects:1: '/%ff' has percent-escapes that are not UTF-8"),
        ("/a/../b /c", "_redirects:1: '/a/../b' has a '.' or '..' segment"),
        ("/a/./b /c", "_redirects:1: '/a/./b' has a '.' or '..' segment"),
        ("/a /b/./c", "_redirects:1: target '/b/./c' has a '.' or '..' segment"),
        ("/a /b/../c?x=1", "_redirects:1: target '/b/../c?x=1' has a '.' or '..' segment"),
        ("/a /b\x01", "_redirects:1: the line holds a control character"),
        ("/" + "a" * 1997 + " /b", "_redirects:1: the line is longer than 2000 characters"),
    ],
)
def test_bad_redirect_lines_name_the_file_line_and_reason(text: str, error: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        parse_redirects(text)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    "line",
    [
        "/" + "a" * 1996 + " /b",  # 2,000 characters: the limit
        "/a http://other.example.com/y 301",  # an absolute target, http too
        "/a /b/c?next=/../y",  # only the target's path is checked for dot segments
    ],
)
def test_lines_at_the_edges_of_the_rules_are_accepted(line: str) -> None:
    (rule,) = parse_redirects(line)
    assert (rule.source.text, rule.to) == tuple(line.split())[:2]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("  X-A: b", "_headers:1: a header line before any path: start the block with a path line"),
        ("/a\n/b\n  X: y", "_headers:1: /a has no `Name: value` lines under it (indented)"),
        (
            "/a\n  Content-Length: 3",
            "_headers:2: Content-Length is a header CloudFront's edge functions may not set",
        ),
        (
            "/a\n  X-Amz-Cf-Id: 3",
            "_headers:2: X-Amz-Cf-Id is a header CloudFront's edge functions may not set",
        ),
        ("/a\n  not a header", "_headers:2: 'not a header' is not `Name: value`"),
        ("/a\n  X-A", "_headers:2: 'X-A' is not `Name: value`"),
        ("/a\n  X-Empty:", "_headers:2: header X-Empty has no value"),
        ("https://example.com/*\n  X: y", "_headers:1: a path with a host is not supported: write a path"),
        ("/a\n  X-A: b\x02", "_headers:2: the line holds a control character"),
        ("/" + "a" * 2000, "_headers:1: the line is longer than 2000 characters"),
        # Comments and blank lines are passed over, not the end of the file.
        ("# c\n\n/a\n  # note\n  X-A: 1\n/b\n  bad", "_headers:7: 'bad' is not `Name: value`"),
    ],
)
def test_bad_header_lines_name_the_file_line_and_reason(text: str, error: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        parse_headers(text)
    assert str(raised.value) == error


def test_too_many_rules_are_refused_with_the_limit() -> None:
    text = "".join(f"/p{n} /q{n}\n" for n in range(1001))
    with pytest.raises(RuleFileError) as raised:
        parse_redirects(text)
    assert str(raised.value) == (
        "_redirects:1001: more than 1000 redirect rules: every request walks them; use splats and "
        "placeholders to say more with fewer"
    )
    assert len(parse_redirects(text.rsplit("/p1000", 1)[0])) == 1000
    blocks = "".join(f"/h{n}\n  X-N: {n}\n" for n in range(101))
    with pytest.raises(RuleFileError) as raised:
        parse_headers(blocks)
    assert str(raised.value) == "_headers:201: more than 100 header blocks: use `*` patterns"
    assert len(parse_headers(blocks.rsplit("/h100", 1)[0])) == 100


@pytest.mark.parametrize(
    ("line", "conflict"),
    [
        ("/* /index.html 200", True),
        ("/* / 200", True),
        ("/* /index 200", True),
        ("/* /index/ 200", True),
        ("/* /index.html 301", False),  # a redirect, not a rewrite
        ("/app/* /index.html 200", False),  # one area, not every path
        ("/app/* /app/index.html 200", False),
        ("/* /INDEX 200", False),  # paths are case-sensitive
        ("/* /index.htmlX 200", False),
        ("/* /shell.html 200", False),
    ],
)
def test_the_spa_rule_is_recognised(line: str, conflict: bool) -> None:
    rules = parse_rule_files(f"# first\n{line}\n", None)
    assert spa_rule_conflict(rules) is (rules.redirects[0] if conflict else None)


def test_rules_read_back_from_a_manifest_are_checked() -> None:
    assert SiteRules.from_json({"headers": []}) == SiteRules()
    assert SiteRules.from_json({"redirects": []}) == SiteRules()
    for bad, message in (
        ([], "its rules are not an object"),
        ({"redirects": {}, "headers": []}, "its rules' redirects and headers must be arrays"),
        ({"redirects": [], "headers": {}}, "its rules' redirects and headers must be arrays"),
        (
            {"redirects": [{"from": 1, "to": "/x", "status": 301, "force": False, "line": 1}]},
            "its rules do not parse: a redirect's from and to must be text",
        ),
        (
            {"redirects": [{"from": "/a", "to": "/x", "status": 418, "force": False, "line": 1}]},
            "its rules do not parse: a redirect's status 418 is not one of "
            "(200, 301, 302, 303, 307, 308, 404)",
        ),
        (
            {"headers": [{"for": "/a", "headers": "X-A: 1", "line": 1}]},
            "its rules do not parse: a header rule needs a path and a list of headers",
        ),
        (
            {"headers": [{"for": "/a", "headers": [["X-A"]], "line": 1}]},
            "its rules do not parse: header ['X-A'] is not [name, value]",
        ),
    ):
        with pytest.raises(ValueError) as raised:
            SiteRules.from_json(bad)
        assert str(raised.value) == message


def test_rules_travel_in_the_manifest_and_change_its_digest() -> None:
    rules = parse_rule_files(REDIRECTS, HEADERS)
    entry = layout.ManifestFile(3, "ab", "text/html; charset=utf-8", "max-age=0", "e")
    plain = layout.Manifest(V1, "2026-11-27T10:15:00+00:00", {"index.html": entry})
    ruled = layout.Manifest(V1, "2026-11-27T10:15:00+00:00", {"index.html": entry}, rules)
    assert "rules" not in json.loads(plain.to_json())
    assert layout.Manifest.from_json(ruled.to_json()) == ruled
    assert layout.Manifest.from_json(ruled.to_json()).rules.headers_for("/blog/x")[1] == (
        "X-Robots-Tag",
        "noindex, nofollow",
    )
    assert plain.files_digest() != ruled.files_digest()
    bad = json.loads(ruled.to_json())
    bad["rules"]["redirects"][0]["status"] = 418
    with pytest.raises(ValueError, match="its rules do not parse"):
        layout.Manifest.from_json(json.dumps(bad))


def test_upload_records_the_rules_and_never_sends_the_two_files(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "site")
    write_build(
        build, {"_redirects": REDIRECTS, "_headers": HEADERS, "docs/_redirects": "kept: not at the root"}
    )
    report = upload_build(world.s3, BUCKET, build, V1)
    assert (report.redirect_rules, report.header_rules) == (6, 3)
    stored = keys(world, prefix=f"{V1}/")
    assert f"{V1}/_redirects" not in stored and f"{V1}/_headers" not in stored
    assert f"{V1}/docs/_redirects" in stored
    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    assert manifest.rules == parse_rule_files(REDIRECTS, HEADERS)
    assert "_redirects" not in manifest.files


def test_a_bad_rule_file_refuses_the_upload_before_anything_is_sent(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "site")
    write_build(build, {"_redirects": "/ok /fine\n/bad /x 418\n"})
    with pytest.raises(StoreRefusedError) as raised:
        upload_build(world.s3, BUCKET, build, V1)
    assert str(raised.value).startswith("_redirects:2: status 418 is not supported")
    assert "fix the line" in str(raised.value)
    assert keys(world) == []


def test_a_block_that_does_not_match_is_passed_over_not_the_end() -> None:
    rules = parse_rule_files(None, "/blog/:slug\n  X-One: 1\n/blog/*\n  X-Two: 2\n/*\n  x-two: 3\n")
    # /blog/a/b has two segments after /blog: the placeholder block does not match, the others do.
    assert rules.headers_for("/blog/a/b") == [("X-Two", "2, 3")]
    assert rules.headers_for("/blog/a") == [("X-One", "1"), ("X-Two", "2, 3")]


@pytest.mark.parametrize(
    ("path", "files", "answer"),
    [
        ("/Xmas", {"Xmas.html"}, "Xmas.html"),
        ("/boX/", {"boX/index.html"}, "boX/index.html"),
        ("/boX/", {"boX.html"}, "boX.html"),
        ("/", {"index.html"}, "index.html"),
    ],
)
def test_the_file_that_answers_a_path(path: str, files: set[str], answer: str) -> None:
    assert answering_file(path, files) == answer


def test_header_rules_compare_by_value() -> None:
    assert HeaderRule(Pattern.parse("/a"), (("X", "y"),), 1) == parse_headers("/a\n  X: y")[0]


def test_the_first_matching_rule_wins_across_literal_and_placeholder_first_segments() -> None:
    rules = SiteRules(redirects=parse_redirects("/:lang/x /by-placeholder\n/en/x /literal\n/en/* /splat\n"))
    found = rules.redirect_for("/en/x", lambda p: False)
    assert found is not None and found.location == "/by-placeholder"
    found = rules.redirect_for("/en/y", lambda p: False)
    assert found is not None and found.location == "/splat"
    assert rules.redirect_for("/fr/y", lambda p: False) is None


@given(st.text(max_size=60))
def test_any_path_gets_no_rule_or_an_ascii_location(path: str) -> None:
    rules = SiteRules(
        redirects=parse_redirects("/a/* /b/:splat\n/:x/:y /c/:x/:y 302\n/* https://example.com/:splat\n")
    )
    found = rules.redirect_for("/" + path, lambda p: False)
    assert found is not None  # the last rule matches every path
    assert found.location.isascii() and " " not in found.location and "\n" not in found.location


def test_the_upload_refuses_rules_the_stacks_router_cannot_carry(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "site")
    write_build(build, {"_redirects": REDIRECTS})
    world.stack.extra_outputs["router"] = "cloudfront-function"
    result = world.invoke("upload", str(build), "--stack", "test", "--version", V1)
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1] == (
        "Error: the stack's router is cloudfront-function, and this build: _redirects:6 is a 404 rule, and "
        "this router carries none yet (its limit: 0 404 rules: the status needs the viewer-response "
        "function); release it with `pulumi config set router lambda-edge`, or remove the rule and upload "
        "again"
    )
    assert keys(world) == []
    world.stack.extra_outputs["router"] = "lambda-edge"
    assert world.invoke("upload", str(build), "--stack", "test", "--version", V1).exit_code == 0
    # Redirects alone: the function router carries them (edge_function/rule_keys.py).
    redirects = "".join(line + "\n" for line in REDIRECTS.splitlines() if " 404" not in line)
    write_build(build, {"_redirects": redirects})
    world.stack.extra_outputs["router"] = "cloudfront-function"
    result = world.invoke("upload", str(build), "--stack", "test", "--version", V2)
    assert result.exit_code == 0, result.output
