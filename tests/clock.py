"""A clock for tests: it moves only when told to, or when something sleeps on it."""

from __future__ import annotations


class ManualClock:
    """Callable like `time.monotonic`; `sleep` records the wait and moves the clock instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
