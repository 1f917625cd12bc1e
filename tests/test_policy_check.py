"""`sitectl policy-check` on the fixture programs and on this project's own program, and the pack
itself started the way `pulumi preview --policy-pack policy` starts it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc  # type: ignore[import-untyped]
import pulumi_aws as aws
import pytest
from click.testing import CliRunner, Result
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.site_policies import POLICIES
from scripts.offline.mockrun import run_program
from scripts.offline.policy_eval import NotChecked, PolicyCrashError, check
from scripts.sitectl import cli
from tests.policy_scaffold import PROGRAMS, PackLaunch, launch_as_the_cli_does
from tests.policy_scaffold import preview as preview_run

ROOT = Path(__file__).resolve().parent.parent
OWN_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-4333-8444-555555555555"


def policy_check(*args: str) -> Result:
    return CliRunner().invoke(cli, ["policy-check", *args], catch_exceptions=False)


def violation_lines(result: Result) -> list[tuple[str, str, str, str]]:
    """(level, policy, URN, message) of each line on stdout."""
    lines = [line.split(" ", 3) for line in result.stdout.splitlines() if line]
    assert all(len(parts) == 4 for parts in lines), result.stdout
    return [(level, policy, urn, message) for level, policy, urn, message in lines]


def violated(result: Result) -> set[tuple[str, str, str]]:
    """(level, policy, resource name) of each violation."""
    return {(level, policy, urn.rsplit("::", 1)[1]) for level, policy, urn, _ in violation_lines(result)}


INSECURE_PROGRAMS: list[tuple[str, set[tuple[str, str, str]]]] = [
    (
        "website-hosting",
        {
            ("mandatory", "s3-no-website-hosting", "site-website"),
            ("mandatory", "s3-no-website-hosting", "legacy"),
        },
    ),
    (
        "public-acl",
        {("mandatory", "s3-no-public-acl", "site-acl"), ("mandatory", "s3-no-public-acl", "index")},
    ),
    ("open-bucket-policy", {("mandatory", "s3-no-open-bucket-policy", "site-policy")}),
    (
        # The website endpoint is reached over plain HTTP too (S3 website endpoints have no HTTPS).
        "legacy-origins",
        {
            ("mandatory", "cloudfront-s3-origin-oac", "cdn"),
            ("mandatory", "cloudfront-custom-origin-tls", "cdn"),
        },
    ),
    ("http-viewers", {("mandatory", "cloudfront-https-only", "cdn")}),
    ("unpublished-edge", {("mandatory", "lambda-edge-numbered-version", "cdn")}),
    (
        "missing-public-access-block",
        {
            ("mandatory", "s3-bucket-public-access-block", "unblocked"),
            ("mandatory", "s3-bucket-public-access-block", "weak-public-access"),
        },
    ),
    (
        "weak-viewer-tls",
        {
            ("mandatory", "cloudfront-viewer-tls", "tls10"),
            ("mandatory", "cloudfront-viewer-tls", "unset"),
        },
    ),
    ("http-origin", {("mandatory", "cloudfront-custom-origin-tls", "cdn")}),
    (
        "unpublished-function",
        {
            ("mandatory", "cloudfront-function-live", "router"),
            ("mandatory", "cloudfront-function-association-live", "cdn"),
        },
    ),
    (
        # A certificate requested outside us-east-1 (through its validation) and one imported by ARN.
        "certificate-outside-us-east-1",
        {
            ("mandatory", "cloudfront-certificate-us-east-1", "cdn"),
            ("mandatory", "cloudfront-certificate-us-east-1", "imported"),
        },
    ),
    (
        "foreign-alias-record",
        {
            ("mandatory", "route53-alias-to-this-distribution", "foreign"),
            ("mandatory", "route53-alias-to-this-distribution", "unlisted"),
        },
    ),
    (
        # The log bucket is still refused as public, as every bucket without a public access block is.
        "legacy-logging-acl-bucket",
        {
            ("mandatory", "s3-bucket-public-access-block", "logs"),
            ("mandatory", "cloudfront-no-legacy-logging", "cdn"),
            ("mandatory", "access-log-destination-private", "destination"),
        },
    ),
    (
        "two-routers",
        {
            ("mandatory", "versioned-site-one-router", "site-cdn"),
            ("mandatory", "versioned-site-one-router", "site-live-version"),
        },
    ),
]


@pytest.mark.parametrize(("program", "expected"), INSECURE_PROGRAMS)
def test_insecure_programs_fail_naming_the_policies_they_violate(
    program: str, expected: set[tuple[str, str, str]]
) -> None:
    result = policy_check(str(PROGRAMS / program))
    assert result.exit_code == 1, result.output
    assert violated(result) == expected
    assert f"{len(violation_lines(result))} mandatory, 0 advisory" in result.stderr


def test_values_known_only_at_update_are_checked_by_default_and_unknown_with_preview() -> None:
    """A bucket policy built from `bucket.arn` and an association given `function.arn`: `pulumi up`
    refuses both; a preview cannot see them (before update-time mocks, policy-check passed this)."""
    program = str(PROGRAMS / "derived-values")
    result = policy_check(program)
    assert result.exit_code == 1, result.output
    assert violated(result) == {
        ("mandatory", "s3-no-open-bucket-policy", "site-policy"),
        ("mandatory", "lambda-edge-numbered-version", "cdn"),
    }
    [edge] = [m for _, p, _, m in violation_lines(result) if p == "lambda-edge-numbered-version"]
    assert "unqualified function ARN (arn:aws:lambda:us-east-1:123456789012:function:edge-9f8e7d6)" in edge

    assert "0 not checked" in result.stderr

    # A preview cannot read them: never a silent pass, each is named and counted.
    as_preview = policy_check(program, "--preview")
    assert as_preview.exit_code == 0, as_preview.output
    assert as_preview.stdout == ""
    not_checked = [line for line in as_preview.stderr.splitlines() if "not checked:" in line]
    cdn = "urn:pulumi:policy-check::derived-values::aws:cloudfront/distribution:Distribution::cdn"
    assert not_checked == [
        "policy-check: not checked: s3-no-open-bucket-policy "
        "urn:pulumi:policy-check::derived-values::aws:s3/bucketPolicy:BucketPolicy::site-policy policy",
        f"policy-check: not checked: cloudfront-s3-origin-oac {cdn} origins[0].domainName",
        f"policy-check: not checked: cloudfront-s3-origin-oac {cdn} origins[0].originAccessControlId",
        f"policy-check: not checked: lambda-edge-numbered-version {cdn} "
        "defaultCacheBehavior.lambdaFunctionAssociations[0].lambdaArn",
    ]
    assert "0 mandatory, 0 advisory violation(s), 4 not checked" in as_preview.stderr


def test_update_mocks_answer_as_aws_would() -> None:
    run = run_program(PROGRAMS / "derived-values", preview=False)
    by_name = {r.name: r for r in run.resources}
    assert by_name["site-public-access"].props["bucket"] == "site-0a1b2c3"
    distribution = by_name["cdn"].props
    assert distribution["origins"][0]["domainName"] == "site-0a1b2c3.s3.us-east-1.amazonaws.com"
    assert distribution["origins"][0]["originAccessControlId"] == "oac-id"
    assert json.loads(by_name["site-policy"].props["policy"])["Statement"][0]["Resource"] == (
        "arn:aws:s3:::site-0a1b2c3/*"
    )
    assert by_name["edge"].props["role"] == "arn:aws:iam::123456789012:role/edge-role"


def test_aws_calls_of_the_program_answer_as_an_empty_account_offline(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: reads-aws\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import boto3\n"
        "from botocore.exceptions import ClientError\n"
        "for call in (lambda: boto3.client('s3').head_object(Bucket='b', Key='k'),\n"
        "             lambda: boto3.client('ssm').get_parameter(Name='/p'),\n"
        "             lambda: boto3.client('sts').get_caller_identity()):\n"
        "    try:\n"
        "        call()\n"
        "    except ClientError as error:\n"
        "        print(error.response['Error']['Code'])\n"
    )
    result = policy_check(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["404", "ParameterNotFound", "OfflineCheck"]


def test_every_policy_refuses_a_fixture_program() -> None:
    refused = {policy for _, expected in INSECURE_PROGRAMS for _, policy, _ in expected}
    # The advisory policies report without failing: their fixtures are bad-pointer and
    # unencrypted-bucket (exit 0, below).
    advisory = {"pointer-parameter-valid-version", "s3-bucket-encryption"}
    assert refused | advisory == {p.name for p in POLICIES}


def test_each_origin_problem_is_its_own_line() -> None:
    result = policy_check(str(PROGRAMS / "legacy-origins"))
    messages = [m for _, p, _, m in violation_lines(result) if p == "cloudfront-s3-origin-oac"]
    assert len(messages) == 3
    assert any("'anonymous' has no origin access control" in m for m in messages)
    assert any("'legacy' uses a legacy origin access identity" in m for m in messages)
    assert any("'website' uses the S3 website endpoint" in m for m in messages)


def test_the_legacy_logging_fix_names_the_programs_own_config_key() -> None:
    """The fix names the setting under the program's project (from the URN), not this repository's."""
    result = policy_check(str(PROGRAMS / "legacy-logging-acl-bucket"))
    (message,) = [m for _, p, _, m in violation_lines(result) if p == "cloudfront-no-legacy-logging"]
    assert "(legacy-logging-acl-bucket:accessLogs, or aws.cloudwatch." in message


def test_secure_program_passes() -> None:
    result = policy_check(str(PROGRAMS / "secure-site"))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "0 mandatory, 0 advisory" in result.stderr


def test_secure_program_is_checked_not_skipped() -> None:
    """The secure fixture registers what the policies look at, including known edge ARNs."""
    run = run_program(PROGRAMS / "secure-site")
    types = {r.type for r in run.resources}
    assert {
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:cloudfront/distribution:Distribution",
        "aws:ssm/parameter:Parameter",
        "pulumi:providers:aws",
    } <= types
    distribution = next(r for r in run.resources if r.type == "aws:cloudfront/distribution:Distribution")
    ordered = distribution.props["orderedCacheBehaviors"][0]
    assert ordered["lambdaFunctionAssociations"][0]["lambdaArn"].endswith(":site-edge:3")
    # A preview does not know the qualified ARN of a function it has yet to publish.
    default = distribution.props["defaultCacheBehavior"]
    assert default["lambdaFunctionAssociations"][0]["lambdaArn"] == UNKNOWN_STRING_VALUE


def test_a_bad_known_edge_arn_in_the_secure_program_is_caught_through_config() -> None:
    arn = "edgeVersionArn=arn:aws:lambda:us-east-1:123456789012:function:site-edge:$LATEST"
    result = policy_check(str(PROGRAMS / "secure-site"), "-c", arn)
    assert result.exit_code == 1
    assert violated(result) == {("mandatory", "lambda-edge-numbered-version", "site-cdn")}


def test_advisory_violations_are_printed_but_do_not_fail() -> None:
    result = policy_check(str(PROGRAMS / "bad-pointer"))
    assert result.exit_code == 0, result.output
    assert violated(result) == {("advisory", "pointer-parameter-valid-version", "site-pointer")}
    [(_, _, urn, message)] = violation_lines(result)
    assert "versioned-site:index:VersionedStaticSite$aws:ssm/parameter:Parameter" in urn
    assert "'latest'" in message


def test_a_bucket_without_declared_encryption_passes_with_advice() -> None:
    # S3 applies SSE-S3 to every bucket that declares none (since January 2023): secure as it is.
    result = policy_check(str(PROGRAMS / "unencrypted-bucket"))
    assert result.exit_code == 0, result.output
    assert violated(result) == {
        ("advisory", "s3-bucket-encryption", "plain"),
        ("advisory", "s3-bucket-encryption", "keyless"),
    }
    assert "0 mandatory, 2 advisory" in result.stderr


def test_config_overrides_reach_the_program() -> None:
    for key in ("version", "bad-pointer:version"):
        result = policy_check(str(PROGRAMS / "bad-pointer"), "-c", f"{key}=20261127T101500Z-1a2b3c4")
        assert result.exit_code == 0
        assert result.stdout == "", key


def test_a_failing_program_exits_2_with_its_error() -> None:
    result = policy_check(str(PROGRAMS / "broken"))
    assert result.exit_code == 2
    assert "Missing required configuration variable 'broken:missingSetting'" in result.stderr
    assert "broken/__main__.py" in result.stderr
    assert result.stdout == ""


def test_a_directory_without_a_program_exits_2(tmp_path: Path) -> None:
    result = policy_check(str(tmp_path))
    assert result.exit_code == 2
    assert "no Pulumi.yaml" in result.stderr
    (tmp_path / "Pulumi.yaml").write_text("name: empty\nruntime: python\n")
    assert "no __main__.py" in policy_check(str(tmp_path)).stderr


def test_malformed_config_exits_2() -> None:
    result = policy_check(str(PROGRAMS / "bad-pointer"), "-c", "version")
    assert result.exit_code == 2
    assert "not key=value" in result.stderr


def test_programs_run_one_after_another_keep_their_own_modules_and_cwd() -> None:
    """secure-site and bad-pointer both import a local `site_component`; cwd and sys.path come back."""
    cwd, path = os.getcwd(), list(sys.path)
    first = run_program(PROGRAMS / "secure-site")
    second = run_program(PROGRAMS / "bad-pointer")
    assert len([r for r in first.resources if r.type == "aws:cloudfront/distribution:Distribution"]) == 1
    assert not [r for r in second.resources if r.type == "aws:cloudfront/distribution:Distribution"]
    assert "site_component" not in sys.modules
    assert (os.getcwd(), sys.path) == (cwd, path)


def test_this_projects_program_passes() -> None:
    result = policy_check(str(ROOT))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_this_projects_program_passes_in_cloudfront_function_mode() -> None:
    result = policy_check(str(ROOT), "-c", "router=cloudfront-function", "-c", "version=20261127T101500Z")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    # 19: the router's function, the viewer-response function beside it and the canary's record among them.
    assert (
        "versioned-site (19 resources, 18 policies): 0 mandatory, 0 advisory violation(s), 0 not checked"
        in (result.stderr)
    )


@pytest.mark.parametrize("preview", [False, True])
@pytest.mark.parametrize(
    "config",
    [
        [
            "-c",
            'domainNames=["example.com", "www.example.com"]',
            "-c",
            "hostedZoneId=Z0EXAMPLE",
            "-c",
            "accessLogs=s3",
        ],
        ["-c", 'domainNames=["www.example.com"]', "-c", "acmCertificateArn=" + OWN_CERTIFICATE],
        [
            "-c",
            'domainNames=["www.example.com"]',
            "-c",
            "accessLogs=cloudwatch",
            "-c",
            "router=cloudfront-function",
        ],
    ],
    ids=["domain-in-zone-logs-s3", "own-certificate", "dns-elsewhere-logs-cloudwatch"],
)
def test_this_projects_program_passes_with_a_domain_and_access_logs(config: list[str], preview: bool) -> None:
    result = policy_check(str(ROOT), *config, *(["--preview"] if preview else []))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_a_certificate_outside_us_east_1_is_found_at_preview_through_the_distributions_dependency() -> None:
    result = policy_check(str(PROGRAMS / "certificate-outside-us-east-1"), "--preview")
    assert result.exit_code == 1, result.output
    # The requested certificate's ARN is unknown at preview: the certificate itself is named, by region.
    assert violated(result) == {
        ("mandatory", "cloudfront-certificate-us-east-1", "certificate"),
        ("mandatory", "cloudfront-certificate-us-east-1", "imported"),
    }
    [message] = [m for _, _, urn, m in violation_lines(result) if urn.endswith("::certificate")]
    assert message == (
        "Certificate 'certificate' is requested in eu-west-1, but distribution 'cdn' serves it: CloudFront "
        "takes ACM certificates from us-east-1 only. Create it with the us-east-1 provider."
    )


def test_each_router_policy_problem_is_its_own_line() -> None:
    messages = sorted(
        m for _, _, _, m in violation_lines(policy_check(str(PROGRAMS / "unpublished-function")))
    )
    assert len(messages) == 4
    assert "CloudFront Function 'router' is not published (publish=False)" in messages[0]
    assert "'router' reads a KeyValueStore on runtime 'cloudfront-js-1.0'" in messages[1]
    assert "Distribution 'cdn' associates CloudFront Function 'router', which is not published" in messages[2]
    assert (
        "'/app/*' is arn:aws:lambda:us-east-1:123456789012:function:site-edge:1, not a CloudFront"
        in (messages[3])
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_this_projects_program_passes_with_each_stack_config(stack: str) -> None:
    result = policy_check(str(ROOT), "--stack", stack, "-c", "version=20261127T101500Z-1a2b3c4")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_this_projects_program_registers_what_the_policies_check() -> None:
    run = run_program(ROOT)
    by_type: dict[str, list[str]] = {}
    for resource in run.resources:
        by_type.setdefault(resource.type, []).append(resource.urn)
    for watched in (
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:cloudfront/distribution:Distribution",
        "aws:ssm/parameter:Parameter",
    ):
        assert watched in by_type, sorted(by_type)
    pointer = next(r for r in run.resources if r.type == "aws:ssm/parameter:Parameter")
    assert pointer.props["name"].endswith("/live-version")
    assert "versioned-site:index:VersionedStaticSite$" in pointer.urn


# ---------------------------------------------------------------------------------------------------
# The pack as the Pulumi CLI runs it: a fresh clone after the README's set-up (`uv sync`), the pack's
# process prepared as the CLI prepares it, speaking the analyzer protocol


def _uv() -> str:
    """The uv the Makefile uses: on PATH, or the one `make setup` installs in .tools/bin."""
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv not found: run `make setup`"
    return found


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A `git clone` of this repository after `uv sync --frozen`, and the shell environment of a user
    who has uv on PATH (the CLI's uv toolchain needs it there). Uncommitted changes to tracked files
    are applied to the clone, so the test sees the work in progress; untracked files never are: what a
    fresh clone lacks, the pack must not need."""
    clone = tmp_path_factory.mktemp("clone") / "versioned-site"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    changes = subprocess.run(
        ["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    if changes:
        subprocess.run(["git", "apply"], cwd=clone, input=changes, check=True)
    uv = _uv()
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    environ["PATH"] = f"{Path(uv).parent}{os.pathsep}{environ.get('PATH', '')}"
    subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=clone, env=environ, check=True)
    return clone, environ


@pytest.fixture(scope="module")
def pack_launch(fresh_clone: tuple[Path, dict[str, str]]) -> PackLaunch:
    clone, environ = fresh_clone
    # The pack never dials the engine before it is asked to; any address will do.
    return launch_as_the_cli_does(clone / "policy", "127.0.0.1:1", environ)


@pytest.fixture(scope="module")
def analyzer(pack_launch: PackLaunch) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        pack_launch.argv,
        cwd=pack_launch.cwd,
        env=pack_launch.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        # The pack's first line on stdout is its gRPC port, which the engine (or the language host's
        # policy proxy) reads.
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), process.stderr.read().decode() if process.stderr else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_the_pack_runs_from_the_clones_own_virtualenv(
    fresh_clone: tuple[Path, dict[str, str]], pack_launch: PackLaunch
) -> None:
    clone, _ = fresh_clone
    assert pack_launch.argv[0] == str(clone / ".venv" / "bin" / "python")
    assert pack_launch.argv[1:] == ["-u", "-m", "pulumi.policy", "127.0.0.1:1", str(clone / "policy")]
    assert pack_launch.cwd == clone / "policy"
    # What the pack imports comes from the clone, through the project's install (no sys.path edits).
    where = subprocess.run(
        [
            pack_launch.argv[0],
            "-c",
            "import policy.site_policies as p, edge_lambda as e; print(p.__file__, e.__file__)",
        ],
        cwd=pack_launch.cwd,
        env=pack_launch.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.split() == [
        str(clone / "policy" / "site_policies.py"),
        str(clone / "edge_lambda" / "__init__.py"),
    ]
    assert "sys.path" not in (clone / "policy" / "__main__.py").read_text()


def test_the_former_pip_virtualenv_yaml_finds_no_interpreter_in_a_fresh_clone(
    fresh_clone: tuple[Path, dict[str, str]],
) -> None:
    """The issue's failure: `toolchain: pip` with `virtualenv: venv` names a folder nothing creates."""
    clone, environ = fresh_clone
    former = clone / "former-pack"
    shutil.copytree(clone / "policy", former)
    (former / "PulumiPolicy.yaml").write_text(
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: venv\n"
    )
    with pytest.raises(FileNotFoundError, match="former-pack/venv/bin/python"):
        launch_as_the_cli_does(former, "127.0.0.1:1", environ)


def test_the_pack_lists_every_policy_over_the_analyzer_protocol(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "versioned-site-policies"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels["pointer-parameter-valid-version"] == analyzer_pb2.ADVISORY
    assert levels["cloudfront-https-only"] == analyzer_pb2.MANDATORY


def _analyze(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, type_: str, name: str, props: dict
) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    properties = struct_pb2.Struct()
    properties.update(json.loads(json.dumps(props)))
    request = analyzer_pb2.AnalyzeRequest(
        type=type_, name=name, urn=f"urn:pulumi:dev::p::{type_}::{name}", properties=properties
    )
    return list(analyzer.Analyze(request, timeout=10).diagnostics)


def test_the_pack_reports_through_the_engine_protocol(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    origin = {
        "originId": "site",
        "domainName": UNKNOWN_STRING_VALUE,
        "originAccessControlId": UNKNOWN_STRING_VALUE,
    }
    props = {
        "origins": [origin],
        "defaultCacheBehavior": {
            "viewerProtocolPolicy": "allow-all",
            "lambdaFunctionAssociations": [
                {"eventType": "origin-request", "lambdaArn": UNKNOWN_STRING_VALUE}
            ],
        },
    }
    diagnostics = _analyze(analyzer, "aws:cloudfront/distribution:Distribution", "cdn", props)
    # The known HTTP violation is reported; what the other policies could not read is the engine's
    # advisory "can't run policy during preview" note, naming each value.
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("cloudfront-s3-origin-oac", analyzer_pb2.ADVISORY),
        ("cloudfront-https-only", analyzer_pb2.MANDATORY),
        ("lambda-edge-numbered-version", analyzer_pb2.ADVISORY),
    ]
    oac, https, edge = (d.message for d in diagnostics)
    assert "redirect-to-https" in https
    assert oac.endswith(
        "during preview: not checked (unknown or not a plain value): cdn.origins[0].domainName, "
        "cdn.origins[0].originAccessControlId"
    )
    assert edge.endswith("cdn.defaultCacheBehavior.lambdaFunctionAssociations[0].lambdaArn")


def test_the_pack_accepts_a_compliant_resource(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = {
        "origins": [{"originId": "site", "domainName": "b.s3.amazonaws.com", "originAccessControlId": "E1"}],
        "defaultCacheBehavior": {"viewerProtocolPolicy": "https-only"},
    }
    assert _analyze(analyzer, "aws:cloudfront/distribution:Distribution", "cdn", props) == []


def test_this_projects_program_passes_with_the_values_an_update_knows() -> None:
    """During `pulumi up` a resource is analysed once its dependencies exist, so the distribution ARN
    in the bucket policy and the published edge version are known: policy-check's default sees them."""
    run = run_program(ROOT, stack="dev", use_stack_config=True, preview=False)
    report = check(run)
    assert (report.violations, report.not_checked) == ([], [])
    by_type = {r.type: r for r in run.resources}
    association = by_type["aws:cloudfront/distribution:Distribution"].props["defaultCacheBehavior"][
        "lambdaFunctionAssociations"
    ][0]
    assert association["lambdaArn"] == "arn:aws:lambda:us-east-1:123456789012:function:site-edge-9f8e7d6:1"
    statements = json.loads(by_type["aws:s3/bucketPolicy:BucketPolicy"].props["policy"])["Statement"]
    assert statements[0]["Condition"] == {
        "StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E2SITECDN"}
    }
    # Objects only, no s3:ListBucket: a missing key is S3's 403 (components/site.py).
    assert (statements[0]["Action"], statements[0]["Resource"]) == (
        "s3:GetObject",
        "arn:aws:s3:::site-bucket-0a1b2c3/*",
    )


# ---------------------------------------------------------------------------------------------------
# How the check treats policies, as the engine does


def _bucket_program() -> None:
    aws.s3.Bucket("site")


def test_a_validator_reading_an_unknown_value_is_not_checked_not_failed() -> None:
    def reads_unknown(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type == "aws:s3/bucketPolicy:BucketPolicy":
            json.loads(args.props["policy"])  # unknown at preview: the proxy raises

    run = preview_run(_policy_program)
    policy = ResourceValidationPolicy(name="naive", description="reads blindly", validate=reads_unknown)
    report = check(run, [policy])
    assert report.violations == []
    assert report.not_checked == [
        NotChecked(
            "naive", "urn:pulumi:test::policy-test::aws:s3/bucketPolicy:BucketPolicy::site-policy", "policy"
        )
    ]


def test_levels_urns_and_async_validators_follow_the_engine() -> None:
    async def async_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type == "aws:s3/bucket:Bucket":
            report_violation("async", "urn:ignored-for-resource-policies")

    def stack_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        report_violation("whole stack", None)

    policies = [
        ResourceValidationPolicy(
            name="remediated",
            description="d",
            validate=async_validator,
            enforcement_level=EnforcementLevel.REMEDIATE,
        ),
        ResourceValidationPolicy(
            name="off", description="d", validate=async_validator, enforcement_level=EnforcementLevel.DISABLED
        ),
        StackValidationPolicy(name="stack", description="d", validate=stack_validator),
    ]
    run = preview_run(_bucket_program)
    report = check(run, policies, pack_level=EnforcementLevel.ADVISORY)
    lines = [v.line() for v in report.violations]
    assert lines == [
        "mandatory remediated urn:pulumi:test::policy-test::aws:s3/bucket:Bucket::site async",
        "advisory stack urn:pulumi:test::policy-test::pulumi:pulumi:Stack::policy-test-test whole stack",
    ]


def test_a_crashing_validator_is_reported_as_such() -> None:
    def crashes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        raise KeyError("oops")

    policy = ResourceValidationPolicy(name="buggy", description="d", validate=crashes)
    with pytest.raises(PolicyCrashError, match="buggy"):
        check(preview_run(_bucket_program), [policy])


def _policy_program() -> None:
    bucket = aws.s3.Bucket("site")
    aws.s3.BucketPolicy(
        "site-policy", bucket=bucket.id, policy=bucket.arn.apply(lambda arn: json.dumps({"r": arn}))
    )
