"""From a TrainingJob to its replicas: who runs, with which rank, and the env its framework reads.

One builder serves every framework: the replica set (master, workers, parameter servers) is
the same shape everywhere, and each framework only differs in the environment its launcher
would have set — what ``torchrun`` sets for PyTorch, ``TF_CONFIG`` for TensorFlow, the
coordinator triple for JAX, the rabit tracker for XGBoost, rank variables and a hostfile for
MPI. Endpoints (host:port per replica) are allocated by the reconciler and recorded in the
job's status before launch, so a launch completed after a control-plane restart uses the same
ports as the replicas that were already running.
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hanzo_ml_lab.runtime import ReplicaSpec

__all__ = ["Replica", "allocate_endpoints", "build_replicas", "plan_replicas", "resolve_command"]

SCRIPT_FILE = "hanzo_ml_script.py"


@dataclass(frozen=True)
class Replica:
    """A replica's place in the job: its type, index, global rank, and its name (``worker-1``)."""

    type: str  # Master | Worker | PS
    index: int
    rank: int | None  # None for parameter servers, which have no rank in the collective

    @property
    def name(self) -> str:
        return f"{self.type.lower()}-{self.index}"


def plan_replicas(spec: dict[str, Any]) -> list[Replica]:
    """Master (rank 0) first, then workers, then parameter servers."""
    out: list[Replica] = []
    rank = 0
    masters = (spec.get("master") or {}).get("replicas", 0) if spec.get("master") else 0
    for i in range(masters):
        out.append(Replica("Master", i, rank))
        rank += 1
    for i in range(spec.get("workers", {}).get("replicas", 1)):
        out.append(Replica("Worker", i, rank))
        rank += 1
    ps = (
        (spec.get("parameterServer") or {}).get("replicas", 0) if spec.get("parameterServer") else 0
    )
    for i in range(ps):
        out.append(Replica("PS", i, None))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def allocate_endpoints(replicas: list[Replica], host: str = "127.0.0.1") -> dict[str, str]:
    """A loopback ``host:port`` per replica (the local runtime's equivalent of pod DNS names)."""
    return {r.name: f"{host}:{_free_port()}" for r in replicas}


def resolve_command(spec: dict[str, Any], workdir: Path) -> list[str]:
    """The argv to run. ``python``/``python3`` means the control plane's interpreter (the one
    with this SDK installed); a ``script`` without a command runs as that script."""
    command = list(spec.get("command") or [])
    if not command and spec.get("script") is not None:
        command = ["python", SCRIPT_FILE]
    if command and command[0] in ("python", "python3"):
        command[0] = sys.executable
    return command


def _framework_env(
    framework: str, me: Replica, replicas: list[Replica], endpoints: dict[str, str], workdir: Path
) -> dict[str, str]:
    ranked = [r for r in replicas if r.rank is not None]
    world = len(ranked)
    coordinator = endpoints[ranked[0].name]
    host, port = coordinator.rsplit(":", 1)
    env: dict[str, str] = {}
    rank = me.rank if me.rank is not None else 0
    if framework in ("pytorch", "candle", "hanzo-ml", "xgboost"):
        # what torchrun sets on a single node
        env.update(
            {
                "MASTER_ADDR": host,
                "MASTER_PORT": port,
                "WORLD_SIZE": str(world),
                "RANK": str(rank),
                "LOCAL_RANK": str(rank),
                "LOCAL_WORLD_SIZE": str(world),
                "GROUP_RANK": "0",
                "ROLE_RANK": str(rank),
                "ROLE_WORLD_SIZE": str(world),
            }
        )
    if framework == "xgboost":
        # the rabit tracker runs beside rank 0; workers find it here
        env.update(
            {
                "DMLC_TRACKER_URI": host,
                "DMLC_TRACKER_PORT": port,
                "DMLC_NUM_WORKER": str(world),
                "DMLC_TASK_ID": str(rank),
                "WORKER_ADDRS": ",".join(endpoints[r.name].rsplit(":", 1)[0] for r in ranked),
            }
        )
    elif framework == "tensorflow":
        cluster: dict[str, list[str]] = {}
        for r in replicas:
            role = {"Master": "chief", "Worker": "worker", "PS": "ps"}[r.type]
            cluster.setdefault(role, []).append(endpoints[r.name])
        task_type = {"Master": "chief", "Worker": "worker", "PS": "ps"}[me.type]
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": task_type, "index": me.index}}
        )
    elif framework == "jax":
        env.update(
            {
                "JAX_COORDINATOR_ADDRESS": coordinator,
                "JAX_NUM_PROCESSES": str(world),
                "JAX_PROCESS_ID": str(rank),
            }
        )
    elif framework == "mpi":
        hostfile = workdir / "hostfile"
        env.update(
            {
                "OMPI_COMM_WORLD_RANK": str(rank),
                "OMPI_COMM_WORLD_SIZE": str(world),
                "OMPI_COMM_WORLD_LOCAL_RANK": str(rank),
                "OMPI_COMM_WORLD_LOCAL_SIZE": str(world),
                "PMI_RANK": str(rank),
                "PMI_SIZE": str(world),
                "OMPI_MCA_orte_default_hostfile": str(hostfile),
                "HANZO_ML_HOSTFILE": str(hostfile),
            }
        )
    return env


def build_replicas(
    *,
    spec: dict[str, Any],
    endpoints: dict[str, str],
    workdir: Path,
    base_env: dict[str, str],
) -> list[ReplicaSpec]:
    """Every replica's argv, env and working directory, ready for ``Runtime.launch``."""
    workdir.mkdir(parents=True, exist_ok=True)
    if spec.get("script") is not None:
        (workdir / SCRIPT_FILE).write_text(spec["script"])
    replicas = plan_replicas(spec)
    if spec.get("framework") == "mpi":
        (workdir / "hostfile").write_text(
            f"127.0.0.1 slots={sum(1 for r in replicas if r.rank is not None)}\n"
        )
    command = resolve_command(spec, workdir)
    user_env = {e["name"]: e.get("value", "") for e in spec.get("env") or []}
    out: list[ReplicaSpec] = []
    for r in replicas:
        env = {
            **base_env,
            **_framework_env(spec["framework"], r, replicas, endpoints, workdir),
            "HANZO_ML_REPLICA_TYPE": r.type,
            "HANZO_ML_REPLICA_INDEX": str(r.index),
            "HANZO_ML_REPLICA_RANK": "" if r.rank is None else str(r.rank),
            **user_env,
        }
        out.append(
            ReplicaSpec(
                replica_type=r.type,
                index=r.index,
                command=command,
                env=env,
                working_dir=str(spec.get("workingDir") or workdir),
            )
        )
    return out


def describe_command(command: list[str]) -> str:
    return shlex.join(command)
