"""Experiment: the durable handle runs, metrics and artifacts hang from (MLflow Tracking's role).

HIP-109 puts metrics in hanzoai/datastore, artifacts in hanzoai/vfs and run config in
hanzoai/base; the three ``*Backend`` fields name them and default to them. Two designed
fields close HIP-109's open questions: ``objective`` says which metric makes a run the best
one (so ``status.bestRun`` is defined), and ``rateLimit`` is the per-experiment metric write
quota (default 1000 writes/s, the HIP's suggestion).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ._base import ApiModel, Resource, StatusBase
from ._phases import LifecyclePhase, phase_values
from ._types import MetricKey
from ._wire import OmitEmptyWire

__all__ = [
    "BestRun",
    "Experiment",
    "ExperimentSpec",
    "ExperimentStatus",
    "Goal",
    "MetricValue",
    "Objective",
    "RateLimit",
]

Goal = Literal["maximize", "minimize"]


class Objective(ApiModel):
    """The metric that ranks runs or trials, and which way is better."""

    metric: MetricKey
    goal: Goal


class RateLimit(ApiModel):
    """Per-experiment metric write quota; ``None`` means the server default (1000/s)."""

    metric_writes_per_second: int | None = Field(None, ge=1)


class ExperimentSpec(ApiModel):
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    metrics_backend: Literal["datastore"] = "datastore"
    artifacts_backend: Literal["vfs"] = "vfs"
    metadata_backend: Literal["base"] = "base"
    objective: Objective | None = None
    rate_limit: RateLimit | None = None


class MetricValue(ApiModel):
    name: str
    value: float


class BestRun(ApiModel):
    name: str
    metric: MetricValue


class ExperimentStatus(StatusBase):
    phase: LifecyclePhase | None = None
    runs: int = Field(0, ge=0)
    best_run: BestRun | None = None


class Experiment(OmitEmptyWire, Resource[ExperimentSpec, ExperimentStatus]):
    """A tracking experiment: groups runs, their params, metrics and artifacts."""

    plural: ClassVar[str] = "experiments"
    short_names: ClassVar[tuple[str, ...]] = ("mlx",)
    phases: ClassVar[tuple[str, ...]] = phase_values(LifecyclePhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Runs", ".status.runs", "integer"),
        ("Best", ".status.bestRun.name", "string"),
        ("Phase", ".status.phase", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Experiment"] = "Experiment"
