"""ModelVersion: one immutable, registered version of a Model (MLflow's ModelVersion).

Once a version reaches Available its spec does not change: the server refuses spec updates
(a registered model version is immutable, as MLflow users expect), so ``model``/``version``/
``artifact`` always identify the same bytes; ``digest`` on the Artifact proves it. Stages and
aliases are status and the Model's ``aliases``, which may move; versions do not.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ._base import ApiModel, Resource, StatusBase
from ._phases import ModelVersionPhase, phase_values
from ._types import Name, Timestamp
from ._wire import OmitEmptyWire
from .model import ModelFramework, ModelSignature, VersionName
from .vfs import VfsUri

__all__ = ["ModelStage", "ModelVersion", "ModelVersionSpec", "ModelVersionStatus"]

ModelStage = Literal["None", "Staging", "Production", "Archived"]


class ModelVersionSpec(ApiModel):
    model: Name
    version: VersionName
    artifact: VfsUri
    run: Name | None = Field(None, description="The Run that produced this version (lineage).")
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    signature: ModelSignature | None = None
    framework: ModelFramework | None = None


class ModelVersionStatus(StatusBase):
    phase: ModelVersionPhase | None = None
    stage: ModelStage | None = None
    aliases: list[str] = Field(default_factory=list)
    registered_at: Timestamp | None = None


class ModelVersion(OmitEmptyWire, Resource[ModelVersionSpec, ModelVersionStatus]):
    """A registered version; conventionally named ``<model>-<version>``."""

    plural: ClassVar[str] = "modelversions"
    short_names: ClassVar[tuple[str, ...]] = ("mlmv",)
    phases: ClassVar[tuple[str, ...]] = phase_values(ModelVersionPhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Model", ".spec.model", "string"),
        ("Version", ".spec.version", "string"),
        ("Phase", ".status.phase", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["ModelVersion"] = "ModelVersion"
