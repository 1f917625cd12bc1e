"""Builders for the sitectl tests: a moto bucket and parameter, build directories, a fake Pulumi stack.

The fake stands in for `pulumi.automation` (the Pulumi CLI cannot run here) and records every call,
so a test can assert that Pulumi was not touched at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from edge_lambda import layout
from scripts.commands.site import HttpAnswer, SiteDeps
from scripts.commands.stack import StackUpdate
from scripts.sitectl import cli

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

BUCKET = "site-bucket-test"
PARAMETER = "/versioned-site/test/live-version"
URL = "https://d111111abcdef8.cloudfront.net"
# `sitectl prune` of every version but the live one, without asking the stack (the store's own checks).
PRUNE_EVERYTHING = (
    "--bucket",
    BUCKET,
    "--parameter",
    PARAMETER,
    "prune",
    "--keep",
    "0",
    "--apply",
    "--skip-stack-check",
)
POINTER_URN = "urn:pulumi:test::versioned-site::aws:ssm/parameter:Parameter::site-pointer"
SWITCH_URN = "urn:pulumi:test::versioned-site::aws:lambda/invocation:Invocation::site-release-switch"
V1 = "20261101T100000Z"
V2 = "20261102T100000Z"
V3 = "20261103T100000Z"
V4 = "20261104T100000Z"


@dataclass
class FakeStack:
    """A `SiteStack` in memory: config, outputs, history; `up` writes the pointer as the engine would
    (through `write_pointer`) and appends to the history."""

    name: str = "test"
    version_key: str = "versioned-site:version"
    version: str | None = ""  # the local config (Pulumi.<stack>.yaml)
    deployed: str | None = None  # the `liveVersion` output of the last update; None: the local config
    extra_outputs: dict[str, Any] = field(default_factory=dict)
    updates: list[StackUpdate] = field(default_factory=list)  # newest first, as Pulumi returns them
    fail_up: Exception | None = None  # raised before anything changes (the engine refused the plan)
    fail_after_pointer: Exception | None = None  # raised once the pointer changed (the switch failed)
    up_result: str = "succeeded"
    write_pointer: Callable[[str], None] | None = None
    calls: list[str] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)  # other keys of the local config, full names
    clock: datetime = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    # The switch's state, as the engine records the aws.lambda.Invocation (components/site.py): its
    # `result` is edge_lambda/switch_handler.py's JSON answer (None: the cloudfront-function router).
    switch: dict[str, Any] | None = field(default_factory=dict)

    def outputs(self) -> Mapping[str, Any]:
        self.calls.append("outputs")
        return {
            "bucketName": BUCKET,
            "parameterName": PARAMETER,
            "parameterRegion": "us-east-1",
            "url": URL,
            "liveVersion": (self.version if self.deployed is None else self.deployed)
            or layout.NO_VERSION_RELEASED,
            "releaseTargets": [POINTER_URN, SWITCH_URN],
            **self.extra_outputs,
        }

    def get_version(self) -> str | None:
        self.calls.append("get_version")
        return self.version

    def set_version(self, value: str | None) -> None:
        self.calls.append(f"set_version {value}")
        self.version = value

    def get_config(self, key: str) -> str | None:
        self.calls.append(f"get_config {key}")
        return self.config.get(key)

    def set_config(self, key: str, value: str | None) -> None:
        self.calls.append(f"set_config {key} {value}")
        if value is None:
            self.config.pop(key, None)
        else:
            self.config[key] = value

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        self.calls.append(f"up {','.join(targets)}")
        on_output(f"Updating ({self.name}): version {self.version}\n")
        if self.fail_up is not None:
            raise self.fail_up
        if self.write_pointer is not None:
            self.write_pointer(self.version or layout.NO_VERSION_RELEASED)
        if self.fail_after_pointer is not None:
            self.record(self.version, "failed", message)
            raise self.fail_after_pointer
        if self.switch is not None and self.switch.get("version") != self.version:
            # The switch's diff: a changed version invalidates, and the state records the new id.
            answer = {"invalidationId": f"I{len(self.updates) + 1:03d}SWITCH", "waitedSeconds": 6.0}
            self.switch.update(version=self.version, result=json.dumps(answer))
        self.record(self.version, self.up_result, message, canary=self._canary())
        if self.up_result == "succeeded":
            self.deployed = self.version or layout.NO_VERSION_RELEASED
        return self.up_result

    def preview(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        self.calls.append(f"preview {','.join(targets)}")
        on_output(f"Previewing update ({self.name}): version {self.version}\n")
        return "update: 1"

    def history(self) -> list[StackUpdate]:
        self.calls.append("history")
        return list(self.updates)

    def resource_outputs(self, urns: list[str]) -> dict[str, Mapping[str, Any]]:
        self.calls.append("resource_outputs")
        return {SWITCH_URN: dict(self.switch)} if self.switch is not None and SWITCH_URN in urns else {}

    def _canary(self) -> str | None:
        """The canary the config names, as its record says it (`V 5`)."""
        namespace = self.version_key.rsplit(":", 1)[0]
        version, percent = (
            self.config.get(f"{namespace}:canaryVersion"),
            self.config.get(f"{namespace}:canaryPercent"),
        )
        return f"{version} {percent}" if version and percent else None

    def record(
        self,
        version: str | None,
        result: str = "succeeded",
        message: str = "",
        user: str = "ci",
        canary: str | None = None,
    ) -> None:
        self.clock += timedelta(minutes=10)
        update = StackUpdate(
            "update", self.clock, self.clock + timedelta(seconds=30), result, version, user, message, canary
        )
        self.updates.insert(0, update)

    @property
    def mutations(self) -> list[str]:
        return [c for c in self.calls if c.startswith(("set_version", "set_config", "up", "preview"))]


@dataclass
class World:
    """One moto account holding the site bucket and the pointer parameter, plus the fakes."""

    s3: S3Client
    ssm: SSMClient
    stack: FakeStack
    pages: dict[str, bytes | HttpAnswer] = field(default_factory=dict)  # URL -> body (and headers) served
    stacks: dict[str, FakeStack] = field(default_factory=dict)  # every stack of the project

    def deps(self) -> SiteDeps:
        def http_get(url: str) -> HttpAnswer:
            page = self.pages[url]
            return page if isinstance(page, HttpAnswer) else HttpAnswer(page)

        return SiteDeps(
            stack_factory=lambda name, _dir: self.stacks[name],
            stack_lister=lambda _dir: list(self.stacks),
            s3_factory=lambda: self.s3,
            ssm_factory=lambda region: self.ssm,
            http_get=http_get,
        )

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), obj=self.deps())

    def set_live(self, version: str) -> None:
        self.ssm.put_parameter(Name=PARAMETER, Value=version, Type="String", Overwrite=True)

    def live(self) -> str:
        return str(self.ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])

    def count_requests(self) -> dict[str, int]:
        """Count the S3 API calls made from now on, by operation."""
        counts: dict[str, int] = {}

        def count(model: Any, **_: Any) -> None:
            counts[model.name] = counts.get(model.name, 0) + 1

        self.s3.meta.events.register("before-call.s3", count)
        return counts

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every S3 `operation` request (e.g. "PutObject") from now on, as the caller
        gave them (a copy: botocore rewrites some, e.g. a bytes Body into a stream)."""
        requests: list[dict[str, Any]] = []
        self.s3.meta.events.register(
            f"provide-client-params.s3.{operation}", lambda params, **_: requests.append(dict(params))
        )
        return requests

    def once(
        self,
        event: str,
        action: Callable[[], object],
        when: Callable[[dict[str, Any]], bool] = lambda params: True,
    ) -> None:
        """Run `action` before the next S3 request of `event` (e.g. "provide-client-params.s3.GetObject")
        whose parameters satisfy `when`: another process acting at that moment."""

        def hook(params: dict[str, Any], **_: Any) -> None:
            if when(params):
                self.s3.meta.events.unregister(event, hook)
                action()

        self.s3.meta.events.register(event, hook)


