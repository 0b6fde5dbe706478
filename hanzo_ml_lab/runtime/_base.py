"""The runtime contract: what a reconciler may ask of the thing that actually runs replicas.

A TrainingJob is reconciled level-triggered: the controller reads the job, asks the runtime what
exists (``status``), and moves one step toward the spec (``launch``, ``terminate``,
``cleanup``). Two backends keep this contract, the local one (process groups on this machine,
the embedded mode) and the Kubernetes one (Pods), so the reconcilers never branch on the mode.

The rules every implementation keeps:

- **Idempotent.** Any method may be called again, with the same arguments, any number of times,
  and does nothing more the second time. ``launch`` of a launched key starts nothing; a launch
  that was cut short (the control plane died half way) is completed by the next ``launch``.
- **Thread-safe.** The reconciler may call from several threads at once.
- **State lives outside the control plane.** The control plane may be SIGKILLed at any moment
  and restarted. Replicas keep running, and a new runtime object on the same state re-adopts
  them: ``list_launched`` says what exists, ``status`` reports it as if nothing had happened,
  including exit codes of replicas that ended while nobody watched.
- **Never blocks for long.** ``terminate`` sends SIGTERM (or deletes Pods) and returns; the
  SIGKILL after the grace period happens in the background and is re-checked by later calls.
- A job is named by ``JobKey``, whose ``uid`` tells a re-created job from the old one of the
  same name: their replicas, logs and exit codes never mix.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "REPLICA_STATES",
    "REPLICA_TYPES",
    "Capacity",
    "JobKey",
    "LaunchError",
    "LogChunk",
    "ReplicaSpec",
    "ReplicaStatus",
    "Runtime",
    "is_finished",
    "replica_name",
    "validate_key",
    "validate_replicas",
]

REPLICA_TYPES: Final = ("Master", "Worker", "PS")
"""Replica types, as the TrainingJob spec names them (``master``, ``workers``,
``parameterServer``)."""

REPLICA_STATES: Final = ("Pending", "Running", "Succeeded", "Failed")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class JobKey:
    """Which job. ``uid`` is the resource's ``metadata.uid``: it distinguishes a job from an
    earlier, deleted job of the same name."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class ReplicaSpec:
    """One process (one Pod) to run.

    ``env`` is added to the runtime's own base environment (the control plane's environment
    locally, the image's in a Pod); it does not replace it.
    """

    replica_type: str
    index: int
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None

    @property
    def name(self) -> str:
        return replica_name(self.replica_type, self.index)


@dataclass
class ReplicaStatus:
    """What the runtime observed about one replica.

    ``state`` is one of ``REPLICA_STATES``. ``exit_code`` follows the shell convention: 128+N
    for a process ended by signal N (143 for SIGTERM, 137 for SIGKILL), as Kubernetes reports
    it. ``exit_code`` is None while running, and also when a replica vanished without anyone
    recording its status (``message`` then says so). Times are Unix epoch seconds.
    """

    replica_type: str
    index: int
    state: str
    pid: int | None
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    message: str = ""

    @property
    def name(self) -> str:
        return replica_name(self.replica_type, self.index)


@dataclass(frozen=True)
class Capacity:
    """What this backend can run at most at once (the local machine, or the cluster)."""

    cpus: int
    memory_bytes: int
    gpus: int


@dataclass
class LogChunk:
    """Some output of one replica.

    ``text`` ends at a line boundary unless the replica has ended, or a line has been left
    unfinished for a while (progress bars that redraw with ``\\r``). ``cursor`` is opaque:
    pass it back as ``since`` to continue exactly after this chunk, with nothing repeated and
    nothing lost, for every replica the stream covered.
    """

    replica: str
    text: str
    cursor: str


class LaunchError(RuntimeError):
    """A replica could not be started. The message names the replica and the cause; replicas
    started before it keep running, and a later ``launch`` retries only the missing ones."""


def replica_name(replica_type: str, index: int) -> str:
    """``("Worker", 1)`` -> ``"worker-1"``: the name used for logs, Pods and cursors."""
    return f"{replica_type.lower()}-{index}"


def is_finished(statuses: Sequence[ReplicaStatus] | None) -> bool:
    """True when no replica is Pending or Running (or there is nothing at all)."""
    if not statuses:
        return True
    return all(s.state in ("Succeeded", "Failed") for s in statuses)


