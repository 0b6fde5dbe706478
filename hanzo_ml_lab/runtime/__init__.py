"""Runtime backends: where the replicas of a job actually run.

``Runtime`` is the contract the reconcilers program against (see ``_base``); ``LocalRuntime``
runs replicas as process groups on this machine (the embedded mode). The Kubernetes backend
keeps the same contract with Pods.
"""

from __future__ import annotations

from ._base import (
    REPLICA_STATES,
    REPLICA_TYPES,
    Capacity,
    JobKey,
    LaunchError,
    LogChunk,
    ReplicaSpec,
    ReplicaStatus,
    Runtime,
    is_finished,
    replica_name,
)
from ._capacity import HANZO_ML_LOCAL_GPUS
from .local import LocalRuntime

__all__ = [
    "HANZO_ML_LOCAL_GPUS",
    "REPLICA_STATES",
    "REPLICA_TYPES",
    "Capacity",
    "JobKey",
    "LaunchError",
    "LocalRuntime",
    "LogChunk",
    "ReplicaSpec",
    "ReplicaStatus",
    "Runtime",
    "is_finished",
    "replica_name",
]
