"""The tracking store: metric points, params, tags and the end of ad-hoc runs.

This is hanzoai/datastore's role in the embedded control plane: one SQLite file
(``$HANZO_ML_HOME/tracking.db``, WAL, ``synchronous=NORMAL``), apart from the resource store so a
metric flood never queues behind resource writes.

Points are stored in **chunks**, not one row per point: each accepted batch becomes one row per
metric key holding that key's steps, timestamps and values as packed arrays. A row per point
costs sqlite3's ``executemany`` 4-8 µs with two indexes (120-250k points/s before any HTTP or
JSON); a chunk costs the same for 10,000 points. Every point still gets its own ``seq``, a
global, gap-free cursor: the points of a chunk have consecutive seqs, so reading "everything
after seq N" is an index range over chunks plus an unpack. NaN is stored as itself (SQLite
would turn a NaN ``REAL`` into NULL).

Guarantees, each kept by one ``BEGIN IMMEDIATE`` transaction per batch:

- a batch is all-or-nothing: its points, params, tags and end mark land together or not at all;
- a batch is ingested once: a ``batch_id`` seen before for the run is acknowledged as a
  duplicate and changes nothing (the SDK retries with the same id, so retries are exactly-once);
- params are write-once, as in MLflow: the same value again is fine, a different one is a
  ``Conflict`` naming the param, and the whole batch is refused;
- ``seq`` increases in commit order across processes sharing the file.

The wire form of a batch (``POST /v1/ml/runs/{name}/log`` and the SDK's spool files) is parsed
by ``parse_batch``, here so the server route and ``ingest_spool_dir`` share one set of rules.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import os
import re
import sqlite3
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hanzo_ml_lab.api.errors import Cause, Conflict, Invalid
from hanzo_ml_lab.api.tracking import PARAM_VALUE_MAX

__all__ = [
    "Batch",
    "END_PHASES",
    "SPOOL_FORMAT_VERSION",
    "TrackingStore",
    "decode_value",
    "encode_value",
    "parse_batch",
]

END_PHASES = ("Succeeded", "Failed")
SPOOL_FORMAT_VERSION = 1
KEY_MAX = 250  # MLflow's limit for metric, param and tag keys
TAG_VALUE_MAX = 8000  # MLflow's limit for tag values
BATCH_ID_MAX = 128
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")
_INT64 = (-(2**63), 2**63 - 1)
_NON_FINITE_IN = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_MAX_CAUSES = 20
MAX_BATCH_POINTS = 1_000_000
_BUSY_TIMEOUT_MS = 10_000
_CHUNK_FETCH = 64  # chunks read per query while collecting points

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('seq', 0), ('schema', 1);

CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    run TEXT NOT NULL,
    key TEXT NOT NULL,
    experiment TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL DEFAULT 0,
    min REAL,
    max REAL,
    last_step INTEGER,
    last_ts INTEGER,
    last_value REAL,            -- NULL with count > 0 means NaN
    updated_at REAL,
    UNIQUE (namespace, run, key)
);
CREATE INDEX IF NOT EXISTS series_experiment ON series (namespace, experiment);

CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    series INTEGER NOT NULL REFERENCES series (id),
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    steps BLOB NOT NULL,        -- int64 array
    ts BLOB NOT NULL,           -- int64 array, milliseconds since the epoch
    vals BLOB NOT NULL          -- float64 array
);
CREATE INDEX IF NOT EXISTS chunks_series ON chunks (series, last_seq);

CREATE TABLE IF NOT EXISTS params (
    namespace TEXT NOT NULL,
    run TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, run, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tags (
    namespace TEXT NOT NULL,
    run TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, run, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ingested_batches (
    namespace TEXT NOT NULL,
    run TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (namespace, run, batch_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS run_state (
    namespace TEXT NOT NULL,
    run TEXT NOT NULL,
    phase TEXT NOT NULL,
    ended_at REAL NOT NULL,
    PRIMARY KEY (namespace, run)
) WITHOUT ROWID;
"""


