"""A fake of the CloudFront KeyValueStore data-plane API (`cloudfront-keyvaluestore`), which moto lacks,
for the real boto3 client (requests signed with SigV4A: botocore[crt]) on 127.0.0.1: the tests' store
and `make demo`'s (the demo's writes take the same client path as `sitectl rollback --now` on AWS).

The ETag rules as botocore's model of the service states them (`PutKeyRequest.IfMatch`: "the current
version (ETag) of the Key Value Store"; a stale one fails with ConflictException, HTTP 409): every write
changes the store's ETag, DescribeKeyValueStore returns it, and PutKey or DeleteKey without the current one
is refused (DeleteKey of a key the store lacks: ResourceNotFoundException, HTTP 404). ListKeys pages as the
model says (`ListKeysRequest.MaxResults`: "The default is 10 and maximum allowed page is 50"; a page
with a `NextToken` has more after it): keys in order, the token opaque to the caller.
"""

from __future__ import annotations

import bisect
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

# ListKeysRequest.MaxResults in botocore's model: min 1, max 50; 10 when absent.
LIST_KEYS_DEFAULT, LIST_KEYS_MAX = 10, 50
ARN = "arn:aws:cloudfront::123456789012:key-value-store/1c5b0a5e-2c7e-4d1f-9a5e-0f3b8e1c2d4a"


@dataclass
class FakeStore:
    arn: str = ARN
    items: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)
    puts: list[tuple[str, str, str]] = field(default_factory=list)  # (key, value, If-Match) accepted
    deletes: list[tuple[str, str]] = field(default_factory=list)  # (key, If-Match) accepted
    calls: list[str] = field(default_factory=list)  # each request's operation, in order
    signatures: list[str] = field(default_factory=list)  # each request's Authorization scheme
    # Operations answered 403 AccessDeniedException, as IAM does for a role without the action.
    denied: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> str | None:
        """The key's value as the edge reads it (the function reads its local copy, not this API)."""
        with self.lock:
            return self.items.get(key)

    def put(self, key: str, value: str) -> None:
        """Another writer (a `pulumi up`, a second on-call engineer): the ETag changes."""
        with self.lock:
            self.items[key] = value
            self.etag = uuid.uuid4().hex


class _Handler(BaseHTTPRequestHandler):
    store: FakeStore

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _parts(self) -> list[str] | None:
        # /key-value-stores/{KvsARN}[/keys/{Key}], the ARN percent-encoded by botocore.
        parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
        if len(parts) < 2 or parts[0] != "key-value-stores":
            return None
        return parts

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._answer(status, {"Message": message}, {"x-amzn-ErrorType": code})

    def _checked(self, operation: str) -> list[str] | None:
        self.store.calls.append(operation)
        self.store.signatures.append(self.headers.get("Authorization", "").split(" ")[0])
        if operation in self.store.denied:
            action = f"cloudfront-keyvaluestore:{operation}"
            self._error(403, "AccessDeniedException", f"not authorized to perform: {action}")
            return None
        parts = self._parts()
        if parts is None or parts[1] != self.store.arn:
            self._error(404, "ResourceNotFoundException", "Key value store not found")
            return None
        return parts

    def do_GET(self) -> None:
        # The ARN in the path is percent-encoded: a literal /keys/ only names a key, a path ending in
        # /keys lists them.
        path = self.path.split("?")[0]
        operation = (
            "ListKeys"
            if path.endswith("/keys")
            else "GetKey"
            if "/keys/" in path
            else "DescribeKeyValueStore"
        )
        parts = self._checked(operation)
        if parts is None:
            return
        if operation == "ListKeys":
            self._list_keys()
            return
        with self.store.lock:
            summary = {"ItemCount": len(self.store.items), "TotalSizeInBytes": 0}
            if len(parts) == 2:
                self._answer(
                    200,
                    {**summary, "KvsARN": self.store.arn, "Created": 0, "ETag": self.store.etag},
                    {"ETag": self.store.etag},
                )
                return
            key = parts[3]
            if key not in self.store.items:
                self._error(404, "ResourceNotFoundException", f"key {key} not found")
                return
            self._answer(200, {**summary, "Key": key, "Value": self.store.items[key]})

    def _list_keys(self) -> None:
        query = parse_qs(self.path.partition("?")[2])
        try:
            limit = int(query.get("MaxResults", [str(LIST_KEYS_DEFAULT)])[0])
        except ValueError:
            limit = 0
        if not 1 <= limit <= LIST_KEYS_MAX:
            self._error(400, "ValidationException", f"MaxResults must be from 1 to {LIST_KEYS_MAX}")
            return
        after = query.get("NextToken", [""])[0]
        with self.store.lock:
            names = sorted(self.store.items)
            # The token is the last key of the page before: a key deleted meanwhile loses its place.
            start = bisect.bisect_right(names, after) if after else 0
            page = names[start : start + limit]
            body: dict[str, Any] = {"Items": [{"Key": k, "Value": self.store.items[k]} for k in page]}
            if start + limit < len(names):
                body["NextToken"] = page[-1]
            self._answer(200, body)

    def do_PUT(self) -> None:
        parts = self._checked("PutKey")
        if parts is None:
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if_match = self.headers.get("If-Match", "")
        with self.store.lock:
            if if_match != self.store.etag:
                self._error(409, "ConflictException", "Pre-condition failed: the ETag does not match")
                return
            key = parts[3]
            self.store.items[key] = str(body["Value"])
            self.store.etag = uuid.uuid4().hex
            self.store.puts.append((key, str(body["Value"]), if_match))
            self._answer(
                200,
                {"ItemCount": len(self.store.items), "TotalSizeInBytes": 0, "ETag": self.store.etag},
                {"ETag": self.store.etag},
            )

    def do_DELETE(self) -> None:
        parts = self._checked("DeleteKey")
        if parts is None:
            return
        if_match = self.headers.get("If-Match", "")
        with self.store.lock:
            key = parts[3]
            if key not in self.store.items:
                self._error(404, "ResourceNotFoundException", f"key {key} not found")
                return
            if if_match != self.store.etag:
                self._error(409, "ConflictException", "Pre-condition failed: the ETag does not match")
                return
            del self.store.items[key]
            self.store.etag = uuid.uuid4().hex
            self.store.deletes.append((key, if_match))
            self._answer(
                200,
                {"ItemCount": len(self.store.items), "TotalSizeInBytes": 0, "ETag": self.store.etag},
                {"ETag": self.store.etag},
            )


@contextmanager
def running_store(store: FakeStore | None = None) -> Iterator[tuple[FakeStore, str]]:
    """The fake on a free loopback port: (the store, its endpoint URL)."""
    fake = store or FakeStore()
    handler = type("Handler", (_Handler,), {"store": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def client_for(endpoint: str) -> Any:
    """The real boto3 client, pointed at the fake. The service's endpoint rules put the store's account
    id in front of the host (`<account>.cloudfront-kvs.global.api.aws`); loopback has no such names, so
    the label is taken off again just before each request is sent (after it was signed)."""
    import boto3

    client = boto3.client("cloudfront-keyvaluestore", region_name="us-east-1", endpoint_url=endpoint)
    host = endpoint.split("//", 1)[1]

    def to_loopback(request: Any, **_: Any) -> None:
        scheme, rest = request.url.split("//", 1)
        request.url = f"{scheme}//{host}{rest[rest.index('/') :] if '/' in rest else ''}"

    client.meta.events.register("before-send.cloudfront-keyvaluestore", to_loopback)
    return client
