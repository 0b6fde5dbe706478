"""What only the SQLite store promises: the file, its schema, history trimming, processes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from hanzo_ml_lab.api.errors import BadRequest, Gone
from hanzo_ml_lab.store import SQLiteStore, Store
from hanzo_ml_lab.store._migrations import MIGRATIONS, SchemaTooNew, latest_version

from .helpers import KIND, job, summary, take

NS = "team-a"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "store.db"  # the parent does not exist yet


def test_data_survives_closing_and_reopening_the_file(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        created = store.create(job("mnist", NS, labels={"a": "b"}))
        store.create(job("gone", NS))
        store.delete(KIND, NS, "gone")
        rv = store.current_resource_version()
    with SQLiteStore(db_path) as store:
        assert store.get(KIND, NS, "mnist") == created
        assert store.current_resource_version() == rv
        assert int(store.create(job("next", NS))["metadata"]["resourceVersion"]) > int(rv)
        stop = threading.Event()
        since = created["metadata"]["resourceVersion"]
        history = take(store.watch(KIND, NS, resource_version=since, stop=stop), 3, stop)
        assert summary(history) == [("ADDED", "gone"), ("DELETED", "gone"), ("ADDED", "next")]


def test_the_file_is_in_wal_mode_at_the_latest_schema(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()
    finally:
        conn.close()


def test_migrations_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_a_file_from_a_newer_schema_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade hanzo-ml-lab"):
        SQLiteStore(db_path)


def test_watch_from_a_compacted_version_is_gone(db_path: Path) -> None:
    with SQLiteStore(db_path, history_limit=3) as store:
        start = store.create(job("first", NS))["metadata"]["resourceVersion"]  # "1"
        for i in range(6):
            store.create(job(f"j{i}", NS))  # versions 2..7; events 5..7 are retained
        with pytest.raises(Gone) as e:
            store.watch(KIND, NS, resource_version=start)
        assert "compacted" in e.value.message
        # the oldest version still replayable is the one just before the retained history
        stop = threading.Event()
        got = take(store.watch(KIND, NS, resource_version="4", stop=stop), 3, stop)
        assert summary(got) == [("ADDED", "j3"), ("ADDED", "j4"), ("ADDED", "j5")]
        with pytest.raises(Gone):
            store.watch(KIND, NS, resource_version="3")


def test_resource_version_zero_lists_then_watches_even_after_compaction(db_path: Path) -> None:
    with SQLiteStore(db_path, history_limit=2) as store:
        for i in range(5):
            store.create(job(f"j{i}", NS))
        store.delete(KIND, NS, "j0")
        stop = threading.Event()
        got = take(store.watch(KIND, NS, resource_version="0", stop=stop), 4, stop)
        assert summary(got) == [("ADDED", f"j{i}") for i in range(1, 5)]


def test_a_watcher_that_falls_behind_the_history_gets_gone(db_path: Path) -> None:
    with SQLiteStore(db_path, history_limit=5) as store:
        store.create(job("first", NS))
        stop = threading.Event()
        events = store.watch(KIND, NS, stop=stop)
        assert next(iter(events)).type == "ADDED"
        for i in range(20):
            store.create(job(f"j{i}", NS))
        with pytest.raises(Gone, match="fell behind"):
            take(events, 10, stop)


def test_history_is_trimmed_to_the_limit_and_a_smaller_limit_applies_on_open(
    db_path: Path,
) -> None:
    with SQLiteStore(db_path, history_limit=50) as store:
        for i in range(30):
            store.create(job(f"j{i}", NS))
    with SQLiteStore(db_path, history_limit=10):
        pass
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*), min(rv) FROM events").fetchone() == (10, 21)
    finally:
        conn.close()


@pytest.mark.parametrize("version", ["abc", "-1", "1.5"])
def test_watch_from_a_malformed_version_is_a_bad_request(db_path: Path, version: str) -> None:
    with SQLiteStore(db_path) as store, pytest.raises(BadRequest):
        store.watch(KIND, NS, resource_version=version)


def test_watch_from_a_version_the_store_never_issued_is_gone(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.create(job("a", NS))
        with pytest.raises(Gone, match="newer"):
            store.watch(KIND, NS, resource_version="1000")


def test_a_continue_token_belongs_to_its_list(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        for name in "abc":
            store.create(job(name, NS))
        token = store.list(KIND, NS, limit=1).continue_token
        with pytest.raises(BadRequest):
            store.list("Sweep", NS, limit=1, continue_token=token)
        with pytest.raises(BadRequest):
            store.list(KIND, None, limit=1, continue_token=token)


def test_two_stores_on_one_file_share_versions_and_events(db_path: Path) -> None:
    with SQLiteStore(db_path) as one, SQLiteStore(db_path) as two:
        stop = threading.Event()
        events = two.watch(KIND, NS, resource_version=two.current_resource_version(), stop=stop)
        a = one.create(job("a", NS))
        b = two.create(job("b", NS))
        assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
        assert two.get(KIND, NS, "a") == a
        assert summary(take(events, 2, stop)) == [("ADDED", "a"), ("ADDED", "b")]
        # A write the watcher's own store did not make (as from another process) is seen too.
        one.create(job("c", NS))
        assert summary(take(events, 1, stop, timeout=3.0)) == [("ADDED", "c")]


def test_closing_the_store_ends_its_watches_and_refuses_further_calls(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    events = store.watch(KIND, NS, heartbeat_seconds=60)
    ended = threading.Event()

    def consume() -> None:
        for _ in events:
            pass
        ended.set()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.05)
    store.close()
    assert ended.wait(1.0)
    thread.join()
    store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        store.get(KIND, NS, "a")


def test_an_in_memory_store_works_for_throwaway_use() -> None:
    with SQLiteStore(":memory:") as store:
        store.create(job("a", NS))
        assert store.get(KIND, NS, "a")["metadata"]["resourceVersion"] == "1"


def test_sqlite_store_is_a_store(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        assert isinstance(store, Store)
    with pytest.raises(ValueError, match="history_limit"):
        SQLiteStore(db_path, history_limit=0)
