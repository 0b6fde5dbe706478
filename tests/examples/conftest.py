"""The example jobs and notebooks against a real control plane that runs jobs as processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanzo_ml_lab.client import Client
from tests.conftest import ControlPlane, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "notebooks" / "examples"
JOBS = EXAMPLES / "jobs"
TERMINAL = ("Succeeded", "Failed")


@pytest.fixture
def cp(control_plane_with_controller: ControlPlane,
       monkeypatch: pytest.MonkeyPatch) -> ControlPlane:
    """The control plane, reachable the way a kernel finds it: by environment (what the
    Jupyter server extension exports to the kernels it starts)."""
    cp = control_plane_with_controller
    monkeypatch.setenv("HANZO_ML_API", cp.url)
    monkeypatch.setenv("HANZO_ML_TOKEN", cp.token("acme"))
    monkeypatch.setenv("HANZO_ML_ORG", "acme")
    return cp


@pytest.fixture
def client(cp: ControlPlane) -> Iterator[Client]:
    with cp.client("acme") as c:
        yield c


def finished(client: Client, kind: str, name: str, timeout: float = 120) -> dict[str, Any]:
    """The object once its phase is terminal (fails the test after ``timeout``)."""
    def done() -> dict[str, Any] | None:
        obj = client.get(kind, name)
        return obj if (obj.get("status") or {}).get("phase") in TERMINAL else None

    return wait_for(done, timeout, interval=0.2,  # type: ignore[no-any-return]
                    message=f"{kind} {name} to finish")


def failure_report(client: Client, name: str) -> str:
    """What to print when a job did not succeed: its status and its output."""
    status = client.get("TrainingJob", name).get("status") or {}
    logs = "".join(str(c.get("text", "")) for c in client.job_logs(name))
    return (f"{name}: {status.get('phase')} {status.get('failureReason', '')} "
            f"{status.get('failureMessage', '')}\n{logs[-4000:]}")
