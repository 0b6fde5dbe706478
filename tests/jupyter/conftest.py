"""Fixtures for the Jupyter server extension: a real Jupyter server (pytest-jupyter) in front of a
real control plane (``control_plane`` from tests/conftest.py), plus a canary HTTP server that
must never be reached.

pytest-jupyter's fixtures are imported here rather than named in ``pytest_plugins``: pytest
refuses ``pytest_plugins`` in a conftest below the rootdir when the whole suite runs ("Defining
'pytest_plugins' in a non-top-level conftest is no longer supported"), and importing keeps them
(and their autouse event loop) scoped to this directory.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from tests.conftest import ControlPlane
from tests.jupyter.helpers import Canary


@pytest.fixture(autouse=True)
def _restore_hanzo_env() -> Iterator[None]:
    """The extension exports HANZO_ML_* into os.environ for kernels; undo that per test."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("HANZO_ML_")}
    yield
    for key in [k for k in os.environ if k.startswith("HANZO_ML_")]:
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture
def hanzo_ml_config(control_plane: ControlPlane) -> dict[str, Any]:
    """``HanzoMLExtension`` config; test modules override this fixture to change it."""
    return {"api_url": control_plane.url, "token": control_plane.owner_token, "org": "acme"}


@pytest.fixture
def jp_server_config(hanzo_ml_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"hanzo_ml_lab.jupyter": True}},
        "HanzoMLExtension": hanzo_ml_config,
    }


@pytest.fixture
def raw_fetch(jp_serverapp: Any, http_server_client: Any, jp_base_url: str,
              jp_auth_header: dict[str, str]) -> Callable[..., Any]:
    """Fetch ``jp_base_url + path`` exactly as given (jp_fetch would re-quote it), with the
    Jupyter token unless ``auth=False``; never raises on an HTTP error status."""

    def fetch(path: str, *, auth: bool = True, headers: dict[str, str] | None = None,
              **kwargs: Any) -> Any:
        hdrs = {**(jp_auth_header if auth else {}), **(headers or {})}
        return http_server_client.fetch(jp_base_url + path, headers=hdrs, raise_error=False,
                                        request_timeout=kwargs.pop("request_timeout", 20),
                                        **kwargs)

    return fetch


@pytest.fixture
def canary() -> Iterator[Canary]:
    box: list[Canary] = []

    class Handler(BaseHTTPRequestHandler):
        def _hit(self) -> None:
            box[0].hits.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _hit

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Canary(port=server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])
