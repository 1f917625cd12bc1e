"""`sitectl prune` on the cloudfront-function router: a deleted version's build-rule keys
(edge_function/rule_keys.py) leave the stack's KeyValueStore after its objects; a kept version's stay.
The store is the fake of `scripts/offline/kvs_fake.py` (its ETag rules), S3 and SSM are moto."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from edge_function.code import LIVE_VERSION_KEY, manifest_rule_keys
from edge_function.rule_keys import delete_rule_keys, list_keys, rule_key
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
    assert store.calls == ["DescribeKeyValueStore", *["DeleteKey"] * len(rules[V1]), "ListKeys"]
    assert [key for key, _ in store.deletes] == list(rules[V1])
    assert f"deleted {len(rules[V1])} rule keys of {V1} from the KeyValueStore" in result.output


def test_a_dry_run_lists_the_rule_keys_and_deletes_nothing(world: World) -> None:
    rules = four_versions(world)
    with running_store(FakeStore(items=stored(rules))) as (store, endpoint):
        result = prune(world, client_for(endpoint))
    assert result.exit_code == 0, result.output
    assert f"would delete {len(rules[V1])} rule keys of {V1} from the KeyValueStore" in result.output
    assert f"rule keys of {V2}" not in result.output and f"rule keys of {V3}" not in result.output
    # The sweep's listing (nothing left over here) is its one store call.
    assert store.items == stored(rules) and store.calls == ["ListKeys"]
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3, V2, V1]


def test_prune_without_rules_to_delete_only_lists_the_store(world: World) -> None:
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
    assert store.calls == ["ListKeys"], "no key to delete: the sweep lists, and deletes nothing"


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


# Versions the bucket does not hold (V1..V4 are the scaffold's, V4 live).
GONE = "20261001T100000Z"  # pruned by an earlier run whose DeleteKey was refused
STORE_LIVE = "20261002T100000Z"  # the store's live-version value still names it (an update in flight)
STORE_CANARY = "20261003T100000Z"  # the canary of that value
CLAIMED = "20261005T100000Z"  # an upload that claimed its id and sent nothing yet
OTHER_KEYS = {"r/not-a-version/0": "{}", "settings": "{}"}  # nothing prune knows: left alone


def orphans(rules: dict[str, dict[str, str]]) -> dict[str, str]:
    """The store of `four_versions` with keys no release wrote: 60 of GONE (two ListKeys pages of
    50), one of V1 under a name its manifest does not give (older code), and keys of versions the
    store's value or an upload still names."""
    value = f'{STORE_LIVE} {{"c":{{"v":"{STORE_CANARY}","p":5}}}}'
    return {
        **stored(rules),
        LIVE_VERSION_KEY: value,
        **{rule_key(GONE, n): "{}" for n in range(60)},
        rule_key(V1, 63): "{}",
        rule_key(STORE_LIVE, 0): "{}",
        rule_key(STORE_CANARY, 0): "{}",
        rule_key(CLAIMED, 0): "{}",
        **OTHER_KEYS,
    }


def test_prune_sweeps_the_rule_keys_of_versions_the_bucket_no_longer_holds(world: World) -> None:
    rules = four_versions(world)
    world.s3.put_object(Bucket=BUCKET, Key=layout.claim_key(CLAIMED), Body=b"{}")
    with running_store(FakeStore(items=orphans(rules))) as (store, endpoint):
        result = prune(world, client_for(endpoint), "--apply")
    assert result.exit_code == 0, result.output
    assert store.items == {
        LIVE_VERSION_KEY: orphans(rules)[LIVE_VERSION_KEY],
        **rules[V3],
        rule_key(STORE_LIVE, 0): "{}",
        rule_key(STORE_CANARY, 0): "{}",
        rule_key(CLAIMED, 0): "{}",
        **OTHER_KEYS,
    }
    assert store.calls.count("ListKeys") == 2, "70 keys: two pages of 50"
    assert f"deleted {len(rules[V1])} rule keys of {V1} from the KeyValueStore" in result.output
    assert f"deleted 1 rule keys of {V1}, which the bucket no longer holds, from the KeyValueStore" in (
        result.output
    )
    assert f"deleted 60 rule keys of {GONE}, which the bucket no longer holds, from the KeyValueStore" in (
        result.output
    )


def test_a_dry_run_lists_the_sweep_and_deletes_nothing(world: World) -> None:
    rules = four_versions(world)
    world.s3.put_object(Bucket=BUCKET, Key=layout.claim_key(CLAIMED), Body=b"{}")
    with running_store(FakeStore(items=orphans(rules))) as (store, endpoint):
        result = prune(world, client_for(endpoint))
        as_json = prune(world, client_for(endpoint), "--json")
    assert result.exit_code == 0, result.output
    assert f"would delete 60 rule keys of {GONE}, which the bucket no longer holds, from the" in result.output
    # V1's manifest gives its other keys; the one it does not give is left once V1 is gone.
    assert f"would delete 1 rule keys of {V1}, which the bucket no longer holds, from the" in result.output
    assert f"would delete {len(rules[V1])} rule keys of {V1} from the KeyValueStore" in result.output
    for kept in (STORE_LIVE, STORE_CANARY, CLAIMED, V3, V4):
        assert f"rule keys of {kept}" not in result.output
    assert json.loads(as_json.stdout)["orphanRuleKeys"] == {V1: 1, GONE: 60}
    assert store.items == orphans(rules) and "DeleteKey" not in store.calls


