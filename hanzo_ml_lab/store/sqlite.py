"""The embedded store: one SQLite file (WAL) with the Kubernetes semantics of ``Store``.

Why it is built this way:

- **One connection, one lock.** The server calls the store from a threadpool and the controller
  from its own threads. SQLite serialises writers anyway; a single connection behind a lock
  keeps every write one ``BEGIN IMMEDIATE`` transaction with no "database is locked" retries
  inside the process, and reads are fast enough not to need a pool.
- **Every resourceVersion is one event.** A global counter is bumped once per changed object
  (a cascade that removes three objects issues three versions), and each version is a row of
  ``events``. That row is what a watch replays, so "replay, then live" is a single ordered scan
  by rv with nothing missed at the seam. The history is trimmed to ``history_limit`` events;
  ``counters.compacted`` remembers how far, which is where ``Gone`` comes from.
- **Watchers are woken, then read.** A commit notifies a ``threading.Condition``; woken
  watchers read the new rows from ``events``. They also re-read every half second without a
  wake-up, so writes made by another process on the same file are seen too.
- **A write that changes nothing is not a write.** As in Kubernetes, an update or patch that
  leaves the object as it was returns it without moving resourceVersion or emitting an event,
  which keeps idempotent reconcilers from waking themselves up.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import secrets
import sqlite3
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from hanzo_ml_lab.api.errors import (
    AlreadyExists,
    BadRequest,
    Cause,
    Conflict,
    Gone,
    Invalid,
    NotFound,
)
from hanzo_ml_lab.store._base import ListResult, Store, WatchEvent
from hanzo_ml_lab.store._merge import merge_patch
from hanzo_ml_lab.store._migrations import migrate
from hanzo_ml_lab.store._selectors import (
    Selector,
    label_key_error,
    label_value_error,
    parse_selector,
)

__all__ = ["SQLiteStore"]

T = TypeVar("T")
Body = dict[str, Any]
# Aliases for annotations inside SQLiteStore, where ``list`` names the method.
_Bodies = list[Body]
_EventRows = list[tuple[str, str, str | None]]

# The group every Kind lives in (``hanzo_ml_lab.api._base.API_VERSION``), written into BOOKMARK
# objects. Not imported, so that opening a store does not pull in the pydantic models.
_API_VERSION = "hanzo.ai/v1"

# Metadata the store owns: a caller's values are ignored (resourceVersion is a precondition).
_STORE_OWNED = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
     "deletionGracePeriodSeconds"}
)
# Metadata fixed at create time.
_IMMUTABLE = frozenset({"name", "namespace", "generateName"})
# Top-level fields that are not "spec" for the purpose of ``generation`` (as for a custom
# resource with a status subresource: everything but metadata and status counts).
_NOT_SPEC = frozenset({"apiVersion", "kind", "metadata", "status"})

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_GENERATE_ATTEMPTS = 8
_NAME_MAX = 63
_EVENT_BATCH = 256
_STOP_TICK = 0.1  # how often a waiting watcher checks its stop event
_REREAD = 0.5  # how often an idle watcher re-reads events (writes by other processes)
_BUSY_TIMEOUT_MS = 10_000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _spec_part(body: Body) -> Body:
    return {k: v for k, v in body.items() if k not in _NOT_SPEC}


def _copy_in(value: Any, what: str) -> Any:
    """A private deep copy of caller data, which must be JSON (the store keeps JSON)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise BadRequest(f"{what} must be plain JSON: {e}") from e


def _ref(kind: str, name: str) -> str:
    return f'{kind} "{name}"'


def _meta(body: Body) -> Body:
    meta: Body = body["metadata"]
    return meta


def _labels(body: Body) -> dict[str, str]:
    labels: dict[str, str] = body["metadata"].get("labels") or {}
    return labels


