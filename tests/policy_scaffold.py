"""Helpers for the policy tests: declare resources with pulumi-aws under the preview mocks, then hand
them to one policy exactly as the engine would (real ResourceValidationArgs / StackValidationArgs)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from policy.site_policies import POLICIES
from scripts.offline.mockrun import ProgramRun, RecordedResource, run_inline
from scripts.offline.policy_eval import resource_validation_args, stack_validation_args

PROGRAMS = Path(__file__).resolve().parent / "fixtures" / "programs"
PROJECT = "policy-test"
ACCOUNT = "123456789012"
DISTRIBUTION_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2EXAMPLE12345"
EDGE_FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:site-edge"


def preview(program: Callable[[], object], config: Mapping[str, str] | None = None) -> ProgramRun:
    """Run `program` (pulumi-aws resource declarations) as `pulumi preview` would."""

    def declare() -> None:
        program()

    return run_inline(declare, PROJECT, "test", {"aws:region": "eu-west-1", **(config or {})})


def update(program: Callable[[], object], config: Mapping[str, str] | None = None) -> ProgramRun:
    """Run `program` as `pulumi up` would: every resource's outputs are what AWS would answer."""

    def declare() -> None:
        program()

    config = {"aws:region": "eu-west-1", **(config or {})}
    return run_inline(declare, PROJECT, "test", config, preview=False)


def policy(name: str) -> ResourceValidationPolicy | StackValidationPolicy:
    return next(p for p in POLICIES if p.name == name)


def resource(run: ProgramRun, name: str) -> RecordedResource:
    matches = [r for r in run.resources if r.name == name]
    assert len(matches) == 1, f"expected one resource named {name!r}, got {[r.urn for r in matches]}"
    return matches[0]


def violations(policy_name: str, run: ProgramRun, resource_name: str) -> list[str]:
    """Messages a resource policy reports for one resource."""
    chosen = policy(policy_name)
    assert isinstance(chosen, ResourceValidationPolicy)
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    chosen.validate(resource_validation_args(resource(run, resource_name), run), report)
    return messages


def violations_everywhere(policy_name: str, run: ProgramRun) -> dict[str, list[str]]:
    """Messages of a resource policy over every resource, by resource name (only those with any)."""
    found = {r.name: violations(policy_name, run, r.name) for r in run.resources if not r.read}
    return {name: messages for name, messages in found.items() if messages}


@dataclass(frozen=True)
class StackViolation:
    urn: str | None
    message: str


def stack_violations(policy_name: str, run: ProgramRun) -> list[StackViolation]:
    chosen = policy(policy_name)
    assert isinstance(chosen, StackValidationPolicy)
    found: list[StackViolation] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(StackViolation(urn, message))

    chosen.validate(stack_validation_args(run), report)
    return found


# ---------------------------------------------------------------------------------------------------
# The pack started as the Pulumi CLI starts a Python pack with `toolchain: uv` (docs/policy.md
# cites the code): pkg/resource/plugin/analyzer_plugin.go and plugin.go hand the pack's folder to the
# python language host, whose RunPlugin (sdk/python/cmd/pulumi-language-python/main.go) resolves the
# toolchain (sdk/python/toolchain/uv.go) and runs `python -u -m pulumi.policy <engine> <pack folder>`.


def _search_up(start: Path, name: str) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / name).exists():
            return directory
    return None


def pack_virtualenv(pack_dir: Path, environ: Mapping[str, str]) -> tuple[str, Path]:
    """(toolchain, virtualenv) as toolchain.ResolveToolchain decides from PulumiPolicy.yaml's options.

    uv (named, or found through a uv.lock above the pack when none is named): the `virtualenv` option
    relative to the pack, else `.venv` (or UV_PROJECT_ENVIRONMENT) beside the nearest uv.lock, else
    beside the nearest pyproject.toml. pip: the `virtualenv` option relative to the pack (analyzers
    get no default, unlike other plugins).
    """
    runtime = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text())["runtime"]
    options = runtime.get("options") or {} if isinstance(runtime, dict) else {}
    toolchain = options.get("toolchain") or ("uv" if _search_up(pack_dir, "uv.lock") else "pip")
    if options.get("virtualenv"):
        return toolchain, pack_dir / options["virtualenv"]
    if toolchain != "uv":
        raise AssertionError(f"{toolchain} without a virtualenv option runs the ambient python")
    project_dir = _search_up(pack_dir, "uv.lock") or _search_up(pack_dir, "pyproject.toml") or pack_dir
    return toolchain, project_dir / environ.get("UV_PROJECT_ENVIRONMENT", ".venv")


def activate_virtualenv(environ: Mapping[str, str], virtualenv: Path) -> dict[str, str]:
    """toolchain.ActivateVirtualEnv: venv/bin first on PATH, VIRTUAL_ENV set, PYTHONHOME dropped."""
    env = {k: v for k, v in environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    bin_dir = str(virtualenv / "bin")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}" if env.get("PATH") else bin_dir
    env["VIRTUAL_ENV"] = str(virtualenv)
    return env


@dataclass(frozen=True)
class PackLaunch:
    argv: list[str]
    cwd: Path
    env: dict[str, str]


def launch_as_the_cli_does(pack_dir: Path, engine_address: str, environ: Mapping[str, str]) -> PackLaunch:
    """Prepare the pack's process exactly as `pulumi preview --policy-pack <pack_dir>` does: uv's
    Command first runs `uv sync --inexact` in the pack's folder (uv must be on PATH), then the
    interpreter of the resolved virtualenv runs module `pulumi.policy` with the engine's address and
    the pack's absolute folder, in that folder (RunPlugin keeps policy packs' historic cwd). RunPlugin's
    earlier probe (`python -c "import pulumi.run.plugin"`) changes nothing for a pack with a
    `__main__.py`, so it is left out."""
    pack_dir = pack_dir.resolve()
    toolchain, virtualenv = pack_virtualenv(pack_dir, environ)
    if toolchain == "uv":
        subprocess.run(
            ["uv", "sync", "--inexact"],
            cwd=pack_dir,
            env={**environ, "UV_PROJECT_ENVIRONMENT": str(virtualenv)},
            check=True,
            capture_output=True,
        )
    python = virtualenv / "bin" / "python"
    if not python.exists():
        # What the engine reports when the interpreter the YAML leads to is missing.
        raise FileNotFoundError(f"{toolchain} toolchain: no interpreter at {python}")
    argv = [str(python), "-u", "-m", "pulumi.policy", engine_address, str(pack_dir)]
    return PackLaunch(argv, pack_dir, activate_virtualenv(environ, virtualenv))
