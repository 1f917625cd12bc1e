"""sitectl: upload builds, list versions, release, roll back, prune, preview, and check policy.

Each command lives in its own module of `scripts/` and is registered on the group below.
"""

from __future__ import annotations

import click

from scripts.policy_check import policy_check


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Manage the versions of a versioned-site stack."""


cli.add_command(policy_check)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
