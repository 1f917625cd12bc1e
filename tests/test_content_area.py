"""Versions stored by content for Lambda@Edge (`sitectl upload --router lambda-edge`): every file but
the fingerprinted ones (`_assets/`) and the root page is stored once, at `_content/<sha256>/<path>`,
and a release of an unchanged file sends and copies nothing. Against moto: what an upload costs, the
seal's proof, what the edge asks for, prune, promote, and the function router's refusal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from components.release_guard import UnreleasableVersionError, check_releasable
from edge_lambda import layout
from edge_lambda.handler import OriginRequestHandler, PointerCache
from edge_lambda.settings import EdgeSettings
from scripts.commands.upload import upload_build
from scripts.sitectl import cli
from scripts.versionstore import promote as promotion
from scripts.versionstore import store
from scripts.versionstore.errors import StoreError
from scripts.versionstore.shared_assets import prune_shared_assets
from tests.clock import ManualClock
from tests.edge_scaffold import origin_request_event
from tests.sitectl_scaffold import (
    BUCKET,
    PARAMETER,
    V1,
    V2,
    V3,
    V4,
    FakeStack,
    World,
    backdate,
    keys,
    world,
    write_build,
)

__all__ = ["world"]

ROUTER_KEY = "versioned-site:router"

SITE: dict[str, bytes | str] = {
    "index.html": "<p>home one</p>",
    "about/index.html": "<p>about</p>",
    "blog/first.html": "<p>first</p>",
    "logo.png": b"\x89PNG one",
    "assets/app.fa10386f.js": "console.log('app')",
}
TWO: dict[str, bytes | str] = {
    **SITE,
    "index.html": "<p>home two</p>",
    "blog/first.html": "<p>first, edited</p>",
}


def _manifest(s3: Any, version: str, bucket: str = BUCKET) -> layout.Manifest:
    manifest = store.read_manifest(s3, bucket, version)
    assert manifest is not None
    return manifest


def test_a_release_sends_what_changed_and_nothing_for_the_rest(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    counts = world.count_requests()
    report = upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge")

    # The claim, the two changed files (the root page under the prefix, the post by content), the
    # manifest: no copy, nothing for the three unchanged files.
    assert counts.get("PutObject") == 4 and "CopyObject" not in counts
    assert (report.sent_files, report.copied_files, report.skipped_files) == (2, 0, 3)
    manifest = _manifest(world.s3, V2)
    assert {path: entry.stored_in for path, entry in manifest.files.items()} == {
        "index.html": "",
        "about/index.html": layout.CONTENT_AREA,
        "blog/first.html": layout.CONTENT_AREA,
        "logo.png": layout.CONTENT_AREA,
        "assets/app.fa10386f.js": layout.SHARED_AREA,
    }
    assert keys(world, f"{V2}/") == [f"{V2}/index.html"]
    about = world.s3.head_object(
        Bucket=BUCKET, Key=layout.stored_key(V2, "about/index.html", manifest.files["about/index.html"])
    )
    assert about["Metadata"][layout.VERSION_METADATA_KEY] == V1, "stored once, by V1"
    assert store.verify_versions(world.s3, BUCKET) == {V2: [], V1: []}


def test_the_edge_asks_the_content_area_and_the_root_page_says_the_version(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge")
    world.ssm.put_parameter(Name=PARAMETER, Value=V2, Type="String", Overwrite=True)
    settings = EdgeSettings(PARAMETER, "us-east-1", 5, bucket=BUCKET, bucket_region="us-east-1")
    edge = OriginRequestHandler(settings, PointerCache(settings, world.ssm, now=ManualClock()))
    entries = _manifest(world.s3, V2).files
    for uri, path in [
        ("/about/", "about/index.html"),
        ("/blog/first", "blog/first.html"),
        ("/logo.png", "logo.png"),
    ]:
        key = edge(origin_request_event(uri))["uri"][1:]
        assert key == layout.content_key(path, entries[path].sha256)
        assert (
            world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            == (tmp_path / "two" / path).read_bytes()
        )
    root = edge(origin_request_event("/"))["uri"]
    assert root == f"/{V2}/index.html"
    assert world.s3.head_object(Bucket=BUCKET, Key=root[1:])["Metadata"][layout.VERSION_METADATA_KEY] == V2


def test_a_version_is_never_sealed_with_a_file_missing_from_the_content_area(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    logo = layout.content_key("logo.png", _manifest(world.s3, V1).files["logo.png"].sha256)

    def deleted_by_hand(claim: store.Claim) -> None:
        world.s3.delete_object(Bucket=BUCKET, Key=logo)

    with pytest.raises(StoreError, match=f"logo.png is missing from the shared area \\({logo}\\)"):
        upload_build(
            world.s3,
            BUCKET,
            write_build(tmp_path / "two", TWO),
            V2,
            router="lambda-edge",
            before_seal=deleted_by_hand,
        )
    assert not store.is_complete(world.s3, BUCKET, V2)


def test_prune_keeps_what_a_remaining_version_names_and_deletes_the_rest_once_old(
    world: World, tmp_path: Path
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge")
    first_post = layout.content_key(
        "blog/first.html", _manifest(world.s3, V1).files["blog/first.html"].sha256
    )
    store.delete_version(world.s3, BUCKET, V1)
    backdate(world, layout.CONTENT_PREFIX, hours=25)
    gone = prune_shared_assets(world.s3, BUCKET, now=store.server_now(world.s3, BUCKET), apply=True)
    assert gone == [first_post], "V1's own post only: V2 names the other files V1 stored"
    assert store.verify_versions(world.s3, BUCKET) == {V2: []}


def test_the_function_router_refuses_a_version_stored_by_content(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2)
    with pytest.raises(UnreleasableVersionError) as refused:
        check_releasable(world.s3, BUCKET, V1, require_shared_assets=True)
    assert str(refused.value) == (
        f"version {V1} stores 3 files by content (first: about/index.html), which only the lambda-edge "
        "router serves; the cloudfront-function router reads them from the version's prefix. Upload the "
        "build again with `sitectl upload --router cloudfront-function` and release that version."
    )
    check_releasable(world.s3, BUCKET, V1, require_shared_assets=False)  # Lambda@Edge serves it
    check_releasable(world.s3, BUCKET, V2, require_shared_assets=True)  # stored under its prefix
    assert _manifest(world.s3, V2).by_content() == []


def test_the_cli_stores_by_content_for_lambda_edge_only(world: World, tmp_path: Path) -> None:
    build = str(write_build(tmp_path / "one", SITE))
    default = world.invoke("--bucket", BUCKET, "upload", build, "--version", V1)
    assert default.exit_code == 0, default.output
    assert _manifest(world.s3, V1).by_content() == [], "no stack, no --router: what both routers serve"
    lambda_edge = world.invoke(
        "--bucket", BUCKET, "upload", build, "--version", V2, "--router", "lambda-edge"
    )
    assert lambda_edge.exit_code == 0, lambda_edge.output
    assert _manifest(world.s3, V2).by_content() == ["about/index.html", "blog/first.html", "logo.png"]
    # With a stack, the router it deployed (its `router` output) decides.
    for name, router in (("edge", "lambda-edge"), ("function", "cloudfront-function")):
        world.stacks[name] = FakeStack(name=name, extra_outputs={"bucketName": BUCKET, "router": router})
    assert world.invoke("--stack", "function", "upload", build, "--version", V3).exit_code == 0
    assert _manifest(world.s3, V3).by_content() == []
    assert world.invoke("--stack", "edge", "upload", build, "--version", V4).exit_code == 0
    assert len(_manifest(world.s3, V4).by_content()) == 3


def test_a_version_stored_by_content_promotes_with_its_files(world: World, tmp_path: Path) -> None:
    world.s3.create_bucket(Bucket="site-bucket-prod")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge")
    source = promotion.BucketRef(world.s3, BUCKET)
    destination = promotion.BucketRef(world.s3, "site-bucket-prod")
    promotion.promote_version(source, destination, V2)
    assert store.verify_version(world.s3, "site-bucket-prod", V2) == []
    listed = world.s3.list_objects_v2(Bucket="site-bucket-prod", Prefix=layout.CONTENT_PREFIX)
    assert len(listed["Contents"]) == 3


def test_old_content_is_kept_a_day_as_shared_assets_are(world: World, tmp_path: Path) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    store.delete_version(world.s3, BUCKET, V1)
    now = store.server_now(world.s3, BUCKET)
    assert prune_shared_assets(world.s3, BUCKET, now=now, apply=True) == []
    later = prune_shared_assets(world.s3, BUCKET, now=now + timedelta(hours=25), apply=False)
    assert len(later) == 4  # the three pages and image by content, the script in _assets/


def test_rollback_now_on_the_function_router_refuses_a_version_stored_by_content_before_any_write(
    world: World, tmp_path: Path
) -> None:
    from edge_function.code import LIVE_VERSION_KEY
    from scripts.offline.kvs_fake import FakeStore, client_for, running_store
    from tests.test_emergency_rollback import Emergency

    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V4, router="lambda-edge")
    with running_store(FakeStore(items={LIVE_VERSION_KEY: V2})) as (kvs, endpoint):
        site = Emergency(world, "cloudfront-function", kvs=client_for(endpoint))
        result = site.invoke("rollback", "--now", "--version", V4, "--yes")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: version {V4} stores 3 files by content (first: about/index.html), which only the "
        "lambda-edge router serves; the cloudfront-function router reads them from the version's prefix. "
        "Upload the build again with `sitectl upload --router cloudfront-function` and release that "
        "version.\n"
    )
    assert kvs.puts == [] and world.live() == V2 and site.record() is None


def test_promote_into_a_function_router_stack_refuses_a_version_stored_by_content_before_copying(
    world: World, tmp_path: Path
) -> None:
    """Its release guard would refuse the version at `pulumi up` (promote --release), after the whole
    version was copied into a bucket whose router can never serve it."""
    world.s3.create_bucket(Bucket="site-bucket-prod")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", SITE), V2, router="cloudfront-function")
    world.stacks["prod"] = FakeStack(
        name="prod", extra_outputs={"bucketName": "site-bucket-prod", "router": "cloudfront-function"}
    )
    refused = world.invoke("--stack", "prod", "promote", V1, "--from-bucket", BUCKET, "--release")
    assert refused.exit_code == 2, refused.output
    assert refused.stderr == (
        f"Error: version {V1} stores 3 files by content (first: about/index.html), which only the "
        "lambda-edge router serves; the cloudfront-function router reads them from the version's prefix, "
        "and stack 'prod' has the cloudfront-function router: nothing was copied. Upload the build with "
        "`sitectl upload --router cloudfront-function` and promote that version.\n"
    )
    assert world.s3.list_objects_v2(Bucket="site-bucket-prod")["KeyCount"] == 0
    assert world.stacks["prod"].mutations == []
    promoted = world.invoke("--stack", "prod", "promote", V2, "--from-bucket", BUCKET)
    assert promoted.exit_code == 0, promoted.output


def test_serve_as_the_function_router_refuses_to_preview_a_version_stored_by_content(
    world: World, tmp_path: Path
) -> None:
    """The function would answer 404 for each file stored by content, and its release guard refuses
    such a version: the preview says so instead of serving 404s."""
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    result = world.invoke(
        "--bucket", BUCKET, "serve", "--version", V1, "--router", "cloudfront-function", "--port", "0"
    )
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: version {V1} stores 3 files by content (first: about/index.html), which only the "
        "lambda-edge router serves; the cloudfront-function router reads them from the version's prefix: "
        "preview it with --router lambda-edge, or upload the build again with `sitectl upload --router "
        "cloudfront-function`\n"
    )


def test_sitectl_canary_refuses_a_version_stored_by_content_before_the_config_is_touched(
    world: World, tmp_path: Path
) -> None:
    from tests.test_canary_cli import CanaryStack

    stack = CanaryStack(
        extra_outputs={"router": "cloudfront-function"},
        config={"versioned-site:router": "cloudfront-function"},
        version=V1,
    )
    world.stack = world.stacks["test"] = stack
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="cloudfront-function")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="lambda-edge")
    world.set_live(V1)
    result = world.invoke("canary", "--stack", "test", V2, "--percent", "5", "--yes")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: version {V2} stores 3 files by content (first: about/index.html), which only the "
        "lambda-edge router serves; the cloudfront-function router reads them from the version's prefix. "
        "Upload the build again with `sitectl upload --router cloudfront-function` and release that "
        "version.\n"
    )
    assert stack.mutations == []


BY_CONTENT_REFUSAL = (
    f"Error: version {V1} stores 3 files by content (first: about/index.html), which only the "
    "lambda-edge router serves; the cloudfront-function router reads them from the version's prefix. "
    "Upload the build again with `sitectl upload --router cloudfront-function` and release that "
    "version.\n"
)


@pytest.mark.parametrize("command", [("release", V1), ("rollback", "--version", V1)])
def test_config_only_into_a_function_router_stack_file_refuses_a_version_stored_by_content(
    world: World, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`--config-only` edits the stack file alone (a pull request); the program's release guard would
    refuse the version only once that change is merged and deployed. sitectl refuses it first, with
    the guard's own words, and the file is left as it was."""
    from tests.test_renamed_project import no_pulumi

    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    (tmp_path / "Pulumi.yaml").write_text("name: versioned-site\nruntime: python\n")
    stack_file = tmp_path / "Pulumi.prod.yaml"
    text = f"config:\n  sitectl:bucket: {BUCKET}\n  versioned-site:router: cloudfront-function\n"
    stack_file.write_text(text)
    deps = no_pulumi()
    deps.s3_factory = lambda: world.s3
    args = [*command, "--stack", "prod", "--config-only", "--project-dir", str(tmp_path)]
    refused = CliRunner().invoke(cli, args, obj=deps)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr == BY_CONTENT_REFUSAL
    assert stack_file.read_text() == text
    # The same change for a Lambda@Edge stack, which serves it.
    stack_file.write_text(text.replace("cloudfront-function", "lambda-edge"))
    done = CliRunner().invoke(cli, args, obj=deps)
    assert done.exit_code == 0, done.output
    assert f"versioned-site:version: {V1}" in stack_file.read_text()


