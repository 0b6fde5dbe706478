"""Pipeline: a DAG of steps run durably by hanzoai/tasks (KFP's and Argo's role).

A step is a plain container, a TrainingJob, or an Inference; its ``template`` is validated as
the spec of that Kind, so a typo deep inside step 3 is reported as
``spec.steps[3].template.workers.replicas``. The graph is checked whole: unique names,
``dependsOn`` naming existing steps, and no cycles (the error names the step that closes one).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    Tag,
    model_validator,
)

from ._base import ApiModel, Resource, StatusBase
from ._phases import FinishingPhase, phase_values
from ._types import Name
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .inference import InferenceSpec
from .resources import EnvVar, check_unique_env
from .training import TrainingJobSpec

__all__ = [
    "Pipeline",
    "PipelineSpec",
    "PipelineStatus",
    "PipelineStep",
    "RetryPolicy",
    "StepType",
]

StepType = Literal["container", "trainingjob", "inference"]

# The step being validated, so the template's discriminator can follow ``type``.
_STEP_TYPE: ContextVar[str | None] = ContextVar("_STEP_TYPE", default=None)


def _template_tag(value: Any) -> str:
    if isinstance(value, InferenceSpec):
        return "inference"
    if isinstance(value, TrainingJobSpec):
        return "trainingjob"
    step_type = _STEP_TYPE.get()
    if step_type in ("trainingjob", "inference"):
        return step_type
    # A container step with a template is refused by the step's rules; guess for the message.
    if isinstance(value, dict) and ("model" in value or "runtime" in value):
        return "inference"
    return "trainingjob"


StepTemplate = Annotated[
    Union[  # noqa: UP007 - Tag needs the members spelled out for the discriminator
        Annotated[TrainingJobSpec, Tag("trainingjob")],
        Annotated[InferenceSpec, Tag("inference")],
    ],
    Discriminator(_template_tag),
]


class RetryPolicy(ApiModel):
    """Per-step retries; without one the step gets hanzoai/tasks' default policy."""

    limit: int = Field(0, ge=0, description="Retries after the first attempt.")
    backoff_seconds: float = Field(10.0, ge=0, description="Wait before the first retry.")
    backoff_factor: float = Field(2.0, ge=1, description="Multiplier for each later wait.")


class PipelineStep(ApiModel):
    """One node of the DAG.

    ``container`` steps run ``image`` (and/or ``command`` + ``args``); ``trainingjob`` and
    ``inference`` steps take a ``template`` that is the spec of that Kind.
    """

    name: Name
    type: StepType
    depends_on: list[str] = Field(default_factory=list)
    image: str | None = None
    command: list[str] | None = Field(None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    template: StepTemplate | None = None
    retry_policy: RetryPolicy | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _follow_type(cls, data: Any, handler: ModelWrapValidatorHandler[PipelineStep]) -> Any:
        step_type = data.get("type") if isinstance(data, dict) else None
        token = _STEP_TYPE.set(step_type if isinstance(step_type, str) else None)
        try:
            return handler(data)
        finally:
            _STEP_TYPE.reset(token)

    @model_validator(mode="after")
    def _rules(self) -> PipelineStep:
        problems: list[tuple[str, str]] = []
        if self.type == "container":
            if self.template is not None:
                problems.append(
                    ("template", "not allowed for type container; only trainingjob and "
                     "inference steps take a template")
                )
            if not self.image and not self.command:
                problems.append(("image", "one of image or command is required for type "
                                          "container"))
        else:
            if self.template is None:
                problems.append(("template", f"field required for type {self.type}"))
            elif self.type == "trainingjob" and not isinstance(self.template, TrainingJobSpec):
                problems.append(("template", "must be a TrainingJob spec for type trainingjob"))
            elif self.type == "inference" and not isinstance(self.template, InferenceSpec):
                problems.append(("template", "must be an Inference spec for type inference"))
            for field in ("image", "command"):
                if getattr(self, field) is not None:
                    problems.append(
                        (field, f"not allowed for type {self.type}; set it in the template")
                    )
            if self.args:
                problems.append(("args", f"not allowed for type {self.type}"))
            if self.env:
                problems.append(
                    ("env", f"not allowed for type {self.type}; set it in the template")
                )
        problems.extend(check_unique_env(self.env))
        if problems:
            raise RuleViolation(problems)
        return self


def _find_cycle(deps: dict[str, list[str]], order: list[str]) -> list[str] | None:
    """A cycle as a list of step names (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt in deps and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in order:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


class PipelineSpec(ApiModel):
    steps: list[PipelineStep] = Field(min_length=1)
    task_queue: str = Field("hanzo-tasks", min_length=1)
    params: dict[str, Any] | None = Field(
        None, description="Default run parameters; a run may override them."
    )

    @model_validator(mode="after")
    def _graph(self) -> PipelineSpec:
        problems: list[tuple[str, str]] = []
        index_of: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            if step.name in index_of:
                problems.append(
                    (f"steps[{index}].name",
                     f"duplicate step name {step.name!r} (first at steps[{index_of[step.name]}])")
                )
            else:
                index_of[step.name] = index
        for index, step in enumerate(self.steps):
            for dep in step.depends_on:
                if dep == step.name:
                    problems.append(
                        (f"steps[{index}].dependsOn", f"step {step.name!r} depends on itself")
                    )
                elif dep not in index_of:
                    known = ", ".join(index_of) or "none"
                    problems.append(
                        (f"steps[{index}].dependsOn",
                         f"unknown step {dep!r} (steps are: {known})")
                    )
        if not problems:
            deps = {s.name: list(s.depends_on) for s in self.steps}
            cycle = _find_cycle(deps, [s.name for s in self.steps])
            if cycle:
                closer = cycle[-2]
                problems.append(
                    (f"steps[{index_of[closer]}].dependsOn",
                     "dependency cycle (each step depends on the next): " + " -> ".join(cycle))
                )
        if problems:
            raise RuleViolation(problems)
        return self

    def topological_order(self) -> list[str]:
        """Step names so every step comes after the steps it depends on (spec order breaks
        ties), which is the order a sequential runner uses."""
        done: list[str] = []
        remaining = [s for s in self.steps]
        while remaining:
            for step in remaining:
                if all(dep in done for dep in step.depends_on):
                    done.append(step.name)
                    remaining.remove(step)
                    break
            else:  # pragma: no cover - the validator refuses cycles
                raise ValueError("dependency cycle")
        return done


class PipelineStatus(StatusBase):
    phase: FinishingPhase | None = None
    current_step: str | None = None
    completed_steps: list[str] = Field(default_factory=list)
    failed_steps: list[str] = Field(default_factory=list)
    runs: int = Field(0, ge=0)
    last_run_name: str | None = None


class Pipeline(OmitEmptyWire, Resource[PipelineSpec, PipelineStatus]):
    """A DAG definition; each execution (``POST .../run``) is a Run whose source is this
    Pipeline. ``status`` summarises the latest execution, so Succeeded/Failed here are not
    terminal: the next run moves the Pipeline back to Running."""

    plural: ClassVar[str] = "pipelines"
    short_names: ClassVar[tuple[str, ...]] = ("mlp",)
    phases: ClassVar[tuple[str, ...]] = phase_values(FinishingPhase)
    finishes: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Phase", ".status.phase", "string"),
        ("Step", ".status.currentStep", "string"),
        ("Runs", ".status.runs", "integer"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["Pipeline"] = "Pipeline"
