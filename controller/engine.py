"""The controller engine: store watches feed a work queue, workers call reconcilers.

A reconciler gets a key, not an event. It reads the world, moves one step toward the spec and
returns a requeue delay (or None). Raising an ordinary exception retries the key with
exponential backoff; raising ``PermanentError`` stops retrying until the object changes again.
The same engine and reconcilers run in the embedded control plane over ``SQLiteStore`` and in
the cluster over the Kubernetes store; only the runtime backend they are given differs.

Events reach reconcilers three ways: the watch of their own Kind; a change to an object that
names theirs in ``ownerReferences`` (a Sweep hears about its TrainingJobs); and ``watches``
mappers a reconciler declares (an Experiment hears about Runs labelled with its name). A
periodic resync requeues everything, so a lost event costs latency, never correctness.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hanzo_ml_lab.api.errors import Gone, NotFound
from hanzo_ml_lab.store import Store

from .queue import WorkQueue

__all__ = ["Engine", "Key", "Mapper", "PermanentError", "Reconciler"]

log = logging.getLogger("hanzo_ml_lab.controller")


@dataclass(frozen=True)
class Key:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Key:
        meta = obj["metadata"]
        return cls(obj["kind"], meta["namespace"], meta["name"])


Mapper = Callable[[dict[str, Any]], Iterable[Key]]


class PermanentError(Exception):
    """Retrying will not help until the object changes (the reconciler has said why in status)."""


class Reconciler(Protocol):
    kind: str
    # (watched kind, mapper from a changed object to keys of this reconciler's kind)
    watches: list[tuple[str, Mapper]]

    def reconcile(self, key: Key) -> float | None: ...


@dataclass
class EngineStats:
    reconciles: int = 0
    errors: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        store: Store,
        reconcilers: Iterable[Reconciler],
        *,
        workers: int = 4,
        resync_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.reconcilers = {r.kind: r for r in reconcilers}
        self.queue: WorkQueue[Key] = WorkQueue()
        self.workers = workers
        self.resync_seconds = resync_seconds
        self.stats = EngineStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mappers: dict[str, list[Mapper]] = {}
        for r in self.reconcilers.values():
            for watched, mapper in getattr(r, "watches", []):
                self._mappers.setdefault(watched, []).append(mapper)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._spawn(self._watch_loop, "watch")
        for i in range(self.workers):
            self._spawn(self._worker, f"reconcile-{i}")
        self._spawn(self._resync_loop, "resync")
        log.info("controller started", extra={"kinds": sorted(self.reconcilers)})

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.queue.shutdown()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # -- event sources --------------------------------------------------------------------
    def enqueue_for(self, obj: dict[str, Any]) -> None:
        """Queue every key that cares about ``obj``."""
        kind = obj.get("kind", "")
        meta = obj.get("metadata") or {}
        if kind in self.reconcilers and meta.get("name"):
            self.queue.add(Key.of(obj))
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") in self.reconcilers:
                self.queue.add(Key(ref["kind"], meta["namespace"], ref["name"]))
        for mapper in self._mappers.get(kind, []):
            for key in mapper(obj):
                self.queue.add(key)

    def _watch_loop(self) -> None:
        """One watch over every Kind: owners hear about any child, mappers about any object."""
        rv: str | None = None
        while not self._stop.is_set():
            try:
                for ev in self.store.watch(
                    None, None, resource_version=rv, stop=self._stop, heartbeat_seconds=5.0
                ):
                    obj = ev.object
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if ev.type != "BOOKMARK":
                        self.enqueue_for(obj)
            except Gone:
                rv = None  # history trimmed: relist (ADDED for everything) and carry on
            except Exception:  # noqa: BLE001 — a broken watch is restarted, never fatal
                if self._stop.is_set():
                    return
                log.exception("watch failed; restarting")
                self._stop.wait(1.0)

    def _resync_loop(self) -> None:
        while not self._stop.wait(self.resync_seconds):
            for kind in self.reconcilers:
                try:
                    for obj in self.store.list(kind).items:
                        self.queue.add(Key.of(obj))
                except Exception:  # noqa: BLE001
                    log.exception("resync failed", extra={"kind": kind})

    # -- workers --------------------------------------------------------------------------
    def _worker(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self.process(key)
            finally:
                self.queue.done(key)

    def process(self, key: Key) -> None:
        """Run one reconcile of ``key`` and schedule what follows."""
        reconciler = self.reconcilers[key.kind]
        rid = uuid.uuid4().hex[:8]
        self.stats.reconciles += 1
        self.stats.per_kind[key.kind] = self.stats.per_kind.get(key.kind, 0) + 1
        try:
            requeue = reconciler.reconcile(key)
        except NotFound:
            self.queue.forget(key)  # the object went away meanwhile: nothing left to do
            return
        except PermanentError as e:
            self.queue.forget(key)
            log.warning("reconcile stopped", extra={"key": str(key), "rid": rid, "error": str(e)})
            return
        except Exception as e:  # noqa: BLE001 — retried with backoff
            self.stats.errors += 1
            delay = self.queue.add_rate_limited(key)
            log.warning(
                "reconcile failed; retrying",
                exc_info=True,
                extra={"key": str(key), "rid": rid, "error": str(e), "retryInSeconds": delay},
            )
            return
        self.queue.forget(key)
        if requeue is not None:
            self.queue.add_after(key, requeue)