def validate_key(key: JobKey) -> None:
    """Raise ``ValueError`` unless every part of ``key`` is a safe single path segment.

    The local runtime turns the key into directories and the Kubernetes one into labels, so a
    ``/`` or ``..`` here would be a path traversal there.
    """
    for field_name in ("namespace", "name", "uid"):
        value = getattr(key, field_name)
        if not isinstance(value, str) or not _SAFE_NAME.match(value) or value in (".", ".."):
            raise ValueError(
                f"key.{field_name}: must be 1-253 characters of letters, digits, '.', '_' or '-' "
                f"and start with a letter or digit, got {value!r}"
            )


def validate_replicas(replicas: Sequence[ReplicaSpec]) -> None:
    """Raise ``ValueError`` naming the first bad replica field."""
    seen: set[str] = set()
    for i, spec in enumerate(replicas):
        where = f"replicas[{i}]"
        if spec.replica_type not in REPLICA_TYPES:
            raise ValueError(
                f"{where}.replica_type: must be one of {', '.join(REPLICA_TYPES)}, "
                f"got {spec.replica_type!r}"
            )
        if not isinstance(spec.index, int) or isinstance(spec.index, bool) or spec.index < 0:
            raise ValueError(f"{where}.index: must be an integer >= 0, got {spec.index!r}")
        if not spec.command or not all(isinstance(a, str) for a in spec.command):
            raise ValueError(
                f"{where}.command: must be a non-empty list of strings, got {spec.command!r}"
            )
        for k, v in spec.env.items():
            if not isinstance(k, str) or not k or "=" in k or "\0" in k:
                raise ValueError(f"{where}.env: invalid variable name {k!r}")
            if not isinstance(v, str) or "\0" in v:
                raise ValueError(f"{where}.env[{k}]: must be a string without NUL bytes")
        name = spec.name
        if name in seen:
            raise ValueError(f"{where}: duplicate replica {name}")
        seen.add(name)


class Runtime(ABC):
    """A backend that runs the replicas of jobs. See the module docstring for the contract."""

    @abstractmethod
    def capacity(self) -> Capacity:
        """CPUs, memory and GPUs available to jobs. Cheap after the first call."""

    @abstractmethod
    def launch(self, key: JobKey, replicas: list[ReplicaSpec]) -> None:
        """Start every replica of ``replicas`` that was never started for ``key``.

        Replicas already started (running or finished) are left alone, so calling this again
        starts nothing. A key that was terminated is not launched again.
        Raises ``ValueError`` for a bad key or spec, ``LaunchError`` if a replica cannot start.
        """

    @abstractmethod
    def status(self, key: JobKey) -> list[ReplicaStatus] | None:
        """One status per launched replica, or None if ``key`` was never launched (or was
        cleaned up)."""

    @abstractmethod
    def terminate(self, key: JobKey, *, grace_seconds: float = 10.0) -> None:
        """SIGTERM every replica now, SIGKILL what is still alive after ``grace_seconds``.

        Returns at once; the SIGKILL comes from the background and is re-checked by every later
        ``terminate`` and ``status`` call, so it happens even across a control-plane restart.
        Unknown keys are ignored.
        """

    @abstractmethod
    def cleanup(self, key: JobKey) -> None:
        """Kill whatever of ``key`` still runs, then delete everything kept for it (logs, exit
        codes). Afterwards ``status`` returns None. Unknown keys are ignored."""

    @abstractmethod
    def log_path(self, key: JobKey, replica: str) -> Path | None:
        """The file holding ``replica``'s output, if this backend keeps one and it exists."""

    @abstractmethod
    def replicas_with_logs(self, key: JobKey) -> list[str]:
        """Names (``master-0``, ``worker-1``...) of the replicas that have output so far."""

    @abstractmethod
    def read_logs(
        self,
        key: JobKey,
        replica: str | None = None,
        *,
        since: str | None = None,
        follow: bool = False,
        stop: threading.Event | None = None,
        tail_lines: int | None = None,
    ) -> Iterator[LogChunk]:
        """Output of one replica, or of all of them interleaved in arrival order.

        ``since`` is a cursor from an earlier chunk: reading resumes exactly after it.
        Otherwise reading starts at the beginning, or ``tail_lines`` lines before the end of
        each replica's output. Without ``follow`` the iterator ends at the end of what exists;
        with it, it waits for more and ends once the job has finished and everything is read,
        or when ``stop`` is set (noticed within 0.2 s). An unknown key yields nothing.
        Raises ``ValueError`` for a cursor this backend did not issue.
        """

    @abstractmethod
    def tail(self, key: JobKey, replica: str, lines: int = 20) -> list[str]:
        """The last ``lines`` lines of ``replica``'s output, without line ends (for failure
        messages)."""

    @abstractmethod
    def list_launched(self) -> list[JobKey]:
        """Every key this backend holds state for: what a restarted controller re-adopts."""
