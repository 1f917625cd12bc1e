"""`sitectl serve` emulating a canary on the cloudfront-function router: each viewer gets the version its
bucket says (the rule table's split rows, through the whole server), keeps it across requests, gets the
`site-bucket` cookie as the viewer-response function sets it, and `site-bucket=canary` asks for the
canary; the stack's canary record is followed on every request; the command's refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edge_function.viewer_bucket import SPLIT_COOKIE, SPLIT_COOKIE_ATTRIBUTES, hash_bucket
from edge_lambda import layout
from edge_lambda.routes import RouteSettings
from scripts.commands import serve as serve_module
from scripts.commands.serve import PreviewServer, canary_for, preview_server_running, serve
from scripts.commands.site import SiteDeps
from scripts.demo.node_function import NodeFunction, node_binary
from tests.router_scaffold import CLOUDFRONT_FUNCTION, case_id, table_cases
from tests.serve_scaffold import VERSION_ONE, VERSION_TWO, ExampleSite, RawResponse, example_site, request

# Two viewers on 127.0.0.1 that send no cookie: their buckets are the hash of address and User-Agent.
CANARY_AGENT = "viewer-a"  # bucket 25: in a 50% canary
STABLE_AGENT = "curl/8.5.0"  # bucket 62: not
TABLE_AGENT = "viewer-w"  # bucket 47, as the table's documented viewer: its rows apply as written
VERSION = "x-amz-meta-site-version"


@pytest.fixture(scope="module")
def example() -> Iterator[ExampleSite]:
    """The example site, once for the module (moto's backend is the process's): most tests name their own
    pointer and canary; the one that follows the stack's leaves no canary record behind."""
    with example_site() as site:
        yield site


@pytest.fixture(scope="module")
def node_functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFunction]:
    """`router.js` and `viewer_response.js` under Node, as `make demo` runs them."""
    node = node_binary()
    if node is None:
        pytest.skip("`node` is not installed")
    functions = NodeFunction(node, tmp_path_factory.mktemp("canary-functions"), RouteSettings())
    yield functions
    functions.close()


@contextmanager
def serving(
    example: ExampleSite,
    live: str | None,
    canary: tuple[str, float] | None,
    functions: NodeFunction | None = None,
) -> Iterator[PreviewServer]:
    """The function router over the example bucket, the pointer holding `live` and `canary` running;
    the functions' Python rules, or the deployed code under Node (`functions`)."""
    through_node: dict[str, Any] = (
        {}
        if functions is None
        else {"viewer_function": functions, "viewer_response_function": functions.viewer_response}
    )
    with preview_server_running(
        example.bucket,
        example.settings,
        s3_client=example.s3,
        router="cloudfront-function",
        live_version=lambda: live,
        canary=lambda: canary,  # type: ignore[arg-type,return-value]
        **through_node,
    ) as server:
        yield server


def functions_of(kind: str, request: pytest.FixtureRequest) -> NodeFunction | None:
    return None if kind == "python rules" else request.getfixturevalue("node_functions")


KINDS = pytest.mark.parametrize("kind", ["python rules", "router.js under node"])


def get(server: PreviewServer, path: str = "/", *, agent: str, cookie: str | None = None) -> RawResponse:
    headers = {"User-Agent": agent}
    if cookie is not None:
        headers["Cookie"] = cookie
    return request(server, path, headers=headers)


def test_the_viewers_buckets_literally() -> None:
    agents = (CANARY_AGENT, STABLE_AGENT, TABLE_AGENT)
    assert [hash_bucket("127.0.0.1", agent) for agent in agents] == [25, 62, 47]


# The table's split rows that the example bucket can serve: the page `/` of the table's live version
# (the example's version one) and canary (its version two), with a cookie (the rows without one name
# the documented viewer's address, which no request here can have; TABLE_AGENT has its bucket).
SPLIT_ROWS = [
    (case, expect)
    for case, expect in table_cases(CLOUDFRONT_FUNCTION)
    if case.uri == "/" and case.cookie is not None and case.files is None
]


def test_the_split_rows_are_the_example_sites_versions() -> None:
    assert len(SPLIT_ROWS) == 16
    assert {case.version for case, _ in SPLIT_ROWS} == {VERSION_ONE, "none"}
    assert {case.canary for case, _ in SPLIT_ROWS} == {VERSION_TWO, "latest", None}


