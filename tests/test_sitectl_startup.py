"""What `sitectl` does before its first request, cut without changing what it does: a command's module
is imported only when that command runs (`SitectlGroup` in scripts/commands/options.py), `--help` lists
every command from the group's table (scripts/sitectl.py), which must say what each command's own help
says; the scan looks for the few strings its fingerprint evidence needs before it matches a file's
tokens (`fingerprints.referenced_names`)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from scripts.commands.options import SitectlGroup
from scripts.sitectl import COMMANDS, cli
from scripts.versionstore import fingerprints

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


def _every_reference(files: dict[str, Path]) -> tuple[set[str], set[str]]:
    return fingerprints.referenced_names(files.items())


@pytest.mark.parametrize("most", [1, fingerprints.MAX_SOUGHT_STRINGS])  # 1: too many to look for
def test_the_evidence_sought_is_what_matching_every_token_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, most: int
) -> None:
    monkeypatch.setattr(fingerprints, "MAX_SOUGHT_STRINGS", most)
    rng = random.Random(29)
    names = ["chunk-0049.39737143.js", "39737143", "app-20261207.js", "20261207", "x.y-12345678.css"]
    pieces = [*names, ".", "..", "-", "/", '"', " ", "\n", "é", "a", "0049", "chunk", "\x00"]
    files: dict[str, Path] = {}
    for i in range(120):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        path = tmp_path / f"f{i}{rng.choice(['.js', '.css', '.json', '.html', '.txt'])}"
        path.write_bytes(text.encode())
        files[path.name] = path
    every_script, every_page = _every_reference(files)
    for _ in range(40):
        sought = set(rng.sample(names, rng.randint(1, len(names))))
        scripts, pages = fingerprints.referenced_names(files.items(), sought=sought)
        assert (scripts, pages) == (every_script & sought, every_page & sought)


def test_a_file_that_holds_nothing_sought_is_not_matched_token_by_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = "assets/chunk-0049.39737143.js"  # needs the build's evidence: its hash reads as a number
    build = {
        "index.html": b'<script src="/assets/main.js"></script>',
        "assets/main.js": b'import("./chunk-0049.39737143.js")',
        "assets/other.js": b"console.log('nothing to see here, 20261207')",
        chunk: b"export default 1",
    }
    files = {}
    for name, body in build.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(body)
        files[name] = tmp_path / name
    matched: list[bytes] = []
    tokens = fingerprints._tokens

    def counting(data: bytes) -> set[str]:
        matched.append(data)
        return tokens(data)

    monkeypatch.setattr(fingerprints, "_tokens", counting)
    decision = fingerprints.decide_build(files, tmp_path)
    assert decision.reasons == {chunk: fingerprints.NAMED}
    assert matched == [build["assets/main.js"]]
    assert decision.reasons == fingerprints.decide(files, *_every_reference(files)).reasons
