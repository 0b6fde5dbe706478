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

    # -- streams (added for the notebook magics and widgets; twins of Client's) ----------

    async def job_logs(self, name: str, *, replica: str | None = None, follow: bool = False,
                       since: str | None = None, tail_lines: int | None = None,
                       timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """See ``Client.job_logs``."""
        params = {"replica": replica, "follow": "true" if follow else None, "since": since,
                  "tailLines": tail_lines}
        req = Calls.action("TrainingJob", name, "logs", method="GET",
                           params={k: v for k, v in params.items() if v is not None})
        async for item in self._stream_ndjson(req, timeout):
            yield item

    async def run_metrics(self, run: str, *, key: str | None = None, after: int | None = None,
                          watch: bool = False,
                          timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """See ``Client.run_metrics``."""
        params = {"key": key, "after": after, "watch": "true" if watch else None}
        req = Calls.action("Run", run, "metrics", method="GET",
                           params={k: v for k, v in params.items() if v is not None})
        async for item in self._stream_ndjson(req, timeout):
            yield item

    async def _stream_ndjson(self, req: Req,
                             timeout: float | None) -> AsyncIterator[dict[str, Any]]:
        from hanzo_ml_lab.client._sync import ndjson_items

        if self._http.is_closed:
            raise RuntimeError("this hanzo-ml AsyncClient has been closed; create a new one")
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
                        for item in ndjson_items(json.loads(line)):
                            yield item
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(f"stream {req.path} broke: {e}", e.request) from e

    # -- tracking: metric batches, params, vfs artifacts (twins of Client's) -------------

    async def log_run_batch(self, run: str, batch: dict[str, Any]) -> dict[str, Any]:
        """See ``Client.log_run_batch``."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        return await self._obj(TrackingCalls.log(run, batch))

    async def run_params(self, run: str) -> dict[str, Any]:
        """See ``Client.run_params``."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        return await self._obj(TrackingCalls.params(run))

    async def run_latest_metrics(self, run: str) -> dict[str, Any]:
        """See ``Client.run_latest_metrics``."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        return await self._obj(TrackingCalls.latest(run))

    async def metric_page(self, *, run: str | None = None, experiment: str | None = None,
                          key: str | None = None, after: int = 0,
                          limit: int | None = None) -> dict[str, Any]:
        """See ``Client.metric_page``."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        return await self._obj(TrackingCalls.page(run=run, experiment=experiment, key=key,
                                                  after=after, limit=limit))

    async def experiment_metrics(self, name: str, *, run: str | None = None,
                                 key: str | None = None, after: int | None = None,
                                 watch: bool = False,
                                 timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """See ``Client.experiment_metrics``."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        req = TrackingCalls.experiment_stream(name, run=run, key=key, after=after, watch=watch)
        async for item in self._stream_ndjson(req, timeout):
            yield item

    async def put_artifact(self, uri: str, content: Any, *, run: str | None = None,
                           media_type: str | None = None) -> dict[str, Any]:
        """See ``Client.put_artifact`` (``content``: bytes or an async byte iterator)."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        req = TrackingCalls.vfs("PUT", uri, run=run)
        headers = {"Content-Type": media_type} if media_type else None
        response = await self._send_raw(req, content=content, headers=headers)
        out: dict[str, Any] = response.json()
        return out

    async def get_artifact(self, uri: str) -> bytes:
        """See ``Client.get_artifact``."""
        from hanzo_ml_lab.client._sync import TrackingCalls

        return (await self._send_raw(TrackingCalls.vfs("GET", uri))).content

    async def _send_raw(self, req: Req, *, content: Any = None,
                        headers: dict[str, str] | None = None) -> httpx.Response:
        if self._http.is_closed:
            raise RuntimeError("this hanzo-ml AsyncClient has been closed; create a new one")
        try:
            response = await self._http.request(req.method, req.path, params=req.params,
                                                content=content, headers=headers)
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(
                f"control plane at {self.config.base_url} did not answer: {e}", e.request
            ) from e
        raise_for_status(response)
        return response
