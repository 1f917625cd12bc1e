"""The stack config key of a setting, under the project's real name.

`pulumi config set accessLogs s3` writes `<project>:accessLogs`, where `<project>` is Pulumi.yaml's
`name:`: a copy renamed `shop-site` (a second site in the same backend, or `pulumi new` from the
template) reads `shop-site:accessLogs`. Every message that names a setting names it this way, as the
`versionConfigKey` output does for the version, so the fix it shows is one the user can paste.
"""

from __future__ import annotations

import pulumi


def config_key(setting: str) -> str:
    """`<project>:<setting>` for the running program's project (e.g. `shop-site:domainNames`)."""
    return f"{pulumi.get_project()}:{setting}"
