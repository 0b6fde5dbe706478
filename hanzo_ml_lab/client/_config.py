"""Where the control plane is and who we are: ``ClientConfig``, with no HTTP library.

The clients (``Client``, ``AsyncClient``) build on httpx; the tracking SDK in a job needs only
this configuration on the thread that calls ``log_metric`` (its sender loads the rest in the
background), so it lives apart from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hanzo_ml_lab.env import (
    HANZO_ML_API,
    HANZO_ML_ORG,
    HANZO_ML_TOKEN,
    HANZO_ML_TOKEN_FILE,
    home_dir,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_ORG", "ClientConfig", "ControlPlaneUnreachable"]

DEFAULT_ORG = "default"


class ControlPlaneUnreachable(ConnectionError):
    """The control plane did not answer. ``request`` is the request that failed."""

    def __init__(self, message: str, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class ClientConfig(NamedTuple):
    """Where the control plane is and who we are. ``resolve()`` fills gaps from the environment.

    Immutable and compared by value; a ``NamedTuple`` rather than a dataclass so that a job's
    first ``log_metric`` does not import ``dataclasses`` (and ``inspect``) for it."""

    base_url: str
    token: str
    org: str = DEFAULT_ORG
    timeout: float = 30.0

    @classmethod
    def resolve(
        cls,
        base_url: str | None = None,
        token: str | None = None,
        org: str | None = None,
        *,
        home: Path | None = None,
        timeout: float = 30.0,
    ) -> ClientConfig:
        """Arguments first, then ``HANZO_ML_API``/``HANZO_ML_TOKEN``/``HANZO_ML_TOKEN_FILE``/
        ``HANZO_ML_ORG``, then the embedded server's ``$HANZO_ML_HOME/server.json``."""
        home = home or home_dir()
        info: dict[str, Any] = {}
        info_path = home / "server.json"
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text())
            except (OSError, ValueError):
                info = {}
        url = base_url or HANZO_ML_API.get() or info.get("url")
        if not url:
            raise ControlPlaneUnreachable(
                "no control plane configured: set HANZO_ML_API, or start one with `hanzo-ml serve`"
            )
        tok = token or HANZO_ML_TOKEN.get()
        if not tok:
            token_file = HANZO_ML_TOKEN_FILE.get() or info.get("tokenFile") or str(home / "token")
            try:
                tok = Path(token_file).read_text().strip()
            except OSError:
                tok = ""
        return cls(
            base_url=url.rstrip("/"),
            token=tok,
            org=org or HANZO_ML_ORG.get() or DEFAULT_ORG,
            timeout=timeout,
        )

    def headers(self) -> dict[str, str]:
        h = {"X-Org-Id": self.org, "Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    @property
    def namespace(self) -> str:
        return f"tenant-{self.org}"
