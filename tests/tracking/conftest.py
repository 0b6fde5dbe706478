"""Fixtures for the tracking tests: runs to log to, a fresh SDK per test, SDK subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.server.embedded import build_embedded_app
from hanzo_ml_lab.tracking import fluent
from tests.conftest import ControlPlane

REPO = Path(__file__).resolve().parents[2]


def make_run(client: Client, run: str = "r1", experiment: str = "exp",
             rate: int | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
    """An Experiment (with ``rate`` points/s if given) and a Run in it."""
    spec: dict[str, Any] = {}
    if rate is not None:
        spec["rateLimit"] = {"metricWritesPerSecond": rate}
    client.apply({"apiVersion": "hanzo.ai/v1", "kind": "Experiment",
                  "metadata": {"name": experiment}, "spec": spec})
    return client.create({
        "apiVersion": "hanzo.ai/v1", "kind": "Run",
        "metadata": {"name": run, "labels": {"hanzo.ai/experiment": experiment}},
        "spec": {"experiment": experiment, "source": {"kind": "Adhoc"},
                 "params": params or {}},
    })


def all_points(client: Client, run: str, key: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.metric_page(run=run, key=key, after=after, limit=50_000)
        out.extend(page["items"])
        if not page["items"]:
            return out
        after = page["next"]


def _fresh_sdk(cp: ControlPlane, spool: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[ControlPlane]:
    monkeypatch.setenv("HANZO_ML_API", cp.url)
    monkeypatch.setenv("HANZO_ML_TOKEN", cp.token("acme"))
    monkeypatch.setenv("HANZO_ML_ORG", "acme")
    monkeypatch.setenv("HANZO_ML_SPOOL_DIR", str(spool))
    for var in ("HANZO_ML_RUN", "HANZO_ML_NAMESPACE", "HANZO_ML_EXPERIMENT", "HANZO_ML_PARAMS",
                "HANZO_ML_ARTIFACTS"):
        monkeypatch.delenv(var, raising=False)
    state = fluent._State()
    monkeypatch.setattr(fluent, "_state", state)
    token = fluent._active.set(None)
    try:
        yield cp
    finally:
        writer = state.existing_writer()
        if writer is not None:
            writer.close(2.0)
        fluent._active.reset(token)


@pytest.fixture
def sdk(control_plane: ControlPlane, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[ControlPlane]:
    """The fluent SDK pointed at ``control_plane`` as org acme, with fresh process state."""
    yield from _fresh_sdk(control_plane, tmp_path / "spool", monkeypatch)


@pytest.fixture
def controlled_sdk(control_plane_with_controller: ControlPlane, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[ControlPlane]:
    """``sdk``, against a control plane whose controller runs (Run status, Metric objects)."""
    yield from _fresh_sdk(control_plane_with_controller, tmp_path / "spool", monkeypatch)


def start_on_port(home: Path, port: int, **overrides: Any) -> tuple[uvicorn.Server,
                                                                    threading.Thread]:
    """The embedded control plane of ``home`` on a given port (one the SDK already knows)."""
    srv = build_embedded_app(home, port=port, **overrides)
    server = uvicorn.Server(uvicorn.Config(srv.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("control plane did not start")
        time.sleep(0.02)
    return server, thread


def run_sdk(code: str, env: dict[str, str], *, wait: bool = True,
            timeout: float = 60) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh Python with the SDK's environment ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("HANZO_ML_")}
    full.update(env)
    full["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen([sys.executable, "-c", code], env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if wait:
        proc.wait(timeout)
    return proc
