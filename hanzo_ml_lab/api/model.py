"""Model: a registry entry (MLflow Model Registry's role), metadata in hanzoai/base, blobs in vfs.

HIP-109 keeps a Model's versions inline in ``spec.versions``. ModelVersion (v0.1.1) is the
per-version record with its own lifecycle; the registry keeps both in step (adding a version
writes a ModelVersion and appends here). ``aliases`` (designed) name versions for serving
(``champion -> v2``); ``latest`` is reserved and always means the newest version. Moving an
alias is audited by the server.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import ModelPhase, phase_values
from ._types import Timestamp
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .vfs import VfsUri

__all__ = [
    "DType",
    "Model",
    "ModelSignature",
    "ModelSpec",
    "ModelStatus",
    "ModelVersionEntry",
    "TensorSpec",
    "VersionName",
]

DType = Literal[
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "string", "bytes",
]

_VERSION_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
_VERSION = re.compile(_VERSION_PATTERN)
_FRAMEWORK_PATTERN = r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$"
_FRAMEWORK = re.compile(_FRAMEWORK_PATTERN)
RESERVED_VERSION = "latest"


def _version_name(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError(
            "must be 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter "
            f"or digit (e.g. 'v2' or '1.4.0'), got {value!r}"
        )
    if value == RESERVED_VERSION:
        raise ValueError("'latest' is reserved: it always means the newest version")
    return value


VersionName = Annotated[
    str,
    AfterValidator(_version_name),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": _VERSION_PATTERN}),
]
"""A version or alias name (``v2``, ``1.4.0``, ``champion``); ``latest`` is reserved."""


def _framework(value: str) -> str:
    if not _FRAMEWORK.match(value):
        raise ValueError(
            f"must be a lowercase framework name such as pytorch, onnx or sklearn, got {value!r}"
        )
    return value


ModelFramework = Annotated[
    str,
    AfterValidator(_framework),
    WithJsonSchema({"type": "string", "pattern": _FRAMEWORK_PATTERN}),
]


class TensorSpec(ApiModel):
    """One named input or output; ``-1`` in ``shape`` is a dimension of any size."""

    name: str = Field(min_length=1)
    shape: list[Annotated[int, Field(ge=-1)]] = Field(default_factory=list)
    dtype: DType


class ModelSignature(ApiModel):
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(default_factory=list)


class ModelVersionEntry(ApiModel):
    """A version as listed inline in ``Model.spec.versions``."""

    name: VersionName
    artifact: VfsUri
    created_at: Timestamp | None = None
    description: str | None = None
    metrics: dict[str, float] | None = None


class ModelSpec(ApiModel):
    framework: ModelFramework
    artifact: VfsUri | None = Field(
        None, description="The current artifact; each version also names its own."
    )
    signature: ModelSignature | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    versions: list[ModelVersionEntry] = Field(default_factory=list)
    metadata_backend: Literal["base"] = "base"
    aliases: dict[str, str] | None = Field(
        None, description="Alias name -> version name, e.g. champion: v2."
    )

    @model_validator(mode="after")
    def _rules(self) -> ModelSpec:
        problems: list[tuple[str, str]] = []
        first: dict[str, int] = {}
        for index, version in enumerate(self.versions):
            if version.name in first:
                problems.append(
                    (f"versions[{index}].name",
                     f"duplicate version {version.name!r} "
                     f"(first at versions[{first[version.name]}])")
                )
            else:
                first[version.name] = index
        for alias, target in (self.aliases or {}).items():
            try:
                _version_name(alias)
            except ValueError as exc:
                problems.append((f"aliases[{alias}]", f"alias name {exc}"))
                continue
            if alias in first:
                problems.append((f"aliases[{alias}]", "must not be the name of a version"))
            if target not in first:
                known = ", ".join(first) or "none"
                problems.append(
                    (f"aliases[{alias}]", f"unknown version {target!r} (versions are: {known})")
                )
        if problems:
            raise RuleViolation(problems)
        return self

    def resolve_version(self, ref: str) -> ModelVersionEntry | None:
        """The version a name, an alias or ``latest`` points at (None if nothing matches)."""
        if not self.versions:
            return None
        if ref == RESERVED_VERSION:
            return self.versions[-1]
        name = (self.aliases or {}).get(ref, ref)
        return next((v for v in self.versions if v.name == name), None)


class ModelStatus(StatusBase):
    phase: ModelPhase | None = None
    current_version: str | None = None
    total_versions: int = Field(0, ge=0)


class Model(OmitEmptyWire, Resource[ModelSpec, ModelStatus]):
    """A registered model: versions, lineage, signature, framework and tags."""

    plural: ClassVar[str] = "models"
    short_names: ClassVar[tuple[str, ...]] = ("mlm",)
    phases: ClassVar[tuple[str, ...]] = phase_values(ModelPhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Framework", ".spec.framework", "string"),
        ("Version", ".status.currentVersion", "string"),
        ("Phase", ".status.phase", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Model"] = "Model"
