"""The live job view in a real JupyterLab, in a real (headless) Chromium.

Each test writes a notebook into the lab's root, opens it the way a person does (the URL, then
Run → Run All Cells from the menu bar), and reads what the widget draws from the DOM. The
transitions are read from the page's recorder (``window.__hml``, see conftest.py), which notes
every state the view passes through, so a fast job cannot slip between two polls.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import wait_for
from tests.ui.conftest import Lab, PageErrors

pytestmark = [pytest.mark.slow, pytest.mark.ui, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO / "docs" / "img" / "job-widget.png"
LOAD = "%load_ext hanzo_ml_lab"
LONG = 60_000  # ms: generous, for a loaded CI machine; every wait has an explicit condition

TRAIN = """%%ml_train --name ui-job --experiment ui
import time
import hanzo_ml_lab as ml
print("training starts", flush=True)
for i in range(30):
    ml.log_metric("loss", 2.0 / (1 + 0.3 * i) + 0.05, step=i)
    if i % 10 == 0:
        print(f"step {i}: still learning", flush=True)
    time.sleep(0.1)
print("training done", flush=True)
"""

SLEEPER = """%%ml_train --name ui-cancel --experiment ui
import time
print("going to sleep", flush=True)
time.sleep(600)
print("woke up", flush=True)
"""


def open_notebook(page: Page, lab: Lab, name: str) -> None:
    """Open the notebook and wait until its kernel is started and idle."""
    page.goto(lab.notebook_url(name))
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel.locator(".jp-Cell").first).to_be_visible(timeout=LONG)
    # The status bar names the kernel only once the session has one ("No Kernel | ..."
    # before), and says Idle once it answered; the toolbar's indicator can say idle earlier.
    expect(page.get_by_role("button", name="Python 3 (ipykernel) | Idle", exact=True)
           ).to_be_visible(timeout=LONG)
    expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=LONG)


def run_all_cells(page: Page) -> None:
    """Run → Run All Cells, through the menu bar."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    item = page.get_by_role("menuitem", name="Run All Cells", exact=True)
    expect(item).to_be_visible()
    item.click()


def record(page: Page, name: str) -> dict[str, Any]:
    """What the recorder saw of the view of job ``name`` so far."""
    got = page.evaluate("(n) => (window.__hml || {})[n] || null", name)
    return got or {"phases": [], "replicas": [], "cancel": [], "points": {}}


def wait_for_phase(page: Page, name: str, phase: str, timeout: int = LONG) -> None:
    page.wait_for_function(
        "([n, p]) => ((window.__hml || {})[n] || {phases: []}).phases.includes(p)",
        arg=[name, phase], timeout=timeout)


def no_widget_errors(errors: PageErrors) -> None:
    assert not errors.uncaught, f"uncaught errors in the page: {errors.uncaught}"
    ours = [m for m in errors.console if "hanzo" in m.lower() or "anywidget" in m.lower()]
    assert not ours, f"widget errors in the console: {ours}"


