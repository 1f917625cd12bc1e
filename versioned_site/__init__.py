"""versioned-site as a library: the `VersionedStaticSite` component for another Pulumi program in Python.

    from versioned_site import VersionedStaticSite, VersionedStaticSiteArgs

Install it from this repository (`pip install "versioned-site @ git+<this repository's URL>"`, or
`uv add` the same); examples/python-consumer/ is a program that does, run under Pulumi's mocks by the
tests. Programs in other languages use the component provider instead (provider/, README).
"""

from components.site import VersionedStaticSite, VersionedStaticSiteArgs, VersionedStaticSiteInputs
from edge_lambda.layout import pointer_parameter_name

__all__ = [
    "VersionedStaticSite",
    "VersionedStaticSiteArgs",
    "VersionedStaticSiteInputs",
    "pointer_parameter_name",
]
