"""The KeyValueStore fake moved to scripts/offline/kvs_fake.py (the demo runs it too): import it from
there. This name stays for tests written before the move."""

from scripts.offline.kvs_fake import ARN, FakeStore, client_for, running_store

__all__ = ["ARN", "FakeStore", "client_for", "running_store"]