class _Tx:
    """What one write transaction has issued so far."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.rv = int(
            db.execute("SELECT value FROM counters WHERE name = 'resource_version'").fetchone()[0]
        )
        self.first_rv = self.rv

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv


class SQLiteStore(Store):
    """``Store`` on a SQLite file; safe to share between threads (and between processes).

    ``history_limit`` is how many events a watch can replay; a watch from an older
    resourceVersion raises ``Gone``. ``path`` may be ``":memory:"`` for a throwaway store.
    """

    def __init__(self, path: str | os.PathLike[str], *, history_limit: int = 100_000) -> None:
        if history_limit < 1:
            raise ValueError(f"history_limit: must be >= 1, got {history_limit}")
        self.path = os.path.expanduser(os.fspath(path))
        self.history_limit = history_limit
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path,
            isolation_level=None,  # autocommit: transactions are explicit BEGIN ... COMMIT
            check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            migrate(db, self.path)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._commits = 0  # bumped (under _changed) after every commit that issued a version
        self._closed = False
        # A smaller history_limit than the file was last used with takes effect at once.
        self._transaction(lambda tx: None)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; open a new store")

    def _transaction(self, work: Callable[[_Tx], T]) -> T:
        """Run ``work`` as one write transaction; wake watchers if it issued versions."""
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                tx = _Tx(self._db)
                result = work(tx)
                if tx.rv != tx.first_rv:
                    self._db.execute(
                        "UPDATE counters SET value = ? WHERE name = 'resource_version'", (tx.rv,)
                    )
                self._trim(tx.rv)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if tx.rv != tx.first_rv:
            with self._changed:
                self._commits += 1
                self._changed.notify_all()
        return result

    def _trim(self, rv: int) -> None:
        horizon = rv - self.history_limit
        compacted = self._counter("compacted")
        if horizon > compacted:
            self._db.execute("DELETE FROM events WHERE rv <= ?", (horizon,))
            self._db.execute("UPDATE counters SET value = ? WHERE name = 'compacted'", (horizon,))

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def _load(self, kind: str, namespace: str, name: str) -> Body | None:
        row = self._db.execute(
            "SELECT body FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
            (kind, namespace, name),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def _load_or_404(self, kind: str, namespace: str, name: str) -> Body:
        body = self._load(kind, namespace, name)
        if body is None:
            raise NotFound(
                f'{_ref(kind, name)} not found in namespace "{namespace}"', kind=kind, name=name
            )
        return body

    def _save(self, tx: _Tx, body: Body, event: Literal["ADDED", "MODIFIED"],
              previous: Body | None) -> Body:
        """Write ``body`` under a new resourceVersion and record the event."""
        meta = _meta(body)
        rv = tx.next_rv()
        meta["resourceVersion"] = str(rv)
        kind, namespace, name = body["kind"], meta["namespace"], meta["name"]
        text = _dumps(body)
        self._db.execute(
            "INSERT INTO objects (kind, namespace, name, uid, rv, labels, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, namespace, name) DO UPDATE SET"
            " uid = excluded.uid, rv = excluded.rv, labels = excluded.labels,"
            " body = excluded.body",
            (kind, namespace, name, meta["uid"], rv, _dumps(_labels(body)), text),
        )
        owners_before = None if previous is None else _meta(previous).get("ownerReferences")
        if previous is None or owners_before != meta.get("ownerReferences"):
            self._db.execute(
                "DELETE FROM owner_refs WHERE kind = ? AND namespace = ? AND name = ?",
                (kind, namespace, name),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO owner_refs (owner_uid, kind, namespace, name)"
                " VALUES (?, ?, ?, ?)",
                [(ref["uid"], kind, namespace, name) for ref in meta.get("ownerReferences") or []],
            )
        self._db.execute(
            "INSERT INTO events (rv, type, kind, namespace, name, prev_labels, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rv, event, kind, namespace, name,
             None if previous is None else _dumps(_labels(previous)), text),
        )
        return body

    def _remove(self, tx: _Tx, body: Body) -> Body:
        """Remove ``body`` for good, then collect what it owned; return it as removed."""
        queue = [body]
        queued = {(body["kind"], _meta(body)["namespace"], _meta(body)["name"])}
        while queue:
            gone = queue.pop(0)
            meta = _meta(gone)
            kind, namespace, name = gone["kind"], meta["namespace"], meta["name"]
            rv = tx.next_rv()
            meta["resourceVersion"] = str(rv)
            self._db.execute(
                "DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                (kind, namespace, name),
            )
            self._db.execute(
                "DELETE FROM owner_refs WHERE kind = ? AND namespace = ? AND name = ?",
                (kind, namespace, name),
            )
            self._db.execute(
                "INSERT INTO events (rv, type, kind, namespace, name, prev_labels, body)"
                " VALUES (?, 'DELETED', ?, ?, ?, NULL, ?)",
                (rv, kind, namespace, name, _dumps(gone)),
            )
            dependents = self._db.execute(
                "SELECT kind, namespace, name FROM owner_refs WHERE owner_uid = ?"
                " ORDER BY kind, namespace, name",
                (meta["uid"],),
            ).fetchall()
            for key in dependents:
                if key in queued:
                    continue
                child = self._load(*key)
                if child is None:
                    continue
                if self._orphan(tx, child, meta["uid"]):
                    continue
                if _meta(child).get("deletionTimestamp"):
                    continue  # already waiting for its finalizers
                if _meta(child).get("finalizers"):
                    self._begin_deletion(tx, child)
                else:
                    queued.add(key)
                    queue.append(child)
        return body

    def _orphan(self, tx: _Tx, child: Body, owner_uid: str) -> bool:
        """If ``child`` has another owner still alive, drop the dangling reference and keep it.

        Kubernetes' garbage collector deletes a dependent only once all its owners are gone.
        """
        refs = _meta(child).get("ownerReferences") or []
        others = [r for r in refs if r.get("uid") != owner_uid]
        alive = any(
            self._db.execute("SELECT 1 FROM objects WHERE uid = ?", (r["uid"],)).fetchone()
            for r in others
        )
        if not alive:
            return False
        previous = copy.deepcopy(child)
        _meta(child)["ownerReferences"] = others
        self._save(tx, child, "MODIFIED", previous)
        return True

    def _begin_deletion(self, tx: _Tx, body: Body) -> Body:
        previous = copy.deepcopy(body)
        meta = _meta(body)
        meta["deletionTimestamp"] = _now()
        meta["generation"] = int(meta.get("generation", 1)) + 1
        return self._save(tx, body, "MODIFIED", previous)

    @staticmethod
    def _check_precondition(current: Body, wanted: Any) -> None:
        if wanted is None or wanted == "":
            return
        have = _meta(current)["resourceVersion"]
        if str(wanted) != have:
            kind, name = current["kind"], _meta(current)["name"]
            raise Conflict(
                f"{_ref(kind, name)}: the object has been modified; resourceVersion {wanted} "
                f"is stale (current {have}); re-read and apply your change again",
                kind=kind,
                name=name,
            )

    def _commit_change(self, tx: _Tx, old: Body, new: Body) -> Body:
        """Write ``new`` over ``old``: generation, finalizer rules, no-op and final removal."""
        kind, name = old["kind"], _meta(old)["name"]
        meta = _meta(new)
        if _meta(old).get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(_meta(old).get("finalizers") or [])
            if added:
                why = (f"no new finalizers can be added while the object is being deleted, "
                       f"found new finalizers {sorted(added)}")
                raise Invalid(
                    f"{_ref(kind, name)} is invalid: metadata.finalizers: Forbidden: {why}",
                    causes=[Cause("metadata.finalizers", why, "FieldValueForbidden")],
                    kind=kind,
                    name=name,
                )
        if _canonical(_spec_part(new)) != _canonical(_spec_part(old)):
            meta["generation"] = int(_meta(old).get("generation", 1)) + 1
        if new == old:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(tx, new)
        return self._save(tx, new, "MODIFIED", old)

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _key(obj: Any) -> tuple[str, str, str]:
        if not isinstance(obj, dict):
            raise BadRequest("the object must be a JSON object with kind and metadata")
        kind, meta = obj.get("kind"), obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        name, namespace = meta.get("name"), meta.get("namespace")
        causes = []
        if not isinstance(kind, str) or not kind:
            causes.append(Cause("kind", "Required value", "FieldValueRequired"))
        if not isinstance(name, str) or not name:
            causes.append(Cause("metadata.name", "Required value", "FieldValueRequired"))
        if not isinstance(namespace, str) or not namespace:
            causes.append(Cause("metadata.namespace", "Required value", "FieldValueRequired"))
        if causes:
            raise Invalid(
                "object is invalid: " + "; ".join(f"{c.field}: {c.message}" for c in causes),
                causes=causes,
                kind=kind if isinstance(kind, str) else None,
                name=name if isinstance(name, str) else None,
            )
        return kind, namespace, name  # type: ignore[return-value]

    @staticmethod
    def _check_metadata(kind: str, name: str, meta: Body) -> None:
        """The metadata the store itself relies on (labels, finalizers, owners) must be sane."""
        causes: list[Cause] = []
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is None:
                continue
            if not isinstance(value, dict):
                causes.append(Cause(f"metadata.{field}", "must be an object of strings"))
                continue
            for k, v in value.items():
                path = f"metadata.{field}.{k}"
                if not isinstance(v, str):
                    causes.append(Cause(path, f"must be a string, got {type(v).__name__}"))
                    continue
                why = label_key_error(k) or (label_value_error(v) if field == "labels" else None)
                if why:
                    causes.append(Cause(path, why))
        finalizers = meta.get("finalizers")
        if finalizers is not None and (
            not isinstance(finalizers, list)
            or not all(isinstance(f, str) and f for f in finalizers)
        ):
            causes.append(Cause("metadata.finalizers", "must be a list of non-empty strings"))
        owners = meta.get("ownerReferences")
        if owners is not None:
            if not isinstance(owners, list):
                causes.append(Cause("metadata.ownerReferences", "must be a list"))
            else:
                for i, ref in enumerate(owners):
                    for field in ("apiVersion", "kind", "name", "uid"):
                        if not isinstance(ref, dict) or not isinstance(ref.get(field), str) \
                                or not ref[field]:
                            causes.append(Cause(f"metadata.ownerReferences[{i}].{field}",
                                                "Required value", "FieldValueRequired"))
        if causes:
            raise Invalid(
                f"{_ref(kind, name)} is invalid: "
                + "; ".join(f"{c.field}: {c.message}" for c in causes),
                causes=causes,
                kind=kind,
                name=name,
            )

    @staticmethod
    def _clean_metadata(meta: Body) -> Body:
        """The caller-owned part of ``meta``; a ``null`` is the same as leaving a field out."""
        return {
            k: v for k, v in meta.items()
            if k not in _STORE_OWNED and k not in _IMMUTABLE and v is not None
        }

    def _desired(self, old: Body, obj: Body) -> Body:
        """``old`` with metadata and spec taken from ``obj``; identity and status kept."""
        old_meta = _meta(old)
        meta = {k: v for k, v in old_meta.items() if k in _IMMUTABLE or k in _STORE_OWNED}
        given = obj.get("metadata")
        meta.update(self._clean_metadata(given if isinstance(given, dict) else {}))
        self._check_metadata(old["kind"], old_meta["name"], meta)
        new: Body = {"apiVersion": old.get("apiVersion"), "kind": old["kind"], "metadata": meta}
        if new["apiVersion"] is None:
            del new["apiVersion"]
        new.update(_spec_part(obj))
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        return new

    # ------------------------------------------------------------------ Store

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = _copy_in(obj, "the object")
        if not isinstance(obj, dict):
            raise BadRequest("the object must be a JSON object with kind and metadata")
        given: Body = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
        generate = given.get("generateName")
        if not isinstance(generate, str):
            generate = ""
        if not given.get("name") and generate:
            # Validate everything but the name, which is made inside the transaction.
            self._key({**obj, "metadata": {**given, "name": generate}})
        else:
            self._key(obj)
        kind: str = obj["kind"]
        namespace: str = given["namespace"]
        extra = self._clean_metadata(given)
        self._check_metadata(kind, given.get("name") or generate, extra)

        def work(tx: _Tx) -> Body:
            name = given.get("name")
            if name:
                if self._load(kind, namespace, name) is not None:
                    raise AlreadyExists(
                        f'{_ref(kind, name)} already exists in namespace "{namespace}"; '
                        "choose another metadata.name or use metadata.generateName",
                        kind=kind,
                        name=name,
                    )
            else:
                base = generate[: _NAME_MAX - 5]
                for _ in range(_GENERATE_ATTEMPTS):
                    name = base + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
                    if self._load(kind, namespace, name) is None:
                        break
                else:
                    raise AlreadyExists(
                        f"{kind}: no free name with metadata.generateName {generate!r} after "
                        f"{_GENERATE_ATTEMPTS} tries; use a longer or different prefix",
                        kind=kind,
                    )
            meta: Body = {"name": name}
            if generate:
                meta["generateName"] = generate
            meta.update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                resourceVersion="",
                generation=1,
                creationTimestamp=_now(),
            )
            meta.update(extra)
            body: Body = {}
            if "apiVersion" in obj:
                body["apiVersion"] = obj["apiVersion"]
            body["kind"] = kind
            body["metadata"] = meta
            body.update(_spec_part(obj))  # status is the controller's: ignored on create
            return self._save(tx, body, "ADDED", None)

        return copy.deepcopy(self._transaction(work))

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            return self._load_or_404(kind, namespace, name)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        selector = parse_selector(label_selector)
        after = _decode_continue(continue_token, kind, namespace)
        sql = "SELECT rowid, namespace, name, labels FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        if after is not None:
            sql += " AND (namespace > ? OR (namespace = ? AND name > ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY namespace, name"
        page_size = limit if limit is not None and limit > 0 else None
        with self._lock:
            self._check_open()
            current = self._counter("resource_version")
            page: list[tuple[int, str, str]] = []
            remaining = 0
            for rowid, ns, name, labels in self._db.execute(sql, args):
                if not selector.empty and not selector.matches(json.loads(labels)):
                    continue
                if page_size is None or len(page) < page_size:
                    page.append((rowid, ns, name))
                else:
                    remaining += 1
            items = [
                json.loads(
                    self._db.execute("SELECT body FROM objects WHERE rowid = ?", (rowid,))
                    .fetchone()[0]
                )
                for rowid, _, _ in page
            ]
        token = None
        if remaining:
            _, last_ns, last_name = page[-1]
            token = _encode_continue(kind, namespace, last_ns, last_name)
        return ListResult(
            items=items,
            resource_version=str(current),
            continue_token=token,
            remaining_item_count=remaining if token else None,
        )

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = _copy_in(obj, "the object")
        kind, namespace, name = self._key(obj)
        wanted = obj["metadata"].get("resourceVersion")

        def work(tx: _Tx) -> Body:
            old = self._load_or_404(kind, namespace, name)
            self._check_precondition(old, wanted)
            return self._commit_change(tx, old, self._desired(old, obj))

        return copy.deepcopy(self._transaction(work))

    def update_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = _copy_in(obj, "the object")
        kind, namespace, name = self._key(obj)
        wanted = obj["metadata"].get("resourceVersion")

        def work(tx: _Tx) -> Body:
            old = self._load_or_404(kind, namespace, name)
            self._check_precondition(old, wanted)
            new = copy.deepcopy(old)
            if obj.get("status") is None:
                new.pop("status", None)
            else:
                new["status"] = obj["status"]
            return self._commit_change(tx, old, new)

        return copy.deepcopy(self._transaction(work))

    def patch(
        self,
        kind: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: Literal["status"] | None = None,
    ) -> dict[str, Any]:
        if subresource not in (None, "status"):
            raise BadRequest(f"subresource: must be 'status' or None, got {subresource!r}")
        patch = _copy_in(patch, "the patch")
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch (RFC 7386) must be a JSON object")
        pmeta = patch.get("metadata")
        wanted = None
        if isinstance(pmeta, dict):
            wanted = pmeta.pop("resourceVersion", None)
            for field, value in (("name", name), ("namespace", namespace)):
                if pmeta.get(field) not in (None, value):
                    raise BadRequest(
                        f"metadata.{field}: the patch says {pmeta[field]!r} but it is applied "
                        f"to {value!r}; {field} cannot be changed"
                    )
        if patch.get("kind") not in (None, kind):
            raise BadRequest(f"kind: the patch says {patch['kind']!r} but it is applied to {kind}")

        def work(tx: _Tx) -> Body:
            old = self._load_or_404(kind, namespace, name)
            self._check_precondition(old, wanted)
            merged = merge_patch(old, patch)
            if subresource == "status":
                new = copy.deepcopy(old)
                if merged.get("status") is None:
                    new.pop("status", None)
                else:
                    new["status"] = merged["status"]
            else:
                new = self._desired(old, merged)
            return self._commit_change(tx, old, new)

        return copy.deepcopy(self._transaction(work))

    def delete(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        def work(tx: _Tx) -> Body | None:
            old = self._load_or_404(kind, namespace, name)
            self._check_precondition(old, resource_version)
            if _meta(old).get("deletionTimestamp"):
                return old  # deletion already pending: nothing more to do
            if _meta(old).get("finalizers"):
                return self._begin_deletion(tx, old)
            self._remove(tx, old)
            return None

        return copy.deepcopy(self._transaction(work))

    def current_resource_version(self) -> str:
        with self._lock:
            self._check_open()
            return str(self._counter("resource_version"))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
        with self._changed:
            self._commits += 1
            self._changed.notify_all()

    # ------------------------------------------------------------------ watch

    def watch(
        self,
        kind: str | None = None,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        stop: threading.Event | None = None,
        heartbeat_seconds: float = 15.0,
    ) -> Iterator[WatchEvent]:
        """See ``Store.watch``. Errors in the arguments are raised here, at the call.

        ``resource_version`` ``"0"`` means "from any point", which, as in Kubernetes, is served
        like no version at all: ``ADDED`` for what exists now, then live events. A
        selector-filtered watch sees an object whose labels stop matching as ``DELETED`` and one
        that starts matching as ``ADDED``.
        """
        selector = parse_selector(label_selector)
        wanted: int | None = None
        if resource_version not in (None, "", "0"):
            try:
                wanted = int(str(resource_version))
                if wanted < 0:
                    raise ValueError
            except ValueError:
                raise BadRequest(
                    f"resourceVersion: {resource_version!r} is not one this store issued; "
                    "use the resourceVersion of a list or of an event"
                ) from None
        with self._lock:
            self._check_open()
            current = self._counter("resource_version")
            compacted = self._counter("compacted")
            if wanted is not None and wanted > current:
                raise Gone(
                    f"resourceVersion {wanted} is newer than the store's {current} (was the "
                    "store reset?); list again and watch from the list's resourceVersion"
                )
            if wanted is not None and wanted < compacted:
                raise Gone(
                    f"resourceVersion {wanted} is too old: the history before {compacted + 1} "
                    "has been compacted; list again and watch from the list's resourceVersion"
                )
            initial: _Bodies = []
            if wanted is None:
                sql = "SELECT labels, body FROM objects"
                clauses, args = _scope(kind, namespace)
                if clauses:
                    sql += " WHERE " + " AND ".join(clauses)
                sql += " ORDER BY kind, namespace, name"
                initial = [
                    json.loads(body) for labels, body in self._db.execute(sql, args)
                    if selector.empty or selector.matches(json.loads(labels))
                ]
                start = current
            else:
                start = wanted
        return self._follow(kind, namespace, selector, start, initial, stop, heartbeat_seconds)

    def _read_events(
        self, kind: str | None, namespace: str | None, after: int
    ) -> tuple[_EventRows, int] | None:
        """Events after ``after`` and the version read up to; ``None`` once the store closed."""
        clauses, args = _scope(kind, namespace)
        with self._lock:
            if self._closed:
                return None
            current = self._counter("resource_version")
            compacted = self._counter("compacted")
            if after < compacted:
                raise Gone(
                    f"watch fell behind: events after resourceVersion {after} have been "
                    f"compacted (history keeps {self.history_limit}); list and watch again"
                )
            sql = ("SELECT rv, type, body, prev_labels FROM events WHERE rv > ? AND rv <= ?"
                   + "".join(f" AND {c}" for c in clauses) + f" ORDER BY rv LIMIT {_EVENT_BATCH}")
            rows = self._db.execute(sql, [after, current, *args]).fetchall()
        upto = rows[-1][0] if len(rows) == _EVENT_BATCH else current
        return [(t, b, p) for _, t, b, p in rows], upto

    def _follow(
        self,
        kind: str | None,
        namespace: str | None,
        selector: Selector,
        start: int,
        initial: _Bodies,
        stop: threading.Event | None,
        heartbeat_seconds: float,
    ) -> Iterator[WatchEvent]:
        def stopped() -> bool:
            return self._closed or (stop is not None and stop.is_set())

        last_sent = time.monotonic()
        for body in initial:
            if stopped():
                return
            yield WatchEvent("ADDED", body)
            last_sent = time.monotonic()

        position = start
        seen_commits = -1
        last_read = 0.0
        while not stopped():
            with self._changed:
                commits = self._commits
            if commits != seen_commits or time.monotonic() - last_read >= _REREAD:
                last_read = time.monotonic()
                read = self._read_events(kind, namespace, position)
                if read is None:
                    return
                rows, upto = read
                for event_type, body_text, prev_labels in rows:
                    event = _filter(event_type, json.loads(body_text), prev_labels, selector)
                    if event is None:
                        continue
                    if stopped():
                        return
                    yield event
                    last_sent = time.monotonic()
                position = upto
                # A full batch means more are waiting: read again before sleeping.
                seen_commits = commits if len(rows) < _EVENT_BATCH else -1
                continue
            if heartbeat_seconds > 0 and time.monotonic() - last_sent >= heartbeat_seconds:
                bookmark: Body = {"apiVersion": _API_VERSION,
                                  "metadata": {"resourceVersion": str(position)}}
                if kind is not None:
                    bookmark["kind"] = kind
                yield WatchEvent("BOOKMARK", bookmark)
                last_sent = time.monotonic()
                continue
            timeout = _STOP_TICK
            if heartbeat_seconds > 0:
                timeout = min(timeout, max(0.0, heartbeat_seconds - (time.monotonic() - last_sent)))
            with self._changed:
                if self._commits == seen_commits:
                    self._changed.wait(timeout)


def _scope(kind: str | None, namespace: str | None) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if kind is not None:
        clauses.append("kind = ?")
        args.append(kind)
    if namespace is not None:
        clauses.append("namespace = ?")
        args.append(namespace)
    return clauses, args


def _filter(event_type: str, body: Body, prev_labels: str | None,
            selector: Selector) -> WatchEvent | None:
    """The event as a watcher with ``selector`` sees it (objects move in and out of view)."""
    if selector.empty:
        return WatchEvent(event_type, body)  # type: ignore[arg-type]
    now = selector.matches(_labels(body))
    if event_type == "MODIFIED" and prev_labels is not None:
        before = selector.matches(json.loads(prev_labels))
        if before and not now:
            return WatchEvent("DELETED", body)
        if now and not before:
            return WatchEvent("ADDED", body)
    return WatchEvent(event_type, body) if now else None  # type: ignore[arg-type]


# ---------------------------------------------------------------------- continue tokens

def _encode_continue(kind: str, namespace: str | None, last_ns: str, last_name: str) -> str:
    raw = _dumps({"v": 1, "kind": kind, "ns": namespace, "after": [last_ns, last_name]})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_continue(token: str | None, kind: str, namespace: str | None) -> tuple[str, str] | None:
    """The (namespace, name) a page ended at; ``BadRequest`` for a token not made by ``list``."""
    if not token:
        return None
    bad = BadRequest(
        f"continue: {token[:40]!r} is not a continue token of this list; pass the "
        "metadata.continue of the previous page unchanged, with the same kind and namespace"
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, UnicodeError, ValueError):
        raise bad from None
    if not isinstance(data, dict) or data.get("v") != 1 or data.get("kind") != kind \
            or data.get("ns") != namespace:
        raise bad
    after = data.get("after")
    if not (isinstance(after, list) and len(after) == 2 and all(isinstance(a, str) for a in after)):
        raise bad
    return after[0], after[1]
