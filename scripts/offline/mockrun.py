"""Run any Pulumi Python program in-process under Pulumi's mock runtime, as a preview would.

`run_program` records every resource the program registers the way the engine would hand it to a
policy pack: type, name, URN, camelCase inputs, parent, dependencies, property dependencies,
provider and options. Values the real engine would not know during `pulumi preview` (a new
resource's id and every output that is not one of its inputs, and anything computed from them) stay
unknown, and are recorded with pulumi_policy's unknown sentinel. Nothing reaches a cloud: invokes are
answered by `PreviewMocks.call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockCallArgs, MockEngine, MockMonitor, MockResourceArgs, Mocks, MockSettings
from pulumi.runtime.stack import run_in_stack
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

# The signature of a serialized resource reference (pulumi/runtime/rpc.py, _special_resource_sig).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"

STACK_TYPE = "pulumi:pulumi:Stack"
_PROVIDER_TYPE_PREFIX = "pulumi:providers:"
MOCK_ACCOUNT_ID = "123456789012"


class ProgramError(Exception):
    """The program could not be loaded or raised while running; the message carries its error."""


@dataclass
class RecordedResource:
    type: str
    name: str
    urn: str
    custom: bool
    props: dict[str, Any]
    parent: str | None = None
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str | None = None  # URN of the provider resource (explicit or default)
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool | None = None
    aliases: list[str] = field(default_factory=list)
    custom_timeouts: tuple[float, float, float] = (0.0, 0.0, 0.0)
    additional_secret_outputs: list[str] = field(default_factory=list)
    read: bool = False  # looked up with `.get()`, not managed by the program

    @property
    def is_provider(self) -> bool:
        return self.type.startswith(_PROVIDER_TYPE_PREFIX)


@dataclass
class ProgramRun:
    project: str
    stack: str
    config: dict[str, str]
    resources: list[RecordedResource]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}


# ---------------------------------------------------------------------------------------------------
# Project and config


def _config_value(value: Any) -> str:
    """Config values reach a program as strings; structured ones as JSON (as the CLI passes them)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _qualify(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_project(program_dir: Path) -> tuple[str, dict[str, str]]:
    """The project name and the config defaults of `program_dir/Pulumi.yaml`."""
    project_file = next(
        (program_dir / n for n in ("Pulumi.yaml", "Pulumi.yml") if (program_dir / n).exists()), None
    )
    if project_file is None:
        raise ProgramError(f"{program_dir} has no Pulumi.yaml: not a Pulumi program directory")
    try:
        project = yaml.safe_load(project_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProgramError(f"{project_file}: invalid YAML: {exc}") from exc
    name = project.get("name")
    if not isinstance(name, str) or not name:
        raise ProgramError(f"{project_file} has no project name")
    defaults: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, Mapping):
            if "default" in spec:
                defaults[_qualify(key, name)] = _config_value(spec["default"])
            elif "value" in spec:
                defaults[_qualify(key, name)] = _config_value(spec["value"])
        elif spec is not None:
            defaults[_qualify(key, name)] = _config_value(spec)
    return name, defaults


def load_stack_config(program_dir: Path, project: str, stack: str) -> dict[str, str]:
    """Plain values of `Pulumi.<stack>.yaml` (`secure:` values cannot be decrypted offline: left out)."""
    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        return {}
    try:
        document = yaml.safe_load(stack_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProgramError(f"{stack_file}: invalid YAML: {exc}") from exc
    values: dict[str, str] = {}
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, Mapping) and "secure" in value:
            continue
        values[_qualify(key, project)] = _config_value(value)
    return values


def parse_config_overrides(pairs: list[str], project: str) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"config {pair!r} is not key=value")
        values[_qualify(key.strip(), project)] = value
    return values


# ---------------------------------------------------------------------------------------------------
# Mocks: what the engine and providers would answer during a preview


def _render_policy_document(args: Mapping[str, Any]) -> str:
    """`aws.iam.get_policy_document`, rendered the way the provider does (single values unwrapped)."""

    def one_or_many(values: list[Any]) -> Any:
        return values[0] if len(values) == 1 else values

    statements = []
    for spec in args.get("statements") or []:
        statement: dict[str, Any] = {}
        if spec.get("sid"):
            statement["Sid"] = spec["sid"]
        statement["Effect"] = spec.get("effect") or "Allow"
        for source, target in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if spec.get(source):
                statement[target] = one_or_many(list(spec[source]))
        for source, target in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            principals = spec.get(source) or []
            if any(p.get("type") == "*" for p in principals):
                statement[target] = "*"
            elif principals:
                statement[target] = {
                    p["type"]: one_or_many(list(p.get("identifiers") or [])) for p in principals
                }
        conditions: dict[str, dict[str, Any]] = {}
        for condition in spec.get("conditions") or []:
            conditions.setdefault(condition["test"], {})[condition["variable"]] = one_or_many(
                list(condition.get("values") or [])
            )
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements})


def _as_outputs(value: Any) -> Any:
    """Inputs echoed back as outputs. A policy document given as an object is an output string
    (the provider normalises it to JSON), and the SDK checks output types."""
    if isinstance(value, Mapping):
        if "Statement" in value:
            return json.dumps(value)
        return {k: _as_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_outputs(v) for v in value]
    return value


