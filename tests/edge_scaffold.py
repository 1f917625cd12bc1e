"""Builders for the edge function's tests: CloudFront events, the pointer parameter, the bundle on disk.

Run as a script (`uv run python tests/edge_scaffold.py`) to regenerate `edge_lambda/ssm_model.py` and
`edge_lambda/s3_model.py` (and sitectl's `scripts/commands/s3_model.py`) from the installed botocore;
`test_edge_ssm_client.py`, `test_edge_s3_client.py` and `test_sitectl_s3_client.py` fail when they
disagree.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.edge_bundle import LAMBDA_RUNTIME, RUNTIME_BOTOCORE_VERSION  # noqa: E402
from edge_lambda.layout import FALLBACK_ORIGIN_HEADER, FALLBACK_ORIGIN_VALUE  # noqa: E402
from edge_lambda.settings import EdgeSettings  # noqa: E402

PARAMETER_NAME = "/versioned-site/test/live-version"
REGION = "us-east-1"
TTL_SECONDS = 5
V1 = "20261127T101500Z"
V2 = "20261128T090000Z-1a2b3c4"

# The origin-request example of the Lambda@Edge documentation ("Lambda@Edge event structure"),
# with an S3 origin.
_DOCUMENTED_EVENT: dict[str, Any] = {
    "Records": [
        {
            "cf": {
                "config": {
                    "distributionDomainName": "d111111abcdef8.cloudfront.net",
                    "distributionId": "EDFDVBD6EXAMPLE",
                    "eventType": "origin-request",
                    "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                },
                "request": {
                    "clientIp": "203.0.113.178",
                    "headers": {
                        "x-forwarded-for": [{"key": "X-Forwarded-For", "value": "203.0.113.178"}],
                        "user-agent": [{"key": "User-Agent", "value": "Amazon CloudFront"}],
                        "via": [
                            {
                                "key": "Via",
                                "value": "2.0 2afae0d44e2540f472c0635ab62c232b.cloudfront.net (CloudFront)",
                            }
                        ],
                        "host": [{"key": "Host", "value": "example-bucket.s3.us-east-1.amazonaws.com"}],
                        "cache-control": [{"key": "Cache-Control", "value": "no-cache"}],
                    },
                    "method": "GET",
                    "origin": {
                        "s3": {
                            "authMethod": "none",
                            "customHeaders": {},
                            "domainName": "example-bucket.s3.us-east-1.amazonaws.com",
                            "path": "",
                            "region": "us-east-1",
                        }
                    },
                    "querystring": "",
                    "uri": "/",
                },
            }
        }
    ]
}


def origin_request_event(uri: str, method: str = "GET", querystring: str = "") -> dict[str, Any]:
    event = copy.deepcopy(_DOCUMENTED_EVENT)
    request = event["Records"][0]["cf"]["request"]
    request.update(uri=uri, method=method, querystring=querystring)
    return event


def fallback_origin_event(uri: str, method: str = "GET") -> dict[str, Any]:
    """The event of the second invocation, for the origin group's fallback origin: the same request,
    its S3 origin carrying the component's origin custom header."""
    event = origin_request_event(uri, method)
    request_of(event)["origin"]["s3"]["customHeaders"] = {
        FALLBACK_ORIGIN_HEADER: [{"key": FALLBACK_ORIGIN_HEADER, "value": FALLBACK_ORIGIN_VALUE}]
    }
    return event


