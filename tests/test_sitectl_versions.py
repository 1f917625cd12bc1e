"""versions, prune and status against moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_lambda import layout
from scripts.commands.prune import plan_prune
from scripts.commands.site import HttpAnswer
from scripts.sitectl import cli
from scripts.versionstore import store as storage
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    URL,
    V1,
    V2,
    V3,
    V4,
    FakeStack,
    World,
    backdate,
    keys,
    put_version,
    world,
)

__all__ = ["world"]


def files(count: int, marker: str = "") -> dict[str, bytes]:
    return {"index.html": f"<html>{marker}</html>".encode(), **{f"p/{i}.txt": b"x" * i for i in range(count)}}


def test_versions_lists_every_version_newest_first(world: World) -> None:
    put_version(world, V1, files(2))
    put_version(world, V2, files(3))
    put_version(world, V3, files(1), complete=False)
    world.set_live(V2)
    result = world.invoke("--bucket", BUCKET, "--parameter", PARAMETER, "versions", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["live"] == V2
    rows = [
        (v["version"], v["complete"], v["file_count"], v["total_bytes"], v["live"]) for v in data["versions"]
    ]
    assert rows == [
        (V3, False, None, None, False),
        (V2, True, 4, len(b"<html></html>") + 0 + 1 + 2, True),
        (V1, True, 3, len(b"<html></html>") + 0 + 1, False),
    ]
    assert data["versions"][0]["created"] == "2026-11-03T10:00:00+00:00"

    table = world.invoke("--stack", "test", "versions")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["VERSION", "STATE", "FILES", "SIZE", "CREATED", "LIVE"]
    assert lines[1].split()[:3] == [V3, "incomplete", "-"]
    assert lines[2].split()[-1] == "live"


def test_versions_of_an_empty_bucket(world: World) -> None:
    result = world.invoke("--bucket", BUCKET, "versions")
    assert result.exit_code == 0
    assert "no versions" in result.output


def test_requests_grow_with_versions_not_with_files(world: World) -> None:
    def requests_for(file_count: int, version_count: int) -> int:
        world.s3.create_bucket(Bucket=f"b-{file_count}-{version_count}")
        bucket = f"b-{file_count}-{version_count}"
        for day in range(1, version_count + 1):
            version = f"202611{day:02d}T100000Z"
            for path, body in files(file_count).items():
                world.s3.put_object(Bucket=bucket, Key=layout.object_key(version, path), Body=body)
            manifest = layout.Manifest(version, "2026-11-27T00:00:00+00:00", {})
            world.s3.put_object(Bucket=bucket, Key=layout.manifest_key(version), Body=manifest.to_json())
        counts = world.count_requests()
        assert len(storage.list_versions(world.s3, bucket)) == version_count
        return sum(counts.values())

    assert requests_for(5, 3) == requests_for(300, 3) == 2 + 3
    assert requests_for(5, 6) == 2 + 6


def test_missing_bucket_is_one_line_exit_1(world: World) -> None:
    result = world.invoke("--bucket", "no-such-bucket-here", "versions")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: AWS ListObjectsV2 failed: NoSuchBucket: The specified bucket does not exist"
    ]


def info(version: str, complete: bool = True) -> storage.VersionInfo:
    return storage.VersionInfo(version, complete, 1, 1, "", False)


def test_plan_keeps_the_newest_and_the_protected() -> None:
    versions = [info(V4, complete=False), info(V3), info(V2, complete=False), info(V1)]
    plan = plan_prune(versions, keep=1, protected={}, fresh={V4})
    assert plan.keep == {
        V4: "incomplete, written to within 24 h: may be an upload in progress",
        V3: "among the newest 1",
    }
    assert plan.delete == [V2, V1]
    plan = plan_prune(versions, keep=0, protected={V1: "live"}, fresh={V2})
    assert plan.keep == {V2: "incomplete, written to within 24 h: may be an upload in progress", V1: "live"}
    assert plan.delete == [V4, V3]


def test_prune_is_a_dry_run_unless_applied(world: World) -> None:
    for version in (V1, V2, V3, V4):
        put_version(world, version, files(2))
    world.set_live(V4)
    before = keys(world)
    result = world.invoke("--bucket", BUCKET, "--parameter", PARAMETER, "prune", "--keep", "1", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["delete"] == [V2, V1] and plan["applied"] is False
    assert plan["keep"] == {V4: "live", V3: "the version before the live one"}
    assert keys(world) == before


def test_prune_never_deletes_the_running_canary(world: World) -> None:
    for version in (V1, V2, V3, V4):
        put_version(world, version, files(2))
    world.set_live(V4)
    # An older build as the canary: no other rule protects it (the record is the program's).
    canary = layout.canary_parameter_name(PARAMETER)
    world.ssm.put_parameter(Name=canary, Value=f"{V1} 5", Type="String", Overwrite=True)
    result = world.invoke("--bucket", BUCKET, "--parameter", PARAMETER, "prune", "--keep", "0", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["keep"] == {
        V4: "live",
        V3: "the version before the live one",
        V1: "the running canary (5% of viewers)",
    }
    assert plan["delete"] == [V2]
    world.ssm.put_parameter(Name=canary, Value="none", Type="String", Overwrite=True)
    result = world.invoke("--bucket", BUCKET, "--parameter", PARAMETER, "prune", "--keep", "0", "--json")
    assert json.loads(result.stdout)["delete"] == [V2, V1]


def test_prune_never_deletes_the_live_the_previous_or_a_stack_version(world: World, tmp_path: Path) -> None:
    for version in (V1, V2, V3, V4):
        put_version(world, version, files(2))
    put_version(world, "20261030T100000Z", files(1), complete=False)  # an abandoned upload
    backdate(world, "20261030T100000Z/", hours=25)
    world.set_live(V1)
    world.set_live(V3)  # V3 live, V1 live before it
    # A stack of another site listed first: its versions are no concern, the next stack's are.
    world.stacks["other-site"] = FakeStack(name="other-site", version=V4, extra_outputs={"bucketName": "x"})
    world.stacks["staging"] = FakeStack(name="staging", version=V2, extra_outputs={"liveVersion": V1})
    deps = world.deps()
    # The stacks are those of the project given: listed and opened in its directory.
    deps.stack_lister = lambda directory: list(world.stacks) if directory == tmp_path else []
    deps.stack_factory = lambda name, directory: world.stacks[name if directory == tmp_path else "none"]
    args = ["--stack", "test", "--project-dir", str(tmp_path), "prune", "--keep", "0", "--apply"]
    result = CliRunner().invoke(cli, args, obj=deps)
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V2, V1]
    assert storage.prefix_versions(world.s3, BUCKET) == [V4, V3, V2, V1]
    assert "newer than the live version" in result.output
    assert "live before the current one" in result.output
    assert "the version before the live one; stack staging points to it" in result.output
    assert "live before the current one; stack staging points to it" in result.output


def test_prune_deletes_in_batches_of_1000(world: World) -> None:
    put_version(world, V1, {f"f{i}": b"." for i in range(1001)})
    put_version(world, V2, files(1))
    put_version(world, V3, files(1))
    world.set_live(V3)
    counts = world.count_requests()
    result = world.invoke("--bucket", BUCKET, "--parameter", PARAMETER, "prune", "--keep", "1", "--apply")
    assert result.exit_code == 0, result.output
    # The manifest, the claim, the deletion lock; the shared-asset prune's announcement.
    assert counts["DeleteObjects"] == 2 and counts["DeleteObject"] == 4
    assert keys(world, f"{V1}/") == [] and not storage.is_complete(world.s3, BUCKET, V1)
    assert storage.complete_versions(world.s3, BUCKET) == [V3, V2]


def test_prune_refuses_without_knowing_the_live_version(world: World) -> None:
    put_version(world, V1, files(1))
    result = world.invoke("--bucket", BUCKET, "prune", "--keep", "0", "--apply")
    assert result.exit_code == 2
    assert result.output == (
        "Error: prune must know the live version: pass --parameter or --stack "
        "(or SITE_PARAMETER / SITE_STACK)\n"
    )
    assert storage.complete_versions(world.s3, BUCKET) == [V1]


def test_prune_refuses_a_pointer_parameter_that_does_not_exist(world: World) -> None:
    """A mistyped --parameter is not "nothing is live": every version would be deletable."""
    for version in (V1, V2):
        put_version(world, version, files(1))
    world.set_live(V2)
    args = ["--bucket", BUCKET, "--parameter", "/versioned-site/tset/live-version", "prune", "--keep", "0"]
    result = world.invoke(*args, "--apply", "--skip-stack-check")
    assert result.exit_code == 2
    assert result.output == (
        "Error: parameter /versioned-site/tset/live-version does not exist in us-east-1, so prune cannot "
        "know the live version: check --parameter / SITE_PARAMETER (or the stack's parameterName output)\n"
    )
    assert storage.complete_versions(world.s3, BUCKET) == [V2, V1]


def test_prune_stops_when_stacks_cannot_be_listed(world: World) -> None:
    for version in (V1, V2, V3):
        put_version(world, version, files(1))
    world.set_live(V3)
    deps = world.deps()

    def no_pulumi(_dir: object) -> list[str]:
        from scripts.commands.errors import SitectlError

        raise SitectlError("the Pulumi CLI is not installed")

    deps.stack_lister = no_pulumi
    from click.testing import CliRunner

    from scripts.sitectl import cli

    args = ["--bucket", BUCKET, "--parameter", PARAMETER, "prune", "--keep", "0", "--apply"]
    result = CliRunner().invoke(cli, args, obj=deps)
    assert result.exit_code == 1 and "--skip-stack-check" in result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V3, V2, V1]
    result = CliRunner().invoke(cli, [*args, "--skip-stack-check"], obj=deps)
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V3, V2]


@pytest.mark.parametrize("served", [V2, V1])
def test_status_matches_the_served_index_html(world: World, served: str) -> None:
    put_version(world, V1, files(1, "one"))
    put_version(world, V2, files(1, "two"))
    world.set_live(V2)
    world.stack.version = V2
    world.pages[f"{URL}/index.html"] = files(1, "one" if served == V1 else "two")["index.html"]
    result = world.invoke("status", "--stack", "test", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert (status["configured"], status["parameter"], status["served"]) == (V2, V2, served)
    assert status["consistent"] is (served == V2)
    text = world.invoke("status", "--stack", "test", "--check")
    assert text.exit_code == (0 if served == V2 else 1)
    assert ("DISAGREE" in text.output) is (served != V2)


@pytest.mark.parametrize("served", [V1, V2])
def test_status_shows_the_canary_and_takes_its_version_as_served_to_its_share(
    world: World, served: str
) -> None:
    put_version(world, V1, files(1, "one"))
    put_version(world, V2, files(1, "two"))
    world.set_live(V1)
    world.stack.version = V1
    world.ssm.put_parameter(Name=layout.canary_parameter_name(PARAMETER), Value=f"{V2} 5", Type="String")
    world.pages[f"{URL}/index.html"] = HttpAnswer(b"", {layout.VERSION_HEADER: served})
    status = json.loads(world.invoke("status", "--stack", "test", "--json").stdout)
    assert (status["canary"], status["served"], status["problems"]) == (f"{V2} at 5%", served, [])
    text = world.invoke("status", "--stack", "test")
    assert f"canary        {V2} at 5%" in text.output


def test_status_reads_the_version_marker_of_the_served_page(world: World) -> None:
    put_version(world, V1, files(1, "one"))
    put_version(world, V2, files(1, "two"))
    world.set_live(V2)
    world.stack.version = V2
    # The bytes are V2's, but the marker says V1 served them: the marker decides, no manifest is read.
    world.pages[f"{URL}/index.html"] = HttpAnswer(files(1, "two")["index.html"], {layout.VERSION_HEADER: V1})
    counts = world.count_requests()
    result = world.invoke("status", "--stack", "test", "--json")
    status = json.loads(result.stdout)
    assert status["served"] == V1
    assert status["problems"] == [
        f"the URL serves {V1} but the parameter holds {V2}: right after a release, wait for the edge "
        "TTL and the invalidation (a minute or two); if it persists, `aws cloudfront "
        "create-invalidation --distribution-id <distributionId> --paths '/*'`"
    ]
    assert "GetObject" not in counts


def test_status_flags_config_and_parameter_disagreeing(world: World) -> None:
    put_version(world, V1, files(1))
    world.set_live(V1)
    world.stack.version = V2
    world.pages[f"{URL}/index.html"] = files(1)["index.html"]
    result = world.invoke("status", "--stack", "test")
    assert result.exit_code == 0
    assert f"DISAGREE: stack config says '{V2}' but the parameter holds '{V1}'" in result.output


def test_status_without_a_stack_uses_the_options(world: World) -> None:
    put_version(world, V1, files(1))
    world.set_live(V1)
    world.pages["http://127.0.0.1:9/index.html"] = files(1)["index.html"]
    result = world.invoke(
        "--bucket", BUCKET, "status", "--parameter", PARAMETER, "--url", "http://127.0.0.1:9/", "--json"
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["configured"] is None and status["served"] == V1 and status["consistent"]


def test_status_when_nothing_matches(world: World) -> None:
    put_version(world, V1, files(1))
    world.set_live(V1)
    world.stack.version = V1
    world.pages[f"{URL}/index.html"] = b"<html>maintenance page</html>"
    result = world.invoke("status", "--stack", "test", "--json")
    status = json.loads(result.stdout)
    assert status["served"] is None
    assert "matches no complete version" in status["problems"][0]
