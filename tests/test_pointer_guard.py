"""The pointer guard on its own: reading the pointer (moto) and the decision table."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from components.pointer_guard import (
    LiveSiteWouldGoOfflineError,
    PointerUnreadableError,
    check_before_any_resource,
    default_ssm_client,
    plan_pointer_change,
    read_pointer,
)

POINTER = "/versioned-site/dev/live-version"
V1 = "20261127T101500Z"
V2 = "20261128T090000Z-1a2b3c4"
KEYS = ("versioned-site:version", "versioned-site:takeOffline")


def test_a_pointer_that_does_not_exist_reads_as_none_and_a_denied_read_says_what_is_needed() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        assert read_pointer(ssm, POINTER) is None
        ssm.put_parameter(Name=POINTER, Value=V1, Type="String")
        assert read_pointer(ssm, POINTER) == V1

        def deny(**_: object) -> None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")

        ssm.get_parameter = deny  # type: ignore[method-assign,assignment]
        with pytest.raises(PointerUnreadableError) as unreadable:
            read_pointer(ssm, POINTER)
    assert str(unreadable.value) == (
        f"could not read the live version from {POINTER} (us-east-1): AccessDeniedException; "
        "the deployer needs ssm:GetParameter on it, as `pulumi up` does to manage it"
    )


@pytest.mark.parametrize(
    ("live", "version", "take_offline", "kind", "target", "line"),
    [
        (None, None, False, "unchanged", "none", "live version unchanged: none"),
        ("none", None, True, "unchanged", "none", "live version unchanged: none"),
        (
            V1,
            None,
            True,
            "offline",
            "none",
            f"take the site offline {V1} -> none (versioned-site:takeOffline)",
        ),
        (None, V1, False, "release", V1, f"release none -> {V1}"),
        ("none", V1, False, "release", V1, f"release none -> {V1}"),
        (V1, V2, False, "release", V2, f"release {V1} -> {V2}"),
        (V2, V1, False, "rollback", V1, f"roll back {V2} -> {V1}"),
        (V1, V1, False, "unchanged", V1, f"live version unchanged: {V1}"),
    ],
)
def test_what_a_deployment_does_to_the_live_version(
    live: str | None, version: str | None, take_offline: bool, kind: str, target: str, line: str
) -> None:
    change = plan_pointer_change(live, version, take_offline, *KEYS)
    assert (change.kind, change.live, change.target, change.line) == (kind, live or "none", target, line)
    assert change.is_warning is (kind in ("rollback", "offline"))


def test_an_unset_version_while_one_is_live_is_refused() -> None:
    with pytest.raises(LiveSiteWouldGoOfflineError) as refused:
        plan_pointer_change(V1, None, False, *KEYS)
    assert str(refused.value) == (
        f"versioned-site:version is not set, but {V1} is live: this would take the site offline "
        f"(503 for every viewer). Set `pulumi config set versioned-site:version {V1}` to keep it, or "
        "release another version (`sitectl release --version VERSION`); to take the site offline on purpose, "
        "`pulumi config set versioned-site:takeOffline true`"
    )
    with pytest.raises(LiveSiteWouldGoOfflineError):
        plan_pointer_change(V1, "", False, *KEYS)
    # The keys named are the ones given: a renamed project's, or a consumer's own version key.
    with pytest.raises(
        LiveSiteWouldGoOfflineError, match=r"^shop:liveVersion is not set.*set shop:takeOffline true"
    ):
        plan_pointer_change(V1, None, False, "shop:liveVersion", "shop:takeOffline")
    assert plan_pointer_change(V1, None, True, "shop:v", "shop:takeOffline").line.endswith(
        "(shop:takeOffline)"
    )


def test_the_pointer_guards_ssm_client_has_the_edge_region_and_the_stacks_profile(
    deployer_profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = default_ssm_client("us-east-1", "site-deployer")
    assert client.meta.region_name == "us-east-1"
    assert client._request_signer._credentials.access_key == "deployer"
    # The region given wins over the environment's default region.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    assert default_ssm_client("ap-southeast-2", "site-deployer").meta.region_name == "ap-southeast-2"


def test_the_early_check_reads_the_pointer_once_and_runs_the_check_given_on_its_value() -> None:
    reads: list[str] = []
    checked: list[str | None] = []

    def read(name: str) -> str | None:
        reads.append(name)
        return V1

    def check(live: str | None) -> str:
        checked.append(live)
        return f"checked {live}"

    assert check_before_any_resource(read, POINTER, check) == f"checked {V1}"
    assert (reads, checked) == ([POINTER], [V1])
    # A refusal is the check's own exception, raised as is.
    with pytest.raises(LiveSiteWouldGoOfflineError):
        check_before_any_resource(
            lambda _: V2, POINTER, lambda live: plan_pointer_change(live, None, False, *KEYS)
        )
