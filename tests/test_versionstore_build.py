"""What a build directory uploads: exclusions, names refused before the first request, and the headers
of real bundlers' outputs."""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from scripts.versionstore.build import scan_build
from scripts.versionstore.content_headers import (
    IMMUTABLE_CACHE_CONTROL,
    REVALIDATE_CACHE_CONTROL,
    HeaderRules,
    content_encoding_for,
    content_type_for,
)
from scripts.versionstore.errors import StoreRefusedError
from tests.sitectl_scaffold import BUCKET, V1, World, keys, world, write_build

__all__ = ["world"]

LITTERED = {
    "index.html": "<html></html>",
    "src/app.js": "app",
    "src/.env.local": "TOKEN=1",
    ".env": "SECRET=1",
    ".env.production": "API_KEY=live-key",
    ".git/config": "[core]",
    ".git/objects/ab/cdef": "blob",
    ".DS_Store": "\x00",
    ".vscode/settings.json": "{}",
    ".well-known/security.txt": "Contact: mailto:security@example.com",
    "Thumbs.db": "\x00",
    "notes.txt~": "backup",
    "node_modules/left-pad/index.js": "module.exports = 1",
}


def test_private_files_stay_home_and_well_known_goes_up(tmp_path: Path) -> None:
    build = scan_build(write_build(tmp_path / "dist", LITTERED))
    assert [f.path for f in build.files] == [".well-known/security.txt", "index.html", "src/app.js"]
    assert build.excluded == [
        ".DS_Store",
        ".env",
        ".env.production",
        ".git/",
        ".vscode/",
        "Thumbs.db",
        "node_modules/",
        "notes.txt~",
        "src/.env.local",
    ]


def test_ignore_file_and_options(tmp_path: Path) -> None:
    root = write_build(
        tmp_path / "dist",
        {
            "index.html": "x",
            "drafts/post.html": "x",
            "art/cover.psd": "x",
            "art/keep.psd": "x",
            "app.js.map": "{}",
            ".nojekyll": "",
            ".sitectlignore": "# not published\ndrafts/\n*.psd\n!keep.psd\n",
        },
    )
    build = scan_build(root, excludes=["*.map"], includes=[".nojekyll"])
    assert [f.path for f in build.files] == [".nojekyll", "art/keep.psd", "index.html"]
    assert build.excluded == [".sitectlignore", "app.js.map", "art/cover.psd", "drafts/"]


def test_upload_says_what_it_excluded_and_never_sends_it(world: World, tmp_path: Path) -> None:
    result = world.invoke(
        "--bucket", BUCKET, "upload", str(write_build(tmp_path / "dist", LITTERED)), "--version", V1
    )
    assert result.exit_code == 0, result.output
    assert (
        "excluded 9 paths (defaults, .sitectlignore, --exclude; --include re-adds):\n  .DS_Store\n"
        in result.output
    )
    assert "  .env.production\n" in result.output
    assert keys(world, f"{V1}/") == [f"{V1}/.well-known/security.txt", f"{V1}/index.html", f"{V1}/src/app.js"]


@pytest.mark.parametrize(
    ("relative", "problem"),
    [
        ("a\\b.html", "'a\\\\b.html' contains a backslash (browsers turn it into '/')"),
        ("tab\there.html", "'tab\\there.html' contains a control character"),
        (
            "/".join(["d" * 200] * 4) + "/" + "p" * 100 + ".html",
            "could never be served by the edge: the path is longer than 900 bytes",
        ),
    ],
)
def test_bad_names_are_refused_before_the_first_request(
    world: World, tmp_path: Path, relative: str, problem: str
) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", relative: "x"})
    counts = world.count_requests()
    result = world.invoke("--bucket", BUCKET, "upload", str(root), "--version", V1)
    assert result.exit_code == 2
    assert problem in result.output and "rename it, or exclude it (--exclude)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert counts == {}


