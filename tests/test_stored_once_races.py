"""Files stored once (`_assets/`, `_content/`) under concurrency, against moto: two uploads sending the
same new file, a prune of the areas running while an upload relies on files it did not send, and an
upload interrupted between sending and its seal. Each interleaving is forced (hooks on the requests,
threads where two processes would run), never left to timing; no test sleeps."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from edge_lambda import layout
from scripts.commands.upload import upload_build
from scripts.versionstore import promote as promotion
from scripts.versionstore import store
from scripts.versionstore.shared_assets import SharedAssetsInUseError, prune_shared_assets
from tests.sitectl_scaffold import BUCKET, V1, V2, World, backdate, keys, world, write_build

__all__ = ["world"]

SITE: dict[str, bytes | str] = {
    "index.html": "<p>home one</p>",
    "about/index.html": "<p>about</p>",
    "assets/app.fa10386f.js": "console.log('app')",
}
NEW_PAGE = "blog/new.html"


class _Status:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


def _conflict_once(world: World, path: str, operation: str = "PutObject") -> list[str]:
    """The next `operation` writing the file `path` answered as S3 answers a conditional write while
    another one of the same key is in flight (409 ConditionalRequestConflict): nothing stored."""
    answered: list[str] = []

    def conflict(params: dict[str, Any], **_: Any) -> tuple[_Status, dict[str, Any]] | None:
        if answered or not params["url_path"].endswith("/" + path):
            return None
        answered.append(params["url_path"])
        error = {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation occurred"}
        return _Status(409), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}}

    events: Any = world.s3.meta.events  # a handler may answer for S3 (botocore's stubs say None)
    events.register(f"before-call.s3.{operation}", conflict)
    return answered


@pytest.mark.parametrize("router", ["lambda-edge", None], ids=["_content", "_assets"])
def test_a_write_of_a_shared_file_that_met_another_in_flight_is_sent_again(
    world: World, tmp_path: Path, router: str | None
) -> None:
    """S3 answers 409 to a conditional write while another one of the key is in flight (CopyObject's
    and PutObject's If-None-Match: "On a 409 failure you should retry"): two uploads of the same new
    file at once. The other write may not have landed: the file is sent again, not taken as missing."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router=router)
    build = {**SITE, NEW_PAGE: "<p>new</p>", "assets/new.1234abcd.js": "console.log('new')"}
    path = NEW_PAGE if router else "assets/new.1234abcd.js"
    answered = _conflict_once(world, path)
    slept: list[float] = []
    upload_build(
        world.s3, BUCKET, write_build(tmp_path / "two", build), V2, router=router, sleep=slept.append
    )
    assert answered and len(slept) == 1
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}


def test_a_promote_whose_copy_met_another_in_flight_copies_again(world: World, tmp_path: Path) -> None:
    world.s3.create_bucket(Bucket="site-bucket-prod")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    answered = _conflict_once(world, "about/index.html", "CopyObject")
    slept: list[float] = []
    source, destination = (
        promotion.BucketRef(world.s3, BUCKET),
        promotion.BucketRef(world.s3, "site-bucket-prod"),
    )
    promotion.promote_version(source, destination, V1, sleep=slept.append)
    assert answered and len(slept) == 1
    assert store.verify_versions(world.s3, "site-bucket-prod") == {V1: []}


def _content_key(world: World, version: str, path: str) -> str:
    manifest = store.read_manifest(world.s3, BUCKET, version)
    assert manifest is not None
    return layout.stored_key(version, path, manifest.files[path])


