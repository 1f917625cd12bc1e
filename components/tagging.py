"""The `tags` of a site: checked once, then given to every resource of the component that takes tags.

The stack's `aws:defaultTags` reach the resources of the default provider through the engine, and those
of the explicit us-east-1 provider through `__main__.py`, which passes them on (an explicit provider
reads no `aws:` stack config). docs/adoption.md, "Tags".
"""

from __future__ import annotations

from collections.abc import Mapping

from components.config_key import config_key

# AWS tag limits: keys of 1-128 and values of 0-256 characters, the `aws:` prefix is AWS's own; 50
# tags per resource, but 10 per S3 object, and the site's 404 page is one.
MAX_TAGS = 10
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
# Keys kept for the component's own use.
RESERVED_PREFIX = "versioned-site:"


def validate(tags: Mapping[str, str]) -> None:
    if not isinstance(tags, Mapping):
        raise ValueError(
            f"{config_key('tags')} is {tags!r}: give an object of key: value strings, e.g. "
            "`pulumi config set --path 'tags.team' web`"
        )
    if len(tags) > MAX_TAGS:
        raise ValueError(
            f"{config_key('tags')} has {len(tags)} tags: S3 allows {MAX_TAGS} on an object, and the site's "
            f"404 page carries them; give at most {MAX_TAGS}"
        )
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(
                f"{config_key('tags')} entry {key!r}: {value!r} is not a string pair: quote the value, e.g. "
                f"`pulumi config set --path 'tags.{key}' '\"{value}\"'`"
            )
        if not 1 <= len(key) <= MAX_KEY_LENGTH or len(value) > MAX_VALUE_LENGTH:
            raise ValueError(
                f"{config_key('tags')} entry {key!r} is too long: AWS allows keys of 1-{MAX_KEY_LENGTH} and "
                f"values of up to {MAX_VALUE_LENGTH} characters"
            )
        if key.lower().startswith("aws:") or key.startswith(RESERVED_PREFIX):
            raise ValueError(
                f"{config_key('tags')} key {key!r} is reserved (aws: is AWS's, {RESERVED_PREFIX} the "
                "component's): choose another key"
            )


def resource_tags(tags: Mapping[str, str], **own: str) -> dict[str, str] | None:
    """The tags of one resource: the site's, plus the component's own keys (which win); None if none."""
    merged = {**tags, **own}
    return merged or None
