"""`make demo`: release, switch and roll back the example site on a laptop, with no AWS account.

Starts moto on 127.0.0.1, creates the bucket and the pointer parameter as the component would,
uploads the three versions of `examples/`, then serves the site through the real edge function
(`sitectl serve`) while it releases version one, switches to version two and rolls back, timing how
long each switch takes until the served page changes; then releases version three, a broken build,
with verification, which catches it and rolls back by itself. Where `pulumi up` would change the
pointer in AWS, the demo writes the same parameter value directly, and says so.

Last, an emergency: version two is released again and found broken, and `sitectl rollback --now` takes it
down, its timeline printed as the command prints it, timed from the command to the first request served
by the version rolled back to.

With `--router cloudfront-function` the site is served as by the CloudFront Function router: the pointer
and the KeyValueStore key change together, and every request reads the store, so a release or a rollback
is served at once. The store is the fake of its API (`scripts/offline/kvs_fake.py`; moto has none), and
every write to it goes through the real boto3 client, as on AWS. The function is `router.js` itself under
Node when `node` is installed (`scripts/demo/node_function.py`), else its rules in Python
(`edge_function/viewer_request.py`); the demo says which.

    python -m scripts.demo [--once] [--port 8080] [--cache-ttl 2] [--router cloudfront-function]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3

from components.edge_bundle import PACKAGE_NAME, bundle_files
from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE, ROUTERS
from edge_function.code import LIVE_VERSION_KEY, manifest_rule_keys, manifest_store_value
from edge_function.rule_keys import write_rule_keys
from edge_function.viewer_request import viewer_request
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.layout import EDGE_REGION, pointer_parameter_name
from edge_lambda.settings import CONFIG_FILENAME, EdgeSettings, load_settings
from scripts.commands import http_client
from scripts.commands.canary import complete_canary, start_canary
from scripts.commands.errors import SitectlError
from scripts.commands.project import project_name, version_config_key
from scripts.commands.release import emergency_release, previous_live_version, release_version
from scripts.commands.serve import Origin, PreviewServer, preview_server_running, version_routes_for
from scripts.commands.site import Site, SiteDeps
from scripts.commands.stack import StackUpdate
from scripts.commands.upload import upload_build
from scripts.commands.verify import VerifyPolicy, VerifyReport, release_and_verify, verify_site
from scripts.demo import canary_step, emergency_step, skew
from scripts.demo.local_aws import moto_server
from scripts.demo.node_function import NodeFunction, node_binary
from scripts.offline.kvs_fake import FakeStore, client_for, running_store
from scripts.versionstore import emergency
from scripts.versionstore import store as storage
from scripts.versionstore.not_found_page import put_default_not_found_page

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_V1 = ROOT / "examples" / "site-v1"
EXAMPLE_V2 = ROOT / "examples" / "site-v2"
# The demo stands in for a stack of this repository's project, under the name its Pulumi.yaml gives it.
DEMO_PROJECT = project_name(ROOT)
# A broken build: its page references a script the build does not contain.
EXAMPLE_V3 = ROOT / "examples" / "site-v3"
# The build rules version one is uploaded with (Lambda@Edge only: the function router carries none yet).
EXAMPLE_RULES = ROOT / "examples" / "rules"
RULE_PATH = "/old-about"

DEMO_STACK = "demo"
DEMO_BUCKET = "versioned-site-demo"
# The bucket lives in the stack's region; the pointer always in us-east-1, beside Lambda@Edge.
DEMO_BUCKET_REGION = "eu-west-1"
DEFAULT_CACHE_TTL_SECONDS = 2
DEFAULT_PORT = 8080
POLL_INTERVAL_SECONDS = 0.05

_HEADING_RE = re.compile(r'<h1 id="version">(?P<text>[^<]*)</h1>')


@dataclass(frozen=True)
class DemoSite:
    """The AWS side of a stack, as the component creates it: a bucket and the pointer parameter."""

    s3: Any
    ssm: Any
    bucket: str
    settings: EdgeSettings
    router: str = LAMBDA_EDGE
    store: FakeStore | None = None
    """The cloudfront-function router's KeyValueStore: the fake of its API (moto has none)."""
    kvs: Any = None
    """The real boto3 `cloudfront-keyvaluestore` client, pointed at `store`."""

    def write_store(self, value: str) -> None:
        """The store's key, on the store's current ETag, as a deployment and `rollback --now` write it."""
        assert self.store is not None and self.kvs is not None, "only the cloudfront-function router"
        etag = self.kvs.describe_key_value_store(KvsARN=self.store.arn)["ETag"]
        self.kvs.put_key(KvsARN=self.store.arn, Key=LIVE_VERSION_KEY, Value=value, IfMatch=etag)

    def read_store(self) -> str | None:
        """The key as the function reads it on every request (at the edge, its copy of the store)."""
        return self.read_key(LIVE_VERSION_KEY)

    def read_key(self, key: str) -> str | None:
        """Any key of the store as the functions read it (the build rules' keys a release wrote)."""
        return self.store.get(key) if self.store is not None else None


