"""One convention on every `sitectl` command (scripts/commands/options.py): the site options, `--version`
(with the older spellings hidden), `--json` as one document on stdout, exit codes 0/1/2, `--version` of
the tool itself; and what goes with them: a pointer that does not exist is an error where a live version
is expected, "did you mean" for a mistyped version."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from scripts.commands.options import did_you_mean
from scripts.commands.serve import PREVIEW_PARAMETER, configure_request_log, resolve_settings
from scripts.commands.site import Site
from scripts.demo.walkthrough import port_in_use
from scripts.sitectl import cli
from tests.sitectl_scaffold import BUCKET, PARAMETER, URL, V1, V2, World, put_version, sample_build, world

__all__ = ["world"]

PAGE = {"index.html": b"<html>page</html>"}
SITE_OPTIONS = {"--stack", "--bucket", "--parameter", "--url", "--project-dir"}
# Commands that act on one site (policy-check evaluates the program offline, with its own options; e2e
# creates its own throwaway sites and refuses to touch any other).
COMMANDS = cli.all_commands(click.Context(cli, info_name="sitectl"))
SITE_COMMANDS = sorted(set(COMMANDS) - {"policy-check", "e2e"})
VERSION_COMMANDS = ["upload", "promote", "release", "rollback", "verify", "serve", "share-assets", "versions"]
JSON_COMMANDS = [
    "upload",
    "promote",
    "release",
    "rollback",
    "verify",
    "versions",
    "history",
    "prune",
    "status",
    "share-assets",
    "e2e",
]


def _options(name: str, hidden: bool = False) -> set[str]:
    command = COMMANDS[name]
    return {
        flag
        for param in command.params
        if isinstance(param, click.Option) and (hidden or not param.hidden)
        for flag in param.opts
    }


def test_sitectl_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"sitectl {package_version('versioned-site')}\n"


@pytest.mark.parametrize("name", SITE_COMMANDS)
def test_every_command_names_the_site_the_same_way(name: str) -> None:
    assert _options(name) >= SITE_OPTIONS


@pytest.mark.parametrize("name", VERSION_COMMANDS)
def test_every_command_names_a_version_with_the_version_option(name: str) -> None:
    assert "--version" in _options(name)
    assert "--to" not in _options(name)  # old spellings are hidden
    help_text = CliRunner().invoke(cli, [name, "--help"]).output
    usage = help_text.splitlines()[0]
    assert "VERSION" not in usage, usage
    assert "[VERSION]" not in help_text  # `versions --verify V`, an older spelling, is not shown either


@pytest.mark.parametrize("name", JSON_COMMANDS)
def test_every_command_ci_reads_has_json(name: str) -> None:
    assert "--json" in _options(name)


def test_older_spellings_still_work(world: World) -> None:
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    world.set_live(V1)
    for args in (["release", V2], ["release", "--version", V2], ["rollback", "--to", V1]):
        result = world.invoke("--stack", "test", *args, "--config-only")
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{args[-1]}\n"
    assert "--to" in _options("rollback", hidden=True)


def test_two_different_versions_are_refused_before_anything(world: World) -> None:
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    result = world.invoke("--stack", "test", "release", V1, "--version", V2, "--yes")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: two versions given (--version {V2}, VERSION {V1}): pass one, with --version\n"
    )
    assert world.stack.mutations == []


def test_a_release_without_a_version_says_how_to_name_one(world: World) -> None:
    result = world.invoke("--stack", "test", "release", "--yes")
    assert result.exit_code == 2
    assert result.output == "Error: which version? pass --version VERSION (`sitectl versions` lists them)\n"


def test_upload_json_is_one_document_on_stdout(world: World, tmp_path: Path) -> None:
    build = sample_build(tmp_path / "dist")
    result = world.invoke("upload", str(build), "--bucket", BUCKET, "--version", V1, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == {
        "version": V1,
        "bucket": BUCKET,
        "files": 7,
        "bytes": document["bytes"],
        "sent_files": 7,
        "sent_bytes": document["sent_bytes"],
        "copied_files": 0,
        "already_stored_files": 0,
        "removed_objects": 0,
        "redirect_rules": 0,
        "header_rules": 0,
        "excluded": [],
        "took_over": None,
        "shared_assets": {"published": 2, "already": 0, "skipped": 0},
    }
    assert document["bytes"] == sum(f.stat().st_size for f in build.rglob("*") if f.is_file())
    assert document["sent_bytes"] > document["bytes"]  # the manifest too
    assert result.stderr.startswith(f"uploading 7 files (0.0 MB) as {V1} to s3://{BUCKET}\n")


def test_release_json_says_from_and_to(world: World) -> None:
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    world.set_live(V1)
    world.stack.version = V1
    result = world.invoke("--stack", "test", "release", "--version", V2, "--yes", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert isinstance(document.pop("seconds"), float)
    assert document == {
        "action": "release",
        "stack": "test",
        "version": V2,
        "from": V1,
        "previous_config": V1,
        "result": "succeeded",
        "dry_run": False,
        "config_only": False,
        "invalidation": "I001SWITCH",  # the id the switch recorded in its state during this `up`
        "verification": None,
    }
    # Pulumi's own lines are for people.
    assert result.stderr == f"Updating (test): version {V2}\nreleased {V2} (was {V1})\n"


def test_rollback_json_names_the_version_it_went_back_to(world: World) -> None:
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    world.stack.record(V1)
    world.stack.record(V2)
    world.set_live(V2)
    world.stack.version = V2
    result = world.invoke("--stack", "test", "rollback", "--yes", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["action"], document["from"], document["version"]) == ("rollback", V2, V1)
    assert world.stack.switch is not None and world.stack.switch["version"] == V1
    assert document["invalidation"] == "I003SWITCH"


def release_json(world: World, *args: str) -> dict[str, object]:
    result = world.invoke("--stack", "test", "release", "--yes", "--json", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_release_json_reports_only_an_invalidation_this_release_created(world: World) -> None:
    """The switch invalidates only when its version changes: a release of the version it last switched
    to reports none (not the earlier release's id); so do a dry run, a config-only release and the
    cloudfront-function router, which has no switch."""
    put_version(world, V1, PAGE)
    put_version(world, V2, PAGE)
    assert release_json(world, "--version", V1)["invalidation"] == "I001SWITCH"
    assert release_json(world, "--version", V1)["invalidation"] is None
    assert release_json(world, "--version", V2, "--dry-run")["invalidation"] is None
    assert release_json(world, "--version", V2, "--config-only")["invalidation"] is None
    assert world.stack.switch is not None and world.stack.switch["version"] == V1
    world.stack.switch = None
    assert release_json(world, "--version", V2)["invalidation"] is None


def test_release_json_keeps_the_release_when_the_state_cannot_be_read_after_it(world: World) -> None:
    put_version(world, V1, PAGE)
    reads: list[str] = []

    def outputs(urns: list[str]) -> dict[str, Any]:
        reads.append("read")
        if len(reads) == 2:
            raise RuntimeError("error: could not export the stack")
        return {}

    world.stack.resource_outputs = outputs  # type: ignore[method-assign]
    result = world.invoke("--stack", "test", "release", "--version", V1, "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["invalidation"] is None
    assert world.live() == V1
    assert (
        "could not read the state of stack 'test': error: could not export the stack: "
        "the invalidation id is not reported"
    ) in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["release", "--version", "20261101T100000", "--yes"],
            2,
            "version '20261101T100000' is not a valid version id",
        ),
        (["release", "--version", "20261109T100000Z", "--yes"], 2, "version 20261109T100000Z does not exist"),
    ],
)
def test_a_json_error_is_a_document_too(world: World, args: list[str], code: int, message: str) -> None:
    result = world.invoke("--stack", "test", *args, "--json")
    assert result.exit_code == code
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == code
    assert message in error["message"]
    assert result.stderr == f"Error: {error['message']}\n"


def test_a_usage_error_with_json_is_a_document_too(world: World) -> None:
    result = world.invoke("--stack", "test", "prune", "--keep", "-1", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error == {
        "message": "Invalid value for '--keep': -1 is not in the range x>=0.",
        "exit_code": 2,
    }
    assert "Usage: " in result.stderr
    plain = world.invoke("--stack", "test", "prune", "--keep", "-1")
    assert plain.exit_code == 2 and plain.stdout == ""


def test_a_mistyped_version_gets_a_did_you_mean(world: World) -> None:
    put_version(world, V1, PAGE)
    mistyped = V1.replace("1101", "1110")
    result = world.invoke("--stack", "test", "release", "--version", mistyped, "--yes")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: version {mistyped} does not exist in {BUCKET}: only complete versions can be released; "
        f"did you mean {V1}?\n"
    )


def test_a_mistyped_version_gets_a_did_you_mean_from_promote_and_share_assets(world: World) -> None:
    put_version(world, V1, PAGE)
    mistyped = V1.replace("1101", "1110")
    world.s3.create_bucket(Bucket="site-bucket-prod")
    promoted = world.invoke(
        "promote", "--version", mistyped, "--from-bucket", BUCKET, "--bucket", "site-bucket-prod"
    )
    assert promoted.exit_code == 2
    assert promoted.output == (
        f"Error: version {mistyped} does not exist in {BUCKET}: only a complete version can be promoted; "
        f"did you mean {V1}?\n"
    )
    shared = world.invoke("share-assets", "--bucket", BUCKET, "--version", mistyped)
    assert shared.exit_code == 2
    assert shared.output == (
        f"Error: not complete in {BUCKET}: {mistyped}; `sitectl versions` lists the complete ones; "
        f"did you mean {V1}?\n"
    )


def test_did_you_mean_only_for_a_close_version() -> None:
    assert did_you_mean("20261101T100000Z-1a2b3c5", ["20261101T100000Z-1a2b3c4", V2]) == (
        "; did you mean 20261101T100000Z-1a2b3c4?"
    )
    assert did_you_mean("20250101T000000Z", [V1, V2]) == ""
    assert did_you_mean(V1, []) == ""


def test_status_check_fails_for_a_pointer_that_does_not_exist(world: World) -> None:
    world.pages[f"{URL}/index.html"] = b"<html>page</html>"
    result = world.invoke(
        "status", "--bucket", BUCKET, "--parameter", "/versioned-site/tset/live-version", "--url", URL
    )
    assert (
        "the pointer parameter /versioned-site/tset/live-version does not exist in us-east-1" in result.output
    )
    assert "consistent" not in result.output.splitlines()
    checked = world.invoke(
        "status",
        "--check",
        "--bucket",
        BUCKET,
        "--parameter",
        "/versioned-site/tset/live-version",
        "--url",
        URL,
    )
    assert checked.exit_code == 1, checked.output
    assert checked.output.splitlines()[-1] == (
        "Error: inconsistent: the pointer parameter /versioned-site/tset/live-version does not exist in "
        "us-east-1: check --parameter / SITE_PARAMETER, or the stack (its parameterName output)"
    )


def test_versions_refuses_a_pointer_that_does_not_exist(world: World) -> None:
    put_version(world, V1, PAGE)
    result = world.invoke("versions", "--bucket", BUCKET, "--parameter", "/versioned-site/tset/live-version")
    assert result.exit_code == 2
    assert result.output == (
        "Error: the pointer parameter /versioned-site/tset/live-version does not exist in us-east-1: check "
        "--parameter / SITE_PARAMETER, or the stack (its parameterName output)\n"
    )
    verify = world.invoke("verify", "--bucket", BUCKET, "--parameter", "/versioned-site/tset/live-version")
    assert verify.exit_code == 2
    assert verify.output == result.output
    assert world.invoke("versions", "--bucket", BUCKET, "--parameter", PARAMETER).exit_code == 0
    assert world.invoke("versions", "--bucket", BUCKET).exit_code == 0  # no pointer named: no live marker


def test_history_refuses_a_pointer_that_does_not_exist(world: World) -> None:
    put_version(world, V1, PAGE)
    world.set_live(V1)
    for extra in ([], ["--json"]):
        result = world.invoke(
            "history", "--bucket", BUCKET, "--parameter", "/versioned-site/tset/live-version", *extra
        )
        assert result.exit_code == 2  # not "no releases yet"
        assert result.stderr == (
            "Error: the pointer parameter /versioned-site/tset/live-version does not exist in us-east-1: "
            "check --parameter / SITE_PARAMETER, or the stack (its parameterName output)\n"
        )
    assert world.invoke("history", "--bucket", BUCKET, "--parameter", PARAMETER).exit_code == 0


def test_serve_a_version_needs_no_pointer() -> None:
    settings = resolve_settings(Site(bucket_option=BUCKET), None, None, None, version=V1)
    assert settings.parameter_name == PREVIEW_PARAMETER
    result = CliRunner().invoke(
        cli, ["serve", "--bucket", BUCKET, "--port", "0"], env={"EDGE_LAMBDA_CONFIG": None}
    )
    assert result.exit_code == 2  # following the pointer still needs one
    assert "no pointer parameter" in result.output


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("botocore", "boto3", "urllib3")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def test_serve_logs_requests_but_not_botos_credentials_line(restored_logging: None) -> None:
    logging.getLogger().handlers.clear()
    configure_request_log()
    assert logging.getLogger("scripts.commands.serve").isEnabledFor(logging.INFO)
    # "Found credentials in environment variables." is botocore.credentials at INFO.
    assert not logging.getLogger("botocore.credentials").isEnabledFor(logging.INFO)
    assert logging.getLogger("botocore.credentials").isEnabledFor(logging.WARNING)


def test_the_demos_port_probe_ignores_sockets_left_in_time_wait() -> None:
    with socket.socket() as listener:
        # As the preview server binds (HTTPServer.allow_reuse_address): its connections inherit it.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port) is not None  # listening: in use
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its socket stays in TIME_WAIT
        client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the probe did before: refused by the TIME_WAIT socket
    assert port_in_use(port) is None
