"""Builders and watch helpers shared by the store tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from hanzo_ml_lab.store import WatchEvent

KIND = "TrainingJob"


def job(name: str | None, ns: str, *, spec: dict[str, Any] | None = None,
        kind: str = KIND, **metadata: Any) -> dict[str, Any]:
    """A wire-form object; ``metadata`` keywords go into ``metadata`` as given."""
    meta: dict[str, Any] = {"namespace": ns, **metadata}
    if name is not None:
        meta["name"] = name
    return {"apiVersion": "hanzo.ai/v1", "kind": kind, "metadata": meta,
            "spec": spec if spec is not None else {"replicas": 1}}


def owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def take(events: Iterator[WatchEvent], n: int, stop: threading.Event, *,
         timeout: float = 5.0, bookmarks: bool = False) -> list[WatchEvent]:
    """The next ``n`` events (bookmarks skipped unless asked); fewer if ``timeout`` passes."""
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    got: list[WatchEvent] = []
    try:
        if n == 0:
            return got
        for event in events:
            if event.type == "BOOKMARK" and not bookmarks:
                continue
            got.append(event)
            if len(got) == n:
                break
    finally:
        timer.cancel()
    return got


def summary(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.object["metadata"]["name"]) for e in events]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in items]
