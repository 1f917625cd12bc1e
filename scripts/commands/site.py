"""Where a `sitectl` command finds its bucket, parameter, URL and stack, and the clients it uses.

Resolution order for each: the command's option, the group's option (or its environment variable),
then the outputs of the Pulumi stack given by `--stack`. boto3 reads its standard configuration, so
`AWS_ENDPOINT_URL` points every client at moto or LocalStack with no extra flag.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click
from botocore.config import Config
from botocore.exceptions import ClientError

from edge_lambda import layout, trimmed_client
from scripts.commands import http_client
from scripts.commands.errors import RefusedError, SitectlError, aws_errors, error_code

# The Pulumi project's modules (`stack`, `project`, and PyYAML with them) are imported when a command
# first needs the project: an upload given --bucket never does.
if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

    from scripts.commands.project import StackFile
    from scripts.commands.stack import SiteStack
else:
    S3Client = Any
    SSMClient = Any
    StackFile = Any
    SiteStack = Any

# The pointer parameter lives in us-east-1, next to Lambda@Edge, whatever the stack's region.
DEFAULT_PARAMETER_REGION = layout.EDGE_REGION
HTTP_TIMEOUT_SECONDS = 15
S3_MAX_CONNECTIONS = 32

F = TypeVar("F", bound=Callable[..., Any])


def default_s3_client() -> S3Client:
    # Standard retry mode retries throttling, 5xx and dropped connections with backoff; the pool
    # is sized for the upload's parallel workers.
    # Uploads send Content-MD5 (computed while hashing the build anyway, and checked by S3), so the
    # extra CRC32 trailer botocore would add to every request is left off.
    config = Config(
        retries={"mode": "standard", "max_attempts": 8},
        max_pool_connections=S3_MAX_CONNECTIONS,
        request_checksum_calculation="when_required",
    )
    # Listings' timestamps (a LastModified per key) parsed without dateutil: `iso_timestamp`.
    return _guard_endpoint(
        "s3",
        lambda: trimmed_client.create_client(
            _sitectl_s3_model(), None, config, timestamp_parser=trimmed_client.iso_timestamp
        ),
    )


@functools.cache
def _sitectl_s3_model() -> trimmed_client.TrimmedModel:
    # Imported here: only a command that talks to S3 pays for parsing the model.
    from edge_lambda.s3_model import S3_ENDPOINTS
    from scripts.commands.s3_model import API_VERSION, SITECTL_S3_MODEL

    return trimmed_client.TrimmedModel(
        "s3", API_VERSION, tuple(SITECTL_S3_MODEL["operations"]), SITECTL_S3_MODEL, S3_ENDPOINTS
    )


def default_ssm_client(region: str) -> SSMClient:
    return aws_client("ssm", region_name=region, config=Config(retries={"mode": "standard"}))


def default_cloudfront_client() -> Any:
    # CloudFront is global; its API endpoint is in us-east-1.
    return aws_client("cloudfront", region_name="us-east-1", config=Config(retries={"mode": "standard"}))


def aws_client(service: str, **kwargs: Any) -> Any:
    """boto3's client; RefusedError for an endpoint botocore cannot use."""
    import boto3  # only here: sitectl's S3 client (the upload's) is botocore's alone

    return _guard_endpoint(service, lambda: boto3.client(service, **kwargs))  # type: ignore[call-overload]


T = TypeVar("T")


def _guard_endpoint(service: str, create: Callable[[], T]) -> T:
    """`create()`; RefusedError for an endpoint botocore cannot use (it raises a bare ValueError for an
    AWS_ENDPOINT_URL such as `localhost:5000` or `http://[`)."""
    try:
        return create()
    except ValueError as error:
        raise RefusedError(
            f"cannot make the AWS {service} client: {error}: check AWS_ENDPOINT_URL (or endpoint_url in "
            "your AWS config), e.g. http://127.0.0.1:5000"
        ) from error


