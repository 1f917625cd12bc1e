"""`sitectl status`: drift between the local config, the last deployment, the pointer and the URL, each
reported with the command that fixes it (moto and the fake stack)."""

from __future__ import annotations

import json

import pytest

from tests.sitectl_scaffold import URL, V1, V2, World, put_version, world

__all__ = ["world"]


def _site(world: World, live: str, served: str) -> None:
    for version in (V1, V2):
        put_version(world, version, {"index.html": f"<html>{version}</html>".encode()})
    world.set_live(live)
    world.pages[f"{URL}/index.html"] = f"<html>{served}</html>".encode()


def _status(world: World) -> dict[str, object]:
    result = world.invoke("status", "--stack", "test", "--json")
    assert result.exit_code == 0, result.output
    status: dict[str, object] = json.loads(result.stdout)
    return status


def test_all_four_agree(world: World) -> None:
    _site(world, live=V2, served=V2)
    world.stack.version, world.stack.deployed = V2, V2
    status = _status(world)
    seen = (status["configured"], status["deployed"], status["parameter"], status["served"])
    assert seen == (V2, V2, V2, V2)
    assert status["problems"] == [] and status["consistent"] is True
    assert world.invoke("status", "--stack", "test", "--check").exit_code == 0


@pytest.mark.parametrize(
    ("local", "problem"),
    [
        (
            "",
            f"stack config says '' but the parameter holds '{V2}': a `pulumi up` from this checkout would "
            "be refused (it would take the site offline). Keep what is live: "
            f"`sitectl release --version {V2} --config-only` and commit Pulumi.test.yaml",
        ),
        (
            V1,
            f"stack config says '{V1}' but the parameter holds '{V2}': a `pulumi up` from this checkout "
            f"would roll the site back to {V1}. Keep what is live: "
            f"`sitectl release --version {V2} --config-only` and commit Pulumi.test.yaml; or deploy the "
            f"config: `sitectl release --version {V1} --yes`",
        ),
    ],
)
def test_a_stale_local_config_names_the_fix(world: World, local: str, problem: str) -> None:
    _site(world, live=V2, served=V2)
    world.stack.version, world.stack.deployed = local, V2
    assert _status(world)["problems"] == [problem]
    checked = world.invoke("status", "--stack", "test", "--check")
    assert checked.exit_code == 1
    assert f"DISAGREE: {problem}" in checked.output


def test_a_deployment_that_failed_after_the_pointer_changed(world: World) -> None:
    _site(world, live=V2, served=V2)
    world.stack.version, world.stack.deployed = V2, V1
    assert _status(world)["problems"] == [
        f"the last deployment set {V1} (stack output liveVersion) but the parameter holds {V2}: an update "
        "failed after the pointer changed, or the pointer was changed outside Pulumi; "
        f"`sitectl release --version {V2} --yes` finishes the switch and records it"
    ]


def test_the_url_still_serving_the_old_version_names_the_invalidation(world: World) -> None:
    _site(world, live=V2, served=V1)
    world.stack.version, world.stack.deployed = V2, V2
    world.stack.extra_outputs["distributionId"] = "E2SITECDN"
    assert _status(world)["problems"] == [
        f"the URL serves {V1} but the parameter holds {V2}: right after a release, wait for the edge TTL "
        "and the invalidation (a minute or two); if it persists, "
        "`aws cloudfront create-invalidation --distribution-id E2SITECDN --paths '/*'`"
    ]


def test_with_the_function_router_a_url_behind_the_parameter_names_the_store_key(world: World) -> None:
    _site(world, live=V2, served=V1)
    world.stack.version, world.stack.deployed = V2, V2
    world.stack.extra_outputs["router"] = "cloudfront-function"
    assert _status(world)["problems"] == [
        f"the URL serves {V1} but the parameter holds {V2}: the function reads the KeyValueStore key the "
        "same update writes after the parameter; if it persists beyond a few seconds, the key was not "
        f"written: `sitectl release --version {V2} --yes` writes it"
    ]
