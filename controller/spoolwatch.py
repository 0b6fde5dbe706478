"""Embedded mode's fast path for metrics: ingest a running job's spool files as they appear.

The SDK writes every batch to its spool directory (``HANZO_ML_SPOOL_DIR``) *before* it sends
it, and deletes the file once the server acknowledged it. In embedded mode the job and the
control plane share a filesystem, so the control plane can take the batch from the disk at
once, without waiting for the HTTP round trip (or, for a job's first point, for its sender
to start). ``SpoolWatcher`` does that for the TrainingJobs that are running, and only for
them: the TrainingJob reconciler registers a job's spool directory before it launches the
replicas and removes it when the job ends (when it replays whatever is left, as before).

One daemon thread polls the registered directories every ``interval`` seconds (10 ms) with
``os.scandir``, and sleeps without polling while no job runs. Each ``<batchId>.json`` it finds
is ingested exactly as ``POST /v1/ml/runs/{run}/log`` would ingest it, then deleted:

- **exactly once**: the batch keeps its ``batchId``, so the copy the SDK still sends over HTTP
  answers ``duplicate: true`` (and the SDK deletes a file that is already gone: both sides
  tolerate a missing file);
- **the rate limit holds**: the batch's points go through the same per-experiment bucket
  (``admit``). Over the limit, the file is left where it is, the directory is skipped until
  the bucket has room, and the SDK's HTTP path (which waits out the ``429``) delivers it;
- **tenancy holds**: a file is taken only if it names the job's namespace and the job's Run
  (the directory is derived from the job's metadata, never from the file); the experiment
  and the Run's spec params (for the write-once check) come from the Run object;
- **errors reach the user**: a batch the store refuses (a param conflict, invalid data) is
  left for the SDK, which gets the same answer over HTTP and raises it from ``flush()``;
  the watcher does not look at that file again.

Files of other runs (a nested ``start_run`` in the job) are left to the SDK too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanzo_ml_lab.api.errors import ApiError, TooManyRequests
from hanzo_ml_lab.store.tracking import TrackingStore, parse_batch

__all__ = ["Admit", "SpoolWatcher"]

log = logging.getLogger("hanzo_ml_lab.controller")

DEFAULT_INTERVAL = 0.01

# (namespace, experiment, points): take ``points`` from the experiment's write bucket, or raise
# ``TooManyRequests`` (the server's ``MetricRateLimiter.admit``)
Admit = Callable[[str, str | None, int], None]


@dataclass
class _Watched:
    directory: Path
    namespace: str
    experiment: str | None
    run: str
    fixed_params: dict[str, str]
    blocked_until: float = 0.0  # over the rate limit: leave the directory alone until then
    skip: set[str] = field(default_factory=set)  # files left for the SDK; not read again


class SpoolWatcher:
    """Ingests the spool files of registered (running) jobs while they run."""

    def __init__(self, tracking: TrackingStore, *, admit: Admit | None = None,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.tracking = tracking
        self.admit = admit
        self.interval = interval
        self._lock = threading.Lock()
        self._watched: dict[Any, _Watched] = {}
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ingested = 0  # batches this watcher ingested (tests, diagnostics)

    # -- registration (the TrainingJob reconciler) ----------------------------------------
    def watch(self, key: Any, directory: Path, *, namespace: str, experiment: str | None,
              run: str, fixed_params: dict[str, str] | None = None) -> None:
        """Follow ``directory`` for batches of ``run`` in ``namespace`` (idempotent)."""
        with self._lock:
            if key in self._watched:
                return
            self._watched[key] = _Watched(directory, namespace, experiment, run,
                                          dict(fixed_params or {}))
        self._changed.set()

    def watching(self, key: Any) -> bool:
        with self._lock:
            return key in self._watched

    def unwatch(self, key: Any) -> None:
        with self._lock:
            self._watched.pop(key, None)

    # -- the thread -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="spool-watch", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                idle = not self._watched
            if idle:  # no job runs: sleep until one is registered
                self._changed.wait()
                self._changed.clear()
                continue
            try:
                self.poll()
            except Exception:  # noqa: BLE001 — the SDK's HTTP path still delivers
                log.exception("spool watch pass failed")
            self._stop.wait(self.interval)

    def poll(self) -> int:
        """One pass over every registered directory; returns the batches ingested."""
        with self._lock:
            watched = list(self._watched.values())
        now = time.monotonic()
        total = 0
        for w in watched:
            if w.blocked_until > now:
                continue
            try:
                names = sorted(e.name for e in os.scandir(w.directory)
                               if e.name.endswith(".json") and not e.name.startswith("."))
            except OSError:  # not made yet (nothing logged), or the job's dir is gone
                continue
            if w.skip:
                w.skip.intersection_update(names)
            for name in names:
                if name in w.skip:
                    continue
                outcome = self._take(w, w.directory / name)
                if outcome == "limited":
                    break  # keep the order: nothing after it goes first
                if outcome == "ingested":
                    total += 1
        self.ingested += total
        return total

    def _take(self, w: _Watched, path: Path) -> str:
        name = path.name
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return "gone"  # the SDK's answer came first, and it deleted the file
        except (OSError, ValueError):
            w.skip.add(name)  # the SDK rejects what it cannot read; not ours to decide
            return "skipped"
        if not (isinstance(doc, dict) and doc.get("namespace") == w.namespace
                and doc.get("run") == w.run and isinstance(doc.get("batch"), dict)):
            w.skip.add(name)  # another run's batch (a nested run), or not a batch
            return "skipped"
        try:
            batch = parse_batch(doc["batch"])
        except ApiError:
            w.skip.add(name)
            return "skipped"
        if self.tracking.seen(w.namespace, w.run, batch.batch_id):
            _remove(path)  # delivered already; the SDK deletes it too (or already did)
            return "duplicate"
        if self.admit is not None and batch.points:
            try:
                self.admit(w.namespace, w.experiment, batch.points)
            except TooManyRequests as e:
                wait = 1.0 if e.retry_after_seconds is None else e.retry_after_seconds
                w.blocked_until = time.monotonic() + wait
                return "limited"  # the SDK sends it, and waits out the 429 as it does now
        try:
            self.tracking.ingest_batch(w.namespace, w.experiment, w.run, batch,
                                       fixed_params=w.fixed_params)
        except ApiError:
            w.skip.add(name)  # refused: the SDK gets the same answer and reports it
            return "skipped"
        _remove(path)
        return "ingested"


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
