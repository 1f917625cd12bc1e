"""Run any Pulumi Python program in-process under Pulumi's mock runtime, as `pulumi up` or `pulumi preview`.

`run_program` records every resource the program registers the way the engine would hand it to a
policy pack: type, name, URN, camelCase inputs, parent, dependencies, property dependencies,
provider and options. As a preview (`PreviewMocks`), values the engine would not know yet (a new
resource's id and every output that is not one of its inputs, and anything computed from them) stay
unknown, and are recorded with pulumi_policy's unknown sentinel. As an update (`UpdateMocks`), each
resource's outputs are what AWS would answer once it exists, so inputs built from them (a bucket
policy from `bucket.arn`, an edge association from `function.arn`) are known, as when `pulumi up`
validates each resource before creating it. Nothing reaches a cloud: invokes are answered by
`PreviewMocks.call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import json
import logging
import os
import runpy
import sys
import threading
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockCallArgs, MockEngine, MockMonitor, MockResourceArgs, Mocks, MockSettings
from pulumi.runtime.stack import run_in_stack
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

# The signature of a serialized resource reference (pulumi/runtime/rpc.py, _special_resource_sig).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"

STACK_TYPE = "pulumi:pulumi:Stack"
_PROVIDER_TYPE_PREFIX = "pulumi:providers:"
MOCK_ACCOUNT_ID = "123456789012"


class ProgramError(Exception):
    """The program could not be loaded or raised while running; the message carries its error."""


@dataclass
class RecordedResource:
    type: str
    name: str
    urn: str
    custom: bool
    props: dict[str, Any]
    parent: str | None = None
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str | None = None  # URN of the provider resource (explicit or default)
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool | None = None
    aliases: list[str] = field(default_factory=list)
    custom_timeouts: tuple[float, float, float] = (0.0, 0.0, 0.0)
    additional_secret_outputs: list[str] = field(default_factory=list)
    read: bool = False  # looked up with `.get()`, not managed by the program
    outputs: dict[str, Any] = field(default_factory=dict)  # registered with register_outputs (exports)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith(_PROVIDER_TYPE_PREFIX)


@dataclass
class ProgramRun:
    project: str
    stack: str
    config: dict[str, str]
    resources: list[RecordedResource]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}


# ---------------------------------------------------------------------------------------------------
# Project and config


def _config_value(value: Any) -> str:
    """Config values reach a program as strings; structured ones as JSON (as the CLI passes them)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _qualify(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_project(program_dir: Path) -> tuple[str, dict[str, str]]:
    """The project name and the config defaults of `program_dir/Pulumi.yaml`."""
    project_file = next(
        (program_dir / n for n in ("Pulumi.yaml", "Pulumi.yml") if (program_dir / n).exists()), None
    )
    if project_file is None:
        raise ProgramError(f"{program_dir} has no Pulumi.yaml: not a Pulumi program directory")
    try:
        project = yaml.safe_load(project_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProgramError(f"{project_file}: invalid YAML: {exc}") from exc
    name = project.get("name")
    if not isinstance(name, str) or not name:
        raise ProgramError(f"{project_file} has no project name")
    defaults: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, Mapping):
            if "default" in spec:
                defaults[_qualify(key, name)] = _config_value(spec["default"])
            elif "value" in spec:
                defaults[_qualify(key, name)] = _config_value(spec["value"])
        elif spec is not None:
            defaults[_qualify(key, name)] = _config_value(spec)
    return name, defaults


def load_stack_config(program_dir: Path, project: str, stack: str) -> dict[str, str]:
    """Plain values of `Pulumi.<stack>.yaml` (`secure:` values cannot be decrypted offline: left out)."""
    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        return {}
    try:
        document = yaml.safe_load(stack_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProgramError(f"{stack_file}: invalid YAML: {exc}") from exc
    values: dict[str, str] = {}
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, Mapping) and "secure" in value:
            continue
        values[_qualify(key, project)] = _config_value(value)
    return values


def parse_config_overrides(pairs: list[str], project: str) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"config {pair!r} is not key=value")
        values[_qualify(key.strip(), project)] = value
    return values


