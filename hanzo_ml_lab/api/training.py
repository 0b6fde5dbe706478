"""TrainingJob: distributed training, one Kind for every framework (HIP-109).

``spec.framework`` picks the replica topology (workers, an optional parameter server, an
optional master) and the environment the framework's launcher expects; the user's code comes
from ``image`` + ``command`` (a cluster), or from ``command``/``script`` run in a local process
group (the embedded backend, where an image cannot be pulled).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, field_validator, model_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import FinishingPhase, phase_values
from ._types import Name, Timestamp
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .resources import EnvVar, ResourceRequirements, check_unique_env
from .vfs import VfsUri

__all__ = [
    "FRAMEWORKS",
    "ArtifactsSpec",
    "ExperimentRef",
    "Framework",
    "MasterSpec",
    "ParameterServerSpec",
    "ReplicaStatus",
    "RestartPolicy",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "WorkerSpec",
]

Framework = Literal["tensorflow", "pytorch", "mpi", "xgboost", "jax", "candle", "hanzo-ml"]
FRAMEWORKS: tuple[str, ...] = get_args(Framework)
RestartPolicy = Literal["Never", "OnFailure"]


class WorkerSpec(ApiModel):
    """The worker replicas; every framework has at least one."""

    replicas: int = Field(1, ge=1)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)


class ParameterServerSpec(ApiModel):
    """Parameter servers (TensorFlow ``PS`` topology); zero turns them off."""

    replicas: int = Field(1, ge=0)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)


class MasterSpec(ApiModel):
    """The rank-0 coordinator of MPI and PyTorch DDP jobs; there is at most one."""

    replicas: int = Field(1, ge=0, le=1)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)


class ArtifactsSpec(ApiModel):
    """Where the job's outputs go: a directory in the tenant's vfs namespace."""

    output: VfsUri


class ExperimentRef(ApiModel):
    """Binds the job to an Experiment; the runtime passes the name to the training code."""

    name: Name


class TrainingJobSpec(ApiModel):
    """What to run, on how many replicas, and what to do when it fails.

    The code to run is ``command`` (argv), or ``script`` (a Python source, the body of an
    ``%%ml_train`` cell; without a command it runs as ``python <script file>``), or, on a
    cluster, the entrypoint of ``image``. At least one of the three is required.

    ``restartPolicy``/``backoffLimit`` decide failure handling: with ``Never`` the first failed
    replica fails the job; with ``OnFailure`` the job's replicas are restarted together (a
    distributed job cannot resume one rank alone) up to ``backoffLimit`` times.
    """

    framework: Framework
    image: str | None = None
    command: list[str] | None = Field(None, min_length=1)
    working_dir: str | None = None
    script: str | None = None
    params: dict[str, Any] | None = Field(
        None, description="Hyperparameter assignment the training code reads with ml.params()."
    )
    workers: WorkerSpec = Field(default_factory=WorkerSpec)
    parameter_server: ParameterServerSpec | None = None
    master: MasterSpec | None = None
    artifacts: ArtifactsSpec | None = None
    experiment: ExperimentRef | None = None
    env: list[EnvVar] = Field(default_factory=list)
    restart_policy: RestartPolicy = "Never"
    backoff_limit: int = Field(0, ge=0)
    active_deadline_seconds: int | None = Field(None, ge=1)
    ttl_seconds_after_finished: int | None = Field(None, ge=0)
    cancelled: bool | None = Field(
        None,
        description="Set true (POST .../cancel) to stop the job; it ends Failed with reason "
        "Cancelled. Declarative, like a Job's suspend, so a restarted controller still sees it.",
    )

    @field_validator("image")
    @classmethod
    def _image_not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty; leave it out to use no image")
        return v

    @model_validator(mode="after")
    def _rules(self) -> TrainingJobSpec:
        problems: list[tuple[str, str]] = []
        if self.command is not None and not self.command[0].strip():
            problems.append(("command[0]", "must not be empty: it is the program to run"))
        if self.command is None and self.script is None and self.image is None:
            problems.append(
                ("command", "one of command or script is required (or, on a cluster, an "
                 "image whose entrypoint runs the training)")
            )
        if self.restart_policy == "Never" and self.backoff_limit > 0:
            problems.append(
                ("backoffLimit",
                 f"must be 0 when restartPolicy is Never, got {self.backoff_limit}; "
                 "set restartPolicy: OnFailure to retry")
            )
        problems.extend(check_unique_env(self.env))
        if problems:
            raise RuleViolation(problems)
        return self


class ReplicaStatus(ApiModel):
    """One replica as the runtime last saw it (a local process or a Pod)."""

    type: Literal["Master", "Worker", "PS"]
    index: int = Field(ge=0)
    pid: int | None = None
    pod_name: str | None = None
    state: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] = "Pending"
    exit_code: int | None = None


class TrainingJobStatus(StatusBase):
    phase: FinishingPhase | None = None
    workers_ready: int = Field(0, ge=0)
    workers_total: int = Field(0, ge=0)
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    artifact_uri: VfsUri | None = Field(None, alias="artifactURI")
    replica_statuses: list[ReplicaStatus] = Field(default_factory=list)
    failure_reason: str | None = None
    failure_message: str | None = None
    last_log_lines: list[str] | None = None
    restarts: int = Field(0, ge=0)
    run_name: str | None = None
    endpoints: dict[str, str] | None = Field(
        None,
        description="host:port of each replica (worker-0, master-0, ps-0), allocated before "
        "the replicas start so a restart reuses them.",
    )


class TrainingJob(OmitEmptyWire, Resource[TrainingJobSpec, TrainingJobStatus]):
    """Distributed training pods (TFJob, PyTorchJob, MPIJob, XGBoostJob, JAXJob in one Kind)."""

    plural: ClassVar[str] = "trainingjobs"
    short_names: ClassVar[tuple[str, ...]] = ("mlj",)
    phases: ClassVar[tuple[str, ...]] = phase_values(FinishingPhase)
    finishes: ClassVar[bool] = True
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Framework", ".spec.framework", "string"),
        ("Phase", ".status.phase", "string"),
        ("Workers", ".status.workersReady", "integer"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["TrainingJob"] = "TrainingJob"
