"""Fingerprint recall and false positives, measured on generated and human-chosen names.

Recall: names generated with a fixed seed from each bundler's own hash alphabet and length, in a build
whose entry names its chunks (as every bundler's does); every one must be taken as fingerprinted.
False positives: a corpus of names people choose (photos, documents, vendored libraries, fonts, icons),
unreferenced and referenced from a style sheet; the counts are literal, so a change of the rules shows
here and in docs/open-pages.md ("Fingerprinted files"), where they are recorded.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_lambda.fingerprint import has_hash_shape, hash_tokens, is_fingerprinted
from scripts.versionstore import fingerprints
from scripts.versionstore.fingerprints import decide, text_tokens

SEED = 24
PER_BUNDLER = 1000
BASE64URL = string.ascii_letters + string.digits + "-_"
BASE32 = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"
STEMS = ["index", "Lazy", "vendor", "About", "my-component", "Home.vue_vue_type_script_setup_true_lang", "x"]


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _hex(rng: random.Random, length: int) -> str:
    # a tenth all digits, a tenth all letters: webpack writes both (2.4% of 8-digit hashes)
    shape = rng.random()
    alphabet = "0123456789" if shape < 0.1 else "abcdef" if shape < 0.2 else HEX
    return _token(rng, alphabet, length)


def rollup(rng: random.Random) -> str:
    # Rollup/Vite `[name]-[hash]`: 8 characters of base64url, `-`/`_` at either end included
    token = _token(rng, BASE64URL, 8)
    if rng.random() < 0.2:
        token = rng.choice("-_") + token[1:] if rng.random() < 0.5 else token[:-1] + rng.choice("-_")
    return f"assets/{rng.choice(STEMS)}-{token}.{rng.choice(['js', 'css', 'svg', 'woff2'])}"


def webpack(rng: random.Random) -> str:
    # webpack/Rspack `[name].[contenthash:8].chunk.js` (CRA), `[contenthash]` (20 hex, webpack 5)
    if rng.random() < 0.5:
        return f"static/js/{rng.randint(1, 999)}.{_hex(rng, 8)}.chunk.js"
    return f"{rng.choice(['main', 'runtime', 'app'])}.{_hex(rng, rng.choice([8, 16, 20]))}.js"


def esbuild(rng: random.Random) -> str:
    # esbuild/Angular `[name]-[hash]`: 8 base32 capitals and digits, any stem
    stem = rng.choice(["chunk", "main", "Lazy", "polyfills", "FeatureRoute", "a"])
    return f"{stem}-{_token(rng, BASE32, 8)}.js"


def parcel(rng: random.Random) -> str:
    # Parcel 2 `[name].[hash]`: 8 hex
    return f"{rng.choice(STEMS)}.{_hex(rng, 8)}.{rng.choice(['js', 'css', 'png'])}"


def turbopack(rng: random.Random) -> str:
    # Turbopack (Next.js): content-hashed chunks under _next/static/, and 16-hex chunk names
    return rng.choice([f"_next/static/chunks/{_hex(rng, 16)}.js", f"{_hex(rng, 16)}.js"])


BUNDLERS: dict[str, Callable[[random.Random], str]] = {
    "rollup": rollup,
    "webpack": webpack,
    "esbuild": esbuild,
    "parcel": parcel,
    "turbopack": turbopack,
}


def generated(bundler: str) -> list[str]:
    rng = random.Random(f"{SEED}-{bundler}")
    return [BUNDLERS[bundler](rng) for _ in range(PER_BUNDLER)]


def the_builds_references(names: list[str], bundler: str) -> tuple[set[str], set[str]]:
    """The tokens of a build whose HTML names its entry and whose entry names its chunks: by file
    name (Rollup, esbuild, Parcel, Turbopack), or by a map of chunk ids to hashes (webpack's runtime)."""
    entry, chunks = names[0], names[1:]
    page = f'<script type="module" src="/{entry}"></script>'
    if bundler == "webpack":
        hashes = {
            n: name.split(".")[-3] if name.endswith(".chunk.js") else name.split(".")[-2]
            for n, name in enumerate(chunks)
        }
        script = 'r.u=e=>"static/js/"+e+"."+' + repr(hashes) + '[e]+".chunk.js"'
    else:
        script = "\n".join(f'import("./{name.rsplit("/", 1)[-1]}")' for name in chunks)
    return text_tokens(script), text_tokens(page)


@pytest.mark.parametrize("bundler", sorted(BUNDLERS))
def test_every_generated_name_has_the_hash_shape(bundler: str) -> None:
    names = generated(bundler)
    assert len(set(names)) > PER_BUNDLER * 0.95
    assert [name for name in names if not has_hash_shape(name)] == []


@pytest.mark.parametrize("bundler", sorted(BUNDLERS))
def test_every_generated_name_is_taken_as_fingerprinted_in_a_build_that_names_it(bundler: str) -> None:
    names = generated(bundler)
    scripts, pages = the_builds_references(names, bundler)
    decision = decide(names, scripts, pages)
    assert [name for name in names if name not in decision.reasons] == []


# What the name alone misses (the strict rule, all there was before the build's evidence was read), per
# 1,000 generated names; the generators over-weight the hard cases (a fifth of the Rollup hashes start or
# end with `-`/`_`, a fifth of the hex hashes are all digits or all letters).
STRICT_RULE_MISSES = {"esbuild": 133, "parcel": 224, "rollup": 298, "turbopack": 101, "webpack": 207}


@pytest.mark.parametrize("bundler", sorted(BUNDLERS))
def test_the_strict_name_rule_alone_misses_what_the_evidence_catches(bundler: str) -> None:
    assert sum(not is_fingerprinted(name) for name in generated(bundler)) == STRICT_RULE_MISSES[bundler]


# --- false positives: names people choose ---------------------------------------------------------

HUMAN_NAMES = [
    # photos
    *("IMG_1234.JPG", "IMG_20240101_123456.jpg", "DSC01234.jpg", "PXL_20231224_101010123.jpg"),
    *("photo-Summer24.jpg", "team-pictures.jpg", "summer-vacation.jpg", "hero-background.webp"),
    *("headshot-jane-doe.png", "office-2023.jpg", "beach_sunset.jpeg", "wedding-DSC_0042.jpg"),
    *("product-shot-front.png", "banner-homepage.jpg", "logo-dark.svg", "logo-transparent.png"),
    *("screenshot-2024-05-01.png", "Screenshot 2024-05-01 at 10.00.00.png", "avatar-default.png"),
    # documents
    *("annual-report-2024.pdf", "Q3-Financials.pdf", "invoice-20241231.pdf", "whitepaper-v2.pdf"),
    *("terms-and-conditions.pdf", "privacy-policy.pdf", "brochure-printable.pdf", "menu-december.pdf"),
    *("datasheet-ABCD1234.pdf", "manual-EN.pdf", "press-kit.zip", "slides-keynote.pdf"),
    # vendored libraries and styles
    *("jquery-3.7.1.min.js", "bootstrap-grid.css", "bootstrap.bundle.min.js", "font-awesome.min.css"),
    *("lodash-4.17.21.min.js", "chart.umd.js", "vue.global.prod.js", "react-dom.production.min.js"),
    *("normalize-8.0.1.css", "highlight-github.css", "prism-tomorrow.css", "analytics-tracking.js"),
    *("swiper-bundle.min.css", "leaflet-src.esm.js", "three.module.min.js", "alpine-collapse.js"),
    # fonts and icons
    *("Roboto-Regular.woff2", "OpenSans-Bold.ttf", "Inter-VariableFont.woff2", "fa-solid-900.woff2"),
    *("favicon-32x32.png", "apple-touch-icon.png", "android-chrome-192x192.png", "mstile-150x150.png"),
    *("icon-hamburger.svg", "icons-sprite.svg", "Lato-BoldItalic.woff", "Montserrat-SemiBold.woff2"),
    # site files
    *("site.webmanifest", "robots.txt", "sitemap-index.xml", "feed-atom.xml", "CHANGELOG.md"),
    *("search-index.json", "translations-de.json", "config.production.json", "data-20240101.csv"),
]


def test_the_false_positive_rates_on_human_names() -> None:
    assert len(HUMAN_NAMES) == len(set(HUMAN_NAMES)) == 68
    shape = [name for name in HUMAN_NAMES if has_hash_shape(name)]
    strict = [name for name in HUMAN_NAMES if is_fingerprinted(name)]
    unreferenced = decide(HUMAN_NAMES, set(), set()).reasons
    # every name referenced by the build's scripts and style sheets (a font, a background, a fetch)
    named = text_tokens(" ".join(f"url(/{name})" for name in HUMAN_NAMES))
    by_scripts = decide(HUMAN_NAMES, named, set()).reasons
    by_pages = decide(HUMAN_NAMES, set(), named).reasons
    assert shape == [
        *("photo-Summer24.jpg", "team-pictures.jpg", "summer-vacation.jpg", "headshot-jane-doe.png"),
        *("wedding-DSC_0042.jpg", "banner-homepage.jpg", "invoice-20241231.pdf", "menu-december.pdf"),
        *("datasheet-ABCD1234.pdf", "prism-tomorrow.css", "analytics-tracking.js", "alpine-collapse.js"),
        *("Montserrat-SemiBold.woff2", "data-20240101.csv"),
    ]  # 14 of 68 (21 %): the name alone cannot decide
    assert strict == ["wedding-DSC_0042.jpg"]  # 1 of 68 (1.5 %)
    assert sorted(unreferenced) == ["wedding-DSC_0042.jpg"]
    assert sorted(by_pages) == ["wedding-DSC_0042.jpg"]
    # a vendored script or style another script names (4 of 68, 6 %): harmless, see
    # test_sitectl_upload's refusal of other bytes under a fingerprinted name
    assert sorted(by_scripts) == [
        "alpine-collapse.js",
        "analytics-tracking.js",
        "prism-tomorrow.css",
        "wedding-DSC_0042.jpg",
    ]


# --- the scan of the build's text: only tokens that can be evidence, only when needed ------------------


def _every_token(text: str) -> set[str]:
    """What the scan matched before it kept only MIN_TOKEN_CHARACTERS or more: every token."""
    found = set()
    for token in re.findall(r"[A-Za-z0-9_~.\-]+", text):
        found |= {token, token.strip(".")}
    return found


@pytest.mark.parametrize("bundler", sorted(BUNDLERS))
def test_tokens_too_short_to_be_evidence_change_no_decision(bundler: str) -> None:
    names = generated(bundler)
    looked_up = {
        text
        for name in names
        if fingerprints.needs_evidence(name)
        for text in (name.rsplit("/", 1)[-1], *hash_tokens(name.rsplit("/", 1)[-1]))
    }
    assert min(map(len, looked_up), default=8) >= fingerprints.MIN_TOKEN_CHARACTERS == 8
    rng = random.Random(f"{SEED}-{bundler}-noise")
    noise = "".join(rng.choice(BASE64URL + " .;()/'\"\n") for _ in range(20_000))
    entry, chunks = names[0], names[1:]
    # half the chunks named by file name, the rest only by their hash (webpack's runtime map)
    named = [
        chunk.rsplit("/", 1)[-1] if i % 2 else (hash_tokens(chunk.rsplit("/", 1)[-1]) or [chunk])[0]
        for i, chunk in enumerate(chunks)
    ]
    script = noise + " ".join(f'"./{name}".' for name in named[::3])
    page = f'<script src="/{entry}"></script>' + noise
    before = decide(names, _every_token(script), _every_token(page))
    assert decide(names, text_tokens(script), text_tokens(page)).reasons == before.reasons
    assert before.by_reference or not looked_up  # turbopack's names are all taken by the strict rule


def test_tokens_are_found_in_bytes_that_are_not_utf8() -> None:
    text = b"\xff\xfe import('./Lazy-Q1AJiLvC.js')\xc3.chunk-0049.39737143.js.\x80 a.js x-1.css"
    assert text_tokens(text) == {"Lazy-Q1AJiLvC.js", ".chunk-0049.39737143.js.", "chunk-0049.39737143.js"}
    assert text_tokens(text) == {t for t in _every_token(text.decode("utf-8", "replace")) if len(t) >= 8}


def test_tokens_are_the_runs_a_regex_finds() -> None:
    """The scan finds runs with bytes.find on a translated copy: the same tokens as the regex
    `[A-Za-z0-9_~.-]{8,}`, on text of short and long runs, at either end, and on bytes of any value."""
    regex = re.compile(rb"[A-Za-z0-9_~.\-]{8,}")
    rng = random.Random(f"{SEED}-runs")
    alphabets = [bytes(range(256)), b"ab.-~_9 \n\xff\x00", b"abcdefgh" * 3 + b" "]
    for _ in range(300):
        data = bytes(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(0, 120)))
        found = {token for token in regex.findall(data)}
        found |= {token.strip(b".") for token in found if token[:1] == b"." or token[-1:] == b"."}
        assert text_tokens(data) == {token.decode("ascii") for token in found}, data
    assert text_tokens(b"abcdefg") == set() and text_tokens(b"abcdefgh") == {"abcdefgh"}


def test_a_build_whose_names_decide_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[Path] = []
    real_read = fingerprints._read

    def counted(path: Path) -> bytes:
        read.append(path)
        return real_read(path)

    monkeypatch.setattr(fingerprints, "_read", counted)
    files = {"_next/static/chunks/app-x.js": tmp_path / "a.js", "main.3f2a1b9c.js": tmp_path / "b.js"}
    for path in files.values():
        path.write_text("import('./chunk-20241231.js')")
    assert not any(fingerprints.needs_evidence(path) for path in files)
    assert set(fingerprints.decide_build(files).reasons) == set(files)
    assert read == []
    # one chunk whose hash reads as a date: its decision depends on what the build names, so it is read
    files["chunk-20241231.js"] = tmp_path / "c.js"
    files["chunk-20241231.js"].write_text("export {}")
    decision = fingerprints.decide_build(files)
    assert decision.reasons["chunk-20241231.js"] == fingerprints.NAMED
    assert sorted(read) == sorted(files.values())
