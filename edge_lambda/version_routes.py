"""What the Lambda@Edge handler knows of each version's files: learnt once per version per container.

A version is immutable once sealed, and its manifest (`_manifests/<version>.json`) lists every file, so
the handler reads it with one S3 GetObject the first time a container routes a request for that version
and keeps the `VersionRoutes` built from it for the container's life (the few most recent versions: a
release or a rollback switches between two). No request pays a network call after that: the cost is one
GetObject (the manifest's size, about 200 bytes a file) added to the first cache miss of a version in
each container. If the manifest cannot be read (S3 slow or denied, a role without the grant), the handler
routes as it did before it knew the files (`VersionRoutes()`: every page a folder) and asks again after
`retry_seconds`, never on every request.

Standard library and botocore only, like everything in `edge_lambda/`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge_lambda import layout
from edge_lambda.routes import VersionRoutes
from edge_lambda.s3_model import API_VERSION, GET_OBJECT_MODEL, S3_ENDPOINTS
from edge_lambda.ssm_client import client_config
from edge_lambda.trimmed_client import TrimmedModel, create_client

if TYPE_CHECKING:
    from edge_lambda.settings import EdgeSettings

# A release and a rollback alternate between two versions; a few more cost little memory.
KEPT_VERSIONS = 4
# Manifest reads are retried at most this often per container after a failure.
RETRY_SECONDS = 30


S3_GET_OBJECT = TrimmedModel("s3", API_VERSION, ("GetObject",), GET_OBJECT_MODEL, S3_ENDPOINTS)


def create_s3_client(region: str, log: Callable[..., None] | None = None) -> Any:
    """An S3 client for `region` with the edge's short timeouts and one retry (`ssm_client`): botocore
    with `s3_model`'s GetObject model, else its stock client (`trimmed_client`, `s3-client-fallback`)."""
    return create_client(S3_GET_OBJECT, region, client_config(), log)


class ManifestRoutes:
    """Loads a version's routes from its manifest in `bucket` (the client is created on first use)."""

    def __init__(
        self,
        bucket: str,
        region: str,
        spa_fallback: bool,
        s3_client: Any | None = None,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.spa_fallback = spa_fallback
        self._s3 = s3_client
        self._log = log

    def __call__(self, version: str) -> VersionRoutes:
        if self._s3 is None:
            self._s3 = create_s3_client(self.region, self._log)
        body = self._s3.get_object(Bucket=self.bucket, Key=layout.manifest_key(version))["Body"].read()
        manifest = layout.Manifest.from_json(body)
        return VersionRoutes.from_paths(
            manifest.files,
            self.spa_fallback,
            manifest.fingerprinted_paths(),
            manifest.rules,
            manifest.stored_elsewhere(),
        )


def _log_event(event: str, **fields: Any) -> None:
    """One JSON line on stdout (CloudWatch Logs), as `handler.log_event`."""
    print(json.dumps({"event": event, **fields}), flush=True)


class RoutesCache:
    """Each version's `VersionRoutes`, loaded once (`load(version)`) and kept; thread-safe."""

    def __init__(
        self,
        load: Callable[[str], VersionRoutes] | None,
        spa_fallback: bool = False,
        now: Callable[[], float] = time.monotonic,
        log: Callable[..., None] = _log_event,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._load = load
        # What routing assumes without the manifest: the rules from before the edge knew the files.
        self.unknown = VersionRoutes.unknown(spa_fallback)
        self._now = now
        self._log = log
        self._retry_seconds = retry_seconds
        self._known: OrderedDict[str, VersionRoutes] = OrderedDict()
        self._failed_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.loads = 0
        """How many times `load` was called (tests and the benchmark count reads)."""

    @classmethod
    def from_settings(cls, settings: EdgeSettings, log: Callable[..., None] = _log_event) -> RoutesCache:
        """Reading manifests from the settings' bucket; without a bucket, routing as before."""
        loader = (
            ManifestRoutes(settings.bucket, settings.bucket_region, settings.spa_fallback, log=log)
            if settings.bucket
            else None
        )
        return cls(loader, settings.spa_fallback, log=log)

    def lookup(self, version: str) -> VersionRoutes:
        known = self._known.get(version)
        if known is not None or self._load is None:
            return known or self.unknown
        with self._lock:
            known = self._known.get(version)
            if known is not None:
                return known
            if self._now() < self._failed_until.get(version, float("-inf")):
                return self.unknown
            self.loads += 1
            try:
                known = self._load(version)
            except Exception as error:
                # Whatever failed (S3, the network, a manifest that does not parse), route as before
                # and ask again later: never a 5xx, never a read per request.
                self._failed_until[version] = self._now() + self._retry_seconds
                self._log("version-routes-unavailable", version=version, error=repr(error))
                return self.unknown
            self._failed_until.pop(version, None)
            self._known[version] = known
            while len(self._known) > KEPT_VERSIONS:
                self._known.popitem(last=False)
            return known
