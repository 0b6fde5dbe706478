"""The ``hanzo.ai/v1`` API: one pydantic model per Kind, and the registry that finds them.

This package is the single source of truth. CRDs (``controller/crds/``), the OpenAPI document
and the lab extension's TypeScript types are derived from these models; everything that
accepts an object validates it with ``parse_object``.

    KINDS["TrainingJob"] is TrainingJob
    resolve_kind("mlj") is TrainingJob            # kind, plural or short name
    parse_object({"kind": "TrainingJob", ...})    # -> TrainingJob, or raises Invalid
"""

from __future__ import annotations

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
