"""Run, Metric and Artifact: the tracking records (MLflow runs, metric histories, artifacts).

A Run is one execution of something (a TrainingJob, a Sweep trial, a Pipeline run, a notebook
session, or ad-hoc code) in an Experiment. Params are write-once and metric points are
append-only: the server refuses changing a param that is set, and a Metric object only
summarises its stream (the points themselves live in the metric store, hanzoai/datastore's
role), so its status is all a controller writes. An Artifact points at bytes in vfs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import ArtifactPhase, FinishingPhase, LifecyclePhase, phase_values
from ._types import MetricKey, Name, Timestamp
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .vfs import VfsUri

__all__ = [
    "Artifact",
    "ArtifactSpec",
    "ArtifactStatus",
    "ArtifactType",
    "Metric",
    "MetricSpec",
    "MetricStatus",
    "PARAM_VALUE_MAX",
    "Run",
    "RunSource",
    "RunSourceKind",
    "RunSpec",
    "RunStatus",
]

RunSourceKind = Literal["TrainingJob", "Sweep", "Pipeline", "Notebook", "Adhoc"]
ArtifactType = Literal["model", "dataset", "file", "directory", "metrics"]
PARAM_VALUE_MAX = 6000  # MLflow's limit, so runs move between the two unchanged

_DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
_DIGEST = re.compile(_DIGEST_PATTERN)
_MEDIA_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"
_MEDIA_TYPE = re.compile(_MEDIA_TYPE_PATTERN)


def _param_in(value: Any) -> Any:
    # MLflow stores params as strings and stringifies what it is given; so do we.
    if isinstance(value, bool | int | float):
        return str(value)
    return value


def _param_value(value: str) -> str:
    if len(value) > PARAM_VALUE_MAX:
        raise ValueError(f"must be no more than {PARAM_VALUE_MAX} characters, got {len(value)}")
    return value


ParamValue = Annotated[
    str,
    BeforeValidator(_param_in),
    AfterValidator(_param_value),
    WithJsonSchema({"type": "string", "maxLength": PARAM_VALUE_MAX}),
]


class RunSource(ApiModel):
    """What the run executes; ``name`` is required unless ``kind`` is Adhoc."""

    kind: RunSourceKind = "Adhoc"
    name: Name | None = None

    @model_validator(mode="after")
    def _rules(self) -> RunSource:
        if self.kind != "Adhoc" and self.name is None:
            raise RuleViolation(("name", f"field required for kind {self.kind}"))
        return self


class RunSpec(ApiModel):
    experiment: Name | None = Field(
        None, description="The Experiment the run belongs to; pipeline runs may have none."
    )
    source: RunSource = Field(default_factory=RunSource)
    parent_run: Name | None = Field(
        None, description="The enclosing run (a sweep's run for each trial)."
    )
    params: dict[MetricKey, ParamValue] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class RunStatus(StatusBase):
    phase: FinishingPhase | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    metrics: dict[str, float] = Field(
        default_factory=dict, description="The latest value of every metric key."
    )
    artifact_uri: VfsUri | None = Field(None, alias="artifactURI")


class Run(OmitEmptyWire, Resource[RunSpec, RunStatus]):
    """One execution, with its params, tags and a summary of its metrics."""

    plural: ClassVar[str] = "runs"
    short_names: ClassVar[tuple[str, ...]] = ("mlr",)
    phases: ClassVar[tuple[str, ...]] = phase_values(FinishingPhase)
    finishes: ClassVar[bool] = True
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Experiment", ".spec.experiment", "string"),
        ("Source", ".spec.source.kind", "string"),
        ("Phase", ".status.phase", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Run"] = "Run"


class MetricSpec(ApiModel):
    """Identifies one stream: metric ``key`` of ``run``."""

    run: Name
    key: MetricKey
    experiment: Name | None = None


class MetricStatus(StatusBase):
    phase: LifecyclePhase | None = None
    latest_value: float | None = None
    latest_step: int | None = None
    count: int = Field(0, ge=0)
    min: float | None = None
    max: float | None = None
    updated_at: Timestamp | None = None


class Metric(OmitEmptyWire, Resource[MetricSpec, MetricStatus]):
    """The summary of one metric stream of one run."""

    plural: ClassVar[str] = "metrics"
    short_names: ClassVar[tuple[str, ...]] = ("mlmet",)
    phases: ClassVar[tuple[str, ...]] = phase_values(LifecyclePhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Run", ".spec.run", "string"),
        ("Key", ".spec.key", "string"),
        ("Latest", ".status.latestValue", "number"),
        ("Step", ".status.latestStep", "integer"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Metric"] = "Metric"


def _digest(value: str) -> str:
    if not _DIGEST.match(value):
        raise ValueError(f"must be 'sha256:' and 64 lowercase hex digits, got {value!r}")
    return value


def _media_type(value: str) -> str:
    if not _MEDIA_TYPE.match(value):
        raise ValueError(f"must be a media type such as application/json, got {value!r}")
    return value


class ArtifactSpec(ApiModel):
    uri: VfsUri
    run: Name | None = None
    type: ArtifactType = "file"
    digest: Annotated[
        str, AfterValidator(_digest), WithJsonSchema({"type": "string", "pattern": _DIGEST_PATTERN})
    ] | None = None
    size_bytes: int | None = Field(None, ge=0)
    media_type: Annotated[
        str,
        AfterValidator(_media_type),
        WithJsonSchema({"type": "string", "pattern": _MEDIA_TYPE_PATTERN}),
    ] | None = None


class ArtifactStatus(StatusBase):
    phase: ArtifactPhase | None = None


class Artifact(OmitEmptyWire, Resource[ArtifactSpec, ArtifactStatus]):
    """A pointer to bytes in vfs, with what they are and a digest to prove it."""

    plural: ClassVar[str] = "artifacts"
    short_names: ClassVar[tuple[str, ...]] = ("mla",)
    phases: ClassVar[tuple[str, ...]] = phase_values(ArtifactPhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Type", ".spec.type", "string"),
        ("URI", ".spec.uri", "string"),
        ("Phase", ".status.phase", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Artifact"] = "Artifact"
