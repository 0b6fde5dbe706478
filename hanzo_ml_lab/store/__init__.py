"""Resource stores with Kubernetes semantics; see ``Store`` for the contract.

``SQLiteStore`` is the embedded backend. ``merge_patch`` is exported because the server builds
merge-patched objects itself before validating them.
"""

from __future__ import annotations

from hanzo_ml_lab.store._base import EventType, ListResult, Store, WatchEvent
from hanzo_ml_lab.store._merge import merge_patch
from hanzo_ml_lab.store._selectors import Selector, parse_selector
from hanzo_ml_lab.store.sqlite import SQLiteStore
from hanzo_ml_lab.store.tracking import TrackingStore

__all__ = [
    "EventType",
    "ListResult",
    "SQLiteStore",
    "Selector",
    "Store",
    "TrackingStore",
    "WatchEvent",
    "merge_patch",
    "parse_selector",
]
