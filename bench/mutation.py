"""Mutation testing (`make mutation`): mutmut over the modules that matter, one group at a time.

Each group mutates a few modules and runs only the tests that exercise them, so a group takes minutes,
not the whole suite per mutant. mutmut reads its configuration from `[tool.mutmut]` in pyproject.toml
of the directory it runs in and keeps its state in `mutants/` there: each group runs in its own copy
of the working tree under `.cache/mutation/<group>/` (gitignored), so groups do not share state and
the worktree stays usable while they run.

A mutant no selected test reaches (mutmut's "no tests", 🫥) counts as a survivor: a score only counts
mutants a test killed. Prints a per-module table and writes it to bench/results/mutation.md; the
reviewed scores and the reasons for equivalent survivors live in docs/mutation.md.

    python bench/mutation.py               # every group
    python bench/mutation.py policy edge   # some groups
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import MUTATION_RUN_ENV

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".cache" / "mutation"
RESULTS = ROOT / "bench" / "results" / "mutation.md"

# Packages mutmut copies into mutants/ and may mutate (only the group's `mutate` globs are mutated).
SOURCE_PATHS = ["edge_lambda/", "components/", "scripts/", "policy/"]
# Everything else the selected tests import or read, copied as is.
ALSO_COPY = [
    "edge_function/",
    "examples/",
    "provider/",
    "versioned_site/",
    "bench/",
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.prod.yaml",
    "__main__.py",
]

# mutmut's exit codes (mutmut/stats.py): 1 and 3 are kills; 36/24/-24/152/255 time-outs, which we
# count as kills as mutmut does (the mutant made the test hang: it was detected); 37 is a mutant mypy
# rejected (`make test` type-checks before it runs a test).
KILLED_CODES = {1, 3, 36, 24, -24, 152, 255, 37}
NO_TESTS_CODES = {5, 33}
# --sample draws the same mutants every time for the same run.
SAMPLE_SEED = 16


@dataclass(frozen=True)
class Group:
    name: str
    mutate: list[str]
    tests: list[str]
    deselect: tuple[str, ...] = ()


# Tests left out, and why (docs/mutation.md says what that leaves uncovered):
# - tests/test_edge_runtime.py and tests/test_browser.py run the bundle in other interpreters / a
#   browser: they import the unmutated copy, a mutant cannot change their outcome.
# - tests/test_demo.py starts moto_server and the whole walk-through (tens of seconds per mutant).
GROUPS = [
    Group(
        "edge",
        ["edge_lambda/handler.py"],
        [
            "tests/test_edge_pointer.py",
            "tests/test_edge_rules.py",
            "tests/test_edge_rewrite.py",
            "tests/test_edge_fallback.py",
            "tests/test_edge_rules.py",
            "tests/test_edge_properties.py",
            "tests/test_edge_ssm_client.py",
            "tests/test_serve_failover.py",
        ],
    ),
    Group(
        "rules",
        ["edge_lambda/site_rules.py"],
        [
            "tests/test_site_rules.py",  # the parser's own table, refusals, limits
            "tests/test_build_rules.py",  # the rule table through the handler and `sitectl serve`
            "tests/test_sitectl_conventions.py",  # upload's --json report counts the rules
        ],
    ),
    Group(
        "components",
        ["components/*.py"],
        [
            "tests/test_program.py",
            "tests/test_program_router.py",  # the cloudfront-function router and its release guard
            "tests/test_switch.py",
            "tests/test_pointer_guard.py",
            "tests/test_edge_bundle.py",
            "tests/test_version_readers.py",
        ],
    ),
    Group(
        "policy",
        ["policy/site_policies.py"],
        ["tests/test_policy_pack.py", "tests/test_policy_check.py"],
        # These run the pack from a `git clone` of the repository (the unmutated code at HEAD), which the
        # copy mutmut works in is not.
        deselect=tuple(
            f"tests/test_policy_check.py::{name}"
            for name in (
                "test_the_pack_runs_from_the_clones_own_virtualenv",
                "test_the_former_pip_virtualenv_yaml_finds_no_interpreter_in_a_fresh_clone",
                "test_the_pack_lists_every_policy_over_the_analyzer_protocol",
                "test_the_pack_reports_through_the_engine_protocol",
                "test_the_pack_accepts_a_compliant_resource",
            )
        ),
    ),
    Group(
        "sitectl",
        ["scripts/commands/upload.py", "scripts/commands/prune.py", "scripts/commands/release.py"],
        [
            "tests/test_sitectl_upload.py",
            "tests/test_sitectl_versions.py",
            "tests/test_sitectl_release.py",
            "tests/test_versionstore.py",
            "tests/test_versionstore_build.py",
            "tests/test_shared_assets.py",
            "tests/test_sitectl_verify.py",  # release --verify
        ],
    ),
    Group(
        "versionstore",
        ["scripts/versionstore/*.py"],
        [
            "tests/test_versionstore.py",
            "tests/test_versionstore_build.py",
            "tests/test_sitectl_upload.py",
            "tests/test_sitectl_versions.py",
            "tests/test_sitectl_release.py",
            "tests/test_sitectl_promote.py",
            "tests/test_sitectl_verify.py",
            "tests/test_sitectl_status.py",
            "tests/test_shared_assets.py",
            "tests/test_version_readers.py",
            "tests/test_serve.py",
            "tests/test_serve_failover.py",  # the default not-found page
        ],
    ),
]


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def type_check_command(group: Group) -> list[str]:
    """mypy as `make typecheck` runs it (pyproject's [tool.mypy] flags), over the group's modules, run by
    mutmut inside mutants/ (which has no pyproject.toml, hence the flags here)."""
    return [
        sys.executable,
        "-m",
        "mypy",
        "--output",
        "json",
        "--python-version",
        "3.11",
        "--check-untyped-defs",
        "--follow-imports",
        "silent",
        "--ignore-missing-imports",
        # mutmut's trampolines carry `# type: ignore` comments mypy may not need.
        "--no-warn-unused-ignores",
        *sorted(str(path.relative_to(ROOT)) for pattern in group.mutate for path in ROOT.glob(pattern)),
    ]


def prepare(group: Group, *, keep_results: bool = False) -> Path:
    """A copy of the working tree (tracked and untracked, not ignored files) for one group: fresh, or
    (keep_results) copied over the last run's, whose mutants/ keeps mutmut's results."""
    work = WORK / group.name
    if work.exists() and not keep_results:
        shutil.rmtree(work)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    deselect = [arg for test in group.deselect for arg in ("--deselect", test)]
    config = "\n".join(
        [
            "",
            "[tool.mutmut]",
            f"source_paths = {toml_list(SOURCE_PATHS)}",
            f"only_mutate = {toml_list(group.mutate)}",
            f"also_copy = {toml_list(ALSO_COPY)}",
            f"pytest_add_cli_args_test_selection = {toml_list(group.tests)}",
            # -p no:cacheprovider: the copies must not write .pytest_cache next to the sources.
            f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', *deselect])}",
            # A mutant mypy rejects is caught by `make test` (its typecheck step) before any test runs:
            # mutmut runs mypy once over the mutated files and counts those mutants as caught (exit 37).
            f"type_check_command = {toml_list(type_check_command(group))}",
            "",
        ]
    )
    with (work / "pyproject.toml").open("a") as pyproject:
        pyproject.write(config)
    return work


@dataclass
class Score:
    module: str
    killed: int
    total: int
    survivors: list[str]
    no_tests: list[str]
    not_run: list[str]
    caught_by_mypy: int

    @property
    def not_checked(self) -> int:
        return len(self.not_run)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0


def scores(work: Path, group: Group) -> list[Score]:
    """Per module, from mutmut's `mutants/<path>.meta` (its exit code per mutant)."""
    result = []
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(work / "mutants"))[: -len(".meta")]
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        # None: not run yet (a run still going, or stopped): left out of the score, counted apart.
        checked = {k: c for k, c in codes.items() if c is not None}
        killed = [k for k, c in checked.items() if c in KILLED_CODES]
        no_tests = sorted(k for k, c in checked.items() if c in NO_TESTS_CODES)
        survivors = sorted(k for k, c in checked.items() if c not in KILLED_CODES and c not in NO_TESTS_CODES)
        not_run = sorted(k for k, c in codes.items() if c is None)
        caught_by_mypy = sum(1 for c in checked.values() if c == 37)
        result.append(Score(module, len(killed), len(checked), survivors, no_tests, not_run, caught_by_mypy))
    return result


