"""Every relative link of README.md and docs/*.md resolves: the file exists and, for `#anchor`, one of
its headings has that anchor (GitHub's: lower case, punctuation dropped, spaces to hyphens, `-1`, `-2`
for repeats). Sections move between the documents; a link left behind fails here, not for a reader."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document."""
    found: set[str] = set()
    for line in FENCE.sub("", text).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading is None:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def relative_links(document: Path) -> list[str]:
    """The link targets of a document that are not URLs; code (fenced, or in a span) holds none."""
    text = CODE_SPAN.sub("", FENCE.sub("", document.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve()
        shown = os.path.relpath(linked, root)
        if not linked.exists():
            problems.append(f"{target}: no file {shown}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading with that anchor in {shown}")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    assert broken_links(document) == [], f"fix the links of {document.relative_to(ROOT)}"


def test_the_checker_sees_a_broken_link_and_an_anchor(tmp_path: Path) -> None:
    other = "# Other\n\n## The switch's provider (`--now`)\n\n## Tags\n\n## Tags\n"
    (tmp_path / "other.md").write_text(other)
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-switchs-provider---now) [twice](other.md#tags-1) [self](#page) [`a`](other.md)\n"
        "# Page\n[gone](missing.md) [bad anchor](other.md#tag) `[code](nowhere.md)` [web](https://x.y/z)\n"
        "```\n[fenced](nowhere.md)\n```\n"
    )
    assert broken_links(page, tmp_path.resolve()) == [
        "missing.md: no file missing.md",
        "other.md#tag: no heading with that anchor in other.md",
    ]


# The project's rule: what only AWS or the Pulumi engine would show is cited in docs/architecture.md. The
# topic documents keep their citations in place; each must also be a row of architecture.md's table
# "What only AWS or the engine shows". mutation.md cites tooling (mutmut), not AWS or the engine.
URL = re.compile(r"https?://[^\s)<>\]\"]+")
ENGINE_SOURCE = re.compile(r"`((?:pkg|sdk|internal)/[^`\s]+)`")


def cited_sources(text: str) -> set[str]:
    """The URLs a document cites (code excluded: `https://example.com/gone` is an example) and the
    pulumi/pulumi (or bridge, provider) source paths it names."""
    text = FENCE.sub("", text)
    urls = {url.rstrip(".,;:") for url in URL.findall(CODE_SPAN.sub("", text))}
    return urls | set(ENGINE_SOURCE.findall(text))


@pytest.mark.parametrize(
    "document",
    [p for p in DOCUMENTS if p.parent.name == "docs" and p.name not in ("architecture.md", "mutation.md")],
    ids=lambda p: p.name,
)
def test_every_source_a_topic_document_cites_is_in_the_architecture_table(document: Path) -> None:
    table = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = sorted(s for s in cited_sources(document.read_text(encoding="utf-8")) if s not in table)
    assert missing == [], (
        f"{document.name} cites sources missing from docs/architecture.md: add a row for each to its "
        '"What only AWS or the engine shows" table'
    )


def test_cited_sources_skip_code_and_find_engine_paths() -> None:
    text = (
        "See [GetObject](https://docs.aws.amazon.com/x.html), and https://github.com/a/b/issues/8, read.\n"
        "`https://example.com/gone` is code; `pkg/resource/deploy/step.go` is the engine's.\n"
    )
    assert cited_sources(text) == {
        "https://docs.aws.amazon.com/x.html",
        "https://github.com/a/b/issues/8",
        "pkg/resource/deploy/step.go",
    }


# Code, tests and documents point into the documents by file and section: `docs/routers.md, "Two
# routers"`, across a comment's line breaks. When a section moves, the pointer must move with it.
POINTER = re.compile(r'docs/\s?([\w-]+\.md)(?:, | \()"([^"\n]{3,80})"')
POINTING_FILES = ("*.py", "*.md", "*.js", "*.mjs", "*.ts", "*.yaml", "*.sh", "Makefile")


def pointers(text: str) -> list[tuple[str, str]]:
    """(document, quoted section) of each pointer, a comment's line breaks and markers joined."""
    return POINTER.findall(re.sub(r"\n\s*(?:#|//|\*)?\s*", " ", text))


def sections(text: str) -> list[str]:
    """A document's headings and bold labels (`**Where the guards run.**`), code marks dropped."""
    text = FENCE.sub("", text)
    found = re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE) + re.findall(r"\*\*([^*]+)\*\*", text)
    return [" ".join(title.replace("`", "").split()) for title in found]


def stale_pointers(paths: list[Path], docs: Path) -> list[str]:
    """Pointers whose document has no heading or bold label starting with the quoted words."""
    problems = []
    for path in paths:
        for document, section in pointers(path.read_text(encoding="utf-8", errors="replace")):
            target = docs / document
            titles = sections(target.read_text(encoding="utf-8")) if target.exists() else []
            if not any(title.startswith(section.replace("`", "")) for title in titles):
                problems.append(f'{os.path.relpath(path, docs.parent)}: docs/{document}, "{section}"')
    return problems


def test_every_pointer_into_the_documents_names_a_section_of_that_document() -> None:
    listed = subprocess.run(
        ["git", "ls-files", *POINTING_FILES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    here = Path(__file__).resolve()  # its examples are not pointers
    paths = [ROOT / name for name in listed if (ROOT / name).is_file() and ROOT / name != here]
    assert len(paths) > 100, "git ls-files listed too little: is this a checkout?"
    assert stale_pointers(paths, ROOT / "docs") == [], (
        "these pointers name a section their document does not hold: point them at the file that does"
    )


def test_pointers_are_read_across_comment_lines_and_need_a_heading(tmp_path: Path) -> None:
    text = '# waits (docs/\n# releases.md, "Targeted\n# releases") and // docs/rules.md ("Gone"), not\n'
    text += '# docs/rules.md: "quoted words"\n'
    assert pointers(text) == [("releases.md", "Targeted releases"), ("rules.md", "Gone")]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "releases.md").write_text("# Releases\n\n## Targeted releases, in `up`\n")
    (docs / "rules.md").write_text("# Rules\n\nGone, in prose only; see [Gone](x.md). **Kept.**\n")
    (tmp_path / "pointing.py").write_text(text)
    assert stale_pointers([tmp_path / "pointing.py"], docs) == ['pointing.py: docs/rules.md, "Gone"']