# ---------------------------------------------------------------------------------------------------
# Mocks: what the engine and providers would answer during a preview


def _render_policy_document(args: Mapping[str, Any]) -> str:
    """`aws.iam.get_policy_document`, rendered the way the provider does (single values unwrapped)."""

    def one_or_many(values: list[Any]) -> Any:
        return values[0] if len(values) == 1 else values

    statements = []
    for spec in args.get("statements") or []:
        statement: dict[str, Any] = {}
        if spec.get("sid"):
            statement["Sid"] = spec["sid"]
        statement["Effect"] = spec.get("effect") or "Allow"
        for source, target in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if spec.get(source):
                statement[target] = one_or_many(list(spec[source]))
        for source, target in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            principals = spec.get(source) or []
            if any(p.get("type") == "*" for p in principals):
                statement[target] = "*"
            elif principals:
                statement[target] = {
                    p["type"]: one_or_many(list(p.get("identifiers") or [])) for p in principals
                }
        conditions: dict[str, dict[str, Any]] = {}
        for condition in spec.get("conditions") or []:
            conditions.setdefault(condition["test"], {})[condition["variable"]] = one_or_many(
                list(condition.get("values") or [])
            )
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements})


def _as_outputs(value: Any) -> Any:
    """Inputs echoed back as outputs. A policy document given as an object is an output string
    (the provider normalises it to JSON), and the SDK checks output types."""
    if isinstance(value, Mapping):
        if "Statement" in value:
            return json.dumps(value)
        return {k: _as_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_outputs(v) for v in value]
    return value


