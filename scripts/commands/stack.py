"""Access to the Pulumi stack through the Automation API, behind a small Protocol.

`sitectl` needs six things from a stack: its outputs, reading and writing the `version` config (and
other keys of the project: the canary's), a targeted `up`, a `preview`, and the update history. Tests
inject a fake `SiteStack`; the real adapter below stays a thin translation of `pulumi.automation.Stack`
(the Pulumi CLI must be on PATH). The version's config key is the stack's `versionConfigKey` output,
else `<project>:version` with the project's own name (`scripts/commands/project.py`): nothing here
assumes the project is called versioned-site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from edge_lambda import layout
from scripts.commands.errors import RefusedError, SitectlError
from scripts.commands.project import VERSION_CONFIG_KEY_OUTPUT, project_name, version_config_key

OutputCallback = Callable[[str], Any]
EventCallback = Callable[[Any], Any]  # the Automation API's structured engine events (`on_event`)

# The engine's refusal of a targeted update whose untargeted resources use a provider that changed,
# e.g. a new default provider version after a pulumi-aws upgrade (pkg/resource/deploy/step_generator.go:
# "provider %s for resource %s has not been registered yet, this is due to a change of providers mixed
# with --target. Change your program back to the original providers"; docs/releases.md, "Targeted releases").
PROVIDERS_CHANGED_WITH_TARGET = "due to a change of providers mixed with --target"


def refused_for_changed_providers(error: BaseException) -> bool:
    """Whether a failed `up`/`preview` is the engine refusing --target because providers changed."""
    return PROVIDERS_CHANGED_WITH_TARGET in " ".join(str(error).split())


# Another update holds the stack's lock: the Automation API raises ConcurrentUpdateError when the CLI
# says so (pulumi/automation/errors.py: Pulumi Cloud's "[409] Conflict: Another update is currently in
# progress.", a self-managed backend's "the stack is currently locked by").
STACK_LOCKED = ("Another update is currently in progress", "the stack is currently locked by")


def locked_by_another_update(error: BaseException) -> bool:
    """Whether a failed `up` found the stack locked by another update (a release running meanwhile)."""
    if type(error).__name__ == "ConcurrentUpdateError":
        return True
    text = " ".join(str(error).split())
    return any(sign in text for sign in STACK_LOCKED)


@dataclass(frozen=True)
class StackUpdate:
    """One entry of a stack's update history."""

    kind: str  # update, preview, refresh, destroy...
    started: datetime
    ended: datetime | None
    result: str  # succeeded, failed, in-progress
    version: str | None  # the `version` config the update ran with; None when unset
    user: str | None
    message: str
    canary: str | None = None  # the canary the update ran with, as its record says it (`V 5`); None: none


class SiteStack(Protocol):
    """What `sitectl` uses of a Pulumi stack."""

    @property
    def name(self) -> str: ...

    @property
    def version_key(self) -> str:
        """The config key of the live version, e.g. `versioned-site:version`."""
        ...

    def outputs(self) -> Mapping[str, Any]:
        """The stack outputs as plain values."""
        ...

    def get_version(self) -> str | None:
        """The value of the `version_key` config, or None when it is not set."""
        ...

    def set_version(self, value: str | None) -> None:
        """Set the `version_key` config; None removes it."""
        ...

    def get_config(self, key: str) -> str | None:
        """The value of another config key (full: `<project>:canaryVersion`), or None when unset."""
        ...

    def set_config(self, key: str, value: str | None) -> None:
        """Set another config key (full); None removes it (nothing to remove is no error)."""
        ...

    def up(self, targets: list[str], message: str, on_output: OutputCallback) -> str:
        """`pulumi up --target ...`, streaming output; returns the update result."""
        ...

    def preview(self, targets: list[str], message: str, on_output: OutputCallback) -> str:
        """`pulumi preview --target ...`, streaming output; returns a summary of the changes."""
        ...

    def history(self) -> list[StackUpdate]:
        """Past updates, newest first."""
        ...

    def resource_outputs(self, urns: list[str]) -> dict[str, Mapping[str, Any]]:
        """The outputs the stack's state holds for these resources (those it has), by URN."""
        ...


StackFactory = Callable[[str], SiteStack]

# Keys of the update environment the Pulumi CLI records, by preference, to say who ran an update.
_USER_KEYS = ("git.author", "git.committer", "pulumi.user", "exec.user")


