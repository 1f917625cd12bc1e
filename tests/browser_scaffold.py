"""Headless Chromium for the browser tests: finding it, its flags, and one long-lived browser driven
over the DevTools protocol, for tests that keep a page open while the site changes under it.

`tests/test_browser.py` renders one URL per browser start (`--dump-dom`). `Browser` instead starts
Chromium once with `--remote-debugging-pipe` (the DevTools protocol as NUL-terminated JSON on file
descriptors 3 and 4, the transport Puppeteer's `pipe: true` uses: no port, no WebSocket library) and
opens pages in it, so a page can stay open across a release and a rollback.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags for a container without a display, a GPU, a sandbox or network access beyond 127.0.0.1.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# How long a page may take to show what a test waits for: a bound for a broken page, not a pause.
DEFAULT_TIMEOUT_SECONDS = 15.0


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()
NO_CHROMIUM = (
    f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}): "
    "install Debian's `chromium` package, as .ci/run does, to run the browser test"
)


class ProtocolError(RuntimeError):
    """Chromium answered a command with an error (e.g. the page navigated away during an evaluation)."""


@dataclass(frozen=True)
class Response:
    """One HTTP response a page received (the DevTools protocol's Network.responseReceived)."""

    url: str
    status: int
    headers: dict[str, str]
    """Names in lower case."""
    resource_type: str
    """Document, Script, Stylesheet, Fetch, ..."""


class Browser:
    """One headless Chromium, driven over the DevTools protocol on a pipe."""

    def __init__(self, chromium: str, profile_dir: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The child's ends move above 4 first: `3<&5 4>&3` would make fd 4 a copy of the new fd 3.
        to_browser_read, from_browser_write = _above_four(to_browser_read), _above_four(from_browser_write)
        # Chromium reads commands on fd 3 and writes answers on fd 4: bash puts the pipes there (dash,
        # Debian's sh, takes only one-digit descriptors in a redirection).
        self._process = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write}',
                chromium,
                *HEADLESS_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            pass_fds=(to_browser_read, from_browser_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._lock = threading.Condition()
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="chromium-devtools", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self._events.append(message)
                self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            command_id = self._next_id
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while command_id not in self._answers:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise ProtocolError(
                        f"no answer to {method} ({'browser gone' if self._closed else 'timeout'})"
                    )
                self._lock.wait(left)
            answer = self._answers.pop(command_id)
        if "error" in answer:
            raise ProtocolError(f"{method}: {answer['error'].get('message')}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def event_count(self) -> int:
        with self._lock:
            return len(self._events)

    def events(self, session: str, method: str, since: int = 0) -> list[dict[str, Any]]:
        """The params of every `method` event of `session` from index `since` on."""
        with self._lock:
            return [
                e["params"]
                for e in self._events[since:]
                if e.get("sessionId") == session and e["method"] == method
            ]

    def wait_event(
        self, session: str, method: str, since: int, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not any(
                e.get("sessionId") == session and e["method"] == method for e in self._events[since:]
            ):
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise ProtocolError(
                        f"no {method} event ({'browser gone' if self._closed else 'timeout'})"
                    )
                self._lock.wait(left)

    def new_context(self) -> str:
        """A browser context of its own (its own cookies and cache, as another viewer's browser)."""
        return str(self.send("Target.createBrowserContext")["browserContextId"])

    def new_page(self, context: str | None = None) -> Page:
        """A tab in the default browser context, or in `context` (`new_context`)."""
        params = {"url": "about:blank"} | ({} if context is None else {"browserContextId": context})
        target = self.send("Target.createTarget", params)["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable", session=session)
        # Every load asks the server: a test is about what the site answers, not the browser's cache.
        self.send("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
        return Page(self, target, session)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except ProtocolError:
            self._process.kill()
        self._process.wait(timeout=10)
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


@contextmanager
def browser_running(profile_dir: Path) -> Iterator[Browser]:
    assert CHROMIUM is not None, NO_CHROMIUM
    browser = Browser(CHROMIUM, profile_dir)
    try:
        yield browser
    finally:
        browser.close()


# Polls a condition inside the page (every animation frame or 20 ms) until it is truthy or the time is up.
_WAIT_SCRIPT = """
new Promise((resolve) => {
  const deadline = performance.now() + %(timeout_ms)d;
  const check = () => {
    let value;
    try { value = (%(condition)s); } catch (error) { value = undefined; }
    if (value || performance.now() > deadline) { resolve(value ?? null); return; }
    setTimeout(check, 20);
  };
  check();
})
"""


class Page:
    """One tab of the browser."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def mark(self) -> int:
        """A point in the page's event history, for `responses(since=...)`."""
        return self.browser.event_count()

    def goto(self, url: str) -> list[Response]:
        """Load `url` as typed in the address bar; wait for its load event; the responses it got."""
        since = self.mark()
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event(self.session, "Page.loadEventFired", since)
        return self.responses(since)

    def evaluate(self, expression: str) -> Any:
        """The value of `expression` in the page (awaited when it is a promise)."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Any:
        """The first truthy value of the JS `condition`, or None once `timeout` seconds have passed.
        A navigation that replaces the document during the wait starts it again in the new one."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            script = _WAIT_SCRIPT % {"timeout_ms": max(0, int(left * 1000)), "condition": condition}
            try:
                value = self.evaluate(script)
            except ProtocolError:
                value = None  # the document went away mid-wait (a full navigation): ask the new one
            if value or time.monotonic() >= deadline:
                return value

    def set_user_agent(self, user_agent: str) -> None:
        """The User-Agent this tab sends from its next request on."""
        self.send("Network.setUserAgentOverride", {"userAgent": user_agent})

    def cookies(self) -> dict[str, str]:
        """The cookies the tab's browser context holds for its current URL: name -> value."""
        return {cookie["name"]: cookie["value"] for cookie in self.send("Network.getCookies")["cookies"]}

    def responses(self, since: int = 0) -> list[Response]:
        found = []
        for params in self.browser.events(self.session, "Network.responseReceived", since):
            response = params["response"]
            headers = {name.lower(): str(value) for name, value in response.get("headers", {}).items()}
            found.append(Response(response["url"], int(response["status"]), headers, params.get("type", "")))
        return found

    def redirects(self, since: int = 0) -> list[Response]:
        """The redirects the page followed (each request's `redirectResponse`: a 3xx answer, which
        Network.responseReceived never reports), in order."""
        found = []
        for params in self.browser.events(self.session, "Network.requestWillBeSent", since):
            response = params.get("redirectResponse")
            if response is not None:
                headers = {name.lower(): str(value) for name, value in response.get("headers", {}).items()}
                found.append(
                    Response(response["url"], int(response["status"]), headers, params.get("type", ""))
                )
        return found

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})