def test_a_segment_of_dots_only_is_refused_even_when_included(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", "...": "x"})
    with pytest.raises(StoreRefusedError, match="'...' has a segment made of dots only"):
        scan_build(root, includes=["..."])


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x"})
    with open(os.path.join(os.fsencode(root), b"caf\xe9.html"), "wb") as stream:
        stream.write(b"latin-1 name")
    with pytest.raises(StoreRefusedError, match=r"file name 'caf\\udce9.html' is not valid UTF-8"):
        scan_build(root)


def test_nfc_and_nfd_twins_are_reported(tmp_path: Path) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "café.html"), unicodedata.normalize("NFD", "café.html")
    root = write_build(tmp_path / "dist", {nfc: "composed", nfd: "decomposed"})
    with pytest.raises(StoreRefusedError) as refused:
        scan_build(root)
    first, second = sorted([nfc, nfd])
    assert str(refused.value) == (
        f"file names {first!r} and {second!r} differ only in Unicode normalisation (NFC/NFD): "
        "browsers send one of them; rename one"
    )


def test_a_broken_symlink_is_one_line(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x"})
    os.symlink(root / "gone.html", root / "old.html")
    with pytest.raises(StoreRefusedError, match=r"^symlink old.html is broken; remove it$"):
        scan_build(root)


def test_spaces_and_printable_punctuation_are_fine_in_names(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", "my file (1).txt": "y", "a+b=c.txt": "z"})
    assert sorted(f.path for f in scan_build(root).files) == ["a+b=c.txt", "index.html", "my file (1).txt"]


def test_unreadable_files_and_folders_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Permissions do not stop root (these tests may run as root): the refusals are injected instead.
    root = write_build(tmp_path / "dist", {"index.html": "x", "locked/a.html": "x", "secret.html": "x"})
    real_open, real_scandir = Path.open, os.scandir

    def open_denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "secret.html":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_denied)
    with pytest.raises(StoreRefusedError, match="cannot read secret.html: Permission denied"):
        scan_build(root)
    monkeypatch.setattr(Path, "open", real_open)

    def scandir_denied(path: Any) -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir_denied)
    with pytest.raises(StoreRefusedError) as refused:
        scan_build(root)
    assert str(refused.value) == (
        "cannot read folder locked: Permission denied; fix its permissions or exclude it (--exclude)"
    )
    monkeypatch.setattr(os, "scandir", lambda path: scandir_denied(Path(path) / "locked"))
    with pytest.raises(StoreRefusedError, match=r"^cannot read folder \.: Permission denied; "):
        scan_build(root)  # the build folder itself