def request_of(event: Mapping[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = event["Records"][0]["cf"]["request"]
    return request


def edge_settings(
    spa_fallback: bool = False,
    ttl: int = TTL_SECONDS,
    trailing_slash: str = "auto",
    redirect_status: int = 308,
) -> EdgeSettings:
    return EdgeSettings(
        parameter_name=PARAMETER_NAME,
        region=REGION,
        cache_ttl_seconds=ttl,
        spa_fallback=spa_fallback,
        trailing_slash=trailing_slash,
        redirect_status=redirect_status,
    )


def put_pointer(ssm: Any, value: str) -> None:
    ssm.put_parameter(Name=PARAMETER_NAME, Value=value, Type="String", Overwrite=True)


def count_get_parameter_calls(client: Any, on_call: Callable[[], None] | None = None) -> list[int]:
    """Count the GetParameter calls `client` makes (botocore's own event), optionally running `on_call`."""
    calls = [0]

    def before_call(**_: Any) -> None:
        calls[0] += 1
        if on_call is not None:
            on_call()

    client.meta.events.register("before-call.ssm.GetParameter", before_call)
    return calls


def write_bundle(files: Mapping[str, bytes], directory: Path) -> Path:
    """Write `components.edge_bundle.bundle_files(...)` to `directory`, as the Lambda zip would unpack."""
    for name, content in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return directory


def site_packages() -> str:
    """Where boto3 is installed: the only thing besides the bundle that Lambda's runtime provides."""
    return sysconfig.get_paths()["purelib"]


# --- a fault-injecting SSM endpoint ---------------------------------------------------------------

GET_PARAMETER_ANSWER = {
    "Parameter": {"Name": PARAMETER_NAME, "Type": "String", "Value": V1, "Version": 1, "DataType": "text"}
}
# What each scenario's endpoint answers after its first call, which answers GET_PARAMETER_ANSWER.
FAULTS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "garbage": (200, {"Content-Type": "text/html"}, b"<html>gateway says hello</html>"),
    "not-get-parameter": (200, {}, b'{"Parameters": [], "InvalidParameters": []}'),
    "value-not-a-string": (200, {}, b'{"Parameter": {"Name": "x", "Value": 5}}'),
    "server-error": (500, {}, b'{"__type": "InternalServerError", "message": "boom"}'),
    "throttled": (400, {}, b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'),
    "slow": (200, {}, json.dumps(GET_PARAMETER_ANSWER).encode()),  # after SLOW_ANSWER_SECONDS
    "truncated": (200, {"Content-Length": "500"}, b'{"Parameter": {"Na'),
}
SLOW_ANSWER_SECONDS = 2.0


class FaultySSM:
    """An SSM endpoint on 127.0.0.1: `<url>/<scenario>` answers its first GetParameter well, then the
    fault FAULTS[scenario]. `calls[scenario]` counts the requests each scenario received."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True  # a "slow" answer's thread must not hold up close()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _count(self, scenario: str) -> int:
        with self._lock:
            self.calls[scenario] = self.calls.get(scenario, 0) + 1
            return self.calls[scenario]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                scenario = self.path.strip("/")
                status, headers, body = FAULTS[scenario]
                if endpoint._count(scenario) == 1:
                    status, headers, body = 200, {}, json.dumps(GET_PARAMETER_ANSWER).encode()
                elif scenario == "slow":
                    time.sleep(SLOW_ANSWER_SECONDS)
                self.send_response(status)
                headers = {"Content-Type": "application/x-amz-json-1.1", **headers}
                headers.setdefault("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with suppress(OSError):  # the client gave up (a read timeout)
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def serving(self) -> Iterator[FaultySSM]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


# --- the Lambda runtime: its Python and the botocore it ships --------------------------------------

RUNTIME_PYTHON_VERSION = LAMBDA_RUNTIME.removeprefix("python")
RUNTIME_CACHE = ROOT / ".cache" / "lambda-runtime"


def uv_executable() -> str:
    return shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")


def find_python(version: str) -> str:
    """A CPython `version` interpreter on this machine (`.ci/find-python`, which CI uses too)."""
    completed = subprocess.run(
        [str(ROOT / ".ci" / "find-python"), version], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip())
    return completed.stdout.strip()


def runtime_python() -> Path:
    """The interpreter of a venv with the Lambda runtime's Python and only the botocore it ships (and
    botocore's dependencies, at their newest compatible versions, not pinned),
    built on first use under .cache/ (about 3 s, from PyPI) and reused while both versions hold."""
    venv = RUNTIME_CACHE / f"{LAMBDA_RUNTIME}-botocore-{RUNTIME_BOTOCORE_VERSION}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    RUNTIME_CACHE.mkdir(parents=True, exist_ok=True)
    uv = uv_executable()
    with tempfile.TemporaryDirectory(dir=RUNTIME_CACHE) as building:
        staging = Path(building) / "venv"
        subprocess.run(
            [uv, "venv", "--quiet", "--no-project", "--python", find_python(RUNTIME_PYTHON_VERSION), staging],
            check=True,
        )
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                staging / "bin" / "python",
                f"botocore=={RUNTIME_BOTOCORE_VERSION}",
            ],
            check=True,
        )
        # Renamed into place only when complete: an interrupted build is never reused, and a build
        # that lost a race to another test run uses the winner's.
        try:
            os.rename(staging, venv)
        except OSError:
            if not python.exists():
                raise
    return python


# --- botocore internals the trimmed clients use, broken as a runtime update could break them ------


def rename_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A botocore whose loader class has another name: `botocore.loaders.Loader` is gone, and the
    session builds its loader the new way (botocore's own `create_loader` names the old class)."""
    loader_class = botocore.loaders.Loader
    monkeypatch.delattr(botocore.loaders, "Loader")
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_: loader_class())


def rename_builtin_data_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A botocore whose loader keeps its data folder under another name: `Loader.BUILTIN_DATA_PATH` is
    gone, and the loader's own two uses of it (its search path, `is_builtin_path`) use the new name."""
    loader_class = botocore.loaders.Loader
    data_path = loader_class.BUILTIN_DATA_PATH
    init = loader_class.__init__

    def init_with_the_new_name(
        self: Any,
        extra_search_paths: list[str] | None = None,
        file_loader: Any = None,
        cache: Any = None,
        include_default_search_paths: bool = True,
        include_default_extras: bool = True,
    ) -> None:
        paths = list(extra_search_paths or [])
        if include_default_search_paths:
            paths += [self.CUSTOMER_DATA_PATH, data_path]
        init(self, paths, file_loader, cache, False, include_default_extras)

    monkeypatch.setattr(loader_class, "__init__", init_with_the_new_name)
    monkeypatch.setattr(loader_class, "is_builtin_path", lambda _, path: path.startswith(data_path))
    monkeypatch.delattr(loader_class, "BUILTIN_DATA_PATH")


# The botocore internals the trimmed client relies on, each broken as a runtime update could break it.
BREAKAGES: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "Loader renamed": rename_loader,
    "BUILTIN_DATA_PATH renamed": rename_builtin_data_path,
    "register_component gone": lambda patch: patch.delattr(botocore.session.Session, "register_component"),
}
BROKEN_ATTRIBUTES = {
    "Loader renamed": "Loader",
    "BUILTIN_DATA_PATH renamed": "BUILTIN_DATA_PATH",
    "register_component gone": "register_component",
}


