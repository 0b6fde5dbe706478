"""The tracking store and the rate limiter on their own: chunks, cursors, the token bucket."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from hanzo_ml_lab.api.errors import TooManyRequests
from hanzo_ml_lab.server.ratelimit import MetricRateLimiter
from hanzo_ml_lab.store.tracking import TrackingStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_refills_at_the_rate_and_holds_one_second() -> None:
    clock = Clock()
    limiter = MetricRateLimiter(1000, clock=clock)
    limit = lambda: 10  # noqa: E731 — the experiment's own limit
    limiter.admit("ns", "e", 10, limit)
    with pytest.raises(TooManyRequests) as err:
        limiter.admit("ns", "e", 5, limit)
    assert err.value.retry_after_seconds == pytest.approx(0.5)
    clock.now += 0.5
    limiter.admit("ns", "e", 5, limit)
    clock.now += 100  # idle for long: still only one second worth
    limiter.admit("ns", "e", 10, limit)
    with pytest.raises(TooManyRequests):
        limiter.admit("ns", "e", 1, limit)
    limiter.admit("ns", "other", 500, lambda: None)  # its own bucket, the default rate
    limiter.admit("ns", "e", 0, limit)  # params only: free


def test_a_batch_larger_than_the_bucket_waits_for_a_full_bucket_then_goes_negative() -> None:
    clock = Clock()
    limiter = MetricRateLimiter(10, clock=clock)
    limiter.admit("ns", "e", 50, lambda: None)  # full bucket: admitted, 40 in debt
    with pytest.raises(TooManyRequests) as err:
        limiter.admit("ns", "e", 50, lambda: None)
    assert err.value.retry_after_seconds == pytest.approx(5.0)  # back to a full bucket
    clock.now += 5
    limiter.admit("ns", "e", 50, lambda: None)


def test_the_experiment_limit_is_cached_then_reread() -> None:
    clock = Clock()
    limiter = MetricRateLimiter(1000, clock=clock, limit_ttl_seconds=5)
    reads: list[int] = []

    def lookup() -> int:
        reads.append(1)
        return 100

    for _ in range(10):
        limiter.admit("ns", "e", 1, lookup)
    assert len(reads) == 1
    clock.now += 6
    limiter.admit("ns", "e", 1, lookup)
    assert len(reads) == 2


def test_points_come_back_in_seq_order_across_keys_and_chunks(tmp_path: Path) -> None:
    with TrackingStore(tmp_path / "t.db") as store:
        store.ingest("ns", "e", "r", "1", {"keys": ["a", "b", "a"], "values": [1, 2, 3],
                                           "steps": [0, 0, 1]})
        store.ingest("ns", "e", "r", "2", {"keys": ["b"], "values": [math.inf], "steps": [1]})
        store.ingest("ns", "e", "other", "1", {"keys": ["a"], "values": [9]})
        pts = store.points("ns", run="r")
        assert [(p["key"], p["value"]) for p in pts] == [("a", 1), ("a", 3), ("b", 2),
                                                         ("b", math.inf)]
        assert [p["seq"] for p in pts] == [1, 2, 3, 4]
        # a cursor in the middle of a chunk, and a limit that cuts one
        assert [p["seq"] for p in store.points("ns", run="r", after_seq=1, limit=2)] == [2, 3]
        assert [p["run"] for p in store.points("ns", experiment="e", after_seq=4)] == ["other"]
        assert store.points("other-ns", experiment="e") == []
        assert store.latest("ns", "r")["b"]["value"] == math.inf


def test_concurrent_ingest_issues_every_seq_once(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    stores = [TrackingStore(path), TrackingStore(path)]  # two connections, as two processes

    def work(store: TrackingStore, worker: int) -> None:
        for i in range(20):
            store.ingest("ns", "e", "r", f"{worker}-{i}",
                         {"keys": ["k"] * 50, "values": [float(i)] * 50})

    threads = [threading.Thread(target=work, args=(stores[w % 2], w)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [p["seq"] for p in stores[0].points("ns", run="r", limit=100_000)]
    assert seqs == list(range(1, 4 * 20 * 50 + 1))
    assert stores[1].latest("ns", "r")["k"]["count"] == 4000
    for s in stores:
        s.close()


def test_the_store_can_forget_a_run(tmp_path: Path) -> None:
    with TrackingStore(tmp_path / "t.db") as store:
        store.ingest("ns", "e", "r", "1", {"keys": ["a"], "values": [1.0]}, {"p": "1"},
                     {"t": "x"}, "Succeeded")
        assert store.run_state("ns", "r")["phase"] == "Succeeded"  # type: ignore[index]
        store.delete_run("ns", "r")
        assert store.points("ns", run="r") == [] and store.params("ns", "r") == {}
        assert store.run_state("ns", "r") is None
        # the batch id is forgotten too: a new run of the same name starts clean
        assert store.ingest("ns", "e", "r", "1", {"keys": ["a"], "values": [1.0]})[
            "duplicate"] is False
