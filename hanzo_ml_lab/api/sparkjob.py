"""SparkJob: a Spark application on the cluster (Kubeflow Spark Operator's SparkApplication).

Field names follow SparkApplication's so its users can move a manifest over by changing
``apiVersion``/``kind`` and dropping what we leave to the platform (volumes, service accounts
beyond one name, sidecars). Spark memory sizes use Spark's own notation (``512m``, ``4g``),
not Kubernetes quantities, because that is what ``spark.driver.memory`` takes.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from ._base import ApiModel, Resource, StatusBase
from ._phases import FinishingPhase, phase_values
from ._types import NonEmptyStr, Quantity, Timestamp
from ._validation import RuleViolation
from ._wire import OmitEmptyWire
from .resources import EnvVar, check_unique_env

__all__ = [
    "DynamicAllocation",
    "SparkDependencies",
    "SparkDriverInfo",
    "SparkDriverSpec",
    "SparkExecutorSpec",
    "SparkJob",
    "SparkJobSpec",
    "SparkJobStatus",
    "SparkMemory",
    "SparkRestartPolicy",
]

_MEMORY_PATTERN = r"^[0-9]+([kKmMgGtTpP][bB]?)?$"
_MEMORY = re.compile(_MEMORY_PATTERN)


def _memory(value: str) -> str:
    if not _MEMORY.match(value):
        raise ValueError(
            f"must be a Spark memory size such as 512m, 4g or 1024 (bytes), got {value!r}"
        )
    return value


SparkMemory = Annotated[
    str, AfterValidator(_memory), WithJsonSchema({"type": "string", "pattern": _MEMORY_PATTERN})
]


class _PodSpec(ApiModel):
    cores: int = Field(1, ge=1)
    core_limit: Quantity | None = None
    memory: SparkMemory = "1g"
    memory_overhead: SparkMemory | None = None
    env: list[EnvVar] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class SparkDriverSpec(_PodSpec):
    service_account: str | None = None


class SparkExecutorSpec(_PodSpec):
    instances: int = Field(1, ge=1)


class SparkDependencies(ApiModel):
    """Extra files Spark ships to the driver and executors (``--jars``, ``--py-files`` ...)."""

    jars: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    py_files: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)
    repositories: list[str] = Field(default_factory=list)
    exclude_packages: list[str] = Field(default_factory=list)


class SparkRestartPolicy(ApiModel):
    type: Literal["Never", "OnFailure", "Always"] = "Never"
    on_failure_retries: int | None = Field(None, ge=0)
    on_failure_retry_interval: int | None = Field(None, ge=1, description="Seconds.")
    on_submission_failure_retries: int | None = Field(None, ge=0)
    on_submission_failure_retry_interval: int | None = Field(None, ge=1, description="Seconds.")


class DynamicAllocation(ApiModel):
    enabled: bool = False
    initial_executors: int | None = Field(None, ge=0)
    min_executors: int | None = Field(None, ge=0)
    max_executors: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> DynamicAllocation:
        low, high = self.min_executors, self.max_executors
        if low is not None and high is not None and low > high:
            raise RuleViolation(
                ("minExecutors", f"must be <= maxExecutors ({high}), got {low}")
            )
        return self


class SparkJobSpec(ApiModel):
    """A Spark application: what to run (``mainApplicationFile``, ``mainClass`` for JVM
    languages, ``arguments``), which Spark, and the driver/executor pods."""

    type: Literal["Python", "Scala", "Java", "R"]
    mode: Literal["cluster", "client"] = "cluster"
    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    main_application_file: NonEmptyStr
    main_class: str | None = None
    arguments: list[str] = Field(default_factory=list)
    spark_version: NonEmptyStr
    spark_conf: dict[str, str] = Field(default_factory=dict)
    hadoop_conf: dict[str, str] = Field(default_factory=dict)
    deps: SparkDependencies | None = None
    driver: SparkDriverSpec = Field(default_factory=SparkDriverSpec)
    executor: SparkExecutorSpec = Field(default_factory=SparkExecutorSpec)
    dynamic_allocation: DynamicAllocation | None = None
    restart_policy: SparkRestartPolicy = Field(default_factory=SparkRestartPolicy)
    time_to_live_seconds: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _rules(self) -> SparkJobSpec:
        problems: list[tuple[str, str]] = []
        if self.type in ("Java", "Scala") and not self.main_class:
            problems.append(("mainClass", f"field required for type {self.type}"))
        problems.extend(check_unique_env(self.driver.env, "driver.env"))
        problems.extend(check_unique_env(self.executor.env, "executor.env"))
        if problems:
            raise RuleViolation(problems)
        return self


class SparkDriverInfo(ApiModel):
    pod_name: str | None = None
    web_ui_address: str | None = Field(None, alias="webUIAddress")
    web_ui_port: int | None = Field(None, alias="webUIPort")
    web_ui_service_name: str | None = Field(None, alias="webUIServiceName")
    pid: int | None = None


class SparkJobStatus(StatusBase):
    phase: FinishingPhase | None = None
    application_id: str | None = None
    driver_info: SparkDriverInfo | None = None
    executor_state: dict[str, Literal["Pending", "Running", "Completed", "Failed", "Unknown"]] = (
        Field(default_factory=dict, description="Executor pod name -> state.")
    )
    submission_attempts: int = Field(0, ge=0)
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    failure_message: str | None = None


class SparkJob(OmitEmptyWire, Resource[SparkJobSpec, SparkJobStatus]):
    """A Spark application: one driver, N executors, run to completion."""

    plural: ClassVar[str] = "sparkjobs"
    short_names: ClassVar[tuple[str, ...]] = ("mlsp",)
    phases: ClassVar[tuple[str, ...]] = phase_values(FinishingPhase)
    finishes: ClassVar[bool] = True
    printer_columns: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Type", ".spec.type", "string"),
        ("Phase", ".status.phase", "string"),
        ("Application", ".status.applicationId", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    )

    kind: Literal["SparkJob"] = "SparkJob"
