"""Dependencies point one way: the edge bundle, then the version store, then the component and
sitectl's commands. Checked on the import statements of every module, so a new import that points
up fails here, not in a Lambda cold start or a Pulumi program that drags in the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> top-level packages (or package prefixes) its modules must not import
FORBIDDEN = {
    "edge_lambda": (
        *("pulumi", "pulumi_aws", "pulumi_policy", "boto3", "click"),
        *("components", "scripts", "policy"),
    ),
    # The CloudFront Function's code renderer: standard library and rjsmin (its minifier), no Pulumi.
    "edge_function": (
        *("pulumi", "pulumi_aws", "pulumi_policy", "boto3", "click"),
        *("components", "scripts", "policy"),
    ),
    "scripts/versionstore": (
        *("pulumi", "pulumi_aws", "click"),
        *("components", "scripts.commands", "scripts.demo"),
    ),
    "components": ("click", "scripts.commands", "scripts.demo", "scripts.offline"),
    "policy": ("components", "scripts", "click"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _violations(layer: str) -> list[str]:
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        if "venv" in path.parts:
            continue
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_from_above(layer: str) -> None:
    assert _violations(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom scripts.commands.errors import SitectlError\nfrom . import sibling\n")
    assert _imports(module) == {"os", "scripts.commands.errors"}
