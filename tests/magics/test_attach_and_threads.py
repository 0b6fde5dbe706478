"""%ml_attach shows a job again after a kernel restart, with its whole history; watcher
threads end when their widget closes."""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.magics import api
from hanzo_ml_lab.magics._widget import live_widgets
from tests.conftest import ControlPlane, wait_for
from tests.magics.conftest import finished, phase_of, watcher_threads

pytestmark = pytest.mark.timeout(120)

TRAIN_CELL = """%%ml_train --name restartable --experiment restarts
import time
import hanzo_ml_lab as ml
for step in range(6):
    ml.log_metric("loss", 10.0 - step, step=step)
    ml.log_metric("acc", step / 10, step=step)
    print("epoch", step, flush=True)
    time.sleep(0.25)
"""


class Kernel:
    """A real ipykernel started by jupyter_client, with this venv's Python."""

    def __init__(self, kernels_dir: Path, env: dict[str, str]) -> None:
        self.km = KernelManager(kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(kernels_dir)]), kernel_name="hanzo-test")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> tuple[str, str, list[dict[str, Any]]]:
        """Execute ``code``; its stdout, stderr, and every display message seen meanwhile
        (including updates of earlier cells' outputs, which have those cells as parent)."""
        stdout: list[str] = []
        stderr: list[str] = []
        displays: list[dict[str, Any]] = []
        msg_id = self.kc.execute(code)
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"{code!r} did not finish in {timeout}s"
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            kind, content = msg["msg_type"], msg["content"]
            ours = msg["parent_header"].get("msg_id") == msg_id
            if kind in ("display_data", "update_display_data", "execute_result"):
                displays.append({**content, "msg_type": kind})
            elif ours and kind == "stream":
                (stdout if content["name"] == "stdout" else stderr).append(content["text"])
            elif ours and kind == "error":
                stderr.append("\n".join(content["traceback"]))
            elif ours and kind == "status" and content["execution_state"] == "idle":
                break
        reply = self.kc.get_shell_msg(timeout=timeout)
        assert reply["content"]["status"] == "ok", (reply["content"], stderr)
        return "".join(stdout), "".join(stderr), displays

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


@pytest.fixture
def kernel_env(cp: ControlPlane, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    kernels = tmp_path / "kernels" / "hanzo-test"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "hanzo-ml test", "language": "python"}))
    import os

    env = {**os.environ, "HANZO_ML_API": cp.url, "HANZO_ML_TOKEN": cp.token("acme"),
           "HANZO_ML_ORG": "acme", "JPY_SESSION_NAME": "work/restart.ipynb",
           "IPYTHONDIR": str(tmp_path / "ipython")}
    yield tmp_path / "kernels", env


def test_attach_in_a_new_kernel_replays_the_whole_job(
        kernel_env: tuple[Path, dict[str, str]], client: Client) -> None:
    kernels, env = kernel_env
    a = Kernel(kernels, env)
    try:
        a.run("%load_ext hanzo_ml_lab.magics")
        _, err, displays = a.run(TRAIN_CELL)
        assert not err, err
        # the cell's output carries the job's identity for a reopened notebook
        assert any(d.get("metadata", {}).get("hanzo-ml") ==
                   {"kind": "TrainingJob", "name": "restartable", "namespace": "tenant-acme"}
                   for d in displays), displays
        assert any("text/html" in d["data"] and
                   "application/vnd.jupyter.widget-view+json" in d["data"] for d in displays)
    finally:
        a.shutdown()
    annotations = client.get("TrainingJob", "restartable")["metadata"]["annotations"]
    assert annotations["hanzo.ai/notebook-path"] == "work/restart.ipynb"

    b = Kernel(kernels, env)
    try:
        b.run("%load_ext hanzo_ml_lab.magics")
        b.run("%ml_attach restartable")
        out, err, displays = b.run(
            "import json\nfrom hanzo_ml_lab.magics import api\n"
            "w = api.job('restartable').widget\n"
            "phase = w.wait(60)\n"
            "print(json.dumps({'phase': phase, 'metrics': w.metrics, 'logs': w.logs}))\n",
            timeout=90)
    finally:
        b.shutdown()
    state = json.loads(out.strip().splitlines()[-1])
    assert state["phase"] == "Succeeded"
    assert state["metrics"]["loss"]["steps"] == [0, 1, 2, 3, 4, 5]
    assert state["metrics"]["loss"]["values"] == [10, 9, 8, 7, 6, 5]
    assert state["metrics"]["acc"]["count"] == 6
    assert [line for _, line in state["logs"]] == [f"epoch {i}" for i in range(6)]
    # when the job ended, the attach cell's output was refreshed with the final summary
    final = [d for d in displays if d["msg_type"] == "update_display_data"]
    assert final, displays
    assert "Succeeded" in final[-1]["data"]["text/html"]
    assert "loss" in final[-1]["data"]["text/html"]
    assert final[-1]["metadata"]["hanzo-ml"]["name"] == "restartable"


def test_attach_in_a_fresh_watcher_sees_all_metrics(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell(TRAIN_CELL)
    first = api.job("restartable").widget
    assert first is not None
    first.close()  # the "old kernel" view is gone; the job runs on
    assert phase_of(client, "restartable") != "Succeeded"
    shell.run_cell("%ml_attach restartable")
    again = api.job("restartable").widget
    assert again is not None and again is not first
    assert again.wait(60) == "Succeeded"
    assert again.points("loss") == [(float(s), 10.0 - s) for s in range(6)]


def test_watcher_threads_end_when_widgets_close(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train --name long-runner\nimport time\nprint('up', flush=True)\n"
                   "import hanzo_ml_lab as ml\nml.log_metric('x', 1.0, step=0)\n"
                   "time.sleep(60)\n")
    live = api.job("long-runner").widget
    assert live is not None
    wait_for(lambda: live.metrics.get("x"), 30, message="the running job's first point")
    live.close()
    wait_for(lambda: not watcher_threads(), 5, message="the first watcher to end")
    baseline = threading.active_count()
    for _ in range(50):
        shell.run_cell("%ml_attach long-runner")
        views = live_widgets("TrainingJob", "long-runner")
        assert len(views) == 1
        views[0].close()
    assert live_widgets() == []
    wait_for(lambda: not watcher_threads(), 5, message="every watcher thread to end")
    assert threading.active_count() <= baseline + 2, threading.enumerate()
    client.cancel_job("long-runner")
    assert finished(client, "long-runner")["status"]["failureReason"] == "Cancelled"


def test_a_finished_job_leaves_no_watcher_behind(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train --name brief\nprint('hi')\n")
    w = api.job("brief").widget
    assert w is not None
    assert w.wait(60) == "Succeeded"
    wait_for(lambda: not w.watching, 5, message="the watcher to end by itself")
    assert not watcher_threads()
    w.close()