class PreviewMocks(Mocks):
    """A new resource's state is its inputs: every other output stays unknown during the preview."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ.startswith(_PROVIDER_TYPE_PREFIX):
            # The engine gives providers an id during preview; a resource references one as `urn::id`.
            return f"{args.name}-provider-id", _as_outputs(args.inputs)
        if args.resource_id:
            return args.resource_id, _as_outputs(args.inputs)
        # An empty id during preview tells the SDK the id is unknown, as for a resource yet to be created.
        return "", _as_outputs(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/policy-check"
            return {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": arn,
                "userId": "AIDPOLICYCHECK",
                "id": MOCK_ACCOUNT_ID,
            }, []
        if token == "aws:index/getRegion:getRegion":
            region = args.args.get("region") or args.args.get("name") or self.region
            return {"region": region, "name": region, "id": region}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            rendered = _render_policy_document(args.args)
            return {"json": rendered, "minifiedJson": rendered, "id": "policy-document"}, []
        return {}, []


def _plain_properties(struct: Any) -> dict[str, Any]:
    """Protobuf properties as the engine hands them to an analyzer: unknowns as sentinels,
    resource references as the referenced resource's id (or URN for components), secrets unwrapped."""

    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            if value.get(_SIG_KEY) == _RESOURCE_REFERENCE_SIG:
                if "id" in value:
                    return value["id"] or UNKNOWN_STRING_VALUE
                return value.get("urn", UNKNOWN_STRING_VALUE)
            return {k: convert(v) for k, v in value.items()}
        return value

    return deserialize_properties(convert(json_format.MessageToDict(struct)))


class RecordingMonitor(MockMonitor):
    """The mock resource monitor, keeping the full registration of every resource."""

    def __init__(self, mocks: Mocks, config: Mapping[str, str]) -> None:
        super().__init__(mocks)
        self.config = config
        self.recorded: list[RecordedResource] = []
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine does, children of the root stack do not carry its type in their URN.
        if parent and parent.split("::")[2] == STACK_TYPE:
            parent = ""
        return super().make_urn(parent, type_, name)

    def _provider_urn(self, reference: str, type_token: str, version: str) -> str | None:
        if reference:
            # A provider reference is `<urn>::<id>`; the URN itself contains `::`.
            return reference.rsplit("::", 1)[0]
        package = type_token.split(":", 1)[0]
        if package == "pulumi":
            return None
        return self._default_provider(package, version)

    def _default_provider(self, package: str, version: str) -> str:
        """The engine's default provider for `package`, configured from the `<package>:` config keys."""
        name = "default_" + version.replace(".", "_") if version else "default"
        urn = self.make_urn("", f"{_PROVIDER_TYPE_PREFIX}{package}", name)
        with self._lock:
            if any(r.urn == urn for r in self.recorded):
                return urn
            prefix = f"{package}:"
            props: dict[str, Any] = {
                k[len(prefix) :]: v for k, v in self.config.items() if k.startswith(prefix)
            }
            if version:
                props["version"] = version
            self.recorded.append(
                RecordedResource(f"{_PROVIDER_TYPE_PREFIX}{package}", name, urn, True, props)
            )
        return urn

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        urn = response.urn
        custom = bool(request.custom)
        timeouts = request.customTimeouts
        resource = RecordedResource(
            type=request.type,
            name=request.name,
            urn=urn,
            custom=custom,
            props=_plain_properties(request.object),
            parent=request.parent or None,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=self._provider_urn(request.provider, request.type, request.version) if custom else None,
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            aliases=list(request.aliasURNs),
            custom_timeouts=(
                _seconds(timeouts.create) if timeouts else 0.0,
                _seconds(timeouts.update) if timeouts else 0.0,
                _seconds(timeouts.delete) if timeouts else 0.0,
            ),
            additional_secret_outputs=list(request.additionalSecretOutputs),
        )
        with self._lock:
            self.recorded.append(resource)
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        resource = RecordedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=True,
            props=_plain_properties(request.properties),
            parent=request.parent or None,
            dependencies=list(request.dependencies),
            provider=self._provider_urn(request.provider, request.type, request.version),
            read=True,
        )
        with self._lock:
            self.recorded.append(resource)
        return response


def _seconds(duration: str) -> float:
    """A Go duration such as `5m`, `1h30m` or `90s`, as seconds (0 when empty or unparsable)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    total, number = 0.0, ""
    for char in duration or "":
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            return 0.0
    return total


# ---------------------------------------------------------------------------------------------------
# Running a program


def _program_traceback(exc: BaseException) -> str:
    """The error with the frames of the program (and its libraries), without the runtime's own."""
    runtime_dirs = (str(Path(asyncio.__file__).parent), str(Path(run_in_stack.__code__.co_filename).parent))
    summary = traceback.TracebackException.from_exception(exc)
    summary.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in summary.stack
            if frame.filename != __file__
            and not frame.filename.startswith(runtime_dirs)
            and not frame.filename.startswith("<frozen")
        ]
    )
    return "".join(summary.format()).rstrip()


