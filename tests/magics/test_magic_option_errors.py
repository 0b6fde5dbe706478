"""Bad magic input prints a short usage message naming the problem, never a traceback, and
creates nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hanzo_ml_lab.client import Client
from tests.conftest import ControlPlane, start_control_plane

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One control plane (with its controller) for the module: nothing here creates a job,
    which every test checks, so sharing it keeps the many small cases quick."""
    home = tmp_path_factory.mktemp("option-errors") / "hanzo-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HANZO_ML_HOME", str(home))
        mp.delenv("HANZO_ML_TOKEN_FILE", raising=False)
        plane, server, thread = start_control_plane(home, run_controller=True)
        mp.setenv("HANZO_ML_API", plane.url)
        mp.setenv("HANZO_ML_TOKEN", plane.token("acme"))
        mp.setenv("HANZO_ML_ORG", "acme")
        try:
            yield plane
        finally:
            server.should_exit = True
            thread.join(timeout=15)

BODY = "print('hello')\n"


@pytest.mark.parametrize(
    ("line", "body", "expected"),
    [
        ("--workers abc", BODY, "argument --workers: must be a whole number >= 1, got 'abc'"),
        ("--workers 0", BODY, "argument --workers: must be a whole number >= 1, got '0'"),
        ("--master 2", BODY, "argument --master: must be 0 or 1"),
        ("--ps -1", BODY, "argument --ps"),
        ("--gpu many", BODY, "argument --gpu: must be a whole number >= 0, got 'many'"),
        ("--cpu lots", BODY, "argument --cpu: must be a quantity"),
        ("--param lr", BODY, "argument --param: must be key=value (e.g. lr=0.01), got 'lr'"),
        ("--param =3", BODY, "argument --param: must be key=value"),
        ("--env NOEQUALS", BODY, "argument --env: must be NAME=VALUE"),
        ("--env 1BAD=x", BODY, "'1BAD' is not an environment variable name"),
        ("--frobnicate", BODY, "unrecognized arguments: --frobnicate"),
        ("--backend kubernetes", BODY,
         "backend kubernetes is not available yet: only 'local'"),
        ("", "   \n\n", "the cell is empty"),
    ],
)
def test_bad_ml_train_options_print_usage_naming_the_problem(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str],
        line: str, body: str, expected: str) -> None:
    result = shell.run_cell(f"%%ml_train {line}\n{body}")
    out, err = capsys.readouterr()
    assert result.success
    assert expected in err, err
    assert "usage: %%ml_train" in err
    assert "Traceback" not in out + err
    assert client.list_all("TrainingJob") == []


def test_api_validation_error_names_the_field_and_rule(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%%ml_train --name Not_A_Name\nprint(1)\n")
    _, err = capsys.readouterr()
    assert "metadata.name" in err and "RFC 1123" in err, err
    assert "Traceback" not in err
    shell.run_cell("%%ml_train --framework caffe\nprint(1)\n")
    _, err = capsys.readouterr()
    assert "spec.framework" in err, err
    assert "Traceback" not in err
    assert client.list_all("TrainingJob") == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--objective acc --param lr:log_uniform:1e-2", "log_uniform needs min,max"),
        ("--objective acc --param lr:normal:0,1", "type must be one of log_uniform"),
        ("--objective acc --param lr", "must be name:type:spec"),
        ("--objective acc --param n:int:a,4", "min must be a number, got 'a'"),
        ("--objective acc --algorithm annealing --param n:int:1,4",
         "argument --algorithm: invalid choice: 'annealing'"),
        ("--objective acc --max-trials 0 --param n:int:1,4", "argument --max-trials"),
        ("--param n:int:1,4", "--objective is required"),
        ("--objective acc", "at least one --param"),
    ],
)
def test_bad_ml_sweep_options_print_usage_naming_the_problem(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str],
        line: str, expected: str) -> None:
    shell.run_cell(f"%%ml_sweep {line}\n{BODY}")
    _, err = capsys.readouterr()
    assert expected in err, err
    assert "usage: %%ml_sweep" in err
    assert "Traceback" not in err
    assert client.list_all("Sweep") == []


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%ml_logs", "the following arguments are required: name"),
        ("%ml_logs some-job --tail x", "argument --tail: must be a whole number >= 1"),
        ("%ml_jobs --phase Sleeping", "argument --phase: must be one of Pending"),
        ("%ml_jobs --limit 0", "argument --limit"),
        ("%ml_cancel", "the following arguments are required: name"),
        ("%ml_attach", "the following arguments are required: name"),
    ],
)
def test_bad_line_magic_options_print_usage(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str], cell: str,
        expected: str) -> None:
    shell.run_cell(cell)
    _, err = capsys.readouterr()
    assert expected in err, err
    assert "usage: %" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("cell", ["%ml_logs ghost", "%ml_cancel ghost", "%ml_attach ghost"])
def test_a_missing_job_is_reported_in_one_line(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str], cell: str) -> None:
    shell.run_cell(cell)
    _, err = capsys.readouterr()
    assert "ghost" in err and "not found" in err.lower(), err
    assert "Traceback" not in err


def test_magics_document_themselves(shell: InteractiveShell,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    sweep_doc = shell.find_cell_magic("ml_sweep").__doc__
    assert shell.find_line_magic("ml_sweep").__doc__ == sweep_doc
    for option in ("--algorithm", "--max-trials", "--parallelism", "--objective", "--goal",
                   "--param", "lr:log_uniform:1e-5,1e-2", "later release"):
        assert option in sweep_doc, option
    train_doc = shell.find_cell_magic("ml_train").__doc__
    for option in ("--name", "--framework", "--workers", "--master", "--ps", "--cpu",
                   "--memory", "--gpu", "--image", "--experiment", "--param", "--env",
                   "--backend", "--wait"):
        assert option in train_doc, option
    shell.run_cell("%ml_sweep?")
    out, _ = capsys.readouterr()
    assert "--max-trials" in out
    shell.run_cell("%%ml_train?")
    out, _ = capsys.readouterr()
    assert "--workers" in out


def test_the_cell_magics_used_as_a_line_say_they_need_a_cell(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%ml_train --workers 2")
    _, err = capsys.readouterr()
    assert "%%ml_train is a cell magic" in err and "Traceback" not in err
    shell.run_cell("%ml_sweep --objective acc --param n:int:1,4")
    _, err = capsys.readouterr()
    assert "%%ml_sweep is a cell magic" in err and "Traceback" not in err


def test_no_control_plane_is_one_clear_line(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HANZO_ML_API")
    monkeypatch.setenv("HANZO_ML_HOME", str(tmp_path / "nothing-here"))
    shell.run_cell("%%ml_train\nprint(1)\n")
    _, err = capsys.readouterr()
    assert "no control plane configured" in err and "hanzo-ml serve" in err, err
    assert "Traceback" not in err


def test_a_taken_name_suggests_attaching(
        shell: InteractiveShell, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    client.create({"kind": "TrainingJob", "metadata": {"name": "taken"},
                   "spec": {"framework": "pytorch", "command": ["python", "-c", "pass"]}})
    try:
        shell.run_cell("%%ml_train --name taken\nprint(1)\n")
        _, err = capsys.readouterr()
        assert "already exists" in err and "%ml_attach taken" in err, err
        assert "Traceback" not in err
    finally:
        client.delete("TrainingJob", "taken")
