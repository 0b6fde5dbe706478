"""The per-experiment metric write quota (HIP-109's open question, closed).

One token bucket per (namespace, experiment). A **write is one metric point**: a batch of 500
points costs 500 tokens, whatever the number of requests that carried them; params, tags and
run ends cost nothing. The rate is the Experiment's ``spec.rateLimit.metricWritesPerSecond``,
else the server's ``metric_writes_per_second`` (1000 by default); the bucket holds one second
worth, so a quiet experiment may burst that much at once.

A batch larger than the whole bucket is admitted when the bucket is full, and drives it below
zero: later batches wait until it refills. So one huge batch is never impossible, and the
average rate still holds. A refused batch is not ingested at all; ``TooManyRequests`` says how
long to wait (``retry_after_seconds``), and the SDK waits that long and sends the same batch
again.

The experiment's limit is cached for ``limit_ttl_seconds`` (a change to the Experiment takes
effect within that time) so the store is not read on every batch.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hanzo_ml_lab.api.errors import TooManyRequests

__all__ = ["MetricRateLimiter"]

RateLookup = Callable[[], int | None]


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float
    limit_read_at: float

    @property
    def capacity(self) -> float:
        return self.rate  # one second worth


class MetricRateLimiter:
    """Token buckets keyed by (namespace, experiment); thread-safe."""

    def __init__(self, default_rate: float, *, limit_ttl_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if default_rate <= 0:
            raise ValueError(f"metric_writes_per_second: must be > 0, got {default_rate}")
        self.default_rate = float(default_rate)
        self.limit_ttl_seconds = limit_ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _rate(self, lookup: RateLookup) -> float:
        rate = lookup()
        return float(rate) if rate else self.default_rate

    def admit(self, namespace: str, experiment: str | None, cost: int,
              lookup: RateLookup) -> None:
        """Take ``cost`` tokens or raise ``TooManyRequests`` (nothing taken then).

        ``lookup`` returns the experiment's own limit (or None for the default); it is called
        only when the cached value is older than ``limit_ttl_seconds``, outside the lock.
        """
        if cost <= 0:
            return
        key = (namespace, experiment or "")
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            stale = bucket is None or now - bucket.limit_read_at >= self.limit_ttl_seconds
        if stale:
            rate = self._rate(lookup)
            with self._lock:
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(rate, rate, now, now)
                else:
                    bucket.rate, bucket.limit_read_at = rate, now
                    bucket.tokens = min(bucket.tokens, rate)
        with self._lock:
            bucket = self._buckets[key]
            now = self._clock()
            bucket.tokens = min(bucket.capacity,
                                bucket.tokens + (now - bucket.updated) * bucket.rate)
            bucket.updated = now
            need = min(float(cost), bucket.capacity)
            if bucket.tokens >= need:
                bucket.tokens -= cost
                return
            wait = (need - bucket.tokens) / bucket.rate
            rate = bucket.rate
        where = f"experiment {experiment!r}" if experiment else "runs without an experiment"
        raise TooManyRequests(
            f"metric writes to {where} are over the limit of {rate:g} points/s "
            f"(Experiment.spec.rateLimit.metricWritesPerSecond); nothing of this batch was "
            f"written: send it again after {wait:.2f}s",
            retry_after_seconds=round(wait, 3),
        )

    @staticmethod
    def retry_after_header(seconds: float) -> str:
        """Retry-After is whole seconds: round up, so a client that obeys it is admitted."""
        return str(max(1, math.ceil(seconds)))
