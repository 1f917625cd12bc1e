"""The edge's SSM client: botocore only, built to keep a Lambda@Edge cold start short.

`import boto3` costs little more than `import botocore.session`, but `boto3.client("ssm")` then parses
botocore's full SSM model and endpoints data and lists every service botocore knows. This client gets
the GetParameter model and the SSM endpoints of `ssm_model` instead, which brings import plus first
request close to `import boto3` alone (`make bench` measures it).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from edge_lambda.ssm_model import API_VERSION, GET_PARAMETER_MODEL, SSM_ENDPOINTS

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


def _get_parameter_loader() -> Any:
    """botocore's loader, serving the SSM model from `ssm_model` rather than from botocore's data.

    Built on first use, not at import: `Loader` and `BUILTIN_DATA_PATH` are botocore internals, and a
    runtime botocore without them must leave this module importable (see `create_ssm_client`)."""
    from botocore.loaders import Loader

    class GetParameterLoader(Loader):
        def list_available_services(self, type_name: str) -> list[str]:
            # botocore calls this only to check the name it was given; the real answer walks ~450
            # directories. This session creates the SSM client and nothing else.
            return ["ssm"]

        def load_data_with_path(self, name: str) -> tuple[Any, str]:
            if name == "endpoints":
                # Reported at botocore's own path, so that botocore treats it as its built-in data.
                # A copy: botocore's endpoint resolver writes into the data it is given.
                return copy.deepcopy(SSM_ENDPOINTS), os.path.join(self.BUILTIN_DATA_PATH, "endpoints.json")
            return super().load_data_with_path(name)

        def load_service_model(
            self, service_name: str, type_name: str, api_version: str | None = None
        ) -> Any:
            if service_name == "ssm" and type_name == "service-2" and api_version == API_VERSION:
                return copy.deepcopy(GET_PARAMETER_MODEL)
            return super().load_service_model(service_name, type_name, api_version)

    return GetParameterLoader()


def _client_config() -> Config:
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
    )


def create_trimmed_ssm_client(region: str) -> SSMClient:
    """The fast client: botocore with `ssm_model`'s GetParameter model and SSM endpoints. Relies on
    botocore internals (`Loader`, `BUILTIN_DATA_PATH`, `Session.register_component`)."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _get_parameter_loader())
    client = session.create_client(
        "ssm", region_name=region, api_version=API_VERSION, config=_client_config()
    )
    if client.meta.service_model.operation_names != ["GetParameter"]:
        # The loader was not consulted (botocore loads its models another way now).
        raise RuntimeError("botocore did not take the GetParameter-only model")
    return cast("SSMClient", client)


def create_ssm_client(region: str, log: Callable[..., None] | None = None) -> SSMClient:
    """An SSM client for `region` with short timeouts and one retry (standard config otherwise, so
    `AWS_ENDPOINT_URL` and the usual credential chain apply).

    Lambda@Edge functions run with runtime management "Auto" only: AWS updates the runtime's botocore
    underneath the function, without asking. If that botocore no longer has the internals the trimmed
    client uses, building it fails in every new container; rather than answering 503 there, this
    falls back to botocore's stock client (its full SSM model: a slower cold start, the same calls)
    and reports the failure through `log` (event `ssm-client-fallback`)."""
    try:
        return create_trimmed_ssm_client(region)
    except Exception as error:  # any failure of botocore internals, whatever its type
        if log is not None:
            log("ssm-client-fallback", error=repr(error))
    # A new session: the failed one may hold a half-registered loader. No `api_version`: the stock
    # client takes whichever SSM model this botocore ships (GetParameter is in all of them).
    client = botocore.session.Session().create_client("ssm", region_name=region, config=_client_config())
    return cast("SSMClient", client)


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
