"""What the sync and async clients share: configuration, paths, and reading responses.

Nothing here does I/O on the network, so ``Client`` and ``AsyncClient`` stay thin twins.

    Exceptions raised by the clients:
    ApiError (hanzo_ml_lab.api.errors) — the server answered with a Status
    ControlPlaneUnreachable               — no answer: connection refused, timeout
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hanzo_ml_lab.api import resolve_kind
from hanzo_ml_lab.api.errors import ApiError, error_from_status
from hanzo_ml_lab.api.routes import collection_path
from hanzo_ml_lab.env import (
    HANZO_ML_API,
    HANZO_ML_ORG,
    HANZO_ML_TOKEN,
    HANZO_ML_TOKEN_FILE,
    home_dir,
)

__all__ = ["ClientConfig", "ControlPlaneUnreachable", "DEFAULT_ORG", "kind_name", "object_path"]

DEFAULT_ORG = "default"


class ControlPlaneUnreachable(ConnectionError):
    """The control plane did not answer. ``request`` is the request that failed."""

    def __init__(self, message: str, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


@dataclass(frozen=True)
class ClientConfig:
    """Where the control plane is and who we are. ``resolve()`` fills gaps from the environment."""

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


def kind_name(kind: str) -> str:
    """``mlj``/``trainingjobs``/``TrainingJob`` → ``TrainingJob`` (``BadRequest`` otherwise)."""
    return resolve_kind(kind).__name__


def object_path(kind: str, name: str | None = None, action: str | None = None) -> str:
    path = collection_path(kind_name(kind))
    if name is not None:
        path += "/" + quote(name, safe="")
    if action:
        path += action if action.startswith(":") else "/" + action
    return path


def raise_for_status(response: httpx.Response) -> None:
    """Turn an error response into the ``ApiError`` the server meant."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500] or response.reason_phrase}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    err: ApiError = error_from_status(body, response.status_code)
    if err.retry_after_seconds is None and "retry-after" in response.headers:
        try:
            err.retry_after_seconds = float(response.headers["retry-after"])
        except ValueError:
            pass
    raise err


__all__ += ["raise_for_status"]


@dataclass(frozen=True)
class Req:
    """One call, described without doing it; both clients send these."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


class Calls:
    """The request builders; ``Client`` and ``AsyncClient`` add only the sending."""

    @staticmethod
    def create(obj: dict[str, Any]) -> Req:
        return Req("POST", object_path(str(obj.get("kind", ""))), json=obj)

    @staticmethod
    def get(kind: str, name: str) -> Req:
        return Req("GET", object_path(kind, name))

    @staticmethod
    def list(
        kind: str,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Req:
        params = {"labelSelector": label_selector, "limit": limit, "continue": continue_token}
        return Req("GET", object_path(kind), params={k: v for k, v in params.items() if v})

    @staticmethod
    def watch(
        kind: str, *, resource_version: str | None = None, label_selector: str | None = None
    ) -> Req:
        params: dict[str, Any] = {"watch": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        return Req("GET", object_path(kind), params=params)

    @staticmethod
    def replace(obj: dict[str, Any]) -> Req:
        return Req(
            "PUT", object_path(str(obj.get("kind", "")), str(_meta(obj).get("name"))), json=obj
        )

    @staticmethod
    def patch(kind: str, name: str, patch: dict[str, Any]) -> Req:
        return Req("PATCH", object_path(kind, name), json=patch)

    @staticmethod
    def delete(kind: str, name: str, *, resource_version: str | None = None) -> Req:
        params = {"resourceVersion": resource_version} if resource_version else None
        return Req("DELETE", object_path(kind, name), params=params)

    @staticmethod
    def action(
        kind: str,
        name: str,
        action: str,
        body: Any = None,
        method: str = "POST",
        params: dict[str, Any] | None = None,
    ) -> Req:
        return Req(method, object_path(kind, name, action), params=params, json=body)
