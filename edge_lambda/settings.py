"""The edge function's settings: one JSON file, since Lambda@Edge allows no environment variables.

The component writes `config.json` beside this module into the bundle it deploys; local runs and
tests name another file with the environment variable EDGE_LAMBDA_CONFIG.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_lambda.routes import DEFAULT_REDIRECT_STATUS, DEFAULT_TRAILING_SLASH, RouteSettings

CONFIG_FILENAME = "config.json"
CONFIG_ENV_VAR = "EDGE_LAMBDA_CONFIG"
BUNDLED_CONFIG_PATH = Path(__file__).resolve().parent / CONFIG_FILENAME


@dataclass(frozen=True)
class EdgeSettings:
    parameter_name: str
    """The SSM parameter holding the live version."""
    region: str
    """The parameter's region. Explicit: replicas run in every region, the parameter lives in one."""
    cache_ttl_seconds: int
    """How long one container serves a fetched version before asking SSM again."""
    spa_fallback: bool = False
    """Serve `/<version>/index.html` for extension-less paths that name nothing (single-page apps)."""
    trailing_slash: str = DEFAULT_TRAILING_SLASH
    """When a page's other spelling redirects: `auto`, `always` or `never` (`edge_lambda.routes`)."""
    redirect_status: int = DEFAULT_REDIRECT_STATUS
    """308 or 301."""
    bucket: str = ""
    """The site bucket, whose `_manifests/<version>.json` tells the edge which files a version has;
    empty: the edge routes without that knowledge (every page taken as `<path>/index.html`)."""
    bucket_region: str = ""
    """The bucket's region."""

    def __post_init__(self) -> None:
        if not self.parameter_name.startswith("/"):
            raise ValueError(
                f"parameter_name {self.parameter_name!r} must be a full SSM path starting with '/'"
            )
        if not self.region:
            raise ValueError("region must name the AWS region of the pointer parameter, e.g. us-east-1")
        if not 1 <= self.cache_ttl_seconds <= 300:
            raise ValueError(f"cache_ttl_seconds {self.cache_ttl_seconds} must be between 1 and 300")
        if self.bucket and not self.bucket_region:
            raise ValueError(f"bucket_region must name the region of bucket {self.bucket}")
        self.route_settings  # noqa: B018 (validates trailing_slash and redirect_status)

    @property
    def route_settings(self) -> RouteSettings:
        return RouteSettings(self.trailing_slash, self.redirect_status, self.spa_fallback)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> EdgeSettings:
        """The settings in `text`; ValueError, naming the key, for anything else (the component writes
        an object of strings, an integer and a boolean)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"edge config must be a JSON object, not {type(data).__name__}")
        try:
            ttl = data["cache_ttl_seconds"]
            # bool is an int to Python; 1e400 is a float (inf) that int() cannot take.
            if isinstance(ttl, bool) or not isinstance(ttl, int):
                raise ValueError(
                    f"cache_ttl_seconds must be a whole number of seconds between 1 and 300, got {ttl!r}"
                )
            return cls(
                parameter_name=str(data["parameter_name"]),
                region=str(data["region"]),
                cache_ttl_seconds=ttl,
                spa_fallback=bool(data.get("spa_fallback", False)),
                trailing_slash=str(data.get("trailing_slash", DEFAULT_TRAILING_SLASH)),
                redirect_status=int(data.get("redirect_status", DEFAULT_REDIRECT_STATUS)),
                bucket=str(data.get("bucket", "")),
                bucket_region=str(data.get("bucket_region", "")),
            )
        except KeyError as missing:
            raise ValueError(f"edge config is missing the key {missing}") from None


def config_path() -> Path:
    """EDGE_LAMBDA_CONFIG when set (local runs, tests), else the bundled config.json."""
    override = os.environ.get(CONFIG_ENV_VAR)
    return Path(override) if override else BUNDLED_CONFIG_PATH


def load_settings(path: Path | None = None) -> EdgeSettings:
    source = path or config_path()
    try:
        text = source.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"edge config {source} not found: deploy through the component (it writes {CONFIG_FILENAME}) "
            f"or set {CONFIG_ENV_VAR} to a JSON file with parameter_name, region, cache_ttl_seconds"
        ) from None
    return EdgeSettings.from_json(text)
