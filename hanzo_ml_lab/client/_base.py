"""What the sync and async clients share: configuration, paths, and reading responses.

Nothing here does I/O on the network, so ``Client`` and ``AsyncClient`` stay thin twins.

    Exceptions raised by the clients:
    ApiError (hanzo_ml_lab.api.errors) — the server answered with a Status
    ControlPlaneUnreachable               — no answer: connection refused, timeout
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from hanzo_ml_lab.api.errors import ApiError, error_from_status
from hanzo_ml_lab.api.routes import COLLECTIONS, collection_path

# kept importable from here; they live in ``_config`` so the tracking SDK can read its
# configuration without loading httpx
from ._config import DEFAULT_ORG, ClientConfig, ControlPlaneUnreachable

__all__ = ["ClientConfig", "ControlPlaneUnreachable", "DEFAULT_ORG", "kind_name", "object_path"]


def kind_name(kind: str) -> str:
    """``mlj``/``trainingjobs``/``TrainingJob`` → ``TrainingJob`` (``BadRequest`` otherwise)."""
    if kind in COLLECTIONS:
        return kind  # already the Kind's name: no need to load the registry (every model)
    from hanzo_ml_lab.api import resolve_kind

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
