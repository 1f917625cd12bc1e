"""Pulumi components of versioned-site."""

from components.site import VersionedStaticSite, VersionedStaticSiteArgs, pointer_parameter_name

__all__ = ["VersionedStaticSite", "VersionedStaticSiteArgs", "pointer_parameter_name"]
