"""Experiment: a durable handle; status counts its runs and names the best by its objective."""

from __future__ import annotations

import copy
from typing import Any

from hanzo_ml_lab.store import Store

from ..conditions import set_condition, write_status
from ..engine import Key

__all__ = ["ExperimentReconciler", "best_run"]

LABEL_EXPERIMENT = "hanzo.ai/experiment"


def _runs_to_experiment(run: dict[str, Any]) -> list[Key]:
    meta = run.get("metadata") or {}
    exp = (meta.get("labels") or {}).get(LABEL_EXPERIMENT) or (run.get("spec") or {}).get(
        "experiment"
    )
    return [Key("Experiment", meta["namespace"], exp)] if exp and meta.get("namespace") else []


def best_run(runs: list[dict[str, Any]], metric: str, goal: str) -> dict[str, Any] | None:
    """The run whose latest ``metric`` is best for ``goal``; None if no run reported it."""
    scored = []
    for run in runs:
        value = ((run.get("status") or {}).get("metrics") or {}).get(metric)
        if isinstance(value, (int, float)):
            scored.append((float(value), run["metadata"]["name"]))
    if not scored:
        return None
    value, name = (max if goal == "maximize" else min)(scored)
    return {"name": name, "metric": {"name": metric, "value": value}}


class ExperimentReconciler:
    kind = "Experiment"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.watches = [("Run", _runs_to_experiment)]

    def reconcile(self, key: Key) -> float | None:
        exp = self.store.get(key.kind, key.namespace, key.name)
        if exp["metadata"].get("deletionTimestamp"):
            return None
        runs = self.store.list(
            "Run", key.namespace, label_selector=f"{LABEL_EXPERIMENT}={key.name}"
        ).items
        status = copy.deepcopy(exp.get("status") or {})
        gen = exp["metadata"].get("generation")
        status["phase"] = "Running"
        status["runs"] = len(runs)
        objective = exp["spec"].get("objective")
        best = (
            best_run(runs, objective["metric"], objective.get("goal", "maximize"))
            if objective
            else None
        )
        if best:
            status["bestRun"] = best
        else:
            status.pop("bestRun", None)
        status["observedGeneration"] = gen
        set_condition(status, "Ready", True, "Tracking", f"{len(runs)} runs", generation=gen)
        set_condition(status, "Synced", True, "Reconciled", "", generation=gen)
        set_condition(status, "Available", True, "Tracking", "", generation=gen)
        write_status(self.store, exp, status)
        return None
