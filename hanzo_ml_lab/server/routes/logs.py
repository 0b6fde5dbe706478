"""Job logs: ``GET /v1/ml/jobs/{name}/logs``, streamed as NDJSON chunks with resumable cursors.

Each line is ``{"replica": "worker-0", "text": "...", "cursor": "..."}``; a client that loses
the connection passes the last cursor back as ``since`` and gets exactly what followed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hanzo_ml_lab.api.errors import BadRequest, ServiceUnavailable
from hanzo_ml_lab.api.routes import API_PREFIX
from hanzo_ml_lab.server._watch import stream_events
from hanzo_ml_lab.server.deps import StoreDep, Tenant

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX)


@router.get(
    "/jobs/{name}/logs",
    operation_id="readTrainingJobLogs",
    tags=["jobs"],
    summary="Stream a TrainingJob's logs (one replica or all, optionally following)",
)
async def job_logs(
    name: str,
    request: Request,
    tenant: Tenant,
    store: StoreDep,
    replica: str | None = Query(None, description="e.g. worker-0; all replicas when omitted"),
    follow: bool = False,
    since: str | None = Query(None, description="cursor of the last chunk already read"),
    tail_lines: int | None = Query(None, alias="tailLines", ge=0, le=100_000),
) -> Response:
    from hanzo_ml_lab.controller.reconcilers.trainingjob import runtime_key

    job = await run_in_threadpool(store.get, "TrainingJob", tenant.namespace, name)
    runtime = request.app.state.runtime
    if runtime is None:
        raise ServiceUnavailable("logs: no runtime backend runs beside this API (--no-controller)")
    key = runtime_key(job)
    if replica is not None and replica not in _replica_names(job):
        raise BadRequest(
            f"replica: {replica!r} is not a replica of TrainingJob {name!r} "
            f"(replicas: {', '.join(_replica_names(job))})"
        )

    def produce(stop: threading.Event) -> Iterator[dict[str, Any]]:
        try:
            for chunk in runtime.read_logs(
                key, replica, since=since, follow=follow, stop=stop, tail_lines=tail_lines
            ):
                yield {"replica": chunk.replica, "text": chunk.text, "cursor": chunk.cursor}
        except ValueError as e:
            raise BadRequest(f"since: {e}") from e

    return stream_events(produce, name=f"logs-{name}")


def _replica_names(job: dict[str, Any]) -> list[str]:
    from hanzo_ml_lab.controller.topology import plan_replicas

    return [r.name for r in plan_replicas(job["spec"])]