def test_live_job_view(lab: Lab, page: Page, page_errors: PageErrors,
                       screenshot_dir: Path) -> None:
    nb = lab.write_notebook("ui_train.ipynb", [LOAD, TRAIN])
    open_notebook(page, lab, nb)
    run_all_cells(page)

    view = page.locator('.hanzo-ml-view[data-name="ui-job"]')
    expect(view).to_be_visible(timeout=LONG)
    expect(view.locator(".hml-name")).to_have_text("TrainingJob ui-job")

    wait_for_phase(page, "ui-job", "Running")
    # Mid-run: a few points drawn while Running, for a screenshot of the live state.
    page.wait_for_function(
        "() => ((window.__hml['ui-job'] || {}).points || {}).loss?.some("
        "([ph, n]) => ph === 'Running' && n >= 5)", timeout=LONG)
    page.screenshot(path=str(screenshot_dir / "job-running.png"))

    badge = view.locator(".hml-badge")
    expect(badge).to_have_attribute("data-phase", "Succeeded", timeout=LONG)
    expect(badge).to_have_text("Succeeded")

    # The whole series arrives, then the chart holds all 30 points.
    chart = view.locator('.hml-chart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-points", "30", timeout=LONG)
    points = chart.locator("polyline.hml-line").get_attribute("points") or ""
    assert len(points.split()) == 30
    expect(chart.locator(".hml-chart-key")).to_have_text("loss")
    expect(chart.locator(".hml-chart-last")).not_to_be_empty()

    seen = record(page, "ui-job")
    phases = seen["phases"]
    assert "Running" in phases and phases[-1] == "Succeeded", phases
    assert phases.index("Running") < phases.index("Succeeded"), phases
    assert "Failed" not in phases, phases
    # The chart grew while the job ran: several distinct point counts, never shrinking.
    counts = [n for _, n in seen["points"]["loss"]]
    running_counts = {n for ph, n in seen["points"]["loss"] if ph == "Running" and n > 0}
    assert len(running_counts) >= 2, seen["points"]["loss"]
    assert counts == sorted(counts), counts
    assert any(r.endswith(" 1/1") for r in seen["replicas"]), seen["replicas"]

    tail = view.locator("pre.hml-log-tail")
    for line in ("training starts", "step 0: still learning", "step 20: still learning",
                 "training done"):
        expect(tail).to_contain_text(line, timeout=LONG)
    expect(view.locator(".hml-elapsed")).to_contain_text("took")
    expect(view.locator("button.hml-cancel")).to_be_hidden()  # nothing left to cancel
    progress = view.locator(".hml-progress")
    expect(progress.locator(".hml-progress-text")).to_have_text("30 steps")
    expect(progress).not_to_have_class(re.compile(r"\bhml-indeterminate\b"))  # not sliding
    # Full once done (the bar eases to its width in 0.3 s, so wait for it to get there).
    page.wait_for_function(
        "(bar) => bar.getBoundingClientRect().width >= 0.99 * bar.parentElement.clientWidth",
        arg=progress.locator(".hml-progress-bar").element_handle(), timeout=10_000)

    with lab.client() as client:
        assert client.get("TrainingJob", "ui-job")["status"]["phase"] == "Succeeded"

    # The view itself (cell input and output) for people, and the whole page for debugging.
    page.screenshot(path=str(screenshot_dir / "lab-succeeded.png"))
    cell = page.locator(".jp-Cell").filter(has=view)
    cell_png = screenshot_dir / "job-widget.png"
    cell.screenshot(path=str(cell_png))
    assert cell_png.stat().st_size > 5_000
    if os.environ.get("HANZO_ML_UPDATE_SCREENSHOTS") or not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cell_png, DOCS_SCREENSHOT)
    print(f"screenshots in {screenshot_dir}")
    no_widget_errors(page_errors)


def test_cancel_button(lab: Lab, page: Page, page_errors: PageErrors,
                       screenshot_dir: Path) -> None:
    nb = lab.write_notebook("ui_cancel.ipynb", [LOAD, SLEEPER])
    open_notebook(page, lab, nb)
    run_all_cells(page)

    view = page.locator('.hanzo-ml-view[data-name="ui-cancel"]')
    expect(view).to_be_visible(timeout=LONG)
    badge = view.locator(".hml-badge")
    expect(badge).to_have_attribute("data-phase", "Running", timeout=LONG)
    expect(view.locator("pre.hml-log-tail")).to_contain_text("going to sleep", timeout=LONG)

    button = view.locator("button.hml-cancel")
    expect(button).to_have_text("Cancel")
    expect(button).to_be_enabled()
    button.click()

    expect(badge).to_have_attribute("data-phase", "Failed", timeout=LONG)
    expect(view.locator(".hml-message")).to_have_text("Cancelled: the job was cancelled")
    expect(button).to_be_hidden()
    expect(view.locator(".hml-error")).to_be_empty()
    expect(view.locator(".hml-elapsed")).to_contain_text("took")
    page.screenshot(path=str(screenshot_dir / "job-cancelled.png"))

    with lab.client() as client:
        def ended() -> dict[str, Any] | None:
            status = client.get("TrainingJob", "ui-cancel").get("status") or {}
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = wait_for(ended, timeout=30, interval=0.2, message="ui-cancel to end")
        assert status["phase"] == "Failed", status
        assert status.get("failureReason") == "Cancelled", status
        output = "".join(chunk["text"] for chunk in client.job_logs("ui-cancel"))
        assert "going to sleep" in output and "woke up" not in output, output

    seen = record(page, "ui-cancel")
    assert seen["phases"][-1] == "Failed" and "Running" in seen["phases"], seen["phases"]
    # The click answered at once (disabled, "Cancelling…"), then the button went away.
    assert seen["cancel"][0] == "Cancel" and seen["cancel"][-1] == "hidden", seen["cancel"]
    assert "Cancelling… (disabled)" in seen["cancel"], seen["cancel"]
    print(f"ui-cancel: {status.get('startTime')} -> {status.get('completionTime')}, view says "
          f"{view.locator('.hml-elapsed').text_content()!r}")
    no_widget_errors(page_errors)
