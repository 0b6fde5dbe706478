"""Assemble the engine with every reconciler over a store and a runtime backend."""

from __future__ import annotations

from pathlib import Path

from hanzo_ml_lab.runtime import LocalRuntime, Runtime
from hanzo_ml_lab.store import Store
from hanzo_ml_lab.store.tracking import TrackingStore

from .engine import Engine
from .reconcilers import (
    ExperimentReconciler,
    ModelReconciler,
    ModelVersionReconciler,
    RunReconciler,
    TrainingJobReconciler,
)
from .reconcilers.trainingjob import AccessEnv
from .spoolwatch import SpoolWatcher

__all__ = ["build_engine"]


def build_engine(
    store: Store,
    *,
    home: Path,
    access_env: AccessEnv,
    runtime: Runtime | None = None,
    workers: int = 4,
    tracking: TrackingStore | None = None,
    spool_watch: SpoolWatcher | None = None,
) -> Engine:
    """The embedded controller: local process groups under ``home/runtime``. ``tracking`` is
    the metric store Run summaries come from (``home/tracking.db`` unless given);
    ``spool_watch``, if given, ingests running jobs' spool files (``controller/spoolwatch``),
    which the TrainingJob reconciler registers and removes."""
    runtime = runtime or LocalRuntime(home / "runtime")
    tracking = tracking or TrackingStore(home / "tracking.db")
    reconcilers = [
        TrainingJobReconciler(
            store, runtime, jobs_dir=home / "jobs", access_env=access_env, tracking=tracking,
            spool_watch=spool_watch,
        ),
        ExperimentReconciler(store),
        ModelReconciler(store),
        ModelVersionReconciler(store),
        RunReconciler(store, tracking),
    ]
    return Engine(store, reconcilers, workers=workers)
