"""The Pulumi project `sitectl` works on: its name (from `Pulumi.yaml`) and its stack files.

Nothing here runs the Pulumi CLI: a project's name and a stack file's plain config are files in the
checkout. The name makes the config key of the live version (`<project>:version`, unless the stack
exports another as `versionConfigKey`); `release --config-only` edits the stack file itself, so a pull
request needs neither the CLI nor a backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.commands.errors import RefusedError, SitectlError

# The stack output in which a program names the config key its version comes from (the component's
# `version_config_key`); without it, `<project>:version`, as `pulumi config set version` writes it.
VERSION_CONFIG_KEY_OUTPUT = "versionConfigKey"
# Optional, in Pulumi.<stack>.yaml: the bucket `release --config-only` checks a version against when
# it works from the file alone (the program ignores config of other namespaces).
BUCKET_CONFIG_KEY = "sitectl:bucket"
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


def version_config_key(project: str) -> str:
    """The config key the versioned-site program reads the live version from."""
    return f"{project}:version"


def setting_key(version_key: str, setting: str) -> str:
    """The config key of another setting of the program whose version key is `version_key`
    (`shop-site:version` -> `shop-site:spaFallback`), as its refusals name it
    (`components/config_key.py`)."""
    project, colon, _ = version_key.partition(":")
    return f"{project}:{setting}" if colon else setting


def _yaml() -> Any:
    # Imported on first use: a command given --bucket (an upload) never reads a project or stack file,
    # and PyYAML's import was a tenth of the group's.
    import yaml  # type: ignore[import-untyped]

    return yaml


def _project_document(root: Path) -> tuple[Path, dict[str, Any]]:
    yaml = _yaml()
    path = next((root / name for name in PROJECT_FILES if (root / name).is_file()), None)
    if path is None:
        raise RefusedError(f"{root} has no Pulumi.yaml: run sitectl in the project, or pass --project-dir")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RefusedError(f"{path} is not valid YAML ({_first_line(error)}): fix it") from error
    if not isinstance(document, dict):
        raise RefusedError(f"{path} is not a Pulumi project file (a mapping with `name:`): fix it")
    return path, document


def project_name(root: Path) -> str:
    """The `name:` of the project in `root` (Pulumi.yaml)."""
    path, document = _project_document(root)
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise RefusedError(f"{path} has no `name:`: give the project a name")
    return name


def short_stack_name(stack: str) -> str:
    """`org/project/stack` -> `stack`: the stack file is named after the last part."""
    return stack.rsplit("/", 1)[-1]


def stack_file_path(root: Path, stack: str) -> Path:
    """`Pulumi.<stack>.yaml`, in `stackConfigDir` when Pulumi.yaml names one (or an existing `.yml`)."""
    _path, document = _project_document(root)
    folder = root / str(document.get("stackConfigDir") or ".")
    name = short_stack_name(stack)
    existing = folder / f"Pulumi.{name}.yml"
    return existing if existing.is_file() else folder / f"Pulumi.{name}.yaml"


def read_stack_config(root: Path, stack: str) -> dict[str, Any]:
    """The `config:` mapping of the stack file as written (`{}` when the file does not exist)."""
    path = stack_file_path(root, stack)
    document = _stack_document(path, path.read_text() if path.is_file() else "")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise RefusedError(f"{path}: `config:` is not a mapping: fix it")
    return config


def _stack_document(path: Path, text: str) -> dict[str, Any]:
    yaml = _yaml()
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise RefusedError(f"{path} is not valid YAML ({_first_line(error)}): fix it") from error
    if not isinstance(document, dict):
        raise RefusedError(f"{path} is not a Pulumi stack file (a mapping): fix it")
    return document


_CONFIG_BLOCK = re.compile(r"^config:[ \t]*(#.*)?$", re.MULTILINE)


def _mapping_key(line: str) -> tuple[str, str, int] | None:
    """(indentation, key, end of the key's text) of a block mapping line `  key: value`, else None."""
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)]
    if not body.strip() or body.startswith("#"):
        return None
    if body[0] in "'\"":
        close = body.find(body[0], 1)
        if close < 0 or not body[close + 1 :].startswith(":"):
            return None
        return indent, body[1:close], len(indent) + close + 1
    match = re.match(r"(.+?):(?:[ \t]|$)", body.rstrip("\r\n"))
    return (indent, match.group(1), len(indent) + match.end(1)) if match else None


