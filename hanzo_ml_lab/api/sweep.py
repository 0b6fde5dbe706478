"""Sweep: hyperparameter search over child TrainingJobs (Katib Experiment's role).

The controller asks the search algorithm for an assignment, creates a TrainingJob from
``template`` with ``spec.params`` set to it, and feeds the objective metric back. Search space
rules are checked here, where the user can still fix them, instead of when trial 37 is sampled.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import FinishingPhase, phase_values
from ._types import Name, Number
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .experiment import Objective
from .training import TrainingJobSpec

__all__ = [
    "BestTrial",
    "EarlyStopping",
    "ParameterType",
    "SearchAlgorithm",
    "Sweep",
    "SweepParameter",
    "SweepSpec",
    "SweepStatus",
]

SearchAlgorithm = Literal["bayesian", "grid", "random"]
ParameterType = Literal["log_uniform", "uniform", "int", "choice"]
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


class SweepParameter(ApiModel):
    """One dimension of the search space.

    ``log_uniform`` needs ``0 < min < max``; ``uniform`` and ``int`` need ``min < max``
    (``int`` bounds are whole numbers); ``choice`` needs a non-empty ``values`` list of
    distinct scalars. ``step`` discretises ``uniform`` and ``int``.
    """

    name: str
    type: ParameterType
    min: Number | None = None
    max: Number | None = None
    values: list[Any] | None = None
    step: Number | None = Field(None, gt=0)

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not _PARAM_NAME.match(v):
            raise ValueError(
                "must start with a letter or '_' and contain only letters, digits, '_', '.' "
                f"and '-' (at most 63 characters), got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _rules(self) -> SweepParameter:
        problems: list[tuple[str, str]] = []
        if self.type == "choice":
            if not self.values:
                problems.append(("values", "must list at least one value for type choice"))
            else:
                seen: list[Any] = []
                for index, value in enumerate(self.values):
                    if not isinstance(value, str | int | float | bool):
                        problems.append(
                            (f"values[{index}]", "must be a string, number or boolean")
                        )
                    elif any(value == s and type(value) is type(s) for s in seen):
                        problems.append((f"values[{index}]", f"duplicate value {value!r}"))
                    else:
                        seen.append(value)
            for extra in ("min", "max", "step"):
                if getattr(self, extra) is not None:
                    problems.append((extra, "not allowed for type choice; list values instead"))
        else:
            if self.values is not None:
                problems.append(("values", f"not allowed for type {self.type}; use min and max"))
            if self.min is None:
                problems.append(("min", f"field required for type {self.type}"))
            if self.max is None:
                problems.append(("max", f"field required for type {self.type}"))
            if self.min is not None and self.max is not None:
                if self.type == "log_uniform" and self.min <= 0:
                    problems.append(("min", f"must be > 0 for type log_uniform, got {self.min}"))
                if self.min >= self.max:
                    problems.append(
                        ("max", f"must be greater than min ({self.min}), got {self.max}")
                    )
            if self.type == "int":
                for bound in ("min", "max", "step"):
                    value = getattr(self, bound)
                    if value is not None and not float(value).is_integer():
                        problems.append((bound, f"must be a whole number for type int, "
                                                f"got {value}"))
            if self.type == "log_uniform" and self.step is not None:
                problems.append(("step", "not allowed for type log_uniform"))
        if problems:
            raise RuleViolation(problems)
        return self

    @property
    def is_finite(self) -> bool:
        """Whether grid search can enumerate this dimension."""
        return self.type in ("choice", "int") or (self.type == "uniform" and self.step is not None)


class EarlyStopping(ApiModel):
    """Median pruning: stop a trial whose reported value is worse than the median of the
    trials before it at the same step, once it has reported ``minSteps`` steps."""

    type: Literal["median"] = "median"
    min_steps: int = Field(5, ge=0)


class SweepSpec(ApiModel):
    experiment: Name
    algorithm: SearchAlgorithm = "bayesian"
    max_trials: int = Field(ge=1)
    parallelism: int = Field(1, ge=1)
    objective: Objective
    parameters: list[SweepParameter] = Field(min_length=1)
    template: TrainingJobSpec
    early_stopping: EarlyStopping | None = None

    @model_validator(mode="after")
    def _rules(self) -> SweepSpec:
        problems: list[tuple[str, str]] = []
        first: dict[str, int] = {}
        for index, parameter in enumerate(self.parameters):
            if parameter.name in first:
                problems.append(
                    (f"parameters[{index}].name",
                     f"duplicate name {parameter.name!r} (first at "
                     f"parameters[{first[parameter.name]}])")
                )
            else:
                first[parameter.name] = index
            if self.algorithm == "grid" and not parameter.is_finite:
                problems.append(
                    (f"parameters[{index}]",
                     "grid search needs a finite set of values: use type choice or int, "
                     "or give a uniform parameter a step")
                )
        if problems:
            raise RuleViolation(problems)
        return self


class BestTrial(ApiModel):
    name: str
    value: float | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class SweepStatus(StatusBase):
    phase: FinishingPhase | None = None
    trials_running: int = Field(0, ge=0)
    trials_completed: int = Field(0, ge=0)
    trials_failed: int = Field(0, ge=0)
    trials_pruned: int = Field(0, ge=0)
    best_trial: BestTrial | None = None


class Sweep(OmitEmptyWire, Resource[SweepSpec, SweepStatus]):
    """A hyperparameter sweep owning its trial TrainingJobs."""

    plural: ClassVar[str] = "sweeps"
    short_names: ClassVar[tuple[str, ...]] = ("mls",)
    phases: ClassVar[tuple[str, ...]] = phase_values(FinishingPhase)
    finishes: ClassVar[bool] = True
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Algorithm", ".spec.algorithm", "string"),
        ("Phase", ".status.phase", "string"),
        ("Completed", ".status.trialsCompleted", "integer"),
        ("Best", ".status.bestTrial.value", "number"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Sweep"] = "Sweep"