@pytest.mark.parametrize(("case", "expect"), SPLIT_ROWS, ids=[case_id(case) for case, _ in SPLIT_ROWS])
def test_each_split_row_through_the_server(example: ExampleSite, case: Any, expect: dict[str, Any]) -> None:
    canary = None if case.canary is None else (case.canary, case.canary_percent)
    with serving(example, case.version, canary) as server:
        answer = get(server, agent=TABLE_AGENT, cookie=f"{SPLIT_COOKIE}={case.cookie}")
    if "uri" not in expect:
        assert (answer.status, "set-cookie" in answer.headers) == (expect["status"], False)
        assert expect["reason"] in answer.text
        return
    assert answer.status == 200
    assert answer.headers[VERSION] == expect["uri"].split("/")[1]
    # The viewer-response function: a cookie only while a (valid) canary runs, and only to replace a
    # value that is no bucket; the rows' malformed cookies are replaced with this viewer's hash.
    replaced = case.canary == VERSION_TWO and case.cookie not in {"canary", *map(str, range(100))}
    expected_cookie = f"{SPLIT_COOKIE}=47; {SPLIT_COOKIE_ATTRIBUTES}" if replaced else None
    assert answer.headers.get("set-cookie") == expected_cookie


@KINDS
def test_a_new_viewer_keeps_its_version_before_and_after_its_cookie(
    example: ExampleSite, kind: str, request: pytest.FixtureRequest
) -> None:
    with serving(example, VERSION_ONE, (VERSION_TWO, 50), functions_of(kind, request)) as server:
        for agent, bucket, version in ((CANARY_AGENT, 25, VERSION_TWO), (STABLE_AGENT, 62, VERSION_ONE)):
            first = get(server, agent=agent)
            assert first.headers["set-cookie"] == f"{SPLIT_COOKIE}={bucket}; {SPLIT_COOKIE_ATTRIBUTES}"
            cookie = first.headers["set-cookie"].split(";")[0]
            served = [first.headers[VERSION]]
            for path in ("/", "/about/", "/assets/app.fa10386f.js"):
                again = get(server, path, agent=agent, cookie=cookie)
                assert again.status == 200 and "set-cookie" not in again.headers, path
                if path != "/assets/app.fa10386f.js":  # a shared file: its first publisher's marker
                    served.append(again.headers[VERSION])
            assert served == [version] * 3, agent
        # The cookie decides, not the agent: the stable viewer's browser with a canary bucket.
        assert get(server, agent=STABLE_AGENT, cookie=f"{SPLIT_COOKIE}=49").headers[VERSION] == VERSION_TWO


@KINDS
def test_canary_as_the_cookie_asks_for_the_canary_while_one_runs(
    example: ExampleSite, kind: str, request: pytest.FixtureRequest
) -> None:
    asked = f"other=1; {SPLIT_COOKIE}=canary"
    functions = functions_of(kind, request)
    with serving(example, VERSION_ONE, (VERSION_TWO, 1), functions) as server:
        answer = get(server, agent=STABLE_AGENT, cookie=asked)
        assert (answer.headers[VERSION], "set-cookie" in answer.headers) == (VERSION_TWO, False)
        assert get(server, agent=STABLE_AGENT).headers[VERSION] == VERSION_ONE
    with serving(example, VERSION_ONE, None, functions) as server:
        answer = get(server, agent=STABLE_AGENT, cookie=asked)
        assert (answer.headers[VERSION], "set-cookie" in answer.headers) == (VERSION_ONE, False)


def test_no_cookie_on_answers_the_viewer_response_function_never_sees(example: ExampleSite) -> None:
    with serving(example, VERSION_ONE, (VERSION_TWO, 50)) as server:
        missing = get(server, "/no-such-page.png", agent=STABLE_AGENT)
        redirect = get(server, "/about", agent=STABLE_AGENT)  # generated by the viewer-request function
        refused = get(server, "/a/../b", agent=STABLE_AGENT)
        chunk = get(server, "/assets/lazy.2f781bed.js", agent=STABLE_AGENT)
    assert [(a.status, "set-cookie" in a.headers) for a in (missing, redirect, refused)] == [
        (404, False),
        (308, False),
        (400, False),
    ]
    assert (chunk.status, chunk.headers["set-cookie"].startswith(f"{SPLIT_COOKIE}=62;")) == (200, True)


