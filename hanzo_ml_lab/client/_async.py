"""The asynchronous client: the same calls as ``Client``, awaited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from hanzo_ml_lab.client._base import (
    Calls,
    ClientConfig,
    ControlPlaneUnreachable,
    Req,
    kind_name,
    raise_for_status,
)

__all__ = ["AsyncClient"]


class AsyncClient:
    """Async twin of ``Client``; see there for the semantics of each call."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        org: str | None = None,
        home: Path | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        self.config = config or ClientConfig.resolve(base_url, token, org, home=home,
                                                     timeout=timeout)
        self._http = httpx.AsyncClient(base_url=self.config.base_url,
                                       headers=self.config.headers(),
                                       timeout=self.config.timeout, transport=transport)

    async def _send(self, req: Req) -> Any:
        if self._http.is_closed:
            raise RuntimeError("this hanzo-ml AsyncClient has been closed; create a new one")
        try:
            response = await self._http.request(req.method, req.path, params=req.params,
                                                json=req.json)
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(
                f"control plane at {self.config.base_url} did not answer: {e}", e.request
            ) from e
        raise_for_status(response)
        return response.json() if response.content else None

    async def _obj(self, req: Req) -> dict[str, Any]:
        out: dict[str, Any] = await self._send(req)
        return out

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._obj(Calls.create({**obj, "kind": kind_name(str(obj.get("kind", "")))}))

    async def get(self, kind: str, name: str) -> dict[str, Any]:
        return await self._obj(Calls.get(kind, name))

    async def list(self, kind: str, *, label_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> dict[str, Any]:
        return await self._obj(Calls.list(kind, label_selector=label_selector, limit=limit,
                                          continue_token=continue_token))

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._obj(Calls.replace({**obj, "kind": kind_name(str(obj.get("kind", "")))}))

    async def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._obj(Calls.patch(kind, name, patch))

    async def delete(self, kind: str, name: str, *,
                     resource_version: str | None = None) -> dict[str, Any]:
        return await self._obj(Calls.delete(kind, name, resource_version=resource_version))

    async def action(self, kind: str, name: str, action: str, body: Any = None,
                     method: str = "POST") -> dict[str, Any]:
        return await self._obj(Calls.action(kind, name, action, body, method=method))

    async def watch(self, kind: str, *, resource_version: str | None = None,
                    label_selector: str | None = None,
                    timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        req = Calls.watch(kind, resource_version=resource_version, label_selector=label_selector)
        try:
            async with self._http.stream(
                req.method, req.path, params=req.params,
                timeout=httpx.Timeout(self.config.timeout, read=timeout),
            ) as r:
                if not r.is_success:
                    await r.aread()
                    raise_for_status(r)
                async for line in r.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(f"watch of {kind} broke: {e}", e.request) from e
