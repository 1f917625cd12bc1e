"""`sitectl serve`: the real edge handler in front of the bucket, over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from edge_lambda import layout
from edge_lambda.settings import EdgeSettings
from scripts.commands.errors import RefusedError
from scripts.commands.serve import (
    edge_function_for,
    origin_request_event,
    preview_server_running,
    resolve_settings,
    serve,
    stack_host_redirects,
)
from scripts.commands.site import Site, SiteDeps
from scripts.commands.upload import upload_build
from scripts.demo import walkthrough as demo
from scripts.demo.local_aws import moto_server
from scripts.offline.mockrun import load_project, load_stack_config, run_program
from scripts.versionstore.content_headers import content_type_for
from tests.edge_scaffold import origin_request_event as documented_event
from tests.serve_scaffold import (
    ExampleSite,
    ManualClock,
    example_site,
    live_server,
    request,
)
from tests.sitectl_scaffold import PARAMETER, FakeStack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def example() -> Iterator[ExampleSite]:
    with example_site() as site:
        yield site


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items() if key != "headers"}
    if isinstance(value, list):
        return [_keys(item) for item in value]
    return type(value).__name__


def test_event_has_the_shape_of_cloudfronts_origin_request_event() -> None:
    ours = origin_request_event("GET", "/about/?a=1", bucket="b", bucket_region="eu-west-1")
    assert _keys(ours) == _keys(documented_event("/"))
    request_ = ours["Records"][0]["cf"]["request"]
    assert (request_["uri"], request_["querystring"]) == ("/about/", "a=1")
    assert request_["headers"]["host"] == [{"key": "Host", "value": "b.s3.eu-west-1.amazonaws.com"}]
    assert request_["origin"]["s3"]["region"] == "eu-west-1"


def test_nothing_released_is_the_edges_503(example: ExampleSite) -> None:
    with live_server(example, ManualClock()) as server:
        answer = request(server, "/")
    assert answer.status == 503
    assert "no version released" in answer.text
    assert answer.headers["retry-after"] == str(example.settings.cache_ttl_seconds)
    assert answer.headers["cache-control"] == "no-store"


# examples/site-v1, as uploaded: (Content-Type, Cache-Control) of each file.
_REVALIDATE = "public, max-age=0, must-revalidate"
_IMMUTABLE = "public, max-age=31536000, immutable"
EXAMPLE_V1_HEADERS = {
    "404.html": ("text/html; charset=utf-8", _REVALIDATE),
    "about/index.html": ("text/html; charset=utf-8", _REVALIDATE),
    "assets/app.2defdb23.css": ("text/css; charset=utf-8", _IMMUTABLE),
    "assets/app.fa10386f.js": ("text/javascript; charset=utf-8", _IMMUTABLE),
    "assets/lazy.2f781bed.js": ("text/javascript; charset=utf-8", _IMMUTABLE),
    "index.html": ("text/html; charset=utf-8", _REVALIDATE),
}


def test_serves_each_file_with_the_objects_headers(example: ExampleSite) -> None:
    example.release(example.version_one)
    manifest = layout.Manifest.from_json(
        example.s3.get_object(Bucket=example.bucket, Key=layout.manifest_key(example.version_one))[
            "Body"
        ].read()
    )
    assert sorted(manifest.files) == sorted(EXAMPLE_V1_HEADERS)
    with live_server(example, ManualClock()) as server:
        for path in manifest.files:
            url = "/" + path.removesuffix("index.html")  # folders are asked for as `/about/`
            answer = request(server, url)
            stored = example.s3.head_object(
                Bucket=example.bucket, Key=layout.stored_key(example.version_one, path, manifest.files[path])
            )
            source = (demo.EXAMPLE_V1 / path).read_bytes()
            assert answer.status == 200, url
            assert answer.body == source, url
            content_type, cache_control = EXAMPLE_V1_HEADERS[path]
            assert answer.headers["content-type"] == content_type, url
            assert answer.headers["cache-control"] == cache_control, url
            assert answer.headers["etag"] == stored["ETag"] == f'"{hashlib.md5(source).hexdigest()}"', url
            assert answer.headers["content-length"] == str(len(source)), url


def test_a_folder_page_without_its_trailing_slash_redirects_with_the_query_string(
    example: ExampleSite,
) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        bare = request(server, "/about?utm=1")
        queried = request(server, "/about/?utm=1")
    assert (bare.status, bare.headers["location"], bare.body) == (308, "/about/?utm=1", b"")
    assert queried.status == 200
    assert queried.body == (demo.EXAMPLE_V1 / "about" / "index.html").read_bytes()


def test_a_custom_domains_host_redirect_answers_first_by_the_host_header(example: ExampleSite) -> None:
    """As the viewer-request function in front of either router: the other name gets 301 with its path
    and query, before any rule of the version; the canonical name (and 127.0.0.1) gets the site."""
    example.release(example.version_one)
    with live_server(example, ManualClock(), host_redirects={"www.example.com": "example.com"}) as server:
        other = request(server, "/about?utm=1", headers={"Host": "www.example.com"})
        canonical = request(server, "/about/", headers={"Host": "example.com"})
        refused = request(server, "/about/", method="POST", headers={"Host": "www.example.com"})
        local = request(server, "/about/")
    assert (other.status, other.headers["location"], other.headers["cache-control"], other.body) == (
        301,
        "https://example.com/about?utm=1",
        "max-age=3600",
        b"",
    )
    page = (demo.EXAMPLE_V1 / "about" / "index.html").read_bytes()
    assert (canonical.status, canonical.body) == (200, page) == (local.status, local.body)
    # CloudFront answers a method the behavior does not allow before any function runs.
    assert refused.status == 404


def test_the_host_redirect_is_the_stacks(tmp_path: Path) -> None:
    assert stack_host_redirects(_site("dev", ROOT)) == {}
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    names = "  versioned-site:domainNames:\n    - example.com\n    - www.example.com\n"
    (tmp_path / "Pulumi.www.yaml").write_text(f"config:\n{names}  versioned-site:hostRedirect: to-www\n")
    assert stack_host_redirects(_site("www", tmp_path)) == {"example.com": "www.example.com"}
    (tmp_path / "Pulumi.odd.yaml").write_text(f"config:\n{names}  versioned-site:hostRedirect: sideways\n")
    with pytest.raises(RefusedError) as refused:
        stack_host_redirects(_site("odd", tmp_path))
    assert refused.value.message == (
        "versioned-site:hostRedirect is 'sideways': set it to off (the default), to-apex or to-www, e.g. "
        "`pulumi config set hostRedirect to-apex`"
    )
    (tmp_path / "Pulumi.flat.yaml").write_text("config:\n  versioned-site:domainNames: example.com\n")
    with pytest.raises(RefusedError) as refused:
        stack_host_redirects(_site("flat", tmp_path))
    assert refused.value.message == (
        "the stack's versioned-site:domainNames is not a list of host names: fix it"
    )


def test_missing_key_is_404_with_the_versions_own_page(example: ExampleSite) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        answer = request(server, "/assets/missing.css")
    assert answer.status == 404
    assert answer.body == (demo.EXAMPLE_V1 / "404.html").read_bytes()


def test_head_has_the_headers_and_no_body(example: ExampleSite) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        head = request(server, "/", method="HEAD")
        get = request(server, "/")
    assert head.status == 200
    assert head.body == b""
    for name in ("content-type", "cache-control", "etag", "content-length", "last-modified"):
        assert head.headers[name] == get.headers[name], name


def test_matching_if_none_match_is_304(example: ExampleSite) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        etag = request(server, "/").headers["etag"]
        revalidated = request(server, "/", headers={"If-None-Match": etag})
        stale = request(server, "/", headers={"If-None-Match": '"0123"'})
    assert (revalidated.status, revalidated.body) == (304, b"")
    assert stale.status == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/assets/../../other-version/index.html", 400),
        ("GET", "/%2e%2e/secret", 400),
        ("GET", "//index.html", 400),
    ],
)
def test_the_edges_refusals_reach_the_viewer(
    example: ExampleSite, method: str, path: str, status: int
) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        answer = request(server, path, method=method)
    assert answer.status == status


def test_follows_the_pointer_after_the_edge_cache_ttl(example: ExampleSite) -> None:
    clock = ManualClock()
    example.release(example.version_one)
    with live_server(example, clock) as server:
        assert "Version one" in request(server, "/").text
        example.release(example.version_two)
        clock.advance(example.settings.cache_ttl_seconds - 0.5)
        assert "Version one" in request(server, "/").text  # still within the container's TTL
        clock.advance(0.5)
        assert "Version two" in request(server, "/").text
        example.release(example.version_one)
        clock.advance(example.settings.cache_ttl_seconds)
        assert "Version one" in request(server, "/").text


def test_version_preview_ignores_the_pointer_and_needs_no_manifest(example: ExampleSite) -> None:
    example.release(example.version_one)
    # Files of a third version without its manifest: incomplete, never releasable, but previewable.
    incomplete = "20261129T120000Z"
    for path in ("index.html", "assets/app.3e791ac8.css"):
        example.s3.put_object(
            Bucket=example.bucket,
            Key=layout.object_key(incomplete, path),
            Body=(demo.EXAMPLE_V2 / path).read_bytes(),
            ContentType=content_type_for(path),
        )
    for version, heading in ((example.version_two, "Version two"), (incomplete, "Version two")):
        with preview_server_running(
            example.bucket, example.settings, version=version, s3_client=example.s3
        ) as server:
            assert heading in request(server, "/").text
            assert request(server, "/%2e%2e/x").status == 400  # the same refusals as the live edge
    # The pointer is never read: a preview works even with the parameter gone.
    example.site.ssm.delete_parameter(Name=example.settings.parameter_name)
    with preview_server_running(
        example.bucket, example.settings, version=example.version_two, s3_client=example.s3
    ) as server:
        assert request(server, "/").status == 200


def test_edge_function_for_rejects_a_bad_version(example: ExampleSite) -> None:
    with pytest.raises(layout.InvalidVersionError):
        edge_function_for("latest", example.settings)


def test_cli_refuses_a_bad_version_and_a_missing_pointer(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(serve, ["--bucket", "b", "--version", "latest", "--port", "0"])
    assert bad.exit_code == 2
    assert "not a valid version id" in bad.output
    nothing = runner.invoke(serve, ["--bucket", "b", "--port", "0"], env={"EDGE_LAMBDA_CONFIG": None})
    assert nothing.exit_code == 2
    assert "--edge-config" in nothing.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], deadline_seconds: float = 30) -> str:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except urllib.error.URLError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the server process is starting up


def test_sitectl_serve_process_against_moto_server(tmp_path: Path) -> None:
    """The console command, in its own process, against a moto server: as against AWS, through the
    standard boto3 configuration (here AWS_ENDPOINT_URL)."""
    with moto_server() as endpoint:
        s3 = boto3.client("s3", region_name=demo.DEMO_BUCKET_REGION, endpoint_url=endpoint)
        ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=endpoint)
        site = demo.create_site(s3, ssm, cache_ttl_seconds=1, bucket="serve-process-test")
        version = upload_build(s3, site.bucket, demo.EXAMPLE_V1, "20261127T101500Z").version
        demo.release(demo.DemoStack(site), version, lambda _line: None)
        config = tmp_path / "config.json"
        config.write_text(
            EdgeSettings(site.settings.parameter_name, site.settings.region, cache_ttl_seconds=1).to_json()
        )
        port = _free_port()
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "SITE_BUCKET": site.bucket}
        command = [
            sys.executable,
            "-m",
            "scripts.sitectl",
            "serve",
            "--port",
            str(port),
            "--edge-config",
            str(config),
        ]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            page = _wait_for(f"http://127.0.0.1:{port}/", process)
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
        assert "Version one" in page, stderr.decode()
        assert f"following the pointer {site.settings.parameter_name}" in stderr.decode()


def _site(stack: str | None, project_dir: Path, parameter: str | None = None) -> Site:
    return Site(
        deps=SiteDeps(stack_factory=lambda name, _dir: FakeStack(name=name)),
        stack_name=stack,
        parameter_option=parameter,
        project_dir=project_dir,
    )


def _bundled_settings(stack_dir: Path, stack: str) -> EdgeSettings:
    """The config.json the real program puts in the edge bundle with `Pulumi.<stack>.yaml` of
    `stack_dir` (run under the update-time mocks, against an empty account)."""
    project, _ = load_project(ROOT)
    config = load_stack_config(stack_dir, project, stack)
    run = run_program(ROOT, stack, [f"{key}={value}" for key, value in config.items()], preview=False)
    # The edge function, not the switch's (both are Lambda functions of the site).
    (function,) = [
        r for r in run.resources if r.type == "aws:lambda/function:Function" and r.name.endswith("-edge")
    ]
    return EdgeSettings.from_json(function.props["code"].assets["edge_lambda/config.json"].text)


def test_settings_of_a_stack_are_what_its_program_bundles(tmp_path: Path) -> None:
    dev = resolve_settings(_site("dev", ROOT), None, None, None)
    assert dev == EdgeSettings(
        PARAMETER, "us-east-1", cache_ttl_seconds=2, spa_fallback=False
    )  # Pulumi.dev.yaml
    # The parameter's name comes from the stack's outputs (here a fake stack's); the rest from config.
    # The bundle also names the bucket the edge reads manifests from; serve reads them through its own
    # origin (the bucket it serves).
    bucket = "site-bucket-0a1b2c3"
    assert _bundled_settings(ROOT, "dev") == replace(
        dev, parameter_name="/versioned-site/dev/live-version", bucket=bucket, bucket_region="eu-west-1"
    )  # Pulumi.dev.yaml's aws:region
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.spa.yaml").write_text(
        "config:\n  versioned-site:spaFallback: true\n  versioned-site:trailingSlash: never\n"
        "  versioned-site:redirectStatus: 301\n"
    )
    spa = resolve_settings(_site("spa", tmp_path), None, None, None)
    assert spa == EdgeSettings(
        PARAMETER,
        "us-east-1",
        cache_ttl_seconds=5,
        spa_fallback=True,
        trailing_slash="never",
        redirect_status=301,
    )
    assert _bundled_settings(tmp_path, "spa") == replace(
        spa,
        parameter_name="/versioned-site/spa/live-version",
        bucket=bucket,
        bucket_region="us-east-1",
    )
    overridden = resolve_settings(_site("spa", tmp_path), None, 1, False)
    assert (overridden.cache_ttl_seconds, overridden.spa_fallback) == (1, False)


def test_settings_from_a_config_file_or_a_bare_parameter(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    bundled = EdgeSettings("/x/y/live-version", "us-east-1", cache_ttl_seconds=7, spa_fallback=True)
    config.write_text(bundled.to_json())
    assert resolve_settings(_site("dev", ROOT), config, None, None) == bundled
    with pytest.raises(RefusedError, match="conflict"):
        resolve_settings(_site(None, ROOT), config, 3, None)
    bare = resolve_settings(_site(None, ROOT, parameter="/p/live-version"), None, None, None)
    assert bare == EdgeSettings("/p/live-version", "us-east-1", cache_ttl_seconds=5)
    with pytest.raises(RefusedError, match="--edge-config"):
        resolve_settings(_site(None, ROOT), None, None, None)


TTL_REFUSALS = [
    ("1e400", "cache_ttl_seconds must be a whole number of seconds between 1 and 300, got inf"),
    ("-1e400", "cache_ttl_seconds must be a whole number of seconds between 1 and 300, got -inf"),
    ("5.5", "cache_ttl_seconds must be a whole number of seconds between 1 and 300, got 5.5"),
    ("true", "cache_ttl_seconds must be a whole number of seconds between 1 and 300, got True"),
    ('"5"', "cache_ttl_seconds must be a whole number of seconds between 1 and 300, got '5'"),
    ("1" + "0" * 30, "cache_ttl_seconds 1" + "0" * 30 + " must be between 1 and 300"),
]


@pytest.mark.parametrize(("ttl", "message"), TTL_REFUSALS, ids=[ttl[:8] for ttl, _ in TTL_REFUSALS])
def test_an_edge_config_ttl_that_is_not_whole_seconds_is_refused_in_one_line(
    tmp_path: Path, ttl: str, message: str
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"parameter_name": "/p", "region": "us-east-1", "cache_ttl_seconds": ' + ttl + "}")
    result = CliRunner().invoke(serve, ["--bucket", "b", "--edge-config", str(config), "--port", "0"])
    assert result.exit_code == 2 and result.exception is not None
    assert result.output == (
        f"Error: --edge-config {config} is not usable: {message}; expected a JSON object with "
        "parameter_name, region, cache_ttl_seconds (the component's config.json)\n"
    )


@pytest.mark.parametrize("ttl", ["1e400", "5.5", "-3", "9" * 5000])
def test_a_stack_ttl_that_is_not_whole_seconds_is_refused_in_one_line(tmp_path: Path, ttl: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.odd.yaml").write_text(f"config:\n  versioned-site:edgeCacheTtlSeconds: '{ttl}'\n")
    with pytest.raises(RefusedError) as refused:
        resolve_settings(_site("odd", tmp_path), None, None, None)
    assert refused.value.message == (
        f"the stack's versioned-site:edgeCacheTtlSeconds is {ttl!r}: set a whole number of seconds, 1-300 "
        "(`pulumi config set edgeCacheTtlSeconds 5`), or pass --cache-ttl"
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "BREW"])
def test_every_method_but_get_and_head_gets_the_404_page_as_behind_cloudfront(
    example: ExampleSite, method: str
) -> None:
    # The behavior allows GET and HEAD: CloudFront answers any other method 403 itself, before the
    # edge function runs, and the 403 custom error response makes that 404 with the error page.
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        answer = request(server, "/index.html", method=method)
    assert (answer.status, answer.body) == (404, (demo.EXAMPLE_V1 / "404.html").read_bytes())
    assert "allow" not in answer.headers


def test_without_the_error_responses_another_method_gets_cloudfronts_403(example: ExampleSite) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock(), failover=False) as server:
        answer = request(server, "/index.html", method="POST")
    assert answer.status == 403
    assert answer.text.startswith("403 Forbidden: this distribution is not configured to allow the HTTP")


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("*", 304),
        ("{etag}", 304),
        ("W/{etag}", 304),
        ('"0123", {etag}', 304),
        ('"0123", W/"4567"', 200),
        ('W/"0123"', 200),
    ],
)
def test_if_none_match_with_weak_tags_lists_and_star(
    example: ExampleSite, if_none_match: str, status: int
) -> None:
    example.release(example.version_one)
    with live_server(example, ManualClock()) as server:
        etag = request(server, "/").headers["etag"]
        answer = request(server, "/", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert answer.status == status
    if status == 304:
        assert (answer.headers["etag"], answer.body) == (etag, b"")


def test_cli_warns_about_a_version_with_no_objects_and_refuses_a_malformed_edge_config(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"parameter_name": "/p"')
    runner = CliRunner()
    bad = runner.invoke(serve, ["--bucket", "b", "--edge-config", str(config), "--port", "0"])
    assert bad.exit_code == 2
    assert f"--edge-config {config} is not usable: " in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    config.write_text('{"parameter_name": "/p", "region": "us-east-1"}')
    missing = runner.invoke(serve, ["--bucket", "b", "--edge-config", str(config), "--port", "0"])
    assert missing.exit_code == 2 and "missing the key 'cache_ttl_seconds'" in missing.output


def test_serving_a_version_with_no_objects_warns(
    example: ExampleSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from scripts.commands import serve as serve_module

    config = {"parameter_name": PARAMETER, "region": "us-east-1", "cache_ttl_seconds": 5}
    started: list[str] = []

    class NoServer:
        url = "http://127.0.0.1:0"

        def serve_forever(self) -> None:
            started.append("served")

        def server_close(self) -> None:
            pass

    monkeypatch.setattr(serve_module, "start_preview_server", lambda *args, **kwargs: NoServer())
    deps = SiteDeps(s3_factory=lambda: example.s3)
    with_env = {"EDGE_LAMBDA_CONFIG": None}
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    args = ["--bucket", example.bucket, "--edge-config", str(path), "--port", "0"]
    result = CliRunner().invoke(serve, [*args, "--version", "20200101T000000Z"], obj=deps, env=with_env)
    assert result.exit_code == 0, result.output
    assert f"warning: version 20200101T000000Z has no objects in s3://{example.bucket}" in result.output
    result = CliRunner().invoke(serve, [*args, "--version", example.version_one], obj=deps, env=with_env)
    assert "warning" not in result.output and started == ["served", "served"]
