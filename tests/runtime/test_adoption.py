"""A control plane that dies and restarts: jobs outlive it and are re-adopted from disk."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from hanzo_ml_lab.runtime import JobKey, LocalRuntime
from hanzo_ml_lab.runtime.local import LOST_MESSAGE

from .helpers import (
    alive,
    by_name,
    control_plane_that_dies,
    finished,
    kill_group,
    py,
    spec,
    statuses,
    wait_finished,
    wait_for,
)

NewKey = Callable[[str], JobKey]


def test_a_restarted_runtime_readopts_a_running_job_with_the_same_pid(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("survivor")
    pids = control_plane_that_dies(
        runtime.root,
        key,
        [
            spec("Master", 0, ["sleep", "300"]),
            spec("Worker", 0, py("import time; print('working', flush=True); time.sleep(300)")),
        ],
    )
    restarted = LocalRuntime(runtime.root)
    assert restarted.list_launched() == [key]
    st = by_name(restarted.status(key))
    assert {n: (s.state, s.pid) for n, s in st.items()} == {
        n: ("Running", pid) for n, pid in pids.items()
    }
    wait_for(lambda: restarted.tail(key, "worker-0") == ["working"])

    # It can stop what it did not start, and still learn the exit codes.
    restarted.terminate(key, grace_seconds=5)
    st = by_name(wait_finished(restarted, key))
    assert {s.exit_code for s in st.values()} == {143}
    wait_for(lambda: not any(alive(pid) for pid in pids.values()), timeout=3)


def test_the_exit_code_of_a_replica_that_ended_while_the_control_plane_was_down_is_kept(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("quiet-end")
    pids = control_plane_that_dies(
        runtime.root,
        key,
        [
            spec("Worker", 0, ["sh", "-c", "sleep 0.2; exit 7"]),
            spec("Worker", 1, ["sh", "-c", "sleep 0.2"]),
        ],
    )
    wait_for(lambda: not any(alive(p) for p in pids.values()), timeout=5)
    st = by_name(LocalRuntime(runtime.root).status(key))
    assert (st["worker-0"].state, st["worker-0"].exit_code) == ("Failed", 7)
    assert (st["worker-1"].state, st["worker-1"].exit_code) == ("Succeeded", 0)
    assert st["worker-0"].pid == pids["worker-0"]


def test_a_replica_sigkilled_while_the_control_plane_was_down_is_failed_as_lost(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("lost")
    pids = control_plane_that_dies(runtime.root, key, [spec("Worker", 0, ["sleep", "300"])])
    kill_group(pids["worker-0"])  # shim and child, as the OOM killer might
    wait_for(lambda: not alive(pids["worker-0"]))

    restarted = LocalRuntime(runtime.root)
    (s,) = statuses(restarted, key)
    assert (s.state, s.exit_code, s.message) == ("Failed", None, LOST_MESSAGE)
    assert restarted.status(key) == [s]  # the verdict is recorded, not re-guessed


def test_a_replica_sigkilled_under_a_live_control_plane_reports_the_signal(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("oom")
    runtime.launch(key, [spec("Worker", 0, ["sleep", "300"])])
    (s,) = statuses(runtime, key)
    kill_group(s.pid or 0)
    (s,) = wait_finished(runtime, key)
    assert (s.state, s.exit_code, s.message) == ("Failed", 137, "killed by SIGKILL")


def test_a_reused_pid_is_neither_reported_running_nor_signalled(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("reused")
    runtime.launch(key, [spec("Worker", 0, ["true"])])
    wait_for(lambda: finished(runtime.status(key)))
    job_dir = runtime.root / key.namespace / key.name / key.uid
    (job_dir / "exit" / "worker-0").unlink()
    # An unrelated process now holds the recorded pid (its own group leader, like a shim).
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        ticks = int(Path(f"/proc/{bystander.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[19])
        state_file = job_dir / "state.json"
        state = json.loads(state_file.read_text())
        state["replicas"]["worker-0"].update(pid=bystander.pid, start_ticks=ticks - 1)
        state_file.write_text(json.dumps(state))

        restarted = LocalRuntime(runtime.root)
        (s,) = statuses(restarted, key)
        assert s.state == "Failed" and s.exit_code is None
        restarted.terminate(key, grace_seconds=0)
        restarted.cleanup(key)
        assert bystander.poll() is None and alive(bystander.pid)
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()


def test_list_launched_finds_every_job_on_disk(runtime: LocalRuntime, new_key: NewKey) -> None:
    keys = [new_key("a"), new_key("b")]
    for key in keys:
        runtime.launch(key, [spec("Worker", 0, ["true"])])
    assert sorted(LocalRuntime(runtime.root).list_launched(), key=lambda k: k.name) == keys
