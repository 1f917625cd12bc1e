"""sitectl: upload builds, list versions, release, run canaries, roll back, prune, preview, and check policy.

Each command lives in its own module of `scripts/commands/`, named in the group's table below and
imported only when it runs.
"""

from __future__ import annotations

import gc

import click

from scripts.commands.options import LazyCommand, SitectlGroup
from scripts.commands.site import group_options

# Each command with the first sentence of its help (`sitectl --help`, without importing the command).
COMMANDS = {
    "canary": LazyCommand(
        "scripts.commands.canary:canary_command",
        "Canary release (cloudfront-function router): `canary VERSION --percent P` serves VERSION to P% of "
        "viewers, each keeping its own; `--complete` makes it live for everyone, `--abort` ends it.",
    ),
    "e2e": LazyCommand(
        "scripts.commands.e2e:e2e_command",
        "Deploy the site into throwaway stacks of a real AWS account, upload two versions, release, verify, "
        "release with --verify, roll back, roll back --now, see the program's guards refuse, promote into a "
        "second stack, measure each switch at the edge, then destroy everything it created (README, "
        '"Prove it on your account: make e2e").',
    ),
    "history": LazyCommand(
        "scripts.commands.release:history_command",
        "Past releases, newest first: version, when, by whom, result (from the stack's update history, else "
        "the parameter's history); the one the pointer holds is marked live.",
    ),
    "policy-check": LazyCommand(
        "scripts.commands.policy_check:policy_check",
        "Check a Pulumi Python program against the policy pack, offline.",
    ),
    "promote": LazyCommand(
        "scripts.commands.promote:promote_command",
        "Copy the complete --version V from --from-bucket / --from-stack into this site's bucket (--bucket / "
        "--stack) server-side, its manifest last, and print its id as the last line.",
    ),
    "prune": LazyCommand(
        "scripts.commands.prune:prune_command",
        "Delete old versions (objects and manifest), keeping the newest KEEP complete ones, the live one, "
        "the one before it and any version a stack of this bucket points to.",
    ),
    "release": LazyCommand(
        "scripts.commands.release:release_command",
        "Release --version V: set the stack's `version` config and run a `pulumi up` targeted at the pointer "
        "and the switch.",
    ),
    "rollback": LazyCommand(
        "scripts.commands.release:rollback_command",
        "Release the version live before the one live now (the pointer, not the local config), from the "
        "stack's update history, else the parameter's history; or the one given with --version.",
    ),
    "serve": LazyCommand(
        "scripts.commands.serve:serve",
        "Serve the site on 127.0.0.1 through the real edge function, as the distribution does.",
    ),
    "share-assets": LazyCommand(
        "scripts.commands.share_assets:share_assets_command",
        "Publish the fingerprinted files of each --version (default: every complete version, newest first) "
        "to the shared asset area, so that open pages of those versions keep their chunks after a release.",
    ),
    "status": LazyCommand(
        "scripts.commands.status:status_command",
        "Show the local config's version, the deployed one (stack output), the parameter's value and the "
        "version the live URL serves (the version marker its index.html carries), flagging any disagreement "
        "with the command that fixes it.",
    ),
    "upload": LazyCommand(
        "scripts.commands.upload:upload_command",
        "Upload DIRECTORY as a new version and print its id as the last line.",
    ),
    "verify": LazyCommand(
        "scripts.commands.verify:verify_command",
        "Check that the URL serves --version V (default: the pointer's) and works: root page, smoke paths, "
        "and every same-origin asset the root page references answer as expected, from that version, with "
        "the Content-Type its manifest records.",
    ),
    "versions": LazyCommand(
        "scripts.commands.versions:versions_command",
        "List every version, newest first: complete or not, files, bytes, created, and which is live.",
    ),
}


@click.group(
    cls=SitectlGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="versioned-site", prog_name="sitectl", message="%(prog)s %(version)s")
@group_options
def cli() -> None:
    """Manage the versions of a versioned-site stack.

    The bucket comes from --bucket / SITE_BUCKET, else from the outputs of the Pulumi stack given by
    --stack / SITE_STACK. AWS clients use boto3's standard configuration (AWS_ENDPOINT_URL included).
    Every command names one version with --version, prints one JSON document on stdout with --json,
    and exits 0 (done), 1 (the operation failed) or 2 (refused: bad input, nothing changed). Errors
    are one line; SITECTL_DEBUG=1 shows the traceback behind an unexpected one.
    """


def main() -> None:
    # What the imports allocated (botocore's models, click's commands, every module) lives until exit:
    # frozen, the collector no longer walks it at each collection nor once more at exit, a quarter of
    # a command's start-up CPU (0.62 s -> 0.45 s to import and create the S3 client, medians of 9).
    # Only the console script calls this (`scripts.console`, which imported this module with the
    # collector off): tests invoke `cli` and keep their collector as it is. The command's own imports,
    # made when it runs, are frozen once they are done (`SitectlGroup`).
    gc.freeze()
    gc.enable()
    cli.freeze_imports = True
    cli()


if __name__ == "__main__":
    main()
