"""Run the real Pulumi program under the mock runtime, as during `pulumi up`, and record what it registers.

The runner is `sitectl policy-check`'s (`scripts/offline/mockrun.py`); these mocks answer the outputs the
program reads as the AWS provider would after creating each resource (names, ARNs, the numbered
qualified ARN of a published function), and pass every input through, camelCase as the engine sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from moto import mock_aws

from scripts.offline.mockrun import RecordedResource
from scripts.offline.mockrun import run_program as run_any_program

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "versioned-site"
ACCOUNT = "123456789012"
STACK_TYPE = "pulumi:pulumi:Stack"


def distribution_id(name: str) -> str:
    return "E2" + name.upper().replace("-", "")[:10]


def distribution_arn(name: str) -> str:
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution_id(name)}"


class SiteMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = args.name
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


def run_program(
    config: dict[str, str], stack: str = "dev", preview: bool = False, mocks: SiteMocks | None = None
) -> dict[str, RecordedResource]:
    """Run `__main__.py` with Pulumi.yaml's defaults plus `config` (keys without a namespace belong to
    the project); raises scripts.offline.mockrun.ProgramError, caused by the program's own error.

    The guards' AWS calls go to moto: the caller's mock (and its data) when one is active, else an
    empty account in which no pointer exists yet."""
    overrides = [f"{key}={value}" for key, value in {"aws:region": "eu-west-1", **config}.items()]
    with mock_aws():
        run = run_any_program(ROOT, stack, overrides, mocks=mocks or SiteMocks(), preview=preview)
    return {r.urn: r for r in run.resources if r.type != STACK_TYPE}


def by_type(registered: dict[str, RecordedResource], type_token: str) -> list[RecordedResource]:
    return [r for r in registered.values() if r.type == type_token]


def one(registered: dict[str, RecordedResource], type_token: str) -> RecordedResource:
    found = by_type(registered, type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
    return found[0]
