"""%ml_jobs lists, %ml_logs prints, %ml_cancel (and the widget's Cancel button) cancels."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.magics import api
from tests.conftest import wait_for
from tests.magics.conftest import finished, phase_of

pytestmark = pytest.mark.timeout(90)


def test_ml_jobs_returns_a_dataframe_with_the_jobs(
        shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train --name listed-a --experiment alpha --workers 2\nprint('a')\n")
    shell.run_cell("%%ml_train --name listed-b --experiment beta\nprint('b')\n")
    finished(client, "listed-a")
    finished(client, "listed-b")
    frame = shell.run_line_magic("ml_jobs", "")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["name", "framework", "phase", "workers", "experiment",
                                   "started", "duration"]
    assert set(frame["name"]) == {"listed-a", "listed-b"}
    row = frame.set_index("name").loc["listed-a"]
    assert row["framework"] == "pytorch" and row["phase"] == "Succeeded"
    assert row["workers"].endswith("/2") and row["experiment"] == "alpha"
    assert isinstance(row["started"], pd.Timestamp)
    assert isinstance(row["duration"], pd.Timedelta)
    only_beta = shell.run_line_magic("ml_jobs", "--experiment beta")
    assert list(only_beta["name"]) == ["listed-b"]
    assert len(shell.run_line_magic("ml_jobs", "--phase running")) == 0
    assert len(shell.run_line_magic("ml_jobs", "--phase Succeeded --limit 1")) == 1


def test_ml_logs_prints_the_output(shell: InteractiveShell, client: Client,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%%ml_train --name talker --workers 2\nimport os\n"
                   "for i in range(3):\n    print('line', i, 'from', os.environ['RANK'])\n")
    finished(client, "talker")
    capsys.readouterr()
    shell.run_cell("%ml_logs talker --replica worker-1")
    out, _ = capsys.readouterr()
    assert out.splitlines() == ["line 0 from 1", "line 1 from 1", "line 2 from 1"]
    shell.run_cell("%ml_logs talker --tail 1")
    out, _ = capsys.readouterr()
    assert sorted(out.splitlines()) == ["[worker-0] line 2 from 0", "[worker-1] line 2 from 1"]


def test_ml_logs_follow_streams_until_the_job_ends(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%%ml_train --name follower\nimport time\n"
                   "for i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n")
    assert phase_of(client, "follower") not in ("Succeeded", "Failed")
    capsys.readouterr()
    shell.run_cell("%ml_logs follower --follow")
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"tick {i}" for i in range(4)], (out, err)
    assert phase_of(client, "follower") == "Succeeded"


def test_ml_cancel_cancels_a_running_job(shell: InteractiveShell, client: Client,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%%ml_train --name doomed\nimport time\ntime.sleep(60)\n")
    wait_for(lambda: phase_of(client, "doomed") == "Running", 30, message="doomed to run")
    shell.run_cell("%ml_cancel doomed")
    out, _ = capsys.readouterr()
    assert "cancelling TrainingJob doomed" in out
    status = finished(client, "doomed")["status"]
    assert status["phase"] == "Failed" and status["failureReason"] == "Cancelled"
    w = api.job("doomed").widget
    assert w is not None and w.wait(30) == "Failed"
    assert "Cancelled" in w.message
    shell.run_cell("%ml_cancel doomed")
    out, _ = capsys.readouterr()
    assert "already Failed" in out


def test_the_cancel_button_cancels_the_job(shell: InteractiveShell, client: Client) -> None:
    shell.run_cell("%%ml_train --name button\nimport time\ntime.sleep(60)\n")
    w = api.job("button").widget
    assert w is not None
    wait_for(lambda: w.phase == "Running", 30, message="the widget to see Running")
    # what the ES module sends when the button is clicked
    w._handle_custom_msg({"type": "cancel"}, [])
    assert w.cancel_state == "sent"
    assert w.wait(30) == "Failed"
    assert client.get("TrainingJob", "button")["status"]["failureReason"] == "Cancelled"
