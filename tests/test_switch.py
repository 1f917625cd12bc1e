"""The switch's provider code against moto: order, wait (injected clock), one invalidation per change."""

from __future__ import annotations

import base64
import importlib
import io
import pickle
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.switch import SAFETY_MARGIN_SECONDS, SwitchError, VersionSwitchProvider
from tests.clock import ManualClock

PARAMETER = "/versioned-site/dev/live-version"
V1 = "20261127T101500Z"
V2 = "20261128T090000Z"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        cloudfront = boto3.client("cloudfront", region_name="us-east-1")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "test",
                "Comment": "test",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "o",
                            "DomainName": "b.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "o",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
            }
        )["Distribution"]
        yield {"ssm": ssm, "cloudfront": cloudfront, "distribution_id": distribution["Id"]}


def _outs(result: Any) -> dict[str, Any]:
    assert result.outs is not None
    return dict(result.outs)


def _props(aws: dict[str, Any], version: str, ttl: int = 5) -> dict[str, Any]:
    return {
        "distribution_id": aws["distribution_id"],
        "parameter_name": PARAMETER,
        "parameter_region": "us-east-1",
        "version": version,
        "cache_ttl_seconds": ttl,
    }


def _release(aws: dict[str, Any], version: str) -> float:
    """Write the pointer as the parameter resource would; return its LastModifiedDate."""
    aws["ssm"].put_parameter(Name=PARAMETER, Value=version, Type="String", Overwrite=True)
    return float(aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]["LastModifiedDate"].timestamp())


def _invalidations(aws: dict[str, Any]) -> list[dict[str, Any]]:
    listed = aws["cloudfront"].list_invalidations(DistributionId=aws["distribution_id"])["InvalidationList"]
    return list(listed.get("Items", []))


