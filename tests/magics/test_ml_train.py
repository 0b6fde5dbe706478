"""%%ml_train launches the cell as a TrainingJob, returns at once, and its widget goes live."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.magics import api
from tests.conftest import ControlPlane, wait_for
from tests.magics.conftest import finished, phase_of

pytestmark = pytest.mark.timeout(90)

SLOW_METRICS = """\
import time
import hanzo_ml_lab as ml
print("training with", ml.params(), flush=True)
time.sleep(1.0)
for step in range(5):
    ml.log_metric("loss", 1.0 / (step + 1), step=step)
    ml.flush()
    print("step", step, flush=True)
    time.sleep(0.4)
"""


def test_ml_train_creates_the_job_from_the_cell_and_returns_before_it_finished(
        shell: InteractiveShell, client: Client) -> None:
    shell.user_ns["__session__"] = "work/mnist.ipynb"
    cell = "import time\ntime.sleep(2)\nprint('done sleeping')\n"
    result = shell.run_cell(f"%%ml_train --name sleeper --experiment demo\n{cell}")
    assert result.success
    job = client.get("TrainingJob", "sleeper")
    assert phase_of(client, "sleeper") not in ("Succeeded", "Failed")
    assert job["spec"]["script"] == cell
    assert job["spec"]["framework"] == "pytorch"
    assert job["spec"]["experiment"] == {"name": "demo"}
    annotations = job["metadata"]["annotations"]
    assert annotations["hanzo.ai/notebook-path"] == "work/mnist.ipynb"
    assert annotations["hanzo.ai/cell-sha256"] == hashlib.sha256(cell.encode()).hexdigest()
    w = api.job("sleeper").widget
    assert w is not None and w.watching
    assert finished(client, "sleeper")["status"]["phase"] == "Succeeded"
    assert w.wait(30) == "Succeeded"
    assert any("done sleeping" in line for line in w.log_lines())


def test_options_become_the_spec(shell: InteractiveShell, client: Client) -> None:
    shell.run_cell(
        "%%ml_train --name shaped --framework tensorflow --workers 2 --master 1 --ps 1 "
        "--cpu 500m --memory 1Gi --gpu 0 --param lr=0.01 --param layers=3 --param flag=true "
        "--param 'cfg={\"depth\": 2}' --param arch=resnet --env MODE=fast --env EMPTY=\n"
        "print('x')\n")
    spec = client.get("TrainingJob", "shaped")["spec"]
    assert spec["framework"] == "tensorflow"
    assert spec["workers"]["replicas"] == 2
    assert spec["workers"]["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert spec["master"]["replicas"] == 1
    assert spec["parameterServer"]["replicas"] == 1
    assert spec["params"] == {"lr": 0.01, "layers": 3, "flag": True, "cfg": {"depth": 2},
                              "arch": "resnet"}
    assert spec["env"] == [{"name": "MODE", "value": "fast"}, {"name": "EMPTY"}] or \
        spec["env"] == [{"name": "MODE", "value": "fast"}, {"name": "EMPTY", "value": ""}]
    shell.run_cell("%%ml_train --name gpu-job --gpu 2\nprint('x')\n")
    requests = client.get("TrainingJob", "gpu-job")["spec"]["workers"]["resources"]["requests"]
    assert requests == {"nvidia.com/gpu": "2"}
    client.cancel_job("gpu-job")


def test_without_a_name_the_job_gets_a_readable_unique_one(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train\nprint('a')\n")
    shell.run_cell("%%ml_train --experiment mnist\nprint('b')\n")
    names = sorted(j["metadata"]["name"] for j in client.list_all("TrainingJob"))
    assert len(names) == 2
    assert any(re.fullmatch(r"[a-z]+-[a-z]+-[0-9a-f]{4}", n) for n in names), names
    assert any(re.fullmatch(r"mnist-[0-9a-f]{4}", n) for n in names), names


def test_the_widget_receives_metrics_as_the_job_logs_them(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell(f"%%ml_train --name live --param progress_total=5\n{SLOW_METRICS}")
    w = api.job("live").widget
    assert w is not None
    seen: list[tuple[int, str]] = []

    def on_metrics(change: dict[str, Any]) -> None:
        seen.append((change["new"].get("loss", {}).get("count", 0), w.phase))

    w.observe(on_metrics, names="metrics")
    wait_for(lambda: w.metrics.get("loss", {}).get("count", 0) >= 1, 30,
             message="the first point in the widget")
    # the first point arrived while the job was still running
    assert phase_of(client, "live") == "Running"
    assert w.wait(60) == "Succeeded"
    assert w.metrics["loss"]["steps"] == [0, 1, 2, 3, 4]
    assert w.metrics["loss"]["values"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert any(count < 5 and phase == "Running" for count, phase in seen), seen
    assert w.progress_total == 5 and w.progress_step == 5
    assert w.phase == "Succeeded" and w.workers_total == 1
    assert w.start_time and w.completion_time
    assert w.replicas == ["worker-0"]
    assert any(line == "step 4" for _, line in w.logs), w.logs
    assert not w.live


def test_progress_total_can_come_from_a_logged_param(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train --name declared\nimport hanzo_ml_lab as ml\n"
                   "ml.log_param('total_steps', 4)\n"
                   "for s in range(2):\n    ml.log_metric('acc', s / 2, step=s)\n")
    w = api.job("declared").widget
    assert w is not None
    assert w.wait(60) == "Succeeded"
    assert w.progress_total == 4 and w.progress_step == 2


def test_wait_blocks_until_the_job_finished(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%%ml_train --name waited --wait\nprint('ok')\n")
    assert phase_of(client, "waited") == "Succeeded"
    out, _ = capsys.readouterr()
    assert "TrainingJob waited Succeeded" in out
    shell.run_cell("%%ml_train --name crashes --wait\nraise SystemExit(3)\n")
    _, err = capsys.readouterr()
    assert phase_of(client, "crashes") == "Failed"
    assert "TrainingJob crashes Failed" in err and "exited with code 3" in err, err


def test_last_job_is_the_job_the_cell_just_launched(shell: InteractiveShell,
                                                    cp: ControlPlane) -> None:
    import hanzo_ml_lab as ml

    shell.run_cell_magic("ml_train", "--experiment last", "print('hi')")
    launched = ml.last_job()
    assert launched.name
    assert cp.client("acme").get("TrainingJob", launched.name)["spec"]["script"] == "print('hi')"