def test_the_sweep_lists_the_store_before_the_bucket(world: World) -> None:
    """A release writes its version's keys (the version complete) before the pointer moves. Listed
    the other way round, a version sealed and released between the two listings would have keys and
    no place in the bucket's listing: the hook lands exactly that release just before the sweep's
    ListKeys, which with the bucket listed first would be after it."""
    rules = four_versions(world)
    released = "20261105T100000Z"
    with running_store(FakeStore(items=orphans(rules))) as (store, endpoint):
        kvs = client_for(endpoint)
        once = [True]

        def release_lands(**_: Any) -> None:  # the sweep's first ListKeys (its only listing here)
            if once and once.pop():
                put_version(world, released, PAGE)
                store.put(rule_key(released, 0), "{}")

        kvs.meta.events.register("before-call.cloudfront-keyvaluestore.ListKeys", release_lands)
        result = prune(world, kvs, "--apply")
    assert result.exit_code == 0, result.output
    assert store.items[rule_key(released, 0)] == "{}"
    assert rule_key(GONE, 0) not in store.items


def test_a_refused_sweep_warns_with_the_keys_and_a_refused_listing_deletes_the_rest(world: World) -> None:
    rules = four_versions(world)
    items = {**stored(rules), rule_key(GONE, 0): "{}", rule_key(GONE, 1): "{}"}
    with running_store(FakeStore(items=items, denied={"DeleteKey"})) as (store, endpoint):
        result = prune(world, client_for(endpoint), "--apply")
    assert result.exit_code == 0, result.output
    assert (
        f"warning: 2 rule keys of {GONE}, which the bucket no longer holds, stay in the KeyValueStore "
        f"({rule_key(GONE, 0)}, {rule_key(GONE, 1)}): "
    ) in result.output
    assert "delete them with `aws cloudfront-keyvaluestore delete-key`" in result.output
    assert result.output.count(f"rule keys of {V1}") == 1, "V1's refusal is warned once, not swept again"
    assert store.items == items

    for version in (V1, V2):
        put_version(world, version, PAGE)
    rules = {**rules, V1: with_rules(world, V1, "/old /new 301\n")}
    with running_store(FakeStore(items=dict(items), denied={"ListKeys"})) as (store, endpoint):
        result = prune(world, client_for(endpoint), "--apply")
    assert result.exit_code == 0, result.output
    assert "warning: rule keys of versions no longer stored not looked for: " in result.output
    assert "cloudfront-keyvaluestore:ListKeys" in result.output
    assert not set(rules[V1]) & set(store.items), "the deleted version's own keys still go"
    assert rule_key(GONE, 0) in store.items


def test_prune_of_another_bucket_than_the_stacks_leaves_its_store_alone(world: World) -> None:
    rules = four_versions(world)
    world.stack.extra_outputs["bucketName"] = "another-sites-bucket"
    deps = world.deps()
    deps.kvs_factory = lambda: (_ for _ in ()).throw(AssertionError("not the stack's bucket"))
    args = ["--bucket", BUCKET, *PRUNE, "--apply"]
    result = CliRunner().invoke(cli, args, obj=deps)
    assert result.exit_code == 0, result.output
    assert storage.complete_versions(world.s3, BUCKET) == [V4, V3]
    assert rules[V1] and "rule keys" not in result.output


def test_the_fake_pages_list_keys_as_botocores_model_says() -> None:
    """ListKeysRequest.MaxResults: 10 when absent, at most 50; NextToken while more follow (botocore's
    own paginator for the operation walks the fake's pages)."""
    items = {f"r/{V1}/{n:02d}": str(n) for n in range(23)}
    with running_store(FakeStore(items=items)) as (store, endpoint):
        kvs = client_for(endpoint)
        first = kvs.list_keys(KvsARN=ARN)
        assert [item["Key"] for item in first["Items"]] == sorted(items)[:10] and first["NextToken"]
        with pytest.raises(ClientError) as refused:
            kvs.list_keys(KvsARN=ARN, MaxResults=51)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        pages = kvs.get_paginator("list_keys").paginate(KvsARN=ARN, PaginationConfig={"PageSize": 10})
        assert [len(page["Items"]) for page in pages] == [10, 10, 3]
        store.calls.clear()
        assert list_keys(kvs, ARN) == items and store.calls == ["ListKeys"], "one page of 50"