def test_symlink_loops_are_one_line(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x"})
    os.symlink(root / "loop", root / "loop")
    with pytest.raises(StoreRefusedError, match="symlink loop forms a loop; remove it"):
        scan_build(root)


# Real outputs: Vite 8, Create React App, Next.js, Astro, SvelteKit, Angular 17 (esbuild) and older,
# Parcel; and names people give files by hand.
IMMUTABLE = [
    "assets/index-CreK2-Ey.js",
    "assets/index-DyRVgJ_A.js",
    "assets/Lazy-Q1AJiLvC.js",
    "assets/index-BjQ8f2Kd.css",
    "static/js/main.3f2a1b9c.chunk.js",
    "static/js/787.8a5b9c2e.chunk.js",
    "static/css/main.8c8b27cf.css",
    "static/media/logo.6ce24c58023cc2f8fd88fe9d219db6c6.svg",
    "_next/static/chunks/framework-2c79e2a64abdb08b.js",
    "_next/static/css/9a1f0e1d2b3c4d5e.css",
    "_next/static/x2Yk9sYbQvR1tHn3P0aZc/_buildManifest.js",
    "_astro/index.CtSceO8m.js",
    "_astro/hoisted.SDHHmgQg.js",
    "_app/immutable/entry/start.BpTlX3Ye.js",
    "_app/immutable/nodes/0.js",
    "main-X6UJZK2V.js",
    "polyfills-FFHMD2TL.js",
    "styles-5INURTSO.css",
    "chunk-ABCDEFGH.js",
    "main.3f2a1b9c4d5e6f70.js",
    "runtime.0a1b2c3d4e5f6a7b.js",
    "index.1a2b3c4d.js",
    "app.8f3c2b1a.css",
    "assets/app.fa10386f.js.map",
    "Build/game.4f2c8a1b.wasm.gz",
]
REVALIDATED = [
    "index.html",
    "about/index.html",
    "_next/static/page.html",
    "photo-Summer24.jpg",
    "photo-FEATURED.jpg",
    "photo-SUMMER24.jpg",
    "assets/page-licenses.css",
    "fonts/Inter-Regular.woff2",
    "report-20241231.pdf",
    "page-14-final.css",
    "_app/version.json",
    "sw.js",
    "favicon.ico",
    "robots.txt",
    "site.webmanifest",
    "Build/game.wasm.gz",
]


@pytest.mark.parametrize("path", IMMUTABLE)
def test_bundler_hashes_are_immutable(path: str) -> None:
    assert HeaderRules().cache_control(path) == IMMUTABLE_CACHE_CONTROL


@pytest.mark.parametrize("path", REVALIDATED)
def test_other_names_are_revalidated(path: str) -> None:
    assert HeaderRules().cache_control(path) == REVALIDATE_CACHE_CONTROL


def test_globs_decide_over_names() -> None:
    rules = HeaderRules(immutable_globs=["media/*"], revalidate_globs=["assets/index-*"])
    assert rules.cache_control("media/photo.jpg") == IMMUTABLE_CACHE_CONTROL
    assert rules.cache_control("assets/index-CreK2-Ey.js") == REVALIDATE_CACHE_CONTROL
    assert rules.cache_control("media/page.html") == REVALIDATE_CACHE_CONTROL


@pytest.mark.parametrize(
    ("path", "content_type", "encoding"),
    [
        ("data/export.csv", "text/csv; charset=utf-8", None),
        ("feed.rss", "application/rss+xml", None),
        ("feed.atom", "application/atom+xml", None),
        ("Build/game.wasm.gz", "application/wasm", "gzip"),
        ("Build/game.data.br", "application/octet-stream", "br"),
        ("assets/app.js.br", "text/javascript; charset=utf-8", "br"),
        ("downloads/source.tar.gz", "application/gzip", None),
        ("downloads/dump.gz", "application/gzip", None),
        ("downloads/notes.xyz.gz", "application/gzip", None),
        ("Build/GAME.WASM.GZ", "application/wasm", "gzip"),
    ],
)
def test_types_and_precompressed_files(path: str, content_type: str, encoding: str | None) -> None:
    assert (content_type_for(path), content_encoding_for(path)) == (content_type, encoding)


def test_precompressed_files_are_stored_with_their_encoding(world: World, tmp_path: Path) -> None:
    import gzip

    from scripts.commands.upload import upload_build

    root = write_build(
        tmp_path / "dist", {"index.html": "x", "Build/game.wasm.gz": gzip.compress(b"\x00asm")}
    )
    upload_build(world.s3, BUCKET, root, V1)
    head = world.s3.head_object(Bucket=BUCKET, Key=f"{V1}/Build/game.wasm.gz")
    assert (head["ContentType"], head["ContentEncoding"]) == ("application/wasm", "gzip")


# A link is judged by where it leads: the target, or a folder above it, excluded by name.
LINKS = {
    "secret/key.txt": "k",  # its folder is excluded (`secret/` matches folders only)
    "private/a.txt": "a",  # the link leads to the excluded folder itself
    "assets/key.pem": "p",  # a pattern with a slash matches the whole path
    "drafts": "a file, not a folder: `drafts/` does not exclude it",
}


@pytest.mark.parametrize(
    ("link", "target", "refused"),
    [
        ("pub.txt", "secret/key.txt", True),
        ("pub", "private", True),
        ("key.pem", "assets/key.pem", True),
        ("d.txt", "drafts", False),
    ],
)
def test_a_link_to_an_excluded_file_or_folder_is_refused(
    tmp_path: Path, link: str, target: str, refused: bool
) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", **LINKS})
    os.symlink(root / target, root / link)
    excludes = ["secret/", "private/", "assets/*.pem", "drafts/"]
    if not refused:
        assert sorted(f.path for f in scan_build(root, excludes=excludes).files) == [
            "d.txt",
            "drafts",
            "index.html",
        ]
        return
    with pytest.raises(StoreRefusedError) as raised:
        scan_build(root, excludes=excludes)
    assert str(raised.value) == (
        f"symlink {link} leads to {target}, which is excluded: remove the link, or --include {target} "
        "if it is meant to be public"
    )


def test_an_ignore_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x", ".sitectlignore": b"\xffdrafts/\n"})
    with pytest.raises(StoreRefusedError) as raised:
        scan_build(root)
    assert str(raised.value) == (
        f"cannot read {root.resolve() / '.sitectlignore'}: 'utf-8' codec can't decode byte 0xff in "
        "position 0: invalid start byte; fix its permissions or encoding"
    )


def test_a_link_into_an_allow_list_build_is_judged_by_its_target_only(tmp_path: Path) -> None:
    # `--exclude '*'` then `--include` what is public: the build root itself is not a path to judge.
    root = write_build(tmp_path / "dist", {"public/page.html": "p"})
    os.symlink(root / "public" / "page.html", root / "page.html")
    build = scan_build(root, excludes=["*"], includes=["public", "*.html"])
    assert sorted(f.path for f in build.files) == ["page.html", "public/page.html"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a\x1fb.txt", "contains a control character"),
        ("a\x7fb.txt", "contains a control character"),  # DEL
        ("a\x9fb.txt", "contains a control character"),  # the last C1 control
        ("a\xa0b.txt", None),  # a no-break space is printable
        ("X", None),
        ("docs/XX.X", None),
        ("docs/...", "has a segment made of dots only, which browsers and proxies normalise away"),
        ("a/../b.txt", "has a segment made of dots only, which browsers and proxies normalise away"),
    ],
)
def test_the_names_a_viewer_cannot_fetch(name: str, problem: str | None) -> None:
    from scripts.versionstore.build import name_problem

    assert name_problem(name) == problem


