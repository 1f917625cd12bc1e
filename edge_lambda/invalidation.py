"""Wait out the edge cache after the pointer changed, then invalidate CloudFront: the switch's step.

Standard library only (the clients are given): the switch Lambda (edge_lambda/switch_handler.py), the
legacy dynamic provider (components/switch.py) and `sitectl rollback --now` all run this one function.

Order matters. Each Lambda@Edge container may keep the old version for `cache_ttl_seconds` after the
parameter changes. An invalidation issued before that window closes lets an edge re-fetch an object
through a container that still rewrites to the old version, and cache it again for the full CloudFront
TTL. So the pointer's LastModifiedDate is read, and the invalidation waits until LastModifiedDate + TTL
(+ a margin for clock skew) has passed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

# A margin for clock skew between SSM, the edge containers and the machine that waits.
SAFETY_MARGIN_SECONDS = 1.0
INVALIDATION_PATHS = ["/*"]


class SwitchError(RuntimeError):
    """The switch could not confirm the pointer or invalidate the cache."""


def wait_then_invalidate(
    ssm: Any,
    cloudfront: Any,
    *,
    parameter_name: str,
    version: str,
    distribution_id: str,
    cache_ttl_seconds: float,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, float]:
    """Confirm the pointer holds `version`, wait until no edge container can still cache the old one,
    then invalidate `/*`: (the invalidation's id, the seconds waited). The switch and `sitectl rollback
    --now` (an emergency write of the pointer) both run this."""
    parameter = ssm.get_parameter(Name=parameter_name)["Parameter"]
    if parameter["Value"] != version:
        raise SwitchError(
            f"pointer {parameter_name} holds {parameter['Value']!r}, not {version!r}: "
            "the parameter update must land before the switch; run `pulumi up` again"
        )
    modified: datetime = parameter["LastModifiedDate"]
    ready_at = modified.timestamp() + cache_ttl_seconds + SAFETY_MARGIN_SECONDS
    waited = max(0.0, ready_at - now())
    if waited:
        sleep(waited)
    invalidation = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(INVALIDATION_PATHS), "Items": INVALIDATION_PATHS},
            # Unique per switch: CloudFront treats a repeated CallerReference as the same request.
            "CallerReference": f"versioned-site-{version}-{uuid.uuid4().hex}",
        },
    )["Invalidation"]
    return str(invalidation["Id"]), waited