# -- values on the wire -------------------------------------------------------------------


def encode_value(value: float) -> float | str:
    """A float as JSON can carry it: NaN and ±inf become ``"NaN"``/``"Infinity"``/``"-Infinity"``
    (the protobuf JSON mapping MLflow's REST API uses), everything else stays a number."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_value(value: Any) -> float:
    """The inverse of ``encode_value``; raises ``ValueError`` for anything else."""
    t = type(value)
    if t is float or t is int:
        return float(value)
    if t is str and value in _NON_FINITE_IN:
        return _NON_FINITE_IN[value]
    raise ValueError(value)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- parsing a batch ----------------------------------------------------------------------


@dataclass
class Batch:
    """One validated batch: metric points in columns, params, tags, and an optional end."""

    batch_id: str
    keys: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    end_phase: str | None = None

    @property
    def points(self) -> int:
        return len(self.keys)


class _Causes:
    def __init__(self) -> None:
        self.items: list[Cause] = []

    def add(self, field_: str, message: str, reason: str = "FieldValueInvalid") -> None:
        if len(self.items) < _MAX_CAUSES:
            self.items.append(Cause(field_, message, reason))

    def raise_if_any(self) -> None:
        if self.items:
            shown = "; ".join(f"{c.field}: {c.message}" for c in self.items[:3])
            more = len(self.items) - 3
            raise Invalid(shown + (f" (and {more} more)" if more > 0 else ""), causes=self.items)


def _check_key(key: Any, where: str, causes: _Causes) -> bool:
    if not isinstance(key, str) or not key:
        causes.add(where, f"must be a non-empty string, got {key!r}")
        return False
    if len(key) > KEY_MAX:
        causes.add(where, f"must be no more than {KEY_MAX} characters, got {len(key)}")
        return False
    if not _KEY.match(key):
        causes.add(where, "must contain only letters, digits, '_', '-', '.', ' ', '/' and ':' "
                   f"(MLflow's rule for keys), got {key!r}")
        return False
    return True


_PACKED = {"values": "f64", "steps": "i64", "timestamps": "i64"}


def _column(metrics: Mapping[str, Any], name: str, n: int, causes: _Causes) -> list[Any] | None:
    col = metrics.get(name)
    if col is None:
        return None
    if isinstance(col, dict):
        return _unpack(col, name, n, causes)
    if not isinstance(col, list):
        causes.add(f"metrics.{name}", f"must be a list, got {type(col).__name__}")
        return None
    if len(col) != n:
        causes.add(f"metrics.{name}",
                   f"must have as many items as metrics.keys ({n}), got {len(col)}")
        return None
    return col


def _unpack(col: dict[str, Any], name: str, n: int, causes: _Causes) -> list[Any] | None:
    """A packed column: ``{"f64": base64}`` (values) or ``{"i64": base64}`` (steps,
    timestamps), little-endian, 8 bytes an item."""
    form = _PACKED[name]
    if set(col) != {form} or not isinstance(col[form], str):
        causes.add(f"metrics.{name}", f'must be a list, or packed as {{"{form}": "<base64 of '
                   f'little-endian {"float64" if form == "f64" else "int64"} values>"}}')
        return None
    try:
        raw = base64.b64decode(col[form], validate=True)
    except (binascii.Error, ValueError):
        causes.add(f"metrics.{name}.{form}", "must be base64")
        return None
    if len(raw) != 8 * n:
        causes.add(f"metrics.{name}.{form}",
                   f"must hold as many items as metrics.keys ({n}), got {len(raw) / 8:g}")
        return None
    arr = array("d" if form == "f64" else "q")
    arr.frombytes(raw)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tolist()


def _parse_metrics(metrics: Any, causes: _Causes, now_ms: int) -> tuple[list[str], list[float],
                                                                        list[int], list[int]]:
    empty: tuple[list[str], list[float], list[int], list[int]] = ([], [], [], [])
    if metrics is None:
        return empty
    if not isinstance(metrics, dict):
        causes.add("metrics", "must be an object with the lists keys, values, steps and "
                   f"timestamps, got {type(metrics).__name__}")
        return empty
    unknown = set(metrics) - {"keys", "values", "steps", "timestamps"}
    for name in sorted(unknown):
        causes.add(f"metrics.{name}", "unknown field (expected keys, values, steps, timestamps)",
                   "FieldValueNotSupported")
    keys = metrics.get("keys", [])
    if isinstance(keys, dict):
        keys = _expand_runs(keys, causes)
        if keys is None:
            return empty
    if not isinstance(keys, list):
        causes.add("metrics.keys", "must be a list of strings (or {\"rle\": [[key, count], "
                   f"...]}}), got {type(keys).__name__}")
        return empty
    n = len(keys)
    before = len(causes.items)
    values = _column(metrics, "values", n, causes)
    if values is None and "values" not in metrics and n:
        causes.add("metrics.values", "is required with metrics.keys", "FieldValueRequired")
    steps = _column(metrics, "steps", n, causes)
    stamps = _column(metrics, "timestamps", n, causes)
    if len(causes.items) > before:
        return empty

    seen: set[str] = set()
    for i, key in enumerate(keys):
        if type(key) is str and key in seen:
            continue
        if _check_key(key, f"metrics.keys[{i}]", causes):
            seen.add(key)

    out_values: list[float]
    if values is None:
        out_values = []
    elif (types := set(map(type, values))) <= {float, int}:  # the common case, at C speed
        out_values = [float(v) for v in values] if int in types else values
    else:
        out_values = []
        for i, v in enumerate(values):
            try:
                out_values.append(decode_value(v))
            except ValueError:
                causes.add(f"metrics.values[{i}]", "must be a number (NaN, Infinity and "
                           f"-Infinity are accepted, as numbers or strings), got {v!r}")

    out_steps: list[int]
    if steps is None:
        out_steps = [0] * n
    else:
        types = set(map(type, steps))
        if types <= {int}:
            out_steps = steps
        else:
            out_steps = []
            for i, s in enumerate(steps):
                if type(s) is float and s.is_integer():
                    out_steps.append(int(s))
                elif type(s) is int:
                    out_steps.append(s)
                else:
                    causes.add(f"metrics.steps[{i}]", f"must be an integer, got {s!r}")
        if out_steps and (min(out_steps) < _INT64[0] or max(out_steps) > _INT64[1]):
            causes.add("metrics.steps", "must fit in a signed 64-bit integer")

    out_ts: list[int]
    if stamps is None:
        out_ts = [now_ms] * n
    else:
        out_ts = []
        for i, t in enumerate(stamps):
            if type(t) is int or (type(t) is float and math.isfinite(t)):
                out_ts.append(int(t))
            else:
                causes.add(f"metrics.timestamps[{i}]",
                           f"must be milliseconds since the epoch (a number), got {t!r}")
                break
        if out_ts and (min(out_ts) < 0 or max(out_ts) > _INT64[1]):
            causes.add("metrics.timestamps",
                       "must be milliseconds since the epoch (0 <= t < 2**63)")
    return keys, out_values, out_steps, out_ts


def _expand_runs(keys: dict[str, Any], causes: _Causes) -> list[str] | None:
    """``{"rle": [[key, count], ...]}``: the keys column run-length encoded, as the SDK sends
    it (its points come grouped by key)."""
    runs = keys.get("rle") if set(keys) == {"rle"} else None
    if not isinstance(runs, list):
        causes.add("metrics.keys", 'must be a list of strings, or {"rle": [[key, count], ...]}')
        return None
    total = 0
    for i, item in enumerate(runs):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and type(item[1]) is int and item[1] >= 0):
            causes.add(f"metrics.keys.rle[{i}]", f"must be [key, count >= 0], got {item!r}")
            return None
        total += item[1]
    if total > MAX_BATCH_POINTS:
        causes.add("metrics.keys.rle", f"must add up to at most {MAX_BATCH_POINTS} points per "
                   f"batch, got {total}")
        return None
    out: list[str] = []
    for key, count in runs:
        out.extend([key] * count)
    return out


def _parse_strings(field: str, raw: Any, causes: _Causes, *, max_len: int,
                   allow_none: bool, expected: str) -> dict[str, str]:
    """Params and tags: an object of key to short string; numbers (and for params, null) are
    written as their ``str``. Every bad entry is a cause naming ``<field>.<key>``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        causes.add(field, f"must be an object of key to value, got {type(raw).__name__}")
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        where = f"{field}.{key}"
        if not _check_key(key, where, causes):
            continue
        if isinstance(value, bool | int | float) or (allow_none and value is None):
            value = str(value)
        if not isinstance(value, str):
            causes.add(where, f"must be {expected}, got {type(value).__name__}")
            continue
        if len(value) > max_len:
            causes.add(where, f"must be no more than {max_len} characters, got {len(value)}")
            continue
        out[key] = value
    return out


