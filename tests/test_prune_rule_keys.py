"""`sitectl prune` on the cloudfront-function router: a deleted version's build-rule keys
(edge_function/rule_keys.py) leave the stack's KeyValueStore after its objects; a kept version's stay.
The store is the fake of `scripts/offline/kvs_fake.py` (its ETag rules), S3 and SSM are moto."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from edge_function.code import LIVE_VERSION_KEY, manifest_rule_keys
from edge_function.rule_keys import delete_rule_keys
from edge_lambda import layout
from edge_lambda.site_rules import parse_rule_files
from scripts.offline.kvs_fake import ARN, FakeStore, client_for, running_store
from scripts.sitectl import cli
from scripts.versionstore import store as storage
from tests.sitectl_scaffold import BUCKET, PRUNE_EVERYTHING, V1, V2, V3, V4, World, keys, put_version, world

__all__ = ["world"]

PAGE = {"index.html": b"<html>v</html>", "about.html": b"<html>about</html>"}
PRUNE = ("--stack", "test", "prune", "--keep", "0", "--skip-stack-check")


def with_rules(world: World, version: str, rules: str) -> dict[str, str]:
    """Give `version` build rules (its manifest rewritten) and return the keys a release writes."""
    manifest = storage.read_manifest(world.s3, BUCKET, version)
    assert manifest is not None
    changed = dataclasses.replace(manifest, rules=parse_rule_files(rules, None))
    world.s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(version), Body=changed.to_json().encode())
    found = manifest_rule_keys(version, changed)
    assert found
    return found


def four_versions(world: World, router: str = "cloudfront-function") -> dict[str, dict[str, str]]:
    """V1..V4, V4 live: `--keep 0` deletes V1 and V2 (V3 is the one before the live one). V1 and V3
    have rules (their keys in the store, as their releases wrote them), V2 none."""
    for version in (V1, V2, V3, V4):
        put_version(world, version, PAGE)
    world.set_live(V4)
    world.stack.version = world.stack.deployed = V4
    world.stack.extra_outputs = {
        "router": router,
        "pointerStoreArn": ARN if router == "cloudfront-function" else "",
        "spaFallback": False,
    }
    return {V1: with_rules(world, V1, "/old /new 301\n"), V3: with_rules(world, V3, "/a /b 302\n")}


def prune(world: World, kvs: Any, *args: str) -> Result:
    deps = world.deps()
    deps.kvs_factory = kvs if callable(kvs) else lambda: kvs
    return CliRunner().invoke(cli, [*PRUNE, *args], obj=deps)


def stored(rules: dict[str, dict[str, str]]) -> dict[str, str]:
    return {LIVE_VERSION_KEY: V4, **rules[V1], **rules[V3]}


def test_prune_deletes_a_deleted_versions_rule_keys_after_its_objects(world: World) -> None:
    rules = four_versions(world)
    with running_store(FakeStore(items=stored(rules))) as (store, endpoint):
        kvs = client_for(endpoint)
        objects_left: list[list[str]] = []
        kvs.meta.events.register(
            "before-call.cloudfront-keyvaluestore.DeleteKey",
            lambda **_: objects_left.append(keys(world, f"{V1}/")),
        )
        result = prune(world, kvs, "--apply")
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]
    assert store.items == {LIVE_VERSION_KEY: V4, **rules[V3]}, "the kept version's keys stay"
    assert objects_left == [[]] * len(rules[V1]), "the keys go only once the objects are gone"
    # V2 has no rules: no store call for it; V1's deletions each on the ETag the previous one returned.
    assert store.calls == ["DescribeKeyValueStore", *["DeleteKey"] * len(rules[V1])]
    assert [key for key, _ in store.deletes] == list(rules[V1])
    assert f"deleted {len(rules[V1])} rule keys of {V1} from the KeyValueStore" in result.output


def test_a_dry_run_lists_the_rule_keys_and_deletes_nothing(world: World) -> None:
    rules = four_versions(world)
    with running_store(FakeStore(items=stored(rules))) as (store, endpoint):
        result = prune(world, client_for(endpoint))
    assert result.exit_code == 0, result.output
    assert f"would delete {len(rules[V1])} rule keys of {V1} from the KeyValueStore" in result.output
    assert f"rule keys of {V2}" not in result.output and f"rule keys of {V3}" not in result.output
    assert store.items == stored(rules) and store.calls == []
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V2, V1]


def test_prune_without_rules_to_delete_makes_no_store_call(world: World) -> None:
    four_versions(world)
    # V1 without rules again (V2 never had any): neither deleted version has keys.
    manifest = storage.read_manifest(world.s3, BUCKET, V1)
    assert manifest is not None
    world.s3.put_object(
        Bucket=BUCKET,
        Key=layout.manifest_key(V1),
        Body=dataclasses.replace(manifest, rules=parse_rule_files("", None)).to_json().encode(),
    )
    with running_store(FakeStore(items={LIVE_VERSION_KEY: V4})) as (store, endpoint):
        result = prune(world, client_for(endpoint), "--apply")
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]
    assert store.calls == []


def test_on_the_lambda_edge_router_prune_leaves_the_store_alone(world: World) -> None:
    rules = four_versions(world, router="lambda-edge")

    def no_store() -> Any:
        raise AssertionError("no KeyValueStore client on the Lambda@Edge router")

    assert rules[V1]  # the version has rules, and no store is asked for them
    result = prune(world, no_store, "--apply")
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]
    assert "rule keys" not in result.output


def test_without_a_stack_prune_leaves_the_store_alone(world: World) -> None:
    four_versions(world)
    deps = world.deps()
    deps.kvs_factory = lambda: (_ for _ in ()).throw(AssertionError("no store without a stack"))
    result = CliRunner().invoke(cli, list(PRUNE_EVERYTHING), obj=deps)
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]


def test_a_refused_delete_is_a_warning_naming_the_keys_left(world: World) -> None:
    rules = four_versions(world)
    with running_store(FakeStore(items=stored(rules), denied={"DeleteKey"})) as (store, endpoint):
        result = prune(world, client_for(endpoint), "--apply")
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]
    assert f"warning: {len(rules[V1])} rule keys of {V1} stay in the KeyValueStore" in result.output
    assert store.items == stored(rules)


def test_delete_rule_keys_refuses_a_stale_etag_and_skips_a_key_already_gone() -> None:
    with running_store(FakeStore(items={"r/v/0": "{}", "r/v/1": "{}"})) as (store, endpoint):
        kvs = client_for(endpoint)
        racing = [True]

        def another_writer(**_: Any) -> None:
            if racing.pop() if racing else False:
                store.put("live-version", "other")  # the ETag prune read is stale now

        kvs.meta.events.register("before-call.cloudfront-keyvaluestore.DeleteKey", another_writer)
        with pytest.raises(ClientError) as refused:
            delete_rule_keys(kvs, ARN, ["r/v/0", "r/v/1"])
        assert refused.value.response["Error"]["Code"] == "ConflictException"
        assert set(store.items) == {"r/v/0", "r/v/1", "live-version"}
        assert delete_rule_keys(kvs, ARN, ["r/v/gone", "r/v/0", "r/v/1"]) == 2
        assert store.items == {"live-version": "other"}
        assert delete_rule_keys(kvs, ARN, []) == 0
