"""VersionedStaticSite as a Pulumi component package, for programs in any language.

`provider/__main__.py` calls `host()`: the Pulumi CLI runs that folder as a plugin (`pulumi package add
<this repository>/provider`), and the SDK's component provider (`pulumi.provider.experimental`) infers
the schema from the annotations and docstrings of `VersionedStaticSite` and `VersionedStaticSiteInputs`.
`schema()` builds the same schema in-process, without the CLI: `python -m components.package` prints it
(`provider/schema.json` is that output, held equal by tests/test_component_provider.py).
"""

from __future__ import annotations

import json
from importlib.metadata import version as installed_version
from typing import Any

from components.site import VersionedStaticSite

PACKAGE_NAME = "versioned-site"
"""The package's name: its type tokens are `versioned-site:index:<Component>` (site.TYPE_TOKEN)."""
COMPONENTS = [VersionedStaticSite]


def package_version() -> str:
    """The version of this repository's Python package (pyproject.toml), which the schema carries."""
    return installed_version(PACKAGE_NAME)


def schema() -> dict[str, Any]:
    """The provider's schema, as `pulumi package get-schema` would print it."""
    from pulumi.provider.experimental.component import ComponentProvider

    provider = ComponentProvider(list(COMPONENTS), PACKAGE_NAME, None, package_version())
    return dict(json.loads(str(provider.schema)))


def host() -> None:
    """Serve the components to the engine (the plugin's entry point)."""
    from pulumi.provider.experimental import component_provider_host

    component_provider_host(components=list(COMPONENTS), name=PACKAGE_NAME, version=package_version())


if __name__ == "__main__":
    print(json.dumps(schema(), indent=2, sort_keys=True))