# --- the trimmed models shipped in the bundle ----------------------------------------------------

SSM_MODEL_MODULE = ROOT / "edge_lambda" / "ssm_model.py"
S3_MODEL_MODULE = ROOT / "edge_lambda" / "s3_model.py"


def installed_trimmed_model(service: str, api_version: str, operations: Sequence[str]) -> dict[str, Any]:
    """`operations`, their shapes and everything else at the top of the installed botocore's model of
    `service` (metadata, S3's clientContextParams), without documentation."""
    from botocore.loaders import Loader

    full = Loader().load_service_model(service, "service-2", api_version)
    kept = {name: full["operations"][name] for name in operations}
    pending = [ref["shape"] for op in kept.values() for ref in (op.get("input"), op.get("output")) if ref]
    pending += [error["shape"] for op in kept.values() for error in op.get("errors", [])]
    shapes: dict[str, Any] = {}
    while pending:
        name = pending.pop()
        if name in shapes:
            continue
        shape = shapes[name] = full["shapes"][name]
        refs = [*shape.get("members", {}).values(), *(shape.get(k, {}) for k in ("member", "key", "value"))]
        pending += [ref["shape"] for ref in refs if "shape" in ref]
    model = _without_documentation(
        {
            **{key: value for key, value in full.items() if key not in ("operations", "shapes")},
            "version": full.get("version", "2.0"),
            "operations": kept,
            "shapes": dict(sorted(shapes.items())),
        }
    )
    if "clientContextParams" in model:  # botocore requires each one's documentation key (model.py)
        model["clientContextParams"] = {
            name: {**param, "documentation": ""} for name, param in model["clientContextParams"].items()
        }
    return model


def installed_endpoints(service: str) -> dict[str, Any]:
    """botocore's endpoints data with every partition kept and, in each, only `service`."""
    from botocore.loaders import Loader

    full = Loader().load_data("endpoints")
    partitions = [
        {**partition, "services": {k: v for k, v in partition["services"].items() if k == service}}
        for partition in full["partitions"]
    ]
    return {**full, "partitions": partitions}


def installed_get_parameter_model() -> dict[str, Any]:
    from edge_lambda.ssm_model import API_VERSION

    return installed_trimmed_model("ssm", API_VERSION, ["GetParameter"])


def installed_ssm_endpoints() -> dict[str, Any]:
    return installed_endpoints("ssm")


def installed_get_object_model() -> dict[str, Any]:
    from edge_lambda.s3_model import API_VERSION

    return installed_trimmed_model("s3", API_VERSION, ["GetObject"])


def installed_s3_endpoints() -> dict[str, Any]:
    return installed_endpoints("s3")


# The S3 operations sitectl calls (scripts/commands, scripts/versionstore); a new one goes here, then
# regenerate. `test_sitectl_s3_client.py` checks the code calls no other.
SITECTL_S3_OPERATIONS = (
    "AbortMultipartUpload", "CompleteMultipartUpload", "CopyObject", "CreateBucket", "CreateMultipartUpload",
    "DeleteObject", "DeleteObjects", "GetBucketLocation", "GetBucketTagging", "GetObject", "HeadObject",
    "ListObjectsV2", "PutObject", "PutPublicAccessBlock", "UploadPart", "UploadPartCopy",
)  # fmt: skip
SITECTL_S3_MODEL_MODULE = ROOT / "scripts" / "commands" / "s3_model.py"


