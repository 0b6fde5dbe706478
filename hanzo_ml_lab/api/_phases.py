"""The phase sets Kinds report.

HIP-109 gives every Kind one lifecycle, Pending → Creating → Running → Degraded → Deleting.
Kinds that end add Succeeded/Failed; registry entries that are ready to use say Available;
a Notebook that was stopped says Stopped. Each set is a ``Literal`` so a status with a phase
its Kind never reports is refused, and the CRD lists the same values as an enum.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ArtifactPhase",
    "FinishingPhase",
    "LifecyclePhase",
    "ModelPhase",
    "ModelVersionPhase",
    "NotebookPhase",
    "phase_values",
]

LifecyclePhase = Literal["Pending", "Creating", "Running", "Degraded", "Deleting"]
FinishingPhase = Literal[
    "Pending", "Creating", "Running", "Degraded", "Deleting", "Succeeded", "Failed"
]
ModelPhase = Literal["Pending", "Creating", "Running", "Degraded", "Deleting", "Available"]
ModelVersionPhase = Literal[
    "Pending", "Creating", "Running", "Degraded", "Deleting", "Available", "Failed"
]
ArtifactPhase = ModelVersionPhase
NotebookPhase = Literal["Pending", "Creating", "Running", "Degraded", "Deleting", "Stopped"]


def phase_values(phase_type: object) -> tuple[str, ...]:
    """The phases a ``Literal`` phase type allows, in lifecycle order."""
    return tuple(str(v) for v in get_args(phase_type))