# One session for all tests: it caches the service models, which makes creating clients cheap.
_SESSION = boto3.session.Session()


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        s3 = _SESSION.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        ssm = _SESSION.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=PARAMETER, Value=layout.NO_VERSION_RELEASED, Type="String")
        stack = FakeStack()
        world = World(s3=s3, ssm=ssm, stack=stack, stacks={"test": stack})
        stack.write_pointer = world.set_live
        yield world


def write_build(root: Path, files: Mapping[str, bytes | str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def sample_build(root: Path, marker: str = "v1") -> Path:
    """A small site: HTML pages, fingerprinted assets, a few other types."""
    return write_build(
        root,
        {
            "index.html": f"<html><body>home {marker}</body></html>",
            "about/index.html": "<html><body>about</body></html>",
            "assets/app.2defdb23.css": "body { color: black }",
            "assets/app.fa10386f.js": "console.log('app')",
            "assets/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
            "robots.txt": "User-agent: *",
            "data/blob.bin": b"\x00\x01\x02",
        },
    )


def put_version(world: World, version: str, files: Mapping[str, bytes], complete: bool = True) -> None:
    """Store a version directly (files, then the manifest), bypassing upload."""
    import hashlib

    entries = {}
    for path, body in files.items():
        sha256 = hashlib.sha256(body).hexdigest()
        world.s3.put_object(
            Bucket=BUCKET,
            Key=layout.object_key(version, path),
            Body=body,
            ContentType="text/html",
            CacheControl="no-cache",
            Metadata={layout.SHA256_METADATA_KEY: sha256, layout.VERSION_METADATA_KEY: version},
        )
        entries[path] = layout.ManifestFile(len(body), sha256, "text/html", "no-cache")
    if complete:
        manifest = layout.Manifest(version=version, created="2026-11-27T12:00:00+00:00", files=entries)
        world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(version), Body=manifest.to_json().encode())


def store_as_before(s3: S3Client, bucket: str, version: str, unshare: bool = True) -> None:
    """Make the complete `version` look as uploads stored versions before fingerprinted files were
    stored once: each file under its prefix (its shared files copied there, marked with `version`,
    and, with `unshare`, taken out of the shared area) and a manifest without `in`."""
    from dataclasses import replace

    manifest = layout.Manifest.from_json(
        s3.get_object(Bucket=bucket, Key=layout.manifest_key(version))["Body"].read()
    )
    for path, entry in manifest.files.items():
        if entry.shared:
            s3.copy_object(
                Bucket=bucket,
                Key=layout.object_key(version, path),
                CopySource={"Bucket": bucket, "Key": layout.shared_asset_key(path)},
                MetadataDirective="REPLACE",
                ContentType=entry.content_type,
                CacheControl=entry.cache_control,
                Metadata={layout.SHA256_METADATA_KEY: entry.sha256, layout.VERSION_METADATA_KEY: version},
            )
            if unshare:
                s3.delete_object(Bucket=bucket, Key=layout.shared_asset_key(path))
    before = replace(manifest, files={p: replace(e, stored_in="") for p, e in manifest.files.items()})
    s3.put_object(Bucket=bucket, Key=layout.manifest_key(version), Body=before.to_json().encode())


def keys(world: World, prefix: str = "") -> list[str]:
    paginator = world.s3.get_paginator("list_objects_v2")
    return [
        o["Key"]
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", [])
    ]


def backdate(world: World, prefix: str, hours: float) -> None:
    """Make the objects under `prefix` look `hours` older to S3 (moto's LastModified): an upload
    interrupted that long ago. moto has no API for it, so this reaches into its backend."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[BUCKET]
    for key in list(bucket.keys.keys()):
        if key.startswith(prefix):
            for stored in bucket.keys.getlist(key):
                stored.last_modified -= timedelta(hours=hours)
