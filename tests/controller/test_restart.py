"""The control plane dies mid-job (SIGKILL) and comes back: the job is followed to the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


class PlaneProcess:
    """``hanzo-ml serve`` as a real child process, which a test may kill -9 and start again."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.home.parent / f"plane-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hanzo_ml_lab.cli",
                "serve",
                "--home",
                str(self.home),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, message="control plane up")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def http(self) -> httpx.Client:
        token = (self.home / "token").read_text().strip()
        return httpx.Client(
            base_url=self.url,
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "X-Org-Id": "acme"},
        )


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[PlaneProcess]:
    p = PlaneProcess(tmp_path / "home", free_port())
    p.start()
    try:
        yield p
    finally:
        p.stop()


def test_sigkilled_control_plane_readopts_the_running_job(
    plane: PlaneProcess, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    code = (
        f"import os, time, pathlib\nprint('started', os.getpid(), flush=True)\n"
        f"while not pathlib.Path({str(gate)!r}).exists():\n    time.sleep(0.05)\n"
        "print('finishing', flush=True)\n"
    )
    with plane.http() as http:
        r = http.post(
            "/v1/ml/jobs",
            json={
                "kind": "TrainingJob",
                "metadata": {"name": "survivor"},
                "spec": {
                    "framework": "pytorch",
                    "command": ["python", "-c", code],
                    "workers": {"replicas": 2},
                },
            },
        )
        assert r.status_code == 201, r.text

        def running() -> dict | None:
            st = http.get("/v1/ml/jobs/survivor").json().get("status") or {}
            return st if st.get("workersReady") == 2 else None

        pids = [x["pid"] for x in wait_for(running, 30, message="2 workers")["replicaStatuses"]]

    plane.kill9()
    assert all(os.path.exists(f"/proc/{p}") for p in pids), "jobs outlive the control plane"
    plane.start()
    with plane.http() as http:
        st = wait_for(
            lambda: (
                (http.get("/v1/ml/jobs/survivor").json().get("status") or {}).get("workersReady")
                == 2
                and http.get("/v1/ml/jobs/survivor").json()
            ),
            30,
            message="re-adopted",
        )["status"]
        assert sorted(x["pid"] for x in st["replicaStatuses"]) == sorted(pids)
        gate.write_text("go")
        done = wait_for(
            lambda: (
                (http.get("/v1/ml/jobs/survivor").json().get("status") or {}).get("phase")
                in ("Succeeded", "Failed")
                and http.get("/v1/ml/jobs/survivor").json()
            ),
            30,
            message="finished",
        )
        assert done["status"]["phase"] == "Succeeded", done["status"]
        logs = [
            json.loads(x)["text"] for x in http.get("/v1/ml/jobs/survivor/logs").text.splitlines()
        ]
        assert sum("finishing" in t for t in logs) == 2


def test_a_job_that_ends_while_the_plane_is_down_gets_its_outcome(
    plane: PlaneProcess, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    code = (
        f"import pathlib, sys, time\n"
        f"while not pathlib.Path({str(gate)!r}).exists():\n    time.sleep(0.05)\n"
        "sys.exit(7)\n"
    )
    with plane.http() as http:
        http.post(
            "/v1/ml/jobs",
            json={
                "kind": "TrainingJob",
                "metadata": {"name": "ends-alone"},
                "spec": {"framework": "pytorch", "command": ["python", "-c", code]},
            },
        )
        wait_for(
            lambda: (
                (http.get("/v1/ml/jobs/ends-alone").json().get("status") or {}).get("workersReady")
                == 1
            ),
            30,
            message="running",
        )
    plane.kill9()
    gate.write_text("go")
    time.sleep(1.0)  # the job exits while nobody watches
    plane.start()
    with plane.http() as http:
        done = wait_for(
            lambda: (
                (http.get("/v1/ml/jobs/ends-alone").json().get("status") or {}).get("phase")
                in ("Succeeded", "Failed")
                and http.get("/v1/ml/jobs/ends-alone").json()
            ),
            30,
            message="finished",
        )
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["replicaStatuses"][0]["exitCode"] == 7
