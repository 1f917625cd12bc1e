"""The README's IAM policies against what the code calls: the break-glass role's (README, "Emergency
rollback") is the list `rollback --now` names when one is refused, and the prune role's (README, "Prune
old versions") holds every action a `prune --apply --stack` on the cloudfront-function router makes,
recorded from its requests (moto, the KeyValueStore fake) in a run that deletes versions, their rule
keys, and rule keys left by an earlier run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge_lambda import layout
from scripts.commands.emergency import BREAK_GLASS_ACTIONS
from scripts.offline.kvs_fake import FakeStore, client_for, running_store
from tests.sitectl_scaffold import BUCKET, World, world
from tests.test_prune_rule_keys import CLAIMED, four_versions, orphans, prune

__all__ = ["world"]

README = Path(__file__).resolve().parent.parent / "README.md"
# The IAM action that authorizes each request (S3's ListObjectsV2 is s3:ListBucket, HeadObject is
# s3:GetObject, DeleteObjects is s3:DeleteObject per key: the Service Authorization Reference).
IAM_ACTION = {
    "s3": {
        "ListObjectsV2": "s3:ListBucket",
        "GetObject": "s3:GetObject",
        "HeadObject": "s3:GetObject",
        "PutObject": "s3:PutObject",
        "DeleteObject": "s3:DeleteObject",
        "DeleteObjects": "s3:DeleteObject",
    },
    "ssm": {"GetParameter": "ssm:GetParameter", "GetParameterHistory": "ssm:GetParameterHistory"},
}


def policy_actions(heading: str) -> set[str]:
    """The actions of the JSON policy in the README's section under `heading`."""
    text = README.read_text()
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    section = text[start : end if end != -1 else len(text)]
    block = re.search(r"^```json\n(.*?)^```", section, flags=re.S | re.M)
    assert block is not None, f"no JSON policy in the README's section {heading!r}"
    return {action for statement in json.loads(block.group(1))["Statement"] for action in statement["Action"]}


def test_the_break_glass_policy_is_what_rollback_now_names() -> None:
    assert policy_actions("### Emergency rollback") == set(BREAK_GLASS_ACTIONS)


def test_the_prune_policy_holds_every_action_prune_calls(world: World) -> None:
    rules = four_versions(world)
    world.s3.put_object(Bucket=BUCKET, Key=layout.claim_key(CLAIMED), Body=b"{}")
    called: set[tuple[str, str]] = set()
    world.s3.meta.events.register("before-call.s3", lambda model, **_: called.add(("s3", model.name)))
    world.ssm.meta.events.register("before-call.ssm", lambda model, **_: called.add(("ssm", model.name)))
    with running_store(FakeStore(items=orphans(rules))) as (store, endpoint):
        result = prune(world, client_for(endpoint), "--apply")
    assert result.exit_code == 0, result.output
    assert "which the bucket no longer holds" in result.output, "the sweep ran"
    unknown = {call for call in called if call[1] not in IAM_ACTION[call[0]]}
    assert not unknown, f"name the IAM action of {sorted(unknown)} in IAM_ACTION"
    actions = {IAM_ACTION[service][operation] for service, operation in called}
    actions |= {f"cloudfront-keyvaluestore:{operation}" for operation in store.calls}
    listed = policy_actions("### Prune old versions")
    assert actions <= listed, f"README's prune policy lacks {sorted(actions - listed)}"
    kvs = {action for action in listed if action.startswith("cloudfront-keyvaluestore:")}
    assert kvs == {f"cloudfront-keyvaluestore:{operation}" for operation in store.calls}
