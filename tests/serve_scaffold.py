"""Builders for the tests of `sitectl serve`, the demo and the browser test: the example site in moto,
a manual clock for the edge's pointer cache, and raw HTTP requests to a preview server."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.serve import PreviewServer, preview_server_running
from scripts.commands.upload import upload_build
from scripts.demo import walkthrough as demo
from tests.clock import ManualClock

VERSION_ONE = "20261127T101500Z"
VERSION_TWO = "20261128T090000Z-1a2b3c4"
CACHE_TTL_SECONDS = 5


@dataclass(frozen=True)
class ExampleSite:
    """The example site of `examples/` in moto: both versions uploaded, nothing released."""

    site: demo.DemoSite
    stack: demo.DemoStack
    version_one: str
    version_two: str

    @property
    def bucket(self) -> str:
        return self.site.bucket

    @property
    def settings(self) -> EdgeSettings:
        return self.site.settings

    @property
    def s3(self) -> Any:
        return self.site.s3

    def release(self, version: str) -> None:
        """`sitectl release`, with the demo's stand-in for `pulumi up`."""
        demo.release(self.stack, version, lambda _line: None)


@contextmanager
def example_site(cache_ttl_seconds: int = CACHE_TTL_SECONDS) -> Iterator[ExampleSite]:
    """Inside `mock_aws`: the bucket and pointer as the component makes them, both example versions."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=demo.DEMO_BUCKET_REGION)
        ssm = boto3.client("ssm", region_name="us-east-1")
        site = demo.create_site(s3, ssm, cache_ttl_seconds=cache_ttl_seconds)
        upload_build(s3, site.bucket, demo.EXAMPLE_V1, VERSION_ONE)
        upload_build(s3, site.bucket, demo.EXAMPLE_V2, VERSION_TWO)
        yield ExampleSite(site, demo.DemoStack(site), VERSION_ONE, VERSION_TWO)


@contextmanager
def live_server(
    example: ExampleSite,
    clock: ManualClock,
    failover: bool = True,
    host_redirects: dict[str, str] | None = None,
) -> Iterator[PreviewServer]:
    """A server following the pointer through the real handler, its cache on `clock`; with
    `failover=False`, as a distribution without the origin group and custom error responses."""
    handler = OriginRequestHandler(example.settings, PointerCache(example.settings, now=clock))
    with preview_server_running(
        example.bucket,
        example.settings,
        s3_client=example.s3,
        edge_function=handler,
        failover=failover,
        host_redirects=host_redirects,
    ) as server:
        yield server


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def request(
    server: PreviewServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> RawResponse:
    """Send `path` exactly as given (no client-side normalisation) and read the whole answer."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        # A Host given here replaces the one http.client would send (the server's own address).
        skip_host = any(name.lower() == "host" for name in headers or {})
        connection.putrequest(method, path, skip_host=skip_host, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()
