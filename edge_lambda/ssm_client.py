"""The edge's SSM client: botocore only, built to keep a Lambda@Edge cold start short.

`import boto3` costs little more than `import botocore.session`, but `boto3.client("ssm")` then parses
botocore's full SSM model and endpoints data and lists every service botocore knows. This client gets
the GetParameter model and the SSM endpoints of `ssm_model` instead (`trimmed_client`), which brings
import plus first request close to `import boto3` alone (`make bench` measures it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from edge_lambda.ssm_model import API_VERSION, GET_PARAMETER_MODEL, SSM_ENDPOINTS
from edge_lambda.trimmed_client import TrimmedModel, create_client, create_trimmed_client

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

# Replicas in every edge region call the parameter's one region while a viewer waits: fail fast and
# let the handler serve the version it has. Worst case with the botocore the Lambda runtime ships
# (`components.edge_bundle.RUNTIME_BOTOCORE_VERSION`, 1.38.36), whose retries/standard.py
# ExponentialBackoff waits rand(0, 1) s before the second attempt, throttled or not:
# 2 attempts x (1 s connect + 1 s read) + < 1 s = 5 s. Both timeouts bound a step, not an attempt:
# the connect timeout applies to each address DNS returns (urllib3 tries them in turn; DNS itself is
# not bounded) and the read timeout to each socket read (a trickling answer is not bounded). botocore
# 1.44 (the project's lock) waits < 50 ms (< 1 s throttled) but honours `x-amz-retry-after` up to 5 s
# longer: 10 s. The function's timeout must exceed this: a Lambda timeout also discards the container
# and its cached version.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 1
TOTAL_MAX_ATTEMPTS = 2


class PointerFetchError(Exception):
    """SSM did not return the pointer parameter: unreachable, timed out, denied or not found."""


SSM_GET_PARAMETER = TrimmedModel("ssm", API_VERSION, ("GetParameter",), GET_PARAMETER_MODEL, SSM_ENDPOINTS)


def client_config() -> Config:
    """The edge's short timeouts and one retry, for every client it makes (SSM here, S3 for manifests)."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
    )


def create_trimmed_ssm_client(region: str) -> SSMClient:
    """The fast client: botocore with `ssm_model`'s GetParameter model and SSM endpoints. Relies on
    botocore internals (`trimmed_client`)."""
    return cast("SSMClient", create_trimmed_client(SSM_GET_PARAMETER, region, client_config()))


def create_ssm_client(region: str, log: Callable[..., None] | None = None) -> SSMClient:
    """An SSM client for `region` with short timeouts and one retry (standard config otherwise, so
    `AWS_ENDPOINT_URL` and the usual credential chain apply).

    Lambda@Edge functions run with runtime management "Auto" only: AWS updates the runtime's botocore
    underneath the function, without asking. If that botocore no longer has the internals the trimmed
    client uses, building it fails in every new container; rather than answering 503 there, this
    falls back to botocore's stock client (its full SSM model: a slower cold start, the same calls)
    and reports the failure through `log` (event `ssm-client-fallback`)."""
    return cast("SSMClient", create_client(SSM_GET_PARAMETER, region, client_config(), log))


def fetch_parameter(client: SSMClient, name: str) -> str:
    """The value of the String parameter `name`; PointerFetchError when SSM does not give it."""
    try:
        response = client.get_parameter(Name=name)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise PointerFetchError(f"GetParameter {name} failed: {code}") from error
    except BotoCoreError as error:
        raise PointerFetchError(f"GetParameter {name} failed: {error}") from error
    # botocore parses a 200 whose body is not GetParameter's (a proxy's page, a truncated answer)
    # into a response without the member, or with a value of another type, rather than raising.
    parameter: Any = response.get("Parameter")
    value = parameter.get("Value") if isinstance(parameter, dict) else None
    if not isinstance(value, str):
        raise PointerFetchError(f"GetParameter {name} answered without a parameter value")
    return value