def set_config_text(text: str, key: str, project: str, value: str) -> str:
    """`text` (a stack file) with `key` set to the plain string `value`, every other line untouched.

    The key is found in its full form (`project:version`) or the short one of the project's own
    namespace (`version`); a new key goes at the end of the `config:` block. Raises ValueError when the
    file's shape is not one this edit can make safely (a flow-style `config: {...}`, a value over lines).
    """
    short = key.removeprefix(f"{project}:")
    names = {key, short}
    rendered = _scalar(value)
    header = _CONFIG_BLOCK.search(text)
    if header is None:
        if re.search(r"^config:", text, re.MULTILINE):
            raise ValueError("its `config:` is not a block mapping")
        separator = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{separator}config:\n  {key}: {rendered}\n"
    lines = text.splitlines(keepends=True)
    start = text.count("\n", 0, header.start()) + 1  # the first line after `config:`
    end = start
    indent: str | None = None
    found: tuple[int, int] | None = None  # (line, end of its key)
    while end < len(lines) and not (lines[end].strip() and not lines[end][0].isspace()):
        entry = _mapping_key(lines[end])
        if entry is not None:
            indent = entry[0] if indent is None else indent
            if entry[0] == indent and entry[1] in names:
                found = (end, entry[2])
        end += 1
    indent = indent or "  "
    if found is None:
        # After the block's last non-blank line: blank lines before the next key stay where they are.
        last = end
        while last > start and not lines[last - 1].strip():
            last -= 1
        if not lines[last - 1].endswith("\n"):
            lines[last - 1] += "\n"
        lines.insert(last, f"{indent}{key}: {rendered}\n")
        return "".join(lines)
    number, key_end = found
    following = next((line for line in lines[number + 1 : end] if line.strip()), "")
    if len(following) - len(following.lstrip(" \t")) > len(indent):
        raise ValueError(f"the value of {key} spans several lines")
    newline = "\n" if lines[number].endswith("\n") else ""
    lines[number] = f"{lines[number][:key_end]}: {rendered}{newline}"
    return "".join(lines)


def remove_config_text(text: str, key: str, project: str) -> str:
    """`text` (a stack file) without `key` (full or short form), every other line untouched; `text`
    itself when the key is not there. Raises ValueError for a shape this edit cannot make safely (a
    flow-style `config: {...}`, the value over several lines)."""
    short = key.removeprefix(f"{project}:")
    header = _CONFIG_BLOCK.search(text)
    if header is None:
        if re.search(r"^config:", text, re.MULTILINE):
            raise ValueError("its `config:` is not a block mapping")
        return text
    lines = text.splitlines(keepends=True)
    start = text.count("\n", 0, header.start()) + 1
    end = start
    indent: str | None = None
    found: list[int] = []
    while end < len(lines) and not (lines[end].strip() and not lines[end][0].isspace()):
        entry = _mapping_key(lines[end])
        if entry is not None:
            indent = entry[0] if indent is None else indent
            if entry[0] == indent and entry[1] in {key, short}:
                found.append(end)
        end += 1
    for number in reversed(found):
        following = next((line for line in lines[number + 1 : end] if line.strip()), "")
        if len(following) - len(following.lstrip(" \t")) > len(indent or ""):
            raise ValueError(f"the value of {key} spans several lines")
        del lines[number]
    return "".join(lines)


def _scalar(value: str) -> str:
    """`value` as a YAML scalar that reads back as that string: plain when it does, else JSON-quoted."""
    plain = value
    yaml = _yaml()
    try:
        if plain and yaml.safe_load(f"k: {plain}") == {"k": value} and "#" not in plain:
            return plain
    except yaml.YAMLError:
        pass
    return json.dumps(value)


