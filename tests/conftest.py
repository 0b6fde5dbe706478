"""Shared fixtures: a real control plane on 127.0.0.1, real SQLite files under tmp_path."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hanzo_ml_lab.client import Client
from hanzo_ml_lab.server.auth import mint_token
from hanzo_ml_lab.server.embedded import EmbeddedServer, build_embedded_app


@dataclass
class ControlPlane:
    """A running embedded control plane. ``client(org)`` talks to it as a member of ``org``."""

    url: str
    home: Path
    server: EmbeddedServer
    owner_token: str

    def token(self, *orgs: str, subject: str = "tester") -> str:
        return mint_token(self.server.settings.signing_key, subject=subject, orgs=list(orgs))

    def client(self, org: str = "acme", *, token: str | None = None) -> Client:
        return Client(self.url, token=token or self.token(org), org=org)

    def http(self, org: str = "acme", *, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token(org)}", "X-Org-Id": org}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hanzo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hanzo-home"
    monkeypatch.setenv("HANZO_ML_HOME", str(home))
    for var in ("HANZO_ML_API", "HANZO_ML_TOKEN", "HANZO_ML_TOKEN_FILE", "HANZO_ML_ORG"):
        monkeypatch.delenv(var, raising=False)
    return home


def start_control_plane(
    home: Path, **overrides: Any
) -> tuple[ControlPlane, uvicorn.Server, threading.Thread]:
    srv = build_embedded_app(home, port=free_port(), **overrides)
    config = uvicorn.Config(
        srv.app,
        host="127.0.0.1",
        port=srv.settings.port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{srv.settings.port}"
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("control plane did not start")
        time.sleep(0.02)
    cp = ControlPlane(url=url, home=home, server=srv, owner_token=srv.token_path.read_text())
    return cp, server, thread


@pytest.fixture
def control_plane(hanzo_home: Path) -> Iterator[ControlPlane]:
    """The embedded control plane (API + store) on a free loopback port, without the controller."""
    cp, server, thread = start_control_plane(hanzo_home)
    try:
        yield cp
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def control_plane_with_controller(hanzo_home: Path) -> Iterator[ControlPlane]:
    """The embedded control plane with its controller: jobs really run as local processes."""
    cp, server, thread = start_control_plane(hanzo_home, run_controller=True)
    try:
        yield cp
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for(
    predicate: Any, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last={last!r}")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
