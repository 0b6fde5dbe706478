"""A point the SDK accepted arrives exactly once: with the control plane down, up late, or
gone until a later process (or the controller) sends the spool."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hanzo_ml_lab.api import parse_object
from hanzo_ml_lab.client import Client
from hanzo_ml_lab.server.auth import ensure_credentials, mint_token
from hanzo_ml_lab.store import SQLiteStore
from hanzo_ml_lab.store.tracking import TrackingStore
from hanzo_ml_lab.tracking._spool import Spool, new_batch_id
from tests.conftest import free_port, wait_for
from tests.tracking.conftest import all_points, run_sdk, start_on_port

N = 3000

LOGGER = f"""
import hanzo_ml_lab as ml
for i in range({N}):
    ml.log_metric("loss", i / 7, step=i)
    if i % 500 == 0:
        ml.log_metric("lr", 0.1, step=i)
ml.log_param("seed", 1)
ok = ml.flush(timeout=float(__import__("os").environ.get("FLUSH", "60")))
print("delivered" if ok else "left in spool")
"""


def seed_run(home: Path, run: str = "r1") -> None:
    """Create the Run in the store file directly: the control plane is not up yet."""
    home.mkdir(parents=True, exist_ok=True)
    with SQLiteStore(home / "state.db") as store:
        for obj in (
            {"apiVersion": "hanzo.ai/v1", "kind": "Experiment",
             "metadata": {"name": "exp", "namespace": "tenant-acme"},
             "spec": {"rateLimit": {"metricWritesPerSecond": 1_000_000}}},
            {"apiVersion": "hanzo.ai/v1", "kind": "Run",
             "metadata": {"name": run, "namespace": "tenant-acme"},
             "spec": {"experiment": "exp", "source": {"kind": "TrainingJob", "name": run}}},
        ):
            store.create(parse_object(obj).to_wire())


def sdk_env(home: Path, port: int, spool: Path, **extra: str) -> dict[str, str]:
    key = ensure_credentials(home).key
    return {"HANZO_ML_API": f"http://127.0.0.1:{port}",
            "HANZO_ML_TOKEN": mint_token(key, subject="job", orgs=["acme"]),
            "HANZO_ML_ORG": "acme", "HANZO_ML_NAMESPACE": "tenant-acme",
            "HANZO_ML_RUN": "r1", "HANZO_ML_EXPERIMENT": "exp",
            "HANZO_ML_SPOOL_DIR": str(spool), "HANZO_ML_HOME": str(home), **extra}


def check_exactly_once(home: Path, port: int) -> None:
    key = ensure_credentials(home).key
    with Client(f"http://127.0.0.1:{port}", token=mint_token(key, subject="t", orgs=["acme"]),
                org="acme") as c:
        loss = all_points(c, "r1", "loss")
        assert sorted(p["step"] for p in loss) == list(range(N))  # every point, once
        assert len(all_points(c, "r1", "lr")) == N // 500
        assert c.run_params("r1")["params"] == {"seed": "1"}


def test_the_sdk_delivers_once_the_control_plane_comes_up(tmp_path: Path) -> None:
    home, spool, port = tmp_path / "home", tmp_path / "spool", free_port()
    seed_run(home)
    proc = run_sdk(LOGGER, sdk_env(home, port, spool), wait=False)
    try:
        wait_for(lambda: list(spool.glob("*.json")), timeout=30, message="batches spooled")
        time.sleep(0.5)  # let it retry against the closed port a few times
        assert proc.poll() is None  # still waiting to deliver
        server, thread = start_on_port(home, port)
        try:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert "delivered" in out
            check_exactly_once(home, port)
            assert not list(spool.glob("*.json"))  # acknowledged batches leave the spool
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_later_process_replays_what_an_earlier_one_left(tmp_path: Path) -> None:
    home, spool, port = tmp_path / "home", tmp_path / "spool", free_port()
    seed_run(home)
    first = run_sdk(LOGGER, sdk_env(home, port, spool, FLUSH="0.5",
                                    HANZO_ML_FLUSH_TIMEOUT="0.5"))
    assert first.returncode == 0, first.stderr.read() if first.stderr else ""
    assert first.stdout is not None and "left in spool" in first.stdout.read()
    left = list(spool.glob("*.json"))
    assert left  # the exit left everything on disk
    server, thread = start_on_port(home, port)
    try:
        second = run_sdk("import hanzo_ml_lab as ml; assert ml.flush(timeout=60)",
                         sdk_env(home, port, spool))
        assert second.returncode == 0, second.stderr.read() if second.stderr else ""
        check_exactly_once(home, port)
        assert not list(spool.glob("*.json"))
        # a third replay of the same (now empty) spool, or of a copy, changes nothing
        third = run_sdk("import hanzo_ml_lab as ml; assert ml.flush(timeout=60)",
                        sdk_env(home, port, spool))
        assert third.returncode == 0
        check_exactly_once(home, port)
    finally:
        server.should_exit = True
        thread.join(10)


def spooled_batch(spool: Spool, run: str, start: int, n: int,
                  namespace: str = "tenant-acme") -> Path:
    batch_id = new_batch_id()
    body: dict[str, Any] = {"batchId": batch_id, "metrics": {
        "keys": ["loss"] * n, "values": [float(i) for i in range(start, start + n)],
        "steps": list(range(start, start + n))}}
    return spool.write(namespace, run, batch_id, json.dumps(body).encode())


def test_the_control_plane_ingests_a_finished_jobs_spool_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    kept = [spooled_batch(spool, "r1", 0, 10), spooled_batch(spool, "r1", 10, 5)]
    other = spooled_batch(spool, "r2", 0, 3)
    foreign = spooled_batch(spool, "r1", 0, 3, namespace="tenant-globex")
    copies = [p.read_bytes() for p in kept]
    with TrackingStore(tmp_path / "tracking.db") as store:
        out = store.ingest_spool_dir(spool.directory, "tenant-acme", "exp", "r1")
        assert out == {"files": 2, "accepted": 15, "duplicates": 0, "rejected": 0}
        assert not any(p.exists() for p in kept)
        assert other.exists() and foreign.exists()  # not this run's, not this tenant's
        for path, data in zip(kept, copies, strict=True):  # the SDK sends them again
            path.write_bytes(data)
        again = store.ingest_spool_dir(spool.directory, "tenant-acme", "exp", "r1")
        assert again == {"files": 2, "accepted": 0, "duplicates": 2, "rejected": 0}
        steps = [p["step"] for p in store.points("tenant-acme", run="r1")]
        assert steps == list(range(15))
        (spool.directory / "broken.json").write_text("{")
        assert store.ingest_spool_dir(spool.directory, "tenant-acme", "exp", "r1")[
            "rejected"] == 1
        assert (spool.directory / "broken.rejected").exists()
