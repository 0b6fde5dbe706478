"""The background writer: turns buffered metric points into batches and delivers each once.

``log_metric`` only appends a tuple to its key's ``Series`` in the run's ``RunSink`` (a
``deque``; no lock, no I/O, no JSON). Two daemon threads do the rest:

- the **encoder** takes up to ``batch_points`` points per batch, encodes it, writes it to the
  spool (write-ahead: on disk before it is sent) and queues it. It is a leading-edge
  throttle: the first point logged after a quiet ``interval`` wakes it at once (so a sparse
  logger's point leaves within a millisecond or so), and while points keep coming it drains
  every ``interval`` seconds (or when a buffer passes ``batch_points``), so a flood is still
  sent in a few large batches. The wake-up costs ``log_metric`` nothing: while the writer is
  quiet each sink's ``high_water`` is 1, so the check ``log_metric`` already makes for a full
  buffer fires on the first point;
- the **sender** posts queued batches in order to ``POST /v1/ml/runs/{run}/log`` and deletes a
  batch's spool file once the server acknowledged it. It talks HTTP with the standard library
  (``_http``), imported on its own thread: the thread that logs never loads an HTTP client.

So encoding the next batch overlaps the server ingesting the last one. What happens on each
answer:

- 200 (also a duplicate): delivered.
- connection refused, timeout, 5xx, 401/403: the control plane is away (or the token is being
  renewed); the batch stays first in line and is retried with exponential backoff
  (0.2 s doubling to 5 s). Meanwhile new batches keep moving from memory to the spool.
- 429: wait the ``retryAfterSeconds`` the server sent, then send the same batch again.
- another 4xx (a param conflict, a run that was deleted, invalid data): the batch can never be
  accepted; its error is kept for the next ``flush()`` (and ``log_param``) to raise and its
  spool file is renamed ``*.rejected``.

Because the server ingests a ``batchId`` once, sending a batch again (after a timeout whose
answer was lost, or by another process replaying the spool) never duplicates a point.
Params and tags travel in their own batches, before the points logged after them, so a param
conflict never takes metric points down with it.
"""

from __future__ import annotations

import base64
import collections
import json
import re
import sys
import threading
import time
from array import array
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hanzo_ml_lab.api.errors import ApiError, Conflict, Invalid, error_from_status
from hanzo_ml_lab.api.routes import API_PREFIX
from hanzo_ml_lab.client._config import ClientConfig

from ._spool import Spool, new_batch_id

if TYPE_CHECKING:
    from ._http import Connection, Response

__all__ = ["RunSink", "Series", "Writer"]


class _Log:
    """``logging.getLogger("hanzo_ml_lab.tracking")``, looked up when first used: only the
    background threads log, and ``logging`` is not worth importing on ``log_metric``'s path."""

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("hanzo_ml_lab.tracking"), name)


log: Any = _Log()

KEY_MAX = 250
PARAM_VALUE_MAX = 6000
TAG_VALUE_MAX = 8000
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
_BACKOFF_MIN = 0.2
_BACKOFF_MAX = 5.0
_IN_MEMORY_BATCHES = 16  # queued batches beyond this keep only their spool file
_time_ns = time.time_ns
_BIG_ENDIAN = sys.byteorder == "big"


def check_key(what: str, key: Any) -> str:
    """MLflow's rule for metric, param and tag keys; raises ``Invalid`` naming ``what``."""
    if not isinstance(key, str) or not key:
        raise Invalid(f"{what}: key must be a non-empty string, got {key!r}")
    if len(key) > KEY_MAX:
        raise Invalid(f"{what}: key must be no more than {KEY_MAX} characters, got {len(key)}")
    if not _KEY.match(key):
        raise Invalid(f"{what}: key must contain only letters, digits, '_', '-', '.', ' ', '/' "
                      f"and ':' (MLflow's rule), got {key!r}")
    return key


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, str | bytes):
        raise Invalid(f"log_metric({key!r}): value must be a number, got {type(value).__name__} "
                      f"{value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Invalid(f"log_metric({key!r}): value must be a number (or have __float__), got "
                      f"{type(value).__name__}") from None


def _as_step(key: str, step: Any) -> int:
    if isinstance(step, float) and step.is_integer():
        return int(step)
    try:
        return int(step.__index__())
    except (AttributeError, TypeError):
        raise Invalid(f"log_metric({key!r}): step must be an integer, got {step!r}") from None


