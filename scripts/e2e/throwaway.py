"""The Pulumi side of an e2e run: throwaway stacks of this project through the Automation API (the
Pulumi CLI must be on PATH). A local backend under `.e2e/backend` by default, so no Pulumi Cloud
account is needed; `PULUMI_BACKEND_URL` picks another."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class PulumiThrowaway:
    def __init__(
        self,
        project_dir: Path,
        state_dir: Path,
        on_output: Callable[[str], Any],
        on_event: Callable[[Any], Any],
    ) -> None:
        self._dir = project_dir
        self._on_output = on_output
        self._on_event = on_event  # the engine's messages and summaries (scripts/e2e/engine.py)
        self._env = {"PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", state_dir.resolve().as_uri())}
        state_dir.mkdir(parents=True, exist_ok=True)

    def _workspace(self) -> Any:
        from pulumi import automation

        return automation.LocalWorkspace(work_dir=str(self._dir), env_vars=self._env)

    def _stack(self, name: str) -> Any:
        from pulumi import automation

        return automation.select_stack(stack_name=name, work_dir=str(self._dir), opts=self._options())

    def _options(self) -> Any:
        from pulumi import automation

        return automation.LocalWorkspaceOptions(env_vars=self._env)

    def exists(self, stack: str) -> bool:
        return any(summary.name == stack for summary in self._workspace().list_stacks())

    def create(self, stack: str, config: Mapping[str, str]) -> None:
        from pulumi import automation

        created = automation.create_stack(stack_name=stack, work_dir=str(self._dir), opts=self._options())
        created.set_all_config({key: automation.ConfigValue(value=value) for key, value in config.items()})

    def up(self, stack: str) -> str:
        result = self._stack(stack).up(
            on_output=self._on_output, on_event=self._on_event, message=f"sitectl e2e {stack}"
        )
        return f"pulumi up: {result.summary.result}"

    def destroy(self, stack: str) -> str:
        result = self._stack(stack).destroy(on_output=self._on_output, on_event=self._on_event)
        return f"pulumi destroy: {result.summary.result}"

    def remove(self, stack: str) -> None:
        self._workspace().remove_stack(stack)
