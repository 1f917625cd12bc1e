"""`sitectl e2e` (`make e2e`): prove it on a real AWS account in throwaway stacks (scripts/e2e/)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE
from scripts.commands.errors import SitectlError, aws_errors
from scripts.commands.options import Output, json_output
from scripts.commands.site import (
    SiteDeps,
    default_cloudfront_client,
    default_kvs_client,
    default_ssm_client,
    http_get,
)
from scripts.commands.stack import find_project_root, select_stack
from scripts.e2e import run as e2e
from scripts.e2e.engine import EngineLog
from scripts.e2e.throwaway import PulumiThrowaway

STATE_DIR = ".e2e"


def _has_credentials() -> bool:
    import boto3  # only here: it is slow to import, and most commands never need it

    return boto3.session.Session().get_credentials() is not None


@click.command("e2e")
@json_output
@click.option(
    "--router",
    type=click.Choice([LAMBDA_EDGE, CLOUDFRONT_FUNCTION, "both"]),
    default="both",
    show_default=True,
    help="Which routers to run through (one throwaway stack each).",
)
@click.option("--region", default=None, help="The stacks' aws:region (default: AWS_REGION, else us-east-1).")
@click.option(
    "--max-minutes",
    type=click.IntRange(5, 240),
    default=e2e.DEFAULT_MAX_MINUTES,
    show_default=True,
    help="Stop (and clean up) once the run has taken this long.",
)
@click.option(
    "--cleanup", "cleanup_run", metavar="RUN_ID", help="Only clean up an earlier run, from its ledger."
)
@click.option(
    "--keep", is_flag=True, help="Leave the stacks in place (clean up later with --cleanup RUN_ID)."
)
@click.option(
    "--plan", "show_plan", is_flag=True, help="Print the steps, the time cap and the cost; run nothing."
)
@aws_errors
def e2e_command(
    router: str,
    region: str | None,
    max_minutes: int,
    cleanup_run: str | None,
    keep: bool,
    show_plan: bool,
    output: Output,
) -> None:
    """Deploy the site into throwaway stacks of a real AWS account, upload two versions, release,
    verify, release with --verify, roll back, roll back --now, see the program's guards refuse, promote
    into a second stack, measure each switch at the edge, then destroy everything it created (README,
    "Prove it on your account: make e2e")."""
    routers = [LAMBDA_EDGE, CLOUDFRONT_FUNCTION] if router == "both" else [router]
    region = region or os.environ.get("AWS_REGION") or "us-east-1"
    if show_plan:
        # Needs nothing: no CLI, no credentials; the run id is the one a run started now would take.
        from datetime import UTC, datetime

        run_id = e2e.new_run_id(datetime.now(UTC))
        lines = e2e.plan_lines(run_id, routers, region, max_minutes)
        output.result(
            {
                "run_id": run_id,
                "routers": routers,
                "region": region,
                "max_minutes": max_minutes,
                "steps": e2e.PLAN,
            },
            lines,
        )
        return
    environment = dict(os.environ)
    e2e.preflight(e2e.pulumi_on_path, _has_credentials, environment)
    root = find_project_root()
    state = root / STATE_DIR
    # The same backend for the Automation API here and for sitectl's own stack access below.
    os.environ.setdefault("PULUMI_BACKEND_URL", (state / "backend").resolve().as_uri())
    engine = EngineLog()
    throwaway = PulumiThrowaway(
        root, state / "backend", lambda line: output.say(line.rstrip("\n")), engine.on_event
    )
    ssm = default_ssm_client(e2e.POINTER_REGION)
    if cleanup_run is not None:
        ledger = e2e.Ledger.load(state, cleanup_run)
        left = e2e.cleanup(throwaway, ledger, output.say, ssm)
        output.result({"run_id": cleanup_run, "left": left}, [f"left: {item}" for item in left] or ["clean"])
        if left:
            raise SitectlError(f"run {cleanup_run}: {len(left)} item(s) left: {left[0]}")
        return
    # sitectl's own stack access, with the engine's events of every `up` to the run's log; its GETs
    # of the site and its direct writes of the live version (`rollback --now`) timed for the report.
    edge = e2e.EdgeLog(time.monotonic)
    deps = SiteDeps(
        stack_factory=lambda name, work_dir: select_stack(name, work_dir, engine.on_event),
        http_get=edge.get(http_get),
        kvs_factory=lambda: edge.client(default_kvs_client()),
        cloudfront_factory=lambda: edge.client(default_cloudfront_client()),
    )
    report = run_e2e(
        throwaway,
        deps,
        engine,
        edge,
        ssm,
        state,
        root / "examples",
        region,
        routers,
        max_minutes,
        keep,
        output,
    )
    output.result(report.to_dict(), report.lines())
    if not report.ok:
        failed = next((s for s in report.steps if not (s.ok or s.skipped)), None)
        why = f"{failed.router} {failed.step}: {failed.detail}" if failed else report.left[0]
        raise SitectlError(f"e2e run {report.run_id} failed at {why}")


def run_e2e(
    throwaway: e2e.Throwaway,
    deps: SiteDeps,
    engine: EngineLog,
    edge: e2e.EdgeLog,
    ssm: Any,
    state: Path,
    examples: Path,
    region: str,
    routers: list[str],
    max_minutes: int,
    keep: bool,
    output: Output,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> e2e.Report:
    from datetime import UTC, datetime

    run_id = e2e.new_run_id(datetime.now(UTC))
    return e2e.Run(
        run_id=run_id,
        throwaway=throwaway,
        sitectl=e2e.sitectl_in_process(deps),
        ledger=e2e.Ledger(state / f"{run_id}.json", run_id),
        examples=examples,
        region=region,
        clock=clock,
        sleep=sleep,
        http_get=deps.http_get,
        say=output.say,
        stack_of=lambda name: deps.stack_factory(name, None),
        ssm=ssm,
        s3=deps.s3_factory(),
        engine=engine,
        edge=edge,
        cloudfront=deps.cloudfront_factory(),
        max_minutes=max_minutes,
        routers=routers,
        keep=keep,
    ).execute()
