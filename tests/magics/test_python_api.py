"""ml.train / ml.job: the Python equivalents of the magics."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.magics import api
from hanzo_ml_lab.magics._spec import InvalidArgument
from tests.conftest import ControlPlane

pytestmark = pytest.mark.timeout(90)


def main() -> None:
    import hanzo_ml_lab as ml

    params = ml.params()
    for step in range(params["steps"]):
        ml.log_metric("score", step * 2.0, step=step)
    print("trained", params["steps"], flush=True)


def test_train_a_function_and_read_back_everything(cp: ControlPlane, client: Client) -> None:
    job = api.train(main, name="from-func", params={"steps": 3}, experiment="api", show=False)
    assert job.name == "from-func" and repr(job).startswith("<Job from-func")
    assert job.wait(60) == "Succeeded"
    assert job.phase == "Succeeded"
    assert job.status["workersTotal"] == 1
    assert "trained 3" in str(job.logs())
    frame = job.metrics()
    assert list(frame["key"]) == ["score"] * 3
    assert list(frame["value"]) == [0.0, 2.0, 4.0]
    assert "from-func" in job._repr_html_()
    assert "def main()" in client.get("TrainingJob", "from-func")["spec"]["script"]


def test_follow_logs_waits_for_the_start_and_ends_with_the_job(cp: ControlPlane) -> None:
    job = api.train("import time\nfor i in range(3):\n    print(i, flush=True)\n"
                    "    time.sleep(0.2)\n", name="followed", show=False)
    chunks = job.logs(follow=True)
    assert not isinstance(chunks, str)
    assert "".join(chunks).split() == ["0", "1", "2"]
    assert job.phase == "Succeeded"


def test_train_with_show_displays_a_live_widget_and_wait_blocks(
        shell: InteractiveShell, client: Client) -> None:
    job = api.train("print('shown')", name="shown", wait=True)
    assert job.phase == "Succeeded"
    w = job.widget
    assert w is not None and w.phase == "Succeeded"
    assert job.watch() is w or not w.watching


def test_wait_times_out_without_stopping_the_job(cp: ControlPlane, client: Client) -> None:
    job = api.train("import time\ntime.sleep(30)", name="patient", show=False)
    with pytest.raises(TimeoutError, match="patient"):
        job.wait(timeout=0.5)
    job.cancel()
    assert job.wait(30) == "Failed"


def test_bad_arguments_raise_invalid_argument(cp: ControlPlane, client: Client) -> None:
    with pytest.raises(InvalidArgument, match="workers: must be >= 1, got 0"):
        api.train("print(1)", workers=0, show=False)
    with pytest.raises(InvalidArgument, match="master: must be between 0 and 1, got 2"):
        api.train("print(1)", master=2, show=False)
    with pytest.raises(InvalidArgument, match="backend gke is not available yet: only 'local'"):
        api.train("print(1)", backend="gke", show=False)
    with pytest.raises(InvalidArgument, match="lambda"):
        api.train(lambda: None, show=False)
    assert client.list_all("TrainingJob") == []
