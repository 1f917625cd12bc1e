"""The switch Lambda's handler (edge_lambda/switch_handler.py) against moto: it waits the larger TTL of
the deployed edge function version and the one before it, counted from the pointer's update, then
invalidates `/*`; a pointer that does not hold the version fails the invocation."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from edge_lambda.invalidation import SAFETY_MARGIN_SECONDS, SwitchError
from edge_lambda.switch_handler import switch
from tests.clock import ManualClock
from tests.test_switch import PARAMETER, V1, V2
from tests.test_switch import aws as switch_aws

__all__ = ["switch_aws"]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("edge_lambda/handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def world(switch_aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="edge", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    clients = {**switch_aws, "lambda": lambda_client, "role": role}
    yield clients


def _publish(world: dict[str, Any], ttl: int) -> str:
    """Publish a version of the edge function whose description records `ttl`, as the component does."""
    description = f"versioned-site site: origin-request router; pointer cache TTL {ttl} s"
    client = world["lambda"]
    try:
        client.update_function_configuration(FunctionName="site-edge", Description=description)
    except client.exceptions.ResourceNotFoundException:
        client.create_function(
            FunctionName="site-edge",
            Runtime="python3.13",
            Role=world["role"],
            Handler="edge_lambda.handler.handler",
            Code={"ZipFile": _zip()},
            Description=description,
        )
    return str(client.publish_version(FunctionName="site-edge", Description=description)["Version"])


def _event(world: dict[str, Any], version: str, ttl: int, function_version: str) -> dict[str, Any]:
    return {
        "version": version,
        "parameterName": PARAMETER,
        "distributionId": world["distribution_id"],
        "cacheTtlSeconds": ttl,
        "edgeFunction": "site-edge",
        "edgeFunctionVersion": function_version,
    }


def _release(world: dict[str, Any], version: str) -> float:
    world["ssm"].put_parameter(Name=PARAMETER, Value=version, Type="String", Overwrite=True)
    return float(world["ssm"].get_parameter(Name=PARAMETER)["Parameter"]["LastModifiedDate"].timestamp())


def _clients(world: dict[str, Any]) -> Any:
    return lambda service: world[service]


def _invalidations(world: dict[str, Any]) -> list[dict[str, Any]]:
    listed = world["cloudfront"].list_invalidations(DistributionId=world["distribution_id"])[
        "InvalidationList"
    ]
    return list(listed.get("Items", []))


def test_waits_the_deployed_ttl_from_the_pointers_update_then_invalidates(world: dict[str, Any]) -> None:
    first = _publish(world, 5)
    modified = _release(world, V1)
    clock = ManualClock(modified + 2)
    result = switch(_event(world, V1, 5, first), _clients(world), clock, clock.sleep)
    assert clock.sleeps == [pytest.approx(5 - 2 + SAFETY_MARGIN_SECONDS)]
    assert [i["Id"] for i in _invalidations(world)] == [result["invalidationId"]]
    assert result["cacheTtlSeconds"] == 5


def test_containers_of_the_previous_edge_version_are_waited_for_too(world: dict[str, Any]) -> None:
    _publish(world, 60)
    second = _publish(world, 5)  # the TTL lowered: containers of the version before cache for 60 s
    modified = _release(world, V2)
    clock = ManualClock(modified)
    result = switch(_event(world, V2, 5, second), _clients(world), clock, clock.sleep)
    assert result["cacheTtlSeconds"] == 60
    assert clock.sleeps == [pytest.approx(60 + SAFETY_MARGIN_SECONDS)]


def test_a_pointer_without_the_version_fails_the_invocation_and_invalidates_nothing(
    world: dict[str, Any],
) -> None:
    first = _publish(world, 5)
    _release(world, V1)
    clock = ManualClock()
    with pytest.raises(SwitchError, match=f"holds '{V1}', not '{V2}'"):
        switch(_event(world, V2, 5, first), _clients(world), clock, clock.sleep)
    assert (_invalidations(world), clock.sleeps) == ([], [])
