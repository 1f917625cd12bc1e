"""Pulumi components of versioned-site.

`VersionedStaticSite` is imported on first use: `components.edge_bundle` is also used by tools that
need no Pulumi (the demo, the benchmarks), and importing pulumi_aws costs about a second.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.site import VersionedStaticSite, VersionedStaticSiteArgs

__all__ = ["VersionedStaticSite", "VersionedStaticSiteArgs"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from components import site

        return getattr(site, name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
