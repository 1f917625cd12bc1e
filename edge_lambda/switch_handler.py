"""The switch Lambda: run by the component's `aws.lambda.Invocation` after each change of the version.

Works whatever language the Pulumi program is written in: the engine's AWS provider invokes it
synchronously (`RequestResponse`), and a raised error comes back as a FunctionError, which fails
`pulumi up` with the message (terraform-provider-aws, internal/service/lambda/invocation.go). The
invocation's input changes with the version, so it is replaced, hence invoked, on each release; a
failed invocation is not recorded, so the next `up` invokes it again (docs/adoption.md, "The
switch from another language").

The event: the version, the pointer's name, the distribution, the TTL the deployed edge function
records (`cacheTtlSeconds`) and that function's name and published version. Containers of the
version published before it may still be serving while CloudFront replaces it, so the wait is the
larger of the two TTLs, each read from the version's description (`...; pointer cache TTL 5 s`).
Standard library and botocore only, like the edge function (the Lambda runtime ships botocore).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from edge_lambda import layout
from edge_lambda.invalidation import wait_then_invalidate

# components/site.py writes it (edge_function_description); the same pattern reads it there.
DESCRIPTION_TTL = re.compile(r"; pointer cache TTL (\d+) s$")

Clients = Callable[[str], Any]


def previous_version_ttl(lambda_client: Any, function_name: str, version: str) -> int | None:
    """The TTL recorded by the published version before `version` of the edge function; None when
    there is none (the first version) or it records none."""
    if not version.isdigit() or int(version) <= 1:
        return None
    try:
        configuration = lambda_client.get_function_configuration(
            FunctionName=function_name, Qualifier=str(int(version) - 1)
        )
    except lambda_client.exceptions.ResourceNotFoundException:
        return None
    recorded = DESCRIPTION_TTL.search(configuration.get("Description") or "")
    return int(recorded.group(1)) if recorded else None


def switch(
    event: dict[str, Any],
    clients: Clients,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Wait the larger TTL, then invalidate `/*`; the result is the invocation's `result` output."""
    ttl = int(event["cacheTtlSeconds"])
    previous = previous_version_ttl(
        clients("lambda"), event["edgeFunction"], str(event["edgeFunctionVersion"])
    )
    if previous is not None:
        ttl = max(ttl, previous)
    invalidation_id, waited = wait_then_invalidate(
        clients("ssm"),
        clients("cloudfront"),
        parameter_name=event["parameterName"],
        version=event["version"],
        distribution_id=event["distributionId"],
        cache_ttl_seconds=ttl,
        now=now,
        sleep=sleep,
    )
    return {"invalidationId": invalidation_id, "waitedSeconds": round(waited, 3), "cacheTtlSeconds": ttl}


def _clients(service: str) -> Any:
    import botocore.session

    # The pointer and the function live in us-east-1; CloudFront's API is global (us-east-1).
    return botocore.session.get_session().create_client(service, region_name=layout.EDGE_REGION)


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    return switch(event, _clients)
