"""The embedded control plane: API, store and controller in one process on 127.0.0.1.

State lives under ``$HANZO_ML_HOME``: ``state.db`` (SQLite, WAL), ``auth/signing.key`` and
``token`` (0600), ``server.json`` (where a running server listens, so clients find it).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from hanzo_ml_lab.env import home_dir
from hanzo_ml_lab.server.app import create_app
from hanzo_ml_lab.server.auth import ensure_credentials
from hanzo_ml_lab.server.settings import ServerSettings
from hanzo_ml_lab.store import SQLiteStore

__all__ = ["EmbeddedServer", "HomeInUse", "build_embedded_app", "serve", "server_info_path"]


def server_info_path(home: Path) -> Path:
    return home / "server.json"


@dataclass
class EmbeddedServer:
    app: FastAPI
    settings: ServerSettings
    store: SQLiteStore
    token_path: Path


class HomeInUse(RuntimeError):
    """Another control plane already serves this ``$HANZO_ML_HOME``."""


def _lock_home(home: Path) -> int:
    """Hold ``home/server.lock`` for the life of the process: one control plane per home, since
    its runtime keeps per-job state there that two planes would fight over."""
    fd = os.open(home / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        info = ""
        try:
            data = json.loads(server_info_path(home).read_text())
            info = f" (pid {data.get('pid')}, {data.get('url')})"
        except (OSError, ValueError):
            pass
        raise HomeInUse(
            f"another hanzo-ml control plane is serving {home}{info}; use it, stop it, or "
            "pick another HANZO_ML_HOME"
        ) from None
    return fd


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def build_embedded_app(
    home: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    run_controller: bool = False,
    **overrides: Any,
) -> EmbeddedServer:
    """Prepare ``home`` (keys, token, database) and build the app; nothing is started yet."""
    home = (home or home_dir()).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    lock_fd = _lock_home(home)
    creds = ensure_credentials(home)
    settings = ServerSettings(
        home=home,
        signing_key=creds.key,
        host=host,
        port=port or _free_port(host),
        run_controller=run_controller,
        **overrides,
    )
    store = SQLiteStore(settings.db_path)
    startup, shutdown = [], []
    if run_controller:
        from hanzo_ml_lab.server._engine_hooks import start_controller, stop_controller

        startup.append(start_controller)
        shutdown.append(stop_controller)

    async def write_info(app: FastAPI) -> None:
        info = {
            "url": f"http://{_url_host(host)}:{settings.port}",
            "pid": os.getpid(),
            "tokenFile": str(creds.token_path),
            "home": str(home),
        }
        path = server_info_path(home)
        path.write_text(json.dumps(info))
        os.chmod(path, 0o600)

    async def remove_info(app: FastAPI) -> None:
        path = server_info_path(home)
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        store.close()
        os.close(lock_fd)

    app = create_app(
        settings, store, on_startup=[*startup, write_info], on_shutdown=[remove_info, *shutdown]
    )
    return EmbeddedServer(app=app, settings=settings, store=store, token_path=creds.token_path)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve(
    home: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    run_controller: bool = False,
    log_level: str = "info",
    **overrides: Any,
) -> None:
    """Run the embedded control plane in the foreground until interrupted. ``overrides`` are
    ``ServerSettings`` fields."""
    try:
        srv = build_embedded_app(home, host=host, port=port, run_controller=run_controller,
                                 **overrides)
    except HomeInUse as e:
        raise SystemExit(f"error: {e}") from None
    url = f"http://{_url_host(host)}:{srv.settings.port}"
    print(f"hanzo-ml control plane: {url}", flush=True)
    print(f"  state:  {srv.settings.home}", flush=True)
    print(
        f"  token:  {srv.token_path}  (export HANZO_ML_TOKEN=$(cat {srv.token_path}))", flush=True
    )
    uvicorn.run(
        srv.app, host=host, port=srv.settings.port, log_level=log_level, timeout_graceful_shutdown=3
    )
