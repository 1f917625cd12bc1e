"""The end-to-end run: plan, runner, ledger, report (package docstring).

Safe by construction:
- it only ever creates stacks named `e2e-<run id>-<router>`, refuses a name that exists already, and
  writes each one to the run's ledger (`.e2e/<run id>.json`) *before* creating it;
- clean-up (`--cleanup RUN_ID`, and the end of every run) destroys and removes only the stacks its
  ledger names, and only ones whose name carries that run id;
- every resource carries the tag `versioned-site:e2e-run=<run id>` (the stack's `aws:defaultTags`, which
  the component applies in every region);
- it states its time cap before starting and stops at it, cleaning up.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from edge_function import CLOUDFRONT_FUNCTION, LAMBDA_EDGE
from edge_lambda import layout
from scripts.commands.errors import RefusedError, error_code
from scripts.commands.site import HttpAnswer
from scripts.commands.stack import SiteStack
from scripts.e2e.engine import EngineLog, summary_line
from scripts.versionstore import emergency

RUN_TAG = "versioned-site:e2e-run"
STACK_PREFIX = "e2e-"
DEFAULT_MAX_MINUTES = 150
ROUTERS = (LAMBDA_EDGE, CLOUDFRONT_FUNCTION)
ROUTER_SHORT = {LAMBDA_EDGE: "edge", CLOUDFRONT_FUNCTION: "function"}
SWITCH_WAIT_SECONDS = 900.0
SWITCH_POLL_SECONDS = 5.0
POP_HEADER = "x-amz-cf-pop"
POINTER_REGION = layout.EDGE_REGION  # the pointers, and the emergency records beside them
# What a run costs, stated before it starts (AWS list prices; a run stays inside every free tier but
# CloudFront's distribution-hours, which are not billed by the hour for the first 1 TB/month).
COST_NOTE = (
    "cost: well under 1 USD (a few hundred S3 and SSM requests, invalidations within the 1,000 free "
    "paths a month, up to four distributions, which bill requests and bytes, not hours)"
)
LAMBDA_EDGE_NOTE = (
    "Lambda@Edge replicas are deleted by AWS hours after the distribution lets go of the function; until "
    "then the function cannot be deleted: run `sitectl e2e --cleanup {run_id}` again later"
)


# Each router's steps, in order (Run._plan pairs them with their actions; `--plan` prints them).
PLAN = (
    "create stack",
    "deploy (pulumi up)",
    "upload v1",
    "upload v2",
    "release v1",
    "verify",
    "release v2 --verify",
    "rollback (pulumi up)",
    "release v2 again",
    "rollback --now",
    "emergency guard refuses v2",
    "release guard refuses v3",
    "create second stack",
    "deploy second stack",
    "promote v2 --release",
    "canary v1 at 5% --verify",
    "canary --complete",
)
# How the canary steps go on the Lambda@Edge router, which has no version in its cache key.
CANARY_ON_LAMBDA_EDGE = ("must be refused (exit 2, nothing changed)", "skipped: no canary on lambda-edge")


class Skipped(Exception):  # noqa: N818 - a step's outcome, not an error
    """A step that cannot run here (a feature this sitectl lacks): reported as skipped, not failed."""


def statement(run_id: str, routers: Sequence[str], region: str, max_minutes: int) -> str:
    """What a run says before it starts: where, its time cap, what it costs."""
    return (
        f"e2e run {run_id}: routers {', '.join(routers)} in {region}; stops at {max_minutes} minutes; "
        f"{COST_NOTE}"
    )


def plan_lines(run_id: str, routers: Sequence[str], region: str, max_minutes: int) -> list[str]:
    """The plan, for `--plan`: nothing is created or asked of AWS or Pulumi."""
    lines = [statement(run_id, routers, region, max_minutes)]
    for router in routers:
        stacks = f"{stack_name(run_id, router)}, {promoted_stack_name(run_id, router)}"
        lines.append(f"{router} (stacks {stacks}):")
        lines += [f"  {number:2}. {step}" for number, step in enumerate(PLAN, 1)]
        if router == LAMBDA_EDGE:
            lines[-2] += f" ({CANARY_ON_LAMBDA_EDGE[0]})"
            lines[-1] += f" ({CANARY_ON_LAMBDA_EDGE[1]})"
    lines.append(
        "then, whatever happened: destroy and remove every stack in the ledger, delete the emergency "
        "records it names; what AWS keeps (Lambda@Edge replicas) stays there for --cleanup RUN_ID"
    )
    return lines


class Throwaway(Protocol):
    """The Pulumi side of a run (scripts/e2e/throwaway.py; tests pass a fake)."""

    def exists(self, stack: str) -> bool: ...

    def create(self, stack: str, config: Mapping[str, str]) -> None: ...

    def up(self, stack: str) -> str: ...

    def destroy(self, stack: str) -> str: ...

    def remove(self, stack: str) -> None: ...


SitectlRunner = Callable[[Sequence[str]], dict[str, Any]]
"""Runs `sitectl <args> --json` in-process and returns its JSON result; raises its one-line error."""
StackOf = Callable[[str], SiteStack]
"""The stack as sitectl's own commands get it (`SiteDeps.stack_factory`), its events to the run's log."""


def new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(2)}"


def stack_name(run_id: str, router: str) -> str:
    return f"{STACK_PREFIX}{run_id}-{ROUTER_SHORT[router]}"


def promoted_stack_name(run_id: str, router: str) -> str:
    """The second throwaway stack of a router, which `sitectl promote` copies a version into."""
    return f"{stack_name(run_id, router)}-promoted"


def check_bucket_is_ours(s3: Any, bucket: str, run_id: str) -> None:
    """Refuse a bucket that does not carry this run's tag (every resource of a throwaway stack does,
    through `aws:defaultTags`): e2e uploads to, promotes into and empties only buckets it created."""
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as error:
        if error_code(error) != "NoSuchTagSet":
            raise RefusedError(f"cannot read the tags of bucket {bucket!r}: {error_code(error)}") from error
        tag_set = []
    tags = {tag["Key"]: tag["Value"] for tag in tag_set}
    if tags.get(RUN_TAG) != run_id:
        raise RefusedError(
            f"bucket {bucket!r} does not carry the tag {RUN_TAG}={run_id}: e2e never writes to a bucket "
            "it did not create"
        )


def preflight(
    which: Callable[[str], str | None], has_credentials: Callable[[], bool], environment: Mapping[str, str]
) -> None:
    """Refuse, in one line (exit 2), a run that cannot start: no Pulumi CLI, no AWS credentials, or a
    local backend without the passphrase Pulumi encrypts its secrets with."""
    if which("pulumi") is None:
        raise RefusedError(
            "e2e needs the Pulumi CLI: install it (https://www.pulumi.com/docs/install/) and put it on PATH"
        )
    if not has_credentials():
        raise RefusedError(
            "e2e needs AWS credentials of a throwaway account: set AWS_PROFILE or the AWS_* keys (CI: OIDC)"
        )
    local = environment.get("PULUMI_BACKEND_URL", "file://").startswith("file://")
    if local and not (
        environment.get("PULUMI_CONFIG_PASSPHRASE") or environment.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    ):
        raise RefusedError(
            "e2e uses a local Pulumi backend, which needs PULUMI_CONFIG_PASSPHRASE (any value) to be set"
        )


@dataclass
class Ledger:
    """What a run created, written before each creation: the clean-up works from it alone."""

    path: Path
    run_id: str
    stacks: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    # SSM parameters sitectl writes outside Pulumi's state (the emergency record), which a destroy
    # would leave behind: each under one of the run's stacks' pointers.
    parameters: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path, run_id: str) -> Ledger:
        path = directory / f"{run_id}.json"
        if not path.is_file():
            known = sorted(ledger.stem for ledger in directory.glob("*.json")) if directory.is_dir() else []
            runs = f"; ledgers here: {', '.join(known)}" if known else ""
            raise RefusedError(
                f"no ledger for run {run_id} in {directory}: nothing this command created{runs}"
            )
        data = json.loads(path.read_text())
        return cls(
            path,
            run_id,
            list(data.get("stacks", [])),
            list(data.get("left", [])),
            list(data.get("parameters", [])),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"run_id": self.run_id, "stacks": self.stacks, "parameters": self.parameters}
        self.path.write_text(json.dumps({**document, "left": self.left}))

    def ours(self, stack: str) -> bool:
        return stack.startswith(f"{STACK_PREFIX}{self.run_id}-")

    def add(self, stack: str) -> None:
        if not self.ours(stack):
            raise RefusedError(f"stack {stack!r} is not one of run {self.run_id}: e2e touches only its own")
        self.stacks.append(stack)
        self.save()

    def add_parameter(self, name: str) -> None:
        if not self.parameter_is_ours(name):
            raise RefusedError(f"parameter {name!r} belongs to no stack of run {self.run_id}: not touched")
        if name not in self.parameters:
            self.parameters.append(name)
            self.save()

    def parameter_is_ours(self, name: str) -> bool:
        # The pointer's name carries its stack's (edge_lambda/layout.py): /<project>/<stack>/live-version.
        return any(self.ours(part) for part in name.split("/"))


@dataclass
class StepResult:
    router: str
    step: str
    seconds: float
    ok: bool
    detail: str
    skipped: bool = False
    engine: list[dict[str, str]] = field(default_factory=list)  # EngineMessage.to_dict() of the step
    updates: list[dict[str, Any]] = field(default_factory=list)  # the engine's summary of each update


@dataclass
class Report:
    run_id: str
    max_minutes: int
    steps: list[StepResult] = field(default_factory=list)
    switches: list[dict[str, Any]] = field(default_factory=list)
    propagation: list[dict[str, Any]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok or step.skipped for step in self.steps) and not self.left

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "max_minutes": self.max_minutes,
            "steps": [asdict(step) for step in self.steps],
            "switches": self.switches,
            "propagation": self.propagation,
            "left": self.left,
        }

    def lines(self) -> list[str]:
        rows = [f"{'ROUTER':<20} {'STEP':<26} {'SECONDS':>8}  RESULT"]
        for step in self.steps:
            result = "skipped" if step.skipped else "ok" if step.ok else "FAILED"
            rows.append(f"{step.router:<20} {step.step:<26} {step.seconds:>8.1f}  {result}: {step.detail}")
            rows += [f"{'':<20}   engine {m['severity']}: {m['line']}" for m in step.engine]
            rows += [f"{'':<20}   engine: {summary_line(update)}" for update in step.updates]
        for switch in self.switches:
            pops = ", ".join(switch["pops"]) or "-"
            seen = f"{switch['seconds']:.1f} s" if switch["seen"] else "not seen"
            rows.append(f"switch to {switch['version']} ({switch['router']}): {seen} at {pops}")
        for figure in self.propagation:
            served = ", ".join(f"{pop} {seconds:.1f} s" for pop, seconds in figure["pops"].items())
            rows.append(
                f"{figure['kind']} ({figure['router']}, {figure['version']}): served after "
                f"{served or 'nothing seen'}" + _completed(figure)
            )
        rows += [f"LEFT IN THE ACCOUNT: {item}" for item in self.left]
        return rows


def _completed(figure: Mapping[str, Any]) -> str:
    if figure["kind"] != INVALIDATION:
        return ""
    completed = figure.get("completed_seconds")
    return "; Completed not seen" if completed is None else f"; Completed after {completed:.1f} s"


KEY_VALUE_STORE = "KeyValueStore propagation"
INVALIDATION = "invalidation"


def _completed_in(timeline: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds from the invalidation to its Completed status on a `rollback --now` timeline, which
    watches it (None when it did not see it Completed)."""
    steps = {str(step.get("step")): step for step in timeline}
    done, created = steps.get("invalidation-done"), steps.get("invalidation")
    if done is None or created is None or done.get("completed") is not True:
        return None
    return round(float(done["seconds"]) - float(created["seconds"]), 3)


