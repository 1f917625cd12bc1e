"""The conventions every `sitectl` command follows, in one place (README, "sitectl: naming, output,
exit codes"). A new command reuses these decorators instead of declaring its own spellings.

- The site: `--stack` (its outputs name the bucket, the pointer parameter and the URL), or `--bucket`,
  `--parameter` and `--url` without a stack; every command takes all of them (`site.site_options`).
- One version: `--version V` (`version_option`). Older spellings (`release V`, `promote V`,
  `rollback --to V`) are still accepted, and hidden from `--help`.
- `--json` (`json_output`): stdout carries exactly one JSON document, the result, or
  `{"error": {"message": ..., "exit_code": ...}}`; everything meant for people goes to stderr.
- Exit codes (`errors.py`): 0 done; 1 the operation failed (AWS, Pulumi, the site answered wrong);
  2 refused before anything changed (bad input or usage, a missing tool: the message says the fix).
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from gettext import gettext
from typing import Any, TypeVar

import click

from edge_lambda import layout
from scripts.commands.errors import OneLineErrors, RefusedError, SitectlError, unexpected
from scripts.versionstore.store import did_you_mean as did_you_mean  # the commands' (promote's too)

F = TypeVar("F", bound=Callable[..., Any])

JSON_HELP = "Print one JSON document on stdout (the result, or the error); messages go to stderr."


class HiddenArgument(click.Argument):
    """A positional argument kept for an older spelling: accepted, but not shown in the usage line."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def check_version_id(version: str, flag: str = "--version") -> str:
    """Refuse (exit 2) a string that cannot be a version id, before anything is asked of AWS."""
    try:
        return layout.validate_version(version, flag)
    except layout.InvalidVersionError as error:
        raise RefusedError(str(error)) from error


def version_option(
    help_text: str,
    *,
    required: bool = False,
    positional_alias: bool = False,
    old_flags: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """`--version V`, passed on as `version: str | None` (checked to be a version id).

    `positional_alias` also accepts the version as a positional argument, and `old_flags` (e.g.
    `--to`) as other option names: older spellings, hidden from --help; two different values are
    refused.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given: dict[str, str] = {}
            value = kwargs.pop("version")
            if value is not None:
                given["--version"] = value
            if positional_alias:
                value = kwargs.pop("version_argument")
                if value is not None:
                    given["VERSION"] = value
            for flag in old_flags:
                value = kwargs.pop(_dest(flag))
                if value is not None:
                    given[flag] = value
            if len(set(given.values())) > 1:
                spelled = ", ".join(f"{flag} {value}" for flag, value in given.items())
                raise RefusedError(f"two versions given ({spelled}): pass one, with --version")
            if required and not given:
                raise RefusedError("which version? pass --version VERSION (`sitectl versions` lists them)")
            flag, version = next(iter(given.items()), ("--version", None))
            if version is not None:
                check_version_id(version, flag if flag != "VERSION" else "version")
            return function(*args, version=version, **kwargs)

        decorated: Callable[..., Any] = click.option("--version", "version", default=None, help=help_text)(
            wrapper
        )
        for flag in old_flags:
            decorated = click.option(flag, _dest(flag), default=None, hidden=True)(decorated)
        if positional_alias:
            decorated = click.argument("version_argument", required=False, cls=HiddenArgument)(decorated)
        return decorated  # type: ignore[return-value]

    return decorate


def _dest(flag: str) -> str:
    return "old_" + flag.lstrip("-").replace("-", "_")


@dataclass
class Output:
    """Where a command's words go: the result on stdout (JSON with --json), the rest on stderr."""

    json: bool = False
    emitted: bool = False  # the result is on stdout: an error after it adds no second JSON document

    def say(self, line: str) -> None:
        """A message for people (progress, notes, warnings): stderr, whatever the format."""
        click.echo(line, err=True)

    def result(self, document: Mapping[str, Any] | list[Any], lines: Iterable[str] = ()) -> None:
        """The command's result: `document` as JSON with --json, else `lines` on stdout."""
        self.emitted = True
        if self.json:
            click.echo(json.dumps(document, indent=2, default=str))
        else:
            for line in lines:
                click.echo(line)


def json_output(function: F) -> F:
    """`--json`, passed on as `output: Output`; the first decorator under `@click.command`, so that it
    sees every refusal of the other decorators too. With --json, an error also prints a JSON document on
    stdout, `{"error": {"message", "exit_code"}}`, before the usual one line on stderr and its code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = Output(json=kwargs.pop("as_json"))
        try:
            return function(*args, output=output, **kwargs)
        except Exception as error:
            failure = error if isinstance(error, SitectlError) else unexpected(error)
            if failure is None:
                raise
            if output.json and not output.emitted:
                click.echo(json_error(failure))
            if failure is error:
                raise
            raise failure from error

    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(wrapper)  # type: ignore[return-value]


def json_error(error: click.ClickException) -> str:
    return json.dumps({"error": {"message": error.format_message(), "exit_code": error.exit_code}})


@dataclass(frozen=True)
class LazyCommand:
    """A command of the group, imported only when it runs: `target` is `module:attribute`, `summary`
    the first sentence of its help, which `sitectl --help` lists without importing it (a test holds the
    two equal: tests/test_sitectl_startup.py)."""

    target: str
    summary: str


class SitectlGroup(OneLineErrors):
    """The group: a command's own usage error (an unknown option, a value out of range) is also one
    JSON document on stdout when the command line asks for --json, as every other error is.

    Its commands (`lazy_commands`) are imported when one runs, that one alone: importing every
    command's module (the canary's, the release's, the server's, the release guard ...) cost an upload
    about 50 ms of CPU before its first request, a tenth of it (docs/upload-cost.md, "What an upload
    costs")."""

    # Set by the console script (`scripts.sitectl.main`), which froze what the group's imports allocated:
    # what the command's import allocates is frozen too.
    freeze_imports = False

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is not None and cmd_name not in self.commands:
            module, _, attribute = lazy.target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{lazy.target} is not a click command")
            self.add_command(command, cmd_name)
            if self.freeze_imports:
                gc.freeze()
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.NoSuchCommand as error:
            # click suggests close names from the commands imported so far (`self.commands`): none, here.
            raise click.NoSuchCommand(
                error.command_name, possibilities=self.list_commands(ctx), ctx=error.ctx
            ) from None

    def all_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        """Every command, imported."""
        found = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        return {name: command for name, command in found.items() if command is not None}

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing (`click.Group.format_commands`), with a command not yet imported shown by
        # the summary in the table: the same line its help gives.
        commands = [
            (name, self.commands.get(name) or click.Command(name, help=self.lazy_commands[name].summary))
            for name in self.list_commands(ctx)
        ]
        commands = [(name, command) for name, command in commands if not command.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section(gettext("Commands")):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])

    def invoke(self, ctx: click.Context) -> Any:
        rest = [*ctx._protected_args, *ctx.args]  # the command and its arguments, before click clears them
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if "--json" in rest:
                click.echo(json_error(error))
            raise
