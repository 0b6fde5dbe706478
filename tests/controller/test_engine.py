"""The engine's promises: one key at a time, deduplicated, retried with backoff, idempotent."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from hanzo_ml_lab.controller.engine import Engine, Key, PermanentError
from hanzo_ml_lab.controller.queue import WorkQueue
from hanzo_ml_lab.controller.reconcilers import ExperimentReconciler, ModelReconciler
from hanzo_ml_lab.store import SQLiteStore
from tests.conftest import wait_for


def test_a_key_added_twice_is_queued_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2


def test_a_key_being_processed_is_not_handed_out_again_but_requeued_after() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(timeout=0.1) == "a"
    q.add("a")  # changed while a worker holds it
    assert q.get(timeout=0.05) is None, "a second worker must not get the same key"
    q.done("a")
    assert q.get(timeout=0.1) == "a"


def test_failures_back_off_exponentially_until_forgotten() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=1.0)
    delays = [q.add_rate_limited("k") for _ in range(4)]
    assert delays == [0.01, 0.02, 0.04, 0.08]
    q.forget("k")
    assert q.add_rate_limited("k") == 0.01


def test_delayed_keys_come_out_when_due() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("later", 0.15)
    assert q.get(timeout=0.05) is None
    assert q.get(timeout=1.0) == "later"


class Recorder:
    kind = "Experiment"
    watches: list[Any] = []

    def __init__(self, fail_times: int = 0, permanent: bool = False) -> None:
        self.calls: list[Key] = []
        self.fail_times = fail_times
        self.permanent = permanent
        self.concurrent = 0
        self.max_concurrent = 0
        self.lock = threading.Lock()

    def reconcile(self, key: Key) -> float | None:
        with self.lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            self.calls.append(key)
            time.sleep(0.01)
            if self.permanent:
                raise PermanentError("spec can never work")
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("transient")
            return None
        finally:
            with self.lock:
                self.concurrent -= 1


def _exp(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "hanzo.ai/v1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": "tenant-acme"},
        "spec": {},
    }


def test_engine_retries_ordinary_errors_and_never_runs_a_key_twice_at_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    rec = Recorder(fail_times=3)
    engine = Engine(store, [rec], workers=4, resync_seconds=3600)
    engine.queue = WorkQueue(base_delay=0.01)
    engine.start()
    try:
        store.create(_exp("e"))
        for i in range(20):
            store.update(
                {**store.get("Experiment", "tenant-acme", "e"), "spec": {"description": str(i)}}
            )
        wait_for(
            lambda: rec.fail_times == 0 and len(rec.calls) >= 4, 10, message="retries to run out"
        )
        time.sleep(0.2)
        assert rec.max_concurrent == 1
    finally:
        engine.stop()
        store.close()


def test_permanent_errors_are_not_retried(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    rec = Recorder(permanent=True)
    engine = Engine(store, [rec], workers=1, resync_seconds=3600)
    engine.start()
    try:
        store.create(_exp("e"))
        wait_for(lambda: len(rec.calls) >= 1, 5, message="first reconcile")
        time.sleep(0.3)
        assert len(rec.calls) == 1
    finally:
        engine.stop()
        store.close()


def test_reconciling_a_converged_object_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(_exp("e"))
    store.create(
        {
            "apiVersion": "hanzo.ai/v1",
            "kind": "Model",
            "metadata": {"name": "m", "namespace": "tenant-acme"},
            "spec": {
                "framework": "sklearn",
                "versions": [
                    {
                        "name": "v1",
                        "artifact": "vfs://tenant-acme/m/v1",
                        "createdAt": "2026-01-01T00:00:00Z",
                    }
                ],
            },
        }
    )
    for rec, kind, name in (
        (ExperimentReconciler(store), "Experiment", "e"),
        (ModelReconciler(store), "Model", "m"),
    ):
        rec.reconcile(Key(kind, "tenant-acme", name))
        after_first = store.current_resource_version()
        rec.reconcile(Key(kind, "tenant-acme", name))
        assert store.current_resource_version() == after_first, kind
    model = store.get("Model", "tenant-acme", "m")
    assert model["status"]["phase"] == "Available"
    assert model["status"]["currentVersion"] == "v1"
    store.close()


def test_a_child_change_wakes_its_owner(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    rec = Recorder()
    engine = Engine(store, [rec], workers=1, resync_seconds=3600)
    engine.start()
    try:
        exp = store.create(_exp("owner"))
        wait_for(lambda: len(rec.calls) >= 1, 5, message="initial reconcile")
        before = len(rec.calls)
        store.create(
            {
                "apiVersion": "hanzo.ai/v1",
                "kind": "Run",
                "metadata": {
                    "name": "r",
                    "namespace": "tenant-acme",
                    "ownerReferences": [
                        {
                            "apiVersion": "hanzo.ai/v1",
                            "kind": "Experiment",
                            "name": "owner",
                            "uid": exp["metadata"]["uid"],
                        }
                    ],
                },
                "spec": {},
            }
        )
        wait_for(lambda: len(rec.calls) > before, 5, message="owner requeued by its child")
    finally:
        engine.stop()
        store.close()
