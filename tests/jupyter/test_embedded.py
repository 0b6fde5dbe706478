"""With no api_url, the extension attaches to the embedded control plane of its home or starts
one: a real detached ``hanzo-ml serve`` process, killed by the fixture at teardown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanzo_ml_lab.jupyter._embedded import attach_or_start, pid_alive, read_server_info

pytestmark = pytest.mark.slow


def _reap(pid: int, timeout: float = 10.0) -> None:
    """Stop a control plane we started (its session: it leads one) and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def embedded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "embedded-home"
    for var in ("HANZO_ML_API", "HANZO_ML_TOKEN", "HANZO_ML_TOKEN_FILE", "HANZO_ML_ORG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HANZO_ML_HOME", str(home))
    yield home
    info = read_server_info(home)
    if info is not None:
        _reap(info.pid)


@pytest.fixture
def hanzo_ml_config(embedded_home: Path) -> dict[str, Any]:
    return {"api_url": "", "home": str(embedded_home), "org": "acme"}


async def test_the_extension_starts_the_embedded_plane_and_proxies_to_it(
    jp_fetch: Any, jp_serverapp: Any, embedded_home: Path
) -> None:
    config = json.loads((await jp_fetch("hanzo-ml", "config", request_timeout=40)).body)
    assert config["mode"] == "embedded"
    assert config["upstream"]["healthy"] is True, config

    info = json.loads((embedded_home / "server.json").read_text())
    assert pid_alive(info["pid"]) and info["pid"] != os.getpid()
    assert os.getsid(info["pid"]) == info["pid"]  # its own session: outlives the server
    assert (embedded_home / "logs" / "control-plane.log").exists()

    created = await jp_fetch("hanzo-ml", "api", "v1", "ml", "experiments", method="POST",
                             body=json.dumps({"kind": "Experiment",
                                              "metadata": {"name": "embedded"}, "spec": {}}))
    assert json.loads(created.body)["metadata"]["namespace"] == "tenant-acme"

    # Kernels started from now on find it through the server's environment.
    assert os.environ["HANZO_ML_API"] == info["url"]
    assert os.environ["HANZO_ML_TOKEN_FILE"] == info["tokenFile"]
    assert "HANZO_ML_TOKEN" not in os.environ
    assert os.environ["HANZO_ML_ORG"] == "acme"

    # The plane goes away under a running server: the next request starts it again, on the
    # same address, so kernels holding HANZO_ML_API still reach it.
    _reap(info["pid"])
    listed = await jp_fetch("hanzo-ml", "api", "v1", "ml", "experiments", request_timeout=40)
    assert [i["metadata"]["name"] for i in json.loads(listed.body)["items"]] == ["embedded"]
    restarted = json.loads((embedded_home / "server.json").read_text())
    assert restarted["pid"] != info["pid"] and restarted["url"] == info["url"]
    info = restarted

    # Stopping the extension (a Jupyter restart) leaves the plane and its jobs running.
    await jp_serverapp.web_app.settings["hanzo_ml_lab"].stop_extension()
    assert pid_alive(info["pid"])


async def test_concurrent_starters_share_one_plane(embedded_home: Path) -> None:
    (first, proc1), (second, proc2) = await asyncio.gather(
        attach_or_start(embedded_home, timeout=30), attach_or_start(embedded_home, timeout=30))
    assert first.pid == second.pid
    assert [p for p in (proc1, proc2) if p is not None] != []
    assert (proc1 is None) != (proc2 is None)  # exactly one of them spawned it
    again, proc3 = await attach_or_start(embedded_home)
    assert (again.pid, proc3) == (first.pid, None)


async def test_a_stale_server_json_is_replaced(embedded_home: Path) -> None:
    embedded_home.mkdir(parents=True)
    (embedded_home / "server.json").write_text(json.dumps(
        {"url": "http://127.0.0.1:9", "pid": 2**22 + 12345, "tokenFile": "x", "home": "y"}))
    info, proc = await attach_or_start(embedded_home, timeout=30)
    assert proc is not None and info.pid == proc.pid