def test_serving_a_stack_follows_its_canary_record(example: ExampleSite) -> None:
    """The record beside the pointer, read on every request as the function reads its store: a
    canary's start, its completion (the pointer takes it, the record says none) and an abort."""
    example.release(VERSION_ONE)
    ssm = example.site.ssm
    record = layout.canary_parameter_name(example.settings.parameter_name)
    with preview_server_running(
        example.bucket, example.settings, s3_client=example.s3, router="cloudfront-function"
    ) as server:

        def versions() -> tuple[str, str, bool]:
            canary, stable = get(server, agent=CANARY_AGENT), get(server, agent=STABLE_AGENT)
            return canary.headers[VERSION], stable.headers[VERSION], "set-cookie" in canary.headers

        assert versions() == (VERSION_ONE, VERSION_ONE, False)  # no record: no canary
        ssm.put_parameter(Name=record, Value=layout.canary_record(VERSION_TWO, 50), Type="String")
        assert versions() == (VERSION_TWO, VERSION_ONE, True)
        ssm.put_parameter(Name=record, Value=layout.canary_record(None, 0), Type="String", Overwrite=True)
        assert versions() == (VERSION_ONE, VERSION_ONE, False)  # aborted
        ssm.put_parameter(
            Name=record, Value=layout.canary_record(VERSION_TWO, 50), Type="String", Overwrite=True
        )
        example.release(VERSION_TWO)
        ssm.put_parameter(Name=record, Value=layout.canary_record(None, 0), Type="String", Overwrite=True)
        assert versions() == (VERSION_TWO, VERSION_TWO, False)  # completed
    ssm.delete_parameter(Name=record)


def test_a_fixed_canary_or_a_preview_reads_no_record(example: ExampleSite) -> None:
    record = layout.canary_parameter_name(example.settings.parameter_name)
    ssm = example.site.ssm
    ssm.put_parameter(Name=record, Value=layout.canary_record(VERSION_ONE, 50), Type="String", Overwrite=True)
    try:
        assert canary_for((VERSION_TWO, 5), example.settings, follow=True)() == (VERSION_TWO, 5)
        assert canary_for(None, example.settings, follow=False)() is None
        assert canary_for(None, example.settings, follow=True)() == (VERSION_ONE, 50)
    finally:
        ssm.delete_parameter(Name=record)


def _invoke(example: ExampleSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    started: list[dict[str, Any]] = []

    class NoServer:
        url = "http://127.0.0.1:0"

        def serve_forever(self) -> None:
            pass

        def server_close(self) -> None:
            pass

    def start(*_args: Any, **kwargs: Any) -> NoServer:
        started.append(kwargs)
        return NoServer()

    monkeypatch.setattr(serve_module, "start_preview_server", start)
    config = tmp_path / "config.json"
    settings = {
        "parameter_name": example.settings.parameter_name,
        "region": "us-east-1",
        "cache_ttl_seconds": 5,
    }
    config.write_text(json.dumps(settings))
    base = ["--bucket", example.bucket, "--edge-config", str(config), "--port", "0"]
    result = CliRunner().invoke(
        serve, [*base, *args], obj=SiteDeps(s3_factory=lambda: example.s3), env={"EDGE_LAMBDA_CONFIG": None}
    )
    return result, started


def test_the_command_serves_a_given_canary(
    example: ExampleSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("--router", "cloudfront-function", "--canary", VERSION_TWO, "--percent", "5")
    result, started = _invoke(example, tmp_path, monkeypatch, *args)
    assert result.exit_code == 0, result.output
    assert f"canary {VERSION_TWO} for 5% of viewers" in result.output
    assert started[0]["canary"]() == (VERSION_TWO, 5)
    absent = "20200101T000000Z"
    result, _ = _invoke(
        example,
        tmp_path,
        monkeypatch,
        "--router",
        "cloudfront-function",
        "--canary",
        absent,
        "--percent",
        "5",
    )
    assert f"warning: canary {absent} has no objects in s3://{example.bucket}" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--router", "cloudfront-function", "--canary", VERSION_TWO], "--canary and --percent go together"),
        (["--router", "cloudfront-function", "--percent", "5"], "--canary and --percent go together"),
        (
            ["--router", "cloudfront-function", "--canary", "latest", "--percent", "5"],
            "--canary 'latest' is not a valid version id",
        ),
        (
            ["--router", "lambda-edge", "--canary", VERSION_TWO, "--percent", "5"],
            "--canary needs the cloudfront-function router",
        ),
        (
            ["--router", "cloudfront-function", "--canary", VERSION_TWO, "--percent", "100"],
            "100 is not in the range 1<=x<=99",
        ),
    ],
)
def test_the_command_refuses_a_canary_it_cannot_serve(
    example: ExampleSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    result, started = _invoke(example, tmp_path, monkeypatch, *args)
    assert (result.exit_code, started) == (2, [])
    assert message in result.output
