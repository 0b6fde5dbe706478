"""Every environment variable the project reads, declared once with its type and default.

The runtime injects the ``HANZO_ML_*`` run identity into job processes; the Jupyter server
extension injects the API address and token into kernels; people set the rest by hand. Reading
them through these objects keeps the names and defaults in one place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

__all__ = [
    "HANZO_ML_API",
    "HANZO_ML_ARTIFACTS",
    "HANZO_ML_EXPERIMENT",
    "HANZO_ML_FLUSH_TIMEOUT",
    "HANZO_ML_HOME",
    "HANZO_ML_JOB",
    "HANZO_ML_LOCAL_GPUS",
    "HANZO_ML_NAMESPACE",
    "HANZO_ML_ORG",
    "HANZO_ML_PARAMS",
    "HANZO_ML_RUN",
    "HANZO_ML_SPOOL_DIR",
    "HANZO_ML_TOKEN",
    "HANZO_ML_TOKEN_FILE",
    "EnvVar",
    "home_dir",
]

T = TypeVar("T")


class EnvVar(NamedTuple, Generic[T]):
    """One variable: its name, type, default and what it is for. (A ``NamedTuple``: every job
    process imports this module, and ``dataclasses`` is the costlier import.)"""

    name: str
    type: type[T]
    default: T | None
    help: str

    def get(self) -> T | None:
        raw = os.environ.get(self.name)
        if raw is None or raw == "":
            return self.default
        if self.type is bool:
            return raw.strip().lower() in ("1", "true", "yes", "on")  # type: ignore[return-value]
        return self.type(raw)  # type: ignore[call-arg]

    def is_set(self) -> bool:
        return bool(os.environ.get(self.name))


HANZO_ML_HOME = EnvVar("HANZO_ML_HOME", str, None, "State directory (default ~/.hanzo-ml).")
HANZO_ML_API = EnvVar(
    "HANZO_ML_API", str, None, "Control plane base URL, e.g. http://127.0.0.1:8787."
)
HANZO_ML_TOKEN = EnvVar("HANZO_ML_TOKEN", str, None, "Bearer token (JWT) for the control plane.")
HANZO_ML_TOKEN_FILE = EnvVar("HANZO_ML_TOKEN_FILE", str, None, "File holding the bearer token.")
HANZO_ML_ORG = EnvVar("HANZO_ML_ORG", str, None, "Org sent as X-Org-Id; namespace tenant-<org>.")
HANZO_ML_NAMESPACE = EnvVar("HANZO_ML_NAMESPACE", str, None, "Namespace of the running job.")
HANZO_ML_JOB = EnvVar("HANZO_ML_JOB", str, None, "Name of the TrainingJob this process belongs to.")
HANZO_ML_RUN = EnvVar("HANZO_ML_RUN", str, None, "Name of the Run this process logs to.")
HANZO_ML_EXPERIMENT = EnvVar("HANZO_ML_EXPERIMENT", str, None, "Experiment the run belongs to.")
HANZO_ML_PARAMS = EnvVar(
    "HANZO_ML_PARAMS", str, None, "JSON object: the job's parameter assignment."
)
HANZO_ML_SPOOL_DIR = EnvVar(
    "HANZO_ML_SPOOL_DIR", str, None, "Where the SDK spools writes while the API is unreachable."
)
HANZO_ML_ARTIFACTS = EnvVar(
    "HANZO_ML_ARTIFACTS",
    str,
    None,
    "vfs:// URI under which log_artifact stores the job's files (the job's artifacts.output).",
)
HANZO_ML_FLUSH_TIMEOUT = EnvVar(
    "HANZO_ML_FLUSH_TIMEOUT",
    float,
    30.0,
    "Seconds the SDK waits at exit to deliver buffered metrics; the rest stays spooled.",
)
HANZO_ML_LOCAL_GPUS = EnvVar(
    "HANZO_ML_LOCAL_GPUS",
    int,
    None,
    "GPUs the local runtime offers; overrides what `nvidia-smi -L` finds (tests, shared hosts).",
)


def home_dir() -> Path:
    """``$HANZO_ML_HOME``, else ``~/.hanzo-ml``; not created here."""
    raw = HANZO_ML_HOME.get()
    return Path(raw).expanduser() if raw else Path.home() / ".hanzo-ml"