@pytest.mark.parametrize(
    ("pattern", "relative", "is_dir", "matches"),
    [
        ("/robots.txt", "robots.txt", False, True),  # anchored at the build's root
        ("/robots.txt", "docs/robots.txt", False, False),
        ("/Xbuild/*.map", "Xbuild/app.map", False, True),  # only the leading "/" is the anchor
        ("cacheX/", "cacheX", True, True),  # only the trailing "/" marks a folder
        ("cacheX/", "cacheX", False, False),
        ("*.map", "deep/in/app.map", False, True),  # no "/": the name at any depth
        (".*", ".", True, False),  # the build's root (a symlink's target) has no name, so no dot-name
        (".*", "deep/.env", False, True),
    ],
)
def test_an_exclusion_pattern_matches_as_gitignore_does(
    pattern: str, relative: str, is_dir: bool, matches: bool
) -> None:
    from scripts.versionstore.build import Rule

    assert Rule(pattern, False, "--exclude").matches(relative, is_dir) is matches


def test_the_rules_in_order_each_naming_where_it_came_from(tmp_path: Path) -> None:
    from scripts.versionstore.build import DEFAULT_EXCLUDES, exclusion_rules

    (tmp_path / ".sitectlignore").write_text("# a comment\n*.log\n!keep.log\n")
    rules = exclusion_rules(tmp_path, excludes=["*.map"], includes=["app.map"])
    assert [(r.pattern, r.include, r.origin) for r in rules] == [
        *((p, False, "default") for p in DEFAULT_EXCLUDES),
        (".well-known/", True, "default"),
        ("*.log", False, ".sitectlignore"),
        ("keep.log", True, ".sitectlignore"),
        ("*.map", False, "--exclude"),
        ("app.map", True, "--include"),
    ]
    assert [r.origin for r in exclusion_rules(tmp_path, use_defaults=False)] == [".sitectlignore"] * 2


