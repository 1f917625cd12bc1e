"""Sending one file of a build to S3: streamed, hashed while it is sent, multipart above a size.

No file above PART_SIZE is ever held whole in memory: a file up to PART_SIZE is read whole and
checked before it is sent, a larger single-part PutObject reads its body from the file as botocore
sends it, a multipart upload holds one part at a time, so an upload holds at most workers x
PART_SIZE of file data. What was actually sent is hashed on the way and compared with the scan,
so a file that changed after it was scanned is caught, at any size, before the version is sealed.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from edge_lambda import layout
from scripts.versionstore.build import PART_SIZE, LocalFile, file_identity
from scripts.versionstore.errors import StoreError, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef
else:
    S3Client = Any

_PRECONDITION_FAILED = ("PreconditionFailed", "412")


class FileChangedError(StoreError):
    """A file's bytes as sent are not the bytes scanned: it changed during the upload."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} changed while it was being uploaded; re-run the upload once the build is final"
        )


class HashingReader:
    """A file-like body that hashes what botocore reads from it. botocore may read a body more than
    once (a checksum pass, retries): each pass starts with a seek to 0, which starts the hash over,
    so the hash is that of the last pass, the one sent."""

    def __init__(self, stream: BinaryIO, size: int, path: str) -> None:
        self._stream = stream
        self._size = size
        self._path = path
        self._position = 0
        self._sha256 = hashlib.sha256()

    def read(self, amount: int = -1) -> bytes:
        remaining = self._size - self._position
        if amount is None or amount < 0 or amount > remaining:
            amount = remaining
        data = self._stream.read(amount)
        if len(data) < amount:  # shorter than scanned
            raise FileChangedError(self._path)
        self._sha256.update(data)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = {0: offset, 1: self._position + offset, 2: self._size + offset}[whence]
        if target != self._position:
            self._stream.seek(target)
            self._position = target
        if target == 0:
            self._sha256 = hashlib.sha256()
        return target

    def tell(self) -> int:
        return self._position

    def __len__(self) -> int:
        return self._size

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def verify(self) -> None:
        """Raise unless the last pass read the whole file, with the scanned hash, and no more."""
        grew = self._stream.read(1) != b""
        if grew or self._position != self._size:
            raise FileChangedError(self._path)


def open_scanned(local: LocalFile) -> BinaryIO:
    """The file the scan hashed, opened; FileChangedError, before a byte is read, when its path now
    leads to another file (replaced, or swapped for a link leading out of the build)."""
    try:
        stream = local.source.open("rb")
    except OSError as error:
        raise StoreError(f"cannot read {local.path}: {error.strerror}") from error
    if local.identity is not None and file_identity(stream.fileno()) != local.identity:
        stream.close()
        raise FileChangedError(local.path)
    return stream


def object_metadata(version: str, local: LocalFile) -> dict[str, str]:
    return {layout.VERSION_METADATA_KEY: version, layout.SHA256_METADATA_KEY: local.sha256}


def object_headers(version: str, local: LocalFile) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "ContentType": local.content_type,
        "CacheControl": local.cache_control,
        "Metadata": object_metadata(version, local),
    }
    if local.content_encoding:
        headers["ContentEncoding"] = local.content_encoding
    return headers


def _md5_header(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


# How a write may land: `{"IfNoneMatch": "*"}` (the key must not exist) or `{"IfMatch": '"<etag>"'}`
# (it must still hold that object). S3 evaluates the condition when the write completes, so a write
# that arrives after someone else wrote the key fails with 412 instead of overwriting it.
Condition = dict[str, str]


def put_file(
    s3: S3Client, bucket: str, version: str, local: LocalFile, condition: Condition, key: str | None = None
) -> None:
    """Store `local` under `version` (or at `key`: the shared area), marked with `version`, if
    `condition` holds when it lands (412 PreconditionFailed otherwise); FileChangedError when its
    bytes are not those scanned."""
    key = key or layout.object_key(version, local.path)
    if local.multipart:
        _put_multipart(s3, bucket, key, version, local, condition)
        return
    with open_scanned(local) as stream:
        if local.size <= PART_SIZE:
            # Most web files: read whole (at most PART_SIZE per worker) and checked before sending.
            # botocore sends a file-like body with Expect: 100-continue, a round trip per file.
            data = stream.read(PART_SIZE + 1)
            if len(data) != local.size or hashlib.sha256(data).hexdigest() != local.sha256:
                raise FileChangedError(local.path)
            body: bytes | HashingReader = data
        else:
            body = HashingReader(stream, local.size, local.path)
        # Content-MD5: S3 refuses (BadDigest) a body that is not the scanned one.
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,  # type: ignore[arg-type]
            ContentLength=local.size,
            ContentMD5=_md5_header(local.md5),
            **object_headers(version, local),
            **condition,  # type: ignore[arg-type]
        )
        if isinstance(body, HashingReader):
            body.verify()
            if body.sha256 != local.sha256:
                raise FileChangedError(local.path)


def _put_multipart(
    s3: S3Client, bucket: str, key: str, version: str, local: LocalFile, condition: Condition
) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **object_headers(version, local))[
        "UploadId"
    ]
    try:
        sha256 = hashlib.sha256()
        parts: list[CompletedPartTypeDef] = []
        size = 0
        with open_scanned(local) as stream:
            while part := stream.read(PART_SIZE):
                sha256.update(part)
                size += len(part)
                number = len(parts) + 1
                etag = s3.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=part,
                    ContentMD5=_md5_header(hashlib.md5(part, usedforsecurity=False).hexdigest()),
                )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
        # Checked before completing: a changed file never becomes an object.
        if size != local.size or sha256.hexdigest() != local.sha256:
            raise FileChangedError(local.path)
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **condition,  # type: ignore[arg-type]
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def copy_file(
    s3: S3Client, bucket: str, version: str, local: LocalFile, source_key: str, condition: Condition
) -> bool:
    """Copy `source_key` to `local`'s key server-side if that object still holds `local`'s bytes
    (CopySourceIfMatch on its ETag: a donor is trusted for nothing its manifest says) and
    `condition` holds for the key. False when the donor is gone or differs, or the condition failed
    (both are 412): send the file instead, under the same condition."""
    # A multipart file is sent again: a copy would not get the multipart ETag the manifest records.
    # (This also keeps every copy below CopyObject's 5 GiB: MULTIPART_THRESHOLD is far smaller.)
    if local.multipart:
        return False
    key = layout.object_key(version, local.path)
    try:
        response = s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": source_key},
            CopySourceIfMatch=f'"{local.etag}"',
            # REPLACE: the copy takes this file's headers and version, not those of its donor.
            MetadataDirective="REPLACE",
            **object_headers(version, local),
            **condition,  # type: ignore[arg-type]
        )
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404", *_PRECONDITION_FAILED):
            return False
        raise
    # moto ignores CopySourceIfMatch; the copy's own ETag (the MD5 of what it holds) says the same.
    return response["CopyObjectResult"]["ETag"].strip('"') == local.etag


# Errors worth another attempt: throttling and S3's own transient failures.
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}


def is_transient(error: Exception) -> bool:
    """Errors worth another attempt: throttling, 5xx, dropped connections."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(error) in _TRANSIENT_CODES or int(status) >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


def with_retries(
    operation: Callable[[], object], attempts: int, sleep: Callable[[float], None] = time.sleep
) -> object:
    """Run `operation`, retrying transient errors with exponential backoff and jitter; the uploader's
    and promote's one retry policy."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (ClientError, BotoCoreError) as error:
            if attempt == attempts or not is_transient(error):
                raise
            sleep(min(10.0, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random()))
    return None
