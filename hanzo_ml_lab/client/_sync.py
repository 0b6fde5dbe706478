"""The synchronous client."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from hanzo_ml_lab.api.errors import AlreadyExists, error_from_status
from hanzo_ml_lab.api.routes import API_PREFIX
from hanzo_ml_lab.api.vfs import parse_vfs_uri
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

    def delete(
        self, kind: str, name: str, *, resource_version: str | None = None
    ) -> dict[str, Any]:
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

    # -- streams (added for the notebook magics and widgets) -----------------------------
    # Logs and metric points arrive as NDJSON, one object a line; these yield them as they
    # come. A stream that fails after it started (the server sends an ``ERROR`` line carrying a
    # Status) raises the matching ``ApiError``. Closing the iterator closes the response.

    def job_logs(self, name: str, *, replica: str | None = None, follow: bool = False,
                 since: str | None = None, tail_lines: int | None = None,
                 timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield ``{"replica", "text", "cursor"}`` chunks of a TrainingJob's output.

        ``follow`` keeps the stream open until the job has finished and everything is read;
        ``since`` resumes after the chunk whose cursor it is; ``timeout`` bounds the wait
        between two chunks (``None``: no bound, for following a quiet job).
        """
        params = {"replica": replica, "follow": "true" if follow else None, "since": since,
                  "tailLines": tail_lines}
        req = Calls.action("TrainingJob", name, "logs", method="GET",
                           params={k: v for k, v in params.items() if v is not None})
        return self._stream_ndjson(req, timeout)

    def run_metrics(self, run: str, *, key: str | None = None, after: int | None = None,
                    watch: bool = False,
                    timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield metric points ``{seq, run, key, step, timestamp, value}`` of a Run in ``seq``
        order, those after ``after`` only; with ``watch`` the stream stays open for new ones."""
        params = {"key": key, "after": after, "watch": "true" if watch else None}
        req = Calls.action("Run", run, "metrics", method="GET",
                           params={k: v for k, v in params.items() if v is not None})
        return self._stream_ndjson(req, timeout)

    def _stream_ndjson(self, req: Req, timeout: float | None) -> Iterator[dict[str, Any]]:
        if self._http.is_closed:
            raise RuntimeError("this hanzo-ml Client has been closed; create a new one")
        try:
            with self._http.stream(req.method, req.path, params=req.params,
                                   timeout=httpx.Timeout(self.config.timeout, read=timeout)) as r:
                if not r.is_success:
                    r.read()
                    raise_for_status(r)
                for line in r.iter_lines():
                    if line.strip():
                        yield from ndjson_items(json.loads(line))
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(f"stream {req.path} broke: {e}", e.request) from e

    # -- tracking: metric batches, params, vfs artifacts (routes/tracking.py) ------------

    def log_run_batch(self, run: str, batch: dict[str, Any]) -> dict[str, Any]:
        """Send one batch to ``POST /runs/{run}/log``: ``{"batchId", "metrics": {"keys",
        "values", "steps", "timestamps"}, "params", "tags", "end"}``. Returns ``{"accepted",
        "duplicate"}``; resending a batchId changes nothing. Raises ``TooManyRequests`` (its
        ``retry_after_seconds`` says when to resend), ``Conflict`` (a param already set)."""
        return self._obj(TrackingCalls.log(run, batch))

    def run_params(self, run: str) -> dict[str, Any]:
        """``{"params": {...}, "tags": {...}}`` of a run."""
        return self._obj(TrackingCalls.params(run))

    def run_latest_metrics(self, run: str) -> dict[str, Any]:
        """``{"metrics": {key: {value, step, timestamp, count, min, max, updatedAt}}, "end"}``."""
        return self._obj(TrackingCalls.latest(run))

    def metric_page(self, *, run: str | None = None, experiment: str | None = None,
                    key: str | None = None, after: int = 0,
                    limit: int | None = None) -> dict[str, Any]:
        """One page of points, ``{"items": [...], "next": seq}``: of ``run``, or of every run of
        ``experiment`` (optionally only ``run``). Pass ``next`` back as ``after``."""
        return self._obj(TrackingCalls.page(run=run, experiment=experiment, key=key, after=after,
                                            limit=limit))

    def experiment_metrics(self, name: str, *, run: str | None = None, key: str | None = None,
                           after: int | None = None, watch: bool = False,
                           timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield the points of every run of an experiment (HIP-109's metric stream) in
        ``seq`` order; with ``watch`` the stream stays open for new ones."""
        return self._stream_ndjson(TrackingCalls.experiment_stream(
            name, run=run, key=key, after=after, watch=watch), timeout)

    def put_artifact(self, uri: str, content: Any, *, run: str | None = None,
                     media_type: str | None = None) -> dict[str, Any]:
        """Upload bytes (or a binary file object, streamed) to ``vfs://<namespace>/<path>``;
        returns ``{"uri", "digest", "sizeBytes", "artifact"}`` (the Artifact object's name)."""
        req = TrackingCalls.vfs("PUT", uri, run=run)
        headers = {"Content-Type": media_type} if media_type else None
        out: dict[str, Any] = self._send_raw(req, content=content, headers=headers).json()
        return out

    def get_artifact(self, uri: str) -> bytes:
        """The bytes at ``vfs://<namespace>/<path>``."""
        return self._send_raw(TrackingCalls.vfs("GET", uri)).content

    def _send_raw(self, req: Req, *, content: Any = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        if self._http.is_closed:
            raise RuntimeError("this hanzo-ml Client has been closed; create a new one")
        try:
            response = self._http.request(req.method, req.path, params=req.params,
                                          content=content, headers=headers)
        except httpx.TransportError as e:
            raise ControlPlaneUnreachable(
                f"control plane at {self.config.base_url} did not answer: {e}", e.request
            ) from e
        raise_for_status(response)
        return response


class TrackingCalls:
    """Request builders of the tracking routes, shared by ``Client`` and ``AsyncClient``."""

    @staticmethod
    def log(run: str, batch: dict[str, Any]) -> Req:
        metrics = batch.get("metrics")
        if isinstance(metrics, dict) and isinstance(metrics.get("values"), list):
            # JSON has no NaN/Infinity: send them as the strings the server reads back
            values = [v if not isinstance(v, float) or math.isfinite(v) else
                      ("NaN" if v != v else "Infinity" if v > 0 else "-Infinity")
                      for v in metrics["values"]]
            batch = {**batch, "metrics": {**metrics, "values": values}}
        return Calls.action("Run", run, "log", batch)

    @staticmethod
    def params(run: str) -> Req:
        return Calls.action("Run", run, "params", method="GET")

    @staticmethod
    def latest(run: str) -> Req:
        return Calls.action("Run", run, "metrics/latest", method="GET")

    @staticmethod
    def page(*, run: str | None, experiment: str | None, key: str | None, after: int,
             limit: int | None) -> Req:
        params = {"key": key, "after": after or None, "limit": limit}
        if experiment:
            params["run"] = run
            kind, name = "Experiment", experiment
        elif run:
            kind, name = "Run", run
        else:
            raise ValueError("metric_page: give run or experiment")
        return Calls.action(kind, name, "metrics", method="GET",
                            params={k: v for k, v in params.items() if v is not None})

    @staticmethod
    def experiment_stream(name: str, *, run: str | None, key: str | None, after: int | None,
                          watch: bool) -> Req:
        params = {"run": run, "key": key, "after": after, "watch": "true" if watch else None}
        return Calls.action("Experiment", name, "metrics", method="GET",
                            params={k: v for k, v in params.items() if v is not None})

    @staticmethod
    def vfs(method: str, uri: str, *, run: str | None = None) -> Req:
        namespace, path = parse_vfs_uri(uri)
        return Req(method, f"{API_PREFIX}/vfs/{namespace}/{quote(path, safe='/')}",
                   params={"run": run} if run else None)


def ndjson_items(item: Any) -> Iterator[dict[str, Any]]:
    """One line of an NDJSON stream as the objects it carries: an ``ERROR`` line raises its
    Status as an ``ApiError``; a list document (``{"items": [...]}``) yields its items."""
    if isinstance(item, dict) and item.get("type") == "ERROR" and isinstance(
            item.get("object"), dict):
        status = item["object"]
        raise error_from_status(status, int(status.get("code") or 500))
    if isinstance(item, dict) and isinstance(item.get("items"), list) and "seq" not in item:
        yield from (i for i in item["items"] if isinstance(i, dict))
    elif isinstance(item, list):
        yield from (i for i in item if isinstance(i, dict))
    elif isinstance(item, dict):
        yield item


def _with_kind(obj: dict[str, Any]) -> dict[str, Any]:
    if "kind" not in obj:
        raise ValueError("kind: every object needs a kind (e.g. TrainingJob)")
    return {**obj, "kind": kind_name(str(obj["kind"]))}