@pytest.mark.parametrize(("size", "etag"), [(1024, "whole"), (1025, "parts")])
def test_a_file_of_exactly_the_multipart_threshold_has_a_single_part_etag(
    monkeypatch: pytest.MonkeyPatch, size: int, etag: str
) -> None:
    import hashlib

    from scripts.versionstore import build

    monkeypatch.setattr(build, "MULTIPART_THRESHOLD", 1024)
    parts = [hashlib.md5(b"a", usedforsecurity=False).digest()] * 2
    expected = (
        "whole-md5"
        if etag == "whole"
        else hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest() + "-2"
    )
    assert build.s3_etag("whole-md5", parts, size) == expected


def test_a_symlink_loop_reported_as_eloop_forms_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.13 raises OSError(ELOOP) where 3.11 raises RuntimeError (tested above on each)."""
    import errno

    root = write_build(tmp_path / "dist", {"index.html": "x"})
    os.symlink(root / "index.html", root / "link.html")
    real_resolve = Path.resolve

    def resolve(self: Path, strict: bool = False) -> Path:
        if self.name == "link.html":
            raise OSError(errno.ELOOP, "Too many levels of symbolic links")
        return real_resolve(self, strict=strict)

    monkeypatch.setattr(Path, "resolve", resolve)
    with pytest.raises(StoreRefusedError) as refused:
        scan_build(root)
    assert str(refused.value) == "symlink link.html forms a loop; remove it"


def test_what_is_neither_a_file_nor_a_folder_is_refused(tmp_path: Path) -> None:
    root = write_build(tmp_path / "dist", {"index.html": "x"})
    os.mkfifo(root / "events")
    with pytest.raises(StoreRefusedError) as refused:
        scan_build(root)
    assert str(refused.value) == "events is neither a regular file nor a directory; remove it"


def test_a_build_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    file = write_build(tmp_path / "dist", {"index.html": "x"}) / "index.html"
    with pytest.raises(StoreRefusedError) as refused:
        scan_build(file)
    assert str(refused.value) == f"{file} is not a directory"


def test_an_error_without_a_code_has_the_empty_code() -> None:
    from botocore.exceptions import ClientError

    from scripts.versionstore.errors import error_code

    assert error_code(ClientError({}, "GetObject")) == ""
    assert error_code(ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")) == "NoSuchKey"


def test_types_read_from_strings_are_pathlibs_for_any_name() -> None:
    """The headers are chosen from the name's string (no PurePosixPath per call); for any name,
    odd ones included (`..gz`, `a.`, `.br`, `x/./y.js.gz`, `dir.css/`), what pathlib's suffixes say."""
    from pathlib import PurePosixPath

    from scripts.versionstore.content_headers import CONTENT_ENCODINGS, CONTENT_TYPES, DEFAULT_CONTENT_TYPE

    def by_pathlib(path: str) -> tuple[str, str | None]:
        pure = PurePosixPath(path)
        encoding = CONTENT_ENCODINGS.get(pure.suffix.lower())
        # The suffix before the encoding's: the stem's own suffix. Not with_suffix(""), which
        # Python 3.13 refuses for a stem of "." (`/..gz`) where 3.11 returned the parent.
        inner = PurePosixPath(pure.stem).suffix.lower()
        if encoding is not None and inner in CONTENT_TYPES:
            return CONTENT_TYPES[inner], encoding
        return CONTENT_TYPES.get(pure.suffix.lower(), DEFAULT_CONTENT_TYPE), None

    rng = random.Random(29)
    names = ["".join(rng.choice("ab./.gzjsbrcsHTML") for _ in range(rng.randint(0, 12))) for _ in range(4000)]
    for name in names:
        for path in (name, f"{name}.js.gz", f"/{name}.gz", f"{name}/", f"x/./{name}.css.br"):
            assert (content_type_for(path), content_encoding_for(path)) == by_pathlib(path), path


