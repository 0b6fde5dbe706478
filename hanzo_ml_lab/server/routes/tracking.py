"""Tracking routes: metric batches in, metric streams out, params, and vfs artifacts.

    POST /v1/ml/runs/{name}/log               a batch: metrics (columns), params, tags, end
    GET  /v1/ml/runs/{name}/metrics           points of a run (?key, after, limit, watch)
    GET  /v1/ml/runs/{name}/metrics/latest    per key: latest value, step, count, min, max
    GET  /v1/ml/runs/{name}/params            params and tags (the Run's spec ones included)
    GET  /v1/ml/experiments/{name}/metrics    HIP-109's metric stream (?run, key, after, ...)
    PUT  /v1/ml/vfs/{namespace}/{path}        upload an artifact (raw body); records an Artifact
    GET  /v1/ml/vfs/{namespace}/{path}        download it (a directory lists its files)

Everything is tenant-scoped like the rest of the API: the run, the experiment and the vfs
namespace must be the caller's, and anything else answers 404 exactly as a missing object
does, so a tenant cannot even probe for another's names.

Metric points on the wire are ``{seq, run, key, step, timestamp (ms), value}``; ``seq`` is the
cursor (``after``). Non-finite values travel as the strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"`` (JSON has no literal for them). A watch (``?watch=true``) streams one JSON
object per line: ``{"type": "POINTS", "items": [...], "next": seq}`` as points arrive (first
everything after ``after``, then live), ``{"type": "BOOKMARK", "items": [], "next": seq}`` as a
heartbeat (shaped like an empty POINTS line, so a reader that only takes ``items`` skips it),
``{"type": "ERROR", "object": Status}`` if it breaks. Points come batched per line because a
stream may carry thousands of points a second.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from hanzo_ml_lab.api import parse_object
from hanzo_ml_lab.api.errors import (
    AlreadyExists,
    BadRequest,
    Cause,
    Conflict,
    NotFound,
    RequestTooLarge,
    TooManyRequests,
)
from hanzo_ml_lab.api.routes import API_PREFIX
from hanzo_ml_lab.server._watch import stream_events
from hanzo_ml_lab.server.deps import StoreDep, Tenant, TenantContext
from hanzo_ml_lab.server.ratelimit import MetricRateLimiter
from hanzo_ml_lab.store import Store
from hanzo_ml_lab.store.tracking import TrackingStore, encode_value, parse_batch

__all__ = ["TrackingDep", "close_tracking", "experiment_limit", "install_tracking", "router"]

# Settings these routes read with a default, so ServerSettings may or may not declare them.
WATCH_POLL_SECONDS = 0.25  # re-read even without a notification (writers in other processes)
DEFAULT_PAGE = 10_000
MAX_PAGE = 100_000
LABEL_RUN = "hanzo.ai/run"
LABEL_EXPERIMENT = "hanzo.ai/experiment"
_VFS_BAD = re.compile(r"[\x00-\x1f\x7f\\%?#]")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_LIST_MAX = 10_000

router = APIRouter(prefix=API_PREFIX)


def install_tracking(app: FastAPI, tracking: TrackingStore | None = None) -> None:
    """Give ``app`` a tracking store (``<home>/tracking.db`` unless one is passed), the metric
    rate limiter, and these routes."""
    settings = app.state.settings
    app.state.tracking_owned = tracking is None
    app.state.tracking = tracking or TrackingStore(Path(settings.home) / "tracking.db")
    app.state.metric_limiter = MetricRateLimiter(settings.metric_writes_per_second)
    app.include_router(router)


def close_tracking(app: FastAPI) -> None:
    """Close the tracking store if ``install_tracking`` opened it."""
    if getattr(app.state, "tracking_owned", False):
        app.state.tracking.close()


def get_tracking(request: Request) -> TrackingStore:
    tracking: TrackingStore = request.app.state.tracking
    return tracking


TrackingDep = Annotated[TrackingStore, Depends(get_tracking)]


# -- helpers ------------------------------------------------------------------------------


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body: must be at most {limit} bytes, got {declared}; "
                              "send the points in smaller batches")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body: must be at most {limit} bytes; "
                                  "send the points in smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


def _wire_point(p: dict[str, Any]) -> dict[str, Any]:
    return {"seq": p["seq"], "run": p["run"], "key": p["key"], "step": p["step"],
            "timestamp": p["timestamp"], "value": encode_value(p["value"])}


def experiment_limit(store: Store, namespace: str, experiment: str | None) -> int | None:
    """The experiment's ``spec.rateLimit.metricWritesPerSecond`` (None: the server's default)."""
    if not experiment:
        return None
    try:
        exp = store.get("Experiment", namespace, experiment)
    except NotFound:
        return None
    limit = ((exp.get("spec") or {}).get("rateLimit") or {}).get("metricWritesPerSecond")
    return int(limit) if limit else None


def _too_many(err: TooManyRequests) -> JSONResponse:
    seconds = err.retry_after_seconds or 1.0
    return JSONResponse(err.to_status(), status_code=429,
                        headers={"Retry-After": MetricRateLimiter.retry_after_header(seconds)})


def _points_page(tracking: TrackingStore, namespace: str, after: int, limit: int,
                 **scope: str | None) -> dict[str, Any]:
    items = tracking.points(namespace, after_seq=after, limit=limit, **scope)
    return {"items": [_wire_point(p) for p in items],
            "next": items[-1]["seq"] if items else after}


def _watch(request: Request, tracking: TrackingStore, namespace: str, after: int, limit: int,
           **scope: str | None) -> Response:
    heartbeat: float = request.app.state.settings.watch_heartbeat_seconds

    def produce(stop: threading.Event) -> Iterator[dict[str, Any]]:
        cursor = after
        quiet_since = time.monotonic()
        while not stop.is_set():
            version = tracking.version  # read before the query: no notification is missed
            items = tracking.points(namespace, after_seq=cursor, limit=limit, **scope)
            if items:
                cursor = items[-1]["seq"]
                yield {"type": "POINTS", "items": [_wire_point(p) for p in items],
                       "next": cursor}
                quiet_since = time.monotonic()
                if len(items) == limit:
                    continue  # more is waiting
            elif time.monotonic() - quiet_since >= heartbeat:
                yield {"type": "BOOKMARK", "items": [], "next": cursor}
                quiet_since = time.monotonic()
            tracking.wait(version, WATCH_POLL_SECONDS)

    return stream_events(produce, name="watch-metrics")


# -- metrics, params ----------------------------------------------------------------------


@router.post("/runs/{name}/log", operation_id="logRunBatch", tags=["runs"],
             summary="Log a batch of metric points, params and tags to a run (exactly once "
                     "per batchId)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "properties": {
                     "batchId": {"type": "string"},
                     "metrics": {"type": "object", "properties": {
                         "keys": {"type": "array", "items": {"type": "string"}},
                         "values": {"type": "array", "items": {}},
                         "steps": {"type": "array", "items": {"type": "integer"}},
                         "timestamps": {"type": "array", "items": {"type": "integer"}}}},
                     "params": {"type": "object"},
                     "tags": {"type": "object"},
                     "end": {"type": "object", "properties": {
                         "phase": {"enum": ["Succeeded", "Failed"]}}}}}}}}})
async def log_batch(name: str, request: Request, tenant: Tenant, store: StoreDep,
                    tracking: TrackingDep) -> JSONResponse:
    settings = request.app.state.settings
    limiter: MetricRateLimiter = request.app.state.metric_limiter
    limit = settings.max_log_body_bytes
    raw = await _read_limited(request, limit)
    ns = tenant.namespace

    def work() -> dict[str, Any]:
        run = store.get("Run", ns, name)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            raise BadRequest(f"request body: not valid JSON ({e})") from e
        batch = parse_batch(body)
        spec = run.get("spec") or {}
        experiment = spec.get("experiment")
        if tracking.seen(ns, name, batch.batch_id):
            return {"accepted": 0, "duplicate": True}
        limiter.admit(ns, experiment, batch.points,
                      lambda: experiment_limit(store, ns, experiment))
        return tracking.ingest_batch(ns, experiment, name, batch,
                                     fixed_params=spec.get("params") or {})

    try:
        return JSONResponse(await run_in_threadpool(work))
    except TooManyRequests as e:
        return _too_many(e)


@router.get("/runs/{name}/metrics", operation_id="listRunMetrics", tags=["runs"],
            summary="The metric points of a run (or a stream of them with watch=true)")
async def run_metrics(
    name: str,
    request: Request,
    tenant: Tenant,
    store: StoreDep,
    tracking: TrackingDep,
    key: str | None = None,
    after: int = Query(0, ge=0, description="Only points with seq > after"),
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE),
    watch: bool = False,
) -> Response:
    ns = tenant.namespace
    await run_in_threadpool(store.get, "Run", ns, name)
    if watch:
        return _watch(request, tracking, ns, after, limit, run=name, key=key)
    return JSONResponse(await run_in_threadpool(_points_page, tracking, ns, after, limit,
                                                run=name, key=key))


@router.get("/runs/{name}/metrics/latest", operation_id="readRunLatestMetrics", tags=["runs"],
            summary="Per metric key of a run: the latest value and step, count, min and max")
async def run_latest(name: str, tenant: Tenant, store: StoreDep,
                     tracking: TrackingDep) -> JSONResponse:
    ns = tenant.namespace

    def work() -> dict[str, Any]:
        store.get("Run", ns, name)
        latest = tracking.latest(ns, name)
        for item in latest.values():
            item["value"] = encode_value(item["value"])
            item.pop("experiment", None)
            for k in ("min", "max"):
                if item[k] is not None:
                    item[k] = encode_value(item[k])
        return {"metrics": latest, "end": tracking.run_state(ns, name)}

    return JSONResponse(await run_in_threadpool(work))


@router.get("/runs/{name}/params", operation_id="readRunParams", tags=["runs"],
            summary="The params and tags of a run")
async def run_params(name: str, tenant: Tenant, store: StoreDep,
                     tracking: TrackingDep) -> JSONResponse:
    ns = tenant.namespace

    def work() -> dict[str, Any]:
        spec = store.get("Run", ns, name).get("spec") or {}
        return {"params": {**(spec.get("params") or {}), **tracking.params(ns, name)},
                "tags": {**(spec.get("tags") or {}), **tracking.tags(ns, name)}}

    return JSONResponse(await run_in_threadpool(work))


@router.get("/experiments/{name}/metrics", operation_id="listExperimentMetrics",
            tags=["experiments"],
            summary="The metric stream of an experiment: points of all its runs")
async def experiment_metrics(
    name: str,
    request: Request,
    tenant: Tenant,
    store: StoreDep,
    tracking: TrackingDep,
    run: str | None = None,
    key: str | None = None,
    after: int = Query(0, ge=0, description="Only points with seq > after"),
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE),
    watch: bool = False,
) -> Response:
    ns = tenant.namespace
    await run_in_threadpool(store.get, "Experiment", ns, name)
    if watch:
        return _watch(request, tracking, ns, after, limit, experiment=name, run=run, key=key)
    return JSONResponse(await run_in_threadpool(_points_page, tracking, ns, after, limit,
                                                experiment=name, run=run, key=key))


# -- vfs ----------------------------------------------------------------------------------


def _vfs_root(request: Request, namespace: str) -> Path:
    root = Path(request.app.state.settings.home) / "artifacts" / namespace
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def _vfs_path(request: Request, tenant: TenantContext, path: str, *,
              allow_dir: bool) -> tuple[Path, Path, str]:
    """(root, target, relative path) for ``<namespace>/<path>``; refuses anything that could
    leave the tenant's artifact root."""
    namespace, _, rest = path.partition("/")
    if namespace != tenant.namespace:
        # another tenant's namespace answers exactly like a missing artifact
        raise NotFound(f"vfs://{path}: no such artifact", kind="Artifact")
    if allow_dir and rest.endswith("/"):
        rest = rest[:-1]
    if not rest and allow_dir:
        return _vfs_root(request, namespace), _vfs_root(request, namespace), ""
    segments = rest.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or _VFS_BAD.search(segment):
            raise BadRequest(
                f"path: {path!r} must be <namespace>/<path> with no empty, '.' or '..' "
                "segments and no backslashes, '%', '?', '#' or control characters",
                causes=[Cause("path", f"bad segment {segment!r}")])
    root = _vfs_root(request, namespace)
    target = root.joinpath(*segments)
    real = target.resolve()
    if real != root and root not in real.parents:
        raise BadRequest(f"path: {path!r} leaves the namespace's artifact root",
                         causes=[Cause("path", "must stay inside the namespace")])
    return root, target, "/".join(segments)