class PreviewMocks(Mocks):
    """A new resource's state is its inputs: every other output stays unknown during the preview."""

    def __init__(self, region: str, hosted_zones: Mapping[str, str] | None = None) -> None:
        self.region = region
        # Public Route 53 zones of the account, name -> id (aws.route53.get_zone); none by default.
        self.hosted_zones = dict(hosted_zones or {})

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ.startswith(_PROVIDER_TYPE_PREFIX):
            # The engine gives providers an id during preview; a resource references one as `urn::id`.
            return f"{args.name}-provider-id", _as_outputs(args.inputs)
        if args.resource_id:
            return args.resource_id, _as_outputs(args.inputs)
        # An empty id during preview tells the SDK the id is unknown, as for a resource yet to be created.
        return "", _as_outputs(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/policy-check"
            return {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": arn,
                "userId": "AIDPOLICYCHECK",
                "id": MOCK_ACCOUNT_ID,
            }, []
        if token == "aws:index/getRegion:getRegion":
            region = args.args.get("region") or args.args.get("name") or self.region
            return {"region": region, "name": region, "id": region}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:route53/getZone:getZone":
            name = str(args.args.get("name") or "").rstrip(".")
            zone_id = self.hosted_zones.get(name)
            if zone_id is None:
                # A failed invoke, with the provider's own words when nothing matches.
                return {}, [("name", "no matching Route 53 Hosted Zone found")]
            return {"zoneId": zone_id, "name": name, "id": zone_id, "privateZone": False}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            rendered = _render_policy_document(args.args)
            return {"json": rendered, "minifiedJson": rendered, "id": "policy-document"}, []
        return {}, []


def distribution_id(name: str) -> str:
    """The id UpdateMocks gives a distribution: `E2` and 10 characters, as CloudFront's ids look."""
    return "E2" + name.upper().replace("-", "")[:10]


class UpdateMocks(PreviewMocks):
    """What the providers answer once each resource exists, as during `pulumi up`: realistic ids, ARNs,
    names and domain names (derived from the inputs, as AWS derives them) for the types the pack reads
    and the program passes on; every other resource gets the id `<name>-id` and echoes its inputs.
    Auto-names carry a fixed suffix, as the provider appends a random one."""

    def __init__(self, region: str, hosted_zones: Mapping[str, str] | None = None) -> None:
        super().__init__(region, hosted_zones)
        self._provider_regions: dict[str, str] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        inputs = _as_outputs(dict(args.inputs))
        if args.typ.startswith(_PROVIDER_TYPE_PREFIX) or args.resource_id:
            resource_id, outputs = super().new_resource(args)
            if args.typ == f"{_PROVIDER_TYPE_PREFIX}aws" and isinstance(inputs.get("region"), str):
                self._provider_regions[resource_id or ""] = inputs["region"]
            return resource_id, outputs
        region = self._provider_regions.get((args.provider or "").rsplit("::", 1)[-1], self.region)
        answer = _UPDATE_OUTPUTS.get(args.typ)
        if answer is not None:
            resource_id, outputs = answer(args.name, inputs, region)
            return resource_id, {**inputs, **outputs}
        if args.typ.startswith("aws:s3/") and isinstance(inputs.get("bucket"), str):
            # An object's id is its key; a bucket's other sub-resources (public access block, policy,
            # ownership, encryption, ...) take the bucket's name as their id.
            key = inputs.get("key")
            return (key if isinstance(key, str) else inputs["bucket"]), inputs
        return f"{args.name}-id", inputs


def _bucket(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    bucket = inputs.get("bucket") or f"{name}-0a1b2c3"
    return bucket, {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
        "region": region,
        "hostedZoneId": "Z1BKCTXD74EZPE",
    }


def _distribution(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    resource_id = distribution_id(name)
    return resource_id, {
        "arn": f"arn:aws:cloudfront::{MOCK_ACCOUNT_ID}:distribution/{resource_id}",
        "domainName": "d111111abcdef8.cloudfront.net",
        "hostedZoneId": "Z2FDTNDATAQYW2",
        "status": "Deployed",
        "etag": "E2QWRUHEXAMPLE",
    }


def _function(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    function = inputs.get("name") or f"{name}-9f8e7d6"
    arn = f"arn:aws:lambda:{region}:{MOCK_ACCOUNT_ID}:function:{function}"
    # Lambda numbers a version only when the function is published; otherwise the qualified ARN is $LATEST.
    version = "1" if inputs.get("publish") else "$LATEST"
    return function, {
        "name": function,
        "arn": arn,
        "qualifiedArn": f"{arn}:{version}",
        "version": version,
        "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
    }


def _cloudfront_function(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    function = inputs.get("name") or f"{name}-9f8e7d6"
    etag = "ETVPDKIKX0DER"
    # CloudFront runs only the LIVE stage: it exists once the function is published (the provider
    # publishes unless `publish` is false), and the function is ASSOCIATED once a distribution uses it.
    published = inputs.get("publish", True) is not False
    return function, {
        "name": function,
        "arn": f"arn:aws:cloudfront::{MOCK_ACCOUNT_ID}:function/{function}",
        "etag": etag,
        "liveStageEtag": etag if published else "",
        "status": "UNASSOCIATED" if published else "UNPUBLISHED",
    }


def _key_value_store(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    store = inputs.get("name") or f"{name}-4c5d6e7"
    # CloudFront names a store by a UUID at the end of its ARN (the id `cf.kvs()` takes).
    store_id = str(uuid.uuid5(uuid.NAMESPACE_URL, store))
    return store, {
        "name": store,
        "arn": f"arn:aws:cloudfront::{MOCK_ACCOUNT_ID}:key-value-store/{store_id}",
        "etag": "ETVPDKIKX0DES",
        "lastModifiedTime": "2026-11-28T09:00:00Z",
    }


def _key_value_store_key(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    arn, key, value = inputs.get("keyValueStoreArn"), inputs.get("key"), inputs.get("value")
    size = len(str(key).encode()) + len(str(value).encode())  # the store holds this one key
    return f"{arn},{key}", {"totalSizeInBytes": size}


def _parameter(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    parameter = inputs.get("name") or f"{name}-0a1b2c3"
    path = parameter if parameter.startswith("/") else f"/{parameter}"
    return parameter, {"name": parameter, "arn": f"arn:aws:ssm:{region}:{MOCK_ACCOUNT_ID}:parameter{path}"}


def _role(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    role = inputs.get("name") or name
    return role, {"name": role, "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{role}", "uniqueId": "AROAMOCK"}


def _certificate(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    certificate_id = uuid.uuid5(uuid.NAMESPACE_URL, name)
    arn = f"arn:aws:acm:{region}:{MOCK_ACCOUNT_ID}:certificate/{certificate_id}"
    names = [inputs.get("domainName"), *(inputs.get("subjectAlternativeNames") or [])]
    options = []
    for domain in (n for n in names if isinstance(n, str)):
        # ACM's record for a name: `_<32 hex>.<name>.` CNAME `_<32 hex>.<8 letters>.acm-validations.aws.`;
        # a wildcard shares its base name's.
        base = domain.removeprefix("*.")
        token = uuid.uuid5(uuid.NAMESPACE_DNS, base).hex
        options.append(
            {
                "domainName": domain,
                "resourceRecordName": f"_{token}.{base}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{token[::-1]}.mhbtsbpdnt.acm-validations.aws.",
            }
        )
    # A DNS-validated certificate waits for its records; an imported one is issued at once.
    status = "PENDING_VALIDATION" if inputs.get("validationMethod") == "DNS" else "ISSUED"
    return arn, {"arn": arn, "status": status, "domainValidationOptions": options}


def _certificate_validation(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    # The provider's id is the certificate's ARN (and the time ACM issued it).
    return str(inputs.get("certificateArn")), {}


def _record(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    record = str(inputs.get("name") or name).rstrip(".")
    return f"{inputs.get('zoneId')}_{record}_{inputs.get('type')}", {"fqdn": record}


def _log_group(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    group = inputs.get("name") or f"{inputs.get('namePrefix') or name}20261206000000000001"
    return group, {"name": group, "arn": f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:{group}"}


def _log_delivery_part(kind: str) -> Callable[[str, dict[str, Any], str], tuple[str, dict[str, Any]]]:
    def answer(name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
        part = inputs.get("name") or f"{name}-7b8c9d0"
        return part, {"name": part, "arn": f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:{kind}:{part}"}

    return answer


_UPDATE_OUTPUTS = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:cloudfront/distribution:Distribution": _distribution,
    "aws:lambda/function:Function": _function,
    "aws:cloudfront/function:Function": _cloudfront_function,
    "aws:cloudfront/keyValueStore:KeyValueStore": _key_value_store,
    "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey": _key_value_store_key,
    "aws:ssm/parameter:Parameter": _parameter,
    "aws:iam/role:Role": _role,
    "aws:acm/certificate:Certificate": _certificate,
    "aws:acm/certificateValidation:CertificateValidation": _certificate_validation,
    "aws:route53/record:Record": _record,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": _log_delivery_part("delivery-source"),
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": _log_delivery_part(
        "delivery-destination"
    ),
}


def _plain_properties(struct: Any) -> dict[str, Any]:
    """Protobuf properties as the engine hands them to an analyzer: unknowns as sentinels,
    resource references as the referenced resource's id (or URN for components), secrets unwrapped."""

    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            if value.get(_SIG_KEY) == _RESOURCE_REFERENCE_SIG:
                if "id" in value:
                    return value["id"] or UNKNOWN_STRING_VALUE
                return value.get("urn", UNKNOWN_STRING_VALUE)
            return {k: convert(v) for k, v in value.items()}
        return value

    return deserialize_properties(convert(json_format.MessageToDict(struct)))


class RecordingMonitor(MockMonitor):
    """The mock resource monitor, keeping the full registration of every resource."""

    def __init__(self, mocks: Mocks, config: Mapping[str, str]) -> None:
        super().__init__(mocks)
        self.config = config
        self.recorded: list[RecordedResource] = []
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine does, children of the root stack do not carry its type in their URN.
        if parent and parent.split("::")[2] == STACK_TYPE:
            parent = ""
        return super().make_urn(parent, type_, name)

    def _provider_urn(self, reference: str, type_token: str, version: str) -> str | None:
        if reference:
            # A provider reference is `<urn>::<id>`; the URN itself contains `::`.
            return reference.rsplit("::", 1)[0]
        package = type_token.split(":", 1)[0]
        if package == "pulumi":
            return None
        return self._default_provider(package, version)

    def _default_provider(self, package: str, version: str) -> str:
        """The engine's default provider for `package`, configured from the `<package>:` config keys."""
        name = "default_" + version.replace(".", "_") if version else "default"
        urn = self.make_urn("", f"{_PROVIDER_TYPE_PREFIX}{package}", name)
        with self._lock:
            if any(r.urn == urn for r in self.recorded):
                return urn
            prefix = f"{package}:"
            props: dict[str, Any] = {
                k[len(prefix) :]: v for k, v in self.config.items() if k.startswith(prefix)
            }
            if version:
                props["version"] = version
            self.recorded.append(
                RecordedResource(f"{_PROVIDER_TYPE_PREFIX}{package}", name, urn, True, props)
            )
        return urn

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        urn = response.urn
        custom = bool(request.custom)
        timeouts = request.customTimeouts
        resource = RecordedResource(
            type=request.type,
            name=request.name,
            urn=urn,
            custom=custom,
            props=_plain_properties(request.object),
            parent=request.parent or None,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=self._provider_urn(request.provider, request.type, request.version) if custom else None,
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            aliases=list(request.aliasURNs),
            custom_timeouts=(
                _seconds(timeouts.create) if timeouts else 0.0,
                _seconds(timeouts.update) if timeouts else 0.0,
                _seconds(timeouts.delete) if timeouts else 0.0,
            ),
            additional_secret_outputs=list(request.additionalSecretOutputs),
        )
        with self._lock:
            self.recorded.append(resource)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        # The stack's exports (and a component's register_outputs) as the engine would store them.
        outputs = _plain_properties(request.outputs)
        with self._lock:
            for resource in self.recorded:
                if resource.urn == request.urn:
                    resource.outputs = outputs
        return super().RegisterResourceOutputs(request)

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        resource = RecordedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=True,
            props=_plain_properties(request.properties),
            parent=request.parent or None,
            dependencies=list(request.dependencies),
            provider=self._provider_urn(request.provider, request.type, request.version),
            read=True,
        )
        with self._lock:
            self.recorded.append(resource)
        return response


def _seconds(duration: str) -> float:
    """A Go duration such as `5m`, `1h30m` or `90s`, as seconds (0 when empty or unparsable)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    total, number = 0.0, ""
    for char in duration or "":
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            return 0.0
    return total


# ---------------------------------------------------------------------------------------------------
# Running a program


def _program_traceback(exc: BaseException) -> str:
    """The error with the frames of the program (and its libraries), without the runtime's own."""
    runtime_dirs = (str(Path(asyncio.__file__).parent), str(Path(run_in_stack.__code__.co_filename).parent))
    summary = traceback.TracebackException.from_exception(exc)
    summary.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in summary.stack
            if frame.filename != __file__
            and not frame.filename.startswith(runtime_dirs)
            and not frame.filename.startswith("<frozen")
        ]
    )
    return "".join(summary.format()).rstrip()


@contextlib.contextmanager
def _program_environment(program_dir: Path) -> Iterator[None]:
    """cwd = the program's directory, which also goes first on sys.path; modules it imports from there
    are forgotten afterwards, so that several programs can run in one process."""
    previous_cwd = os.getcwd()
    previous_path = list(sys.path)
    previous_modules = set(sys.modules)
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.path[:] = previous_path
        for name in set(sys.modules) - previous_modules:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if not module_file:
                continue
            path = Path(module_file).resolve()
            # A program's virtualenv often lives in its directory: installed packages stay imported
            # (pulumi_aws, for one, refuses to register itself twice in a process).
            if path.is_relative_to(program_dir) and "site-packages" not in path.parts:
                module = sys.modules.pop(name)
                # A package imported before the run would still hand out the forgotten submodule.
                parent, _, child = name.rpartition(".")
                if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
                    delattr(sys.modules[parent], child)


# A program may read AWS itself while it runs (the release guard reads the bucket and the pointer with
# the deployer's credentials). Offline, AWS answers as an account where none of this stack's resources
# exist yet, as for a first `pulumi up`: the names the mocks invent are in no real account. A call to
# any other service fails the run, naming it.
_EMPTY_ACCOUNT_ERRORS = {
    "s3": ("NoSuchBucket", 404, "The specified bucket does not exist"),
    "ssm": ("ParameterNotFound", 400, "Parameter not found"),
    "cloudfront": ("NoSuchDistribution", 404, "The specified distribution does not exist"),
    "lambda": ("ResourceNotFoundException", 404, "Function not found"),
    "acm": ("ResourceNotFoundException", 400, "Could not find certificate"),
}
# HEAD requests carry no body: S3 answers them with the bare status as the code.
_BODYLESS_OPERATIONS = frozenset({"HeadObject", "HeadBucket"})


@contextlib.contextmanager
def _empty_aws_account() -> Iterator[None]:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    # Every client sends its operations through this method (botocore/client.py).
    hook = "_make_api_call"
    original = getattr(BaseClient, hook)

    def answer(client: Any, operation_name: str, api_params: Any) -> Any:
        service = client.meta.service_model.service_name
        if service not in _EMPTY_ACCOUNT_ERRORS:
            code, status, message = "OfflineCheck", 400, "AWS is not called offline; this call has no answer"
        else:
            code, status, message = _EMPTY_ACCOUNT_ERRORS[service]
            if operation_name in _BODYLESS_OPERATIONS:
                code, message = str(status), "Not Found"
        error = {"Code": code, "Message": f"{message} ({service} {operation_name}, offline)"}
        response: Any = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}
        raise ClientError(response, operation_name)

    setattr(BaseClient, hook, answer)
    try:
        yield
    finally:
        setattr(BaseClient, hook, original)


def run_program(
    program_dir: Path,
    stack: str = "policy-check",
    config_overrides: list[str] | None = None,
    use_stack_config: bool = False,
    mocks: Mocks | None = None,
    preview: bool = True,
    empty_aws_account: bool = True,
) -> ProgramRun:
    """Run the program in `program_dir` as `pulumi preview` (or up) would, and return what it registered.

    Config: the defaults of Pulumi.yaml, then (with `use_stack_config`) `Pulumi.<stack>.yaml`, then
    `config_overrides` (`key=value`; a key without a namespace belongs to the project).
    Raises ProgramError when the program cannot be found or raises.

    `preview=False` runs the program as during `pulumi up` (UpdateMocks); `mocks` replaces the mocks
    chosen by `preview` (the program tests preview an existing stack with UpdateMocks).
    `empty_aws_account`: AWS calls the program makes itself (boto3) answer as an account without this
    stack's resources; False lets them through (to moto, in the program tests).
    """
    program_dir = program_dir.resolve()
    project, config = load_project(program_dir)
    if use_stack_config:
        config.update(load_stack_config(program_dir, project, stack))
    try:
        config.update(parse_config_overrides(config_overrides or [], project))
    except ValueError as exc:
        raise ProgramError(str(exc)) from exc
    main = program_dir / "__main__.py"
    if not main.exists():
        raise ProgramError(f"{program_dir} has no __main__.py: only Python programs can be checked")

    def run_main() -> None:
        runpy.run_path(str(main), run_name="__main__")

    aws = _empty_aws_account() if empty_aws_account else contextlib.nullcontext()
    with _program_environment(program_dir), aws:
        return run_inline(run_main, project, stack, config, mocks=mocks, preview=preview)


def run_inline(
    program: Callable[[], None],
    project: str,
    stack: str = "policy-check",
    config: Mapping[str, str] | None = None,
    mocks: Mocks | None = None,
    preview: bool = True,
) -> ProgramRun:
    """Run `program` (a function declaring resources) as a preview (or update) would; see `run_program`.

    `config` holds fully qualified keys (`project:key`, `aws:region`) with string values.
    """
    config = dict(config or {})
    region = config.get("aws:region", "us-east-1")
    default_mocks = PreviewMocks(region) if preview else UpdateMocks(region)
    monitor = RecordingMonitor(mocks or default_mocks, config)

    def run() -> None:
        pulumi_settings.ROOT.set(None)
        settings = MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=MockEngine(None),
            project=project,
            stack=stack,
            dry_run=preview,
            organization="organization",
            callbacks=None,
        )
        pulumi_settings.configure(settings)
        # MockSettings leaves the set of pending outputs (and its lock) to the caller's context, and
        # the SDK keeps a failed or cancelled output in that set "to pick up at program exit". Shared,
        # a failed run hands its dead tasks, bound to its closed loop, to the next run, whose
        # wait_for_rpcs then fails with "Event loop is closed". Each run gets its own.
        pulumi_settings.SETTINGS.outputs = set()
        pulumi_settings.SETTINGS.lock = threading.Lock()
        pulumi_config.set_all_config(dict(config), [])

        # The caller's event loop (a test's, say) comes back afterwards.
        # Python 3.12+ warns when this creates a loop for a caller that had none; that loop is what the
        # caller would have got, and it comes back below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            previous_loop = asyncio.get_event_loop_policy().get_event_loop()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # Once the program has failed, its other pending outputs fail too: that is noise, not news
        # (the Pulumi language host silences the same logger).
        asyncio_logger = logging.getLogger("asyncio")
        previous_level = asyncio_logger.level
        asyncio_logger.setLevel(logging.CRITICAL)
        try:
            loop.run_until_complete(run_in_stack(program))
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    loop.run_until_complete(task)
            # The SDK calls the monitor from the loop's default executor. loop.close() does not wait
            # for those threads: one still registering a resource (and importing, compiling) would run
            # into the next run or the caller, and CPython 3.11's compiler is not safe against that
            # ("AST constructor recursion depth mismatch"). Wait for them here.
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(previous_loop)
            asyncio_logger.setLevel(previous_level)

    try:
        # A copy of the context keeps the mock settings, config and root stack to this run.
        contextvars.copy_context().run(run)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise ProgramError(f"the program exited with status {exc.code}") from exc
    except Exception as exc:  # the program's own failure, whatever it is
        failure = f"the program failed: {_program_traceback(exc)}"
        # The failure's tracebacks hold the run's dead tasks. Collected later, inside some `ast.parse`
        # (pytest's assertion rewriting, an import), their finalizers would build an AST within that
        # AST, which CPython 3.11 reports as "AST constructor recursion depth mismatch". Their text is
        # in the message: let them go, and collect the tasks here.
        chain: list[BaseException] = []
        cause: BaseException | None = exc
        while cause is not None and cause not in chain:
            chain.append(cause)
            cause.__traceback__ = None
            cause = cause.__cause__ or cause.__context__
        gc.collect()
        raise ProgramError(failure) from exc

    # The root stack first, as in a deployment's snapshot.
    resources = sorted(monitor.recorded, key=lambda r: r.type != STACK_TYPE)
    return ProgramRun(project=project, stack=stack, config=config, resources=resources)
