"""Assemble the engine with every reconciler over a store and a runtime backend."""

from __future__ import annotations

from pathlib import Path

from hanzo_ml_lab.runtime import LocalRuntime, Runtime
from hanzo_ml_lab.store import Store

from .engine import Engine
from .reconcilers import (
    ExperimentReconciler,
    ModelReconciler,
    ModelVersionReconciler,
    TrainingJobReconciler,
)
from .reconcilers.trainingjob import AccessEnv

__all__ = ["build_engine"]


def build_engine(store: Store, *, home: Path, access_env: AccessEnv,
                 runtime: Runtime | None = None, workers: int = 4) -> Engine:
    """The embedded controller: local process groups under ``home/runtime``."""
    runtime = runtime or LocalRuntime(home / "runtime")
    reconcilers = [
        TrainingJobReconciler(store, runtime, jobs_dir=home / "jobs", access_env=access_env),
        ExperimentReconciler(store),
        ModelReconciler(store),
        ModelVersionReconciler(store),
    ]
    return Engine(store, reconcilers, workers=workers)
