"""The emergency rollback record: which version was pulled from the site in an emergency, so that no
later deployment puts it back by accident.

`sitectl rollback --now` writes the live version where the routers read it, directly, while the stack
config still names the broken version: the next `pulumi up` (CI's, with `--refresh` above all) would
make it live again. So the rollback also writes this record, an SSM parameter beside the pointer
(`<pointer>-emergency-rollback`, us-east-1, a JSON string), and the program reads it at start, before
any resource is registered (components/site.py), and refuses to move the pointer to the version rolled
back unless the stack config names it on purpose (`releaseRolledBack`).

The record clears once the pointer leaves the version rolled back to by a deployment: a release of a
third version, or the broken version released again on purpose. A deployment that only catches the
config up with what is live (the version rolled back to) keeps it: a stale branch could still deploy
the broken version. Plain boto3 calls: the program and sitectl share them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from scripts.versionstore.errors import StoreError, error_code

RECORD_SUFFIX = "-emergency-rollback"
# The stack config key (under the project's namespace) that releases the rolled-back version on purpose.
RELEASE_ROLLED_BACK_KEY = "releaseRolledBack"
# The canary's stack config keys (cloudfront-function router; `sitectl canary` sets them).
CANARY_VERSION_KEY = "canaryVersion"
CANARY_PERCENT_KEY = "canaryPercent"


class RolledBackVersionError(ValueError):
    """A deployment would put a version back live that an emergency rollback took down."""


class UnreadableRecordError(StoreError):
    """The record exists but cannot be read: the deployment cannot tell what was rolled back."""


@dataclass(frozen=True)
class EmergencyRecord:
    rolled_back: tuple[str, ...]  # the versions taken off the site (two emergencies in a row: both)
    live: str  # the version the rollback made live
    by: str
    at: str  # ISO 8601, UTC
    reason: str
    ended_canary: str = ""  # the canary the rollback ended (cloudfront-function router); "": none

    def to_json(self) -> str:
        document = {**asdict(self), "rolled_back": list(self.rolled_back)}
        if not self.ended_canary:
            del document["ended_canary"]  # as records were written before canaries
        return json.dumps(document, sort_keys=True)

    def describe(self) -> str:
        reason = f' ("{self.reason}")' if self.reason else ""
        taken = " and ".join(self.rolled_back)
        ended = f", ending canary {self.ended_canary}" if self.ended_canary else ""
        return f"{taken} rolled back to {self.live} in an emergency by {self.by} at {self.at}{reason}{ended}"

    def after(
        self, live: str, target: str, by: str, at: str, reason: str, ended_canary: str = ""
    ) -> EmergencyRecord:
        """The record of a further emergency move from `live` to `target`: every version taken down
        stays taken down, unless it is the one made live now; a canary ended before stays ended unless
        this move ends another."""
        taken = tuple(v for v in (*self.rolled_back, live) if v != target)
        ended = ended_canary or self.ended_canary
        return EmergencyRecord(tuple(dict.fromkeys(taken)), target, by, at, reason, ended)


def record_name(pointer_name: str) -> str:
    """The record's SSM parameter: the pointer's name with `-emergency-rollback` (same region)."""
    return f"{pointer_name}{RECORD_SUFFIX}"


def parse(name: str, text: str) -> EmergencyRecord:
    try:
        data = json.loads(text)
        taken = data["rolled_back"]
        if not isinstance(taken, list) or not taken or not all(isinstance(v, str) for v in taken):
            raise ValueError("rolled_back is not a list of versions")
        fields = {key: str(data[key]) for key in ("live", "by", "at")}
        return EmergencyRecord(
            tuple(taken),
            **fields,
            reason=str(data.get("reason", "")),
            ended_canary=str(data.get("ended_canary") or ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnreadableRecordError(
            f"the emergency rollback record {name} is not one sitectl wrote ({type(error).__name__}): "
            f"read it with `aws ssm get-parameter --name {name}`, then delete it "
            f"(`aws ssm delete-parameter --name {name}`) once the live version is the one you want"
        ) from error


def read_record(ssm: Any, pointer_name: str) -> EmergencyRecord | None:
    """The record beside `pointer_name`, or None when there is none."""
    name = record_name(pointer_name)
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise
    return parse(name, str(value))


def write_record(ssm: Any, pointer_name: str, record: EmergencyRecord) -> None:
    ssm.put_parameter(
        Name=record_name(pointer_name),
        Value=record.to_json(),
        Type="String",
        Overwrite=True,
        Description="versioned-site: a version rolled back in an emergency (sitectl rollback --now)",
    )


def clear_record(ssm: Any, pointer_name: str) -> None:
    try:
        ssm.delete_parameter(Name=record_name(pointer_name))
    except ClientError as error:
        if error_code(error) != "ParameterNotFound":
            raise


def config_namespace(version_key: str) -> str:
    """The stack config namespace the `version` key sits in (`<project>:version`), where the other
    release keys sit too."""
    return version_key.rsplit(":", 1)[0] if ":" in version_key else "versioned-site"


def check_deployment(
    record: EmergencyRecord | None, configured: str | None, release_rolled_back: str | None, version_key: str
) -> None:
    """Refuse a deployment whose `version` is the one rolled back in an emergency, unless the config
    releases it again on purpose (`releaseRolledBack` names that same version)."""
    if record is None or configured not in record.rolled_back or release_rolled_back == configured:
        return
    project = config_namespace(version_key)
    raise RolledBackVersionError(
        f"{record.describe()}, and this deployment would put {configured} back live: set the version to "
        f"what is live (`pulumi config set {version_key} {record.live}`), or release {configured} again "
        f"on purpose (`pulumi config set {project}:{RELEASE_ROLLED_BACK_KEY} {configured}`)"
    )


class EndedCanaryError(ValueError):
    """A deployment would start again the canary an emergency rollback ended."""


def check_canary(
    record: EmergencyRecord | None, canary: str | None, release_rolled_back: str | None, version_key: str
) -> None:
    """Refuse a deployment whose `canaryVersion` is the canary an emergency rollback ended (its stack
    config, in a checkout or a CI branch, still names it), unless `releaseRolledBack` names it on
    purpose. The record stays until a deployment moves the pointer on (`clears`), so a config caught up
    by the rollback itself is no way around it for a stale one."""
    if record is None or not canary or canary != record.ended_canary or release_rolled_back == canary:
        return
    project = config_namespace(version_key)
    raise EndedCanaryError(
        f"{record.describe()}, and this deployment would start that canary again: the stack config still "
        f"names it. Remove it (`sitectl canary --abort --config-only`, or `pulumi "
        f"config rm {project}:{CANARY_VERSION_KEY}` and `pulumi config rm {project}:{CANARY_PERCENT_KEY}`), "
        f"or run it again on purpose (`pulumi config set {project}:{RELEASE_ROLLED_BACK_KEY} {canary}`)"
    )


def clears(record: EmergencyRecord | None, new_live: str) -> bool:
    """Whether a deployment that made `new_live` live ends the record: any version but the one the
    rollback made live (a third version, or the broken one released again on purpose)."""
    return record is not None and new_live != record.live
