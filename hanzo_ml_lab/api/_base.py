"""The shapes every ``hanzo.ai/v1`` object shares: metadata, conditions, the resource envelope.

Wire names are camelCase (``resourceVersion``), Python names snake_case; ``extra="forbid"``
so a misspelt field is an error, not a silent no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from ._names import validate_dns1123

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "ApiModel",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ObjectMeta",
    "OwnerReference",
    "Phase",
    "Resource",
    "StatusBase",
    "now_iso",
    "validate_dns1123",
]

GROUP = "hanzo.ai"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"


def now_iso() -> str:
    """RFC 3339 UTC timestamp with a ``Z``, as Kubernetes writes them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with wire (camelCase) names, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Phase(StrEnum):
    """The lifecycle every Kind follows (HIP-109), plus terminal phases where a Kind finishes."""

    PENDING = "Pending"
    CREATING = "Creating"
    RUNNING = "Running"
    DEGRADED = "Degraded"
    DELETING = "Deleting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    AVAILABLE = "Available"
    STOPPED = "Stopped"


class ConditionType(StrEnum):
    READY = "Ready"
    SYNCED = "Synced"
    AVAILABLE = "Available"


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """An observation, as Kubernetes API conventions describe it."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


class OwnerReference(ApiModel):
    api_version: str = API_VERSION
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(ApiModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_is_dns1123(cls, v: str | None) -> str | None:
        return None if v is None else validate_dns1123(v)

    @field_validator("namespace")
    @classmethod
    def _namespace_is_dns1123(cls, v: str | None) -> str | None:
        return None if v is None else validate_dns1123(v)


class StatusBase(ApiModel):
    """Fields every Kind's status carries; a Kind's status class adds its own."""

    phase: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None


SpecT = TypeVar("SpecT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=StatusBase)


class Resource(ApiModel, Generic[SpecT, StatusT]):
    """The Kubernetes envelope. Subclasses pin ``kind`` and the class variables below.

    ``plural``/``short_names``/``printer_columns`` feed the CRD generator and the CLI;
    ``phases`` lists the phases this Kind may report; ``finishes`` says whether it ends in
    Succeeded/Failed.
    """

    plural: ClassVar[str]
    short_names: ClassVar[tuple[str, ...]] = ()
    phases: ClassVar[tuple[str, ...]] = ()
    finishes: ClassVar[bool] = False
    # (name, JSONPath, type) — extra columns for `kubectl get` and `hanzo-ml get`.
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    api_version: Literal["hanzo.ai/v1"] = "hanzo.ai/v1"
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SpecT
    status: StatusT | None = None
