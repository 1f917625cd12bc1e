"""The version store's errors: plain exceptions, so that the Pulumi program can use the store without
the CLI. sitectl turns them into one line and an exit code (`scripts.commands.errors.aws_errors`)."""

from __future__ import annotations

from botocore.exceptions import ClientError


class StoreError(Exception):
    """The bucket holds something the store cannot use (an unreadable manifest, a failed delete)."""


class StoreRefusedError(StoreError):
    """A request refused before anything was written (a version already claimed, bad input)."""


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
