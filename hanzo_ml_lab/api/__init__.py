"""The ``hanzo.ai/v1`` API: one pydantic model per Kind, and the registry that finds them.

This package is the single source of truth. CRDs (``controller/crds/``), the OpenAPI document
and the lab extension's TypeScript types are derived from these models; everything that
accepts an object validates it with ``parse_object``.

    KINDS["TrainingJob"] is TrainingJob
    resolve_kind("mlj") is TrainingJob            # kind, plural or short name
    parse_object({"kind": "TrainingJob", ...})    # -> TrainingJob, or raises Invalid

Importing the package is cheap: every name below is loaded from its module the first time it
is used (PEP 562), so ``hanzo_ml_lab.api.errors``, ``.routes``, ``.tenancy`` and ``.vfs`` can be
imported without pydantic or any model (the tracking SDK in a job needs only those).
``from hanzo_ml_lab.api import TrainingJob`` loads ``training`` and what it needs; ``KINDS``,
``parse_object`` and ``resolve_kind`` load the registry, and with it every Kind.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, ``__getattr__`` below
    from ._base import (
        API_VERSION,
        GROUP,
        VERSION,
        ApiModel,
        Condition,
        ConditionType,
        ObjectMeta,
        OwnerReference,
        Phase,
        Resource,
        StatusBase,
    )
    from ._registry import KINDS, KindInfo, kind_info, parse_object, resolve_kind
    from .experiment import (
        BestRun,
        Experiment,
        ExperimentSpec,
        ExperimentStatus,
        MetricValue,
        Objective,
        RateLimit,
    )
    from .inference import (
        Autoscaling,
        Inference,
        InferenceIngress,
        InferenceModelRef,
        InferenceSpec,
        InferenceStatus,
    )
    from .model import (
        Model,
        ModelSignature,
        ModelSpec,
        ModelStatus,
        ModelVersionEntry,
        TensorSpec,
    )
    from .modelversion import ModelVersion, ModelVersionSpec, ModelVersionStatus
    from .notebook import Notebook, NotebookSpec, NotebookStatus, NotebookStorage, NotebookUser
    from .pipeline import Pipeline, PipelineSpec, PipelineStatus, PipelineStep, RetryPolicy
    from .resources import EnvVar, ResourceRequirements
    from .sparkjob import (
        DynamicAllocation,
        SparkDependencies,
        SparkDriverInfo,
        SparkDriverSpec,
        SparkExecutorSpec,
        SparkJob,
        SparkJobSpec,
        SparkJobStatus,
        SparkRestartPolicy,
    )
    from .sweep import BestTrial, EarlyStopping, Sweep, SweepParameter, SweepSpec, SweepStatus
    from .tenancy import org_of_namespace, tenant_namespace
    from .tracking import (
        Artifact,
        ArtifactSpec,
        ArtifactStatus,
        Metric,
        MetricSpec,
        MetricStatus,
        Run,
        RunSource,
        RunSpec,
        RunStatus,
    )
    from .training import (
        FRAMEWORKS,
        ArtifactsSpec,
        ExperimentRef,
        MasterSpec,
        ParameterServerSpec,
        ReplicaStatus,
        TrainingJob,
        TrainingJobSpec,
        TrainingJobStatus,
        WorkerSpec,
    )
    from .vfs import foreign_vfs_uris, parse_vfs_uri, vfs_uri

# the module (relative to this package) each public name is loaded from
_SOURCES: dict[str, tuple[str, ...]] = {
    "._base": ("API_VERSION", "GROUP", "VERSION", "ApiModel", "Condition", "ConditionType",
               "ObjectMeta", "OwnerReference", "Phase", "Resource", "StatusBase"),
    "._registry": ("KINDS", "KindInfo", "kind_info", "parse_object", "resolve_kind"),
    ".tenancy": ("org_of_namespace", "tenant_namespace"),
    ".vfs": ("foreign_vfs_uris", "parse_vfs_uri", "vfs_uri"),
    ".resources": ("EnvVar", "ResourceRequirements"),
    ".training": ("FRAMEWORKS", "ArtifactsSpec", "ExperimentRef", "MasterSpec",
                  "ParameterServerSpec", "ReplicaStatus", "TrainingJob", "TrainingJobSpec",
                  "TrainingJobStatus", "WorkerSpec"),
    ".experiment": ("BestRun", "Experiment", "ExperimentSpec", "ExperimentStatus",
                    "MetricValue", "Objective", "RateLimit"),
    ".sweep": ("BestTrial", "EarlyStopping", "Sweep", "SweepParameter", "SweepSpec",
               "SweepStatus"),
    ".pipeline": ("Pipeline", "PipelineSpec", "PipelineStatus", "PipelineStep", "RetryPolicy"),
    ".notebook": ("Notebook", "NotebookSpec", "NotebookStatus", "NotebookStorage",
                  "NotebookUser"),
    ".model": ("Model", "ModelSignature", "ModelSpec", "ModelStatus", "ModelVersionEntry",
               "TensorSpec"),
    ".inference": ("Autoscaling", "Inference", "InferenceIngress", "InferenceModelRef",
                   "InferenceSpec", "InferenceStatus"),
    ".sparkjob": ("DynamicAllocation", "SparkDependencies", "SparkDriverInfo",
                  "SparkDriverSpec", "SparkExecutorSpec", "SparkJob", "SparkJobSpec",
                  "SparkJobStatus", "SparkRestartPolicy"),
    ".tracking": ("Artifact", "ArtifactSpec", "ArtifactStatus", "Metric", "MetricSpec",
                  "MetricStatus", "Run", "RunSource", "RunSpec", "RunStatus"),
    ".modelversion": ("ModelVersion", "ModelVersionSpec", "ModelVersionStatus"),
}
_SOURCE_OF: dict[str, str] = {name: module for module, names in _SOURCES.items()
                              for name in names}

__all__ = [
    # envelope and registry
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "ApiModel",
    "Condition",
    "ConditionType",
    "KindInfo",
    "ObjectMeta",
    "OwnerReference",
    "Phase",
    "Resource",
    "StatusBase",
    "kind_info",
    "parse_object",
    "resolve_kind",
    # tenancy and vfs
    "foreign_vfs_uris",
    "org_of_namespace",
    "parse_vfs_uri",
    "tenant_namespace",
    "vfs_uri",
    # shared parts
    "EnvVar",
    "ResourceRequirements",
    # TrainingJob
    "FRAMEWORKS",
    "ArtifactsSpec",
    "ExperimentRef",
    "MasterSpec",
    "ParameterServerSpec",
    "ReplicaStatus",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "WorkerSpec",
    # Experiment
    "BestRun",
    "Experiment",
    "ExperimentSpec",
    "ExperimentStatus",
    "MetricValue",
    "Objective",
    "RateLimit",
    # Sweep
    "BestTrial",
    "EarlyStopping",
    "Sweep",
    "SweepParameter",
    "SweepSpec",
    "SweepStatus",
    # Pipeline
    "Pipeline",
    "PipelineSpec",
    "PipelineStatus",
    "PipelineStep",
    "RetryPolicy",
    # Notebook
    "Notebook",
    "NotebookSpec",
    "NotebookStatus",
    "NotebookStorage",
    "NotebookUser",
    # Model
    "Model",
    "ModelSignature",
    "ModelSpec",
    "ModelStatus",
    "ModelVersionEntry",
    "TensorSpec",
    # Inference
    "Autoscaling",
    "Inference",
    "InferenceIngress",
    "InferenceModelRef",
    "InferenceSpec",
    "InferenceStatus",
    # SparkJob
    "DynamicAllocation",
    "SparkDependencies",
    "SparkDriverInfo",
    "SparkDriverSpec",
    "SparkExecutorSpec",
    "SparkJob",
    "SparkJobSpec",
    "SparkJobStatus",
    "SparkRestartPolicy",
    # Run, Metric, Artifact
    "Artifact",
    "ArtifactSpec",
    "ArtifactStatus",
    "Metric",
    "MetricSpec",
    "MetricStatus",
    "Run",
    "RunSource",
    "RunSpec",
    "RunStatus",
    # ModelVersion
    "ModelVersion",
    "ModelVersionSpec",
    "ModelVersionStatus",
]


def __getattr__(name: str) -> Any:
    module = _SOURCE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
