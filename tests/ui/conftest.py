"""Real-browser fixtures: a real ``jupyter lab`` process and Debian's headless Chromium.

``lab`` starts ``jupyter lab`` on a free loopback port with a random token, a temporary root
directory and a temporary ``HANZO_ML_HOME``, so our server extension starts its own embedded
control plane there. Jupyter's own config, data, runtime, settings and workspace directories
are temporary too, so nothing of the developer's ``~/.jupyter`` leaks in. At teardown, jobs still
running are cancelled, Jupyter is stopped, and so is the control plane (its pid is in
``<home>/server.json``: it runs in its own session and outlives Jupyter on purpose).

``browser`` is Chromium from Debian (``apt-get install chromium``; ``make test`` does it),
driven by Playwright through ``executable_path``: Playwright never downloads a browser here.
Every page gets a recorder (``RECORDER_JS``) that notes, on each DOM mutation, what every job
view shows, so a test can assert on transitions (Running, then Succeeded; the chart growing)
without racing the widget's updates.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from hanzo_ml_lab.client import Client
from tests.conftest import free_port, wait_for

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TERMINAL = ("Succeeded", "Failed")
VIEWPORT = {"width": 1280, "height": 900}

# Runs in every page before JupyterLab's own scripts. For each job view (by data-name) it keeps
# the phases shown (in order, without repeats), the replica texts and Cancel button states
# shown, and per metric the sequence of [phase, points drawn] — read back with
# page.evaluate("window.__hml").
RECORDER_JS = r"""
(() => {
  const rec = (window.__hml = {});
  const pushNew = (arr, v) => {
    const last = arr[arr.length - 1];
    if (JSON.stringify(last) !== JSON.stringify(v)) arr.push(v);
  };
  const snap = () => {
    for (const view of document.querySelectorAll(".hanzo-ml-view[data-name]")) {
      const name = view.dataset.name;
      const r = (rec[name] ||= { phases: [], replicas: [], cancel: [], points: {} });
      const phase = view.querySelector(".hml-badge")?.dataset.phase;
      if (!phase) continue;
      pushNew(r.phases, phase);
      const replicas = view.querySelector(".hml-replicas")?.textContent;
      if (replicas) pushNew(r.replicas, replicas);
      const button = view.querySelector(".hml-cancel");
      if (button) {
        pushNew(r.cancel, button.style.display === "none" ? "hidden"
          : button.textContent + (button.disabled ? " (disabled)" : ""));
      }
      for (const box of view.querySelectorAll(".hml-chart[data-metric]")) {
        const line = box.querySelector("polyline.hml-line");
        const drawn = line ? line.getAttribute("points").trim().split(/\s+/).length : 0;
        pushNew((r.points[box.dataset.metric] ||= []), [phase, drawn]);
      }
    }
  };
  new MutationObserver(snap).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
})();
"""


@dataclass
class Lab:
    """A running ``jupyter lab``: where it listens, its token, its root and HANZO_ML_HOME."""

    port: int
    token: str
    root: Path
    home: Path
    log_path: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, path: str) -> str:
        """The notebook in a workspace of its own, so no tab of an earlier test comes back."""
        workspace = Path(path).stem.replace("_", "-")
        return f"{self.url}/lab/workspaces/{workspace}/tree/{path}?token={self.token}"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A Jupyter REST call, authenticated with the token."""
        headers = {"Authorization": f"token {self.token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.metadata["kernelspec"] = {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
        }
        nbformat.write(nb, self.root / name)
        return name

    def client(self) -> Client:
        """A client of the embedded control plane, as the kernels see it (org ``default``)."""
        info = json.loads((self.home / "server.json").read_text())
        return Client(info["url"], token=Path(info["tokenFile"]).read_text().strip(),
                      org="default")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def shutdown_kernels(self) -> None:
        """Stop every kernel (jobs are not kernels: they keep running)."""
        try:
            for session in self.api("GET", "/api/sessions").json():
                self.api("DELETE", f"/api/sessions/{session['id']}")
        except (httpx.HTTPError, ValueError):
            pass