INVALIDATION_WAIT_SECONDS = 900.0


@dataclass
class EdgeLog:
    """What the edge answered and when the live version was written where it reads it, on the run's
    clock: every GET of the run and of sitectl's own commands (their `http_get`), every KeyValueStore
    PutKey and CloudFront CreateInvalidation that sitectl makes in this process (`rollback --now`).
    From it, per edge location: the seconds from a write to the first answer with the new version."""

    clock: Callable[[], float]
    answers: list[tuple[float, str, str]] = field(default_factory=list)  # (when, pop, version served)
    writes: list[dict[str, Any]] = field(default_factory=list)  # {"kind", "at", ...}

    def get(self, inner: Callable[[str], HttpAnswer]) -> Callable[[str], HttpAnswer]:
        def observed(url: str) -> HttpAnswer:
            answer = inner(url)
            pop = answer.headers.get(POP_HEADER) or "unknown"
            self.answers.append((self.clock(), pop, answer.headers.get(layout.VERSION_HEADER) or ""))
            return answer

        return observed

    def client(self, inner: Any) -> Any:
        return _Recorded(inner, self)

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.writes[mark:]

    def served_after(self, at: float, version: str) -> dict[str, float]:
        """Per edge location, the seconds from `at` to its first answer with `version`."""
        first: dict[str, float] = {}
        for when, pop, served in self.answers:
            if when >= at and served == version and pop not in first:
                first[pop] = round(when - at, 3)
        return first


