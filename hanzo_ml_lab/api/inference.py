"""Inference: a model served over HTTP (KServe's and Seldon's role).

``runtime: engine`` serves a registered Model with hanzoai/engine (the Open Inference Protocol,
KServe V2 REST); ``runtime: external`` runs the user's own serving image, and the operator only
provides the plumbing (Deployment, Service, Ingress, HPA). The model is named by registry name
and version (or an alias, or ``latest``), never by a raw path, so serving follows the registry.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import LifecyclePhase, phase_values
from ._types import Name
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .resources import EnvVar, ResourceRequirements, check_unique_env

__all__ = [
    "Autoscaling",
    "Inference",
    "InferenceIngress",
    "InferenceModelRef",
    "InferenceRuntime",
    "InferenceSpec",
    "InferenceStatus",
]

InferenceRuntime = Literal["engine", "external"]
_HOST = re.compile(
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


class InferenceModelRef(ApiModel):
    """A Model in the same namespace; ``version`` is a version name, an alias, or ``latest``."""

    name: Name
    version: str = Field("latest", min_length=1)


class Autoscaling(ApiModel):
    """Horizontal autoscaling between ``minReplicas`` and ``maxReplicas``."""

    enabled: bool = False
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_gpu_utilization: int | None = Field(None, ge=1, le=100, alias="targetGPUUtilization")
    target_cpu_utilization: int | None = Field(None, ge=1, le=100, alias="targetCPUUtilization")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise RuleViolation(
                ("minReplicas",
                 f"must be <= maxReplicas ({self.max_replicas}), got {self.min_replicas}")
            )
        return self


class InferenceIngress(ApiModel):
    enabled: bool = False
    hosts: list[str] = Field(default_factory=list)

    @field_validator("hosts")
    @classmethod
    def _hosts_are_dns(cls, v: list[str]) -> list[str]:
        for host in v:
            if len(host) > 253 or not _HOST.match(host):
                raise ValueError(f"must be lowercase DNS host names, got {host!r}")
        return v


class InferenceSpec(ApiModel):
    """What to serve and how much of it.

    ``runtime: external`` needs ``image`` (your server; ``command`` and ``port`` say how to
    start it and where it listens, and a ``command`` alone is enough for the local runtime,
    which cannot pull images). For ``runtime: engine`` an ``image`` pins the engine build and
    ``command`` is not allowed.
    """

    runtime: InferenceRuntime = "engine"
    model: InferenceModelRef
    image: str | None = None
    command: list[str] | None = Field(None, min_length=1)
    port: int | None = Field(
        None, ge=1, le=65535, description="Where an external server listens; default 8080."
    )
    env: list[EnvVar] = Field(default_factory=list)
    replicas: int = Field(1, ge=0)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    autoscaling: Autoscaling | None = None
    ingress: InferenceIngress | None = None

    @model_validator(mode="after")
    def _rules(self) -> InferenceSpec:
        problems: list[tuple[str, str]] = []
        if self.runtime == "external" and not self.image and not self.command:
            problems.append(
                ("image", "field required for runtime external (your serving image)")
            )
        if self.runtime == "engine" and self.command is not None:
            problems.append(
                ("command", "not allowed for runtime engine (it runs hanzoai/engine); "
                 "use runtime: external to run your own server")
            )
        problems.extend(check_unique_env(self.env))
        if problems:
            raise RuleViolation(problems)
        return self


class InferenceStatus(StatusBase):
    phase: LifecyclePhase | None = None
    url: str | None = None
    ready_replicas: int = Field(0, ge=0)
    desired_replicas: int = Field(0, ge=0)
    model_version: str | None = Field(
        None, description="The version ``spec.model.version`` resolved to (aliases, latest)."
    )


class Inference(OmitEmptyWire, Resource[InferenceSpec, InferenceStatus]):
    """An inference service routed to hanzoai/engine or to an external runtime."""

    plural: ClassVar[str] = "inferences"
    short_names: ClassVar[tuple[str, ...]] = ("mli",)
    phases: ClassVar[tuple[str, ...]] = phase_values(LifecyclePhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Runtime", ".spec.runtime", "string"),
        ("Model", ".spec.model.name", "string"),
        ("Ready", ".status.readyReplicas", "integer"),
        ("Phase", ".status.phase", "string"),
        ("URL", ".status.url", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Inference"] = "Inference"
