"""The static summary saved notebooks show, and %%ml_sweep's Sweep object and status view."""

from __future__ import annotations

import hashlib

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.magics import api
from hanzo_ml_lab.magics._state import JobState, decimate
from hanzo_ml_lab.magics._summary import summary_html
from hanzo_ml_lab.magics._widget import live_widgets
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(90)


def test_static_html_summary_has_the_phase_and_metric_names(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train --name summarised\nimport hanzo_ml_lab as ml\n"
                   "for s in range(3):\n    ml.log_metric('val_acc', s / 3, step=s)\n"
                   "    ml.log_metric('train/loss', 3 - s, step=s)\nprint('finished')\n")
    w = api.job("summarised").widget
    assert w is not None and w.wait(60) == "Succeeded"
    data, metadata = w._repr_mimebundle_()
    assert metadata["hanzo-ml"] == {"kind": "TrainingJob", "name": "summarised",
                                    "namespace": "tenant-acme"}
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id
    html = data["text/html"]
    assert "summarised" in html and "Succeeded" in html
    assert "val_acc" in html and "train/loss" in html
    assert html.count("<polyline") == 2  # a sparkline per metric
    assert "finished" in html  # the log tail
    assert repr(w) == "<JobWidget summarised Succeeded>"
    job_html = api.job("summarised")._repr_html_()
    assert "summarised" in job_html and "Succeeded" in job_html


def test_summary_of_a_failed_job_shows_why() -> None:
    state = JobState("broken", "tenant-acme")
    state.apply_job({"spec": {"framework": "pytorch", "workers": {"replicas": 2}},
                     "status": {"phase": "Failed", "failureReason": "ReplicaFailed",
                                "failureMessage": "worker-1 exited with code 3 <boom>"}})
    html = summary_html(state.snapshot())
    assert "Failed" in html and "replicas 0/2" in html
    assert "worker-1 exited with code 3 &lt;boom&gt;" in html  # escaped


def test_chart_series_are_decimated_but_keep_the_newest_point() -> None:
    steps = [float(i) for i in range(5000)]
    s, v = decimate(steps, steps, 500)
    assert len(s) <= 500 and s[0] == 0.0 and s[-1] == 4999.0 and v[-1] == 4999.0
    state = JobState("big", "ns")
    state.add_points([{"seq": i + 1, "key": "loss", "step": i, "value": i} for i in range(5000)])
    metrics = state.take_changes()["metrics"]
    assert metrics["loss"]["count"] == 5000 and len(metrics["loss"]["steps"]) <= 500
    assert len(state.points("loss")) == 5000
    # a replayed point (after a reconnect) is not counted twice
    state.add_points([{"seq": 10, "key": "loss", "step": 9, "value": 9}])
    assert len(state.points("loss")) == 5000


def test_ml_sweep_creates_the_sweep_from_the_cell(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    cell = "import hanzo_ml_lab as ml\nml.log_metric('val_acc', 1 - ml.params()['lr'])\n"
    shell.run_cell(
        "%%ml_sweep --name tune --experiment tuning --algorithm random --max-trials 12 "
        "--parallelism 3 --objective val_acc --goal maximize "
        "--param lr:log_uniform:1e-5,1e-2 --param bs:choice:32,64,128 "
        "--param layers:int:1,4 --param dropout:uniform:0,0.5,0.1 --workers 2\n" + cell)
    _, err = capsys.readouterr()
    assert "Traceback" not in err and not err.strip(), err
    sweep = client.get("Sweep", "tune")
    spec = sweep["spec"]
    assert spec["experiment"] == "tuning" and spec["algorithm"] == "random"
    assert spec["maxTrials"] == 12 and spec["parallelism"] == 3
    assert spec["objective"] == {"metric": "val_acc", "goal": "maximize"}
    assert spec["parameters"] == [
        {"name": "lr", "type": "log_uniform", "min": 1e-5, "max": 1e-2},
        {"name": "bs", "type": "choice", "values": [32, 64, 128]},
        {"name": "layers", "type": "int", "min": 1, "max": 4},
        {"name": "dropout", "type": "uniform", "min": 0, "max": 0.5, "step": 0.1},
    ]
    assert spec["template"]["script"] == cell
    assert spec["template"]["workers"]["replicas"] == 2
    assert sweep["metadata"]["annotations"]["hanzo.ai/cell-sha256"] == \
        hashlib.sha256(cell.encode()).hexdigest()
    views = live_widgets("Sweep", "tune")
    assert len(views) == 1
    view = views[0]
    wait_for(lambda: view.sweep.get("maxTrials") == 12, 10, message="the sweep view's state")
    data, metadata = view._repr_mimebundle_()
    assert metadata["hanzo-ml"]["kind"] == "Sweep"
    assert "waiting for the sweep controller" in data["text/html"]
    view.close()
    assert not view.watching


def test_ml_sweep_validation_errors_name_the_field(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%%ml_sweep --objective acc --param lr:log_uniform:0,1\nprint(1)\n")
    _, err = capsys.readouterr()
    assert "spec.parameters[0].min" in err and "must be > 0" in err, err
    assert "Traceback" not in err
    shell.run_cell("%%ml_sweep --algorithm grid --objective acc --param lr:uniform:0,1\n"
                   "print(1)\n")
    _, err = capsys.readouterr()
    assert "grid search needs a finite set of values" in err, err
    assert client.list_all("Sweep") == []
