"""`make demo`'s emergency rollback: what stands in for AWS while `sitectl rollback --now` runs its real
code (scripts/commands/emergency.py) against moto, the KeyValueStore fake and the local edge.

What is modeled rather than waited: the Lambda@Edge router's edge TTL. The command waits it out before it
invalidates (`components/switch.wait_then_invalidate`); here that wait moves `ModeledClock` instead of
sleeping, and the local edge's pointer cache runs on the same clock, so it expires exactly as an edge
container's would. Everything else (the record, the pointer, the store's PutKey, the request that first
gets the version rolled back to) runs and is timed for real. CloudFront itself is not here: the local
server has no cache, so an invalidation is recorded and has nothing to remove; on AWS its completion adds
its own time (README, 'Emergency rollback').
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scripts.commands.options import Output

# The stack output `distributionId` of the demo's stand-in stack.
DEMO_DISTRIBUTION_ID = "EDEMO00000000"


class ModeledClock:
    """Real time plus the waits the demo models: `sleep` moves this clock instead of the process."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.waits: list[float] = []

    def wall(self) -> float:
        """Epoch seconds, as the command compares them with SSM's LastModifiedDate."""
        return time.time() + self.offset

    def monotonic(self) -> float:
        """The edge's pointer cache clock."""
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.offset += seconds
        self.waits.append(seconds)

    @property
    def modeled(self) -> float:
        """The seconds waited on this clock so far, none of them slept."""
        return sum(self.waits)


@dataclass
class LocalCloudFront:
    """The CloudFront API calls of the path, against a distribution with no cache (the local server)."""

    invalidations: list[list[str]] = field(default_factory=list)

    def create_invalidation(self, DistributionId: str, InvalidationBatch: dict[str, Any]) -> dict[str, Any]:
        self.invalidations.append(list(InvalidationBatch["Paths"]["Items"]))
        return {"Invalidation": {"Id": f"IDEMO{len(self.invalidations)}", "Status": "Completed"}}

    def get_invalidation(self, DistributionId: str, Id: str) -> dict[str, Any]:
        # Nothing cached here to remove: done at once (on AWS, its own time: README).
        return {"Invalidation": {"Id": Id, "Status": "Completed"}}


@dataclass
class NarratedOutput(Output):
    """The command's lines for people go into the demo's narration instead of stderr."""

    lines: Callable[[str], Any] = print

    def say(self, line: str) -> None:
        self.lines(line)


@dataclass(frozen=True)
class EmergencyTiming:
    """From the command to the first request served by the version rolled back to."""

    total: float  # on the command's clock: measured plus modeled
    modeled: float  # the edge TTL and its margin, waited on the modeled clock
    steps: dict[str, float]  # each timeline step's seconds since the command started

    @property
    def measured(self) -> float:
        return self.total - self.modeled


def timing(document: dict[str, Any], clock: ModeledClock, modeled_before: float = 0.0) -> EmergencyTiming:
    """The timing of a `rollback --now` result document (its timeline) run on `clock`, whose modeled
    waits were `modeled_before` when the command started."""
    steps = {str(step["step"]): float(step["seconds"]) for step in document["timeline"]}
    if "first-answer" not in steps or document.get("first_answer_seen") is not True:
        raise RuntimeError(f"the site never served {document['version']}: {document['timeline']}")
    return EmergencyTiming(steps["first-answer"], clock.modeled - modeled_before, steps)
