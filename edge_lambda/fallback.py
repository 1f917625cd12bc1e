"""The origin group's second member: what the edge asks the bucket for when the live version missed.

The distribution's default behavior targets an origin group of two origins, both the site bucket
through the same Origin Access Control; the second carries the origin custom header
`layout.FALLBACK_ORIGIN_HEADER`. When the first answers 403 (a missing key), CloudFront sends the same viewer
request to the second and invokes this origin-request function again. On that second call:

- any file but HTML is read from the shared asset area, `/_assets/<path>`, which holds exactly the files
  some complete version's upload took as fingerprinted (recorded per file in its manifest): a page of
  an earlier (or, after a rollback, later) version still loads the chunks it names, with their own
  bytes, whatever their names look like; a file no version took so is not there, and stays a miss;
- `/404.html`, the page the custom error responses fetch, is the component's plain page
  (`/_site/404.html`) when the live version has none;
- anything else (HTML, folders) goes to the same live path again, so pages only ever come from the
  live version, and a real miss stays a miss (403, which the custom error response makes the 404 page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_lambda import layout

# The origin answer CloudFront fails over on, and that its custom error response turns into the 404
# page: a missing key. S3 answers 404 for one when the reader may list the bucket, 403 otherwise
# (GetObject, "Permissions"); CloudFront may not list it (components/site.py), so a 404 that reaches
# CloudFront is a page a build's 404 rule sends (`site_rules`), which must reach the viewer as it is.
MISSING_KEY_STATUS = 403
FAILOVER_STATUS_CODES = (MISSING_KEY_STATUS,)
# Pages come from the live version only: an upload never takes HTML as fingerprinted.
_PAGE_SUFFIXES = (".html", ".htm")


def is_fallback_request(request: Mapping[str, Any]) -> bool:
    """True when CloudFront sends `request` to the fallback origin (its custom header says so)."""
    # Any event shape may arrive (the handler never raises): anything unexpected is not the fallback.
    origin = request.get("origin")
    target = (origin.get("s3") or origin.get("custom")) if isinstance(origin, Mapping) else None
    headers = target.get("customHeaders") if isinstance(target, Mapping) else None
    entries = headers.get(layout.FALLBACK_ORIGIN_HEADER) if isinstance(headers, Mapping) else None
    return isinstance(entries, list) and any(
        isinstance(entry, Mapping) and entry.get("value") == layout.FALLBACK_ORIGIN_VALUE for entry in entries
    )


def original_uri(uri: str, version: str | None = None) -> str:
    """`uri` without the `/<version>` the first invocation may have put in front (any version id,
    or only `version` when given).

    AWS documents that the function runs again for the secondary origin with "the same request" but
    not whether the first run's rewrite carries over; removing it makes the fallback rewrite right
    either way. For live paths only the live version is removed, so `/<other version>/...` stays a
    miss rather than becoming a live page.
    """
    first, slash, rest = uri[1:].partition("/")
    if slash and (first == version if version is not None else layout.is_valid_version(first)):
        return "/" + rest
    return uri


def shared_uri(uri: str) -> str | None:
    """The URI outside every version that the fallback origin serves for `uri` (a viewer path that
    passed `handler.uri_problem`), or None when the live version's own path must be asked again."""
    if uri == layout.NOT_FOUND_PAGE_PATH:
        return "/" + layout.DEFAULT_NOT_FOUND_KEY
    if uri.endswith("/") or uri.lower().endswith(_PAGE_SUFFIXES):
        return None
    return "/" + layout.shared_asset_key(uri)