@contextlib.contextmanager
def _program_environment(program_dir: Path) -> Iterator[None]:
    """cwd = the program's directory, which also goes first on sys.path; modules it imports from there
    are forgotten afterwards, so that several programs can run in one process."""
    previous_cwd = os.getcwd()
    previous_path = list(sys.path)
    previous_modules = set(sys.modules)
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.path[:] = previous_path
        for name in set(sys.modules) - previous_modules:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if not module_file:
                continue
            path = Path(module_file).resolve()
            # A program's virtualenv often lives in its directory: installed packages stay imported
            # (pulumi_aws, for one, refuses to register itself twice in a process).
            if path.is_relative_to(program_dir) and "site-packages" not in path.parts:
                module = sys.modules.pop(name)
                # A package imported before the run would still hand out the forgotten submodule.
                parent, _, child = name.rpartition(".")
                if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
                    delattr(sys.modules[parent], child)


def run_program(
    program_dir: Path,
    stack: str = "policy-check",
    config_overrides: list[str] | None = None,
    use_stack_config: bool = False,
    mocks: Mocks | None = None,
    preview: bool = True,
) -> ProgramRun:
    """Run the program in `program_dir` as `pulumi preview` would, and return what it registered.

    Config: the defaults of Pulumi.yaml, then (with `use_stack_config`) `Pulumi.<stack>.yaml`, then
    `config_overrides` (`key=value`; a key without a namespace belongs to the project).
    Raises ProgramError when the program cannot be found or raises.

    `mocks` replaces PreviewMocks, e.g. with mocks that answer the outputs an update knows (tests);
    `preview=False` runs the program as during `pulumi up`.
    """
    program_dir = program_dir.resolve()
    project, config = load_project(program_dir)
    if use_stack_config:
        config.update(load_stack_config(program_dir, project, stack))
    try:
        config.update(parse_config_overrides(config_overrides or [], project))
    except ValueError as exc:
        raise ProgramError(str(exc)) from exc
    main = program_dir / "__main__.py"
    if not main.exists():
        raise ProgramError(f"{program_dir} has no __main__.py: only Python programs can be checked")

    def run_main() -> None:
        runpy.run_path(str(main), run_name="__main__")

    with _program_environment(program_dir):
        return run_inline(run_main, project, stack, config, mocks=mocks, preview=preview)


def run_inline(
    program: Callable[[], None],
    project: str,
    stack: str = "policy-check",
    config: Mapping[str, str] | None = None,
    mocks: Mocks | None = None,
    preview: bool = True,
) -> ProgramRun:
    """Run `program` (a function declaring resources) as a preview would; see `run_program`.

    `config` holds fully qualified keys (`project:key`, `aws:region`) with string values.
    """
    config = dict(config or {})
    monitor = RecordingMonitor(mocks or PreviewMocks(region=config.get("aws:region", "us-east-1")), config)

    def run() -> None:
        pulumi_settings.ROOT.set(None)
        settings = MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=MockEngine(None),
            project=project,
            stack=stack,
            dry_run=preview,
            organization="organization",
            callbacks=None,
        )
        pulumi_settings.configure(settings)
        # MockSettings leaves the set of pending outputs (and its lock) to the caller's context, and
        # the SDK keeps a failed or cancelled output in that set "to pick up at program exit". Shared,
        # a failed run hands its dead tasks, bound to its closed loop, to the next run, whose
        # wait_for_rpcs then fails with "Event loop is closed". Each run gets its own.
        pulumi_settings.SETTINGS.outputs = set()
        pulumi_settings.SETTINGS.lock = threading.Lock()
        pulumi_config.set_all_config(dict(config), [])

        # The caller's event loop (a test's, say) comes back afterwards.
        previous_loop = asyncio.get_event_loop_policy().get_event_loop()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # Once the program has failed, its other pending outputs fail too: that is noise, not news
        # (the Pulumi language host silences the same logger).
        asyncio_logger = logging.getLogger("asyncio")
        previous_level = asyncio_logger.level
        asyncio_logger.setLevel(logging.CRITICAL)
        try:
            loop.run_until_complete(run_in_stack(program))
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    loop.run_until_complete(task)
            # The SDK calls the monitor from the loop's default executor. loop.close() does not wait
            # for those threads: one still registering a resource (and importing, compiling) would run
            # into the next run or the caller, and CPython 3.11's compiler is not safe against that
            # ("AST constructor recursion depth mismatch"). Wait for them here.
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(previous_loop)
            asyncio_logger.setLevel(previous_level)

    try:
        # A copy of the context keeps the mock settings, config and root stack to this run.
        contextvars.copy_context().run(run)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise ProgramError(f"the program exited with status {exc.code}") from exc
    except Exception as exc:  # the program's own failure, whatever it is
        raise ProgramError(f"the program failed: {_program_traceback(exc)}") from exc

    # The root stack first, as in a deployment's snapshot.
    resources = sorted(monitor.recorded, key=lambda r: r.type != STACK_TYPE)
    return ProgramRun(project=project, stack=stack, config=config, resources=resources)