def create_site(
    s3: Any,
    ssm: Any,
    *,
    cache_ttl_seconds: int,
    bucket: str = DEMO_BUCKET,
    router: str = LAMBDA_EDGE,
    store: tuple[FakeStore, Any] | None = None,
) -> DemoSite:
    """The bucket (private, public access blocked) and the pointer holding "nothing released" (and,
    for the cloudfront-function router, the key of `store`, (the fake, its client), holding the same)."""
    if router == CLOUDFRONT_FUNCTION and store is None:
        raise ValueError("the cloudfront-function router needs its KeyValueStore: pass store=")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": DEMO_BUCKET_REGION})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    settings = EdgeSettings(
        parameter_name=pointer_parameter_name(DEMO_PROJECT, DEMO_STACK),
        region=EDGE_REGION,
        cache_ttl_seconds=cache_ttl_seconds,
    )
    ssm.put_parameter(Name=settings.parameter_name, Type="String", Value=layout.NO_VERSION_RELEASED)
    put_default_not_found_page(s3, bucket)  # the component stores it with the bucket
    fake, kvs = store if router == CLOUDFRONT_FUNCTION and store is not None else (None, None)
    site = DemoSite(s3=s3, ssm=ssm, bucket=bucket, settings=settings, router=router, store=fake, kvs=kvs)
    if fake is not None:
        site.write_store(layout.NO_VERSION_RELEASED)
    return site


