"""FastAPI dependencies as ``Annotated`` aliases, and the object checks every write shares."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from hanzo_ml_lab.api import foreign_vfs_uris, parse_object
from hanzo_ml_lab.api.errors import BadRequest, Cause, Forbidden, Invalid
from hanzo_ml_lab.server.auth import Tenant, TenantContext, get_tenant
from hanzo_ml_lab.store import Store

__all__ = [
    "StoreDep",
    "Tenant",
    "TenantContext",
    "admit",
    "check_vfs_uris",
    "get_store",
    "get_tenant",
]


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def check_vfs_uris(obj: Any, namespace: str) -> None:
    """Refuse an object with any ``vfs://`` URI outside ``namespace`` (or a malformed one)."""
    causes = foreign_vfs_uris(obj, namespace)
    if causes:
        raise Forbidden("; ".join(f"{c.field}: {c.message}" for c in causes), causes=causes)


def admit(
    obj: dict[str, Any], kind: str, tenant: TenantContext, *, name: str | None = None
) -> dict[str, Any]:
    """Check an object a client sent for ``kind`` in ``tenant``; return its validated wire form.

    The namespace is the tenant's (a different one is refused, not silently moved), status is
    the controller's and is dropped, defaults are filled in by the model.
    """
    sent_kind = obj.get("kind")
    if sent_kind is not None and sent_kind != kind:
        raise BadRequest(
            f"kind: must be {kind} on this route, got {sent_kind!r}",
            causes=[Cause("kind", f"must be {kind}")],
        )
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise Invalid(
            "metadata: must be an object", causes=[Cause("metadata", "must be an object")]
        )
    ns = meta.get("namespace")
    if ns not in (None, "", tenant.namespace):
        raise Forbidden(
            f"metadata.namespace: {ns!r} is not your tenant's namespace {tenant.namespace!r}"
        )
    meta["namespace"] = tenant.namespace
    if name is not None:
        if meta.get("name") not in (None, name):
            raise BadRequest(
                f"metadata.name: {meta.get('name')!r} does not match the name in the path {name!r}",
                causes=[Cause("metadata.name", "must match the path")],
            )
        meta["name"] = name
    elif not meta.get("name") and not meta.get("generateName"):
        raise Invalid(
            f"{kind} is invalid: metadata.name: Required value: name or generateName is required",
            causes=[
                Cause("metadata.name", "name or generateName is required", "FieldValueRequired")
            ],
        )
    obj = {k: v for k, v in obj.items() if k != "status"}
    obj["kind"] = kind
    model = parse_object(obj, kind=kind)
    wire = model.to_wire()
    check_vfs_uris(wire, tenant.namespace)
    return wire
