"""The examples a consumer copies: a Python program of its own that imports the component as a package
(run here under Pulumi's mocks, as `pulumi up` and `pulumi preview` would run it)."""

from __future__ import annotations

import ast
import tomllib

import pulumi
import pytest
from moto import mock_aws

from scripts.offline.mockrun import (
    PreviewMocks,
    ProgramError,
    ProgramRun,
    RecordedResource,
    run_inline,
    run_program,
)
from tests.pulumi_scaffold import ACCOUNT, ROOT, SiteMocks

PYTHON_CONSUMER = ROOT / "examples" / "python-consumer"
CONFIG = ["aws:region=eu-west-1", "shop-site:domainName=www.example.com"]


def by_type(run: ProgramRun, type_token: str) -> list[RecordedResource]:
    return [r for r in run.resources if r.type == type_token]


def test_the_python_consumer_gives_its_certificate_as_an_output() -> None:
    with mock_aws():
        run = run_program(
            PYTHON_CONSUMER, "prod", CONFIG, mocks=SiteMocks(), preview=False, empty_aws_account=False
        )
    [certificate] = by_type(run, "aws:acm/certificate:Certificate")
    [distribution] = by_type(run, "aws:cloudfront/distribution:Distribution")
    # The ARN the certificate resource answered, resolved from the Output the component was given.
    assert distribution.props["viewerCertificate"]["acmCertificateArn"].startswith(
        f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/"
    )
    assert certificate.urn in distribution.property_dependencies["viewerCertificate"]
    assert distribution.props["aliases"] == ["www.example.com"]
    [component] = by_type(run, "versioned-site:index:VersionedStaticSite")
    assert component.urn == "urn:pulumi:prod::shop-site::versioned-site:index:VersionedStaticSite::shop"
    [parameter] = by_type(run, "aws:ssm/parameter:Parameter")
    assert parameter.props["name"] == "/shop-site/prod/live-version"
    [stack] = by_type(run, "pulumi:pulumi:Stack")
    assert stack.outputs["versionConfigKey"] == "shop-site:version"
    assert stack.outputs["url"] == "https://www.example.com"


def test_the_python_consumer_previews_with_the_certificate_unknown() -> None:
    """At preview a new certificate's ARN is unknown: the component checks it once known, never before."""
    with mock_aws():
        run = run_program(PYTHON_CONSUMER, "prod", CONFIG, mocks=PreviewMocks("eu-west-1"), preview=True)
    assert by_type(run, "aws:cloudfront/distribution:Distribution")


def test_the_package_ships_everything_the_component_imports() -> None:
    """`pip install` of this repository gives another project `versioned_site` and what it imports."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    local = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    needed: set[str] = set()
    for folder in ("versioned_site", "components", "edge_lambda", "edge_function"):
        for module in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    needed.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    needed.update(alias.name.split(".")[0] for alias in node.names)
    assert "versioned_site" in shipped
    assert needed & local <= shipped


def _component_with(**settings: object) -> None:
    from versioned_site import VersionedStaticSite, VersionedStaticSiteArgs

    VersionedStaticSite(
        "site",
        VersionedStaticSiteArgs(
            version=None,
            parameter_name="/shop-site/test/live-version",
            release_check=lambda bucket, version: None,
            read_pointer=lambda name: None,
            # The emergency record is read before the settings' Outputs: no AWS here either.
            read_emergency_record=lambda name: None,
            **settings,  # type: ignore[arg-type]
        ),
    )


def test_an_output_where_a_plain_value_is_needed_is_refused_with_the_reason() -> None:
    with pytest.raises(ProgramError) as refused:
        run_inline(
            lambda: _component_with(router=pulumi.Output.from_input("lambda-edge")),
            "shop-site",
            "test",
            {"aws:region": "eu-west-1"},
            mocks=SiteMocks(),
            preview=False,
        )
    assert str(refused.value.__cause__) == (
        "VersionedStaticSite input router is an Output, but it must be a plain value: it decides which "
        "resources the component creates or what its edge code contains; pass a literal or a stack "
        "config value"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"price_class": "PriceClass_1"}, "shop-site:priceClass 'PriceClass_1' is not one of"),
        (
            {"version_readers": ["arn:aws:iam::1:role/x"]},
            "shop-site:versionReaders entry 'arn:aws:iam::1",
        ),
    ],
)
def test_output_valued_inputs_are_checked_once_their_value_is_known(
    settings: dict[str, str | list[str]], message: str
) -> None:
    ((key, value),) = settings.items()
    wrapped = (
        pulumi.Output.from_input(value)
        if isinstance(value, str)
        else [pulumi.Output.from_input(item) for item in value]
    )
    with pytest.raises(ProgramError) as refused:
        run_inline(
            lambda: _component_with(**{key: wrapped}),
            "shop-site",
            "test",
            {"aws:region": "eu-west-1"},
            mocks=SiteMocks(),
            preview=False,
        )
    assert message in str(refused.value)
