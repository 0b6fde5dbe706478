"""The embedded fast path: a running job's spool files ingested by the control plane.

Unit tests drive ``SpoolWatcher.poll()`` by hand over a real ``TrackingStore`` and spool files
the SDK's own ``Spool`` writes; the last tests run real jobs against the control plane.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hanzo_ml_lab.api.errors import TooManyRequests
from hanzo_ml_lab.controller.spoolwatch import SpoolWatcher
from hanzo_ml_lab.store.tracking import TrackingStore
from hanzo_ml_lab.tracking._spool import Spool, new_batch_id
from tests.conftest import ControlPlane, free_port, wait_for

pytestmark = pytest.mark.timeout(120)

NS, RUN, EXP = "tenant-acme", "job-1", "exp"


def points_batch(batch_id: str, values: list[float], key: str = "loss") -> bytes:
    return json.dumps({"batchId": batch_id, "metrics": {
        "keys": [key] * len(values), "values": values,
        "steps": list(range(len(values)))}}).encode()


def spool_one(spool: Spool, values: list[float], *, namespace: str = NS, run: str = RUN,
              body: bytes | None = None) -> tuple[str, Path]:
    batch_id = new_batch_id()
    path = spool.write(namespace, run, batch_id, body or points_batch(batch_id, values))
    return batch_id, path


@pytest.fixture
def tracking(tmp_path: Path) -> Any:
    with TrackingStore(tmp_path / "tracking.db") as t:
        yield t


def watcher_of(tracking: TrackingStore, spool_dir: Path, admit: Any = None,
               **fixed: str) -> SpoolWatcher:
    w = SpoolWatcher(tracking, admit=admit)
    w.watch("job", spool_dir, namespace=NS, experiment=EXP, run=RUN, fixed_params=fixed)
    return w


def count(tracking: TrackingStore, run: str = RUN, namespace: str = NS) -> int:
    return len(tracking.points(namespace, run=run, limit=100_000))


def test_a_spooled_batch_is_ingested_and_its_file_removed(tracking: TrackingStore,
                                                          tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    w = watcher_of(tracking, spool.directory)
    assert w.poll() == 0  # the directory does not exist yet: nothing to do, no error
    batch_id, path = spool_one(spool, [1.0, 2.0, 3.0])
    version = tracking.version
    assert w.poll() == 1
    assert count(tracking) == 3 and not path.exists()
    assert tracking.seen(NS, RUN, batch_id)
    assert tracking.version > version  # streams are woken, as for an HTTP batch
    # the SDK's copy over HTTP (or a replay) is a duplicate; its delete tolerates the gap
    assert tracking.ingest(NS, EXP, RUN, batch_id, {"keys": ["loss"], "values": [9.0]}) == {
        "accepted": 0, "duplicate": True}
    spool.remove(path)
    assert spool.load(path) is None
    assert count(tracking) == 3


def test_a_batch_the_sdk_delivered_first_is_removed_not_counted_again(
        tracking: TrackingStore, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    w = watcher_of(tracking, spool.directory)
    batch_id, path = spool_one(spool, [1.0, 2.0])
    tracking.ingest(NS, EXP, RUN, batch_id, {"keys": ["loss", "loss"], "values": [1.0, 2.0]})
    assert w.poll() == 0
    assert not path.exists() and count(tracking) == 2


def test_files_of_another_tenant_or_run_and_unfinished_files_are_left_alone(
        tracking: TrackingStore, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    w = watcher_of(tracking, spool.directory)
    _, foreign = spool_one(spool, [1.0], namespace="tenant-evil")
    _, nested = spool_one(spool, [2.0], run="nested-run")
    tmp = spool.directory / f".{new_batch_id()}.123.tmp"  # a write in progress
    tmp.write_text("{")
    bad = spool.directory / f"{new_batch_id()}.json"
    bad.write_text("not json")
    assert w.poll() == 0
    assert foreign.exists() and nested.exists() and tmp.exists() and bad.exists()
    assert count(tracking, namespace="tenant-evil", run=RUN) == 0
    assert count(tracking, run="nested-run") == 0
    assert w.poll() == 0  # and they are not read again


def test_over_the_rate_limit_the_file_is_left_for_the_sdk(tracking: TrackingStore,
                                                          tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    calls: list[tuple[str, str | None, int]] = []
    limited = {"on": True}

    def admit(namespace: str, experiment: str | None, points: int) -> None:
        calls.append((namespace, experiment, points))
        if limited["on"]:
            raise TooManyRequests("over the limit", retry_after_seconds=0.0)

    w = watcher_of(tracking, spool.directory, admit=admit)
    _, first = spool_one(spool, [1.0, 2.0])
    _, second = spool_one(spool, [3.0])
    assert w.poll() == 0
    assert first.exists() and second.exists() and count(tracking) == 0
    assert calls == [(NS, EXP, 2)]  # charged by points, to the Run's experiment; in order
    limited["on"] = False
    assert w.poll() == 2
    assert not first.exists() and not second.exists() and count(tracking) == 3


def test_a_refused_batch_is_left_for_the_sdk_to_report(tracking: TrackingStore,
                                                       tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    w = watcher_of(tracking, spool.directory, lr="0.1")  # the Run's spec says lr=0.1
    batch_id = new_batch_id()
    conflict = json.dumps({"batchId": batch_id, "params": {"lr": "0.5"}}).encode()
    _, path = spool_one(spool, [], body=conflict)
    _, after = spool_one(spool, [1.0])
    assert w.poll() == 1  # the conflict stays; what follows it goes on
    assert path.exists() and not after.exists()
    assert not tracking.seen(NS, RUN, batch_id) and tracking.params(NS, RUN) == {}
    assert w.poll() == 0 and path.exists()  # not retried


def test_unwatched_directories_are_not_read(tracking: TrackingStore, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    w = watcher_of(tracking, spool.directory)
    w.unwatch("job")
    _, path = spool_one(spool, [1.0])
    assert w.poll() == 0 and path.exists()


LOGGER = """
import os, hanzo_ml_lab as ml
n = int(os.environ.get("POINTS", "1000"))
for i in range(n):
    ml.log_metric("loss", i / 3, step=i)
    if i % 250 == 249:
        ml.flush()
