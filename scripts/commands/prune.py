"""`sitectl prune`: delete old versions, never one that is or may soon be live again.

Protected whatever `--keep` says: the live version (the pointer parameter), the one live before it
(rollback's target), the complete version just older than the live one, every version newer than
the live one (it may be released next), and every version a stack of this bucket points to (its
`version` config or `liveVersion` output). An incomplete version whose claim was written within
`CLAIM_FRESH_FOR` (24 h) is left alone: it may be an upload in progress or about to be resumed;
that is checked again just before it is deleted. A dry run prints exactly what --apply would do,
unless a version changes in between.

On a stack with the cloudfront-function router, a deleted version's build-rule keys (`r/<version>/n`,
edge_function/rule_keys.py) leave its KeyValueStore too, after its objects: their names come from its
manifest, read before the objects go. Then a sweep deletes the rule keys of every other version the
bucket no longer holds at all (a refused delete of an earlier prune, names older code wrote), never one
the store's `live-version` value or prune's protections name (`orphan_rule_keys`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import click
from botocore.exceptions import ClientError

from components import release_guard
from edge_function import CLOUDFRONT_FUNCTION
from edge_function.code import LIVE_VERSION_KEY, manifest_rule_keys, parse_canary, parse_store_value
from edge_function.rule_keys import delete_rule_keys, list_keys, rule_key_version
from edge_lambda.routes import RoutesTooLargeError
from scripts.commands.errors import SitectlError, aws_errors
from scripts.commands.options import Output, json_output
from scripts.commands.site import Site, is_released, site_options
from scripts.commands.versions import format_bytes, render_table
from scripts.versionstore import shared_assets
from scripts.versionstore import store as storage


@dataclass
class PrunePlan:
    keep: dict[str, str] = field(default_factory=dict)  # version -> why it stays
    delete: list[str] = field(default_factory=list)  # newest first


FRESH_REASON = "incomplete, written to within 24 h: may be an upload in progress"


def plan_prune(
    versions: list[storage.VersionInfo],
    keep: int,
    protected: Mapping[str, str],
    fresh: Collection[str] = (),
) -> PrunePlan:
    """Keep the newest `keep` complete versions, every protected one and every `fresh` incomplete
    one (claimed recently); delete the rest."""
    plan = PrunePlan()
    complete = [v.version for v in versions if v.complete]
    newest_complete = complete[:keep]
    for info in versions:
        if info.version in protected:
            plan.keep[info.version] = protected[info.version]
        elif info.version in newest_complete:
            plan.keep[info.version] = f"among the newest {keep}"
        elif not info.complete and info.version in fresh:
            plan.keep[info.version] = FRESH_REASON
        else:
            plan.delete.append(info.version)
    return plan


def fresh_incomplete(
    s3: storage.S3Client, bucket: str, versions: list[storage.VersionInfo], now: datetime
) -> set[str]:
    """The incomplete versions prune must leave alone at `now`."""
    return {
        v.version for v in versions if not v.complete and not storage.is_stale(s3, bucket, v.version, now)
    }


def protected_versions(
    site: Site, bucket: str, versions: list[storage.VersionInfo], check_stacks: bool
) -> dict[str, str]:
    """Versions prune must never delete, with the reason."""
    live = site.require_live_version("prune")
    protected: dict[str, str] = {}

    def protect(version: str, reason: str) -> None:
        protected[version] = f"{protected[version]}; {reason}" if version in protected else reason

    if is_released(live):
        protect(live, "live")
        for change in site.parameter_history():
            if is_released(change.value) and change.value != live:
                protect(change.value, "live before the current one")
                break
        complete = [v.version for v in versions if v.complete]
        older = [v for v in complete if v < live]
        if older:
            protect(older[0], "the version before the live one")
        for info in versions:
            if info.version > live:
                protect(info.version, "newer than the live version")
    canary = site.canary()
    if canary is not None:
        protect(canary[0], f"the running canary ({canary[1]}% of viewers)")
    if check_stacks:
        for name, version in _stack_versions(site, bucket):
            protect(version, f"stack {name} points to it")
    return protected


def _live_values(site: Site) -> dict[str, str | None]:
    """What says which version is (or is about to be) live, read now: the pointer, and with --stack
    the stack's `version` config and its deployed `liveVersion` output."""
    canary = site.canary()
    values: dict[str, str | None] = {
        "the pointer": site.require_live_version("prune"),
        "the canary": None if canary is None else canary[0],
    }
    if site.has_stack:
        stack = site.stack()
        values[f"stack {stack.name}'s version config"] = stack.get_version() or None
        deployed = stack.outputs().get("liveVersion")
        values[f"stack {stack.name}'s liveVersion output"] = str(deployed) if deployed else None
    return values


def _check_unchanged(site: Site, planned: Mapping[str, str | None], version: str) -> None:
    """Raise (stopping prune before `version`) when a release or rollback happened since the plan:
    the plan's protections (live, the one before it, newer ones) no longer hold."""
    for what, now in _live_values(site).items():
        if now != planned.get(what):
            raise SitectlError(
                f"{what} changed from {planned.get(what) or 'nothing'} to {now or 'nothing'} while prune "
                f"ran (a release or rollback): stopped before deleting {version}; run prune again"
            )


