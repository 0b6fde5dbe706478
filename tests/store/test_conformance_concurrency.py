"""Many threads writing at once: every write lands, once, under its own resourceVersion."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from hanzo_ml_lab.api.errors import Conflict
from hanzo_ml_lab.store import Store

from .helpers import KIND, job

THREADS = 8
PER_THREAD = 15


def test_concurrent_creates_all_land_with_distinct_resource_versions(store: Store,
                                                                     ns: str) -> None:
    def work(t: int) -> list[str]:
        return [store.create(job(f"t{t}-{i}", ns))["metadata"]["resourceVersion"]
                for i in range(PER_THREAD)]

    with ThreadPoolExecutor(THREADS) as pool:
        versions = [rv for rvs in pool.map(work, range(THREADS)) for rv in rvs]
    assert len(versions) == len(set(versions)) == THREADS * PER_THREAD
    assert len(store.list(KIND, ns).items) == THREADS * PER_THREAD
    assert store.current_resource_version() == max(versions, key=int)


def test_optimistic_read_modify_write_loses_no_increment(store: Store, ns: str) -> None:
    store.create(job("counter", ns, spec={"count": 0}))
    conflicts = []
    lock = threading.Lock()

    def increment(_: int) -> None:
        while True:
            current = store.get(KIND, ns, "counter")
            current["spec"]["count"] += 1
            try:
                store.update(current)
                return
            except Conflict:
                with lock:
                    conflicts.append(1)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(increment, range(THREADS * PER_THREAD)))
    final = store.get(KIND, ns, "counter")
    assert final["spec"]["count"] == THREADS * PER_THREAD
    assert final["metadata"]["generation"] == 1 + THREADS * PER_THREAD