def parse_batch(body: Any, *, now_ms: int | None = None) -> Batch:
    """Validate the wire form of a batch; raise ``Invalid`` whose causes name every bad field.

    ``{"batchId": str, "metrics": {"keys", "values", "steps", "timestamps"}, "params": {},
    "tags": {}, "end": {"phase": "Succeeded" | "Failed"}}``, every part optional. Metric
    values are numbers, or the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (NaN and
    ±inf are accepted, as MLflow does); steps default to 0 and timestamps (milliseconds) to now.
    A numeric column may also come packed, as the SDK sends it: ``{"f64": base64}`` for values,
    ``{"i64": base64}`` for steps and timestamps (little-endian, 8 bytes an item), which costs
    both sides a fraction of formatting and parsing a JSON number per point.
    Without ``batchId`` the server makes one up, and a retry may then be ingested twice.
    """
    if not isinstance(body, dict):
        raise Invalid(f"request body: must be a JSON object, got {type(body).__name__}")
    causes = _Causes()
    unknown = set(body) - {"batchId", "metrics", "params", "tags", "end"}
    for name in sorted(unknown):
        causes.add(name, "unknown field (expected batchId, metrics, params, tags, end)",
                   "FieldValueNotSupported")
    batch_id = body.get("batchId")
    if batch_id is None:
        batch_id = uuid.uuid4().hex
    elif not isinstance(batch_id, str) or not batch_id or len(batch_id) > BATCH_ID_MAX or \
            not _BATCH_ID.match(batch_id):
        causes.add("batchId", f"must be 1-{BATCH_ID_MAX} letters, digits, '_', '.', ':' or '-' "
                   f"(a UUID is best), got {batch_id!r}")
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    keys, values, steps, stamps = _parse_metrics(body.get("metrics"), causes, now)
    params = _parse_strings("params", body.get("params"), causes, max_len=PARAM_VALUE_MAX,
                            allow_none=True, expected="a string or a number")
    tags = _parse_strings("tags", body.get("tags"), causes, max_len=TAG_VALUE_MAX,
                          allow_none=False, expected="a string")
    end_phase: str | None = None
    end = body.get("end")
    if end is not None:
        phase = end.get("phase") if isinstance(end, dict) else None
        if phase not in END_PHASES:
            causes.add("end.phase", f"must be one of {', '.join(END_PHASES)}, got {phase!r}")
        else:
            end_phase = phase
    causes.raise_if_any()
    return Batch(batch_id=str(batch_id), keys=keys, values=values, steps=steps,
                 timestamps=stamps, params=params, tags=tags, end_phase=end_phase)


