"""Notebook: a per-user JupyterLab server with its own storage (Notebook Operator's role).

Idle eviction follows HIP-0108: after ``idleTimeoutSeconds`` without activity the server is
stopped (phase Stopped) and its storage kept. Stopping sets ``idleTimeoutSeconds: 0``. The
controller never culls a notebook while a kernel is busy or owns a running job; ``kernels``
and ``busyKernels`` in the status are what it decided on.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import NotebookPhase, phase_values
from ._types import Quantity, Timestamp
from ._wire import OmitEmptyWire
from .resources import ResourceRequirements

__all__ = [
    "DEFAULT_NOTEBOOK_IMAGE",
    "Notebook",
    "NotebookSpec",
    "NotebookStatus",
    "NotebookStorage",
    "NotebookUser",
]

DEFAULT_NOTEBOOK_IMAGE = "ghcr.io/hanzoai/notebook:v1.0.0"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NotebookStorage(ApiModel):
    """The home volume; an empty ``storageClass`` means the cluster default."""

    size: Quantity = "10Gi"
    storage_class: str = ""


class NotebookUser(ApiModel):
    """Who may open the notebook: the IAM SSO sidecar admits this email only."""

    email: str

    @field_validator("email")
    @classmethod
    def _is_email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"must be an email address such as alice@acme.com, got {v!r}")
        return v


class NotebookSpec(ApiModel):
    image: str = DEFAULT_NOTEBOOK_IMAGE
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    storage: NotebookStorage = Field(default_factory=NotebookStorage)
    idle_timeout_seconds: int = Field(1800, ge=0)
    user: NotebookUser | None = None


class NotebookStatus(StatusBase):
    phase: NotebookPhase | None = None
    url: str | None = None
    last_activity_time: Timestamp | None = None
    kernels: int | None = Field(None, ge=0)
    busy_kernels: int | None = Field(None, ge=0)


class Notebook(OmitEmptyWire, Resource[NotebookSpec, NotebookStatus]):
    """A per-tenant, per-user JupyterLab server behind IAM SSO."""

    plural: ClassVar[str] = "notebooks"
    short_names: ClassVar[tuple[str, ...]] = ("mln",)
    phases: ClassVar[tuple[str, ...]] = phase_values(NotebookPhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Phase", ".status.phase", "string"),
        ("URL", ".status.url", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Notebook"] = "Notebook"
