"""The thin Automation API adapter: what it passes to `pulumi.automation.Stack` and how it reads
the answers back. The Pulumi CLI cannot run here, so the inner stack is a recording stand-in built
from the Automation API's own result types."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import CommandError, ConfigValue, Deployment, OutputValue
from pulumi.automation._cmd import CommandResult
from pulumi.automation._stack import PreviewResult, UpdateSummary, UpResult

from scripts.commands.errors import SitectlError
from scripts.commands.stack import (
    PulumiStack,
    find_project_root,
    refused_for_changed_providers,
    select_stack,
)

V1 = "20261101T100000Z"
VERSION_CONFIG_KEY = "versioned-site:version"


def summary(
    version: str | None, result: str = "succeeded", environment: dict[str, str] | None = None
) -> UpdateSummary:
    config = {} if version is None else {VERSION_CONFIG_KEY: {"value": version, "secret": False}}
    return UpdateSummary(
        kind="update",
        start_time=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        message=f"sitectl release {version} by ci",
        environment=environment or {},
        config=config,
        result=result,
        end_time=datetime(2026, 11, 27, 10, 1, tzinfo=UTC),
    )


class RecordingStack:
    name = "dev"

    def __init__(self, exported: dict[str, OutputValue] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.config: dict[str, ConfigValue] = {}
        self.exported = exported or {}

    def last_call(self) -> tuple[str, Any]:
        return self.calls[-1]

    def outputs(self) -> dict[str, OutputValue]:
        return {
            "bucketName": OutputValue("site-bucket", False),
            "releaseTargets": OutputValue(["urn:a"], False),
            **self.exported,
        }

    def get_config(self, key: str) -> ConfigValue:
        if key not in self.config:
            raise CommandError(CommandResult("", f"error: configuration key '{key}' not found", 255))
        return self.config[key]

    def set_config(self, key: str, value: ConfigValue) -> None:
        self.calls.append(("set_config", (key, value.value)))
        self.config[key] = value

    def remove_config(self, key: str) -> None:
        self.calls.append(("remove_config", key))
        self.config.pop(key, None)

    def up(self, **kwargs: Any) -> UpResult:
        self.calls.append(("up", kwargs))
        kwargs["on_output"]("Updating (dev)")
        return UpResult("", "", summary(V1), {})

    def preview(self, **kwargs: Any) -> PreviewResult:
        self.calls.append(("preview", kwargs))
        return PreviewResult("", "", {"update": 1, "same": 30})  # type: ignore[dict-item]

    def export_stack(self) -> Deployment:
        switch = {"urn": "urn:b", "outputs": {"version": V1, "invalidation_id": "I2J4EXAMPLE"}}
        return Deployment(3, {"resources": [{"urn": "urn:stack"}, {"urn": "urn:a"}, switch]})

    def history(self) -> list[UpdateSummary]:
        return [
            summary(V1, environment={"git.author": "Ada <ada@example.com>", "exec.kind": "auto.local"}),
            summary(None, result="failed"),
        ]


def test_adapter_translates_the_automation_api() -> None:
    inner = RecordingStack()
    stack = PulumiStack(inner, "versioned-site")
    assert stack.name == "dev"
    assert stack.outputs() == {"bucketName": "site-bucket", "releaseTargets": ["urn:a"]}
    assert stack.get_version() is None
    stack.set_version(V1)
    assert inner.calls[-1] == ("set_config", ("versioned-site:version", V1))
    assert stack.get_version() == V1
    stack.set_version(None)
    assert inner.calls[-1] == ("remove_config", "versioned-site:version")

    lines: list[str] = []
    assert stack.up(["urn:a", "urn:b"], "sitectl release", lines.append) == "succeeded"
    name, kwargs = inner.last_call()
    assert name == "up" and kwargs["target"] == ["urn:a", "urn:b"] and kwargs["message"] == "sitectl release"
    assert lines == ["Updating (dev)"]
    assert stack.preview(["urn:a"], "m", lines.append) == "same: 30, update: 1"
    assert inner.last_call()[1]["target"] == ["urn:a"]

    # The state of the targets (`pulumi stack export`): a resource without outputs has none.
    assert stack.resource_outputs(["urn:a", "urn:b"]) == {
        "urn:a": {},
        "urn:b": {"version": V1, "invalidation_id": "I2J4EXAMPLE"},
    }
    assert stack.resource_outputs(["urn:c"]) == {}

    history = stack.history()
    assert [(u.version, u.result, u.user) for u in history] == [
        (V1, "succeeded", "Ada <ada@example.com>"),
        (None, "failed", None),
    ]


def test_the_version_key_is_the_projects_own_or_the_one_the_stack_exports() -> None:
    """A renamed project, and a program (in any language) that reads its version from another key and
    exports that key as `versionConfigKey`: sitectl sets, reads and finds in the history that key."""
    renamed = RecordingStack()
    stack = PulumiStack(renamed, "shop-site")
    assert stack.version_key == "shop-site:version"
    stack.set_version(V1)
    assert renamed.calls[-1] == ("set_config", ("shop-site:version", V1))

    consumer = RecordingStack({"versionConfigKey": OutputValue("platform:siteVersion", False)})
    stack = PulumiStack(consumer, "platform")
    stack.set_version(V1)
    assert consumer.calls[-1] == ("set_config", ("platform:siteVersion", V1))
    assert stack.get_version() == V1
    stack.set_version(None)
    assert consumer.calls[-1] == ("remove_config", "platform:siteVersion")
    # The history's config is read under the same key: the default project key finds nothing there.
    consumer.history = lambda: [  # type: ignore[method-assign]
        UpdateSummary(
            kind="update",
            start_time=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
            message="",
            environment={},
            config={"platform:siteVersion": {"value": V1, "secret": False}},
            result="succeeded",
            end_time=None,
        )
    ]
    assert [u.version for u in stack.history()] == [V1]


def test_selecting_a_stack_without_the_pulumi_cli_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    with pytest.raises(SitectlError, match="Pulumi CLI is not installed") as raised:
        select_stack("dev", find_project_root())
    # Nothing was attempted and the fix is the caller's: refused, exit 2, like bad input.
    assert raised.value.exit_code == 2
    assert "https://www.pulumi.com/docs/install/" in raised.value.message


def test_project_root_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: versioned-site\n")
    (tmp_path / "site" / "dist").mkdir(parents=True)
    assert find_project_root(tmp_path / "site" / "dist") == tmp_path.resolve()


def test_the_engines_refusal_of_target_with_changed_providers_is_recognised() -> None:
    """The Automation API raises CommandError carrying the CLI's stderr; the engine's sentence
    (pkg/resource/deploy/step_generator.go) may arrive wrapped over lines."""
    stderr = (
        "error: provider urn:pulumi:dev::versioned-site::pulumi:providers:aws::default_7_52_0::04da6b54 for "
        "resource urn:pulumi:dev::versioned-site::aws:s3/bucket:Bucket::site-bucket has not been registered "
        "yet, this is due to a change\nof providers mixed with --target. Change your program back to the "
        "original providers"
    )
    refused = CommandError(CommandResult("Updating (dev)", stderr, 255))
    assert refused_for_changed_providers(refused) is True
    other = CommandError(CommandResult("", "error: update failed: AccessDenied", 255))
    assert refused_for_changed_providers(other) is False