def run(
    group: Group,
    max_children: int,
    *,
    rerun: bool = False,
    resume: bool = False,
    only: tuple[str, ...] = (),
    sample: int | None = None,
) -> list[Score]:
    names: list[str] = []
    if rerun or resume:
        # rerun: the mutants the last run did not kill (or did not reach, or did not get to): mutmut keeps a
        # result until the function's source changes, so new tests need the survivors named.
        # resume: only those a stopped run did not get to.
        if not (WORK / group.name / "mutants").is_dir():
            raise SystemExit(
                f"--rerun/--resume: no earlier run of {group.name}: run `make mutation ARGS={group.name}`"
            )
        picker = random.Random(SAMPLE_SEED)
        for s in scores(WORK / group.name, group):
            if only and s.module not in only:
                continue
            not_run = s.not_run
            if sample is not None and len(not_run) > sample:
                # A uniform sample of what is left: the score of a module then rests on every mutant
                # run so far plus this sample, and the table still counts the rest as not run.
                not_run = sorted(picker.sample(not_run, sample))
            names.extend(not_run if resume else (*s.survivors, *s.no_tests, *not_run))
        if not names:
            print(f"== {group.name}: nothing left to run")
            return scores(WORK / group.name, group)
    work = prepare(group, keep_results=rerun or resume)
    print(f"== {group.name}: {' '.join(group.mutate)} in {work}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names],
        cwd=work,
        env={**os.environ, MUTATION_RUN_ENV: "1"},
        check=False,
    )
    if done.returncode != 0:
        # mutmut first runs the selected tests unmutated: a failure there leaves no scores.
        raise SystemExit(f"mutmut failed in {work} (exit {done.returncode}): see its output above")
    return scores(work, group)