@pytest.mark.parametrize(
    ("args", "config", "router_output"),
    [
        # The router deployed is the function: the targeted `up` would refuse it, after the config moved.
        (("release", V1, "--yes"), {}, "cloudfront-function"),
        (("release", V1, "--dry-run"), {}, "cloudfront-function"),
        # A switch to the function merged but not deployed yet: its `pulumi up` would refuse it.
        (("release", V1, "--config-only"), {ROUTER_KEY: "cloudfront-function"}, "lambda-edge"),
        (("rollback", "--version", V1, "--config-only"), {ROUTER_KEY: "cloudfront-function"}, "lambda-edge"),
    ],
    ids=["release", "dry-run", "config-only", "rollback-config-only"],
)
def test_release_refuses_a_version_stored_by_content_before_the_config_is_touched(
    world: World, tmp_path: Path, args: tuple[str, ...], config: dict[str, str], router_output: str
) -> None:
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="cloudfront-function")
    world.stack.extra_outputs["router"] = router_output
    world.stack.config.update(config)
    world.stack.version = V2
    world.set_live(V2)
    result = world.invoke(*args[:1], "--stack", "test", *args[1:])
    assert result.exit_code == 2, result.output
    assert result.stderr == BY_CONTENT_REFUSAL
    assert world.stack.mutations == [] and world.live() == V2