def test_files_are_hashed_on_threads_in_order_and_the_first_unreadable_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import threading

    from scripts.versionstore import build as building

    files = {f"f{i:03d}.bin": os.urandom(5000 + i) for i in range(60)}
    root = write_build(tmp_path / "dist", files)
    threads: set[str] = set()
    real_digest = building.file_digest

    def digest(path: Path, relative: str, evidence: Any = None) -> Any:
        threads.add(threading.current_thread().name)
        return real_digest(path, relative, evidence)

    monkeypatch.setattr(building, "file_digest", digest)
    monkeypatch.setattr(building, "HASH_WORKERS", 4)
    scanned = scan_build(root)
    assert [f.path for f in scanned.files] == sorted(files)
    assert all(f.sha256 == hashlib.sha256(files[f.path]).hexdigest() for f in scanned.files)
    assert threading.current_thread().name not in threads, "hashed on threads, not on the caller's"
    real_open = Path.open

    def open_denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name in ("f041.bin", "f007.bin"):
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_denied)
    with pytest.raises(StoreRefusedError, match="^cannot read f007.bin: Permission denied"):
        scan_build(root)


def test_a_file_whose_text_is_evidence_is_opened_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunk-20241231.js: its hash reads as a date, so only the build's text can make it fingerprinted;
    # the scan then searches each script and page for it from the read that hashes the file.
    files: dict[str, bytes | str] = {
        "index.html": '<script src="/assets/main.js"></script>',
        "assets/main.js": "import('./chunk-20241231.js')",
        "assets/chunk-20241231.js": "export {}",
        "assets/other-20240101.js": "export {}",
        "logo.png": b"\x89PNG",
    }
    root = write_build(tmp_path / "dist", files)
    opened: list[str] = []
    real_open = Path.open

    def counted(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self.relative_to(root).as_posix())
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counted)
    scanned = scan_build(root)
    assert sorted(opened) == sorted(files)
    assert scanned.fingerprinted == {"assets/chunk-20241231.js": "named by the build's scripts"}
    by_path = {f.path: f for f in scanned.files}
    assert by_path["assets/chunk-20241231.js"].cache_control == IMMUTABLE_CACHE_CONTROL
    assert by_path["assets/other-20240101.js"].cache_control != IMMUTABLE_CACHE_CONTROL


def test_exclusions_answer_as_the_rules_one_by_one(tmp_path: Path) -> None:
    from scripts.versionstore.build import Exclusions, exclusion_rules, is_excluded

    (tmp_path / ".sitectlignore").write_text("drafts/\n/private/*.txt\n!keep.swp\n*.map\n!/assets/app.map\n")
    rules = exclusion_rules(
        tmp_path, excludes=["tmp*", "a/b/"], includes=[".well-known/x", "node_modules/ok"]
    )
    exclusions = Exclusions(rules)
    segments = [
        "a",
        "b",
        "drafts",
        "private",
        "x.txt",
        "keep.swp",
        "y.swp",
        ".env",
        ".well-known",
        "x",
        "app.map",
        "assets",
        "node_modules",
        "ok",
        "tmp1",
        "#e#",
        "id_rsa",
        "Thumbs.db",
        ".",
    ]
    rng = random.Random(7)
    for _ in range(3000):
        relative = "/".join(rng.choice(segments) for _ in range(rng.randint(1, 4)))
        for is_dir in (False, True):
            assert exclusions.excluded(relative, is_dir) == is_excluded(rules, relative, is_dir), relative
