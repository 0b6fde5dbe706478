"""Model and ModelVersion: the registry needs no server, the objects are the registry.

A Model is Available once it has a version; ``currentVersion`` is the newest (or the one the
``latest`` alias points at). A ModelVersion is Available once recorded: versions are immutable.
"""

from __future__ import annotations

import copy

from hanzo_ml_lab.store import Store

from ..conditions import set_condition, write_status
from ..engine import Key

__all__ = ["ModelReconciler", "ModelVersionReconciler"]


class ModelReconciler:
    kind = "Model"
    watches: list[object] = []

    def __init__(self, store: Store) -> None:
        self.store = store

    def reconcile(self, key: Key) -> float | None:
        model = self.store.get(key.kind, key.namespace, key.name)
        if model["metadata"].get("deletionTimestamp"):
            return None
        spec = model["spec"]
        versions = spec.get("versions") or []
        gen = model["metadata"].get("generation")
        status = copy.deepcopy(model.get("status") or {})
        aliases = spec.get("aliases") or {}
        current = aliases.get("latest") or (versions[-1]["name"] if versions else None)
        status["totalVersions"] = len(versions)
        if current:
            status["currentVersion"] = current
        status["phase"] = "Available" if versions or spec.get("artifact") else "Pending"
        status["observedGeneration"] = gen
        ready = status["phase"] == "Available"
        set_condition(
            status,
            "Ready",
            ready,
            "HasVersions" if ready else "NoVersions",
            f"{len(versions)} versions",
            generation=gen,
        )
        set_condition(status, "Synced", True, "Reconciled", "", generation=gen)
        set_condition(
            status, "Available", ready, "Registered" if ready else "NoVersions", "", generation=gen
        )
        write_status(self.store, model, status)
        return None


class ModelVersionReconciler:
    kind = "ModelVersion"
    watches: list[object] = []

    def __init__(self, store: Store) -> None:
        self.store = store

    def reconcile(self, key: Key) -> float | None:
        mv = self.store.get(key.kind, key.namespace, key.name)
        if mv["metadata"].get("deletionTimestamp"):
            return None
        gen = mv["metadata"].get("generation")
        status = copy.deepcopy(mv.get("status") or {})
        status["phase"] = "Available"
        status["observedGeneration"] = gen
        set_condition(status, "Ready", True, "Registered", "", generation=gen)
        set_condition(status, "Synced", True, "Reconciled", "", generation=gen)
        set_condition(status, "Available", True, "Registered", "", generation=gen)
        write_status(self.store, mv, status)
        return None
