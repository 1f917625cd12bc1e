"""The pointer guard on its own: reading the pointer (moto) and the decision table."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from components.pointer_guard import (
    LiveSiteWouldGoOfflineError,
    PointerUnreadableError,
    plan_pointer_change,
    read_pointer,
)

POINTER = "/versioned-site/dev/live-version"
V1 = "20261127T101500Z"
V2 = "20261128T090000Z-1a2b3c4"


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
        with pytest.raises(PointerUnreadableError, match="AccessDeniedException; the deployer needs ssm:Get"):
            read_pointer(ssm, POINTER)


@pytest.mark.parametrize(
    ("live", "version", "take_offline", "kind", "target"),
    [
        (None, None, False, "unchanged", "none"),
        ("none", None, True, "unchanged", "none"),
        (V1, None, True, "offline", "none"),
        (None, V1, False, "release", V1),
        ("none", V1, False, "release", V1),
        (V1, V2, False, "release", V2),
        (V2, V1, False, "rollback", V1),
        (V1, V1, False, "unchanged", V1),
    ],
)
def test_what_a_deployment_does_to_the_live_version(
    live: str | None, version: str | None, take_offline: bool, kind: str, target: str
) -> None:
    change = plan_pointer_change(live, version, take_offline)
    assert (change.kind, change.target) == (kind, target)
    assert change.is_warning is (kind in ("rollback", "offline"))


def test_an_unset_version_while_one_is_live_is_refused() -> None:
    with pytest.raises(LiveSiteWouldGoOfflineError, match=f"but {V1} is live"):
        plan_pointer_change(V1, None, take_offline=False)
    with pytest.raises(LiveSiteWouldGoOfflineError):
        plan_pointer_change(V1, "", take_offline=False)
