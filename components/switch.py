"""The legacy switch: a Pulumi dynamic provider that waited the edge TTL and invalidated CloudFront.

The component no longer creates it: the switch is now a Lambda function of the component invoked by
`aws.lambda.Invocation` (edge_lambda/switch_handler.py), which works from every language. This class
stays for the stacks whose state still holds a switch made by it: the engine deletes that switch on
their next `up` (or `destroy`), and a delete loads the provider from the old state.

Do not rename or move `VersionSwitchProvider` (nor this module). Pulumi stores the provider in each
switch's state (`__provider`), pickled with dill, and a class of an importable module is pickled by
reference: the state holds `components.switch.VersionSwitchProvider`, not its code. The provider
process imports that name again for every operation, and a delete uses the reference in the old
state, so a renamed class breaks the first `up` (and `destroy`) of every stack that still has one.
`tests/test_switch.py` checks that every name the pickle refers to exists. docs/releases.md,
"The switch's provider in the state". `wait_then_invalidate` is re-exported for its old importers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pulumi.dynamic

from edge_lambda.invalidation import SAFETY_MARGIN_SECONDS, SwitchError, wait_then_invalidate

__all__ = ["SAFETY_MARGIN_SECONDS", "SwitchError", "VersionSwitchProvider", "wait_then_invalidate"]


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