ml.log_param("seed", 7)
assert ml.flush(timeout=60)
"""


def job(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "TrainingJob", "metadata": {"name": name},
            "spec": {"framework": "pytorch", "script": code, **spec}}


def finished(cp: ControlPlane, name: str) -> dict[str, Any]:
    c = cp.client()

    def done() -> dict[str, Any] | None:
        obj = c.get("TrainingJob", name)
        return obj if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    return wait_for(done, 90, message=f"{name} to finish")  # type: ignore[no-any-return]


def test_a_job_s_points_arrive_exactly_once_through_both_paths(
        control_plane_with_controller: ControlPlane) -> None:
    cp = control_plane_with_controller
    c = cp.client()
    c.create(job("fast", LOGGER, experiment={"name": "fastpath"},
                 env=[{"name": "POINTS", "value": "1000"}]))
    done = finished(cp, "fast")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    watcher = cp.server.app.state.spool_watch
    assert not watcher.watching(("tenant-acme", "fast", done["metadata"]["uid"]))
    latest = c.run_latest_metrics("fast")["metrics"]
    assert latest["loss"]["count"] == 1000 and latest["loss"]["step"] == 999
    assert c.run_params("fast")["params"] == {"seed": "7"}
    spool = cp.home / "jobs" / "tenant-acme" / "fast" / done["metadata"]["uid"] / "spool"
    assert not list(spool.glob("*.json"))


OFFLINE = """
import os, time, pathlib, hanzo_ml_lab as ml
for i in range(100):
    ml.log_metric("loss", i / 3, step=i)
spool = pathlib.Path(os.environ["HANZO_ML_SPOOL_DIR"])
deadline = time.monotonic() + 60
time.sleep(0.5)  # the writer has spooled everything by now
while list(spool.glob("*.json")) and time.monotonic() < deadline:
    time.sleep(0.05)
assert not list(spool.glob("*.json")), "the control plane did not take the spooled batches"
"""


def test_with_http_unreachable_a_running_job_s_points_still_arrive(
        control_plane_with_controller: ControlPlane) -> None:
    cp = control_plane_with_controller
    c = cp.client()
    dead = f"http://127.0.0.1:{free_port()}"  # the job's SDK cannot send: only the spool
    c.create(job("offline", OFFLINE, env=[{"name": "HANZO_ML_API", "value": dead},
                                          {"name": "HANZO_ML_FLUSH_TIMEOUT", "value": "0"}]))
    done = finished(cp, "offline")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert cp.server.app.state.spool_watch.ingested >= 1
    latest = c.run_latest_metrics("offline")["metrics"]
    assert latest["loss"]["count"] == 100 and latest["loss"]["step"] == 99


def test_the_fast_path_keeps_the_experiment_s_rate_limit(
        control_plane_with_controller: ControlPlane) -> None:
    cp = control_plane_with_controller
    c = cp.client()
    c.apply({"apiVersion": "hanzo.ai/v1", "kind": "Experiment", "metadata": {"name": "slow"},
             "spec": {"rateLimit": {"metricWritesPerSecond": 200}}})
    c.create(job("limited", LOGGER, experiment={"name": "slow"},
                 env=[{"name": "POINTS", "value": "600"}]))
    done = finished(cp, "limited")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert c.run_latest_metrics("limited")["metrics"]["loss"]["count"] == 600
    stamps = sorted(p["timestamp"] for p in c.metric_page(run="limited", limit=1000)["items"])
    assert len(stamps) == 600
    # The job flushes every 250 points, so it logs point 500 only once the first 500 are in.
    # At 200 points/s with a bucket of 200 that is 1.5 s after the first, whoever ingests them
    # (the spool watcher or the SDK); unlimited, it would be a few milliseconds.
    assert stamps[-1] - stamps[0] >= 1000, (stamps[0], stamps[-1])