class _Recorded:
    """A boto3 client (or a test's fake) whose PutKey and CreateInvalidation calls are timed."""

    _KINDS = {"put_key": KEY_VALUE_STORE, "create_invalidation": INVALIDATION}

    def __init__(self, inner: Any, log: EdgeLog) -> None:
        self._inner, self._log = inner, log

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        kind = self._KINDS.get(name)
        if kind is None:
            return attribute

        def call(**kwargs: Any) -> Any:
            response = attribute(**kwargs)
            write = {"kind": kind, "at": self._log.clock()}
            if kind == INVALIDATION:
                write.update(distribution=kwargs.get("DistributionId"), id=response["Invalidation"]["Id"])
            self._log.writes.append(write)
            return response

        return call


def watch_switch(
    url: str,
    version: str,
    http_get: Callable[[str], HttpAnswer],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    wait_seconds: float = SWITCH_WAIT_SECONDS,
) -> dict[str, Any]:
    """Ask `url` until it serves `version` (its version marker): the seconds it took and the edge
    locations (`x-amz-cf-pop`) that answered."""
    started = clock()
    pops: list[str] = []
    while True:
        try:
            answer = http_get(url.rstrip("/") + "/")
            pop = answer.headers.get(POP_HEADER)
            if pop and pop not in pops:
                pops.append(pop)
            if answer.headers.get(layout.VERSION_HEADER) == version:
                return {
                    "version": version,
                    "seen": True,
                    "seconds": round(clock() - started, 3),
                    "pops": pops,
                }
        except Exception:  # a 5xx or a dropped connection while the edge switches: ask again
            pass
        if clock() - started >= wait_seconds:
            return {"version": version, "seen": False, "seconds": round(clock() - started, 3), "pops": pops}
        sleep(SWITCH_POLL_SECONDS)