def installed_sitectl_s3_model() -> dict[str, Any]:
    from scripts.commands.s3_model import API_VERSION

    return installed_trimmed_model("s3", API_VERSION, SITECTL_S3_OPERATIONS)


def _without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_documentation(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [_without_documentation(v) for v in value]
    return value


GENERATED_BY = "Generated by `uv run python tests/edge_scaffold.py`"
SSM_MODEL_DOCSTRING = f"""{GENERATED_BY} from botocore's SSM model: do not edit.

The edge calls one SSM operation, GetParameter. botocore's full SSM model is about 1 MB of JSON;
parsing it, and walking botocore's ~450 service directories to find it, cost about 50 ms of each
cold start (a third of `import boto3`). This is the same model cut down to GetParameter, its shapes
and the service metadata, without documentation. Likewise botocore's endpoints data (1.2 MB, about
30 ms to parse) cut down to the SSM service in every partition. `edge_lambda.ssm_client` hands both
to botocore.
"""

S3_MODEL_DOCSTRING = f"""{GENERATED_BY} from botocore's S3 model: do not edit.

The edge calls one S3 operation, GetObject (a version's manifest, `edge_lambda.version_routes`).
botocore's full S3 model is about 1.4 MB of JSON with 116 operations, each made into a client method
when the client is created. This is the same model cut down to GetObject, its shapes, the service
metadata and client context parameters, without documentation; and botocore's endpoints data cut down
to the S3 service in every partition. `edge_lambda.trimmed_client` hands both to botocore (S3's
endpoint rules stay botocore's own).
"""


def render_model_module(
    docstring: str, api_version: str, model_name: str, model: Mapping[str, Any], endpoints_name: str,
    endpoints: Mapping[str, Any],
) -> str:  # fmt: skip
    body = json.dumps(model, indent=1, sort_keys=True)
    endpoints_body = json.dumps(endpoints, indent=1, sort_keys=True)
    return f'''"""{docstring}"""

import json
from typing import Any

API_VERSION = "{api_version}"

{model_name}: dict[str, Any] = json.loads(
    r"""
{body}
"""
)

{endpoints_name}: dict[str, Any] = json.loads(
    r"""
{endpoints_body}
"""
)
'''


def render_ssm_model_module(model: Mapping[str, Any], endpoints: Mapping[str, Any], api_version: str) -> str:
    return render_model_module(
        SSM_MODEL_DOCSTRING, api_version, "GET_PARAMETER_MODEL", model, "SSM_ENDPOINTS", endpoints
    )


def render_s3_model_module(model: Mapping[str, Any], endpoints: Mapping[str, Any], api_version: str) -> str:
    return render_model_module(
        S3_MODEL_DOCSTRING, api_version, "GET_OBJECT_MODEL", model, "S3_ENDPOINTS", endpoints
    )


SITECTL_S3_MODEL_DOCSTRING = f"""{GENERATED_BY} from botocore's S3 model: do not edit.

sitectl's S3 client (`scripts.commands.site.default_s3_client`) needs the S3 operations the version
store and the commands call, 16 of botocore's 116. Creating botocore's stock client parses the whole
model (1.4 MB of JSON) and makes a method of every operation, about half of an upload's start-up; this
is the model cut down to those operations, their shapes, the service metadata and client context
parameters, without documentation. The endpoints data is the edge's (`edge_lambda.s3_model`).
"""


def render_sitectl_s3_model_module(model: Mapping[str, Any], api_version: str) -> str:
    body = json.dumps(model, indent=1, sort_keys=True)
    return f'''"""{SITECTL_S3_MODEL_DOCSTRING}"""

import json
from typing import Any

API_VERSION = "{api_version}"

SITECTL_S3_MODEL: dict[str, Any] = json.loads(
    r"""
{body}
"""
)
'''


if __name__ == "__main__":
    from edge_lambda import s3_model, ssm_model

    SSM_MODEL_MODULE.write_text(
        render_ssm_model_module(
            installed_get_parameter_model(), installed_ssm_endpoints(), ssm_model.API_VERSION
        )
    )
    S3_MODEL_MODULE.write_text(
        render_s3_model_module(installed_get_object_model(), installed_s3_endpoints(), s3_model.API_VERSION)
    )
    SITECTL_S3_MODEL_MODULE.write_text(
        render_sitectl_s3_model_module(installed_sitectl_s3_model(), s3_model.API_VERSION)
    )
    print(f"wrote {SSM_MODEL_MODULE}, {S3_MODEL_MODULE} and {SITECTL_S3_MODEL_MODULE}")