class DemoStack:
    """Stands in for the Pulumi stack (a `scripts.commands.stack.SiteStack`) where the Pulumi CLI cannot run.

    `sitectl release` sets the `version` config and runs `pulumi up --target` on the pointer and the
    switch; this `up` makes the one change that update makes to the pointer, with SSM PutParameter.
    The switch's CloudFront invalidation has nothing to act on here: the local server has no cache.
    Like the program, it refuses a version an emergency rollback took down, and clears that record once
    another version goes live (scripts/versionstore/emergency.py). With the cloudfront-function router it
    also writes the canary the config names (`canaryVersion`, `canaryPercent`), as the program does: its
    record beside the pointer, then the store value with both versions.
    """

    def __init__(
        self, site: DemoSite, clock: Callable[[], datetime] = lambda: datetime.now(UTC), url: str = ""
    ) -> None:
        self.site = site
        self.url = url
        """The live site's URL (the stack's `url` output), once it is served."""
        self._version: str | None = None
        self.config: dict[str, str] = {}
        """Other keys of the stack config, full names (the canary's: `sitectl canary` sets them)."""
        if site.router == CLOUDFRONT_FUNCTION:
            self.config[f"{DEMO_PROJECT}:router"] = CLOUDFRONT_FUNCTION
        self._updates: list[StackUpdate] = []
        self._clock = clock
        self.pointer_changed_at: float | None = None
        """time.monotonic() when `up` last wrote the pointer."""

    @property
    def name(self) -> str:
        return DEMO_STACK

    def outputs(self) -> Mapping[str, Any]:
        prefix = f"urn:pulumi:{DEMO_STACK}::{DEMO_PROJECT}::versioned-site:index:VersionedStaticSite"
        if self.site.router == CLOUDFRONT_FUNCTION:
            store = (
                "aws:cloudfront/keyValueStore:KeyValueStore$aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"
            )
            second = f"{prefix}${store}::site-live-version"
        else:
            second = f"{prefix}$aws:lambda/invocation:Invocation::site-release-switch"
        return {
            "bucketName": self.site.bucket,
            "parameterName": self.site.settings.parameter_name,
            "parameterRegion": self.site.settings.region,
            "liveVersion": self._version or layout.NO_VERSION_RELEASED,
            "releaseTargets": [f"{prefix}$aws:ssm/parameter:Parameter::site-pointer", second],
            "router": self.site.router,
            "url": self.url,
            "distributionId": emergency_step.DEMO_DISTRIBUTION_ID,
            "edgeCacheTtlSeconds": self.site.settings.cache_ttl_seconds,
            "pointerStoreArn": self.site.store.arn if self.site.store is not None else "",
            "spaFallback": self.site.settings.spa_fallback,
        }

    @property
    def version_key(self) -> str:
        return version_config_key(DEMO_PROJECT)

    def get_version(self) -> str | None:
        return self._version

    def set_version(self, value: str | None) -> None:
        self._version = value

    def get_config(self, key: str) -> str | None:
        return self.config.get(key)

    def set_config(self, key: str, value: str | None) -> None:
        if value is None:
            self.config.pop(key, None)
        else:
            self.config[key] = value

    def canary(self) -> tuple[str, int] | None:
        """The canary the config names (version, percent), as the program reads the two keys."""
        version = self.config.get(f"{DEMO_PROJECT}:canaryVersion")
        percent = self.config.get(f"{DEMO_PROJECT}:canaryPercent")
        return None if not version or percent is None else (version, int(percent))

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        value = self._version or layout.NO_VERSION_RELEASED
        function_mode = self.site.router == CLOUDFRONT_FUNCTION
        targets_said = "the pointer and the store's key" if function_mode else "the pointer and the switch"
        on_output(f"in AWS: `pulumi up` targeted at {targets_said} ({message!r})")
        pointer = self.site.settings.parameter_name
        # The program reads the emergency record before any resource (components/site.py).
        record = emergency.read_record(self.site.ssm, pointer)
        emergency.check_deployment(record, self._version, None, self.version_key)
        emergency.check_canary(record, (self.canary() or (None, 0))[0], None, self.version_key)
        on_output(f"here:   the same change, applied directly: {pointer} = {value}")
        started = self._clock()
        self.site.ssm.put_parameter(Name=pointer, Value=value, Type="String", Overwrite=True)
        if function_mode:
            self._write_store(value, on_output)
        if emergency.clears(record, value):
            emergency.clear_record(self.site.ssm, pointer)
        self.pointer_changed_at = time.monotonic()
        self._updates.insert(
            0, StackUpdate("update", started, self._clock(), "succeeded", self._version, None, message)
        )
        return "succeeded"

    def _write_store(self, value: str, on_output: Callable[[str], Any]) -> None:
        """After the pointer, as the component orders them: the canary's record, then the store value
        from both (the version and its routes, from its manifest; the canary's too), so that no record
        is behind what viewers get."""
        s3, bucket = self.site.s3, self.site.bucket
        manifest = storage.read_manifest(s3, bucket, value) if self._version else None
        canary = self.canary()
        record = layout.canary_parameter_name(self.site.settings.parameter_name)
        written = layout.canary_record(canary[0] if canary else None, canary[1] if canary else 0)
        self.site.ssm.put_parameter(Name=record, Value=written, Type="String", Overwrite=True)
        with_canary = None if canary is None else (*canary, storage.read_manifest(s3, bucket, canary[0]))
        value_written = manifest_store_value(value, manifest, self.site.settings.spa_fallback, with_canary)
        # The versions' build-rule keys first, with the one writer the program and rollback --now use.
        keys = manifest_rule_keys(value, manifest)
        if with_canary is not None:
            keys.update(manifest_rule_keys(with_canary[0], with_canary[2]))
        assert self.site.store is not None
        write_rule_keys(self.site.kvs, self.site.store.arn, keys)
        self.site.write_store(value_written)
        if canary is not None:
            on_output(f"        and the canary record {record} = {written!r}")
        said = f"{value}, canary {canary[0]} at {canary[1]}%" if canary else value
        on_output(f"        and the KeyValueStore key {LIVE_VERSION_KEY} = {said} (PutKey on its ETag)")

    def preview(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        return "update: 1" if self.outputs()["liveVersion"] != self._version else "same: 2"

    def history(self) -> list[StackUpdate]:
        return list(self._updates)

    def resource_outputs(self, urns: list[str]) -> dict[str, Mapping[str, Any]]:
        return {}  # the demo's `up` runs no switch: it invalidates nothing


def release(
    stack: DemoStack, version: str, on_output: Callable[[str], Any], *, action: str = "release"
) -> None:
    """`sitectl release --version VERSION` against the demo stack: the same completeness check and config
    handling, with DemoStack's `up` in place of Pulumi's."""
    release_version(
        lambda: stack,
        stack.site.s3,
        stack.site.bucket,
        version,
        on_output=on_output,
        action=action,
        read_pointer=lambda: live_version(stack),
    )


def live_version(stack: DemoStack) -> str:
    """What is live: the pointer, as sitectl reads it (never the local config)."""
    parameter = stack.site.ssm.get_parameter(Name=stack.site.settings.parameter_name)
    return str(parameter["Parameter"]["Value"])


def rollback(stack: DemoStack, on_output: Callable[[str], Any]) -> str:
    """`sitectl rollback`: release the version live before the one the pointer holds, from the stack's
    history."""
    target = previous_live_version(stack, [], live_version(stack))
    if target is None:
        raise RuntimeError("no earlier release to roll back to")
    release(stack, target, on_output, action="rollback to")
    return target


@dataclass(frozen=True)
class Served:
    status: int
    heading: str | None
    """The text of the page's `<h1 id="version">`, or None when there is none."""


def fetch_page(url: str) -> Served:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode("utf-8", errors="replace")
            status = int(response.status)
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", errors="replace")
        status = error.code
    match = _HEADING_RE.search(body)
    return Served(status, match.group("text") if match else None)


def show_rules(detail: Callable[[str], Any], url: str, why: str = "") -> None:
    """What `RULE_PATH` and the root page answer: the live version's redirect and header rules."""
    redirect = http_client.get(url + RULE_PATH, 5.0)
    root = http_client.get(url + "/", 5.0)
    location = redirect.headers.get("location")
    robots = root.headers.get("x-robots-tag")
    answer = f"{redirect.status} Location {location}" if location else str(redirect.status)
    detail(
        f"GET {RULE_PATH} -> {answer} | GET / X-Robots-Tag: {robots or '(none)'}"
        + (f": {why}" if why else "")
    )


def wait_until_served(
    url: str,
    heading: str,
    *,
    timeout_seconds: float,
    since: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Seconds from `since` (default: now, on `clock`) until GET `url` shows `heading`; raises
    TimeoutError past `timeout_seconds`."""
    started = clock() if since is None else since
    while True:
        served = fetch_page(url)
        elapsed = clock() - started
        if served.status == 200 and served.heading == heading:
            return elapsed
        if elapsed > timeout_seconds:
            raise TimeoutError(
                f"{url} still answers {served.status} {served.heading!r} after {elapsed:.1f} s, "
                f"expected {heading!r}"
            )
        sleep(POLL_INTERVAL_SECONDS)


_ASSET_RE = re.compile(r'<(?:link rel="stylesheet" href|script src)="(?P<path>/[^"]+)"')


def asset_headers(page_url: str) -> list[tuple[str, int, Mapping[str, str]]]:
    """(path, status, headers) of the stylesheets and scripts `page_url` links, fetched with HEAD."""
    with urllib.request.urlopen(page_url, timeout=5) as response:
        html = response.read().decode("utf-8", errors="replace")
    base = page_url.split("/", 3)[:3]
    found: list[tuple[str, int, Mapping[str, str]]] = []
    for match in _ASSET_RE.finditer(html):
        path = match.group("path")
        head = urllib.request.Request("/".join(base) + path, method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as asset:
            found.append((path, int(asset.status), dict(asset.headers.items())))
    return found


class Narrator:
    """Numbered steps on `out`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0

    def __call__(self, text: str) -> None:
        self.step += 1
        print(f"\n[{self.step}] {text}", file=self.out, flush=True)

    def detail(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)


def run(
    out: TextIO,
    *,
    port: int,
    cache_ttl_seconds: int,
    once: bool,
    workdir: Path,
    router: str = LAMBDA_EDGE,
    node: str | None = None,
) -> dict[str, float]:
    """The whole demo against whatever boto3 is configured for (main() points it at moto); with the
    cloudfront-function `router`, `router.js` runs under `node` when given.

    Returns how long each switch took, in seconds, keyed by step name.
    """
    say = Narrator(out)
    s3 = boto3.client("s3", region_name=DEMO_BUCKET_REGION)
    ssm = boto3.client("ssm", region_name=EDGE_REGION)
    with ExitStack() as resources:
        store = None
        if router == CLOUDFRONT_FUNCTION:
            fake, endpoint = resources.enter_context(running_store(FakeStore()))
            store = (fake, client_for(endpoint))
        site = create_site(s3, ssm, cache_ttl_seconds=cache_ttl_seconds, router=router, store=store)
        return _run_site(say, site, port=port, once=once, workdir=workdir, node=node, resources=resources)


def _run_site(
    say: Narrator,
    site: DemoSite,
    *,
    port: int,
    once: bool,
    workdir: Path,
    node: str | None,
    resources: ExitStack,
) -> dict[str, float]:
    router, s3 = site.router, site.s3
    say("Created the stack's AWS side as the component would (here in moto, not AWS)")
    say.detail(f"bucket     s3://{site.bucket} ({DEMO_BUCKET_REGION}, private, public access blocked)")
    say.detail(f"pointer    {site.settings.parameter_name} = {layout.NO_VERSION_RELEASED!r} ({EDGE_REGION})")
    if site.store is not None:
        say.detail(
            f"store key  {LIVE_VERSION_KEY} = {layout.NO_VERSION_RELEASED!r} (the KeyValueStore: a fake of "
            "its API, written through the real boto3 client; moto has none)"
        )

    # The same config.json the component puts in the Lambda@Edge bundle; the server reads it back.
    config_file = workdir / CONFIG_FILENAME
    config_file.write_bytes(bundle_files(site.settings)[f"{PACKAGE_NAME}/{CONFIG_FILENAME}"])
    settings = load_settings(config_file)
    say.detail(f"edge config {config_file} (cache_ttl_seconds={settings.cache_ttl_seconds})")

    now = datetime.now(UTC).replace(microsecond=0)
    version_one = layout.new_version(now - timedelta(seconds=1))
    version_two = layout.new_version(now)
    version_three = layout.new_version(now + timedelta(seconds=1))
    builds = ((version_one, EXAMPLE_V1), (version_two, EXAMPLE_V2), (version_three, EXAMPLE_V3))
    for version, directory in builds:
        source = directory
        if directory == EXAMPLE_V1 and router != CLOUDFRONT_FUNCTION:
            # Version one with the build rules at its root, as a build would carry them.
            source = workdir / directory.name
            shutil.copytree(directory, source)
            for rule_file in EXAMPLE_RULES.iterdir():
                shutil.copy(rule_file, source / rule_file.name)
        report = upload_build(s3, site.bucket, source, version)
        say(f"Uploaded {directory.relative_to(ROOT)} as version {version} (like `sitectl upload`)")
        say.detail(
            f"{report.files} files, {report.total_bytes} bytes: {report.sent_files} sent, "
            f"{report.copied_files} copied server-side (same content in an earlier version)"
        )
        if report.redirect_rules or report.header_rules:
            say.detail(
                f"with {EXAMPLE_RULES.relative_to(ROOT)}/_redirects and _headers at its root: "
                f"{report.redirect_rules} redirects, {report.header_rules} header block, recorded in its "
                "manifest (the two files are not served)"
            )
        say.detail(f"manifest {layout.manifest_key(version)} written last: the version is complete")

    # The clock of the edge's pointer cache and of `rollback --now`: real time, plus the edge TTL that
    # the emergency step models instead of sleeping (scripts/demo/emergency_step.py).
    clock = emergency_step.ModeledClock()
    function = (
        NodeFunction(node, workdir, settings.route_settings)
        if router == CLOUDFRONT_FUNCTION and node
        else None
    )
    if function is not None:
        resources.callback(function.close)
    routing: dict[str, Any] = {"router": router}
    if router == CLOUDFRONT_FUNCTION:
        routing["viewer_function"] = function or viewer_request
        if function is not None:  # viewer_response.js too (the canary's cookie), else its Python rules
            routing["viewer_response_function"] = function.viewer_response
    else:
        routes = version_routes_for(Origin(site.bucket, s3), settings.spa_fallback)
        pointer = PointerCache(settings, now=clock.monotonic)
        routing["edge_function"] = OriginRequestHandler(settings, pointer, routes)
    with (
        preview_server_running(
            site.bucket,
            settings,
            port=port,
            s3_client=s3,
            live_version=site.read_store,
            store=site.read_key,
            **routing,
        ) as live,
        preview_server_running(
            site.bucket,
            settings,
            version=version_two,
            s3_client=s3,
            router=router,
            viewer_function=routing.get("viewer_function", viewer_request),
        ) as preview,
    ):
        versions = (version_one, version_two, version_three)
        timings = _walk(say, site, (live, preview), versions, clock, _function_said(node))
        if not once:
            _serve_until_interrupted(say, site, live, preview)
    return timings


def _function_said(node: str | None) -> str:
    if node:
        return f"the function was router.js itself, run by {node} (edge_function/node_driver.mjs)"
    return "the function was its rules in Python (edge_function/viewer_request.py): `node` is not installed"


def _walk(
    say: Narrator,
    site: DemoSite,
    servers: tuple[PreviewServer, PreviewServer],
    versions: tuple[str, str, str],
    clock: emergency_step.ModeledClock,
    function_said: str,
) -> dict[str, float]:
    """The demo's steps against the live server and the preview of version two; the timings."""
    cache_ttl_seconds = site.settings.cache_ttl_seconds
    live, preview = servers
    version_one, version_two, version_three = versions
    function_mode = site.router == CLOUDFRONT_FUNCTION
    timings: dict[str, float] = {}
    page = fetch_page(live.url + "/")
    if function_mode:
        say(f"Serving the site through the viewer-request function at {live.url}/ (like `sitectl serve`)")
        say.detail(function_said)
    else:
        say(f"Serving the site through the real edge function at {live.url}/ (like `sitectl serve`)")
    say.detail(f"GET / -> {page.status}: nothing is released yet, the edge refuses")

    stack = DemoStack(site, url=live.url)

    say(f"Release {version_one} (`sitectl release --version {version_one}`)")
    release(stack, version_one, say.detail)
    timings["release"] = _time_switch(say, stack, live.url, "Version one", cache_ttl_seconds)
    for asset, status, headers in asset_headers(live.url + "/"):
        say.detail(f"{asset} -> {status} {headers.get('Content-Type')} | {headers.get('Cache-Control')}")

    if not function_mode:
        say("Version one's build rules (its _redirects and _headers)")
        show_rules(say.detail, live.url)

    shown = fetch_page(preview.url + "/")
    say(f"Preview {version_two} before releasing it (`sitectl serve --version {version_two}`)")
    say.detail(f"{preview.url}/ shows {shown.heading!r}; the live site is unchanged")

    chunk = skew.lazy_chunk_path(live.url + "/")
    say(f"Switch to {version_two} (`sitectl release --version {version_two}`)")
    release(stack, version_two, say.detail)
    timings["switch"] = _time_switch(say, stack, live.url, "Version two", cache_ttl_seconds)

    say("A page of version one, open since before the switch, imports its lazily loaded chunk")
    skew.show_open_page_after_switch(say.detail, live.url, chunk, version_one, function_mode)
    if function_mode:
        say("A missing path answers 404 with the plain page (no function runs for the error page)")
    else:
        say("A missing path answers 404 with the live version's own page")
    skew.show_not_found(say.detail, live.url, function_mode)
    if not function_mode:
        show_rules(say.detail, live.url, "version two has no rules")

    say("Roll back (`sitectl rollback`: the version live before this one)")
    target = rollback(stack, say.detail)
    say.detail(f"rolled back to {target}")
    timings["rollback"] = _time_switch(say, stack, live.url, "Version one", cache_ttl_seconds)
    if not function_mode:
        show_rules(say.detail, live.url, "version one's rules are back with it")

    timings["verified"] = _verified_release(say, stack, live.url, version_three, cache_ttl_seconds)

    if function_mode:
        _canary_release(say, stack, live.url, version_two)
    else:
        say(f"Release {version_two} again (`sitectl release --version {version_two}`)")
        release(stack, version_two, say.detail)
        _time_switch(say, stack, live.url, "Version two", cache_ttl_seconds)
    timings["emergency"] = _emergency(say, stack, clock, version_two)

    _summary(say, live, timings)
    return timings


def _command_site(stack: DemoStack, **deps: Any) -> Site:
    """The `Site` sitectl's commands get, on the demo's stack and clients (`deps`: other SiteDeps)."""
    site = stack.site
    return Site(
        deps=SiteDeps(
            stack_factory=lambda _name, _dir: stack,
            s3_factory=lambda: site.s3,
            ssm_factory=lambda _region: site.ssm,
            **deps,
        ),
        stack_name=DEMO_STACK,
        project_dir=ROOT,
    )


def _canary_release(say: Narrator, stack: DemoStack, url: str, version: str) -> None:
    """`version` released again, as a canary for half the viewers first, then completed."""
    percent = canary_step.PERCENT
    say(
        f"Release {version} again, as a canary for {percent}% of viewers first "
        f"(`sitectl canary {version} --percent {percent}`)"
    )
    command_site = _command_site(stack)
    readers: dict[str, Any] = {"read_live": command_site.live_version, "read_canary": command_site.canary}
    start_canary(
        lambda: stack, stack.site.s3, stack.site.bucket, version, percent, **readers, on_output=say.detail
    )
    say.detail(
        f"a viewer's bucket (0-99) is its site-bucket cookie, else a hash of its address and User-Agent; "
        f"below {percent}: the canary"
    )
    viewers = [canary_step.Viewer(name, agent) for name, agent in canary_step.VIEWERS]
    canary_step.show_viewers(say.detail, url, viewers)
    canary_step.show_tester(say.detail, url)

    say(f"Complete the canary: {version} for every viewer (`sitectl canary --complete`)")
    complete_canary(lambda: stack, stack.site.s3, stack.site.bucket, **readers, on_output=say.detail)
    canary_step.show_viewers(say.detail, url, viewers, visits=2)


def _emergency(say: Narrator, stack: DemoStack, clock: emergency_step.ModeledClock, broken: str) -> float:
    """`sitectl rollback --now`, its own code on the demo's stack, and what a stale deployment then
    gets; the seconds from the command to the first request served by the version rolled back to."""
    site = stack.site
    target = previous_live_version(stack, [], live_version(stack))
    if target is None:
        raise RuntimeError("no earlier release to roll back to")
    reason = "demo: checkout broken"
    say(f'Emergency: {broken} is on fire (`sitectl rollback --now --reason "{reason}" --yes`)')
    cloudfront = emergency_step.LocalCloudFront()
    command_site = _command_site(
        stack,
        cloudfront_factory=lambda: cloudfront,
        kvs_factory=lambda: site.kvs,
        clock=clock.wall,
        sleep=clock.sleep,
    )
    output = emergency_step.NarratedOutput(lines=say.detail)
    modeled_before = clock.modeled
    document = emergency_release(
        command_site,
        target,
        "rollback",
        config_only=False,
        reason=reason,
        output=output,
        on_output=say.detail,
    )
    timing = emergency_step.timing(document, clock, modeled_before)
    if site.router == CLOUDFRONT_FUNCTION:
        say.detail(
            f"{timing.total:.3f} s from the command to the first request served by {target}, all of it "
            "measured: the function reads the store on every request, nothing to wait for"
        )
        say.detail("on AWS, add the key's propagation to the edge locations (README, 'Emergency rollback')")
    else:
        say.detail(
            f"{timing.total:.2f} s from the command to the first request served by {target}: "
            f"{timing.modeled:.2f} s edge TTL and margin (modeled, not slept) + {timing.measured:.3f} s "
            "measured (the writes, the invalidation, the request)"
        )
        say.detail(
            "here the invalidation has no cache to clear; on AWS, add its completion (README, "
            "'Emergency rollback')"
        )
    # CI's next deployment of a checkout that still names the broken version.
    stale = DemoStack(site)
    stale.set_version(broken)
    try:
        stale.up([], "deploy of a stale checkout", lambda _line: None)
    except emergency.RolledBackVersionError as error:
        say.detail(f"then CI's `pulumi up` of a checkout still at {broken}: refused before any resource:")
        say.detail(f"  {error}")
    else:
        raise RuntimeError(f"a deployment of {broken} was not refused after the emergency rollback")
    return timing.total


def _time_switch(say: Narrator, stack: DemoStack, url: str, heading: str, cache_ttl_seconds: int) -> float:
    elapsed = wait_until_served(
        url + "/", heading, timeout_seconds=cache_ttl_seconds + 10, since=stack.pointer_changed_at
    )
    if stack.site.router == CLOUDFRONT_FUNCTION:
        how = "the function reads the store on every request: no edge TTL to wait, no invalidation"
    else:
        how = f"each edge container re-reads it every {cache_ttl_seconds} s"
    say.detail(f"GET / shows {heading!r} {elapsed:.2f} s after the pointer changed ({how})")
    return elapsed


def _verified_release(
    say: Narrator, stack: DemoStack, url: str, version: str, cache_ttl_seconds: int
) -> float:
    """`sitectl release --version VERSION --verify` of the broken build: it fails verification and the version
    live before it is released again, by itself. Returns the seconds from the release to that."""
    say(f"Release {version} with verification (`sitectl release --version {version} --verify`)")
    say.detail(
        f"{EXAMPLE_V3.relative_to(ROOT)}/index.html references /assets/chunk.7c2e91d4.js; the build lacks it"
    )
    s3, bucket = stack.site.s3, stack.site.bucket

    def verify(candidate: str) -> VerifyReport:
        manifest = storage.read_manifest(s3, bucket, candidate)
        assert manifest is not None
        return verify_site(url, candidate, manifest, shared_assets=stack.site.router == CLOUDFRONT_FUNCTION)

    started = time.monotonic()
    try:
        release_and_verify(
            version,
            stack.get_version(),
            release=lambda target, action: release(stack, target, say.detail, action=action),
            wait_for_cache=lambda: say.detail(
                "in AWS: nothing to wait for, the version is in the cache key"
                if stack.site.router == CLOUDFRONT_FUNCTION
                else "in AWS: wait for the switch's CloudFront invalidation; here: no CloudFront cache"
            ),
            verify=verify,
            # Long enough for every edge container to re-read the pointer, then a margin; the function
            # reads the store on every request, so the margin alone.
            policy=VerifyPolicy(
                verify_timeout=_settle_seconds(stack.site, cache_ttl_seconds), verify_poll=0.25
            ),
            on_output=say.detail,
        )
    except SitectlError as error:
        say.detail(f"sitectl exits 1: {error.message}")
    took = time.monotonic() - started
    say.detail(f"{took:.2f} s from the release to the previous version verified live again")
    return took


def _settle_seconds(site: DemoSite, cache_ttl_seconds: int) -> float:
    """How long the served version may lag the pointer here, plus a 2 s margin."""
    return 2.0 if site.router == CLOUDFRONT_FUNCTION else cache_ttl_seconds + 2.0


def _summary(say: Narrator, live: PreviewServer, timings: dict[str, float]) -> None:
    say("Done: released, switched and rolled back without uploading anything again")
    for name, seconds in timings.items():
        if name == "verified":
            say.detail(
                f"{name:<9} {seconds:.2f} s to release a broken build, catch it and roll back by itself"
            )
        elif name == "emergency":
            say.detail(f"{name:<9} {seconds:.2f} s from `rollback --now` to the first request it served")
        else:
            say.detail(f"{name:<9} {seconds:.2f} s until the served page changed")


def _serve_until_interrupted(
    say: Narrator, site: DemoSite, live: PreviewServer, preview: PreviewServer
) -> None:
    say(f"Still serving: live site {live.url}/ , preview of version two {preview.url}/ . Ctrl-C to stop.")
    say.detail("from another shell, sitectl reaches the same moto server:")
    say.detail(
        f"AWS_ENDPOINT_URL={os.environ.get('AWS_ENDPOINT_URL', '')} AWS_ACCESS_KEY_ID=demo "
        "AWS_SECRET_ACCESS_KEY=demo \\"
    )
    say.detail(f"  uv run sitectl --bucket {site.bucket} --parameter {site.settings.parameter_name} versions")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say.detail("stopped")


def _isolate_from_real_aws(endpoint: str) -> None:
    """Point every boto3 client of this process at moto, with fake credentials, whatever the shell has."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": EDGE_REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )


def port_in_use(port: int) -> str | None:
    """Why the preview server could not listen on 127.0.0.1:`port`, or None when it can. The probe binds
    as the server does (HTTPServer sets SO_REUSEADDR): sockets a previous run left in TIME_WAIT do not
    stop the server, so they must not stop the probe either."""
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    except OSError as error:
        return error.strerror or str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="exit after the script instead of serving on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port of the live site (0: any free one)"
    )
    parser.add_argument(
        "--router",
        choices=ROUTERS,
        default=LAMBDA_EDGE,
        help="the edge router to show (cloudfront-function: a rollback is served at once)",
    )
    parser.add_argument(
        "--cache-ttl",
        type=int,
        default=DEFAULT_CACHE_TTL_SECONDS,
        help="seconds the edge caches the pointer (1-300)",
    )
    args = parser.parse_args(argv)

    print("versioned-site demo: no AWS account needed, everything runs on 127.0.0.1", flush=True)
    # Fail before minutes of narration, not at the serving step.
    busy = port_in_use(args.port) if args.port else None
    if busy:
        print(
            f"demo failed: port {args.port}: {busy}, use another: make demo ARGS='--port 8081'",
            file=sys.stderr,
        )
        return 1
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="versioned-site-demo-") as workdir:
        _isolate_from_real_aws(endpoint)
        print(f"moto (S3 and SSM) on {endpoint}", flush=True)
        try:
            run(
                sys.stdout,
                port=args.port,
                cache_ttl_seconds=args.cache_ttl,
                once=args.once,
                workdir=Path(workdir),
                router=args.router,
                node=node_binary(),
            )
        except OSError as error:
            print(f"demo failed: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
