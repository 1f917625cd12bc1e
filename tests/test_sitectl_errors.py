"""sitectl's last line of defence: an exception no command turned into an error is still one line on
stderr and exit 1 (SITECTL_DEBUG=1 shows the traceback); and causes found that way, fixed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from scripts.commands.site import SiteDeps
from scripts.sitectl import cli
from tests.sitectl_scaffold import BUCKET, PARAMETER, V1, World, world

__all__ = ["world"]


def _broken_s3() -> SiteDeps:
    def broken() -> Any:
        raise RuntimeError("the client broke\n  on two lines")

    return SiteDeps(s3_factory=broken)


def test_an_unexpected_exception_is_one_line_on_stderr_and_exit_1() -> None:
    result = CliRunner().invoke(cli, ["versions", "--bucket", BUCKET], obj=_broken_s3())
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unexpected RuntimeError: the client broke on two lines (a bug in sitectl: SITECTL_DEBUG=1 "
        "shows the traceback; please report it)\n"
    )
    assert result.stdout == ""


def test_with_json_an_unexpected_exception_is_the_error_document_too() -> None:
    result = CliRunner().invoke(cli, ["versions", "--bucket", BUCKET, "--json"], obj=_broken_s3())
    message = (
        "unexpected RuntimeError: the client broke on two lines (a bug in sitectl: SITECTL_DEBUG=1 shows "
        "the traceback; please report it)"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": {"message": message, "exit_code": 1}}
    assert result.stderr == f"Error: {message}\n"


@pytest.mark.parametrize(("value", "shows_traceback"), [("1", True), ("0", False), ("", False)])
def test_sitectl_debug_lets_the_traceback_through(value: str, shows_traceback: bool) -> None:
    result = CliRunner().invoke(
        cli, ["versions", "--bucket", BUCKET], obj=_broken_s3(), env={"SITECTL_DEBUG": value}
    )
    assert isinstance(result.exception, RuntimeError) is shows_traceback
    assert result.exit_code == 1


def test_refusals_and_click_errors_are_left_as_they_were() -> None:
    usage = CliRunner().invoke(cli, ["versions", "--no-such-option"], obj=_broken_s3())
    assert usage.exit_code == 2 and usage.stderr.endswith("Error: No such option '--no-such-option'.\n")
    refused = CliRunner().invoke(
        cli, ["verify", "--version", "v1", "--url", "https://x.org"], obj=_broken_s3()
    )
    assert refused.exit_code == 2
    assert refused.stderr.startswith("Error: --version 'v1' is not a valid version id: expected ")


@pytest.mark.parametrize("endpoint", ["notaurl", "http://["])
def test_an_endpoint_botocore_cannot_use_is_refused_in_one_line(endpoint: str) -> None:
    result = CliRunner().invoke(
        cli, ["versions", "--bucket", BUCKET], obj=SiteDeps(), env={"AWS_ENDPOINT_URL": endpoint}
    )
    assert result.exit_code == 2
    reason = "Invalid endpoint: notaurl" if endpoint == "notaurl" else "Invalid IPv6 URL"
    assert result.stderr == (
        f"Error: cannot make the AWS s3 client: {reason}: check AWS_ENDPOINT_URL (or endpoint_url in your "
        "AWS config), e.g. http://127.0.0.1:5000\n"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1", "is not a URL (Invalid IPv6 URL)"),
        ("http://host:99999/", "is not a URL (Port out of range 0-65535)"),
        ("file:///etc/passwd", "is not an http(s) URL"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "status"])
def test_a_malformed_url_is_refused_in_one_line(world: World, command: str, url: str, why: str) -> None:
    args = [command, "--url", url, "--bucket", BUCKET, "--parameter", PARAMETER]
    result = world.invoke(*args, *(["--version", V1] if command == "verify" else []))
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: --url {url!r} {why}, e.g. https://d111111abcdef8.cloudfront.net\n"
