"""What `sitectl` does before its first request, cut without changing what it does: a command's module
is imported only when that command runs (`SitectlGroup` in scripts/commands/options.py), `--help` lists
every command from the group's table (scripts/sitectl.py), which must say what each command's own help
says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from scripts.commands.options import SitectlGroup
from scripts.sitectl import COMMANDS, cli

COMMAND_MODULES = sorted({lazy.target.partition(":")[0] for lazy in COMMANDS.values()})


def _loaded() -> dict[str, click.Command]:
    return cli.all_commands(click.Context(cli, info_name="sitectl"))


def _listing(group: click.Group, format_commands: object, width: int) -> str:
    formatter = click.HelpFormatter(width=width)
    format_commands(group, click.Context(group, info_name="sitectl"), formatter)  # type: ignore[operator]
    return formatter.getvalue()


def test_the_table_names_each_command_by_its_own_name() -> None:
    loaded = _loaded()
    assert sorted(loaded) == sorted(COMMANDS)
    assert {name: command.name for name, command in loaded.items()} == {name: name for name in COMMANDS}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_summary_is_the_first_sentence_of_the_commands_help(name: str) -> None:
    command = _loaded()[name]
    assert command.get_short_help_str(10_000) == COMMANDS[name].summary
    shown = click.Command(name, help=COMMANDS[name].summary)
    for limit in range(10, 300, 7):  # shortened alike at every width
        assert shown.get_short_help_str(limit) == command.get_short_help_str(limit)


@pytest.mark.parametrize("width", [50, 80, 120, 200])
def test_help_lists_the_commands_as_click_lists_the_imported_ones(width: int) -> None:
    fresh = SitectlGroup("sitectl", lazy_commands=COMMANDS)
    imported = click.Group("sitectl", commands=_loaded())
    assert _listing(fresh, SitectlGroup.format_commands, width) == _listing(
        imported, click.Group.format_commands, width
    )
    assert fresh.commands == {}  # listed without importing any


def test_an_unknown_command_is_refused_as_before() -> None:
    result = CliRunner().invoke(cli, ["uplaod", "build"])
    assert result.exit_code == 2
    assert "No such command 'uplaod'." in result.output


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [("uplaod", "Did you mean 'upload'?"), ("versio", "(Did you mean one of: 'verify', 'versions'?)")],
)
def test_an_unknown_command_is_suggested_the_close_ones_unimported(typed: str, suggested: str) -> None:
    # A fresh group, as the console script starts: no command imported yet (the module's `cli` may
    # hold the ones other tests ran), and click's suggestions come from every command, as they did.
    fresh = click.group(cls=SitectlGroup, lazy_commands=COMMANDS)(lambda: None)
    result = CliRunner().invoke(fresh, [typed, "build"])
    assert result.exit_code == 2
    assert f"Error: No such command '{typed}'. {suggested}" in result.output
    assert fresh.commands == {}


# In a fresh interpreter: the modules of the commands imported by `--help`, then by `upload --help`.
_IMPORTED = """
import json, sys
from scripts.sitectl import cli
modules = {modules!r}
seen = []
for args in (["--help"], ["upload", "--help"]):
    code = cli.main(args, prog_name="sitectl", standalone_mode=False)
    seen.append(sorted(m for m in modules if m in sys.modules))
print(json.dumps(seen))
"""


def test_a_command_module_is_imported_only_when_that_command_runs() -> None:
    script = _IMPORTED.format(modules=COMMAND_MODULES)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    after_help, after_upload = json.loads(result.stdout.splitlines()[-1])
    assert after_help == []
    assert after_upload == ["scripts.commands.upload"]
    assert "upload" in result.stdout and "Upload DIRECTORY as a new version" in result.stdout


# The console script in a fresh interpreter: which collections ran before the group was imported.
_CONSOLE = """
import gc, json, sys
import tomllib
script = tomllib.load(open("pyproject.toml", "rb"))["project"]["scripts"]["sitectl"]
module, _, function = script.partition(":")
early = []
def collecting(phase, info):
    if phase == "start":
        early.append(not hasattr(sys.modules.get("scripts.sitectl"), "main"))
gc.callbacks.append(collecting)
sys.argv = ["sitectl", "--version"]
try:
    getattr(__import__(module, fromlist=[function]), function)()
except SystemExit:
    pass
print(json.dumps({"early": sum(early), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def test_the_console_script_imports_the_group_with_the_collector_off_then_freezes_it() -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", _CONSOLE], capture_output=True, text=True, check=True, cwd=root
    )
    state = json.loads(result.stdout.splitlines()[-1])
    assert state["early"] == 0  # no collection while the group's modules were imported
    assert state["enabled"]
    assert state["frozen"] > 10_000  # what the imports allocated
