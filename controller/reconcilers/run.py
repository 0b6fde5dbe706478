"""Run: the summary of what the tracking store holds, written where users read it.

Writes only the fields it owns:

- ``status.metrics``: the latest value of every metric key (MLflow's "latest": greatest step,
  then timestamp). NaN and ±inf have no JSON form and are left out.
- for **ad-hoc runs** (``spec.source.kind`` Adhoc, or no source) ``status.phase``
  (Running until the SDK ends the run, then Succeeded/Failed), ``startTime`` (the Run's
  creation) and ``endTime``. A run backed by a TrainingJob gets its phase and times from the
  TrainingJob reconciler, which this one never overwrites.
- one **Metric** object per (run, key), owned by the Run (so it goes when the Run goes), named
  ``<run>-<key>`` made DNS-safe (a hash suffix when the key had to change or the name would be
  too long), with ``status`` ``latestValue``, ``latestStep``, ``count``, ``min``, ``max``,
  ``updatedAt``.

The Run carries the finalizer ``hanzo.ai/tracking``: when it is deleted, its points, params and
tags are deleted from the tracking store before it goes, so nothing stale outlives it.

Nothing is written when nothing changed. A run that is not finished is looked at again after
a second, backing off to half a minute while no point arrives; a finished one once more a
little later (points spooled by its last process may still come in), then not until it
changes.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from hanzo_ml_lab.api import parse_object
from hanzo_ml_lab.api.errors import AlreadyExists, Conflict
from hanzo_ml_lab.store import Store
from hanzo_ml_lab.store.tracking import TrackingStore

from ..conditions import write_status
from ..engine import Key

__all__ = ["FINALIZER", "RunReconciler", "metric_object_name"]

FINALIZER = "hanzo.ai/tracking"
LABEL_RUN = "hanzo.ai/run"
LABEL_EXPERIMENT = "hanzo.ai/experiment"
ACTIVE_REQUEUE_SECONDS = 1.0
IDLE_REQUEUE_MAX_SECONDS = 30.0
FINISHED_GRACE_SECONDS = 30.0  # keep summarising this long after a run ended
_NAME_MAX = 63
_FINISHED = ("Succeeded", "Failed")


def metric_object_name(run: str, key: str) -> str:
    """``<run>-<key>`` as a DNS-1123 label; a hash suffix keeps distinct keys distinct when
    the key had to be changed (``val_acc`` → ``val-acc-1a2b3c4d``) or the name shortened."""
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")
    name = f"{run}-{slug}".strip("-")
    if slug == key and len(name) <= _NAME_MAX:
        return name
    digest = hashlib.sha256(f"{run}\x00{key}".encode()).hexdigest()[:8]
    return f"{name[:_NAME_MAX - 9].rstrip('-')}-{digest}"


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _parse_ts(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None


class RunReconciler:
    kind = "Run"

    def __init__(self, store: Store, tracking: TrackingStore) -> None:
        self.store = store
        self.tracking = tracking
        self.watches: list[Any] = []
        self._idle: dict[Key, tuple[Any, float]] = {}  # key -> (last summary, next delay)

    def reconcile(self, key: Key) -> float | None:
        run = self.store.get(key.kind, key.namespace, key.name)
        meta, spec = run["metadata"], run.get("spec") or {}
        if meta.get("deletionTimestamp"):
            self._idle.pop(key, None)
            self._forget(run)
            return None
        if FINALIZER not in (meta.get("finalizers") or []):
            run = copy.deepcopy(run)
            run["metadata"]["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]
            try:
                run = self.store.update(run)
            except Conflict:
                return 0.1  # someone wrote meanwhile: read again
            meta = run["metadata"]
        latest = self.tracking.latest(key.namespace, key.name)
        status = copy.deepcopy(run.get("status") or {})
        metrics = {k: v for k, item in latest.items() if (v := _finite(item["value"])) is not None}
        if metrics or "metrics" in status:
            status["metrics"] = metrics
        source = (spec.get("source") or {}).get("kind") or "Adhoc"
        if source == "Adhoc":
            state = self.tracking.run_state(key.namespace, key.name)
            status.setdefault("startTime", meta.get("creationTimestamp"))
            if state is None:
                status["phase"] = "Running"
                status.pop("endTime", None)
            else:
                status["phase"] = state["phase"]
                status["endTime"] = state["endedAt"]
        try:
            run = write_status(self.store, run, status)
        except Conflict:
            return 0.1  # the TrainingJob reconciler mirrored its phase meanwhile: read again
        self._sync_metric_objects(run, latest)

        phase = status.get("phase")
        if phase in _FINISHED:
            ended = _parse_ts(status.get("endTime"))
            if ended is not None and time.time() - ended > FINISHED_GRACE_SECONDS:
                self._idle.pop(key, None)
                return None
        return self._next_delay(key, latest)

    def _forget(self, run: dict[str, Any]) -> None:
        """The Run is going: drop its points, params and tags, then let it go. (A Run made again
        under the same name starts empty.)"""
        meta = run["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return
        self.tracking.delete_run(meta["namespace"], meta["name"])
        run = copy.deepcopy(run)
        run["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != FINALIZER]
        self.store.update(run)

    def _next_delay(self, key: Key, latest: dict[str, Any]) -> float:
        summary = {k: (v["count"], v["step"]) for k, v in latest.items()}
        previous = self._idle.get(key)
        if previous is None or previous[0] != summary:
            delay = ACTIVE_REQUEUE_SECONDS
        else:
            delay = min(IDLE_REQUEUE_MAX_SECONDS, previous[1] * 2)
        self._idle[key] = (summary, delay)
        return delay

    def _sync_metric_objects(self, run: dict[str, Any], latest: dict[str, Any]) -> None:
        if not latest:
            return
        meta, spec = run["metadata"], run.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        existing = {
            (m.get("spec") or {}).get("key"): m
            for m in self.store.list("Metric", ns, label_selector=f"{LABEL_RUN}={name}").items
        }
        for key, item in latest.items():
            status: dict[str, Any] = {"count": item["count"], "latestStep": item["step"]}
            for field, value in (("latestValue", item["value"]), ("min", item["min"]),
                                 ("max", item["max"])):
                if (v := _finite(value)) is not None:
                    status[field] = v
            if item.get("updatedAt"):
                status["updatedAt"] = item["updatedAt"]
            obj = existing.get(key)
            if obj is None:
                obj = self._create_metric(run, key, spec.get("experiment"))
                if obj is None:
                    continue
            write_status(self.store, obj, status)

    def _create_metric(self, run: dict[str, Any], key: str,
                       experiment: str | None) -> dict[str, Any] | None:
        meta = run["metadata"]
        labels = {LABEL_RUN: meta["name"]}
        if experiment:
            labels[LABEL_EXPERIMENT] = experiment
        body: dict[str, Any] = {
            "apiVersion": "hanzo.ai/v1", "kind": "Metric",
            "metadata": {"name": metric_object_name(meta["name"], key),
                         "namespace": meta["namespace"], "labels": labels,
                         "ownerReferences": [{"apiVersion": "hanzo.ai/v1", "kind": "Run",
                                              "name": meta["name"], "uid": meta["uid"],
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"run": meta["name"], "key": key},
        }
        if experiment:
            body["spec"]["experiment"] = experiment
        wire = parse_object(body, kind="Metric").to_wire()
        try:
            return self.store.create(wire)
        except AlreadyExists:
            found = self.store.get("Metric", meta["namespace"], wire["metadata"]["name"])
            if (found.get("spec") or {}).get("key") != key:
                return None  # a name clash with an object we do not own: leave it
            return found
