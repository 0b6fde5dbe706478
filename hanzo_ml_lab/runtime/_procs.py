"""Process identity and signalling that survive a control-plane restart.

A pid alone does not name a process once the process that started it is gone: the kernel reuses
pids. So a process is named by (pid, start time in clock ticks since boot, boot id), read from
``/proc``; a pid whose start time differs is somebody else. Where ``/proc`` does not exist
(macOS) the start time is unknown and liveness falls back to ``kill(pid, 0)``.

Replicas run as leaders of their own session and process group (pgid == pid of the shim), so
one ``killpg`` reaches everything they spawned. Signalling a group is safe by this rule: while
any member of a group lives, the kernel does not hand its number out as a new pid. So if the
leader pid exists with a different start time, our group is gone and the number belongs to
someone else; if the pid does not exist, any group of that number is what is left of ours.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcStat",
    "boot_id",
    "find_by_argv",
    "group_alive",
    "proc_stat",
    "process_alive",
    "signal_group",
    "signal_description",
]

_PROC = Path("/proc")
_boot_id: str | None = None


@dataclass(frozen=True)
class ProcStat:
    state: str  # R, S, D, Z (zombie), X (dead), ...
    pgid: int
    start_ticks: int


def boot_id() -> str | None:
    """This boot's id (Linux), so a state file from before a reboot is not trusted."""
    global _boot_id
    if _boot_id is None:
        try:
            _boot_id = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            _boot_id = ""
    return _boot_id or None


def proc_stat(pid: int) -> ProcStat | None:
    """Fields 3, 5 and 22 of ``/proc/<pid>/stat``, or None if there is no such process (or no
    ``/proc``)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    rest = raw[raw.rfind(b")") + 2 :].split()
    try:
        return ProcStat(state=rest[0].decode(), pgid=int(rest[2]), start_ticks=int(rest[19]))
    except (IndexError, ValueError):
        return None


def _has_proc() -> bool:
    return _PROC.joinpath("self/stat").exists()


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """True if ``pid`` is the very process that had ``start_ticks`` and is not a zombie."""
    st = proc_stat(pid)
    if st is None:
        if _has_proc():
            return False
        try:  # no /proc: best effort
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if st.state in ("Z", "X"):
        return False
    return start_ticks is None or st.start_ticks == start_ticks


def _group_is_ours(pgid: int, leader_start_ticks: int | None) -> bool:
    st = proc_stat(pgid)
    if st is None:
        return True  # leader gone: whatever group has this number is what is left of ours
    if leader_start_ticks is None:
        return True
    return st.start_ticks == leader_start_ticks


def group_alive(pgid: int, leader_start_ticks: int | None) -> bool:
    """True if any process of our group ``pgid`` is still alive (zombies aside)."""
    if not _group_is_ours(pgid, leader_start_ticks):
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also succeeds for a group of zombies only; ask /proc when we can.
    if not _has_proc():
        return True
    leader = proc_stat(pgid)
    if leader is not None and leader.state not in ("Z", "X"):
        return True
    for entry in os.scandir(_PROC):
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None and st.pgid == pgid and st.state not in ("Z", "X"):
                return True
    return False


def signal_group(pgid: int, leader_start_ticks: int | None, sig: int) -> bool:
    """Send ``sig`` to our process group ``pgid``; False if it is gone (or not ours)."""
    if not _group_is_ours(pgid, leader_start_ticks):
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def find_by_argv(marker: list[str]) -> tuple[int, int | None] | None:
    """(pid, start_ticks) of a live process whose argv holds ``marker`` as consecutive
    arguments.

    Used only to recover from a control plane that died between starting a replica and
    recording its pid (the shim's argv holds its job's unique exit-file path).
    """
    if not _has_proc():
        return None
    want = b"\0" + b"\0".join(a.encode() for a in marker) + b"\0"
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "cmdline"), "rb") as f:
                argv = f.read()
        except OSError:
            continue
        if want in argv:
            pid = int(entry.name)
            st = proc_stat(pid)
            if st is not None and st.state not in ("Z", "X"):
                return pid, st.start_ticks
    return None


def signal_description(exit_code: int) -> str:
    """``143`` -> ``"SIGTERM"``: the signal behind a shell-style exit code above 128."""
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return f"signal {exit_code - 128}"
