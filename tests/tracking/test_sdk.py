"""The fluent SDK in-process: runs, metrics, params, tags, artifacts, frames, the rate limit."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hanzo_ml_lab as ml
from hanzo_ml_lab.api.errors import Conflict, Invalid
from tests.conftest import ControlPlane
from tests.tracking.conftest import REPO, all_points, make_run


def test_importing_the_package_is_cheap_and_the_sdk_is_there_lazily() -> None:
    code = ("import sys, hanzo_ml_lab as ml\n"
            "heavy = [m for m in ('pandas', 'fastapi', 'httpx', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(ml.log_metric) and callable(ml.runs)\n"
            "assert 'pandas' not in sys.modules and 'fastapi' not in sys.modules\n"
            "assert set(ml.__all__) >= {'log_metric', 'log_metrics', 'log_param', 'log_params',"
            " 'set_tag', 'set_tags', 'log_artifact', 'params', 'start_run', 'end_run',"
            " 'active_run', 'flush', 'runs', 'metrics'}\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_a_notebook_cell_logs_to_an_ad_hoc_run(sdk: ControlPlane) -> None:
    ml.log_param("lr", 0.01)
    for i in range(1000):
        ml.log_metric("loss", 1.0 / (i + 1))
    ml.log_metrics({"acc": 0.9, "weird": math.nan}, step=7)
    ml.set_tag("owner", "ada")
    assert ml.flush(timeout=30)
    run = ml.active_run()
    assert run is not None and run.name.startswith("run-")
    c = sdk.client()
    obj = c.get("Run", run.name)
    assert obj["spec"]["source"]["kind"] == "Adhoc" and obj["spec"]["experiment"] == "default"
    assert obj["metadata"]["labels"]["hanzo.ai/experiment"] == "default"
    c.get("Experiment", "default")  # made on first use
    points = all_points(c, run.name, "loss")
    assert [p["step"] for p in points] == list(range(1000))  # steps count up by themselves
    assert c.run_params(run.name) == {"params": {"lr": "0.01"}, "tags": {"owner": "ada"}}
    latest = c.run_latest_metrics(run.name)["metrics"]
    assert latest["acc"]["step"] == 7 and latest["weird"]["value"] == "NaN"


def test_start_run_marks_the_run_succeeded_or_failed(sdk: ControlPlane) -> None:
    c = sdk.client()
    with ml.start_run(experiment="exp-a", tags={"k": "v"}) as ok:
        ml.log_metric("m", 1.0)
        assert ml.active_run() is ok
    assert c.run_latest_metrics(ok.name)["end"]["phase"] == "Succeeded"
    assert c.run_params(ok.name)["tags"] == {"k": "v"}
    with pytest.raises(ZeroDivisionError), ml.start_run(experiment="exp-a") as bad:
        ml.log_metric("m", 1.0)
        1 / 0  # noqa: B018
    assert c.run_latest_metrics(bad.name)["end"]["phase"] == "Failed"
    assert c.get("Run", bad.name)["spec"]["experiment"] == "exp-a"


def test_nested_runs_name_their_parent(sdk: ControlPlane) -> None:
    with ml.start_run() as outer:
        with ml.start_run() as inner:
            ml.log_metric("x", 1.0)
        assert ml.active_run() is outer
    spec = sdk.client().get("Run", inner.name)["spec"]
    assert spec["parentRun"] == outer.name


def test_a_param_logged_twice_differently_raises_at_once(sdk: ControlPlane) -> None:
    ml.log_param("batch", 64)
    ml.log_param("batch", "64")  # the same value, as MLflow stores it: fine
    with pytest.raises(Conflict, match="write-once"):
        ml.log_param("batch", 128)


def test_a_param_conflict_from_elsewhere_surfaces_at_flush(sdk: ControlPlane) -> None:
    c = sdk.client()
    make_run(c, "fixed", params={"epochs": "10"})
    with ml.start_run(name="fixed"):
        ml.log_metric("loss", 1.0)
        ml.log_param("epochs", 20)
        with pytest.raises(Conflict, match="params.epochs"):
            ml.flush(timeout=30)
        assert ml.flush(timeout=30)
    assert len(all_points(c, "fixed")) == 1  # the metric still arrived


def test_bad_input_fails_in_the_call_that_made_it(sdk: ControlPlane) -> None:
    with pytest.raises(Invalid, match="must be a number"):
        ml.log_metric("loss", "high")
    with pytest.raises(Invalid, match="MLflow's rule"):
        ml.log_metric("no!", 1.0)
    with pytest.raises(Invalid, match="step must be an integer"):
        ml.log_metric("loss", 1.0, step=1.5)
    with pytest.raises(Invalid, match="6000"):
        ml.log_param("long", "x" * 6001)


def test_params_come_from_the_job_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANZO_ML_PARAMS", raising=False)
    assert ml.params() == {}
    monkeypatch.setenv("HANZO_ML_PARAMS", '{"lr": 0.1, "opt": "adam"}')
    assert ml.params() == {"lr": 0.1, "opt": "adam"}


def test_log_artifact_uploads_to_the_runs_vfs_path(sdk: ControlPlane, tmp_path: Path) -> None:
    f = tmp_path / "model.pt"
    f.write_bytes(b"weights")
    d = tmp_path / "plots"
    (d / "sub").mkdir(parents=True)
    (d / "a.png").write_bytes(b"a")
    (d / "sub" / "b.png").write_bytes(b"b")
    with ml.start_run() as run:
        uri = ml.log_artifact(f)
        assert uri == f"vfs://tenant-acme/runs/{run.name}/artifacts/model.pt"
        dir_uri = ml.log_artifact(d, name="figures")
    c = sdk.client()
    assert c.get_artifact(uri) == b"weights"
    assert c.get_artifact(dir_uri + "sub/b.png") == b"b"
    arts = c.list("Artifact", label_selector=f"hanzo.ai/run={run.name}")["items"]
    assert len(arts) == 3


def test_inside_a_job_the_sdk_logs_to_the_jobs_run(sdk: ControlPlane,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    c = sdk.client()
    make_run(c, "job-run", "jobs")
    monkeypatch.setenv("HANZO_ML_RUN", "job-run")
    monkeypatch.setenv("HANZO_ML_NAMESPACE", "tenant-acme")
    monkeypatch.setenv("HANZO_ML_EXPERIMENT", "jobs")
    monkeypatch.setenv("HANZO_ML_ARTIFACTS", "vfs://tenant-acme/runs/job-run/v1")
    ml.log_metric("loss", 0.5, step=3)
    with ml.start_run() as run:  # the job's run, not a new one
        assert run.name == "job-run"
        ml.log_metric("loss", 0.25, step=4)
    assert ml.flush(timeout=30)
    assert [p["value"] for p in all_points(c, "job-run")] == [0.5, 0.25]
    assert c.run_latest_metrics("job-run")["end"] is None  # the job, not the SDK, ends it
    art = sdk.home / "artifact.txt"
    art.write_text("x")
    assert ml.log_artifact(art) == "vfs://tenant-acme/runs/job-run/v1/artifact.txt"


def test_the_sdk_waits_out_the_rate_limit_and_delivers_exactly_once(sdk: ControlPlane) -> None:
    c = sdk.client()
    make_run(c, "limited", "slow", rate=50)
    started = time.monotonic()
    with ml.start_run(name="limited"):
        for round_ in range(3):
            for i in range(40):
                ml.log_metric("loss", float(i), step=round_ * 40 + i)
            assert ml.flush(timeout=30)
    elapsed = time.monotonic() - started
    points = all_points(c, "limited")
    assert sorted(p["step"] for p in points) == list(range(120))  # all, once each
    assert elapsed > 0.8  # 120 points at 50/s with a 50-point bucket: it had to wait


def test_dataframes_of_runs_and_metrics(sdk: ControlPlane) -> None:
    import pandas as pd

    for lr in (0.1, 0.01):
        with ml.start_run(experiment="frames"):
            ml.log_param("lr", lr)
            for step in range(5):
                ml.log_metric("loss", lr * step, step=step)
    c = sdk.client()
    runs = ml.runs("frames", client=c)
    assert list(runs.columns) == ["run", "phase", "start", "end", "params.lr", "metrics.loss"]
    assert len(runs) == 2 and set(runs["phase"]) == {"Succeeded"}
    assert set(runs["params.lr"]) == {"0.1", "0.01"}
    assert str(runs["start"].dtype).startswith("datetime64") and runs["end"].notna().all()
    assert sorted(runs["metrics.loss"]) == pytest.approx([0.04, 0.4])

    df = ml.metrics(experiment="frames", client=c)
    assert list(df.columns) == ["run", "key", "step", "timestamp", "value"]
    assert len(df) == 10 and df["value"].dtype == "float64" and df["step"].dtype == "int64"
    assert isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype)
    one = ml.metrics(run=runs["run"][0], client=c)
    assert list(one["step"]) == list(range(5))
