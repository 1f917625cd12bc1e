"""The files of the Lambda@Edge bundle: the `edge_lambda` package plus its generated config.json.

Pure Python, no Pulumi: the component turns the result into an archive, and tests run the handler
from exactly these files to prove the bundle is self-sufficient.
"""

from __future__ import annotations

from pathlib import Path

import edge_lambda
from edge_lambda.settings import CONFIG_FILENAME, EdgeSettings

LAMBDA_RUNTIME = "python3.13"
"""The edge function's Lambda runtime (see docs/routers.md, "The edge runtime", for why this one)."""
RUNTIME_BOTOCORE_VERSION = "1.38.36"
"""The botocore that `LAMBDA_RUNTIME` ships, which the bundle uses (it bundles none): CI runs the bundle
in that Python with this botocore (tests/test_edge_runtime.py). AWS updates it underneath the
function; when its release notes name a newer one, change it here."""

PACKAGE_DIR = Path(edge_lambda.__file__).resolve().parent
PACKAGE_NAME = PACKAGE_DIR.name


def bundle_files(settings: EdgeSettings) -> dict[str, bytes]:
    """Zip path -> content: every module of `edge_lambda/` and `edge_lambda/config.json`."""
    files = {
        f"{PACKAGE_NAME}/{module.name}": module.read_bytes() for module in sorted(PACKAGE_DIR.glob("*.py"))
    }
    files[f"{PACKAGE_NAME}/{CONFIG_FILENAME}"] = settings.to_json().encode()
    return files