def test_canary_complete_config_only_refuses_a_canary_stored_by_content(world: World, tmp_path: Path) -> None:
    """A canary the config names by hand was never checked by `sitectl canary`: completing it makes
    it `version`, which the function router's release guard refuses at the next `pulumi up`."""
    from tests.test_canary_cli import CanaryStack

    stack = CanaryStack(
        extra_outputs={"router": "cloudfront-function"},
        config={ROUTER_KEY: "cloudfront-function", "versioned-site:canaryVersion": V1},
        version=V2,
    )
    world.stack = world.stacks["test"] = stack
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "two", TWO), V2, router="cloudfront-function")
    world.set_live(V2)
    result = world.invoke("canary", "--stack", "test", "--complete", "--config-only")
    assert result.exit_code == 2, result.output
    assert result.stderr == BY_CONTENT_REFUSAL
    assert stack.mutations == []


def test_promote_refuses_a_version_stored_by_content_into_a_stack_switching_to_the_function_router(
    world: World, tmp_path: Path
) -> None:
    """The stack's config names the function router (the switch merged, not deployed yet): its next
    `pulumi up` builds that router, whose release guard refuses the version."""
    world.s3.create_bucket(Bucket="site-bucket-prod")
    upload_build(world.s3, BUCKET, write_build(tmp_path / "one", SITE), V1, router="lambda-edge")
    world.stacks["prod"] = FakeStack(
        name="prod",
        extra_outputs={"bucketName": "site-bucket-prod", "router": "lambda-edge"},
        config={ROUTER_KEY: "cloudfront-function"},
    )
    refused = world.invoke("--stack", "prod", "promote", V1, "--from-bucket", BUCKET)
    assert refused.exit_code == 2, refused.output
    assert "and stack 'prod' has the cloudfront-function router: nothing was copied" in refused.stderr
    assert world.s3.list_objects_v2(Bucket="site-bucket-prod")["KeyCount"] == 0
