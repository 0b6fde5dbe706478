"""Find the embedded control plane in ``$HANZO_ML_HOME``, or start one that outlives Jupyter.

``hanzo-ml serve`` writes ``<home>/server.json`` (``url``, ``pid``, ``tokenFile``, ``home``) once
it listens. We attach to it when its pid is alive and ``/healthz`` answers; otherwise we spawn
``python -m hanzo_ml_lab.cli serve --home <home> --port 0`` in a session of its own, logging to
``<home>/logs/control-plane.log``. Being its own session, it is not signalled when the Jupyter
server is interrupted or stopped: jobs and the control plane survive a Jupyter restart, and the
next Jupyter server attaches to them again.

Two Jupyter servers sharing a home must not start two planes, so starting happens under an
exclusive ``flock`` on ``<home>/embedded.lock``; the second one waits, then finds the first
one's plane healthy and attaches. Waiting is asynchronous: the Jupyter server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "EmbeddedStartError",
    "Health",
    "ServerInfo",
    "attach_or_start",
    "pid_alive",
    "probe",
    "read_server_info",
]

log = logging.getLogger(__name__)

LOCK_NAME = "embedded.lock"
LOG_NAME = "logs/control-plane.log"


class EmbeddedStartError(RuntimeError):
    """The embedded control plane could not be found or started; the message says why."""


@dataclass(frozen=True)
class ServerInfo:
    """What ``<home>/server.json`` says about a running embedded control plane."""

    url: str
    pid: int
    token_file: Path
    home: Path


@dataclass(frozen=True)
class Health:
    healthy: bool
    version: str | None = None
    error: str | None = None


def read_server_info(home: Path) -> ServerInfo | None:
    """``<home>/server.json`` parsed, or ``None`` if it is absent or unreadable."""
    try:
        raw = json.loads((home / "server.json").read_text())
        return ServerInfo(url=str(raw["url"]).rstrip("/"), pid=int(raw["pid"]),
                          token_file=Path(raw.get("tokenFile") or home / "token"),
                          home=Path(raw.get("home") or home))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


async def probe(url: str, *, timeout: float = 2.0,
                client: httpx.AsyncClient | None = None) -> Health:
    """``GET <url>/healthz`` (unauthenticated): healthy and the version, or why not."""
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False)
    try:
        resp = await http.get(url.rstrip("/") + "/healthz", timeout=timeout)
        if resp.status_code != 200:
            return Health(False, error=f"/healthz answered {resp.status_code}")
        body = resp.json()
        version = body.get("version") if isinstance(body, dict) else None
        return Health(True, version=str(version) if version else None)
    except (httpx.HTTPError, ValueError) as e:
        return Health(False, error=f"{type(e).__name__}: {e}".rstrip(": "))
    finally:
        if own:
            await http.aclose()


@contextlib.asynccontextmanager
async def _home_lock(home: Path, timeout: float) -> AsyncIterator[None]:
    """Hold ``flock(<home>/embedded.lock)``; poll instead of blocking the event loop."""
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedStartError(
                        f"another process has held {home / LOCK_NAME} for {timeout:.0f}s while "
                        "starting the embedded control plane; if none is starting, delete the file"
                    ) from None
                await asyncio.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def _attach(home: Path, http: httpx.AsyncClient, *, grace: float,
                  connect_timeout: float) -> ServerInfo | None:
    """The running plane of ``home`` once it answers (waiting up to ``grace`` s), else None."""
    deadline = time.monotonic() + grace
    while True:
        info = read_server_info(home)
        if info is None or not pid_alive(info.pid):
            return None
        if (await probe(info.url, timeout=connect_timeout, client=http)).healthy:
            return info
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.1)


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _spawn(home: Path, port: int) -> subprocess.Popen[bytes]:
    log_path = home / LOG_NAME
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANZO_ML_")}
    env.update(HANZO_ML_HOME=str(home), PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-m", "hanzo_ml_lab.cli", "serve", "--home", str(home),
            "--port", str(port if port and _port_free(port) else 0)]
    with open(log_path, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=str(home), env=env,
                                start_new_session=True, close_fds=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)


async def attach_or_start(
    home: Path,
    *,
    timeout: float = 20.0,
    connect_timeout: float = 2.0,
    port: int = 0,
) -> tuple[ServerInfo, subprocess.Popen[bytes] | None]:
    """The embedded control plane of ``home``, started if none answers.

    A new plane listens on ``port`` when that is free (a restart keeps the address running
    kernels were given), else on any free port. Returns the server info and the process we
    started (``None`` when we attached). Raises ``EmbeddedStartError`` naming the log file
    when it does not come up within ``timeout``.
    """
    home = home.expanduser().resolve()
    async with httpx.AsyncClient(trust_env=False) as http:
        info = await _attach(home, http, grace=0, connect_timeout=connect_timeout)
        if info is not None:
            return info, None
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        async with _home_lock(home, timeout=timeout + 5):
            # Whoever held the lock before us may have started one; a plane that is alive but
            # not answering yet (still starting by hand) gets a few seconds.
            info = await _attach(home, http, grace=5.0, connect_timeout=connect_timeout)
            if info is not None:
                return info, None
            return await _start(home, http, port=port, timeout=timeout,
                                connect_timeout=connect_timeout)


async def _start(home: Path, http: httpx.AsyncClient, *, port: int, timeout: float,
                 connect_timeout: float) -> tuple[ServerInfo, subprocess.Popen[bytes]]:
    stale = read_server_info(home)
    if stale is not None and not pid_alive(stale.pid):
        with contextlib.suppress(OSError):
            (home / "server.json").unlink()
    proc = _spawn(home, port)
    log.info("hanzo-ml: starting the embedded control plane (pid %s) in %s", proc.pid, home)
    log_path = home / LOG_NAME
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise EmbeddedStartError(
                f"the embedded control plane exited with code {code} before it was ready; "
                f"see {log_path}:\n{_log_tail(log_path)}"
            )
        info = read_server_info(home)
        if info is not None and info.pid == proc.pid and \
                (await probe(info.url, timeout=connect_timeout, client=http)).healthy:
            return info, proc
        await asyncio.sleep(0.1)
    _stop(proc)
    raise EmbeddedStartError(
        f"the embedded control plane did not become ready within {timeout:.0f}s and was "
        f"stopped; see {log_path}:\n{_log_tail(log_path)}"
    )
