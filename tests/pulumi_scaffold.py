"""Run the real Pulumi program under the mock runtime and record what it registers.

The mocks answer like the AWS provider would for the outputs the program reads (names, ARNs, the
numbered qualified ARN of a published function), and pass every input through, camelCase as the
engine sees them.
"""

from __future__ import annotations

import asyncio
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "versioned-site"
ACCOUNT = "123456789012"


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    provider: str
    inputs: dict[str, Any] = field(default_factory=dict)


def distribution_id(name: str) -> str:
    return "E2" + name.upper().replace("-", "")[:10]


def distribution_arn(name: str) -> str:
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution_id(name)}"


class SiteMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = args.name
        outputs: dict[str, Any] = {}
        if args.typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-0a1b2c3"
            outputs = {
                "bucket": bucket,
                "arn": f"arn:aws:s3:::{bucket}",
                "bucketRegionalDomainName": f"{bucket}.s3.eu-west-1.amazonaws.com",
            }
            return bucket, {**inputs, **outputs}
        if args.typ == "aws:cloudfront/distribution:Distribution":
            outputs = {"arn": distribution_arn(name), "domainName": "d111111abcdef8.cloudfront.net"}
            return distribution_id(name), {**inputs, **outputs}
        if args.typ == "aws:lambda/function:Function":
            fn = inputs.get("name") or f"{name}-9f8e7d6"
            arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{fn}"
            return fn, {**inputs, "name": fn, "arn": arn, "qualifiedArn": f"{arn}:1", "version": "1"}
        if args.typ == "aws:ssm/parameter:Parameter":
            param = inputs["name"]
            return param, {**inputs, "arn": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{param}"}
        if args.typ == "aws:iam/role:Role":
            return f"{name}-id", {**inputs, "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "name": name}
        if args.typ == "pulumi-python:dynamic:Resource":
            return f"{name}-id", {**inputs, "invalidation_id": "I2MOCK", "waited_seconds": 0}
        return f"{name}-id", inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, keeping each registration with its parent, dependencies and provider."""

    def __init__(self, site_mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(site_mocks)
        self.registered: dict[str, Registered] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered[response.urn] = Registered(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                dependencies=list(request.dependencies),
                provider=request.provider,
                inputs=rpc.deserialize_properties(request.object),
            )
        return response


def run_program(config: dict[str, str], stack: str = "dev", preview: bool = False) -> dict[str, Registered]:
    """Run `__main__.py` with the given config (keys without a namespace belong to the project)."""
    monitor = RecordingMonitor(SiteMocks())
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(SiteMocks(), project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    full = {"aws:region": "eu-west-1"}
    full.update({key if ":" in key else f"{PROJECT}:{key}": value for key, value in config.items()})
    pulumi.runtime.set_all_config(full)
    # A run that failed leaves its pending RPCs and outputs behind: start clean, as the decorator does.
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _ensure_event_loop().set_exception_handler(_ignore_abandoned_futures)

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    return monitor.registered


def _ignore_abandoned_futures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A program that fails leaves sibling outputs failed and never awaited; the run already raised
    the error, so asyncio's report of them at garbage collection is noise."""
    if str(context.get("message", "")).endswith("exception was never retrieved"):
        return
    loop.default_exception_handler(context)


def by_type(registered: dict[str, Registered], type_token: str) -> list[Registered]:
    return [r for r in registered.values() if r.type == type_token]


def one(registered: dict[str, Registered], type_token: str) -> Registered:
    found = by_type(registered, type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
    return found[0]