# -- the store ----------------------------------------------------------------------------


def _group(keys: list[str]) -> list[tuple[str, slice | list[int]]]:
    """Where each key's points are: a slice when they are contiguous (the SDK sends them
    grouped by key), else their indices; keys in first-seen order."""
    if keys and keys.count(keys[0]) == len(keys):
        return [(keys[0], slice(0, len(keys)))]
    runs: list[tuple[str, slice]] = []
    start = 0
    for key, items in itertools.groupby(keys):
        n = sum(1 for _ in items)
        runs.append((key, slice(start, start + n)))
        start += n
    if len({key for key, _ in runs}) == len(runs):
        return list(runs)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        got = groups.get(key)
        if got is None:
            groups[key] = [i]
        else:
            got.append(i)
    return list(groups.items())


def _summary(values: list[float], steps: list[int], stamps: list[int]) -> tuple[
        float | None, float | None, int, int, float]:
    finite = [v for v in values if v == v]  # NaN is left out of min and max
    lo = min(finite) if finite else None
    hi = max(finite) if finite else None
    # MLflow's "latest": the greatest step, then the greatest timestamp; later points win ties
    _, _, i = max(zip(steps, stamps, range(len(steps)), strict=True))
    return lo, hi, steps[i], stamps[i], values[i]


