"""The component provider (provider/): the schema other languages see, generated in-process by the SDK
and committed; a construct call as the engine makes it, under Pulumi's mocks; the YAML example's
properties checked against the schema. `pulumi package add` itself needs the CLI (README)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields
from typing import Any

import pulumi
import pytest
import yaml  # type: ignore[import-untyped]
from moto import mock_aws
from pulumi.provider.experimental.component import ComponentProvider

from components.package import COMPONENTS, PACKAGE_NAME, package_version, schema
from components.site import (
    PLAIN_INPUTS,
    PYTHON_ONLY_ARGS,
    TYPE_TOKEN,
    VersionedStaticSiteArgs,
    VersionedStaticSiteInputs,
)
from scripts.offline.mockrun import run_inline
from tests.pulumi_scaffold import ROOT, SiteMocks

SCHEMA_FILE = ROOT / "provider" / "schema.json"
YAML_EXAMPLE = ROOT / "examples" / "yaml-consumer" / "Pulumi.yaml"
JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "array": list, "object": dict}
INTERPOLATION = re.compile(r"^\$\{([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+))?\}$")


def component_schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text())["resources"][TYPE_TOKEN])


def test_the_committed_schema_is_the_one_the_sdk_generates() -> None:
    """Regenerate with `uv run python -m components.package > provider/schema.json`."""
    assert json.loads(SCHEMA_FILE.read_text()) == schema()
    assert schema()["name"] == PACKAGE_NAME and schema()["version"] == package_version()


def test_the_plugin_folder_serves_that_schema_when_started_as_the_cli_starts_it() -> None:
    """The python language host runs a plugin folder with a __main__.py as `python <folder> <engine>`
    (pulumi-language-python's RunPlugin); the provider prints its port, then answers GetSchema."""
    import grpc  # type: ignore[import-untyped]
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    plugin = subprocess.Popen(
        [sys.executable, str(ROOT / "provider"), "127.0.0.1:9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert plugin.stdout is not None
        port = int(plugin.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(
                provider_pb2.GetSchemaRequest(version=0), timeout=60
            )
        assert json.loads(answer.schema) == json.loads(SCHEMA_FILE.read_text())
    finally:
        plugin.kill()
        plugin.communicate()


def test_the_schema_names_every_input_and_output_with_its_type_and_description() -> None:
    resource = component_schema()
    inputs = resource["inputProperties"]
    assert inputs["acmCertificateArn"] == {
        "description": (
            "An ACM certificate in us-east-1 for domainNames (an Output too); default: one requested here."
        ),
        "type": "string",
    }
    # Plain where the value decides which resources exist or goes into the edge code.
    assert {name for name, spec in inputs.items() if spec.get("plain")} == {
        "version", "parameterName", "edgeCacheTtlSeconds", "spaFallback", "domainNames", "hostedZoneId",
        "forceDestroyBucket", "retainBucketOnDestroy", "takeOffline", "router", "tags", "versionConfigKey",
        "accessLogs", "accessLogRetentionDays", "trailingSlash", "redirectStatus", "releaseRolledBack",
        "hostRedirect", "canaryVersion", "canaryPercent",
    }  # fmt: skip
    readers = "IAM role or user ARNs that may list and read versions from the bucket (`sitectl promote`)."
    assert inputs["versionReaders"] == {
        "description": readers,
        "type": "array",
        "items": {"description": readers, "type": "string"},  # not plain: an Output list works
    }
    assert resource["requiredInputs"] == []
    assert all(spec.get("description") for spec in [*inputs.values(), *resource["properties"].values()])
    assert set(resource["properties"]) >= {
        "bucketName",
        "parameterName",
        "releaseTargets",
        "url",
        "versionConfigKey",
    }


def test_every_python_input_is_in_the_schema_or_named_python_only() -> None:
    """A field added to VersionedStaticSiteArgs must be added to VersionedStaticSiteInputs (or be a hook)."""
    args = {field.name for field in fields(VersionedStaticSiteArgs)}
    assert args - set(PYTHON_ONLY_ARGS) == set(VersionedStaticSiteInputs.__annotations__)
    assert set(PLAIN_INPUTS) < set(VersionedStaticSiteInputs.__annotations__)


def construct(inputs: dict[str, Any]) -> Any:
    """`Construct` as the engine calls it for a program in another language: camelCase inputs, numbers
    as floats (as they travel), an Output where the value depends on another resource."""
    provider = ComponentProvider(list(COMPONENTS), PACKAGE_NAME, None, package_version())
    results: list[Any] = []

    def program() -> None:
        results.append(provider.construct("site", TYPE_TOKEN, inputs, pulumi.ResourceOptions()))

    with mock_aws():
        run = run_inline(
            program, "shop-yaml", "prod", {"aws:region": "eu-west-1"}, mocks=SiteMocks(), preview=False
        )
    return run, results


def test_a_construct_from_another_language_builds_the_site_with_the_cloudfront_function_router() -> None:
    run, [result] = construct(
        {
            "priceClass": pulumi.Output.from_input("PriceClass_200"),
            "spaFallback": True,
            "edgeCacheTtlSeconds": 5.0,
        }
    )
    types = sorted(r.type for r in run.resources)
    assert "aws:cloudfront/keyValueStore:KeyValueStore" in types
    assert "aws:cloudfront/function:Function" in types
    assert "aws:lambda/function:Function" not in types  # no Lambda@Edge, no switch: no wait at a release
    by_type = {r.type: r for r in run.resources}
    parameters = sorted(r.props["name"] for r in run.resources if r.type == "aws:ssm/parameter:Parameter")
    assert parameters == ["/shop-yaml/prod/canary", "/shop-yaml/prod/live-version"]
    assert by_type["aws:cloudfront/distribution:Distribution"].props["priceClass"] == "PriceClass_200"
    # The us-east-1 provider the component made, for the pointer and the store.
    [edge] = [r for r in run.resources if r.type == "pulumi:providers:aws" and r.name == "site-edge"]
    assert edge.props["region"] == "us-east-1"
    assert by_type["aws:ssm/parameter:Parameter"].provider.startswith(edge.urn)
    assert set(result.state) == set(component_schema()["properties"])


def test_the_lambda_edge_router_works_through_the_provider_with_its_switch_in_aws() -> None:
    """From another language the switch cannot be Python run by the engine: it is a Lambda of the
    site, invoked by the AWS provider after the pointer (edge_lambda/switch_handler.py)."""
    run, _ = construct({"router": "lambda-edge", "version": "", "edgeCacheTtlSeconds": 7.0})
    types = sorted(r.type for r in run.resources)
    assert "pulumi-python:dynamic:Resource" not in types  # nothing the consumer's runtime must unpickle
    by_name = {r.name: r for r in run.resources}
    assert by_name["site-switch"].props["handler"] == "edge_lambda.switch_handler.handler"
    invocation = by_name["site-release-switch"]
    assert by_name["site-pointer"].urn in invocation.dependencies
    event = json.loads(invocation.props["input"])
    assert (event["parameterName"], event["cacheTtlSeconds"]) == ("/shop-yaml/prod/live-version", 7)


def test_an_unknown_input_is_refused() -> None:
    from components.site import args_from_inputs

    with pytest.raises(ValueError, match="VersionedStaticSite has no input 'read_pointer'"):
        args_from_inputs({"read_pointer": "x"})


def test_the_yaml_example_uses_the_schemas_names_and_types() -> None:
    program = yaml.safe_load(YAML_EXAMPLE.read_text())
    assert program["packages"][PACKAGE_NAME].endswith("/provider")
    resources = program["resources"]
    resource = component_schema()
    inputs, outputs = resource["inputProperties"], resource["properties"]
    sites = [name for name, spec in resources.items() if spec["type"] == TYPE_TOKEN]
    assert sites == ["site"]
    for key, value in resources["site"]["properties"].items():
        assert key in inputs, f"{key} is not an input of {TYPE_TOKEN}"
        spec = inputs[key]
        reference = INTERPOLATION.match(value) if isinstance(value, str) else None
        if reference and reference.group(1) in resources:
            # Another resource's output is an Output in the provider: only a non-plain input takes it.
            assert not spec.get("plain"), f"{key} is plain but given {value}"
        elif reference:
            assert reference.group(1) in program["config"], value
        else:
            assert isinstance(value, JSON_TYPES[spec["type"]]), (key, value)
            if isinstance(value, list):
                assert all(isinstance(item, str) for item in value)
    assert resources["site"]["properties"]["router"] == "cloudfront-function"
    for value in program["outputs"].values():
        reference = INTERPOLATION.match(str(value))
        if reference and reference.group(1) == "site":
            assert reference.group(2) in outputs, value
