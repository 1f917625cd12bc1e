"""The switch: after the pointer changes, wait out the edge cache, then invalidate CloudFront.

A Pulumi dynamic provider using boto3. It runs in the engine's provider process, so everything it
needs travels in its inputs; the clock is injectable for tests.

Order matters. Each Lambda@Edge container may keep the old version for `cache_ttl_seconds` after the
parameter changes. An invalidation issued before that window closes lets an edge re-fetch an object
through a container that still rewrites to the old version, and cache it again for the full CloudFront
TTL. So the switch reads the parameter's LastModifiedDate and invalidates only once
LastModifiedDate + TTL (+ a margin for clock skew) has passed.

Which TTL: the one the deployed function caches for. The component passes the TTL recorded in the
deployed function's description (edge functions cannot be tagged), and an update waits the larger of
that and the TTL in the switch's state (the previous switch's): while a new function version
replaces the old one, containers of both serve.

Do not rename or move `VersionSwitchProvider` (nor this module). Pulumi stores the provider in each
switch's state (`__provider`), pickled with dill, and a class of an importable module is pickled by
reference: the state holds `components.switch.VersionSwitchProvider`, not its code. The provider
process imports that name again for every operation, and a delete (`pulumi destroy`, or a router
change to `cloudfront-function`, which removes the switch) uses the reference in the old state, so
a renamed class breaks those on every existing stack until each has been updated with the new name.
For the same reason the provider process needs this project importable: run it from a checkout set
up with `uv sync` (the editable install). `tests/test_switch.py` checks that every name the pickle
refers to exists. docs/architecture.md, "The switch's provider in the state".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pulumi
import pulumi.dynamic

# A margin for clock skew between SSM, the edge containers and this machine.
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


class VersionSwitchProvider(pulumi.dynamic.ResourceProvider):
    """Create/update: confirm the pointer holds the version, wait the edge TTL, invalidate `/*`."""

    def __init__(
        self,
        clients: Callable[[str, str], Any] | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = clients
        self._now = now
        self._sleep = sleep

    def _client(self, service: str, region: str, profile: str | None) -> Any:
        if self._clients is not None:
            return self._clients(service, region)
        import boto3  # lazily: the provider process imports this module before credentials matter

        # The stack's `aws:profile`, as its providers use it; None: boto3's standard chain.
        session: Any = boto3.session.Session(profile_name=profile)
        return session.client(service, region_name=region)

    def _switch(self, props: dict[str, Any], cache_ttl_seconds: float) -> dict[str, Any]:
        profile = props.get("aws_profile") or None
        invalidation_id, waited = wait_then_invalidate(
            self._client("ssm", props["parameter_region"], profile),
            self._client("cloudfront", "us-east-1", profile),
            parameter_name=props["parameter_name"],
            version=props["version"],
            distribution_id=props["distribution_id"],
            cache_ttl_seconds=cache_ttl_seconds,
            now=self._now,
            sleep=self._sleep,
        )
        return {**props, "invalidation_id": invalidation_id, "waited_seconds": round(waited, 3)}

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._switch(props, float(props["cache_ttl_seconds"]))
        return pulumi.dynamic.CreateResult(id_=f"switch-{props['distribution_id']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        keys = ("version", "distribution_id", "parameter_name", "parameter_region")
        changed = [key for key in keys if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        # `olds` is the state of the last switch: a container of the function deployed then may still
        # cache for that TTL, if it was longer than the one deployed now.
        ttl = max(float(olds["cache_ttl_seconds"]), float(news["cache_ttl_seconds"]))
        return pulumi.dynamic.UpdateResult(outs=self._switch(news, ttl))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing to undo: an invalidation is a one-off request and leaves nothing behind.
        return None


class VersionSwitchArgs:
    def __init__(
        self,
        distribution_id: pulumi.Input[str],
        parameter_name: pulumi.Input[str],
        parameter_region: pulumi.Input[str],
        version: pulumi.Input[str],
        cache_ttl_seconds: pulumi.Input[int],
        aws_profile: pulumi.Input[str] | None = None,
    ) -> None:
        self.distribution_id = distribution_id
        self.parameter_name = parameter_name
        self.parameter_region = parameter_region
        self.version = version
        self.cache_ttl_seconds = cache_ttl_seconds
        self.aws_profile = aws_profile


class VersionSwitch(pulumi.dynamic.Resource):
    """Invalidates the distribution after each change of the live version."""

    invalidation_id: pulumi.Output[str]
    waited_seconds: pulumi.Output[float]

    def __init__(
        self, name: str, args: VersionSwitchArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            VersionSwitchProvider(),
            name,
            {**vars(args), "invalidation_id": None, "waited_seconds": None},
            opts,
        )
