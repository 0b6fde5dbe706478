"""The local runtime: each replica is a process group on this machine (the embedded mode).

Everything about a job lives on disk, under ``root/<namespace>/<name>/<uid>/``::

    state.json          the replicas started: pid, start time, when; terminate requests
    logs/<replica>.log  stdout and stderr of the replica (master-0, worker-1, ps-0)
    exit/<replica>      its exit status, written by the shim when it ends (see ``_shim``)

so the control plane holds nothing that a SIGKILL could lose. A new ``LocalRuntime`` on the
same root (the control plane restarted) sees every job as the old one did: replicas that still
run are reported Running with the same pid, ones that ended meanwhile with the exit code their
shim recorded, ones that were SIGKILLed (shim and all) as Failed and lost.

Each replica is the leader of its own session and process group, so it survives the control
plane, has no controlling terminal, and one ``killpg`` reaches everything it spawned (torch
launchers, DataLoader workers). Processes are named by pid *and* start time (``_procs``), so
a reused pid is never mistaken for a replica, let alone signalled.

Concurrency: one lock per job key, shared by every ``LocalRuntime`` on the same root in this
process. Two control planes on one root at once are not supported (the embedded server keeps
a single instance per ``HANZO_ML_HOME``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from . import _procs
from ._base import (
    Capacity,
    JobKey,
    LaunchError,
    LogChunk,
    ReplicaSpec,
    ReplicaStatus,
    Runtime,
    is_finished,
    validate_key,
    validate_replicas,
)
from ._capacity import detect_capacity
from ._logs import (
    CHUNK_BYTES,
    decode_cursor,
    encode_cursor,
    last_lines,
    read_from,
    tail_offset,
    utf8_safe_end,
)
from ._shim import SHIM_ARGV0, read_exit_file, shim_argv, write_exit_file

__all__ = ["LocalRuntime"]

log = logging.getLogger(__name__)

STATE_VERSION: Final = 1
POLL_SECONDS: Final = 0.1
"""How often a following reader looks for new output (and at ``stop``)."""
PARTIAL_LINE_SECONDS: Final = 1.0
"""A follower holds an unfinished line back this long, hoping for its newline, then sends it."""

YOUNG_SECONDS: Final = 1.0
RETERM_SECONDS: Final = 0.3
"""Replicas younger than ``YOUNG_SECONDS`` when terminated get a second SIGTERM after
``RETERM_SECONDS`` (see ``LocalRuntime._reterm_young``)."""

LOST_MESSAGE: Final = (
    "killed (SIGKILL) or lost while the control plane was down: "
    "the replica ended without recording an exit status"
)

_locks_guard = threading.Lock()
_locks: dict[tuple[str, JobKey], threading.RLock] = {}


def _key_lock(root: Path, key: JobKey) -> threading.RLock:
    with _locks_guard:
        lock = _locks.get((str(root), key))
        if lock is None:
            lock = _locks[(str(root), key)] = threading.RLock()
        return lock


@dataclass
class _Child:
    """A shim this process started, kept so it can be reaped (no zombies in the control
    plane) and so a signal death is known even though no exit file was written."""

    popen: subprocess.Popen[bytes]
    exit_file: Path


class LocalRuntime(Runtime):
    """Runs replicas as local process groups; state under ``root`` (see the module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self._lock = threading.Lock()  # guards the dicts below, never held across I/O waits
        self._children: dict[int, _Child] = {}
        self._signal_deaths: dict[Path, int] = {}  # exit file -> negative returncode
        self._timers: dict[JobKey, threading.Timer] = {}
        self._capacity: Capacity | None = None

    def __repr__(self) -> str:
        return f"LocalRuntime(root={str(self.root)!r})"

    # ---------------------------------------------------------------- layout

    def job_dir(self, key: JobKey) -> Path:
        validate_key(key)
        return self.root / key.namespace / key.name / key.uid

    @staticmethod
    def _exit_file(d: Path, name: str) -> Path:
        return d / "exit" / name

    @staticmethod
    def _log_file(d: Path, name: str) -> Path:
        return d / "logs" / f"{name}.log"

    # ----------------------------------------------------------------- state

    @staticmethod
    def _load(d: Path) -> dict[str, Any] | None:
        try:
            raw = (d / "state.json").read_bytes()
        except FileNotFoundError:
            return None
        try:
            state: dict[str, Any] = json.loads(raw)
        except ValueError as e:
            raise RuntimeError(f"{d / 'state.json'}: unreadable runtime state: {e}") from None
        return state

    @staticmethod
    def _save(d: Path, state: dict[str, Any]) -> None:
        tmp = d / f".state.json.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, d / "state.json")

    @staticmethod
    def _same_boot(state: dict[str, Any]) -> bool:
        recorded, now = state.get("boot_id"), _procs.boot_id()
        return recorded is None or now is None or recorded == now

    # ------------------------------------------------------------- reaping

    def _reap(self) -> None:
        """Collect every child of ours that ended, so none stays a zombie."""
        with self._lock:
            for pid, child in list(self._children.items()):
                rc = child.popen.poll()
                if rc is not None:
                    del self._children[pid]
                    if rc < 0:
                        self._signal_deaths[child.exit_file] = rc

    # ---------------------------------------------------------------- capacity

    def capacity(self) -> Capacity:
        if self._capacity is None:
            self._capacity = detect_capacity()
        return self._capacity

    # ------------------------------------------------------------------ launch

    def launch(self, key: JobKey, replicas: list[ReplicaSpec]) -> None:
        validate_replicas(replicas)
        d = self.job_dir(key)
        with _key_lock(self.root, key):
            self._reap()
            state = self._load(d)
            if state is not None and state.get("terminate"):
                return  # a terminated job is never started again; a re-created one has a new uid
            if state is None:
                (d / "logs").mkdir(parents=True, exist_ok=True)
                (d / "exit").mkdir(exist_ok=True)
                state = {
                    "version": STATE_VERSION,
                    "key": {"namespace": key.namespace, "name": key.name, "uid": key.uid},
                    "boot_id": _procs.boot_id(),
                    "created_at": time.time(),
                    "replicas": {},
                    "terminate": None,
                }
            recs: dict[str, dict[str, Any]] = state["replicas"]
            dirty = self._resolve_interrupted(d, state)
            todo: list[ReplicaSpec] = []
            for spec in replicas:
                rec = recs.get(spec.name)
                if rec is None:
                    recs[spec.name] = self._new_record(spec)
                    todo.append(spec)
                elif rec["pid"] is None and read_exit_file(self._exit_file(d, spec.name)) is None:
                    todo.append(spec)  # recorded as about to start, but it never did
            if not todo:
                if dirty:
                    self._save(d, state)
                return
            # Say what is about to start before starting it: if we die between the spawn and
            # the next save, a restarted runtime finds the shims by their argv (see
            # _resolve_interrupted) instead of starting them twice.
            self._save(d, state)
            try:
                for spec in todo:
                    recs[spec.name].update(self._spawn(d, spec))
            except BaseException:
                for spec in todo:
                    if recs[spec.name]["pid"] is None:
                        del recs[spec.name]
                self._save(d, state)
                raise
            self._save(d, state)

    @staticmethod
    def _new_record(spec: ReplicaSpec) -> dict[str, Any]:
        return {
            "replica_type": spec.replica_type,
            "index": spec.index,
            "pid": None,
            "start_ticks": None,
            "started_at": None,
            "sigterm_at": None,
            "sigkill_at": None,
        }

    def _spawn(self, d: Path, spec: ReplicaSpec) -> dict[str, Any]:
        name = spec.name
        wd = d if spec.working_dir is None else d / Path(spec.working_dir).expanduser()
        try:
            wd.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LaunchError(f"replica {name}: working_dir: cannot create {wd}: {e}") from e
        env = dict(os.environ)
        env.update(spec.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        exit_file = self._exit_file(d, name)
        log_fd = os.open(
            self._log_file(d, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        started_at = time.time()
        try:
            popen = subprocess.Popen(
                shim_argv(exit_file, spec.command),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                cwd=wd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as e:
            raise LaunchError(f"replica {name}: cannot start /bin/sh: {e}") from e
        finally:
            os.close(log_fd)
        st = _procs.proc_stat(popen.pid)
        with self._lock:
            self._children[popen.pid] = _Child(popen, exit_file)
        return {
            "pid": popen.pid,
            "start_ticks": st.start_ticks if st else None,
            "started_at": started_at,
        }

    def _resolve_interrupted(self, d: Path, state: dict[str, Any]) -> bool:
        """Adopt replicas recorded as about to start whose pid was never saved (the control
        plane died in between): find their shim by its argv. True if ``state`` changed."""
        pending = [
            (name, rec)
            for name, rec in state["replicas"].items()
            if rec["pid"] is None and read_exit_file(self._exit_file(d, name)) is None
        ]
        if not pending or not self._same_boot(state):
            return False
        changed = False
        for name, rec in pending:
            found = _procs.find_by_argv([SHIM_ARGV0, str(self._exit_file(d, name))])
            if found is not None:
                rec["pid"], rec["start_ticks"] = found
                rec["started_at"] = rec["started_at"] or time.time()
                changed = True
        return changed

    # ------------------------------------------------------------------ status

    def status(self, key: JobKey) -> list[ReplicaStatus] | None:
        d = self.job_dir(key)
        with _key_lock(self.root, key):
            self._reap()
            state = self._load(d)
            if state is None:
                return None
            dirty = self._resolve_interrupted(d, state)
            dirty |= self._escalate_if_due(state)
            if dirty:
                self._save(d, state)
            return [
                self._replica_status(d, state, name, rec) for name, rec in state["replicas"].items()
            ]

    def _replica_status(
        self, d: Path, state: dict[str, Any], name: str, rec: dict[str, Any]
    ) -> ReplicaStatus:
        exit_file = self._exit_file(d, name)

        def make(st: str, code: int | None, finished: float | None, msg: str) -> ReplicaStatus:
            return ReplicaStatus(
                replica_type=rec["replica_type"],
                index=rec["index"],
                state=st,
                pid=rec["pid"],
                exit_code=code,
                started_at=rec["started_at"],
                finished_at=finished,
                message=msg,
            )

        ended = read_exit_file(exit_file)
        if ended is None:
            if rec["pid"] is None:
                if state.get("terminate"):
                    return make(
                        "Failed",
                        None,
                        state["terminate"]["requested_at"],
                        "terminated before it started",
                    )
                return make("Pending", None, None, "its launch was interrupted; launch again")
            if self._same_boot(state) and _procs.process_alive(rec["pid"], rec["start_ticks"]):
                return make("Running", None, None, "")
            ended = read_exit_file(exit_file)  # it may have finished just now
            if ended is None:
                code, msg = self._how_it_died(state, rec, exit_file)
                write_exit_file(exit_file, code, msg)  # so the verdict stays fixed
                ended = read_exit_file(exit_file) or (code, msg, time.time())
        code, msg, finished_at = ended
        if rec["started_at"] is not None:  # file times come from a coarser clock
            finished_at = max(finished_at, rec["started_at"])
        if code == 0:
            return make("Succeeded", 0, finished_at, msg)
        return make("Failed", code, finished_at, msg or _describe_exit(code))

    def _how_it_died(
        self, state: dict[str, Any], rec: dict[str, Any], exit_file: Path
    ) -> tuple[int | None, str]:
        with self._lock:
            child = self._children.get(rec["pid"])
        if child is not None and child.exit_file == exit_file:
            # Ours, and seen dead (a zombie): collect its status now rather than call it lost.
            try:
                child.popen.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            self._reap()
        with self._lock:
            rc = self._signal_deaths.pop(exit_file, None)
        term = state.get("terminate") or {}
        after_grace = f" after the {term.get('grace_seconds', 0):g}s grace period"
        if rc is not None:
            code = 128 - rc
            sig = _procs.signal_description(code)
            return code, f"killed by {sig}" + (after_grace if rec.get("sigkill_at") else "")
        if rec.get("sigkill_at"):
            return 137, "killed by SIGKILL" + after_grace
        if not self._same_boot(state):
            return None, "lost: the machine restarted while the replica ran"
        return None, LOST_MESSAGE

    # --------------------------------------------------------------- terminate

    def terminate(self, key: JobKey, *, grace_seconds: float = 10.0) -> None:
        if grace_seconds < 0:
            raise ValueError(f"grace_seconds: must be >= 0, got {grace_seconds}")
        d = self.job_dir(key)
        with _key_lock(self.root, key):
            self._reap()
            state = self._load(d)
            if state is None:
                return
            changed = self._resolve_interrupted(d, state)
            rearm = False
            now = time.time()
            term = state.get("terminate")
            if term is None:
                term = state["terminate"] = {
                    "requested_at": now,
                    "grace_seconds": grace_seconds,
                    "deadline": now + grace_seconds,
                    "escalated_at": None,
                }
                signalled = young = False
                for _name, rec in self._live_groups(d, state):
                    if _procs.signal_group(rec["pid"], rec["start_ticks"], signal.SIGTERM):
                        rec["sigterm_at"] = now
                        signalled = True
                        young |= now - (rec["started_at"] or 0.0) < YOUNG_SECONDS
                if not signalled:
                    term["escalated_at"] = now  # nothing runs: nothing to SIGKILL later
                elif young and grace_seconds > RETERM_SECONDS:
                    timer = threading.Timer(RETERM_SECONDS, self._reterm_young, (key,))
                    timer.daemon = True
                    timer.start()
                changed = True
            elif not term["escalated_at"] and now + grace_seconds < term["deadline"]:
                term["deadline"] = now + grace_seconds  # a shorter grace on a later call wins
                term["grace_seconds"] = round(term["deadline"] - term["requested_at"], 3)
                changed = rearm = True
            changed |= self._escalate_if_due(state)
            if changed:
                self._save(d, state)
            with self._lock:
                armed = key in self._timers
            if not term["escalated_at"] and (rearm or not armed):
                self._arm_timer(key, term["deadline"] - now)

    def _live_groups(self, d: Path, state: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Replicas whose process group may still hold a live process."""
        if not self._same_boot(state):
            return
        for name, rec in state["replicas"].items():
            if rec["pid"] is not None and _procs.group_alive(rec["pid"], rec["start_ticks"]):
                yield name, rec

    def _escalate_if_due(self, state: dict[str, Any]) -> bool:
        """SIGKILL every group still alive once the grace is over. True if ``state`` changed."""
        term = state.get("terminate")
        if not term or term["escalated_at"] or time.time() < term["deadline"]:
            return False
        now = time.time()
        if self._same_boot(state):
            for rec in state["replicas"].values():
                if rec["pid"] is None:
                    continue
                alive = _procs.process_alive(rec["pid"], rec["start_ticks"])
                if _procs.signal_group(rec["pid"], rec["start_ticks"], signal.SIGKILL) and alive:
                    rec["sigkill_at"] = now
        term["escalated_at"] = now
        return True

    def _reterm_young(self, key: JobKey) -> None:
        """SIGTERM again the replicas that were under ``YOUNG_SECONDS`` old when terminated.

        The first SIGTERM can miss a command whose shell was between ``fork`` and ``exec`` (see
        ``_shim``); a second one a moment later reaches it. A process that did get the first and
        is shutting down gets a second one, which well-behaved handlers take in their stride.
        """
        try:
            d = self.job_dir(key)
            with _key_lock(self.root, key):
                state = self._load(d)
                term = state.get("terminate") if state else None
                if not state or not term or term["escalated_at"] or not self._same_boot(state):
                    return
                requested = term["requested_at"]
                for name, rec in state["replicas"].items():
                    if (
                        rec["pid"] is not None
                        and rec["sigterm_at"] is not None
                        and requested - (rec["started_at"] or 0.0) < YOUNG_SECONDS
                        and read_exit_file(self._exit_file(d, name)) is None
                        and _procs.process_alive(rec["pid"], rec["start_ticks"])
                    ):
                        _procs.signal_group(rec["pid"], rec["start_ticks"], signal.SIGTERM)
        except FileNotFoundError:
            pass
        except Exception:  # a timer thread has nobody to raise to
            log.exception("second sigterm failed", extra={"job": key})

    def _arm_timer(self, key: JobKey, delay: float) -> None:
        with self._lock:
            old = self._timers.pop(key, None)
            if old is not None:
                old.cancel()
            timer = threading.Timer(max(0.0, delay) + 0.01, self._timer_fired, (key,))
            timer.daemon = True
            timer.name = f"hanzo-ml-sigkill-{key.namespace}/{key.name}"
            self._timers[key] = timer
        timer.start()

    def _timer_fired(self, key: JobKey) -> None:
        with self._lock:
            if self._timers.get(key) is threading.current_thread():
                del self._timers[key]
        try:
            d = self.job_dir(key)
            with _key_lock(self.root, key):
                state = self._load(d)
                if state is not None and self._escalate_if_due(state):
                    self._save(d, state)
                self._reap()
        except FileNotFoundError:
            pass  # the job directory went away (cleanup); nothing left to kill
        except Exception:  # a timer thread has nobody to raise to; the next call retries
            log.exception("sigkill after grace failed", extra={"job": key})

    # ----------------------------------------------------------------- cleanup

    def cleanup(self, key: JobKey) -> None:
        d = self.job_dir(key)
        with _key_lock(self.root, key):
            self._reap()
            with self._lock:
                timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()
            state = self._load(d)
            if state is not None:
                for _, rec in self._live_groups(d, state):
                    _procs.signal_group(rec["pid"], rec["start_ticks"], signal.SIGKILL)
                self._wait_children_of(d)
            shutil.rmtree(d, ignore_errors=True)
            with self._lock:
                for path in [p for p in self._signal_deaths if d in p.parents]:
                    del self._signal_deaths[path]
            for parent in (d.parent, d.parent.parent):  # drop <name>/ and <namespace>/ if empty
                try:
                    parent.rmdir()
                except OSError:
                    break

    def _wait_children_of(self, d: Path) -> None:
        with self._lock:
            mine = [(pid, c) for pid, c in self._children.items() if d in c.exit_file.parents]
        for pid, child in mine:
            try:
                child.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                continue
            with self._lock:
                self._children.pop(pid, None)

    # -------------------------------------------------------------------- logs

    def _check_replica(self, replica: str) -> None:
        kind, _, index = replica.partition("-")
        if kind not in ("master", "worker", "ps") or not index.isdigit():
            raise ValueError(f"replica: must look like master-0, worker-1 or ps-0, got {replica!r}")

    def log_path(self, key: JobKey, replica: str) -> Path | None:
        self._check_replica(replica)
        path = self._log_file(self.job_dir(key), replica)
        return path if path.exists() else None

    def replicas_with_logs(self, key: JobKey) -> list[str]:
        try:
            names = [
                e.name[: -len(".log")]
                for e in os.scandir(self.job_dir(key) / "logs")
                if e.name.endswith(".log")
            ]
        except FileNotFoundError:
            return []
        return sorted(names, key=_replica_sort_key)

    def tail(self, key: JobKey, replica: str, lines: int = 20) -> list[str]:
        self._check_replica(replica)
        return last_lines(self._log_file(self.job_dir(key), replica), lines)

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
        # Validate eagerly (before the first next()) so bad input fails where it is passed.
        if replica is not None:
            self._check_replica(replica)
        offsets = decode_cursor(since) if since is not None else {}
        if tail_lines is not None and tail_lines < 0:
            raise ValueError(f"tail_lines: must be >= 0, got {tail_lines}")
        d = self.job_dir(key)
        return self._follow_logs(
            key,
            d,
            replica,
            offsets,
            since is None and tail_lines is not None,
            tail_lines or 0,
            follow,
            stop,
        )

    def _follow_logs(
        self,
        key: JobKey,
        d: Path,
        replica: str | None,
        offsets: dict[str, int],
        use_tail: bool,
        tail_lines: int,
        follow: bool,
        stop: threading.Event | None,
    ) -> Iterator[LogChunk]:
        held_since: dict[str, tuple[int, float]] = {}  # replica -> (offset, when first held)
        first_round = True
        progressed = False
        while True:
            if stop is not None and stop.is_set():
                return
            # Decide "finished" before reading: output written before the end is then surely
            # read in this round, so a quiet round after it means everything was read.
            finished = False
            if follow and not progressed:
                finished = is_finished(self.status(key))
            progressed = holding = False
            names = [replica] if replica is not None else self.replicas_with_logs(key)
            for name in names:
                path = self._log_file(d, name)
                if name not in offsets:
                    if use_tail and first_round:
                        offsets[name] = tail_offset(path, tail_lines)
                    else:
                        offsets[name] = 0
                data, _ = read_from(path, offsets[name])
                if not data:
                    continue
                n = _chunk_end(data, follow, finished, held_since.get(name), offsets[name])
                if n == 0:
                    holding = True
                    if held_since.get(name, (-1, 0.0))[0] != offsets[name]:
                        held_since[name] = (offsets[name], time.monotonic())
                    continue
                held_since.pop(name, None)
                offsets[name] += n
                progressed = True
                text = data[:n].decode("utf-8", "replace")
                yield LogChunk(replica=name, text=text, cursor=encode_cursor(offsets))
                if stop is not None and stop.is_set():
                    return
            first_round = False
            if progressed:
                continue
            if not follow or (finished and not holding):
                return
            if stop is not None:
                if stop.wait(POLL_SECONDS):
                    return
            else:
                time.sleep(POLL_SECONDS)

    # ------------------------------------------------------------------ listing

    def list_launched(self) -> list[JobKey]:
        keys: list[JobKey] = []
        for state_file in sorted(self.root.glob("*/*/*/state.json")):
            uid_dir = state_file.parent
            keys.append(JobKey(uid_dir.parent.parent.name, uid_dir.parent.name, uid_dir.name))
        return keys


def _chunk_end(
    data: bytes,
    follow: bool,
    finished: bool,
    held: tuple[int, float] | None,
    offset: int,
) -> int:
    """How many bytes of ``data`` (new output at ``offset``) to send now; 0 to wait for more.

    Chunks end at a newline when they can. An unfinished line is sent when there is no more to
    wait for (not following, or the job has ended), when it fills a whole chunk, or when a
    follower has waited ``PARTIAL_LINE_SECONDS`` for its newline (a progress bar redrawn with
    ``\\r``). Except at the very end, a chunk never splits a UTF-8 character.
    """
    newline = data.rfind(b"\n")
    if newline >= 0:
        return newline + 1
    if follow and finished:
        return len(data)
    if not follow or len(data) >= CHUNK_BYTES:
        return utf8_safe_end(data)
    if (
        held is not None
        and held[0] == offset
        and time.monotonic() - held[1] >= PARTIAL_LINE_SECONDS
    ):
        return utf8_safe_end(data)
    return 0


def _describe_exit(code: int | None) -> str:
    if code is None:
        return LOST_MESSAGE
    if code > 128:
        return f"terminated by {_procs.signal_description(code)} (exit code {code})"
    return f"exited with code {code}"


def _replica_sort_key(name: str) -> tuple[int, int, str]:
    kind, _, index = name.partition("-")
    order = {"master": 0, "ps": 1, "worker": 2}.get(kind, 3)
    return (order, int(index) if index.isdigit() else -1, name)