def _stack_versions(site: Site, bucket: str) -> list[tuple[str, str]]:
    found = []
    try:
        names = site.deps.stack_lister(site.project_dir)
    except SitectlError as error:
        raise SitectlError(
            f"{error.message}; pass --skip-stack-check to prune without checking stacks"
        ) from error
    for name in names:
        stack = site.deps.stack_factory(name, site.project_dir)
        outputs = stack.outputs()
        if outputs.get("bucketName") != bucket:
            continue
        for version in (stack.get_version(), outputs.get("liveVersion")):
            if isinstance(version, str) and is_released(version):
                found.append((name, version))
    return found


def _rule_store(site: Site, bucket: str) -> str | None:
    """The stack's KeyValueStore ARN when it runs the cloudfront-function router (its outputs, as
    `rollback --now` reads them); None without a stack, on the Lambda@Edge router, or when prune runs
    on another bucket than the stack's (--bucket): its keys name that bucket's versions only."""
    outputs = site.outputs()
    if str(outputs.get("router") or "lambda-edge") != CLOUDFRONT_FUNCTION:
        return None
    if outputs.get("bucketName") != bucket:
        return None
    return str(outputs.get("pointerStoreArn") or "") or None


def _rule_keys_of(s3: Any, bucket: str, version: str) -> list[str]:
    """The rule keys a release of `version` wrote (`manifest_rule_keys`, what `rollback --now` and the
    program write); none for a version this router never carried."""
    try:
        return list(manifest_rule_keys(version, release_guard.manifest_of(s3, bucket, version)))
    except RoutesTooLargeError:
        return []
    except storage.ManifestUnreadableError as error:
        # Once the version is gone, the sweep finds its keys by their names (`orphan_rule_keys`).
        click.echo(f"warning: rule keys of {version} not read from its manifest: {error}", err=True)
        return []


def _delete_rule_keys(site: Site, store_arn: str, version: str, keys: list[str], why: str = "") -> bool:
    """After `version`'s objects are gone: its rule keys, which no release can read any more. False
    when the store refused (a warning names the keys left)."""
    try:
        gone = delete_rule_keys(site.deps.kvs_factory(), store_arn, keys)
    except ClientError as error:
        click.echo(
            f"warning: {len(keys)} rule keys of {version}{why} stay in the KeyValueStore "
            f"({', '.join(keys)}): {error}; delete them with `aws cloudfront-keyvaluestore delete-key`",
            err=True,
        )
        return False
    click.echo(f"deleted {gone} rule keys of {version}{why} from the KeyValueStore", err=True)
    return True


NOT_STORED = ", which the bucket no longer holds,"


def orphan_rule_keys(
    site: Site,
    s3: Any,
    bucket: str,
    store_arn: str,
    kept: Collection[str],
    gone: Collection[str] = (),
) -> dict[str, list[str]] | None:
    """The store's rule keys no version can read any more, by version: `r/<version>/...` of a version
    the bucket holds nothing of (no manifest, no object, no claim: neither complete nor being uploaded;
    `gone`: counted as deleted already, for a dry run), that neither the store's `live-version` value
    (the live version, the canary) nor `kept` (prune's protections: the one live before, stacks'
    versions) names. The store is listed before the bucket: the keys of a version are written only
    once it is complete and before the pointer names it (`rule_keys.write_rule_keys`: the program,
    `rollback --now`, the demo), so any key listed belongs to a version the bucket listed after it
    still holds, unless a prune deleted it. None when the store cannot be listed (a warning)."""
    try:
        items = list_keys(site.deps.kvs_factory(), store_arn)
    except ClientError as error:
        click.echo(
            f"warning: rule keys of versions no longer stored not looked for: {error} (the role needs "
            'cloudfront-keyvaluestore:ListKeys: README, "Prune old versions")',
            err=True,
        )
        return None
    readable = set(kept) | (storage.stored_versions(s3, bucket) - set(gone))
    value = items.get(LIVE_VERSION_KEY)
    if value is not None:
        readable.add(parse_store_value(value)[0])
        canary = parse_canary(value)
        if canary is not None:
            readable.add(canary.version)
    found: dict[str, list[str]] = {}
    for key in sorted(items):
        version = rule_key_version(key)
        if version is not None and version not in readable:
            found.setdefault(version, []).append(key)
    return found


def _planned_orphans(
    site: Site,
    s3: Any,
    bucket: str,
    store_arn: str,
    protected: Collection[str],
    doomed: Collection[str],
    rule_keys: Mapping[str, list[str]],
) -> dict[str, list[str]]:
    """The sweep as the plan sees it: with `doomed` gone, the keys left besides their manifests'."""
    found = orphan_rule_keys(site, s3, bucket, store_arn, protected, gone=doomed) or {}
    planned = {
        version: [k for k in keys if k not in rule_keys.get(version, ())] for version, keys in found.items()
    }
    return {version: keys for version, keys in planned.items() if keys}


