"""Control plane settings: one object, built from arguments or the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerSettings"]


@dataclass
class ServerSettings:
    """What the control plane needs to run. ``home`` holds the database, logs and artifacts."""

    home: Path
    signing_key: str
    host: str = "127.0.0.1"
    port: int = 8787
    max_body_bytes: int = 1024 * 1024
    max_log_body_bytes: int = 16 * 1024 * 1024  # one SDK batch of metric points
    max_artifact_bytes: int = 1024 * 1024 * 1024
    metric_writes_per_second: int = 1000
    watch_heartbeat_seconds: float = 15.0
    run_controller: bool = True
    # embedded fast path: how often running jobs' spool dirs are scanned (0: not at all)
    spool_watch_interval: float = 0.01

    @property
    def db_path(self) -> Path:
        return self.home / "state.db"
