"""`sitectl policy-check`: the verdict of `pulumi up --policy-pack policy`, without a cloud account.

The program runs in-process under Pulumi's mock runtime (`scripts/offline/mockrun.py`), by default as an
update: every resource's outputs are what AWS would answer, so values built from other resources
(a bucket policy from `bucket.arn`) are checked, as `pulumi up` checks them before creating each
resource. `--preview` keeps preview semantics (those values unknown). What the program registers goes
through every policy of the pack (`scripts/offline/policy_eval.py`). Pulumi is imported only when the
command runs, so that the other sitectl commands start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

PROJECT_ROOT = Path(__file__).resolve().parents[2]

EXIT_OK = 0
EXIT_MANDATORY_VIOLATION = 1
EXIT_PROGRAM_FAILED = 2


@click.command("policy-check")
@click.argument(
    "program_dir",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "-c",
    "--config",
    "config",
    multiple=True,
    metavar="KEY=VALUE",
    help="Config value (repeatable); a key without a namespace belongs to the program's project.",
)
@click.option(
    "-s",
    "--stack",
    default=None,
    help="Stack name for URNs; also reads that stack's Pulumi.<stack>.yaml (secure values are left out).",
)
@click.option(
    "--preview",
    is_flag=True,
    help="Evaluate as `pulumi preview` does: outputs of resources yet to be created stay unknown.",
)
def policy_check(program_dir: Path | None, config: tuple[str, ...], stack: str | None, preview: bool) -> None:
    """Check a Pulumi Python program against the policy pack, offline.

    Runs PROGRAM_DIR (default: this project's program) under Pulumi's mock runtime as `pulumi up`
    would (with the values AWS would answer; `--preview`: as a preview), then prints one line per
    violation: enforcement level, policy, resource URN, message; and on stderr one "not checked" line
    per value a policy needed but could not read.
    Exit status: 0 when no mandatory policy is violated, 1 when one is, 2 when the program fails.
    """
    from policy.site_policies import POLICIES
    from scripts.offline.mockrun import ProgramError, run_program
    from scripts.offline.policy_eval import PolicyCrashError, check

    directory = program_dir or PROJECT_ROOT
    try:
        run = run_program(
            directory,
            stack=stack or "policy-check",
            config_overrides=list(config),
            use_stack_config=stack is not None,
            preview=preview,
        )
    except ProgramError as exc:
        click.echo(f"policy-check: {directory}: {exc}", err=True)
        sys.exit(EXIT_PROGRAM_FAILED)

    try:
        report = check(run)
    except PolicyCrashError as exc:
        click.echo(f"policy-check: {exc}", err=True)
        sys.exit(EXIT_PROGRAM_FAILED)

    for violation in report.violations:
        click.echo(violation.line())
    for missed in report.not_checked:
        click.echo(f"policy-check: {missed.line()}", err=True)
    advisory = len(report.violations) - len(report.mandatory)
    click.echo(
        f"policy-check: {run.project} ({len(run.resources)} resources, {len(POLICIES)} policies): "
        f"{len(report.mandatory)} mandatory, {advisory} advisory violation(s), "
        f"{len(report.not_checked)} not checked",
        err=True,
    )
    sys.exit(EXIT_MANDATORY_VIOLATION if report.mandatory else EXIT_OK)
