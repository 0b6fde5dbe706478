"""Metric streams (?watch=true) and what the controller makes of the points."""

from __future__ import annotations

import threading
from typing import Any

import hanzo_ml_lab as ml
from controller.reconcilers.run import metric_object_name
from tests.conftest import ControlPlane, wait_for
from tests.tracking.conftest import make_run


def collect(cp: ControlPlane, path: str, want: int, got: list[dict[str, Any]],
            lines: list[dict[str, Any]], ready: threading.Event) -> None:
    import json

    with cp.http() as http, http.stream("GET", path, timeout=30) as r:
        assert r.status_code == 200
        ready.set()
        for line in r.iter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            lines.append(event)
            got.extend(event.get("items") or [])
            if len(got) >= want:
                return


def test_the_experiment_stream_yields_points_logged_after_it_started(
        control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c, "a", "exp")
    make_run(c, "b", "exp")
    make_run(c, "elsewhere", "other")
    c.log_run_batch("a", {"batchId": "old", "metrics": {"keys": ["loss"], "values": [9.0]}})
    now = c.metric_page(experiment="exp")["next"]

    got: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=collect, args=(
        control_plane, f"/v1/ml/experiments/exp/metrics?watch=true&after={now}", 4, got, lines,
        ready), daemon=True)
    reader.start()
    assert ready.wait(10)
    c.log_run_batch("elsewhere", {"batchId": "x", "metrics": {"keys": ["loss"], "values": [0.0]}})
    c.log_run_batch("a", {"batchId": "1", "metrics": {"keys": ["loss", "acc"],
                                                      "values": [1.0, 0.5], "steps": [1, 1]}})
    c.log_run_batch("b", {"batchId": "2", "metrics": {"keys": ["loss", "loss"],
                                                      "values": [2.0, "-Infinity"]}})
    reader.join(15)
    assert not reader.is_alive()
    assert [(p["run"], p["key"], p["value"]) for p in got] == [
        ("a", "loss", 1.0), ("a", "acc", 0.5), ("b", "loss", 2.0), ("b", "loss", "-Infinity")]
    assert all(line["type"] == "POINTS" for line in lines if line["items"])
    assert lines[-1]["next"] == got[-1]["seq"]


def test_a_run_stream_replays_then_follows(control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c)
    c.log_run_batch("r1", {"batchId": "1", "metrics": {"keys": ["x"] * 3, "values": [1, 2, 3]}})
    stream = c.run_metrics("r1", watch=True, timeout=10)
    first = [next(stream)["value"] for _ in range(3)]
    c.log_run_batch("r1", {"batchId": "2", "metrics": {"keys": ["x"], "values": [4]}})
    assert first + [next(stream)["value"]] == [1.0, 2.0, 3.0, 4.0]
    stream.close()  # type: ignore[attr-defined]


def test_the_controller_summarises_runs_and_makes_metric_objects(
        controlled_sdk: ControlPlane) -> None:
    c = controlled_sdk.client()
    with ml.start_run(experiment="summary") as run:
        for step in range(10):
            ml.log_metrics({"loss": 1.0 / (step + 1), "val_acc": step / 10}, step=step)
        ml.log_metric("loss", float("nan"), step=3)  # an old step: not the latest
        assert ml.flush(timeout=30)

        def summarised() -> Any:
            status = c.get("Run", run.name).get("status") or {}
            return status if status.get("metrics") == {"loss": 0.1, "val_acc": 0.9} else None

        status = wait_for(summarised, timeout=20, message="Run.status.metrics")
        assert status["phase"] == "Running"
    name = metric_object_name(run.name, "val_acc")
    assert name.startswith(f"{run.name}-val-acc-")  # '_' is not DNS-safe: hashed
    metric = wait_for(lambda: _get(c, "Metric", name), timeout=20, message="Metric object")
    assert metric["spec"] == {"run": run.name, "key": "val_acc", "experiment": "summary"}
    assert metric["metadata"]["ownerReferences"][0]["name"] == run.name
    assert metric["status"]["latestValue"] == 0.9 and metric["status"]["latestStep"] == 9
    assert metric["status"]["count"] == 10
    assert (metric["status"]["min"], metric["status"]["max"]) == (0.0, 0.9)
    loss = wait_for(lambda: _get(c, "Metric", f"{run.name}-loss"), timeout=20,
                    message="loss Metric")
    assert loss["status"]["count"] == 11 and loss["status"]["min"] == 0.1

    ended = wait_for(lambda: (c.get("Run", run.name).get("status") or {}).get("phase")
                     == "Succeeded" and c.get("Run", run.name), timeout=20,
                     message="Run Succeeded")
    assert ended["status"]["endTime"] and ended["status"]["startTime"]


def _get(c: Any, kind: str, name: str) -> Any:
    from hanzo_ml_lab.api.errors import NotFound

    try:
        return c.get(kind, name)
    except NotFound:
        return None


def test_deleting_a_run_deletes_its_points(controlled_sdk: ControlPlane) -> None:
    c = controlled_sdk.client()
    make_run(c, "gone", "exp")
    c.log_run_batch("gone", {"batchId": "1", "metrics": {"keys": ["x"], "values": [1.0]},
                             "params": {"p": "1"}})
    wait_for(lambda: "hanzo.ai/tracking" in c.get("Run", "gone")["metadata"].get(
        "finalizers", []), timeout=20, message="finalizer")
    c.delete("Run", "gone")
    wait_for(lambda: _get(c, "Run", "gone") is None, timeout=20, message="run deleted")
    make_run(c, "gone", "exp")  # the same name again starts empty
    assert c.metric_page(run="gone")["items"] == []
    assert c.run_params("gone")["params"] == {}
    c.log_run_batch("gone", {"batchId": "1", "params": {"p": "2"}})  # new run: not a dup
    assert c.run_params("gone")["params"] == {"p": "2"}
