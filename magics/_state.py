"""What a job view shows, kept in plain Python and fed by the watcher.

The watcher thread writes here as events arrive; at most every flush interval it takes the
changed fields (``take_changes``) and hands them to the widget in one batch. Keeping this apart
from the widget lets the static HTML summary, ``Job.wait`` and tests read the same state,
and keeps trait traffic proportional to flushes, not to events.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from ._spec import replica_names

__all__ = ["PROGRESS_KEYS", "TERMINAL_PHASES", "JobState", "SweepState", "decimate"]

TERMINAL_PHASES = ("Succeeded", "Failed")
PROGRESS_KEYS = ("progress_total", "total_steps")
MAX_CHART_POINTS = 500
MAX_LOG_LINES = 300


def decimate(steps: list[float], values: list[float], limit: int) -> tuple[list[float],
                                                                             list[float]]:
    """At most ``limit`` points, evenly strided, always keeping the last (the newest value)."""
    n = len(steps)
    if n <= limit:
        return list(steps), list(values)
    stride = n / (limit - 1)
    picks = sorted({min(n - 1, int(i * stride)) for i in range(limit - 1)} | {n - 1})
    return [steps[i] for i in picks], [values[i] for i in picks]


def _as_total(value: Any) -> int:
    try:
        total = int(float(value))
    except (TypeError, ValueError):
        return 0
    return total if total > 0 else 0


class _State:
    """Trait-shaped values with a dirty set, guarded by one lock."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._lock = threading.RLock()
        self._values = values
        self._dirty: set[str] = set(values)

    def _set(self, key: str, value: Any) -> None:
        if self._values.get(key) != value:
            self._values[key] = value
            self._dirty.add(key)

    def get(self, key: str) -> Any:
        with self._lock:
            return self._values.get(key)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out = dict(self._values)
            out.update(self._computed(set(self._values)))
            return out

    def take_changes(self) -> dict[str, Any]:
        """The fields changed since the last call (empty when nothing did)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            out = {k: self._values[k] for k in dirty if k in self._values}
            out.update(self._computed(dirty))
            return out

    def _computed(self, dirty: set[str]) -> dict[str, Any]:
        return {}

    def set_error(self, message: str) -> None:
        with self._lock:
            self._set("error", message)

    @property
    def phase(self) -> str:
        return str(self.get("phase") or "")

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


class JobState(_State):
    """A TrainingJob as the widget shows it: status, metric series, log tail, progress."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__({
            "kind": "TrainingJob", "name": name, "namespace": namespace, "phase": "",
            "workers_ready": 0, "workers_total": 0, "replicas": [], "start_time": "",
            "completion_time": "", "message": "", "experiment": "", "run_name": "",
            "progress_total": 0, "progress_step": 0, "logs": [], "error": "",
            "metrics": {},
        })
        self._dirty.discard("metrics")
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.last_seq = 0
        self.restarts = 0
        self.deleted = False
        self._log_tail: deque[list[str]] = deque(maxlen=MAX_LOG_LINES)
        self._partial: dict[str, str] = {}
        self._param_total = 0
        self._metric_total = 0
        self._min_step: float | None = None
        self._max_step: float | None = None

    # -- writers (the watcher thread) --------------------------------------------------------

    def apply_job(self, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        with self._lock:
            self._set("phase", status.get("phase") or "Pending")
            self._set("workers_ready", int(status.get("workersReady") or 0))
            total = int(status.get("workersTotal") or 0) or len(replica_names(spec))
            self._set("workers_total", total)
            self._set("replicas", replica_names(spec))
            self._set("start_time", status.get("startTime") or "")
            self._set("completion_time", status.get("completionTime") or "")
            self._set("experiment", (spec.get("experiment") or {}).get("name") or "")
            self._set("run_name", status.get("runName") or "")
            reason, message = status.get("failureReason"), status.get("failureMessage")
            text = f"{reason}: {message}" if reason and message else (reason or message or "")
            self._set("message", text)
            self.restarts = int(status.get("restarts") or 0)
            params = spec.get("params") or {}
            for key in PROGRESS_KEYS:
                if key in params and _as_total(params[key]):
                    self._param_total = _as_total(params[key])
                    break
            self._update_progress()

    def apply_params(self, params: Mapping[str, Any]) -> None:
        """The run's params can declare the total (``ml.log_param("total_steps", N)``)."""
        with self._lock:
            for key in PROGRESS_KEYS:
                if key in params and _as_total(params[key]):
                    self._param_total = _as_total(params[key])
                    break
            self._update_progress()

    def mark_deleted(self) -> None:
        with self._lock:
            self.deleted = True
            self._set("error", "the job was deleted")

    def add_points(self, points: list[Mapping[str, Any]]) -> None:
        if not points:
            return
        with self._lock:
            for p in points:
                seq = int(p.get("seq") or 0)
                if seq and seq <= self.last_seq:
                    continue  # a replayed point after a reconnect
                self.last_seq = max(self.last_seq, seq)
                key = str(p.get("key"))
                try:
                    value = float(p["value"])
                except (KeyError, TypeError, ValueError):
                    continue
                steps, values = self.series.setdefault(key, ([], []))
                raw_step = p.get("step")
                step = float(raw_step) if isinstance(raw_step, int | float) else float(len(steps))
                steps.append(step)
                values.append(value)
                if key in PROGRESS_KEYS:
                    self._metric_total = _as_total(value)
                else:
                    self._min_step = step if self._min_step is None else min(self._min_step, step)
                    self._max_step = step if self._max_step is None else max(self._max_step, step)
            self._dirty.add("metrics")
            self._update_progress()

    def add_log(self, replica: str, text: str) -> None:
        with self._lock:
            text = self._partial.pop(replica, "") + text
            lines = text.split("\n")
            if lines[-1]:
                self._partial[replica] = lines[-1]  # an unfinished line: wait for its end
            for line in lines[:-1]:
                self._log_tail.append([replica, line.rstrip("\r")])
            if len(lines) > 1:
                self._values["logs"] = list(self._log_tail)
                self._dirty.add("logs")

    def flush_partial_logs(self) -> None:
        """At the end of a stream an unfinished last line is all there will be: show it."""
        with self._lock:
            if self._partial:
                for replica, line in self._partial.items():
                    self._log_tail.append([replica, line])
                self._partial.clear()
                self._values["logs"] = list(self._log_tail)
                self._dirty.add("logs")

    def _update_progress(self) -> None:
        total = self._metric_total or self._param_total
        self._set("progress_total", total)
        if self._max_step is None:
            done = 0
        else:
            done = int(self._max_step) + (1 if self._min_step == 0 else 0)
        self._set("progress_step", done)

    def _computed(self, dirty: set[str]) -> dict[str, Any]:
        if "metrics" not in dirty:
            return {}
        out: dict[str, Any] = {}
        for key, (steps, values) in self.series.items():
            s, v = decimate(steps, values, MAX_CHART_POINTS)
            out[key] = {"steps": s, "values": v, "count": len(steps)}
        return {"metrics": out}

    # -- readers -----------------------------------------------------------------------------

    def points(self, key: str) -> list[tuple[float, float]]:
        """Every point of ``key`` seen so far, as ``(step, value)``."""
        with self._lock:
            steps, values = self.series.get(key, ([], []))
            return list(zip(steps, values, strict=True))

    def log_lines(self, replica: str | None = None) -> list[str]:
        with self._lock:
            return [line for r, line in self._log_tail if replica is None or r == replica]


class SweepState(_State):
    """A Sweep's status; its leaderboard comes with the sweep controller."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__({
            "kind": "Sweep", "name": name, "namespace": namespace, "phase": "",
            "experiment": "", "sweep": {}, "message": "", "error": "",
        })
        self.deleted = False

    def apply_sweep(self, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        with self._lock:
            self._set("phase", status.get("phase") or "")
            self._set("experiment", spec.get("experiment") or "")
            self._set("sweep", {
                "algorithm": spec.get("algorithm", ""),
                "maxTrials": spec.get("maxTrials", 0),
                "parallelism": spec.get("parallelism", 1),
                "objective": spec.get("objective") or {},
                "parameters": [p.get("name") for p in spec.get("parameters") or []],
                "trialsRunning": status.get("trialsRunning", 0),
                "trialsCompleted": status.get("trialsCompleted", 0),
                "trialsFailed": status.get("trialsFailed", 0),
                "trialsPruned": status.get("trialsPruned", 0),
                "bestTrial": status.get("bestTrial") or None,
            })
            ready = next((c for c in status.get("conditions") or []
                          if c.get("type") == "Ready"), None)
            self._set("message", (ready or {}).get("message") or "")

    def mark_deleted(self) -> None:
        with self._lock:
            self.deleted = True
            self._set("error", "the sweep was deleted")
