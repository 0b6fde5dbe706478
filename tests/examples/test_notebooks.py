"""Every notebook in notebooks/examples/ runs top to bottom in a real kernel (nbclient) against a
real control plane, and shows what it promises: the live view, the tables, jobs that succeeded.

The kernel inherits the test's environment, so it finds the control plane the way a kernel
started by the Jupyter server extension does: ``HANZO_ML_API``, ``HANZO_ML_TOKEN``,
``HANZO_ML_ORG`` and ``HANZO_ML_HOME``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from hanzo_ml_lab.client import Client
from tests.conftest import ControlPlane, wait_for
from tests.examples.conftest import EXAMPLES, failure_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT = 120


# -- reading outputs ----------------------------------------------------------------------

class _Table(HTMLParser):
    """The header and body rows of the first ``<table>`` pandas rendered (stdlib only:
    ``pandas.read_html`` would need lxml or html5lib)."""

    def __init__(self) -> None:
        super().__init__()
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._section = ""
        self._row: list[str] | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._row is not None and self._text is not None:
            self._row.append("".join(self._text).strip())
            self._text = None
        elif tag == "tr" and self._row is not None:
            if self._section == "thead" and not self.header:
                self.header = self._row
            elif self._section == "tbody":
                self.rows.append(self._row)
            self._row = None


def table(cell: Any) -> tuple[list[str], list[dict[str, str]]]:
    """The DataFrame a cell showed: its columns and its rows as dicts (index left out)."""
    for out in cell.outputs:
        html = (out.get("data") or {}).get("text/html", "")
        if out.output_type == "execute_result" and 'class="dataframe"' in html:
            parsed = _Table()
            parsed.feed(html)
            columns = parsed.header[1:]  # the first header cell is the index's (empty)
            return columns, [dict(zip(columns, row[1:], strict=True)) for row in parsed.rows]
    raise AssertionError(f"cell did not show a DataFrame table:\n{cell.source}\n{cell.outputs}")


def stdout(cell: Any) -> str:
    return "".join(o.text for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def result_text(cell: Any) -> str:
    for out in cell.outputs:
        if out.output_type == "execute_result":
            return str(out.data.get("text/plain", ""))
    raise AssertionError(f"cell has no result:\n{cell.source}")


def cell_with(nb: Any, marker: str) -> Any:
    """The one code cell whose source contains ``marker``."""
    found = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"{len(found)} code cells contain {marker!r}"
    return found[0]


def assert_live_view(nb: Any) -> None:
    """Each ``%%ml_train`` cell displayed the widget and its static summary, tagged with the
    job it shows."""
    cells = [c for c in nb.cells if c.cell_type == "code" and
             c.source.lstrip().startswith("%%ml_train")]
    assert cells, "the notebook has no %%ml_train cell"
    for cell in cells:
        shown = [o for o in cell.outputs if o.output_type == "display_data"]
        views = [o for o in shown if WIDGET in o.data]
        assert views, f"no live view in the %%ml_train cell's outputs: {cell.outputs}"
        view = views[0]
        tag = view.metadata["hanzo-ml"]
        assert tag["kind"] == "TrainingJob" and tag["namespace"] == "tenant-acme"
        assert tag["name"] in view.data.get("text/html", ""), view.data


def assert_no_errors(nb: Any) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.output_type != "error", (
                f"cell failed:\n{cell.source}\n{out.ename}: {out.evalue}")
            if out.output_type == "stream" and out.name == "stderr":
                raise AssertionError(f"cell wrote to stderr:\n{cell.source}\n{out.text}")


def jobs_succeeded(client: Client, count: int) -> list[dict[str, Any]]:
    """Every TrainingJob of the tenant, once ``count`` exist and all ended Succeeded."""
    # (annotated: mypy reads Client.list_all's ``list[...]`` as the method Client.list)
    listed: Iterable[dict[str, Any]] = client.list_all("TrainingJob")
    jobs = [*listed]
    assert len(jobs) == count, [j["metadata"]["name"] for j in jobs]
    for job in jobs:
        phase = (job.get("status") or {}).get("phase")
        assert phase == "Succeeded", failure_report(client, job["metadata"]["name"])
    return jobs


def experiment_counts(client: Client, name: str, runs: int) -> None:
    def counted() -> bool:
        return bool((client.get("Experiment", name).get("status") or {}).get("runs") == runs)

    wait_for(counted, 45, interval=0.2, message=f"Experiment {name} to count {runs} runs")


# -- what each notebook must show ---------------------------------------------------------

def check_quickstart(nb: Any, client: Client) -> None:
    first = result_text(cell_with(nb, "first = f\"quickstart-")).strip("'")
    assert re.fullmatch(r"quickstart-[0-9a-f]{4}", first), first
    assert result_text(cell_with(nb, "ml.job(first).wait(")) == "'Succeeded'"

    launched = re.findall(r"'(quickstart-[0-9a-f]{4})'",
                          result_text(cell_with(nb, "sweep = [ml.train(")))
    assert len(launched) == 3, launched
    waited = stdout(cell_with(nb, "job.wait(timeout="))
    assert waited.split("\n")[:3] == [f"{n}: Succeeded" for n in launched], waited

    columns, rows = table(cell_with(nb, 'ml.runs("quickstart")'))
    assert columns == ["run", "phase", "params.C", "metrics.accuracy", "metrics.f1_macro"]
    assert len(rows) == 4
    assert sorted(r["run"] for r in rows) == sorted([first, *launched])
    assert {r["phase"] for r in rows} == {"Succeeded"}
    assert sorted(r["params.C"] for r in rows) == ["0.01", "0.1", "0.5", "10.0"]
    accuracy = [float(r["metrics.accuracy"]) for r in rows]
    assert accuracy == sorted(accuracy, reverse=True) and accuracy[0] > 0.9

    best_cell = cell_with(nb, "ml.metrics(run=best)")
    columns, points = table(best_cell)
    assert columns == ["run", "key", "step", "timestamp", "value"]
    assert sorted(p["key"] for p in points) == ["accuracy", "f1_macro"]
    assert {p["run"] for p in points} == {rows[0]["run"]}
    assert f"best run: {rows[0]['run']}" in stdout(best_cell)

    used = stdout(cell_with(nb, "client.get_artifact("))
    assert "/model.pkl" in used, used
    overall = re.search(r"accuracy on all 1797 digits: ([\d.]+)", used)
    assert overall and float(overall.group(1)) > 0.9, used

    columns, listed = table(cell_with(nb, "%ml_jobs"))
    assert columns[:4] == ["name", "framework", "phase", "workers"]
    assert sorted(j["name"] for j in listed) == sorted(r["run"] for r in rows)
    assert {j["phase"] for j in listed} == {"Succeeded"}
    assert "accuracy" in stdout(cell_with(nb, "%ml_logs {first}"))

    jobs_succeeded(client, 4)
    experiment_counts(client, "quickstart", 4)


def check_distributed(nb: Any, client: Client) -> None:
    name = result_text(cell_with(nb, "name = f\"ddp-demo-")).strip("'")
    assert re.fullmatch(r"ddp-demo-[0-9a-f]{4}", name), name
    assert result_text(cell_with(nb, "ml.job(name).wait(")) == "'Succeeded'"

    columns, curve = table(cell_with(nb, "ml.metrics(job=name"))
    assert columns == ["step", "loss"]
    assert [int(r["step"]) for r in curve] == list(range(40))
    losses = [float(r["loss"]) for r in curve]
    assert losses[-1] < losses[0] / 10

    logs = stdout(cell_with(nb, "%ml_logs {name} --replica worker-1"))
    assert "rank 1 of 2: MASTER_ADDR=127.0.0.1" in logs and "rank 1: trained 40 steps" in logs
    assert "rank 0" not in logs and "[worker-" not in logs

    columns, runs = table(cell_with(nb, 'ml.runs("ddp-demo")'))
    assert [r["run"] for r in runs] == [name]
    assert runs[0]["phase"] == "Succeeded"
    assert runs[0]["params.steps"] == "40" and runs[0]["params.world_size"] == "2"
    assert "metrics.loss" in columns and "metrics.final_loss" in columns

    [job] = jobs_succeeded(client, 1)
    assert job["metadata"]["name"] == name
    assert job["spec"]["framework"] == "pytorch" and job["status"]["workersTotal"] == 2
    experiment_counts(client, "ddp-demo", 1)


CHECKS: dict[str, Callable[[Any, Client], None]] = {
    "01-quickstart.ipynb": check_quickstart,
    "02-distributed-pytorch.ipynb": check_distributed,
}


# -- the tests ----------------------------------------------------------------------------

def test_every_example_notebook_has_its_checks() -> None:
    assert NOTEBOOKS, f"no notebooks in {EXAMPLES}"
    assert sorted(p.name for p in NOTEBOOKS) == sorted(CHECKS)


def test_example_notebooks_are_saved_without_outputs() -> None:
    """The repository keeps them clean: CI executes them, readers run them."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (path.name, cell.source)


def test_python3_kernel_is_this_interpreter() -> None:
    """nbclient starts kernel "python3"; jupyter_client runs a spec whose argv[0] is
    ``python`` with ``sys.executable``, so the kernel sees this venv's packages."""
    argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    assert argv0 in ("python", "python3", sys.executable), argv0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, cp: ControlPlane, client: Client,
                                     tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    runner = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(EXAMPLES)}})
    started = time.monotonic()
    try:
        runner.execute()
    finally:
        nbformat.write(nb, tmp_path / path.name)  # the executed notebook, to look at
    elapsed = time.monotonic() - started
    print(f"{path.name}: executed in {elapsed:.1f}s ({tmp_path / path.name})")

    assert_no_errors(nb)
    assert_live_view(nb)
    CHECKS[path.name](nb, client)
