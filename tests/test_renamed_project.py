"""Any project name, any stack: a copy of the program renamed `shop-site` releases through `sitectl`
with the key its program reads, and `release --config-only` edits the stack file with no Pulumi CLI
and no backend when the bucket is named on the command line or in the file."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import NoReturn

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from scripts.commands.project import set_config_text
from scripts.commands.site import SiteDeps
from scripts.offline.mockrun import ProgramError, run_program
from scripts.sitectl import cli
from tests.pulumi_scaffold import ROOT, SiteMocks
from tests.sitectl_scaffold import BUCKET, PARAMETER, V1, V2, World, put_version, world

__all__ = ["world"]

PAGE = {"index.html": b"<html>v</html>"}
STACK_FILE = """\
# The shop's production stack.
config:
  aws:region: eu-west-1
  shop-site:priceClass: PriceClass_200   # Europe and Asia
  shop-site:version: 20261101T100000Z

  shop-site:spaFallback: "true"
encryptionsalt: v1:abc
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The repository's program under another project name (Pulumi.yaml's `name:`), as a team hosting a
    second site in the same backend has it."""
    project = (ROOT / "Pulumi.yaml").read_text()
    assert project.startswith("name: versioned-site\n")
    (tmp_path / "Pulumi.yaml").write_text(project.replace("name: versioned-site\n", "name: shop-site\n", 1))
    (tmp_path / "__main__.py").symlink_to(ROOT / "__main__.py")
    return tmp_path


def no_pulumi() -> SiteDeps:
    """Dependencies in which any use of the Automation API (CLI, backend) fails the test."""

    def refuse(*_: object) -> NoReturn:
        raise AssertionError("the Pulumi CLI or backend was asked")

    return SiteDeps(stack_factory=refuse, stack_lister=refuse)


def test_config_only_with_a_named_bucket_edits_the_stack_file_alone(world: World, shop: Path) -> None:
    put_version(world, V2, PAGE)
    (shop / "Pulumi.prod.yaml").write_text(STACK_FILE)
    deps = no_pulumi()
    deps.s3_factory = lambda: world.s3
    deps.ssm_factory = lambda region: world.ssm
    world.set_live(V1)
    args = ["release", V2, "--stack", "prod", "--config-only", "--bucket", BUCKET, "--project-dir", str(shop)]
    result = CliRunner().invoke(cli, [*args, "--parameter", PARAMETER], obj=deps)
    assert result.exit_code == 0, result.output
    # Only the version's line changed: comments, order, blank lines and the other values are as written.
    assert (shop / "Pulumi.prod.yaml").read_text() == STACK_FILE.replace(V1, V2)
    assert result.output == (
        f"set shop-site:version to {V2} in Pulumi.prod.yaml (was {V1}; live: {V1}); nothing deployed: "
        "commit it, and `pulumi up` (or `sitectl release` after the merge) applies it\n"
        f"{V2}\n"  # the released version, on stdout
    )
    assert world.live() == V1


def test_the_program_deploys_the_version_sitectl_set_in_a_renamed_project(world: World, shop: Path) -> None:
    """The bug this closes: sitectl wrote `versioned-site:version` while the program read
    `<project>:version`, so a release did nothing. Here the program runs on what sitectl wrote."""
    put_version(world, V2, PAGE)
    # The bucket named in the stack file, the parameter not named: the live version is not read.
    (shop / "Pulumi.prod.yaml").write_text(f"config:\n  sitectl:bucket: {BUCKET}\n")
    deps = no_pulumi()
    deps.s3_factory = lambda: world.s3
    result = CliRunner().invoke(
        cli, ["release", V2, "--stack", "acme/prod", "--config-only", "--project-dir", str(shop)], obj=deps
    )
    assert result.exit_code == 0, result.output
    assert "(was unset; live: not read, no --parameter)" in result.output
    assert (shop / "Pulumi.prod.yaml").read_text() == (
        f"config:\n  sitectl:bucket: {BUCKET}\n  shop-site:version: {V2}\n"
    )

    run = run_program(
        shop, "prod", ["aws:region=eu-west-1"], use_stack_config=True, mocks=SiteMocks(), preview=False
    )
    by_type = {r.type: r for r in run.resources}
    assert by_type["aws:ssm/parameter:Parameter"].props["insecureValue"] == V2
    assert by_type["aws:ssm/parameter:Parameter"].props["name"] == "/shop-site/prod/live-version"
    stack = by_type["pulumi:pulumi:Stack"]
    assert stack.urn == "urn:pulumi:prod::shop-site::pulumi:pulumi:Stack::shop-site-prod"
    assert stack.outputs["versionConfigKey"] == "shop-site:version"


def test_config_only_refuses_an_incomplete_version_and_writes_nothing(world: World, shop: Path) -> None:
    put_version(world, V2, PAGE, complete=False)
    (shop / "Pulumi.prod.yaml").write_text(STACK_FILE)
    deps = no_pulumi()
    deps.s3_factory = lambda: world.s3
    args = ["release", V2, "--stack", "prod", "--config-only", "--bucket", BUCKET, "--project-dir", str(shop)]
    result = CliRunner().invoke(cli, args, obj=deps)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: version {V2} is incomplete (no manifest) in {BUCKET}: only complete versions can be "
        "released\n"
    )
    assert (shop / "Pulumi.prod.yaml").read_text() == STACK_FILE


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "config:\n  shop-site:version: V\n"),
        ("encryptionsalt: x\n", "encryptionsalt: x\nconfig:\n  shop-site:version: V\n"),
        ("encryptionsalt: x", "encryptionsalt: x\nconfig:\n  shop-site:version: V\n"),
        ("config:\n    aws:region: x\n", "config:\n    aws:region: x\n    shop-site:version: V\n"),
        ("config:\n  version: old # pinned\n", "config:\n  version: V\n"),
        ("config:\n  'shop-site:version': old\n", "config:\n  'shop-site:version': V\n"),
        ("config:\n  a: 1\n\nother: 2\n", "config:\n  a: 1\n  shop-site:version: V\n\nother: 2\n"),
        ("config:\n  other-site:version: 1\n", "config:\n  other-site:version: 1\n  shop-site:version: V\n"),
    ],
    ids=["empty", "no-config", "no-final-newline", "indent-4", "short-key", "quoted", "blank-line", "other"],
)
def test_the_stack_file_edit_changes_one_line(before: str, after: str) -> None:
    assert set_config_text(before, "shop-site:version", "shop-site", "V") == after


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config: {a: 1}\n", "its `config:` is not a block mapping"),
        (
            "config:\n  shop-site:version:\n    secure: abc\n",
            "the value of shop-site:version spans several lines",
        ),
    ],
)
def test_a_stack_file_it_cannot_edit_safely_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        set_config_text(text, "shop-site:version", "shop-site", "V")


def test_a_value_that_would_not_read_back_is_quoted() -> None:
    assert set_config_text("", "p:version", "p", "yes") == 'config:\n  p:version: "yes"\n'
    assert set_config_text("", "p:version", "p", "a # b") == 'config:\n  p:version: "a # b"\n'


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (["edgeCacheTtlSeconds=999"], "shop-site:edgeCacheTtlSeconds is 999: set it between 1 and 300"),
        (["router=varnish"], "shop-site:router is 'varnish': set it to lambda-edge"),
        (["accessLogs=ftp"], "shop-site:accessLogs is 'ftp': set it to off"),
        (["hostRedirect=apex"], "shop-site:hostRedirect is 'apex': set it to off"),
        (
            ["hostedZoneId=Z0123456789ABCDEFGHIJ"],
            "shop-site:hostedZoneId is set without shop-site:domainNames",
        ),
        (
            [f"version={V2}", "takeOffline=true"],
            f"shop-site:takeOffline is true and shop-site:version is {V2}: remove one "
            "(`pulumi config rm shop-site:takeOffline`",
        ),
        # The pointer guard (a live site would go offline) and the release guard (never uploaded).
        ([], f"shop-site:version is not set, but {V1} is live"),
        ([f"version={V2}"], "Upload it first, or set shop-site:version to one of them."),
    ],
)
def test_every_refusal_names_the_setting_under_the_projects_own_name(
    shop: Path, config: list[str], message: str
) -> None:
    """A renamed project reads `shop-site:<setting>`: a message saying `versioned-site:` would send the
    user to set a key the program never reads."""
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/shop-site/prod/live-version", Value=V1, Type="String")
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="site-bucket-0a1b2c3", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        with pytest.raises(ProgramError) as refused:
            run_program(
                shop,
                "prod",
                ["aws:region=eu-west-1", *config],
                mocks=SiteMocks(),
                preview=True,
                empty_aws_account=False,
            )
    # A run refused inside an `apply` leaves pending tasks; collect them now: their finalizers, run by a
    # later collection inside `ast.parse` (pytest's assertion rewriting), trip CPython 3.11's "AST
    # constructor recursion depth mismatch". The refusal's traceback holds them too: let it go first.
    text = str(refused.value)
    del refused
    gc.collect()
    assert message in text
    assert "versioned-site:" not in text
