"""The CRUD routes every Kind shares: one router per Kind, built from one description.

HIP-109 lists create/list/read for each collection (and delete for jobs); the rest of the verbs
(replace, merge-patch, delete) are what a Kubernetes user expects of any resource and what the
CLI's ``apply``/``delete`` need, so every Kind has them.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from hanzo_ml_lab.api import KINDS
from hanzo_ml_lab.api.errors import Conflict
from hanzo_ml_lab.api.routes import COLLECTIONS, collection_path
from hanzo_ml_lab.server._body import read_object
from hanzo_ml_lab.server._watch import stream_events
from hanzo_ml_lab.server.deps import StoreDep, Tenant, admit
from hanzo_ml_lab.store import Store, merge_patch

__all__ = ["build_resource_router", "list_response", "watch_response"]

_PATCH_RETRIES = 5


def list_response(
    store: Store,
    kind: str,
    namespace: str,
    *,
    label_selector: str | None,
    limit: int | None,
    continue_token: str | None,
) -> dict[str, Any]:
    result = store.list(
        kind, namespace, label_selector=label_selector, limit=limit, continue_token=continue_token
    )
    meta: dict[str, Any] = {"resourceVersion": result.resource_version}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining_item_count is not None:
        meta["remainingItemCount"] = result.remaining_item_count
    return {
        "apiVersion": "hanzo.ai/v1",
        "kind": f"{kind}List",
        "metadata": meta,
        "items": result.items,
    }


def watch_response(
    request: Request,
    store: Store,
    kind: str,
    namespace: str,
    *,
    resource_version: str | None,
    label_selector: str | None,
) -> Response:
    heartbeat: float = request.app.state.settings.watch_heartbeat_seconds

    def produce(stop: Any) -> Any:
        for ev in store.watch(
            kind,
            namespace,
            resource_version=resource_version or None,
            label_selector=label_selector,
            stop=stop,
            heartbeat_seconds=heartbeat,
        ):
            yield ev.to_dict()

    return stream_events(produce, name=f"watch-{kind}")


def _status_success(kind: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Success",
        "code": 200,
        "details": {"kind": kind, "name": name},
    }


def build_resource_router(kind: str) -> APIRouter:
    """Create, list (+watch), read, replace, merge-patch and delete for one Kind."""
    model = KINDS[kind]
    base = collection_path(kind)
    router = APIRouter(prefix=base, tags=[COLLECTIONS[kind]])
    body_doc = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{kind}"}},
                "application/yaml": {"schema": {"$ref": f"#/components/schemas/{kind}"}},
            },
        }
    }
    ok = {200: {"model": model}}

    @router.post(
        "",
        operation_id=f"create{kind}",
        status_code=201,
        openapi_extra=body_doc,
        responses={201: {"model": model}},
        summary=f"Create a {kind}",
    )
    async def create(request: Request, tenant: Tenant, store: StoreDep) -> JSONResponse:
        wire = admit(await read_object(request), kind, tenant)
        created = await run_in_threadpool(store.create, wire)
        return JSONResponse(created, status_code=201)

    @router.get("", operation_id=f"list{kind}", summary=f"List (or watch) {kind}s")
    async def list_(
        request: Request,
        tenant: Tenant,
        store: StoreDep,
        label_selector: str | None = Query(None, alias="labelSelector"),
        limit: int | None = Query(None, ge=1, le=10_000),
        continue_token: str | None = Query(None, alias="continue"),
        watch: bool = False,
        resource_version: str | None = Query(None, alias="resourceVersion"),
    ) -> Response:
        if watch:
            return watch_response(
                request,
                store,
                kind,
                tenant.namespace,
                resource_version=resource_version,
                label_selector=label_selector,
            )
        body = await run_in_threadpool(
            list_response,
            store,
            kind,
            tenant.namespace,
            label_selector=label_selector,
            limit=limit,
            continue_token=continue_token,
        )
        return JSONResponse(body)

    @router.get("/{name}", operation_id=f"read{kind}", responses=ok, summary=f"Read a {kind}")
    async def read(name: str, tenant: Tenant, store: StoreDep) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(store.get, kind, tenant.namespace, name))

    @router.put(
        "/{name}",
        operation_id=f"replace{kind}",
        openapi_extra=body_doc,
        responses=ok,
        summary=f"Replace a {kind}'s metadata and spec",
    )
    async def replace(name: str, request: Request, tenant: Tenant, store: StoreDep) -> JSONResponse:
        wire = admit(await read_object(request), kind, tenant, name=name)
        return JSONResponse(await run_in_threadpool(store.update, wire))

    @router.patch(
        "/{name}",
        operation_id=f"patch{kind}",
        responses=ok,
        summary=f"Merge-patch (RFC 7386) a {kind}'s metadata and spec",
    )
    async def patch(name: str, request: Request, tenant: Tenant, store: StoreDep) -> JSONResponse:
        body = await read_object(request)
        updated = await run_in_threadpool(patch_object, store, kind, tenant, name, body)
        return JSONResponse(updated)

    @router.delete("/{name}", operation_id=f"delete{kind}", summary=f"Delete a {kind}")
    async def delete(
        name: str,
        tenant: Tenant,
        store: StoreDep,
        resource_version: str | None = Query(None, alias="resourceVersion"),
    ) -> JSONResponse:
        left = await run_in_threadpool(
            lambda: store.delete(kind, tenant.namespace, name, resource_version=resource_version)
        )
        return JSONResponse(left if left is not None else _status_success(kind, name))

    return router


def patch_object(
    store: Store, kind: str, tenant: Any, name: str, patch: dict[str, Any]
) -> dict[str, Any]:
    """Merge ``patch`` into the stored object, validate the result, write it.

    Without a resourceVersion in the patch, a concurrent write is retried on the fresh object
    (the patch is still what the caller meant); with one, a stale version is the caller's
    Conflict to see.
    """
    pinned = (patch.get("metadata") or {}).get("resourceVersion")
    for attempt in range(_PATCH_RETRIES):
        current = store.get(kind, tenant.namespace, name)
        merged = merge_patch(current, {k: v for k, v in patch.items() if k != "status"})
        wire = admit(merged, kind, tenant, name=name)
        wire["metadata"]["resourceVersion"] = pinned or current["metadata"]["resourceVersion"]
        try:
            return store.update(wire)
        except Conflict:
            if pinned or attempt == _PATCH_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")