def default_kvs_client() -> Any:
    import boto3

    # The KeyValueStore data plane signs with SigV4A (botocore[crt]); its endpoint comes from the ARN.
    return boto3.client(
        "cloudfront-keyvaluestore", region_name="us-east-1", config=Config(retries={"mode": "standard"})
    )


@dataclass(frozen=True)
class HttpAnswer:
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case


def http_get(url: str) -> HttpAnswer:
    """GET a URL (redirects followed, `HTTP_TIMEOUT_SECONDS` in all); SitectlError, one line, for
    anything but a complete 200 of at most `http_client.MAX_BODY_BYTES`."""
    headers = {"User-Agent": "sitectl", "Cache-Control": "no-cache"}
    answer = http_client.get(url, HTTP_TIMEOUT_SECONDS, headers=headers, follow_redirects=True)
    if answer.error is not None:
        raise SitectlError(f"GET {url} failed: {answer.error}")
    if answer.status != 200:
        raise SitectlError(f"GET {url} answered HTTP {answer.status}")
    if not answer.complete:
        raise SitectlError(f"GET {url}: the body is longer than {http_client.MAX_BODY_BYTES} bytes")
    return HttpAnswer(answer.body, answer.headers)


def http_url(url: str) -> str:
    """`url` when it is an http(s) URL with a host (and a port, if any, in 0-65535); RefusedError."""
    example = "e.g. https://d111111abcdef8.cloudfront.net"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError as error:
        raise RefusedError(f"--url {url!r} is not a URL ({error}), {example}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RefusedError(f"--url {url!r} is not an http(s) URL, {example}")
    return url


def select_stack(name: str, work_dir: Path | None) -> SiteStack:
    """`stack.select_stack`."""
    from scripts.commands import stack

    return stack.select_stack(name, work_dir)


def list_stack_names(work_dir: Path | None) -> list[str]:
    """`stack.list_stack_names`."""
    from scripts.commands import stack

    return stack.list_stack_names(work_dir)


@dataclass
class SiteDeps:
    """Everything a command reaches outside the process; tests pass their own as `obj`."""

    stack_factory: Callable[[str, Path | None], SiteStack] = select_stack
    stack_lister: Callable[[Path | None], list[str]] = list_stack_names
    s3_factory: Callable[[], S3Client] = default_s3_client
    ssm_factory: Callable[[str], SSMClient] = default_ssm_client
    http_get: Callable[[str], HttpAnswer] = http_get
    cloudfront_factory: Callable[[], Any] = default_cloudfront_client
    kvs_factory: Callable[[], Any] = default_kvs_client
    # The wall clock (compared with SSM's LastModifiedDate) and waiting on it: tests move it by hand.
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class ParameterChange:
    """One entry of the pointer parameter's history."""

    value: str
    modified: datetime | None
    user: str | None
    version: int


@dataclass
class Site:
    """The resolved target of one command, with clients created on first use."""

    deps: SiteDeps = field(default_factory=SiteDeps)
    bucket_option: str | None = None
    stack_name: str | None = None
    parameter_option: str | None = None
    url_option: str | None = None
    project_dir: Path | None = None
    _stack: SiteStack | None = field(default=None, init=False, repr=False)
    _stack_file: StackFile | None = field(default=None, init=False, repr=False)
    _outputs: Mapping[str, Any] | None = field(default=None, init=False, repr=False)
    _s3: S3Client | None = field(default=None, init=False, repr=False)

    @property
    def has_stack(self) -> bool:
        return bool(self.stack_name)

    def stack(self) -> SiteStack:
        if not self.stack_name:
            raise RefusedError("this needs a Pulumi stack: pass --stack (or set SITE_STACK)")
        if self._stack is None:
            self._stack = self.deps.stack_factory(self.stack_name, self.project_dir)
        return self._stack

    def project_root(self) -> Path:
        from scripts.commands.stack import find_project_root

        return self.project_dir or find_project_root()

    def stack_file_name(self) -> str:
        """The stack file's path relative to the project (`Pulumi.<stack>.yaml`)."""
        from scripts.commands.project import stack_file_path

        root = self.project_root()
        path = stack_file_path(root, str(self.stack_name))
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    def use_stack_file_if_bucket_named(self) -> None:
        """Work from the stack file alone (`StackFile`: no Pulumi CLI, no backend) when the bucket is
        named by --bucket or by the file's `sitectl:bucket`; else the stack's outputs name it."""
        from scripts.commands.project import StackFile, project_name

        root = self.project_root()
        stack_file = StackFile(root, str(self.stack_name), project_name(root))
        if self.bucket_option or stack_file.bucket():
            self._stack_file = stack_file
            self._stack = stack_file
            self._outputs = {}

    def outputs(self) -> Mapping[str, Any]:
        """The stack's outputs, or nothing when no stack is given."""
        if not self.stack_name:
            return {}
        if self._outputs is None:
            try:
                self._outputs = dict(self.stack().outputs())
            except SitectlError:
                raise
            except Exception as error:  # the Automation API raises its own CommandError family
                raise SitectlError(
                    f"could not read the outputs of stack {self.stack_name!r}: {error}"
                ) from error
        return self._outputs

    def _from_outputs(self, key: str) -> str | None:
        value = self.outputs().get(key)
        return str(value) if value else None

    def bucket(self) -> str:
        named = self._stack_file.bucket() if self._stack_file is not None else None
        bucket = self.bucket_option or named or self._from_outputs("bucketName")
        if not bucket:
            raise RefusedError(
                "no bucket: pass --bucket, set SITE_BUCKET, or name a deployed stack with --stack"
            )
        return bucket

    def parameter(self) -> tuple[str, str] | None:
        """(name, region) of the pointer parameter, or None when neither option nor stack names it."""
        name = self.parameter_option or self._from_outputs("parameterName")
        if not name:
            return None
        return name, self._from_outputs("parameterRegion") or DEFAULT_PARAMETER_REGION

    def url(self) -> str | None:
        return self.url_option or self._from_outputs("url")

    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = self.deps.s3_factory()
        return self._s3

    def ssm(self) -> SSMClient:
        parameter = self.parameter()
        return self.deps.ssm_factory(parameter[1] if parameter else DEFAULT_PARAMETER_REGION)

    @aws_errors
    def live_version(self) -> str | None:
        """The pointer parameter's value, None when no parameter is known or it does not exist."""
        parameter = self.parameter()
        if parameter is None:
            return None
        try:
            return str(self.ssm().get_parameter(Name=parameter[0])["Parameter"]["Value"])
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return None
            raise

    @aws_errors
    def canary(self) -> tuple[str, int] | None:
        """The running canary (version, percent) from its record beside the pointer
        (`layout.canary_parameter_name`); None when none runs or the record does not exist."""
        parameter = self.parameter()
        if parameter is None:
            return None
        try:
            name = layout.canary_parameter_name(parameter[0])
            value = str(self.ssm().get_parameter(Name=name)["Parameter"]["Value"])
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return None
            raise
        return layout.parse_canary_record(value)

    def require_live_version(self, command: str) -> str:
        """The pointer parameter's value; RefusedError when no parameter is named or it does not
        exist (a mistyped --parameter must never read as "nothing is live")."""
        parameter = self.parameter()
        if parameter is None:
            raise RefusedError(
                f"{command} must know the live version: pass --parameter or --stack "
                "(or SITE_PARAMETER / SITE_STACK)"
            )
        live = self.live_version()
        if live is None:
            raise RefusedError(
                f"parameter {parameter[0]} does not exist in {parameter[1]}, so {command} cannot know the "
                "live version: check --parameter / SITE_PARAMETER (or the stack's parameterName output)"
            )
        return live

    @aws_errors
    def parameter_history(self) -> list[ParameterChange]:
        """Every value the pointer parameter has held, newest first (SSM keeps the last 100)."""
        parameter = self.parameter()
        if parameter is None:
            return []
        changes = []
        try:
            paginator = self.ssm().get_paginator("get_parameter_history")
            for page in paginator.paginate(Name=parameter[0]):
                for item in page.get("Parameters", []):
                    changes.append(
                        ParameterChange(
                            value=str(item.get("Value", "")),
                            modified=item.get("LastModifiedDate"),
                            user=item.get("LastModifiedUser"),
                            version=int(item.get("Version", 0)),
                        )
                    )
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return []
            raise
        return sorted(changes, key=lambda change: change.version, reverse=True)


def missing_pointer(parameter: tuple[str, str]) -> str:
    """Where a live version is expected, a named pointer that does not exist is an error, not 'none'."""
    name, region = parameter
    return (
        f"the pointer parameter {name} does not exist in {region}: check --parameter / SITE_PARAMETER, "
        "or the stack (its parameterName output)"
    )


def is_released(version: str | None) -> bool:
    return bool(version) and version != layout.NO_VERSION_RELEASED


# Options shared by the group and the commands; a command's value wins over the group's.
_OPTIONS: dict[str, tuple[str, str, str]] = {
    "bucket": ("--bucket", "SITE_BUCKET", "Site bucket (default: the stack output bucketName)."),
    "stack": ("--stack", "SITE_STACK", "Pulumi stack of the site (its outputs name bucket, parameter, URL)."),
    "parameter": (
        "--parameter",
        "SITE_PARAMETER",
        "SSM parameter holding the live version (default: the stack output parameterName).",
    ),
    "url": ("--url", "SITE_URL", "Public URL of the site (default: the stack output url)."),
    "project_dir": (
        "--project-dir",
        "SITE_PROJECT_DIR",
        "Directory of Pulumi.yaml (default: found from the working directory).",
    ),
}
_META_KEY = "sitectl.site_options"


def group_options(function: F) -> F:
    """The group's options, each with its environment variable; stored for the commands to read."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        ctx.meta[_META_KEY] = {name: kwargs.pop(name) for name in _OPTIONS}
        if not isinstance(ctx.obj, SiteDeps):
            ctx.obj = SiteDeps()
        return function(*args, **kwargs)

    for name, (flag, envvar, help_text) in reversed(_OPTIONS.items()):
        wrapper = click.option(flag, name, envvar=envvar, default=None, show_envvar=True, help=help_text)(
            wrapper
        )
    return wrapper  # type: ignore[return-value]


def site_options(*names: str) -> Callable[[F], F]:
    """Add the named options (default: all of them, as every command takes) to a command and pass it
    a resolved `site: Site` instead."""
    names = names or tuple(_OPTIONS)
    unknown = set(names) - set(_OPTIONS)
    if unknown:
        raise ValueError(f"unknown site options {sorted(unknown)}")

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            if _META_KEY in ctx.meta:
                inherited: dict[str, Any] = dict(ctx.meta[_META_KEY])
            else:  # invoked without the group: read the group's environment variables here
                inherited = {name: os.environ.get(envvar) for name, (_, envvar, _) in _OPTIONS.items()}
            for name in names:
                value = kwargs.pop(name)
                if value is not None:
                    inherited[name] = value
            deps = ctx.find_root().obj
            project_dir = inherited.get("project_dir")
            kwargs["site"] = Site(
                deps=deps if isinstance(deps, SiteDeps) else SiteDeps(),
                bucket_option=inherited.get("bucket"),
                stack_name=inherited.get("stack"),
                parameter_option=inherited.get("parameter"),
                url_option=inherited.get("url"),
                project_dir=Path(project_dir) if project_dir else None,
            )
            return function(*args, **kwargs)

        for name in reversed(names):
            flag, _envvar, help_text = _OPTIONS[name]
            wrapper = click.option(flag, name, default=None, help=help_text)(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
