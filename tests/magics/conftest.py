"""An IPython shell with the magics loaded, talking to a real control plane that runs jobs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.magics import load_ipython_extension, unload_ipython_extension
from hanzo_ml_lab.magics._widget import close_all
from tests.conftest import ControlPlane, wait_for

TERMINAL = ("Succeeded", "Failed")


@pytest.fixture(scope="session")
def ipython() -> InteractiveShell:
    """One in-process shell for the session (IPython's is a singleton); history in memory so
    it starts no history thread."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


@pytest.fixture
def cp(control_plane_with_controller: ControlPlane,
       monkeypatch: pytest.MonkeyPatch) -> ControlPlane:
    """The control plane, reachable the way a kernel finds it: by environment."""
    cp = control_plane_with_controller
    monkeypatch.setenv("HANZO_ML_API", cp.url)
    monkeypatch.setenv("HANZO_ML_TOKEN", cp.token("acme"))
    monkeypatch.setenv("HANZO_ML_ORG", "acme")
    return cp


@pytest.fixture
def shell(ipython: InteractiveShell, cp: ControlPlane) -> Iterator[InteractiveShell]:
    load_ipython_extension(ipython)
    ipython.user_ns.pop("__session__", None)
    try:
        yield ipython
    finally:
        close_all()
        unload_ipython_extension(ipython)


@pytest.fixture
def client(cp: ControlPlane) -> Iterator[Client]:
    with cp.client("acme") as c:
        yield c


def finished(client: Client, name: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = client.get("TrainingJob", name)
        return obj if (obj.get("status") or {}).get("phase") in TERMINAL else None

    return wait_for(done, timeout, message=f"{name} to finish")  # type: ignore[no-any-return]


def phase_of(client: Client, name: str) -> str:
    return str((client.get("TrainingJob", name).get("status") or {}).get("phase") or "")


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hanzo-ml-watch")]