@click.command("prune")
@json_output
@click.option(
    "--keep", type=click.IntRange(0), required=True, help="Complete versions to keep, newest first."
)
@click.option("--apply", "apply_changes", is_flag=True, help="Delete for real (default: only show the plan).")
@click.option(
    "--skip-stack-check",
    is_flag=True,
    help="Do not list the project's Pulumi stacks for versions they point to (when Pulumi is unavailable).",
)
@site_options()
@aws_errors
def prune_command(keep: int, apply_changes: bool, skip_stack_check: bool, site: Site, output: Output) -> None:
    """Delete old versions (objects and manifest), keeping the newest KEEP complete ones, the live
    one, the one before it and any version a stack of this bucket points to. A dry run unless --apply."""
    bucket = storage.check_bucket_name(site.bucket())
    s3 = site.s3()
    versions = storage.list_versions(
        s3, bucket, warn=lambda message: click.echo(f"warning: {message}", err=True)
    )
    planned = _live_values(site)
    protected = protected_versions(site, bucket, versions, check_stacks=not skip_stack_check)
    plan = plan_prune(
        versions, keep, protected, fresh_incomplete(s3, bucket, versions, storage.server_now(s3, bucket))
    )
    complete = {v.version for v in versions if v.complete}
    sizes = {v.version: v.total_bytes for v in versions}
    # Only a released (so complete) version has rule keys; read before its manifest is deleted.
    store_arn = _rule_store(site, bucket)
    rule_keys = {
        version: found
        for version in plan.delete
        if store_arn and version in complete and (found := _rule_keys_of(s3, bucket, version))
    }
    # What the sweep would delete once the plan's versions are gone (their manifests' keys apart).
    orphans = (
        _planned_orphans(site, s3, bucket, store_arn, protected, plan.delete, rule_keys)
        if store_arn and (output.json or not apply_changes)
        else {}
    )
    if output.json:
        output.result(
            {
                "bucket": bucket,
                "keep": plan.keep,
                "delete": plan.delete,
                "ruleKeys": {version: len(found) for version, found in rule_keys.items()},
                "orphanRuleKeys": {version: len(found) for version, found in orphans.items()},
                "applied": apply_changes,
            }
        )
    else:
        rows = [[v, "keep", format_bytes(sizes.get(v)), why] for v, why in plan.keep.items()]
        action = "delete" if apply_changes else "would delete"
        rows += [[v, action, format_bytes(sizes.get(v)), ""] for v in plan.delete]
        rows.sort(key=lambda row: row[0], reverse=True)
        click.echo(render_table([["VERSION", "ACTION", "SIZE", "WHY"], *rows]))
    if not apply_changes:
        for version, found in rule_keys.items():
            click.echo(f"would delete {len(found)} rule keys of {version} from the KeyValueStore", err=True)
        for version, found in orphans.items():
            click.echo(
                f"would delete {len(found)} rule keys of {version}{NOT_STORED} from the KeyValueStore",
                err=True,
            )
        if plan.delete:
            click.echo(
                f"dry run: {len(plan.delete)} versions would be deleted; pass --apply to delete them",
                err=True,
            )
        return
    owner = storage.lock_owner("sitectl prune")
    refused: set[str] = set()
    for version in plan.delete:
        now = storage.server_now(s3, bucket)
        if version in complete:
            # Under a deletion lock, which a release respects (and a release's lock stops prune), and
            # only while what protects versions is still what the plan saw.
            outcome = storage.delete_locked_version(
                s3, bucket, version, owner, now, partial(_check_unchanged, site, planned, version)
            )
            if isinstance(outcome, str):
                click.echo(f"kept {version}: {outcome}", err=True)
                continue
            deleted: int | None = outcome
        else:
            # An upload may have resumed or completed it since the plan: the store looks again.
            deleted = storage.delete_stale_version(s3, bucket, version, now)
        if deleted is None:
            click.echo(f"kept {version}: it was claimed or completed since the plan was made", err=True)
        else:
            click.echo(f"deleted {version} ({deleted} keys)", err=True)
            refused_keys = (
                version in rule_keys
                and store_arn is not None
                and not _delete_rule_keys(site, store_arn, version, rule_keys[version])
            )
            if refused_keys:
                refused.add(version)  # warned once: the sweep leaves them
    if store_arn:
        # Listed now, after the deletions: what no version can read any more.
        swept = orphan_rule_keys(site, s3, bucket, store_arn, {*protected, *refused})
        for version, found in (swept or {}).items():
            _delete_rule_keys(site, store_arn, version, found, NOT_STORED)
    # Skew protection reaches back as far as the complete versions left: after deleting versions,
    # the shared assets none of the remaining ones references go too.
    try:
        gone = shared_assets.prune_shared_assets(s3, bucket, now=storage.server_now(s3, bucket), apply=True)
    except storage.ManifestUnreadableError as error:
        # Which shared assets that version references is unknown: none may be deleted.
        click.echo(f"warning: shared assets not pruned: {error}", err=True)
        return
    except shared_assets.SharedAssetsInUseError as error:
        click.echo(f"warning: {error}", err=True)
        return
    if gone:
        click.echo(f"deleted {len(gone)} shared assets no complete version references", err=True)