@dataclass
class Run:
    """One run: the plan for each router, then the clean-up, whatever happened."""

    run_id: str
    throwaway: Throwaway
    sitectl: SitectlRunner
    ledger: Ledger
    examples: Path
    region: str
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    http_get: Callable[[str], HttpAnswer]
    say: Callable[[str], None]
    stack_of: StackOf
    ssm: Any  # us-east-1, where the pointers and the emergency records live
    s3: Any  # to read the buckets' tags
    engine: EngineLog = field(default_factory=EngineLog)
    edge: EdgeLog | None = None  # the propagation figures of `rollback --now`
    cloudfront: Any = None  # to see an invalidation Completed
    max_minutes: int = DEFAULT_MAX_MINUTES
    routers: Sequence[str] = ROUTERS
    keep: bool = False
    report: Report = field(init=False)

    def __post_init__(self) -> None:
        self.report = Report(self.run_id, self.max_minutes)
        self._started = self.clock()

    def versions(self) -> tuple[str, str, str]:
        """Three version ids one second apart, from the run id's time: v1 and v2 uploaded, v3 never."""
        stamp = datetime.strptime(self.run_id.split("-")[0], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        first, second, third = (
            (stamp + timedelta(seconds=offset)).strftime("%Y%m%dT%H%M%SZ") for offset in range(3)
        )
        return first, second, third

    def execute(self) -> Report:
        said = statement(self.run_id, self.routers, self.region, self.max_minutes)
        self.say(f"{said}; ledger {self.ledger.path}")
        try:
            for router in self.routers:
                if not self._plan(router):
                    break
        finally:
            if not self.keep:
                self.report.left = cleanup(self.throwaway, self.ledger, self.say, self.ssm)
        return self.report

    def _step(self, router: str, name: str, action: Callable[[], str]) -> bool:
        elapsed_minutes = (self.clock() - self._started) / 60
        if elapsed_minutes >= self.max_minutes:
            self.report.steps.append(StepResult(router, name, 0.0, False, "time cap reached: not run"))
            return False
        self.engine.take()  # what arrived between steps belongs to none
        started = self.clock()
        try:
            detail, ok = action(), True
        except Skipped as skipped:
            return self._skip(router, name, str(skipped))
        except Exception as error:  # every failure is reported, then the run cleans up
            detail, ok = " ".join(str(error).split()) or type(error).__name__, False
        messages, updates = self.engine.take()
        result = StepResult(
            router,
            name,
            round(self.clock() - started, 3),
            ok,
            detail,
            engine=[message.to_dict() for message in messages],
            updates=updates,
        )
        self.report.steps.append(result)
        self.say(f"[{router}] {name}: {'ok' if ok else 'FAILED'} in {result.seconds:.1f} s: {detail}")
        return ok

    def _skip(self, router: str, name: str, why: str) -> bool:
        self.report.steps.append(StepResult(router, name, 0.0, False, why, skipped=True))
        self.say(f"[{router}] {name}: skipped: {why}")
        return True

    def _switch(self, router: str, stack: str, version: str) -> str:
        url = str(self.sitectl(["--stack", stack, "status"]).get("url") or "")
        if not url:
            return "no URL to watch"
        switch = watch_switch(url, version, self.http_get, self.clock, self.sleep)
        self.report.switches.append({"router": router, **switch})
        return f"served after {switch['seconds']:.1f} s" if switch["seen"] else "not served in time"

    def _propagation(
        self, router: str, version: str, mark: int, timeline: Sequence[Mapping[str, Any]] = ()
    ) -> str:
        """The figures of the writes sitectl made since `mark`: the KeyValueStore key (the function
        router) or the invalidation (Lambda@Edge), each to the first answer with `version` per edge
        location, and an invalidation to its Completed status (as the command's `timeline` saw it, when
        it watched it to Completed)."""
        if self.edge is None:
            return ""
        said = []
        for write in self.edge.since(mark):
            figure = {"router": router, "kind": write["kind"], "version": version}
            figure["pops"] = self.edge.served_after(write["at"], version)
            if write["kind"] == INVALIDATION:
                figure["completed_seconds"] = _completed_in(timeline) or self._completed_after(write)
            self.report.propagation.append(figure)
            said.append(
                f"{write['kind']}: "
                + (", ".join(f"{p} {t:.1f} s" for p, t in figure["pops"].items()) or "not seen")
            )
        return "".join(f"; {line}" for line in said)

    def _completed_after(self, write: Mapping[str, Any]) -> float | None:
        """Seconds from CreateInvalidation until GetInvalidation says Completed (asked every poll)."""
        if self.cloudfront is None:
            return None
        while True:
            answer = self.cloudfront.get_invalidation(DistributionId=write["distribution"], Id=write["id"])
            waited = self.clock() - write["at"]
            if answer["Invalidation"]["Status"] == "Completed":
                return round(waited, 3)
            if waited >= INVALIDATION_WAIT_SECONDS:
                return None
            self.sleep(SWITCH_POLL_SECONDS)

    def _refused(self, attempt: Callable[[], object], refusal: str, what: str) -> str:
        """`attempt` must fail, and the engine must say why with `refusal` (the guard's exception class):
        the refusal's line, as the engine sent it."""
        try:
            attempt()
        except Exception as error:
            said = self._engine_said(refusal)
            if said is None:
                raise RuntimeError(
                    f"{what} was refused, but the engine's events carried no {refusal}: "
                    f"{' '.join(str(error).split())}"
                ) from error
            return f"refused by the engine: {said}"
        raise RuntimeError(f"{what} was not refused: the guard did not run (see the engine's messages)")

    def _engine_said(self, refusal: str) -> str | None:
        return next((line for m in self.engine.peek() if (line := m.names(refusal))), None)

    def _created(self, stack: str, router: str) -> Callable[[], str]:
        def create() -> str:
            if self.throwaway.exists(stack):
                raise RefusedError(
                    f"stack {stack} exists already: e2e never runs in a stack it did not create"
                )
            self.ledger.add(stack)
            self.throwaway.create(stack, stack_config(self.run_id, router, self.region))
            return f"stack {stack} (tag {RUN_TAG}={self.run_id})"

        return create

    def _deployed(self, stack: str) -> Callable[[], str]:
        def deploy() -> str:
            done = self.throwaway.up(stack)
            bucket = str(self.stack_of(stack).outputs().get("bucketName") or "")
            check_bucket_is_ours(self.s3, bucket, self.run_id)
            return f"{done}; bucket {bucket} tagged {RUN_TAG}={self.run_id}"

        return deploy

    def _plan(self, router: str) -> bool:
        stack = stack_name(self.run_id, router)
        promoted = promoted_stack_name(self.run_id, router)
        v1, v2, v3 = self.versions()
        site = ["--stack", stack]

        def released(version: str, *flags: str) -> Callable[[], str]:
            def act() -> str:
                self.sitectl([*site, "release", "--version", version, "--yes", *flags])
                return f"{version} live; {self._switch(router, stack, version)}"

            return act

        def rolled_back_now() -> str:
            # The emergency record is written outside Pulumi's state: the ledger has it cleaned up.
            pointer = str(self.stack_of(stack).outputs().get("parameterName") or "")
            self.ledger.add_parameter(emergency.record_name(pointer))
            mark = len(self.edge.writes) if self.edge is not None else 0
            result = self.sitectl([*site, "rollback", "--now", "--version", v1, "--reason", "e2e", "--yes"])
            steps = ", ".join(f"{s['step']} {s['seconds']:.1f} s" for s in result.get("timeline", []))
            switched = self._switch(router, stack, v1)
            propagation = self._propagation(router, v1, mark, result.get("timeline", []))
            return f"{v1} live directly ({steps}); {switched}{propagation}"

        def emergency_guard() -> str:
            # CI's `up` of the config that names the version rolled back: the program refuses at start.
            return self._refused(
                lambda: self.sitectl([*site, "release", "--version", v2, "--yes"]),
                emergency.RolledBackVersionError.__name__,
                f"a release of {v2} (rolled back in an emergency)",
            )

        def release_guard() -> str:
            # sitectl refuses a version without a manifest before Pulumi; the program's own guard is
            # reached by a targeted `up` of such a config, as a hand-edited stack file would run it.
            target = self.stack_of(stack)
            targets = [str(urn) for urn in target.outputs().get("releaseTargets") or []]
            previous = target.get_version()
            target.set_version(v3)
            try:
                return self._refused(
                    lambda: target.up(targets, f"sitectl e2e {v3} (never uploaded)", self._pulumi_line),
                    "UnreleasableVersionError",
                    f"a targeted pulumi up of {v3} (never uploaded)",
                )
            finally:
                target.set_version(previous)

        def promote() -> str:
            # Both buckets are the run's (checked when each stack was deployed); the copy is
            # server-side, and --release goes through the same targeted `up` as a release.
            result = self.sitectl(
                ["--stack", promoted, "promote", "--version", v2, "--from-stack", stack, "--release"]
            )
            copied = f"{result.get('copied_files')} files copied from {result.get('from_bucket')}"
            return f"{copied}; {v2} live on {promoted}; {self._switch(router, promoted, v2)}"

        def canary_started() -> str:
            if router != CLOUDFRONT_FUNCTION:
                return self._canary_refused(promoted, v1)
            # v1 into the second stack's bucket (a copy, no release), then to 5% of its viewers, checked
            # as they get it (Cookie: site-bucket=canary) and aborted by sitectl if that fails.
            self.sitectl(["--stack", promoted, "promote", "--version", v1, "--from-stack", stack])
            result = self.sitectl(["--stack", promoted, "canary", v1, "--percent", "5", "--verify", "--yes"])
            checks = len((result.get("verification") or {}).get("checks") or [])
            said = f"{v1} to 5% of the viewers of {promoted} ({v2} live)"
            return f"{said}, verified as they get it ({checks} checks)"

        def canary_completed() -> str:
            if router != CLOUDFRONT_FUNCTION:
                raise Skipped(CANARY_ON_LAMBDA_EDGE[1].removeprefix("skipped: "))
            result = self.sitectl(["--stack", promoted, "canary", "--complete", "--yes"])
            switched = self._switch(router, promoted, v1)
            return f"{result.get('version')} live on {promoted} for every viewer; {switched}"

        actions: list[Callable[[], str]] = [
            self._created(stack, router),
            self._deployed(stack),
            lambda: _uploaded(
                self.sitectl([*site, "upload", str(self.examples / "site-v1"), "--version", v1])
            ),
            lambda: _uploaded(
                self.sitectl([*site, "upload", str(self.examples / "site-v2"), "--version", v2])
            ),
            released(v1),
            lambda: _verified(self.sitectl([*site, "verify"])),
            released(v2, "--verify"),
            lambda: _rolled(self.sitectl([*site, "rollback", "--version", v1, "--yes"])),
            released(v2),
            rolled_back_now,
            emergency_guard,
            release_guard,
            self._created(promoted, router),
            self._deployed(promoted),
            promote,
            canary_started,
            canary_completed,
        ]
        return all(self._step(router, name, action) for name, action in zip(PLAN, actions, strict=True))

    def _canary_refused(self, stack: str, version: str) -> str:
        """On the Lambda@Edge router `sitectl canary` must refuse (exit 2) and change nothing."""
        target = self.stack_of(stack)
        before = target.get_version()
        try:
            self.sitectl(["--stack", stack, "canary", version, "--percent", "5", "--yes"])
        except RuntimeError as error:
            refusal = error.__cause__
            if (
                not isinstance(refusal, RefusedError)
                or "needs router cloudfront-function" not in refusal.message
            ):
                raise
            if (
                target.get_version() != before
                or target.get_config("versioned-site:canaryVersion") is not None
            ):
                raise RuntimeError(f"sitectl canary was refused but changed the config of {stack}") from error
            return f"refused: {refusal.message}"
        raise RuntimeError(f"sitectl canary ran on the lambda-edge router of {stack}: it must refuse")

    def _pulumi_line(self, line: str) -> None:
        self.say(line.rstrip("\n"))


def stack_config(run_id: str, router: str, region: str) -> dict[str, str]:
    """A throwaway stack's config: its router, a bucket Pulumi may empty and delete, every resource
    tagged with the run id (`aws:defaultTags`, which the component applies in every region)."""
    return {
        "aws:region": region,
        "versioned-site:router": router,
        "versioned-site:forceDestroyBucket": "true",
        "versioned-site:retainBucketOnDestroy": "false",
        "aws:defaultTags": json.dumps({"tags": {RUN_TAG: run_id}}),
    }


def _uploaded(result: Mapping[str, Any]) -> str:
    return f"version {result.get('version')} ({result.get('files', '?')} files)"


def _verified(result: Mapping[str, Any]) -> str:
    if not result.get("ok", False):
        raise RuntimeError(f"verify failed: {result}")
    return f"{len(result.get('checks', []))} checks passed"


def _rolled(result: Mapping[str, Any]) -> str:
    return f"{result.get('version')} live (was {result.get('from')})"


def cleanup(throwaway: Throwaway, ledger: Ledger, say: Callable[[str], None], ssm: Any) -> list[str]:
    """Destroy and remove every stack the ledger names, and delete the parameters it names that sitectl
    wrote outside Pulumi's state; what could not be removed, and why."""
    left: list[str] = []
    for stack in list(ledger.stacks):
        if not ledger.ours(stack):
            left.append(f"{stack}: not a stack of run {ledger.run_id}, not touched")
            continue
        if not throwaway.exists(stack):
            ledger.stacks.remove(stack)
            continue
        try:
            throwaway.destroy(stack)
            throwaway.remove(stack)
            ledger.stacks.remove(stack)
            say(f"cleaned up {stack}")
        except Exception as error:
            why = " ".join(str(error).split())
            note = LAMBDA_EDGE_NOTE.format(run_id=ledger.run_id) if "replicated function" in why else why
            left.append(f"{stack}: {note}")
    for name in list(ledger.parameters):
        if not ledger.parameter_is_ours(name):
            left.append(f"{name}: not a parameter of run {ledger.run_id}, not touched")
            continue
        try:
            ssm.delete_parameter(Name=name)
            say(f"deleted {name}")
        except ClientError as error:
            if error_code(error) != "ParameterNotFound":
                left.append(f"{name} (us-east-1): {error_code(error)}")
                continue
        ledger.parameters.remove(name)
    ledger.left = left
    ledger.save()
    return left


def sitectl_in_process(deps: Any) -> SitectlRunner:
    """sitectl's own commands, in this process, with `--json`: the result document, or the command's
    one-line error raised."""
    from scripts.sitectl import cli

    def run(args: Sequence[str]) -> dict[str, Any]:
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                cli.main(args=[*args, "--json"], obj=deps, standalone_mode=False, prog_name="sitectl")
        except Exception as error:
            # The result document came first (verify's problems, say): the report names the first.
            problems = _document(buffer.getvalue()).get("problems") or []
            raise RuntimeError(
                f"sitectl {' '.join(args)}: {error}" + (f": {problems[0]}" if problems else "")
            ) from error
        return _document(buffer.getvalue())

    def _document(text: str) -> dict[str, Any]:
        text = text.strip()
        try:
            document = json.loads(text.splitlines()[0] if text.startswith('{"error') else text)
        except (ValueError, IndexError):
            return {"output": text}
        return document if isinstance(document, dict) else {"output": document}

    return run


def pulumi_on_path(name: str) -> str | None:
    return shutil.which(name)
