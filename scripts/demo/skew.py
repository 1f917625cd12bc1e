"""`make demo`'s skew-protection and 404 steps: what an open page of the previous version and a
mistyped address get once another version is live."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

_LAZY_IMPORT_RE = re.compile(r'import\("(?P<path>/assets/[^"]+)"\)')
_HEADING_RE = re.compile(r'<h1 id="version">(?P<text>[^<]*)</h1>')
_EXPORT_RE = re.compile(r'export const version = "[a-z]+"')
MISSING_PATH = "/no-such-page.png"


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(url: str) -> Fetched:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return Fetched(int(response.status), dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Fetched(error.code, dict(error.headers.items()), error.read())


def lazy_chunk_path(page_url: str) -> str:
    """The chunk the page at `page_url` imports lazily (the example site's inline module)."""
    match = _LAZY_IMPORT_RE.search(fetch(page_url).body.decode("utf-8", errors="replace"))
    if match is None:
        raise ValueError(f"{page_url} imports no lazily loaded chunk")
    return match.group("path")


def show_open_page_after_switch(
    detail: Callable[[str], None], live_url: str, chunk: str, old: str, viewer_request_router: bool = False
) -> Fetched:
    """GET the previous version's chunk from the live site, as its open page would."""
    got = fetch(live_url + chunk)
    detail(
        f"GET {chunk} -> {got.status} {got.headers.get('Content-Type')} | {got.headers.get('Cache-Control')}"
    )
    export = _EXPORT_RE.search(got.body.decode("utf-8", errors="replace"))
    how = (
        "the function reads every fingerprinted file from the shared area"
        if viewer_request_router
        else "the live version has no such file: CloudFront fails over, the edge reads"
    )
    detail(f"{how} _assets{chunk}, {old}'s bytes ({export.group(0) if export else 'not the chunk'})")
    return got


def show_not_found(
    detail: Callable[[str], None], live_url: str, viewer_request_router: bool = False
) -> Fetched:
    got = fetch(live_url + MISSING_PATH)
    match = _HEADING_RE.search(got.body.decode("utf-8", errors="replace"))
    heading = match.group("text") if match else None
    what = "the plain page _site/404.html" if viewer_request_router else "the live version's 404.html"
    detail(
        f"GET {MISSING_PATH} -> {got.status} {got.headers.get('Content-Type')}: "
        f"{what}, {heading or 'no heading'!r}"
    )
    return got
