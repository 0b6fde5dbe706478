"""Conditions as the Kubernetes API conventions describe them, and status writes that converge.

``set_condition`` keeps ``lastTransitionTime`` when a condition's status does not change, so
writing the same observation twice changes nothing; ``write_status`` skips the write when the
status is already what the reconciler computed — a converged object costs no write and no
watch event.
"""

from __future__ import annotations

import copy
from typing import Any

from hanzo_ml_lab.api._base import now_iso
from hanzo_ml_lab.store import Store

__all__ = ["condition", "set_condition", "write_status"]


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def set_condition(
    status: dict[str, Any],
    type_: str,
    value: bool | str,
    reason: str,
    message: str = "",
    *,
    generation: int | None = None,
) -> None:
    """Set one condition in ``status`` (in place)."""
    state = value if isinstance(value, str) else ("True" if value else "False")
    conds = [dict(c) for c in status.get("conditions") or []]
    old = next((c for c in conds if c.get("type") == type_), None)
    new = {
        "type": type_,
        "status": state,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_iso()
        if old is None or old.get("status") != state
        else old.get("lastTransitionTime", now_iso()),
    }
    if generation is not None:
        new["observedGeneration"] = generation
    if old is None:
        conds.append(new)
    else:
        conds[conds.index(old)] = new
    status["conditions"] = conds


def write_status(store: Store, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """Write ``status`` unless it equals what is stored; return the object as it now stands.

    The write carries the object's resourceVersion: if someone changed the object since we
    read it, the store raises ``Conflict`` and the engine reconciles again from a fresh read.
    """
    if obj.get("status") == status:
        return obj
    out = copy.deepcopy(obj)
    out["status"] = status
    return store.update_status(out)