class Series:
    """The buffered points of one metric key: ``(value, step, timestamp ms)`` tuples."""

    __slots__ = ("key", "next_step", "points")

    def __init__(self, key: str) -> None:
        self.key = key
        self.next_step = 0  # the step a point without one gets
        self.points: collections.deque[tuple[float, int, int]] = collections.deque()


class RunSink:
    """The buffer of one run in this process: a ``Series`` per metric key."""

    __slots__ = ("run", "namespace", "experiment", "series", "params", "tags",
                 "end_phase", "logged_params", "meta_seq", "meta_delivered", "end_seq",
                 "end_delivered", "drained", "delivered", "high_water", "wake")

    def __init__(self, run: str, namespace: str, experiment: str | None, *, high_water: int,
                 wake: threading.Event) -> None:
        self.run = run
        self.namespace = namespace
        self.experiment = experiment
        self.series: dict[str, Series] = {}
        self.params: dict[str, str] = {}  # logged, not yet taken by the encoder
        self.tags: dict[str, str] = {}
        self.end_phase: str | None = None
        self.logged_params: dict[str, str] = {}  # every param this process logged to the run
        self.meta_seq = 0  # params/tags requests made
        self.meta_delivered = 0
        self.end_seq = 0  # end requests made
        self.end_delivered = 0
        self.drained = 0  # points taken by the encoder
        self.delivered = 0  # points acknowledged (or refused for good)
        self.high_water = high_water
        self.wake = wake

    def new_series(self, key: str) -> Series:
        check_key("log_metric", key)
        return self.series.setdefault(key, Series(key))

    def buffered(self) -> int:
        return sum(len(s.points) for s in list(self.series.values()))

    def add(self, key: str, value: Any, step: Any, timestamp: Any) -> None:
        """Buffer one point (``log_metric`` inlines the same steps: it is the hot path)."""
        if type(value) is not float:
            value = _as_float(key, value)
        series = self.series.get(key) or self.new_series(key)
        if step is None:
            step = series.next_step
        elif type(step) is not int:
            step = _as_step(key, step)
        series.next_step = step + 1
        points = series.points
        points.append((value, step,
                       _time_ns() // 1_000_000 if timestamp is None else int(timestamp)))
        if len(points) >= self.high_water and not self.wake.is_set():
            self.wake.set()


class _Batch:
    __slots__ = ("sink", "run", "namespace", "batch_id", "body", "path", "upto", "meta_upto",
                 "end_upto", "replayed")

    def __init__(self, sink: RunSink | None, run: str, namespace: str, batch_id: str,
                 body: bytes | None, path: Path | None, upto: int = -1, meta_upto: int = -1,
                 end_upto: int = -1, replayed: bool = False) -> None:
        self.sink = sink
        self.run = run
        self.namespace = namespace
        self.batch_id = batch_id
        self.body = body
        self.path = path
        self.upto = upto
        self.meta_upto = meta_upto
        self.end_upto = end_upto
        self.replayed = replayed


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _packed(typecode: str, column: Any) -> dict[str, str] | list[Any]:
    """A numeric column as ``{"f64"|"i64": base64 of little-endian values}``: packing is C
    speed where JSON spends a microsecond formatting each float (and NaN/inf need no care).
    A step beyond int64 stays a JSON list, for the server to refuse by name."""
    try:
        arr = array(typecode, column)
    except OverflowError:
        return list(column)
    if _BIG_ENDIAN:
        arr.byteswap()
    return {"f64" if typecode == "d" else "i64": base64.b64encode(arr.tobytes()).decode()}


_VALUE_OF, _STEP_OF, _TS_OF = itemgetter(0), itemgetter(1), itemgetter(2)


def _encode_points(batch_id: str, runs: list[list[Any]], values: list[float],
                   steps: list[int], stamps: list[int]) -> bytes:
    doc = {"batchId": batch_id, "metrics": {
        "keys": {"rle": runs},  # [[key, count], ...]: the points are grouped by key
        "values": _packed("d", values),
        "steps": _packed("q", steps),
        "timestamps": _packed("q", stamps),
    }}
    return json.dumps(doc, separators=(",", ":")).encode()


class Writer:
    """Owns the sinks of this process and the two threads that deliver them."""

    def __init__(self, config: ClientConfig, spool_dir: Path, *, batch_points: int = 10_000,
                 interval: float = 0.2) -> None:
        self.config = config
        self.spool = Spool(spool_dir)
        self.batch_points = batch_points
        self.interval = interval
        self._http: Connection | None = None  # made by the sender thread
        self._armed = True  # quiet: the next point logged wakes the encoder at once
        self._lock = threading.Lock()
        self._delivered = threading.Condition(self._lock)
        self._queued = threading.Condition(self._lock)
        self._sinks: dict[tuple[str, str], RunSink] = {}
        self._queue: collections.deque[_Batch] = collections.deque()
        self._enqueued = 0
        self._done = 0  # batches acknowledged or refused, in queue order
        self._errors: list[ApiError] = []
        self._wake = threading.Event()
        self._stopping = False
        self._not_before = 0.0
        self._backoff = 0.0
        self._offline_since: float | None = None
        self._spool_warned = False
        # leftovers of earlier processes go first; listed now, before we write files of our own
        for path in sorted(self.spool.directory.glob("*.json")) \
                if self.spool.directory.is_dir() else []:
            self._queue.append(_Batch(None, "", "", path.stem, None, path, replayed=True))
            self._enqueued += 1
        self._threads = [
            threading.Thread(target=self._encoder, name="hanzo-ml-encoder", daemon=True),
            threading.Thread(target=self._sender, name="hanzo-ml-sender", daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- the user's side ------------------------------------------------------------------
    def sink(self, run: str, namespace: str, experiment: str | None) -> RunSink:
        with self._lock:
            sink = self._sinks.get((namespace, run))
            if sink is None:
                sink = self._sinks[(namespace, run)] = RunSink(
                    run, namespace, experiment, wake=self._wake,
                    high_water=1 if self._armed else self.batch_points)
            return sink

    def log_params(self, sink: RunSink, params: dict[str, str]) -> None:
        """Queue params; raise ``Conflict`` at once for one this process logged differently."""
        self.raise_errors(Conflict)
        with self._lock:
            for key, value in params.items():
                old = sink.logged_params.get(key)
                if old is not None and old != value:
                    raise Conflict(
                        f"params.{key}: is already {old!r} for run {sink.run!r}, got {value!r}: "
                        "params are write-once, as in MLflow (log it under another key, or "
                        "start a new run)", kind="Run", name=sink.run)
            sink.logged_params.update(params)
            sink.params.update(params)
            sink.meta_seq += 1
        if self._armed:
            self._wake.set()

    def set_tags(self, sink: RunSink, tags: dict[str, str]) -> None:
        with self._lock:
            sink.tags.update(tags)
            sink.meta_seq += 1
        if self._armed:
            self._wake.set()

    def end(self, sink: RunSink, phase: str) -> None:
        with self._lock:
            sink.end_phase = phase
            sink.end_seq += 1
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def raise_errors(self, only: type[ApiError] = ApiError) -> None:
        """Raise (and forget) the first kept error of type ``only``."""
        with self._lock:
            for i, err in enumerate(self._errors):
                if isinstance(err, only):
                    del self._errors[i]
                    raise err

    def _targets(self) -> tuple[list[tuple[RunSink, int, int, int]], int]:
        return ([(s, s.drained + s.buffered(), s.meta_seq, s.end_seq)
                 for s in self._sinks.values()], self._enqueued)

    def _reached(self, targets: list[tuple[RunSink, int, int, int]], batches: int) -> bool:
        return self._done >= batches and all(
            s.delivered >= points and s.meta_delivered >= meta and s.end_delivered >= end
            for s, points, meta, end in targets)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged before the call is delivered (or refused for good);
        return False if ``timeout`` passed first. Raises the first error a batch was refused
        with (e.g. ``Conflict`` for a param set to another value elsewhere)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            targets, batches = self._targets()
            self._wake.set()
            while not self._reached(targets, batches):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._delivered.wait(0.2 if left is None else min(left, 0.2))
                self._wake.set()
            reached = self._reached(targets, batches)
        self.raise_errors()
        return reached

    def pending(self) -> int:
        """Points not yet delivered (buffered or queued)."""
        with self._lock:
            return sum(s.drained + s.buffered() - s.delivered for s in self._sinks.values())

    def close(self, timeout: float) -> bool:
        """Deliver what can be within ``timeout``, then stop; what is left stays in the spool
        for the next process (or the controller) to send. Returns True if nothing was left."""
        try:
            delivered = self.flush(timeout)
        except ApiError:
            delivered = self.flush(0)
        with self._lock:
            self._stopping = True
            self._queued.notify_all()
        self._wake.set()
        for t in self._threads:
            t.join(0.5)
        if not delivered:
            self._drain_all(final=True)  # what never left memory goes to disk
        http = self._http
        if http is not None:
            http.close()
        return delivered

    # -- the encoder ----------------------------------------------------------------------
    def _encoder(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                return
            busy = True
            try:
                self._arm(False)  # points logged from now on wait for the next interval
                busy = self._drain_all()
            except Exception:  # noqa: BLE001 — never let logging kill the thread
                log.exception("hanzo-ml: encoding a metric batch failed")
            if not busy:
                # nothing came for a whole interval: the next point is sent at once
                self._arm(True)
                if self._waiting():
                    self._wake.set()  # logged while we were arming

    def _arm(self, armed: bool) -> None:
        """Quiet (``armed``): the first point of any sink wakes the encoder. Busy: only a full
        buffer does, and the encoder drains every ``interval``."""
        if armed == self._armed:
            return
        high_water = 1 if armed else self.batch_points
        with self._lock:
            self._armed = armed
            for sink in self._sinks.values():
                sink.high_water = high_water

    def _waiting(self) -> bool:
        with self._lock:
            return any(s.buffered() or s.params or s.tags or s.end_phase is not None
                       for s in self._sinks.values())

    def _drain_all(self, final: bool = False) -> bool:
        """Move what is buffered into batches; True if there was anything."""
        with self._lock:
            sinks = list(self._sinks.values())
        found = False
        for sink in sinks:
            found = self._drain(sink, final) or found
        return found

    def _drain(self, sink: RunSink, final: bool) -> bool:
        found = False
        with self._lock:
            params, tags = sink.params, sink.tags
            sink.params, sink.tags = {}, {}
            meta_upto = sink.meta_seq
        if params or tags:
            found = True
            doc: dict[str, Any] = {"batchId": new_batch_id()}
            if params:
                doc["params"] = params
            if tags:
                doc["tags"] = tags
            self._enqueue(sink, doc["batchId"], _encode(doc), sink.drained, meta_upto, final)
        while True:
            runs: list[list[Any]] = []
            values: list[float] = []
            steps: list[int] = []
            stamps: list[int] = []
            with self._lock:
                room = self.batch_points
                for series in list(sink.series.values()):
                    n = min(len(series.points), room)
                    if n == 0:
                        continue
                    pop = series.points.popleft
                    items = [pop() for _ in range(n)]
                    runs.append([series.key, n])
                    values.extend(map(_VALUE_OF, items))
                    steps.extend(map(_STEP_OF, items))
                    stamps.extend(map(_TS_OF, items))
                    room -= n
                    if not room:
                        break
                if not runs:
                    break
                sink.drained += len(values)
                upto = sink.drained
            found = True
            batch_id = new_batch_id()
            self._enqueue(sink, batch_id, _encode_points(batch_id, runs, values, steps, stamps),
                          upto, -1, final)
        with self._lock:
            phase = sink.end_phase
            if phase is None or sink.buffered() or sink.params or sink.tags:
                return found
            sink.end_phase = None
            end_upto = sink.end_seq
        batch_id = new_batch_id()
        self._enqueue(sink, batch_id, _encode({"batchId": batch_id, "end": {"phase": phase}}),
                      sink.drained, -1, final, end_upto)
        return True

    def _enqueue(self, sink: RunSink, batch_id: str, body: bytes, upto: int, meta_upto: int,
                 final: bool, end_upto: int = -1) -> None:
        path: Path | None = None
        try:
            path = self.spool.write(sink.namespace, sink.run, batch_id, body)
        except OSError as e:
            if not self._spool_warned:
                self._spool_warned = True
                log.warning("hanzo-ml: cannot write the spool at %s (%s); batches stay in memory "
                            "only", self.spool.directory, e)
            if final:
                log.warning("hanzo-ml: %d metric points of run %s are lost at exit",
                            upto - sink.delivered, sink.run)
                return
        if final:
            return  # on disk; the next process or the controller sends it
        batch = _Batch(sink, sink.run, sink.namespace, batch_id, body, path, upto, meta_upto,
                       end_upto)
        with self._lock:
            self._queue.append(batch)
            self._enqueued += 1
            if len(self._queue) > _IN_MEMORY_BATCHES and path is not None:
                batch.body = None  # on disk; read back when its turn comes
            self._queued.notify_all()

    # -- the sender -----------------------------------------------------------------------
    def _sender(self) -> None:
        try:
            self._connection()  # load the HTTP code (socket; ssl for https) before a batch waits
        except Exception:  # noqa: BLE001 — reported again when a batch is sent
            pass
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._queued.wait(1.0)
                if self._stopping:
                    return
                head = self._queue[0]
                wait = self._not_before - time.monotonic()
            if wait > 0:
                with self._lock:
                    self._queued.wait(min(wait, 1.0))
                continue
            try:
                done = self._send(head)
            except Exception:  # noqa: BLE001 — keep delivering whatever happens
                log.exception("hanzo-ml: sending a metric batch failed")
                done = False
                self._retry_later()
            if done:
                with self._lock:
                    self._queue.popleft()
                    self._done += 1
                    sink = head.sink
                    if sink is not None:
                        if head.upto > sink.delivered:
                            sink.delivered = head.upto
                        if head.meta_upto > sink.meta_delivered:
                            sink.meta_delivered = head.meta_upto
                        if head.end_upto > sink.end_delivered:
                            sink.end_delivered = head.end_upto
                    self._delivered.notify_all()

    def _retry_later(self, seconds: float | None = None) -> None:
        if seconds is None:
            self._backoff = min(_BACKOFF_MAX, max(_BACKOFF_MIN, self._backoff * 2))
            seconds = self._backoff
        self._not_before = time.monotonic() + seconds

    def _body(self, batch: _Batch) -> bytes | None:
        if batch.body is not None:
            return batch.body
        if batch.path is None:
            return None
        item = self.spool.load(batch.path)
        if item is None:
            return None  # taken (and sent) by another process meanwhile, or unreadable
        if batch.replayed:
            if item.namespace != self.config.namespace:
                return None  # another tenant's leftovers: not ours to send
            batch.run, batch.namespace = item.run, item.namespace
        return json.dumps(item.batch, separators=(",", ":")).encode()

    def _connection(self) -> Connection:
        http = self._http
        if http is None:
            from ._http import Connection

            http = self._http = Connection(
                self.config.base_url, {**self.config.headers(),
                                       "Content-Type": "application/json"},
                self.config.timeout)
        return http

    def _send(self, batch: _Batch) -> bool:
        """One attempt; True when the batch is settled (delivered or refused for good)."""
        body = self._body(batch)
        if body is None:
            return True
        from ._http import TRANSPORT_ERRORS

        try:
            r = self._connection().post(
                f"{API_PREFIX}/runs/{quote(batch.run, safe='')}/log", body)
        except TRANSPORT_ERRORS as e:
            self._away(f"did not answer ({str(e) or type(e).__name__})")
            return False
        code = r.status
        if code == 200:
            if self._offline_since is not None:
                log.warning("hanzo-ml: control plane at %s is back after %.1fs; delivering "
                            "spooled metrics", self.config.base_url,
                            time.monotonic() - self._offline_since)
                self._offline_since = None
            self._backoff = 0.0
            if batch.path is not None:
                self.spool.remove(batch.path)
            return True
        err = self._error(r)
        if code == 429:
            self._retry_later(err.retry_after_seconds or 1.0)
            return False
        if code >= 500 or code in (401, 403, 408):
            if code in (401, 403):
                self._keep(err)
            self._away(f"answered {code} ({err.message})")
            return False
        # refused for good: keep the error for flush() (unless it is an earlier process's
        # leftover, which this process's caller knows nothing about); out of every replay
        if not batch.replayed:
            self._keep(err)
        log.warning("hanzo-ml: batch %s for run %s refused: %s", batch.batch_id, batch.run,
                    err.message)
        if batch.path is not None:
            self.spool.reject(batch.path)
        return True

    def _away(self, why: str) -> None:
        if self._offline_since is None:
            self._offline_since = time.monotonic()
            log.warning("hanzo-ml: control plane at %s %s; metrics are kept in %s and sent when "
                        "it is back", self.config.base_url, why, self.spool.directory)
        self._retry_later()

    def _keep(self, err: ApiError) -> None:
        with self._lock:
            if not any(type(e) is type(err) and e.message == err.message for e in self._errors):
                self._errors.append(err)

    @staticmethod
    def _error(r: Response) -> ApiError:
        try:
            body = json.loads(r.body)
        except ValueError:
            body = {"message": r.text[:500] or r.reason}
        err = error_from_status(body if isinstance(body, dict) else {}, r.status)
        retry_after = r.header("retry-after")
        if err.retry_after_seconds is None and retry_after is not None:
            try:
                err.retry_after_seconds = float(retry_after)
            except ValueError:
                pass
        return err
