"""The engine's own words during an e2e run, from the Automation API's event stream (`on_event`).

What the engine sends was read in pulumi/pulumi at 1b5949891b3cefcb9974752b24a5ecef0acc86c8
(docs/testing.md, "The run on a real account"):
- `pulumi.log.info/warn/error` in the program is a `Log` request to the engine (`pkg/host/host_server.go`),
  which becomes a diagnostic event: `{"diagnosticEvent": {"urn", "prefix", "message", "color",
  "severity"}}` (`sdk/go/common/apitype/events.go`). The message is wrapped in colour directives
  (`<{%reset%}>...<{%reset%}>\\n`, `pkg/engine/eventsink.go` `StringifyDiag`), kept as such in the event
  log (`color: "raw"`) unless the CLI runs with `--color never` (`pkg/backend/display/display.go`
  `logJSONEvent`), so both forms are read here.
- An exception the program does not catch (our guards refuse by raising) is logged by the Python
  language host as one error: "Program failed with an unhandled exception:" and the traceback, whose
  last line is `module.ErrorClass: message` (`sdk/python/cmd/pulumi-language-python-exec`); a
  `pulumi.RunError` is logged as its message alone.
- Each update ends with a summary event: `{"summaryEvent": {"durationSeconds", "resourceChanges":
  {"same": n, "update": n, ...}}}`, which shows what a targeted `up` touched.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

# Pulumi's colour directives (`<{%fg 1%}>`, `<{%reset%}>`) and terminal escapes.
_COLOR_DIRECTIVE = re.compile(r"<\{%[^%]*%\}>")
_ANSI = re.compile(r"\x1b\[[0-9;]*[mK]")
UNHANDLED = "Program failed with an unhandled exception:"
KEPT_SEVERITIES = ("info", "warning", "error")


def clean(text: str) -> str:
    return _ANSI.sub("", _COLOR_DIRECTIVE.sub("", text)).strip()


@dataclass(frozen=True)
class EngineMessage:
    severity: str  # info, warning or error
    text: str  # as the engine sent it, without colour directives
    resource: str = ""  # the resource's name when the program logged against one

    @property
    def line(self) -> str:
        """One line for the report: an unhandled exception's last traceback line (`ErrorClass: why`,
        without the module path), else the message's first line."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        if not lines:
            return ""
        if lines[0] == UNHANDLED and len(lines) > 1:
            kind, _, why = lines[-1].partition(": ")
            return f"{kind.rsplit('.', 1)[-1]}: {why}" if why else lines[-1]
        return lines[0]

    def names(self, error_class: str) -> str | None:
        """The line of this error naming `error_class` (`ErrorClass: why`, module path dropped), or None.
        Searched in every line: an exception raised inside an `apply` can reach the language host as
        the cause of the registration's failure (`sdk/python/lib/pulumi/runtime/stack.py`,
        `wait_for_rpcs`: `raise exn from cause`), so it need not be the traceback's last line."""
        if self.severity != "error":
            return None
        for line in reversed(self.text.splitlines()):
            kind, separator, why = line.strip().partition(": ")
            if separator and kind.rsplit(".", 1)[-1] == error_class:
                return f"{error_class}: {why}"
        return None

    def to_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "line": self.line, "text": self.text, "resource": self.resource}


def message_of(event: Any) -> EngineMessage | None:
    """The diagnostic an engine event carries, or None: ephemeral status lines, debug output and the
    program's stderr (`info#err`) are progress, not messages."""
    diagnostic = getattr(event, "diagnostic_event", None)
    if diagnostic is None or diagnostic.ephemeral or diagnostic.severity not in KEPT_SEVERITIES:
        return None
    text = clean(diagnostic.message)
    if not text:
        return None
    urn = diagnostic.urn or ""
    return EngineMessage(diagnostic.severity, text, urn.rsplit("::", 1)[-1] if "::" in urn else "")


def summary_of(event: Any) -> dict[str, Any] | None:
    summary = getattr(event, "summary_event", None)
    if summary is None:
        return None
    changes = {str(getattr(op, "value", op)): int(count) for op, count in summary.resource_changes.items()}
    return {"seconds": summary.duration_seconds, "changes": dict(sorted(changes.items()))}


@dataclass
class EngineLog:
    """Collects what the engine says, step by step: `on_event` is the Automation API's callback (called
    from its event thread), `take` hands a step what arrived since the last `take`."""

    _messages: list[EngineMessage] = field(default_factory=list)
    _summaries: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_event(self, event: Any) -> None:
        message, summary = message_of(event), summary_of(event)
        with self._lock:
            if message is not None:
                self._messages.append(message)
            if summary is not None:
                self._summaries.append(summary)

    def peek(self) -> list[EngineMessage]:
        """The messages since the last `take`, left in place."""
        with self._lock:
            return list(self._messages)

    def take(self) -> tuple[list[EngineMessage], list[dict[str, Any]]]:
        with self._lock:
            taken = (self._messages, self._summaries)
            self._messages, self._summaries = [], []
        return taken


def summary_line(summary: dict[str, Any]) -> str:
    changes = ", ".join(f"{op} {count}" for op, count in summary["changes"].items()) or "no changes"
    return f"update of {summary['seconds']} s: {changes}"