def _artifact_name(rel: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", rel.lower()).strip("-")[:54].strip("-") or "artifact"
    return f"{slug}-{hashlib.sha256(rel.encode()).hexdigest()[:8]}"


def _record_artifact(store: Store, namespace: str, rel: str, uri: str, digest: str, size: int,
                     media_type: str, run: str | None) -> dict[str, Any]:
    name = _artifact_name(rel)
    spec: dict[str, Any] = {"uri": uri, "type": "file", "digest": digest, "sizeBytes": size,
                            "mediaType": media_type}
    labels: dict[str, str] = {}
    if run:
        spec["run"] = run
        labels[LABEL_RUN] = run
    obj = {"apiVersion": "hanzo.ai/v1", "kind": "Artifact",
           "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}
    wire = parse_object(obj, kind="Artifact").to_wire()
    for _ in range(5):
        try:
            saved = store.create(wire)
            break
        except AlreadyExists:
            current = store.get("Artifact", namespace, name)
            current["spec"] = {**current.get("spec", {}), **spec}
            current["metadata"]["labels"] = {**(current["metadata"].get("labels") or {}),
                                             **labels}
            try:
                saved = store.update(current)
                break
            except (Conflict, NotFound):
                continue
    else:
        raise Conflict(f'Artifact "{name}" is being changed concurrently; upload again',
                       kind="Artifact", name=name)
    status = dict(saved.get("status") or {})
    if status.get("phase") != "Available":
        saved = store.update_status({**saved, "status": {**status, "phase": "Available"}})
    return saved


@router.put("/vfs/{path:path}", operation_id="putVfsObject", tags=["vfs"],
            summary="Upload an artifact to vfs://<namespace>/<path> (raw body)")
async def put_vfs(path: str, request: Request, tenant: Tenant, store: StoreDep,
                  run: str | None = None) -> JSONResponse:
    root, target, rel = _vfs_path(request, tenant, path, allow_dir=False)
    ns = tenant.namespace
    if run:
        await run_in_threadpool(store.get, "Run", ns, run)
    limit = request.app.state.settings.max_artifact_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body: an artifact must be at most {limit} bytes, "
                              f"got {declared}")
    if target.is_dir():
        raise Conflict(f"vfs://{path}: is a directory; upload to a path below it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise Conflict(f"vfs://{path}: a parent of this path is a file") from e
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:
        raise BadRequest(f"path: {path!r} leaves the namespace's artifact root")
    tmp = parent / f".{target.name}.{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLarge(
                        f"request body: an artifact must be at most {limit} bytes")
                digest.update(chunk)
                f.write(chunk)
        os.replace(tmp, parent / target.name)
    finally:
        tmp.unlink(missing_ok=True)
    uri = f"vfs://{ns}/{rel}"
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if not _MEDIA_TYPE.match(ctype):
        ctype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    artifact = await run_in_threadpool(_record_artifact, store, ns, rel, uri,
                                       f"sha256:{digest.hexdigest()}", size, ctype, run)
    return JSONResponse({"uri": uri, "digest": f"sha256:{digest.hexdigest()}",
                         "sizeBytes": size, "artifact": artifact["metadata"]["name"]},
                        status_code=201)


@router.get("/vfs/{path:path}", operation_id="getVfsObject", tags=["vfs"],
            summary="Download an artifact from vfs://<namespace>/<path> (a directory lists "
                    "its files)")
async def get_vfs(path: str, request: Request, tenant: Tenant) -> Response:
    root, target, rel = _vfs_path(request, tenant, path, allow_dir=True)
    ns = tenant.namespace
    real = target.resolve()
    if real.is_file():
        return FileResponse(real, media_type=mimetypes.guess_type(rel)[0]
                            or "application/octet-stream")
    if real.is_dir() and (rel or any(real.iterdir())):
        def listing() -> dict[str, Any]:
            items = []
            for file in sorted(real.rglob("*")):
                if file.is_file() and not file.is_symlink() and not (
                        file.name.startswith(".") and file.name.endswith(".part")):
                    sub = file.relative_to(root).as_posix()
                    items.append({"uri": f"vfs://{ns}/{sub}", "sizeBytes": file.stat().st_size})
                    if len(items) >= _LIST_MAX:
                        break
            return {"uri": f"vfs://{ns}/{rel}/" if rel else f"vfs://{ns}/", "items": items}

        return JSONResponse(await run_in_threadpool(listing))
    raise NotFound(f"vfs://{path}: no such artifact", kind="Artifact")