def test_waits_out_the_edge_cache_after_the_pointer_then_invalidates_everything(aws: dict[str, Any]) -> None:
    modified = _release(aws, V1)
    clock = ManualClock(start=modified + 0.4996)
    provider = VersionSwitchProvider(now=clock, sleep=clock.sleep)

    result = provider.create(_props(aws, V1, ttl=5))

    assert clock.sleeps == [pytest.approx(5 + SAFETY_MARGIN_SECONDS - 0.4996)]
    assert _outs(result)["waited_seconds"] == 5.5, "the state records the wait to the millisecond"
    assert clock.now >= modified + 5 + SAFETY_MARGIN_SECONDS, "the invalidation came before the TTL ran out"
    (invalidation,) = _invalidations(aws)
    assert _outs(result)["invalidation_id"] == invalidation["Id"]
    details = aws["cloudfront"].get_invalidation(DistributionId=aws["distribution_id"], Id=invalidation["Id"])
    assert details["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_no_wait_when_the_ttl_has_already_passed(aws: dict[str, Any]) -> None:
    modified = _release(aws, V1)
    clock = ManualClock(start=modified + 60)
    VersionSwitchProvider(now=clock, sleep=clock.sleep).create(_props(aws, V1))
    assert clock.sleeps == []
    assert len(_invalidations(aws)) == 1


def test_refuses_to_invalidate_before_the_pointer_holds_the_version(aws: dict[str, Any]) -> None:
    _release(aws, V1)
    clock = ManualClock(start=0)
    provider = VersionSwitchProvider(now=clock, sleep=clock.sleep)
    with pytest.raises(SwitchError, match=f"holds '{V1}', not '{V2}'"):
        provider.update("switch", _props(aws, V1), _props(aws, V2))
    assert _invalidations(aws) == [] and clock.sleeps == []


def test_one_invalidation_per_version_change(aws: dict[str, Any]) -> None:
    clock = ManualClock(start=_release(aws, V1) + 60)
    provider = VersionSwitchProvider(now=clock, sleep=clock.sleep)
    first = _outs(provider.create(_props(aws, V1)))

    unchanged = provider.diff("switch", first, _props(aws, V1))
    assert unchanged.changes is False, "re-running `pulumi up` with the same version must not invalidate"

    clock.now = _release(aws, V2) + 60
    changed = provider.diff("switch", first, _props(aws, V2))
    assert changed.changes is True and not changed.replaces
    second = _outs(provider.update("switch", first, _props(aws, V2)))

    assert len(_invalidations(aws)) == 2
    assert second["invalidation_id"] != first["invalidation_id"]
    assert second["version"] == V2


def test_only_identity_fields_count_as_changes(aws: dict[str, Any]) -> None:
    provider = VersionSwitchProvider()
    olds = {**_props(aws, V1), "invalidation_id": "I1", "waited_seconds": 3.0}
    assert provider.diff("switch", olds, _props(aws, V1, ttl=9)).changes is False
    assert provider.diff("switch", olds, {**_props(aws, V1), "distribution_id": "E2OTHER"}).changes is True


@pytest.mark.parametrize(
    ("deployed_ttl", "new_ttl", "waited"),
    [
        (60, 5, 60 + SAFETY_MARGIN_SECONDS),  # TTL lowered: old containers still cache for 60 s
        (5, 30, 30 + SAFETY_MARGIN_SECONDS),  # TTL raised: the new function caches for 30 s
    ],
)
def test_an_update_waits_the_longer_of_the_deployed_and_the_new_ttl(
    aws: dict[str, Any], deployed_ttl: int, new_ttl: int, waited: float
) -> None:
    clock = ManualClock(start=_release(aws, V1) + 600)
    provider = VersionSwitchProvider(now=clock, sleep=clock.sleep)
    olds = _outs(provider.create(_props(aws, V1, ttl=deployed_ttl)))
    assert olds["cache_ttl_seconds"] == deployed_ttl, "the TTL stays in the switch's state"

    modified = _release(aws, V2)
    clock.now = modified
    outs = _outs(provider.update("switch", olds, _props(aws, V2, ttl=new_ttl)))

    assert clock.sleeps == [pytest.approx(waited)]
    assert outs["waited_seconds"] == pytest.approx(waited)
    assert outs["cache_ttl_seconds"] == new_ttl
    assert len(_invalidations(aws)) == 2


def test_the_switch_uses_the_stack_profile(
    aws: dict[str, Any], deployer_profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials only under the profile: boto3's default chain would find none."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    clock = ManualClock(start=_release(aws, V1) + 60)
    provider = VersionSwitchProvider(now=clock, sleep=clock.sleep)
    provider.create({**_props(aws, V1), "aws_profile": "site-deployer"})
    assert len(_invalidations(aws)) == 1


def test_releasing_a_version_again_is_a_new_invalidation_request(aws: dict[str, Any]) -> None:
    """CloudFront answers a repeated CallerReference with the earlier invalidation and invalidates
    nothing: a rollback to V1 after V2 needs a reference of its own."""
    clock = ManualClock(start=_release(aws, V1) + 60)
    provider = VersionSwitchProvider(now=clock, sleep=clock.sleep)
    state = _outs(provider.create(_props(aws, V1)))
    for version in (V2, V1):
        clock.now = _release(aws, version) + 60
        state = _outs(provider.update("switch", state, _props(aws, version)))

    references = []
    for invalidation in _invalidations(aws):
        details = aws["cloudfront"].get_invalidation(
            DistributionId=aws["distribution_id"], Id=invalidation["Id"]
        )
        references.append(details["Invalidation"]["InvalidationBatch"]["CallerReference"])
    assert len(set(references)) == 3, references
    assert sorted(r.rsplit("-", 1)[0] for r in references) == [
        f"versioned-site-{V1}",
        f"versioned-site-{V1}",
        f"versioned-site-{V2}",
    ]


def test_each_client_is_made_for_its_service_and_region(aws: dict[str, Any]) -> None:
    """The pointer is read in its own region (the parameter exists nowhere else); CloudFront in us-east-1."""
    ssm_eu = boto3.client("ssm", region_name="eu-west-1")
    ssm_eu.put_parameter(Name=PARAMETER, Value=V1, Type="String")
    asked: list[tuple[str, str]] = []

    def clients(service: str, region: str) -> Any:
        asked.append((service, region))
        return boto3.session.Session().client(service, region_name=region)  # type: ignore[call-overload]

    modified = ssm_eu.get_parameter(Name=PARAMETER)["Parameter"]["LastModifiedDate"].timestamp()
    clock = ManualClock(start=modified + 60)
    provider = VersionSwitchProvider(clients=clients, now=clock, sleep=clock.sleep)
    result = provider.create({**_props(aws, V1), "parameter_region": "eu-west-1"})
    assert asked == [("ssm", "eu-west-1"), ("cloudfront", "us-east-1")]
    assert result.id == f"switch-{aws['distribution_id']}"


def test_the_default_clients_read_the_pointer_in_its_region(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3's default region (here eu-west-1) is not where the pointer lives."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clock = ManualClock(start=_release(aws, V1) + 60)
    VersionSwitchProvider(now=clock, sleep=clock.sleep).create(_props(aws, V1))
    assert len(_invalidations(aws)) == 1


def test_the_refusal_says_how_to_fix_it(aws: dict[str, Any]) -> None:
    _release(aws, V1)
    with pytest.raises(SwitchError) as refused:
        VersionSwitchProvider().update("switch", _props(aws, V1), _props(aws, V2))
    assert str(refused.value) == (
        f"pointer {PARAMETER} holds '{V1}', not '{V2}': "
        "the parameter update must land before the switch; run `pulumi up` again"
    )


@pytest.mark.parametrize(
    ("field", "value", "changes"),
    [
        ("version", V2, True),
        ("distribution_id", "E2OTHER", True),
        ("parameter_name", "/versioned-site/prod/live-version", True),
        ("parameter_region", "eu-west-1", True),
        ("cache_ttl_seconds", 30, False),
        ("aws_profile", "other", False),
    ],
)
def test_the_diff_table(aws: dict[str, Any], field: str, value: object, changes: bool) -> None:
    diff = VersionSwitchProvider().diff("switch", _props(aws, V1), {**_props(aws, V1), field: value})
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (changes, [], False)


class _RecordingUnpickler(pickle.Unpickler):
    """Loads a pickle as the provider process would, recording every module-level name it refers to."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.names: list[tuple[str, str]] = []

    def find_class(self, module: str, name: str) -> Any:
        self.names.append((module, name))
        return super().find_class(module, name)


def test_the_pickled_provider_refers_to_names_that_exist() -> None:
    """What a stack's state holds for the switch (`__provider`): the provider pickled by reference.
    Renaming or moving the class breaks destroy on existing stacks (components/switch.py)."""
    from pulumi.dynamic.dynamic import serialize_provider

    unpickler = _RecordingUnpickler(base64.b64decode(serialize_provider(VersionSwitchProvider())))
    provider = unpickler.load()
    assert unpickler.names == [
        ("components.switch", "VersionSwitchProvider"),
        ("time", "time"),
        ("time", "sleep"),
    ]
    for module, name in unpickler.names:
        assert getattr(importlib.import_module(module), name) is not None, f"{module}.{name} is gone"
    assert type(provider) is VersionSwitchProvider