def table(all_scores: list[Score]) -> str:
    lines = [
        "| module | killed / total | of which by mypy | score | not run |",
        "|---|---|---|---|---|",
    ]
    for s in all_scores:
        score = f"{s.percent:.1f}%" if s.total else "-"
        not_run = s.not_checked or ""
        lines.append(f"| `{s.module}` | {s.killed} / {s.total} | {s.caught_by_mypy} | {score} | {not_run} |")
    lines.append("")
    for s in all_scores:
        for name in s.survivors:
            lines.append(f"- survived: `{name}`")
        for name in s.no_tests:
            lines.append(f"- no test reaches (counted as survived): `{name}`")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="*", help=f"some of: {' '.join(g.name for g in GROUPS)}")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="run again only the mutants the last run of each group did not kill (after new tests)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="run only the mutants a stopped run of each group did not get to",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="with --rerun/--resume: at most N of each module's mutants not run yet, drawn at random",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="MODULE",
        help="with --rerun: only this module's mutants (e.g. scripts/versionstore/promote.py; repeatable)",
    )
    parser.add_argument(
        "--report", action="store_true", help="only report what the last run of each group left in .cache"
    )
    args = parser.parse_args()
    unknown = set(args.groups) - {g.name for g in GROUPS}
    if unknown:
        parser.error(
            f"no such group: {' '.join(sorted(unknown))}; the groups are {' '.join(g.name for g in GROUPS)}"
        )
    selected = [g for g in GROUPS if not args.groups or g.name in args.groups]
    all_scores: list[Score] = []
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for group in selected:
        if args.report:
            all_scores.extend(scores(WORK / group.name, group))
            continue
        all_scores.extend(
            run(
                group,
                args.max_children,
                rerun=args.rerun,
                resume=args.resume,
                only=tuple(args.only),
                sample=args.sample,
            )
        )
        RESULTS.write_text(table(all_scores))  # after each group: a long run reports as it goes
    print(table(all_scores))
    print(f"written to {RESULTS.relative_to(ROOT)}; `mutmut show <name>` in .cache/mutation/<group>/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