def _chromium() -> str:
    path = os.environ.get("HANZO_ML_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not os.access(path, os.X_OK):
        pytest.fail("the UI tests need Chromium from Debian: `make test` installs it, or run "
                    "`apt-get install -y chromium` (or point HANZO_ML_CHROMIUM at a binary)",
                    pytrace=False)
    return path


def _isolated_env(base: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HANZO_ML_", "JUPYTER", "JPY_"))}
    env["HANZO_ML_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR"):
        d = base / var.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[var] = str(d)
    # No "get Jupyter news?" toast over the notebook, and no update check from the page.
    notification = (Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
                    / "notification.jupyterlab-settings")
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (not reaped by whoever adopted it) is gone for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _stop_pid(pid: int, timeout: float = 15) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def _cancel_live_jobs(lab: Lab) -> None:
    try:
        with lab.client() as client:
            live = [j["metadata"]["name"] for j in client.list_all("TrainingJob")
                    if (j.get("status") or {}).get("phase") not in TERMINAL]
            for name in live:
                client.cancel_job(name)

            def settled() -> bool:
                return all((client.get("TrainingJob", n).get("status") or {}).get("phase")
                           in TERMINAL for n in live)

            wait_for(settled, timeout=20, interval=0.2, message="cancelled jobs to end")
    except Exception as e:  # noqa: BLE001 — teardown is best effort; say why it was not
        print(f"ui teardown: could not cancel live jobs: {e!r}", file=sys.stderr)


@pytest.fixture(scope="session")
def ui_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui")


@pytest.fixture(scope="session")
def screenshot_dir(ui_tmp: Path) -> Path:
    d = ui_tmp / "screenshots"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def lab(ui_tmp: Path) -> Iterator[Lab]:
    root = ui_tmp / "lab-root"
    home = ui_tmp / "hanzo-home"
    root.mkdir()
    env = _isolated_env(ui_tmp / "jupyter", home)
    port = free_port()
    token = secrets.token_hex(24)
    log_path = ui_tmp / "jupyter.log"
    cmd = [
        sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    lab = Lab(port=port, token=token, root=root, home=home, log_path=log_path, proc=proc)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited ({proc.returncode}):\n"
                                     f"{lab.log_tail()}")
            try:
                config = lab.api("GET", "/hanzo-ml/config")
            except httpx.HTTPError:
                return False
            return config.status_code == 200 and bool(config.json()["upstream"]["healthy"])

        try:
            wait_for(up, timeout=90, interval=0.2,
                     message="jupyter lab and its embedded control plane")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- jupyter log ---\n{lab.log_tail()}") from None
        yield lab
    finally:
        if (home / "server.json").exists():
            _cancel_live_jobs(lab)
        lab.shutdown_kernels()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        try:
            plane_pid = int(json.loads((home / "server.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            plane_pid = 0
        if plane_pid:
            _stop_pid(plane_pid)


@pytest.fixture(scope="session")
def browser_context(ui_tmp: Path) -> Iterator[BrowserContext]:
    """One headless Chromium with a fresh profile (``--user-data-dir``) for the session."""
    executable = _chromium()
    profile = ui_tmp / "chromium-profile"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, device_scale_factor=1, color_scheme="light",
        )
        context.set_default_timeout(30_000)
        context.add_init_script(RECORDER_JS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageErrors:
    """What went wrong in a page: uncaught exceptions, and console errors."""

    uncaught: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser_context: BrowserContext, lab: Lab, page_errors: PageErrors) -> Iterator[Page]:
    """A new tab, its errors collected in ``page_errors``. Its kernels stop afterwards."""
    pg = browser_context.new_page()
    pg.on("pageerror", lambda e: page_errors.uncaught.append(str(e)))
    pg.on("console",
          lambda m: page_errors.console.append(m.text) if m.type == "error" else None)
    try:
        yield pg
    finally:
        pg.close()
        lab.shutdown_kernels()
