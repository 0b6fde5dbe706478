"""The verbs HIP-109 adds beyond CRUD: cancel, runs, trials, run, stop, versions, predict."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hanzo_ml_lab.api import parse_object
from hanzo_ml_lab.api._base import now_iso
from hanzo_ml_lab.api.errors import AlreadyExists, Cause, Invalid, ServiceUnavailable
from hanzo_ml_lab.api.routes import API_PREFIX
from hanzo_ml_lab.server._body import read_object
from hanzo_ml_lab.server.deps import StoreDep, Tenant, TenantContext, check_vfs_uris
from hanzo_ml_lab.server.routes.resources import list_response, patch_object
from hanzo_ml_lab.store import Store

__all__ = ["router", "LABEL_EXPERIMENT", "LABEL_SWEEP", "LABEL_PIPELINE", "LABEL_MODEL"]

LABEL_EXPERIMENT = "hanzo.ai/experiment"
LABEL_SWEEP = "hanzo.ai/sweep"
LABEL_PIPELINE = "hanzo.ai/pipeline"
LABEL_MODEL = "hanzo.ai/model"

router = APIRouter(prefix=API_PREFIX)


def _owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "hanzo.ai/v1",
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def children(
    store: Store,
    tenant: TenantContext,
    parent: tuple[str, str],
    kind: str,
    label: str,
    *,
    limit: int | None = None,
    continue_token: str | None = None,
) -> dict[str, Any]:
    """The ``kind`` objects labelled ``label=<parent name>``; ``NotFound`` if the parent is."""
    parent_kind, name = parent
    store.get(parent_kind, tenant.namespace, name)
    return list_response(store, kind, tenant.namespace, label_selector=f"{label}={name}",
                         limit=limit, continue_token=continue_token)


@router.post(
    "/jobs/{name}/cancel",
    operation_id="cancelTrainingJob",
    tags=["jobs"],
    summary="Cancel a TrainingJob: every replica gets SIGTERM, then SIGKILL",
)
async def cancel_job(name: str, tenant: Tenant, store: StoreDep) -> JSONResponse:
    patched = await run_in_threadpool(
        patch_object, store, "TrainingJob", tenant, name, {"spec": {"cancelled": True}}
    )
    return JSONResponse(patched)


@router.get(
    "/experiments/{name}/runs",
    operation_id="listExperimentRuns",
    tags=["experiments"],
    summary="The runs of an experiment",
)
async def experiment_runs(
    name: str,
    tenant: Tenant,
    store: StoreDep,
    limit: int | None = Query(None, ge=1, le=10_000),
    continue_token: str | None = Query(None, alias="continue"),
) -> JSONResponse:
    page = await run_in_threadpool(
        children, store, tenant, ("Experiment", name), "Run", LABEL_EXPERIMENT,
        limit=limit, continue_token=continue_token)
    return JSONResponse(page)


@router.get(
    "/sweeps/{name}/trials",
    operation_id="listSweepTrials",
    tags=["sweeps"],
    summary="The child TrainingJobs of a sweep",
)
async def sweep_trials(name: str, tenant: Tenant, store: StoreDep) -> JSONResponse:
    page = await run_in_threadpool(
        children, store, tenant, ("Sweep", name), "TrainingJob", LABEL_SWEEP)
    return JSONResponse(page)


@router.post(
    "/pipelines/{name}/run",
    operation_id="runPipeline",
    tags=["pipelines"],
    status_code=201,
    summary="Trigger an execution of a pipeline (creates a Run)",
)
async def run_pipeline(
    name: str, tenant: Tenant, store: StoreDep, request: Request
) -> JSONResponse:
    raw = await request.body()
    params: dict[str, Any] = {}
    if raw.strip():
        body = await read_object(request)
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise Invalid(
                "params: must be an object", causes=[Cause("params", "must be an object")]
            )

    def work() -> dict[str, Any]:
        pipeline = store.get("Pipeline", tenant.namespace, name)
        run = {
            "apiVersion": "hanzo.ai/v1",
            "kind": "Run",
            "metadata": {
                "generateName": f"{name}-run-",
                "namespace": tenant.namespace,
                "labels": {LABEL_PIPELINE: name},
                "ownerReferences": [_owner_ref(pipeline)],
            },
            "spec": {
                "source": {"kind": "Pipeline", "name": name},
                "params": {k: str(v) for k, v in params.items()},
            },
        }
        wire = parse_object(run, kind="Run").to_wire()
        return store.create(wire)

    return JSONResponse(await run_in_threadpool(work), status_code=201)


@router.post(
    "/notebooks/{name}/stop",
    operation_id="stopNotebook",
    tags=["notebooks"],
    summary="Stop a notebook (sets idleTimeoutSeconds=0)",
)
async def stop_notebook(name: str, tenant: Tenant, store: StoreDep) -> JSONResponse:
    patched = await run_in_threadpool(
        patch_object, store, "Notebook", tenant, name, {"spec": {"idleTimeoutSeconds": 0}}
    )
    return JSONResponse(patched)


def add_model_version(
    store: Store, tenant: TenantContext, name: str, version: dict[str, Any]
) -> dict[str, Any]:
    """Append a version to a Model and record it as an immutable ModelVersion object."""
    vname = version.get("name")
    if not isinstance(vname, str) or not vname:
        raise Invalid(
            "name: version name is required",
            causes=[Cause("name", "is required", "FieldValueRequired")],
        )
    version = {**version, "createdAt": version.get("createdAt") or now_iso()}
    check_vfs_uris({"spec": {"versions": [version]}}, tenant.namespace)
    model = store.get("Model", tenant.namespace, name)
    if any(v.get("name") == vname for v in model["spec"].get("versions", [])):
        raise AlreadyExists(
            f'Model "{name}" already has version "{vname}"; versions are immutable, '
            "register a new version name",
            kind="Model",
            name=name,
        )
    mv = parse_object(
        {
            "apiVersion": "hanzo.ai/v1",
            "kind": "ModelVersion",
            "metadata": {
                "name": f"{name}-{vname}".lower()[:63],
                "namespace": tenant.namespace,
                "labels": {LABEL_MODEL: name},
                "ownerReferences": [_owner_ref(model)],
            },
            "spec": {
                "model": name,
                "version": vname,
                "artifact": version.get("artifact") or model["spec"].get("artifact"),
                "description": version.get("description", ""),
                "framework": model["spec"].get("framework"),
            },
        },
        kind="ModelVersion",
    ).to_wire()
    updated = patch_object(
        store,
        "Model",
        tenant,
        name,
        {
            "metadata": {"resourceVersion": model["metadata"]["resourceVersion"]},
            "spec": {"versions": [*model["spec"].get("versions", []), version]},
        },
    )
    try:
        store.create(mv)
    except AlreadyExists:
        pass  # a retried request: the version record is already there
    return updated


@router.post(
    "/models/{name}/versions",
    operation_id="addModelVersion",
    tags=["models"],
    status_code=201,
    summary="Add a version to a model (metadata)",
)
async def model_versions(
    name: str, request: Request, tenant: Tenant, store: StoreDep
) -> JSONResponse:
    body = await read_object(request)
    updated = await run_in_threadpool(add_model_version, store, tenant, name, body)
    return JSONResponse(updated, status_code=201)


@router.post(
    "/inference/{name}:predict",
    operation_id="predictInference",
    tags=["inference"],
    summary="Forward a predict call (Open Inference Protocol) to the serving runtime",
)
async def predict(name: str, request: Request, tenant: Tenant, store: StoreDep) -> JSONResponse:
    body = await read_object(request)
    inf = await run_in_threadpool(store.get, "Inference", tenant.namespace, name)
    phase = (inf.get("status") or {}).get("phase", "Pending")
    forward = request.app.state.predictor
    if forward is None or phase != "Running":
        raise ServiceUnavailable(f'Inference "{name}" is not ready to serve (phase {phase})')
    return JSONResponse(await forward(inf, body))
