"""Real processes for the runtime tests: commands, waits, and a control plane to SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hanzo_ml_lab.runtime import JobKey, ReplicaSpec, ReplicaStatus, Runtime

T = TypeVar("T")


def py(code: str) -> list[str]:
    """A command running ``code`` with this interpreter."""
    return [sys.executable, "-c", code]


def spec(replica_type: str, index: int, command: list[str], **kw: Any) -> ReplicaSpec:
    return ReplicaSpec(replica_type, index, command, kw.pop("env", {}), **kw)


def wait_for(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def by_name(statuses: list[ReplicaStatus] | None) -> dict[str, ReplicaStatus]:
    assert statuses is not None
    return {s.name: s for s in statuses}


def finished(statuses: list[ReplicaStatus] | None) -> bool:
    return statuses is not None and all(s.state in ("Succeeded", "Failed") for s in statuses)


def statuses(runtime: Runtime, key: JobKey) -> list[ReplicaStatus]:
    """``runtime.status(key)``, which must exist."""
    st = runtime.status(key)
    assert st is not None, f"{key} was never launched"
    return st


def wait_finished(runtime: Runtime, key: JobKey, timeout: float = 10.0) -> list[ReplicaStatus]:
    """The statuses of ``key`` once every replica has ended."""
    deadline = time.monotonic() + timeout
    while True:
        st = statuses(runtime, key)
        if finished(st):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} still running after {timeout}s: {st}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids of process group ``pgid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            pids.append(int(entry))
    return pids


def wait_members(pgid: int, at_least: int) -> list[int]:
    """The live pids of group ``pgid`` once it has ``at_least`` of them."""
    deadline = time.monotonic() + 10
    while len(members := group_members(pgid)) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"group {pgid} has only {members}, wanted {at_least}")
        time.sleep(0.02)
    return members


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_CONTROL_PLANE = """
import json, os, signal, sys, time
from hanzo_ml_lab.runtime import JobKey, LocalRuntime, ReplicaSpec
root, key, specs, grace = sys.argv[1:5]
key, specs = JobKey(**json.loads(key)), json.loads(specs)
rt = LocalRuntime(root)
rt.launch(key, [ReplicaSpec(**s) for s in specs])
if grace != "-":
    while not all(rt.tail(key, s.name) for s in rt.status(key)):  # replicas are ready
        time.sleep(0.01)
    rt.terminate(key, grace_seconds=float(grace))
print(json.dumps({s.name: s.pid for s in rt.status(key)}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def control_plane_that_dies(
    root: Path, key: JobKey, specs: list[ReplicaSpec], *, terminate_grace: float | None = None
) -> dict[str, int]:
    """In a separate process: launch ``specs`` (and, once each has printed something,
    terminate), then die by SIGKILL, as a control plane killed mid-flight. The replica pids it
    reported."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CONTROL_PLANE,
            str(root),
            json.dumps(key.__dict__),
            json.dumps([s.__dict__ for s in specs]),
            "-" if terminate_grace is None else str(terminate_grace),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids: dict[str, int] = json.loads(proc.stdout)
    return pids
