"""`make demo --router cloudfront-function`'s canary: version two for 50% of viewers, two viewers getting
different versions and each keeping its own, then the canary completed and both on version two.

Each viewer is a client of the live server on 127.0.0.1 with its own User-Agent, so its bucket is the
hash of its address and User-Agent until the first answer sets its `site-bucket` cookie; it sends that
cookie back from then on, as a browser does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_function.viewer_bucket import SPLIT_COOKIE
from scripts.commands import http_client

# The canary's share in the demo, and two viewers on either side of it (their buckets from 127.0.0.1).
PERCENT = 50
VIEWERS = (("viewer A", "demo-viewer/1 (A)"), ("viewer B", "demo-viewer/1 (B)"))
_HEADING_RE = re.compile(r'<h1 id="version">(?P<text>[^<]*)</h1>')


@dataclass
class Viewer:
    """A client that keeps the `site-bucket` cookie it is given, as a browser does."""

    name: str
    user_agent: str
    cookie: str | None = None
    seen: list[str] = field(default_factory=list)
    """The heading of each page it got."""

    def visit(self, url: str) -> tuple[str, str | None]:
        """GET `url`: the page's heading and the Set-Cookie it got (kept for the next visit)."""
        headers = {"User-Agent": self.user_agent}
        if self.cookie is not None:
            headers["Cookie"] = self.cookie
        answer = http_client.get(url, 5.0, headers=headers)
        if answer.status != 200:
            raise RuntimeError(f"{self.name}: GET {url} answered {answer.status} {answer.error or ''}")
        set_cookie = answer.headers.get("set-cookie")
        if set_cookie is not None and set_cookie.startswith(f"{SPLIT_COOKIE}="):
            self.cookie = set_cookie.split(";", 1)[0]
        match = _HEADING_RE.search(answer.body.decode("utf-8", errors="replace"))
        heading = match.group("text") if match else "(no heading)"
        self.seen.append(heading)
        return heading, set_cookie


def show_viewers(detail: Callable[[str], Any], url: str, viewers: list[Viewer], visits: int = 3) -> None:
    """Each viewer's first visit (its cookie), then `visits - 1` more with the cookie it keeps."""
    for viewer in viewers:
        before = len(viewer.seen)
        heading, set_cookie = viewer.visit(url + "/")
        sent = f"Cookie {viewer.cookie}" if viewer.cookie and not set_cookie else "no cookie"
        cookie = set_cookie.split(";", 1)[0] if set_cookie else "none"
        detail(f"{viewer.name} (User-Agent {viewer.user_agent!r}, {sent}): {heading!r}, Set-Cookie {cookie}")
        for _ in range(visits - 1):
            viewer.visit(url + "/")
        kept = viewer.seen[before:]
        detail(f"    then with its cookie {viewer.cookie}: {', '.join(repr(seen) for seen in kept[1:])}")
    if len({viewer.seen[-1] for viewer in viewers}) > 1:
        detail("each viewer keeps its own version across requests")
    else:
        detail(f"every viewer gets {viewers[0].seen[-1]!r}")


def show_tester(detail: Callable[[str], Any], url: str) -> None:
    """A tester asks for the canary with `Cookie: site-bucket=canary`, whatever its bucket."""
    tester = Viewer("a tester", VIEWERS[0][1], cookie=f"{SPLIT_COOKIE}=canary")
    heading, _ = tester.visit(url + "/")
    detail(f"a tester with `Cookie: {SPLIT_COOKIE}=canary` (viewer A's User-Agent): {heading!r}")
