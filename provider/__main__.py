"""The component provider's entry point: `VersionedStaticSite` for programs in any language.

This folder is a Pulumi plugin (PulumiPlugin.yaml), apart from the stack program at the repository's
root: the CLI runs it as `python provider/ <engine address>`, with the repository's .venv (toolchain uv),
so `components` imports through the project's install (docs/adoption.md, "The component provider").
"""

from components.package import host

if __name__ == "__main__":
    host()
