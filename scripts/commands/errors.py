"""The errors `sitectl` reports: one clear line and an exit code (2 refused input, 1 AWS or Pulumi)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from scripts.versionstore.errors import StoreError, StoreRefusedError
from scripts.versionstore.errors import error_code as error_code

EXIT_FAILURE = 1
EXIT_REFUSED = 2
# Set (to anything but 0) to see the traceback behind an error instead of its one line.
DEBUG_ENV_VAR = "SITECTL_DEBUG"

P = ParamSpec("P")
R = TypeVar("R")


class SitectlError(click.ClickException):
    """A failure of AWS, Pulumi or the network: exit 1. Library callers catch it like any exception."""

    exit_code = EXIT_FAILURE


class RefusedError(SitectlError):
    """A request `sitectl` refuses before changing anything (bad input, incomplete version): exit 2."""

    exit_code = EXIT_REFUSED


def debugging() -> bool:
    """Whether SITECTL_DEBUG asks for tracebacks."""
    return os.environ.get(DEBUG_ENV_VAR, "") not in ("", "0")


def describe_aws_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "request")
        return f"AWS {operation} failed: {info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
    return f"AWS request failed: {error}"


def aws_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Turn any boto3 or version store error escaping a command into one line and exit 1 (2 for a
    refusal), instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except ParamValidationError as error:
            # botocore checks names (a bucket name above all) before sending: bad input, nothing sent.
            raise RefusedError(str(error).replace("\n", " ")) from error
        except ClientError as error:
            if error_code(error) == "InvalidBucketName":
                raise RefusedError(f"{describe_aws_error(error)}; check --bucket / SITE_BUCKET") from error
            raise SitectlError(describe_aws_error(error)) from error
        except BotoCoreError as error:
            raise SitectlError(describe_aws_error(error)) from error
        except StoreRefusedError as error:
            raise RefusedError(str(error)) from error
        except StoreError as error:
            raise SitectlError(str(error)) from error

    return wrapper
