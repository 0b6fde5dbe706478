"""The synchronous client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from hanzo_ml_lab.api.errors import AlreadyExists
from hanzo_ml_lab.client._base import (
    Calls,
    ClientConfig,
    ControlPlaneUnreachable,
    Req,
    kind_name,
    raise_for_status,
)

__all__ = ["Client"]


class Client:
    """Typed access to the ``/v1/ml/*`` API. Objects go in and come out as wire-form dicts.

    ``Client()`` finds the control plane from the environment (see ``ClientConfig.resolve``).
    Use it as a context manager, or call ``close()``; a closed client refuses new calls.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        org: str | None = None,
        home: Path | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        self.config = config or ClientConfig.resolve(base_url, token, org, home=home,
                                                     timeout=timeout)
        self._http = httpx.Client(base_url=self.config.base_url, headers=self.config.headers(),
                                  timeout=self.config.timeout, transport=transport)

    # -- plumbing -------------------------------------------------------------------------
    def _send(self, req: Req) -> Any:
        if self._http.is_closed:
            raise RuntimeError("this hanzo-ml Client has been closed; create a new one")
        try:
            response = self._http.request(req.method, req.path, params=req.params, json=req.json)
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(
                f"control plane at {self.config.base_url} did not answer: {e}", e.request
            ) from e
        raise_for_status(response)
        return response.json() if response.content else None

    def _obj(self, req: Req) -> dict[str, Any]:
        out: dict[str, Any] = self._send(req)
        return out

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def namespace(self) -> str:
        return self.config.namespace

    # -- resources ------------------------------------------------------------------------
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._obj(Calls.create(_with_kind(obj)))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self._obj(Calls.get(kind, name))

    def list(self, kind: str, *, label_selector: str | None = None, limit: int | None = None,
             continue_token: str | None = None) -> dict[str, Any]:
        """One page (a ``<Kind>List``); see ``list_all`` for every item."""
        return self._obj(Calls.list(kind, label_selector=label_selector, limit=limit,
                                     continue_token=continue_token))

    def list_all(self, kind: str, *, label_selector: str | None = None,
                 page_size: int = 500) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.list(kind, label_selector=label_selector, limit=page_size,
                             continue_token=token)
            items.extend(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                return items

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._obj(Calls.replace(_with_kind(obj)))

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._obj(Calls.patch(kind, name, patch))

    def delete(self, kind: str, name: str, *, resource_version: str | None = None) -> dict[str, Any]:
        return self._obj(Calls.delete(kind, name, resource_version=resource_version))

    def apply(self, obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Create, or merge the given metadata and spec into the existing object.

        Returns ``("created" | "configured" | "unchanged", object)``.
        """
        obj = _with_kind(obj)
        try:
            return "created", self.create(obj)
        except AlreadyExists:
            pass
        kind, name = obj["kind"], obj["metadata"]["name"]
        before = self.get(kind, name)
        patch = {k: obj[k] for k in ("metadata", "spec") if k in obj}
        after = self.patch(kind, name, patch)
        same = after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        return ("unchanged" if same else "configured"), after

    def watch(self, kind: str, *, resource_version: str | None = None,
              label_selector: str | None = None,
              timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield watch events (``{"type", "object"}``) until the server closes the stream.

        ``timeout`` bounds the wait between two events (the server sends bookmarks as a
        heartbeat, so a healthy stream never idles that long).
        """
        req = Calls.watch(kind, resource_version=resource_version, label_selector=label_selector)
        try:
            with self._http.stream(req.method, req.path, params=req.params,
                                   timeout=httpx.Timeout(self.config.timeout, read=timeout)) as r:
                if not r.is_success:
                    r.read()
                    raise_for_status(r)
                for line in r.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(f"watch of {kind} broke: {e}", e.request) from e

    # -- HIP-109 actions ------------------------------------------------------------------
    def cancel_job(self, name: str) -> dict[str, Any]:
        return self._obj(Calls.action("TrainingJob", name, "cancel"))

    def experiment_runs(self, name: str) -> dict[str, Any]:
        return self._obj(Calls.action("Experiment", name, "runs", method="GET"))

    def sweep_trials(self, name: str) -> dict[str, Any]:
        return self._obj(Calls.action("Sweep", name, "trials", method="GET"))

    def run_pipeline(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._obj(Calls.action("Pipeline", name, "run", {"params": params or {}}))

    def stop_notebook(self, name: str) -> dict[str, Any]:
        return self._obj(Calls.action("Notebook", name, "stop"))

    def add_model_version(self, name: str, version: dict[str, Any]) -> dict[str, Any]:
        return self._obj(Calls.action("Model", name, "versions", version))

    def predict(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._obj(Calls.action("Inference", name, ":predict", payload))


def _with_kind(obj: dict[str, Any]) -> dict[str, Any]:
    if "kind" not in obj:
        raise ValueError("kind: every object needs a kind (e.g. TrainingJob)")
    return {**obj, "kind": kind_name(str(obj["kind"]))}