class TrackingStore:
    """Metric points, params, tags and run ends on one SQLite file; safe across threads and
    processes (every method takes one lock; every write is one ``BEGIN IMMEDIATE``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.expanduser(os.fspath(path))
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=_BUSY_TIMEOUT_MS / 1000)
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._version = 0  # bumped after every commit that added points (watchers wait on it)
        self._closed = False

    def __repr__(self) -> str:
        return f"TrackingStore({self.path!r})"

    def __enter__(self) -> TrackingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
        with self._changed:
            self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; open a new store")

    # -- writes ---------------------------------------------------------------------------
    def seen(self, namespace: str, run: str, batch_id: str) -> bool:
        """Whether ``batch_id`` was already ingested for the run (cheap; lets the server skip
        the rate limit for a retry that changes nothing)."""
        with self._lock:
            self._check_open()
            row = self._db.execute(
                "SELECT 1 FROM ingested_batches WHERE namespace = ? AND run = ? AND batch_id = ?",
                (namespace, run, batch_id)).fetchone()
        return row is not None

    def ingest(
        self,
        namespace: str,
        experiment: str | None,
        run: str,
        batch_id: str,
        metrics: Mapping[str, list[Any]] | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        end_phase: str | None = None,
        *,
        fixed_params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Ingest one batch in one transaction; return ``{"accepted": n, "duplicate": bool}``.

        ``metrics`` is column-oriented (``keys``, ``values``, ``steps``, ``timestamps``; the last
        two optional) and assumed valid (``parse_batch`` checks wire input). ``fixed_params``
        are params the Run was created with (its spec): logging a different value for one of
        them is a ``Conflict`` too. Raises ``Conflict`` for a param that is already set to
        another value; nothing of the batch is written then.
        """
        m = metrics or {}
        keys: list[str] = list(m.get("keys") or [])
        values: list[float] = list(m.get("values") or [])
        n = len(keys)
        steps: list[int] = list(m.get("steps") or [0] * n)
        now = time.time()
        stamps: list[int] = list(m.get("timestamps") or [int(now * 1000)] * n)
        if not (len(values) == len(steps) == len(stamps) == n):
            raise Invalid("metrics: keys, values, steps and timestamps must be equally long")
        params = dict(params or {})
        tags = dict(tags or {})
        exp = experiment or ""
        with self._lock:
            self._check_open()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT OR IGNORE INTO ingested_batches (namespace, run, batch_id, at) "
                    "VALUES (?, ?, ?, ?)", (namespace, run, batch_id, now))
                if cur.rowcount == 0:
                    db.execute("ROLLBACK")
                    return {"accepted": 0, "duplicate": True}
                if params:
                    self._check_params(namespace, run, params, fixed_params or {})
                    db.executemany(
                        "INSERT OR IGNORE INTO params (namespace, run, key, value) "
                        "VALUES (?, ?, ?, ?)",
                        [(namespace, run, k, v) for k, v in params.items()])
                if tags:
                    db.executemany(
                        "INSERT INTO tags (namespace, run, key, value) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (namespace, run, key) DO UPDATE SET value = excluded.value",
                        [(namespace, run, k, v) for k, v in tags.items()])
                if n:
                    self._write_points(namespace, exp, run, keys, values, steps, stamps, now)
                if end_phase is not None:
                    db.execute(
                        "INSERT INTO run_state (namespace, run, phase, ended_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (namespace, run) DO UPDATE SET "
                        "phase = excluded.phase, ended_at = excluded.ended_at",
                        (namespace, run, end_phase, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if n or end_phase:
            with self._changed:
                self._version += 1
                self._changed.notify_all()
        return {"accepted": n, "duplicate": False}

    def _check_params(self, namespace: str, run: str, params: dict[str, str],
                      fixed: Mapping[str, str]) -> None:
        holder = ",".join("?" * len(params))
        stored = dict(self._db.execute(
            f"SELECT key, value FROM params WHERE namespace = ? AND run = ? AND key IN ({holder})",
            (namespace, run, *params)).fetchall())
        causes = []
        for key, value in params.items():
            old = stored.get(key, fixed.get(key))
            if old is not None and old != value:
                causes.append(Cause(
                    f"params.{key}",
                    f"is already {old!r} for run {run!r}, got {value!r}: params are write-once, "
                    "as in MLflow (log it under another key, or start a new run)",
                    "FieldValueForbidden"))
        if causes:
            raise Conflict("; ".join(f"{c.field}: {c.message}" for c in causes),
                           causes=causes, kind="Run", name=run)

    def _series_id(self, namespace: str, experiment: str, run: str, key: str) -> int:
        row = self._db.execute(
            "SELECT id FROM series WHERE namespace = ? AND run = ? AND key = ?",
            (namespace, run, key)).fetchone()
        if row is not None:
            return int(row[0])
        cur = self._db.execute(
            "INSERT INTO series (namespace, run, key, experiment) VALUES (?, ?, ?, ?)",
            (namespace, run, key, experiment))
        return int(cur.lastrowid or 0)

    def _write_points(self, namespace: str, experiment: str, run: str, keys: list[str],
                      values: list[float], steps: list[int], stamps: list[int],
                      now: float) -> None:
        db = self._db
        parts: list[tuple[str, list[float], list[int], list[int]]] = []
        for key, where in _group(keys):
            if isinstance(where, slice):
                parts.append((key, values[where], steps[where], stamps[where]))
            else:
                parts.append((key, [values[i] for i in where], [steps[i] for i in where],
                              [stamps[i] for i in where]))
        seq = int(db.execute("SELECT value FROM meta WHERE name = 'seq'").fetchone()[0])
        chunk_rows = []
        for key, vals, stps, tss in parts:
            sid = self._series_id(namespace, experiment, run, key)
            count = len(vals)
            lo, hi, l_step, l_ts, l_val = _summary(vals, stps, tss)
            chunk_rows.append((sid, seq + 1, seq + count, array("q", stps).tobytes(),
                               array("q", tss).tobytes(), array("d", vals).tobytes()))
            seq += count
            db.execute(
                "UPDATE series SET count = count + ?, "
                "min = CASE WHEN ? IS NULL THEN min WHEN min IS NULL OR ? < min THEN ? "
                "ELSE min END, "
                "max = CASE WHEN ? IS NULL THEN max WHEN max IS NULL OR ? > max THEN ? "
                "ELSE max END, "
                "last_value = CASE WHEN last_step IS NULL OR ? > last_step OR "
                "(? = last_step AND ? >= last_ts) THEN ? ELSE last_value END, "
                "last_ts = CASE WHEN last_step IS NULL OR ? > last_step OR "
                "(? = last_step AND ? >= last_ts) THEN ? ELSE last_ts END, "
                "last_step = CASE WHEN last_step IS NULL OR ? > last_step OR "
                "(? = last_step AND ? >= last_ts) THEN ? ELSE last_step END, "
                "updated_at = ? WHERE id = ?",
                (count, lo, lo, lo, hi, hi, hi,
                 l_step, l_step, l_ts, None if l_val != l_val else l_val,
                 l_step, l_step, l_ts, l_ts,
                 l_step, l_step, l_ts, l_step,
                 now, sid))
        db.executemany(
            "INSERT INTO chunks (series, first_seq, last_seq, steps, ts, vals) "
            "VALUES (?, ?, ?, ?, ?, ?)", chunk_rows)
        db.execute("UPDATE meta SET value = ? WHERE name = 'seq'", (seq,))

    def ingest_batch(self, namespace: str, experiment: str | None, run: str, batch: Batch, *,
                     fixed_params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``ingest`` of a parsed ``Batch``."""
        return self.ingest(
            namespace, experiment, run, batch.batch_id,
            {"keys": batch.keys, "values": batch.values, "steps": batch.steps,
             "timestamps": batch.timestamps},
            batch.params, batch.tags, batch.end_phase, fixed_params=fixed_params)

    def ingest_spool_dir(self, path: str | os.PathLike[str], namespace: str,
                         experiment: str | None, run: str) -> dict[str, int]:
        """Ingest the SDK's leftover spool files for ``run`` and delete them.

        A spool file is ``<batchId>.json`` holding ``{"version": 1, "namespace", "run",
        "batch": <the wire batch>}``; files of other runs or namespaces are left alone. Safe to
        run again, or beside a process still replaying the same files: batch ids make every
        file count once. A file that cannot be parsed or is refused (e.g. a param conflict) is
        renamed ``*.rejected`` so it is not retried forever. Returns counts of ``files``,
        ``accepted`` points and ``duplicates``.
        """
        out = {"files": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
        root = Path(path)
        if not root.is_dir():
            return out
        for file in sorted(root.glob("*.json")):
            try:
                doc = json.loads(file.read_text())
            except FileNotFoundError:
                continue  # another replayer took it meanwhile
            except (OSError, ValueError):
                _reject(file)
                out["rejected"] += 1
                continue
            if not isinstance(doc, dict) or "batch" not in doc:
                _reject(file)
                out["rejected"] += 1
                continue
            if doc.get("namespace", namespace) != namespace or doc.get("run", run) != run:
                continue
            try:
                batch = parse_batch(doc["batch"])
                result = self.ingest_batch(namespace, experiment, run, batch)
            except (Invalid, Conflict):
                _reject(file)
                out["rejected"] += 1
                continue
            out["files"] += 1
            out["accepted"] += int(result["accepted"])
            out["duplicates"] += int(bool(result["duplicate"]))
            try:
                file.unlink()
            except FileNotFoundError:
                pass
        return out

    # -- reads ----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """Moves after every commit of this instance that added points or ended a run."""
        return self._version

    def wait(self, version: int, timeout: float) -> int:
        """Block until ``version`` moves on or ``timeout`` passes; return the current version.

        Only commits through this instance notify; a watcher must still re-read on timeout to
        see writes of other processes (or other instances on the same file).
        """
        with self._changed:
            if self._version == version and not self._closed:
                self._changed.wait(timeout)
            return self._version

    def points(self, namespace: str, *, run: str | None = None, experiment: str | None = None,
               key: str | None = None, after_seq: int = 0,
               limit: int = 10_000) -> list[dict[str, Any]]:
        """Points with ``seq > after_seq`` in seq order, at most ``limit``:
        ``{seq, run, key, step, timestamp (ms), value}``."""
        where = ["namespace = ?"]
        args: list[Any] = [namespace]
        for col, val in (("run", run), ("experiment", experiment), ("key", key)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        out: list[dict[str, Any]] = []
        cursor = after_seq
        with self._lock:
            self._check_open()
            series = {int(r[0]): (r[1], r[2]) for r in self._db.execute(
                f"SELECT id, run, key FROM series WHERE {' AND '.join(where)}", args)}
            if not series:
                return out
            ids = sorted(series)
            holder = ",".join("?" * len(ids)) if len(ids) <= 500 else None
            while len(out) < limit:
                if holder is not None:
                    rows = self._db.execute(
                        f"SELECT series, first_seq, last_seq, steps, ts, vals FROM chunks "
                        f"WHERE series IN ({holder}) AND last_seq > ? ORDER BY last_seq LIMIT ?",
                        (*ids, cursor, _CHUNK_FETCH)).fetchall()
                else:
                    rows = self._db.execute(
                        f"SELECT series, first_seq, last_seq, steps, ts, vals FROM chunks "
                        f"WHERE series IN (SELECT id FROM series WHERE {' AND '.join(where)}) "
                        f"AND last_seq > ? ORDER BY last_seq LIMIT ?",
                        (*args, cursor, _CHUNK_FETCH)).fetchall()
                if not rows:
                    break
                for sid, first, last, b_steps, b_ts, b_vals in rows:
                    s_run, s_key = series[int(sid)]
                    stps, tss, vals = array("q"), array("q"), array("d")
                    stps.frombytes(b_steps)
                    tss.frombytes(b_ts)
                    vals.frombytes(b_vals)
                    start = max(0, cursor - first + 1)
                    for i in range(start, last - first + 1):
                        out.append({"seq": first + i, "run": s_run, "key": s_key,
                                    "step": stps[i], "timestamp": tss[i], "value": vals[i]})
                        if len(out) >= limit:
                            break
                    cursor = last
                    if len(out) >= limit:
                        break
        return out

    def latest(self, namespace: str, run: str) -> dict[str, dict[str, Any]]:
        """Per metric key of the run: ``value``, ``step``, ``timestamp`` (ms) of the latest point
        (greatest step, then timestamp), ``count``, ``min``, ``max`` (NaN left out; None if
        every value was NaN), ``updatedAt`` (RFC 3339, when a point last arrived)."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT key, count, min, max, last_step, last_ts, last_value, updated_at, "
                "experiment FROM series WHERE namespace = ? AND run = ? AND count > 0 "
                "ORDER BY key", (namespace, run)).fetchall()
        return {
            key: {"value": math.nan if value is None else float(value), "step": step,
                  "timestamp": ts, "count": count, "min": lo, "max": hi,
                  "updatedAt": _iso(updated), "experiment": exp or None}
            for key, count, lo, hi, step, ts, value, updated, exp in rows
        }

    def params(self, namespace: str, run: str) -> dict[str, str]:
        with self._lock:
            self._check_open()
            return dict(self._db.execute(
                "SELECT key, value FROM params WHERE namespace = ? AND run = ? ORDER BY key",
                (namespace, run)).fetchall())

    def tags(self, namespace: str, run: str) -> dict[str, str]:
        with self._lock:
            self._check_open()
            return dict(self._db.execute(
                "SELECT key, value FROM tags WHERE namespace = ? AND run = ? ORDER BY key",
                (namespace, run)).fetchall())

    def run_state(self, namespace: str, run: str) -> dict[str, Any] | None:
        """``{"phase", "endedAt"}`` once the SDK ended the run, else None."""
        with self._lock:
            self._check_open()
            row = self._db.execute(
                "SELECT phase, ended_at FROM run_state WHERE namespace = ? AND run = ?",
                (namespace, run)).fetchone()
        return None if row is None else {"phase": row[0], "endedAt": _iso(row[1])}

    def last_seq(self) -> int:
        """The newest seq issued (a cursor for "from now on")."""
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT value FROM meta WHERE name = 'seq'").fetchone()[0])

    def delete_run(self, namespace: str, run: str) -> None:
        """Forget everything recorded for a run (its points, params, tags, batches, end)."""
        with self._lock:
            self._check_open()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM chunks WHERE series IN "
                           "(SELECT id FROM series WHERE namespace = ? AND run = ?)",
                           (namespace, run))
                for table in ("series", "params", "tags", "ingested_batches", "run_state"):
                    db.execute(f"DELETE FROM {table} WHERE namespace = ? AND run = ?",
                               (namespace, run))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise


def _reject(file: Path) -> None:
    try:
        file.rename(file.with_suffix(".rejected"))
    except OSError:
        pass
