"""The README's CI workflows, run as far as they can be without AWS, GitHub or the Pulumi CLI.

Each ```yaml block of the README is parsed as a GitHub Actions workflow. Its `run:` steps go through
bash as GitHub runs them (`$GITHUB_ENV`, `${VAR:+...}`, `git`), in a git checkout of a stack file,
with `uv` on PATH replaced by a shim that hands `uv run sitectl ...` back to this process: there the
command runs against moto and fake Pulumi stacks whose version config is the checkout's stack file
(`project.StackFile`). What needs the real Pulumi CLI (`pulumi up`) is emulated, `pulumi preview`
and installers are skipped, the build is an example site, and `peter-evans/create-pull-request`
is checked, then emulated: every file the steps changed must be one it adds. At the end the work tree
must be clean: a GitOps workflow commits (or proposes) every change it makes to a stack file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from click.testing import CliRunner

from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.project import StackFile, project_name
from scripts.commands.serve import start_preview_server
from scripts.commands.stack import StackUpdate
from scripts.commands.upload import upload_build
from scripts.demo import walkthrough as demo
from scripts.sitectl import cli
from tests.sitectl_scaffold import BUCKET, PARAMETER, V1, V2, FakeStack, World, world

__all__ = ["world"]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
STAGING_BUCKET = "site-bucket-staging"
STACK = "prod"
SHIM = """#!{python}
import json, os, socket, sys
args = sys.argv[1:]
if args[:1] == ["sync"]:
    sys.exit(0)
if args[:2] != ["run", "sitectl"]:
    sys.exit("uv shim: only `uv sync` and `uv run sitectl` are emulated, not: " + " ".join(args))
env = {{k: v for k, v in os.environ.items() if k.startswith("SITE_")}}
with socket.create_connection(("127.0.0.1", {port})) as connection:
    connection.sendall(json.dumps({{"args": args[2:], "env": env, "cwd": os.getcwd()}}).encode() + b"\\n")
    reply = json.loads(connection.makefile().readline())