def test_a_prune_after_the_plan_deletes_nothing_an_upload_took_from_a_donor_it_deleted(
    world: World, tmp_path: Path
) -> None:
    """V2 sends nothing for about/index.html: its donor V1's seal proved it in `_content/`. Before V2's
    seal, a prune deletes V1 and prunes the areas with every file a day old: only V2's claim protects
    the file now, and it does; V2 seals with it."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    about = _content_key(world, V1, "about/index.html")
    refused: list[str] = []

    def prune_now(claim: store.Claim) -> None:
        store.delete_version(world.s3, BUCKET, V1)
        backdate(world, layout.CONTENT_PREFIX, hours=25)
        with pytest.raises(SharedAssetsInUseError) as in_use:
            prune_shared_assets(world.s3, BUCKET, now=store.server_now(world.s3, BUCKET), apply=True)
        refused.append(str(in_use.value))

    build = write_build(tmp_path / "two", {**SITE, "index.html": "<p>home two</p>"})
    report = upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", before_seal=prune_now)
    assert report.sent_files == 1, "the root page: the rest was stored once already"
    assert refused and refused[0].startswith(f"shared assets not pruned: version {V2} is being uploaded")
    assert about in keys(world, layout.CONTENT_PREFIX)
    assert store.verify_versions(world.s3, BUCKET) == {V2: []}


def test_an_upload_claimed_while_a_prune_deletes_waits_for_it_then_sends_what_it_deleted(
    world: World, tmp_path: Path
) -> None:
    """The prune read the claims before V2 claimed (it saw no upload) and is about to delete what no
    version names, the new page V1 stored among it. V2, claimed now, finds the prune's key and waits
    (its sleep lets the prune finish), then sends the page again instead of relying on it."""
    upload_build(
        world.s3,
        BUCKET,
        write_build(tmp_path / "one", {**SITE, NEW_PAGE: "<p>new</p>"}),
        V1,
        router="lambda-edge",
    )
    page = _content_key(world, V1, NEW_PAGE)
    store.delete_version(world.s3, BUCKET, V1)  # its files are named by no complete version now
    backdate(world, "_", hours=25)
    deleting, go = threading.Event(), threading.Event()

    def hold() -> None:
        deleting.set()
        assert go.wait(timeout=30)

    world.once(
        "provide-client-params.s3.DeleteObjects",
        hold,
        lambda params: any(o["Key"] == page for o in params["Delete"]["Objects"]),
    )
    pruned: list[list[str]] = []
    prune = threading.Thread(
        target=lambda: pruned.append(
            prune_shared_assets(world.s3, BUCKET, now=store.server_now(world.s3, BUCKET), apply=True)
        )
    )
    prune.start()
    assert deleting.wait(timeout=30)
    waited: list[float] = []

    def let_the_prune_finish(seconds: float) -> None:
        waited.append(seconds)
        go.set()
        prune.join(timeout=30)

    build = write_build(tmp_path / "two", {**SITE, NEW_PAGE: "<p>new</p>", "index.html": "<p>2</p>"})
    report = upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", sleep=let_the_prune_finish)
    assert waited == [1.0] and not prune.is_alive()
    assert page in pruned[0], "the prune deleted the page"
    assert report.sent_files == 4, "every file: the prune deleted each one V1 stored once"
    assert store.verify_versions(world.s3, BUCKET) == {V2: []}


def test_an_upload_interrupted_before_its_seal_keeps_its_files_a_day_then_prune_takes_them(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")

    class Interrupted(Exception):
        pass

    def interrupt(claim: store.Claim) -> None:
        raise Interrupted

    build = write_build(tmp_path / "two", {**SITE, NEW_PAGE: "<p>new</p>"})
    with pytest.raises(Interrupted):
        upload_build(world.s3, BUCKET, build, V2, router="lambda-edge", before_seal=interrupt)
    new_pages = [k for k in keys(world, layout.CONTENT_PREFIX) if k.endswith(NEW_PAGE)]
    assert len(new_pages) == 1
    now = store.server_now(world.s3, BUCKET)
    with pytest.raises(SharedAssetsInUseError):
        prune_shared_assets(world.s3, BUCKET, now=now, apply=True)
    assert store.delete_stale_version(world.s3, BUCKET, V2, now) is None
    # A day later nobody resumed it: the version goes, then the page no complete version names.
    later = now + timedelta(hours=25)
    assert store.delete_stale_version(world.s3, BUCKET, V2, later) is not None
    assert prune_shared_assets(world.s3, BUCKET, now=later, apply=True) == new_pages
    assert store.verify_versions(world.s3, BUCKET) == {V1: []}
