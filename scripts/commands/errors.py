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


def one_line(text: str, limit: int = 200) -> str:
    """`text` on one line (whitespace runs and control characters as one space), cut at `limit`."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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


def unexpected(error: Exception) -> SitectlError | None:
    """An exception no command turned into a SitectlError (a bug, or a failure nobody foresaw) as one
    line and exit 1; None to let it through: click's own exceptions, or SITECTL_DEBUG asking for the
    traceback."""
    if (
        isinstance(error, click.ClickException | click.exceptions.Abort | click.exceptions.Exit)
        or debugging()
    ):
        return None
    return SitectlError(
        f"unexpected {type(error).__name__}: {one_line(str(error)) or '(no message)'} "
        f"(a bug in sitectl: {DEBUG_ENV_VAR}=1 shows the traceback; please report it)"
    )


class OneLineErrors(click.Group):
    """sitectl's group: whatever exception a command lets escape becomes one line on stderr and exit 1
    (`unexpected`); SITECTL_DEBUG=1 shows the traceback instead."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as error:
            failure = unexpected(error)
            if failure is None:
                raise
            raise failure from error