sys.stdout.write(reply["stdout"])
sys.stderr.write(reply["stderr"])
sys.exit(reply["code"])
"""


def readme_workflows() -> dict[str, dict[str, Any]]:
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    workflows = [yaml.safe_load(block) for block in blocks]
    return {str(workflow["name"]): workflow for workflow in workflows}


WORKFLOWS = readme_workflows()


def _steps(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _deploys(workflow: Mapping[str, Any]) -> bool:
    """Changes what prod serves: a full `pulumi up`, or a sitectl release that is not a config edit."""
    for step in _steps(workflow):
        run = str(step.get("run", ""))
        if "pulumi up" in run or ("sitectl" in run and "--release" in run):
            return True
        if re.search(r"sitectl (release|rollback)\b", run) and "--config-only" not in run:
            return True
    return False


def test_the_readme_has_the_six_workflows() -> None:
    assert sorted(WORKFLOWS) == ["deploy", "e2e", "preview", "promote", "release", "rollback"]
    for workflow in WORKFLOWS.values():
        keys = {str(key): value for key, value in workflow.items()}
        assert keys.get("on") or keys.get("True"), workflow["name"]  # YAML 1.1 reads `on` as True
        assert all(job["steps"] for job in workflow["jobs"].values())


# The oldest Pulumi CLI that starts a policy pack with its `toolchain: uv` (pulumi/pulumi's CHANGELOG,
# 3.169.0: "Use language runtimes `RunPlugin` method for booting policy packs").
MINIMUM_PULUMI_CLI = (3, 169, 0)


def test_every_workflow_pins_a_pulumi_cli_that_runs_the_policy_pack() -> None:
    for name, workflow in WORKFLOWS.items():
        installs = [str(s["run"]) for s in _steps(workflow) if "get.pulumi.com" in str(s.get("run", ""))]
        assert installs, f"{name} installs no Pulumi CLI"
        for install in installs:
            pinned = re.search(r"\| sh -s -- --version (\d+)\.(\d+)\.(\d+) ", install)
            assert pinned, f"{name}: the Pulumi CLI is not pinned: {install}"
            assert tuple(map(int, pinned.groups())) >= MINIMUM_PULUMI_CLI, f"{name}: {install}"


def test_every_workflow_that_deploys_a_stack_shares_its_one_concurrency_group() -> None:
    deploying = {name: workflow for name, workflow in WORKFLOWS.items() if _deploys(workflow)}
    assert sorted(deploying) == ["deploy", "promote"]
    assert {str(workflow.get("concurrency")) for workflow in deploying.values()} == {f"deploy-{STACK}"}


def test_the_e2e_workflow_runs_weekly_with_oidc_and_keeps_the_report_and_the_ledger() -> None:
    # It needs a real account and the Pulumi CLI: what can be checked here is its shape.
    workflow = WORKFLOWS["e2e"]
    keys = {str(key): value for key, value in workflow.items()}
    triggers: dict[str, Any] = keys.get("on") or keys["True"]  # YAML 1.1 reads `on` as True
    assert triggers["schedule"] == [{"cron": "0 6 * * 1"}]
    assert workflow["permissions"]["id-token"] == "write"
    runs = [str(step.get("run", "")) for step in _steps(workflow)]
    assert "uv run sitectl e2e --json > e2e-report.json" in runs
    (upload,) = [s for s in _steps(workflow) if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "always()" and upload["with"]["path"].split() == ["e2e-report.json", ".e2e/"]
    assert not _deploys(workflow), "it deploys throwaway stacks only, never prod"


# --- running them -------------------------------------------------------------------------------


@dataclass
class CheckoutStack(FakeStack):
    """A fake Pulumi stack whose version config is the checkout's stack file, as the Pulumi CLI's
    `config set` would write it; `up` deploys what the file says (the pointer follows)."""

    checkout: Path = Path()

    def _file(self) -> StackFile:
        return StackFile(self.checkout, self.name, project_name(self.checkout))

    def get_version(self) -> str | None:
        self.version = self._file().get_version()
        return self.version

    def set_version(self, value: str | None) -> None:
        super().set_version(value)
        self._file().set_version(value)

    def up(self, targets: list[str], message: str, on_output: Callable[[str], Any]) -> str:
        self.get_version()
        return super().up(targets, message, on_output)


@dataclass
class Run:
    """One workflow run: its checkout (with a bare `origin`), the stacks, what happened."""

    world: World
    checkout: Path
    origin: Path
    prod: CheckoutStack
    url: str
    env_file: Path
    shim_dir: Path
    inputs: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    pull_requests: list[dict[str, str]] = field(default_factory=list)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd or self.checkout, check=True, capture_output=True, text=True
        ).stdout

    def file_version(self, ref: str | None = None) -> str | None:
        if ref is None:
            return self.prod.get_version()
        text = self.git("show", f"{ref}:Pulumi.{STACK}.yaml")
        match = re.search(r"versioned-site:version: (\S+)", text)
        return match.group(1) if match else None

    def expand(self, value: object) -> str:
        """GitHub's `${{ ... }}` expressions that these workflows use."""

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression.startswith("inputs."):
                return self.inputs.get(expression.removeprefix("inputs."), "")
            if expression.startswith("secrets."):
                return "secret"
            if expression.startswith("env."):
                return self.github_env().get(expression.removeprefix("env."), "")
            raise AssertionError(f"expression not emulated: {expression}")

        return re.sub(r"\$\{\{(.*?)\}\}", replace, str(value))

    def github_env(self) -> dict[str, str]:
        lines = self.env_file.read_text().splitlines() if self.env_file.exists() else []
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def run_workflow(self, workflow: Mapping[str, Any]) -> None:
        for job in workflow["jobs"].values():
            env = {name: self.expand(value) for name, value in (job.get("env") or {}).items()}
            for step in job["steps"]:
                self.step(step, env)
        assert self.git("status", "--porcelain") == "", (
            "a workflow left changes neither committed nor proposed"
        )

    def step(self, step: Mapping[str, Any], env: dict[str, str]) -> None:
        uses = str(step.get("uses", ""))
        run = str(step.get("run", ""))
        if uses.startswith("peter-evans/create-pull-request"):
            self.pull_request({name: self.expand(value) for name, value in step["with"].items()})
        elif uses:
            self.skipped.append(uses)  # checkout (the checkout is here), uv, AWS credentials
        elif "get.pulumi.com" in run or "pulumi preview" in run:
            self.skipped.append(run)  # needs the Pulumi CLI; nothing to emulate
        elif "npm run build" in run:
            shutil.copytree(demo.EXAMPLE_V2, self.checkout / "dist")  # the site's build
            (self.checkout / ".gitignore").write_text("dist/\n")
            self.git("add", ".gitignore")
            self.git("commit", "-q", "-m", "ignore the build")
        elif "pulumi up" in run:
            assert run.startswith("uv sync && pulumi up --stack prod"), run
            self.prod.up([], "pulumi up", lambda _line: None)  # deploys what the stack file says
        else:
            self.bash(run, env)

    def bash(self, script: str, env: Mapping[str, str]) -> None:
        environment = {
            **os.environ,
            **env,
            **self.github_env(),
            "PATH": f"{self.shim_dir}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ENV": str(self.env_file),
            "GITHUB_SHA": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
        }
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.checkout,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"step failed:\n{script}\n{done.stdout}{done.stderr}"

    def pull_request(self, options: Mapping[str, str]) -> None:
        """What create-pull-request does with `add-paths`: the changes must be exactly in them."""
        changed = sorted(line[3:] for line in self.git("status", "--porcelain").splitlines())
        allowed = {path.strip() for path in re.split(r"[,\n]", options.get("add-paths", "")) if path.strip()}
        assert changed and set(changed) <= allowed, (changed, allowed)
        self.git("checkout", "-q", "-b", options["branch"])
        self.git("add", *changed)
        self.git("commit", "-q", "-m", options.get("commit-message", options["title"]))
        self.pull_requests.append({**options, "files": ",".join(changed)})
        self.git("checkout", "-q", "main")  # the pull request waits for its merge


