"""Stopping jobs: SIGTERM to every process group now, SIGKILL after the grace, cleanup."""

from __future__ import annotations

import time
from collections.abc import Callable

from hanzo_ml_lab.runtime import JobKey, LocalRuntime

from .helpers import (
    alive,
    by_name,
    control_plane_that_dies,
    group_members,
    py,
    spec,
    statuses,
    wait_finished,
    wait_for,
    wait_members,
)

NewKey = Callable[[str], JobKey]

IGNORES_SIGTERM = py(
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(300)"
)


def test_terminate_kills_every_process_of_the_job_including_grandchildren(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("tree")
    forks = py("import os, time\nif os.fork() == 0:\n    os.fork()\ntime.sleep(300)")
    runtime.launch(
        key,
        [
            spec("Master", 0, ["sh", "-c", "sleep 300 & sleep 300"]),
            spec("Worker", 0, forks),
        ],
    )
    st = by_name(runtime.status(key))
    # shim + sleep + sleep (+ sh); shim + python + child + grandchild
    want = {"master-0": 3, "worker-0": 4}
    everything = [p for name, n in want.items() for p in wait_members(st[name].pid or 0, n)]

    t = time.perf_counter()
    runtime.terminate(key, grace_seconds=10)
    assert time.perf_counter() - t < 0.5

    wait_for(lambda: not any(alive(p) for p in everything), timeout=5, what="every pid gone")
    done = by_name(wait_finished(runtime, key))
    for s in done.values():
        assert (s.state, s.exit_code) == ("Failed", 143), s
        assert "SIGTERM" in s.message


def test_a_process_ignoring_sigterm_is_sigkilled_after_the_grace_without_blocking_the_caller(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("stubborn")
    runtime.launch(key, [spec("Worker", 0, IGNORES_SIGTERM)])
    wait_for(lambda: runtime.tail(key, "worker-0") == ["ready"])
    (s,) = statuses(runtime, key)

    t = time.perf_counter()
    runtime.terminate(key, grace_seconds=0.5)
    runtime.terminate(key, grace_seconds=0.5)  # idempotent: the deadline does not move
    assert time.perf_counter() - t < 0.3
    time.sleep(0.2)
    assert alive(s.pid or 0) and runtime.status(key)[0].state == "Running"  # type: ignore[index]

    wait_for(lambda: not group_members(s.pid or 0), timeout=3, what="SIGKILL after grace")
    (end,) = wait_finished(runtime, key)
    assert (end.state, end.exit_code) == ("Failed", 137)
    assert "SIGKILL" in end.message and "grace" in end.message


def test_sigkill_after_the_grace_still_happens_when_the_control_plane_died_meanwhile(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("orphan")
    pids = control_plane_that_dies(
        runtime.root, key, [spec("Worker", 0, IGNORES_SIGTERM)], terminate_grace=0.3
    )
    # The control plane died before its timer fired: the replica ignores SIGTERM and lives on.
    time.sleep(0.5)
    assert alive(pids["worker-0"])

    restarted = LocalRuntime(runtime.root)
    (s,) = statuses(restarted, key)  # the next look past the deadline escalates
    wait_for(lambda: not alive(pids["worker-0"]), timeout=3, what="SIGKILL on restart")
    (s,) = wait_finished(restarted, key)
    assert (s.state, s.exit_code) == ("Failed", 137)


def test_a_shorter_grace_on_a_later_terminate_wins(runtime: LocalRuntime, new_key: NewKey) -> None:
    key = new_key("hurry")
    runtime.launch(key, [spec("Worker", 0, IGNORES_SIGTERM)])
    wait_for(lambda: runtime.tail(key, "worker-0") == ["ready"])
    runtime.terminate(key, grace_seconds=60)
    runtime.terminate(key, grace_seconds=0)
    (s,) = wait_finished(runtime, key, timeout=3)
    assert s.exit_code == 137


def test_cleanup_kills_what_runs_and_removes_the_job_directory(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("gone")
    runtime.launch(key, [spec("Worker", 0, ["sh", "-c", "sleep 300 & sleep 300"])])
    (s,) = statuses(runtime, key)
    members = wait_members(s.pid or 0, 3)
    job_dir = runtime.root / key.namespace / key.name / key.uid

    runtime.cleanup(key)
    assert not job_dir.exists() and not (runtime.root / key.namespace).exists()
    wait_for(lambda: not any(alive(p) for p in members), timeout=3)
    assert runtime.status(key) is None
    assert runtime.list_launched() == []
    runtime.cleanup(key)  # idempotent


def test_terminating_right_after_launch_still_reaches_the_command(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    # SIGTERM can land while the shim is still starting its command; it must not be lost
    # (which would leave the replica running until the SIGKILL after the grace).
    keys = [new_key(f"early-{i}") for i in range(20)]
    for key in keys:
        runtime.launch(key, [spec("Worker", 0, ["sleep", "300"])])
        runtime.terminate(key, grace_seconds=30)
    t = time.monotonic()
    for key in keys:
        (s,) = wait_finished(runtime, key, timeout=5)
        assert s.exit_code == 143, s
    assert time.monotonic() - t < 3