class PulumiStack:
    """A `SiteStack` backed by `pulumi.automation` (needs the Pulumi CLI)."""

    def __init__(self, stack: Any, project: str, on_event: EventCallback | None = None) -> None:
        self._stack = stack
        self._project = project
        self._version_key: str | None = None
        # `sitectl e2e` reads the engine's own messages (scripts/e2e/engine.py) from the event stream.
        self._events: dict[str, EventCallback] = {} if on_event is None else {"on_event": on_event}

    @property
    def name(self) -> str:
        return str(self._stack.name)

    @property
    def version_key(self) -> str:
        """The key the program names in its `versionConfigKey` output (a consumer in another language
        chooses its own), else the project's `version`."""
        if self._version_key is None:
            exported = self.outputs().get(VERSION_CONFIG_KEY_OUTPUT)
            self._version_key = exported if isinstance(exported, str) and exported else None
            self._version_key = self._version_key or version_config_key(self._project)
        return self._version_key

    def outputs(self) -> Mapping[str, Any]:
        return {key: output.value for key, output in self._stack.outputs().items()}

    def get_version(self) -> str | None:
        from pulumi.automation import CommandError

        try:
            return str(self._stack.get_config(self.version_key).value)
        except CommandError:
            return None

    def set_version(self, value: str | None) -> None:
        from pulumi.automation import ConfigValue

        if value is None:
            self._stack.remove_config(self.version_key)
        else:
            self._stack.set_config(self.version_key, ConfigValue(value=value))

    def get_config(self, key: str) -> str | None:
        from pulumi.automation import CommandError

        try:
            return str(self._stack.get_config(key).value)
        except CommandError:
            return None

    def set_config(self, key: str, value: str | None) -> None:
        from pulumi.automation import ConfigValue

        if value is None:
            # `pulumi config rm` of an unset key is no error (pkg/cmd/pulumi/config: a map delete).
            self._stack.remove_config(key)
        else:
            self._stack.set_config(key, ConfigValue(value=value))

    def up(self, targets: list[str], message: str, on_output: OutputCallback) -> str:
        result = self._stack.up(target=targets, message=message, on_output=on_output, **self._events)
        return str(result.summary.result)

    def preview(self, targets: list[str], message: str, on_output: OutputCallback) -> str:
        result = self._stack.preview(target=targets, message=message, on_output=on_output, **self._events)
        return ", ".join(f"{op}: {count}" for op, count in sorted(result.change_summary.items()))

    def resource_outputs(self, urns: list[str]) -> dict[str, Mapping[str, Any]]:
        # The state a targeted `up` writes for its targets (`pulumi stack export`); its stack outputs
        # are not a reliable record of them (scripts/commands/verify.py, wait_for_invalidations).
        resources = (self._stack.export_stack().deployment or {}).get("resources") or []
        return {r["urn"]: dict(r.get("outputs") or {}) for r in resources if r.get("urn") in urns}

    def history(self) -> list[StackUpdate]:
        entries = []
        for summary in self._stack.history():
            config = summary.config.get(self.version_key)
            namespace = self.version_key.rsplit(":", 1)[0]
            canary = summary.config.get(f"{namespace}:canaryVersion")
            percent = summary.config.get(f"{namespace}:canaryPercent")
            environment = summary.environment or {}
            user = next((environment[k] for k in _USER_KEYS if environment.get(k)), None)
            entries.append(
                StackUpdate(
                    kind=str(summary.kind),
                    started=summary.start_time,
                    ended=summary.end_time,
                    result=str(summary.result),
                    version=None if config is None else str(config.value),
                    user=user,
                    message=str(summary.message or ""),
                    canary=(
                        layout.canary_record(str(canary.value), int(percent.value))
                        if canary is not None and canary.value and percent is not None
                        else None
                    ),
                )
            )
        return entries


# A missing tool is refused like bad input (exit 2): nothing was attempted, and the fix is the caller's.
PULUMI_INSTALL = "install it (https://www.pulumi.com/docs/install/) and put `pulumi` on PATH"


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory holding Pulumi.yaml, from `start` (default: the working directory) up,
    else the directory this package was installed from."""
    for candidate in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return Path(__file__).resolve().parents[2]


def select_stack(name: str, work_dir: Path | None = None, on_event: EventCallback | None = None) -> SiteStack:
    """Select an existing stack of the project with the Automation API (`on_event`: the engine's
    events of each `up` and `preview`)."""
    from pulumi import automation

    root = work_dir or find_project_root()
    project = project_name(root)
    try:
        return PulumiStack(automation.select_stack(stack_name=name, work_dir=str(root)), project, on_event)
    except FileNotFoundError as error:
        raise RefusedError(
            f"the Pulumi CLI is not installed (needed for stack {name!r}): {PULUMI_INSTALL}"
        ) from error
    except automation.StackNotFoundError as error:
        raise RefusedError(f"Pulumi stack {name!r} does not exist in {root}") from error
    except automation.CommandError as error:
        raise SitectlError(f"Pulumi could not select stack {name!r}: {_first_line(error)}") from error


def list_stack_names(work_dir: Path | None = None) -> list[str]:
    """Every stack of the project, as `pulumi stack ls` shows them."""
    from pulumi import automation

    root = work_dir or find_project_root()
    try:
        workspace = automation.LocalWorkspace(work_dir=str(root))
        return [summary.name for summary in workspace.list_stacks()]
    except FileNotFoundError as error:
        raise RefusedError(
            f"the Pulumi CLI is not installed (needed to list stacks): {PULUMI_INSTALL}"
        ) from error
    except automation.CommandError as error:
        raise SitectlError(f"Pulumi could not list stacks: {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__