class _Sitectl(socketserver.StreamRequestHandler):
    """Runs one `uv run sitectl ...` from the shim, in this process (moto, fake stacks)."""

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        runner: Run = self.server.run  # type: ignore[attr-defined]
        here = Path.cwd()
        os.chdir(request["cwd"])  # the step's working directory: paths such as dist/ are the checkout's
        try:
            result = CliRunner().invoke(cli, request["args"], obj=runner.world.deps(), env=request["env"])
        finally:
            os.chdir(here)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        reply = {"stdout": result.stdout, "stderr": result.stderr, "code": result.exit_code}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


@pytest.fixture
def run(world: World, tmp_path: Path) -> Iterator[Run]:
    origin, checkout = tmp_path / "origin.git", tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(checkout)], check=True, capture_output=True)
    shutil.copy(ROOT / "Pulumi.yaml", checkout / "Pulumi.yaml")
    (checkout / f"Pulumi.{STACK}.yaml").write_text(
        f"config:\n  aws:region: us-east-1\n  versioned-site:version: {V1}\n"
    )
    for command in (
        ["config", "user.name", "test"],
        ["config", "user.email", "test@example.com"],
        ["add", "."],
        ["commit", "-q", "-m", "the site's stack"],
        ["push", "-q", "origin", "HEAD:main"],
    ):
        subprocess.run(["git", *command], cwd=checkout, check=True, capture_output=True)

    # Both buckets hold V1; staging holds V2 too, released and tested there. Prod serves V1.
    world.s3.create_bucket(Bucket=STAGING_BUCKET)
    upload_build(world.s3, BUCKET, demo.EXAMPLE_V1, V1)
    upload_build(world.s3, STAGING_BUCKET, demo.EXAMPLE_V2, V2)
    world.set_live(V1)
    settings = EdgeSettings(parameter_name=PARAMETER, region="us-east-1", cache_ttl_seconds=1)
    ticks = iter(range(0, 10**9, 10))  # each read of the pointer a TTL after the last
    handler = OriginRequestHandler(
        settings, PointerCache(settings, world.ssm, now=lambda: float(next(ticks)))
    )
    server = start_preview_server(BUCKET, settings, s3_client=world.s3, edge_function=handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    prod = CheckoutStack(name=STACK, checkout=checkout, extra_outputs={"url": server.url})
    prod.write_pointer = world.set_live
    prod.updates = [
        StackUpdate("update", prod.clock, prod.clock, "succeeded", V1, "ci", f"sitectl release {V1} by ci")
    ]
    staging = FakeStack(name="staging", version=V2, extra_outputs={"bucketName": STAGING_BUCKET})
    world.stack, world.stacks = prod, {STACK: prod, "staging": staging}

    sitectl = socketserver.TCPServer(("127.0.0.1", 0), _Sitectl)
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "uv"
    shim.write_text(SHIM.format(python=sys.executable, port=sitectl.server_address[1]))
    shim.chmod(0o755)
    state = Run(world, checkout, origin, prod, server.url, tmp_path / "github_env", shim_dir)
    sitectl.run = state  # type: ignore[attr-defined]
    threading.Thread(target=sitectl.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield state
    finally:
        sitectl.shutdown()
        sitectl.server_close()
        server.shutdown()
        server.server_close()


def test_release_uploads_and_proposes_the_stack_file(run: Run) -> None:
    run.run_workflow(WORKFLOWS["release"])
    version = run.github_env()["VERSION"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-1a2b3c4", version)
    assert version in run.world.invoke("versions", "--bucket", BUCKET, "--json").stdout
    [proposed] = run.pull_requests
    assert (proposed["branch"], proposed["files"], proposed["title"]) == (
        "release/prod",
        "Pulumi.prod.yaml",
        f"Release {version} to prod",
    )
    assert run.file_version(proposed["branch"]) == version
    assert run.world.live() == V1  # nothing deployed: the merge does it


def test_preview_needs_the_pulumi_cli_only(run: Run) -> None:
    run.run_workflow(WORKFLOWS["preview"])
    assert run.skipped[-1] == "uv sync && pulumi preview --stack prod --policy-pack policy --diff"


def test_deploy_applies_what_main_says_and_verifies_it(run: Run) -> None:
    run.world.set_live(layout.NO_VERSION_RELEASED)
    run.run_workflow(WORKFLOWS["deploy"])  # the verify step fails the run unless V1 serves
    assert run.world.live() == V1


def test_rollback_proposes_the_version_live_before(run: Run) -> None:
    upload_build(run.world.s3, BUCKET, demo.EXAMPLE_V2, V2)
    run.prod.set_version(V2)
    run.prod.up([], f"sitectl release {V2} by ci", lambda _line: None)
    run.git("commit", "-q", "-am", f"Release {V2}")
    for to, expected in (("", V1), (V1, V1)):
        run.inputs = {"to": to}
        run.pull_requests.clear()
        run.run_workflow(WORKFLOWS["rollback"])
        [proposed] = run.pull_requests
        assert (proposed["branch"], proposed["files"]) == ("rollback/prod", "Pulumi.prod.yaml")
        assert run.file_version(proposed["branch"]) == expected
        run.git("branch", "-q", "-D", "rollback/prod")
    assert run.world.live() == V2  # nothing deployed: the merge does it


def test_promote_releases_commits_the_stack_file_and_verifies(run: Run) -> None:
    run.inputs = {"version": V2}
    run.run_workflow(WORKFLOWS["promote"])
    assert run.world.live() == V2
    run.git("fetch", "-q", "origin")
    assert run.file_version("origin/main") == V2, "main must say what is live"
    assert run.git("log", "-1", "--format=%s", "origin/main").strip() == (
        f"Release {V2} to prod (promoted from staging)"
    )