def set_stack_config(root: Path, stack: str, project: str, key: str, value: str) -> Path:
    """Set `key` to `value` in the stack file, creating it when absent; refuse (nothing written) when
    the edit would change anything else. Returns the file's path."""
    path = stack_file_path(root, stack)
    before = path.read_text() if path.is_file() else ""
    document = _stack_document(path, before)
    config = document.get("config")
    if config is not None and not isinstance(config, dict):
        raise RefusedError(f"{path}: `config:` is not a mapping: fix it")
    try:
        after = set_config_text(before, key, project, value)
    except ValueError as error:
        raise RefusedError(
            f"{path}: cannot set {key} safely ({error}): set it with `pulumi config set {key} {value}`"
        ) from error
    expected = dict(document)
    short = key.removeprefix(f"{project}:")
    written = short if short != key and short in (config or {}) else key
    expected["config"] = {**(config or {}), written: value}
    if _stack_document(path, after) != expected:
        raise RefusedError(
            f"{path}: setting {key} here would change other values: set it with "
            f"`pulumi config set {key} {value}`"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(after)
    return path


def remove_stack_config(root: Path, stack: str, project: str, key: str) -> Path:
    """Remove `key` from the stack file (nothing to do when it is not there); refuse (nothing written)
    when the edit would change anything else. Returns the file's path."""
    path = stack_file_path(root, stack)
    before = path.read_text() if path.is_file() else ""
    document = _stack_document(path, before)
    config = document.get("config")
    if config is not None and not isinstance(config, dict):
        raise RefusedError(f"{path}: `config:` is not a mapping: fix it")
    try:
        after = remove_config_text(before, key, project)
    except ValueError as error:
        raise RefusedError(
            f"{path}: cannot remove {key} safely ({error}): remove it with `pulumi config rm {key}`"
        ) from error
    short = key.removeprefix(f"{project}:")
    expected = dict(document)
    if config is not None:
        expected["config"] = {k: v for k, v in config.items() if k not in (key, short)}
    if _stack_document(path, after) != expected:
        raise RefusedError(
            f"{path}: removing {key} here would change other values: remove it with `pulumi config rm {key}`"
        )
    if after != before:
        path.write_text(after)
    return path


@dataclass
class StackFile:
    """A `SiteStack` that is only the stack file: reads and sets the version config, deploys nothing.

    What `release --config-only` needs when the bucket is named on the command line or in the file
    (`sitectl:bucket`): no Pulumi CLI, no backend, no login."""

    root: Path
    stack: str
    project: str

    @property
    def name(self) -> str:
        return self.stack

    @property
    def version_key(self) -> str:
        return version_config_key(self.project)

    @property
    def path(self) -> Path:
        return stack_file_path(self.root, self.stack)

    def outputs(self) -> Mapping[str, Any]:
        return {}

    def get_version(self) -> str | None:
        config = read_stack_config(self.root, self.stack)
        short = self.version_key.removeprefix(f"{self.project}:")
        value = config.get(self.version_key, config.get(short))
        if value is None:
            return None
        if isinstance(value, dict):
            raise RefusedError(f"{self.path}: {self.version_key} is not a plain value: fix it")
        return str(value)

    def set_version(self, value: str | None) -> None:
        if value is None:
            raise SitectlError(f"{self.path}: sitectl only sets {self.version_key}, it never removes it")
        set_stack_config(self.root, self.stack, self.project, self.version_key, value)

    def get_config(self, key: str) -> str | None:
        config = read_stack_config(self.root, self.stack)
        value = config.get(key, config.get(key.removeprefix(f"{self.project}:")))
        if isinstance(value, dict | list):
            raise RefusedError(f"{self.path}: {key} is not a plain value: fix it")
        return None if value is None else str(value)

    def set_config(self, key: str, value: str | None) -> None:
        if value is None:
            remove_stack_config(self.root, self.stack, self.project, key)
        else:
            set_stack_config(self.root, self.stack, self.project, key, value)

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        raise SitectlError("the stack file alone cannot deploy: run sitectl without --config-only")

    def preview(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        raise SitectlError("the stack file alone cannot preview: run sitectl without --config-only")

    def history(self) -> list[Any]:
        return []

    def resource_outputs(self, urns: list[str]) -> dict[str, Mapping[str, Any]]:
        return {}  # a stack file holds no state

    def bucket(self) -> str | None:
        value = read_stack_config(self.root, self.stack).get(BUCKET_CONFIG_KEY)
        return str(value) if isinstance(value, str) and value else None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
