"""`moto_server` for the upload benchmark, with ListObjectsV2 answered from a sorted index of the keys.

moto 5 answers every ListObjectsV2 page by copying, filtering and sorting the whole bucket, then
skipping to the continuation token: a page costs O(objects in the bucket), so listing a prefix of
n keys in a bucket of N costs about n/1,000 x N. At 20,000 files the benchmark's bucket holds
60,000 objects, and a listing of `_assets/` (15,000 keys, 15 pages) took minutes of moto's CPU.
S3 serves a page from its index ("up to 1,000 objects" per request, ListObjectsV2), so here a page
bisects a sorted list of the bucket's key names (rebuilt only after a key is added or removed) and
reads at most MaxKeys + 1 keys. Requests, their order and their answers are moto's (the same keys,
continuation tokens and truncation; a listing with a delimiter goes to moto's own code): only what
a page costs the fake changes, for both tools alike (`aws s3 sync` lists its destination too).
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from typing import Any

from moto.s3.models import FakeDeleteMarker, S3Backend
from moto.s3.utils import _VersionedKeyStore

_ORIGINAL_LIST_V2 = S3Backend.list_objects_v2


def _bump(store: Any) -> None:
    store.__dict__["bench_generation"] = store.__dict__.get("bench_generation", 0) + 1


def _counting(method: Any, *, always: bool) -> Any:
    """`method` of the key store, then the store's generation bumped if the set of names changed
    (after the change: a listing that read the generation before it rebuilds next time)."""

    def wrapper(self: Any, key: Any, *args: Any) -> Any:
        new = always or not dict.__contains__(self, key)
        result = method(self, key, *args)
        if new:
            _bump(self)
        return result

    return wrapper


def sorted_names(store: Any) -> list[str]:
    """The store's key names, sorted: cached per generation."""
    generation = store.__dict__.get("bench_generation", 0)
    cached = store.__dict__.get("bench_sorted")
    if cached is not None and cached[0] == generation:
        return cached[1]
    names = sorted(dict.copy(store))  # copied in one step: other threads add keys meanwhile
    store.__dict__["bench_sorted"] = (generation, names)
    return names


def list_objects_v2(
    self: S3Backend,
    bucket: Any,
    prefix: str | None,
    delimiter: str | None,
    continuation_token: str | None,
    start_after: str | None,
    max_keys: int,
) -> Any:
    if delimiter or not isinstance(bucket.keys, _VersionedKeyStore):
        return _ORIGINAL_LIST_V2(self, bucket, prefix, delimiter, continuation_token, start_after, max_keys)
    names = sorted_names(bucket.keys)
    after = self._pagination_tokens.get(continuation_token) if continuation_token else start_after
    index = bisect_left(names, prefix or "")
    if after:
        index = max(index, bisect_right(names, after))
    found: list[Any] = []
    while index < len(names) and len(found) <= max_keys:
        name = names[index]
        index += 1
        if prefix and not name.startswith(prefix):
            break
        key = bucket.keys.get(name)
        if key is not None and not isinstance(key, FakeDeleteMarker):
            found.append(key)
    return self._truncate_result(found, max_keys)


def patches() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, replacement) for each change to moto's S3 backend."""
    store = _VersionedKeyStore
    return [
        (store, "__setitem__", _counting(store.__setitem__, always=False)),
        (store, "setlist", _counting(store.setlist, always=False)),
        (store, "pop", _counting(store.pop, always=True)),
        (store, "__delitem__", _counting(dict.__delitem__, always=True)),
        (S3Backend, "list_objects_v2", list_objects_v2),
    ]


def install() -> None:
    """Patch moto's S3 backend in this process (the server's)."""
    for owner, name, replacement in patches():
        setattr(owner, name, replacement)


def main() -> None:
    install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
