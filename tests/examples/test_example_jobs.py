"""The example job scripts (notebooks/examples/jobs/) run as real TrainingJobs: local processes
started by the controller, tracking through the HTTP API, read back the way a user would."""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Iterable
from typing import Any

import pytest

import hanzo_ml_lab as ml
from hanzo_ml_lab.client import Client
from tests.conftest import ControlPlane, wait_for
from tests.examples.conftest import JOBS, failure_report, finished

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# Checked without importing it (importing torch costs seconds and starts threads in the test
# process); the job's replicas import it themselves.
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _run_to_end(client: Client, name: str, timeout: float = 180) -> dict[str, Any]:
    job = finished(client, "TrainingJob", name, timeout)
    assert job["status"]["phase"] == "Succeeded", failure_report(client, name)
    return job


def _run_status(client: Client, run: str, *keys: str) -> dict[str, Any]:
    """The Run once the controller summarised ``keys`` into ``status.metrics``."""
    def summarised() -> dict[str, Any] | None:
        obj = client.get("Run", run)
        metrics = (obj.get("status") or {}).get("metrics") or {}
        return obj if all(k in metrics for k in keys) else None

    return wait_for(summarised, 45, interval=0.2,  # type: ignore[no-any-return]
                    message=f"Run {run} status.metrics to have {keys}")


def _experiment_runs(client: Client, name: str, count: int) -> dict[str, Any]:
    def counted() -> dict[str, Any] | None:
        obj = client.get("Experiment", name)
        return obj if (obj.get("status") or {}).get("runs") == count else None

    return wait_for(counted, 45, interval=0.2,  # type: ignore[no-any-return]
                    message=f"Experiment {name} status.runs == {count}")


@pytest.mark.torch
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed: `make install-torch` "
                    "(or `pip install torch`) runs the DDP example")
def test_ddp_example_trains_on_two_workers_and_logs_every_step_once(
        cp: ControlPlane, client: Client) -> None:
    steps = 30
    job = ml.train((JOBS / "ddp_train.py").read_text(), name="ddp-example",
                   framework="pytorch", workers=2, params={"steps": steps},
                   experiment="ddp-examples", show=False, client=client)
    obj = _run_to_end(client, job.name)
    status = obj["status"]
    assert status["workersTotal"] == 2
    run = status["runName"]

    logs = str(job.logs())
    assert f"done: {steps} steps on 2 workers" in logs, logs[-3000:]

    # every step's loss exactly once, read through the metrics API as a DataFrame
    frame = ml.metrics(job=job.name, client=client)
    loss = frame[frame["key"] == "loss"]
    assert sorted(loss["step"]) == list(range(steps))
    assert loss["step"].is_unique
    assert set(loss["run"]) == {run}
    by_step = loss.set_index("step")["value"]
    assert by_step[steps - 1] < by_step[0] / 10, "DDP training did not bring the loss down"
    final = frame[frame["key"] == "final_loss"]
    assert list(final["step"]) == [steps]
    assert final["value"].iloc[0] == pytest.approx(by_step[steps - 1])

    # the same points through the run's latest-metrics summary and its params
    latest = client.run_latest_metrics(run)["metrics"]
    assert latest["loss"]["count"] == steps and latest["loss"]["step"] == steps - 1
    params = client.run_params(run)["params"]
    assert params["steps"] == str(steps) and params["world_size"] == "2"
    assert params["total_steps"] == str(steps)

    run_obj = _run_status(client, run, "loss", "final_loss")
    assert run_obj["status"]["metrics"]["loss"] == pytest.approx(by_step[steps - 1])
    assert run_obj["status"]["phase"] == "Succeeded"
    _experiment_runs(client, "ddp-examples", 1)


def test_sklearn_example_logs_params_metrics_and_a_usable_model(
        cp: ControlPlane, client: Client) -> None:
    script = (JOBS / "sklearn_train.py").read_text()
    job = ml.train(script, name="digits-c1", params={"C": 1, "max_iter": 300},
                   experiment="digits", show=False, client=client)
    run = _run_to_end(client, job.name)["status"]["runName"]

    params = client.run_params(run)["params"]
    assert params["C"] == "1" and params["max_iter"] == "300"
    assert params["model"] == "LogisticRegression"
    latest = client.run_latest_metrics(run)["metrics"]
    assert latest["accuracy"]["value"] > 0.9
    assert latest["f1_macro"]["value"] > 0.9

    # the model artifact: recorded, and downloadable through the vfs route
    recorded: Iterable[dict[str, Any]] = client.list_all("Artifact")  # (see test_notebooks)
    artifacts = [a for a in recorded if (a.get("spec") or {}).get("run") == run]
    assert len(artifacts) == 1, artifacts
    uri = artifacts[0]["spec"]["uri"]
    assert uri.startswith("vfs://tenant-acme/") and uri.endswith("/model.pkl")
    with cp.http("acme") as http:
        response = http.get("/v1/ml/vfs/" + uri.removeprefix("vfs://"))
    assert response.status_code == 200, response.text
    assert artifacts[0]["spec"]["sizeBytes"] == len(response.content)
    model = pickle.loads(response.content)  # noqa: S301 — our own artifact, just written

    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    assert (model.predict(x[:200] / 16.0) == y[:200]).mean() > 0.9


def test_two_sklearn_runs_compare_side_by_side(cp: ControlPlane, client: Client) -> None:
    script = (JOBS / "sklearn_train.py").read_text()
    names = [ml.train(script, name=f"digits-c{i}", params={"C": c}, experiment="compare",
                      show=False, client=client).name
             for i, c in enumerate((0.01, 10.0))]
    runs = [_run_to_end(client, n)["status"]["runName"] for n in names]
    _experiment_runs(client, "compare", 2)

    frame = ml.runs("compare", client=client)
    assert sorted(frame["run"]) == sorted(runs)
    for column in ("phase", "params.C", "params.max_iter", "metrics.accuracy",
                   "metrics.f1_macro"):
        assert column in frame.columns, list(frame.columns)
    assert list(frame["phase"]) == ["Succeeded", "Succeeded"]
    by_c = frame.set_index("params.C")["metrics.accuracy"]
    assert set(by_c.index) == {"0.01", "10.0"}
    # weak regularisation fits the digits better than very strong regularisation
    assert by_c["10.0"] > by_c["0.01"]
    best = frame.sort_values("metrics.accuracy", ascending=False).iloc[0]
    assert best["run"] == runs[1]
