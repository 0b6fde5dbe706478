"""Launching replicas: outcomes, logs, idempotence, and what the process is given."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hanzo_ml_lab.runtime import JobKey, LocalRuntime, ReplicaSpec

from .helpers import alive, by_name, finished, py, spec, statuses, wait_finished, wait_for

NewKey = Callable[[str], JobKey]


def test_two_replicas_that_exit_0_succeed_with_their_own_logs(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("ok")
    runtime.launch(
        key,
        [
            spec("Master", 0, py("print('hello from master')")),
            spec(
                "Worker",
                0,
                py("import sys; print('hello from worker'); print('err', file=sys.stderr)"),
            ),
        ],
    )
    st = by_name(wait_finished(runtime, key))
    assert set(st) == {"master-0", "worker-0"}
    for s in st.values():
        assert (s.state, s.exit_code, s.message) == ("Succeeded", 0, "")
        assert s.pid and s.started_at and s.finished_at and s.finished_at >= s.started_at
    assert runtime.replicas_with_logs(key) == ["master-0", "worker-0"]
    master_log = runtime.log_path(key, "master-0")
    assert master_log is not None and master_log.read_text() == "hello from master\n"
    assert runtime.tail(key, "worker-0") == ["hello from worker", "err"]
    assert master_log == runtime.root / key.namespace / key.name / key.uid / "logs/master-0.log"


def test_failing_replica_reports_its_exit_code_and_tail_shows_its_last_lines(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("fails")
    code = "import sys\nfor i in range(50): print('line', i)\nsys.exit('boom: out of cheese')"
    runtime.launch(key, [spec("Worker", 0, py(code))])
    (s,) = wait_finished(runtime, key)
    assert (s.state, s.exit_code, s.message) == ("Failed", 1, "exited with code 1")
    assert runtime.tail(key, "worker-0", lines=3) == ["line 48", "line 49", "boom: out of cheese"]


def test_a_command_that_does_not_exist_fails_with_127(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("missing")
    runtime.launch(key, [spec("Worker", 0, ["no-such-program-hanzo"])])
    (s,) = wait_finished(runtime, key)
    assert (s.state, s.exit_code) == ("Failed", 127)
    assert "not found" in runtime.tail(key, "worker-0")[-1]


def test_launching_again_starts_nothing_new(runtime: LocalRuntime, new_key: NewKey) -> None:
    key = new_key("idem")
    replicas = [spec("Master", 0, ["sleep", "30"]), spec("Worker", 0, ["sleep", "30"])]
    runtime.launch(key, replicas)
    pids = {s.name: s.pid or 0 for s in statuses(runtime, key)}
    runtime.launch(key, replicas)
    LocalRuntime(runtime.root).launch(key, replicas)  # and after a restart
    assert {s.name: s.pid for s in statuses(runtime, key)} == pids
    assert sorted(_shims_of(key)) == sorted(pids.values())  # one shim per replica, no more


def _shims_of(key: JobKey) -> list[int]:
    """Pids of the shims (process group leaders) whose argv names ``key``'s directory."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            pgid = int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[2])
        except OSError:
            continue
        if key.uid.encode() in argv and pgid == int(pid):
            found.append(int(pid))
    return found


def test_launch_adds_only_the_replicas_that_are_missing(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("partial")
    master = spec("Master", 0, ["sleep", "30"])
    runtime.launch(key, [master])
    (first,) = statuses(runtime, key)
    runtime.launch(key, [master, spec("Worker", 0, ["sleep", "30"]), spec("Worker", 1, ["true"])])
    st = by_name(runtime.status(key))
    assert set(st) == {"master-0", "worker-0", "worker-1"}
    assert st["master-0"].pid == first.pid


def test_a_launch_cut_short_before_the_pid_was_saved_adopts_the_shim_instead_of_starting_twice(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("cut")
    replicas = [spec("Worker", 0, ["sleep", "30"])]
    runtime.launch(key, replicas)
    (before,) = statuses(runtime, key)
    # What disk looks like if the control plane died between the spawn and the second save.
    state_file = runtime.root / key.namespace / key.name / key.uid / "state.json"
    state = json.loads(state_file.read_text())
    state["replicas"]["worker-0"].update(pid=None, start_ticks=None)
    state_file.write_text(json.dumps(state))

    restarted = LocalRuntime(runtime.root)
    restarted.launch(key, replicas)
    (after,) = statuses(restarted, key)
    assert (after.state, after.pid) == ("Running", before.pid)


def test_arguments_reach_the_command_verbatim_and_env_is_added(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("argv")
    tricky = ["a b", "$HOME", "'; touch pwned; '", "`id`", "*", ""]
    code = (
        "import json, os, sys; print(json.dumps([sys.argv[1:], os.getcwd(), "
        "os.environ['GREETING'], os.environ['PYTHONUNBUFFERED'], 'PATH' in os.environ]))"
    )
    runtime.launch(key, [spec("Worker", 0, [*py(code), *tricky], env={"GREETING": "hi there"})])
    wait_for(lambda: finished(runtime.status(key)))
    argv, cwd, greeting, unbuffered, has_path = json.loads(runtime.tail(key, "worker-0")[-1])
    job_dir = runtime.root / key.namespace / key.name / key.uid
    assert argv == tricky
    assert Path(cwd) == job_dir  # working_dir defaults to the job's directory
    assert (greeting, unbuffered, has_path) == ("hi there", "1", True)
    assert not (job_dir / "pwned").exists()


def test_working_dir_is_created_and_used(
    runtime: LocalRuntime, new_key: NewKey, tmp_path: Path
) -> None:
    key = new_key("wd")
    wd = tmp_path / "deep" / "work"
    runtime.launch(
        key, [spec("Worker", 0, py("import os; print(os.getcwd())"), working_dir=str(wd))]
    )
    wait_for(lambda: finished(runtime.status(key)))
    assert runtime.tail(key, "worker-0") == [str(wd)]


def test_launch_returns_quickly(runtime: LocalRuntime, new_key: NewKey) -> None:
    key = new_key("fast")
    t = time.perf_counter()
    runtime.launch(key, [spec("Worker", i, ["sleep", "30"]) for i in range(4)])
    assert time.perf_counter() - t < 0.5


@pytest.mark.parametrize(
    ("key", "replicas", "message"),
    [
        (JobKey("tenant-acme", "../etc", "u1"), [], "key.name"),
        (JobKey("tenant-acme", "ok", "a/b"), [], "key.uid"),
        (JobKey("ns", "ok", "u"), [ReplicaSpec("Chief", 0, ["true"], {})], "replica_type"),
        (JobKey("ns", "ok", "u"), [ReplicaSpec("Worker", -1, ["true"], {})], "replicas[0].index"),
        (JobKey("ns", "ok", "u"), [ReplicaSpec("Worker", 0, [], {})], "replicas[0].command"),
        (
            JobKey("ns", "ok", "u"),
            [ReplicaSpec("Worker", 0, ["true"], {}), ReplicaSpec("Worker", 0, ["true"], {})],
            "duplicate replica worker-0",
        ),
    ],
)
def test_bad_key_or_spec_is_rejected_naming_the_field(
    runtime: LocalRuntime, key: JobKey, replicas: list[ReplicaSpec], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        runtime.launch(key, replicas)
    assert runtime.list_launched() == []


def test_status_of_a_job_never_launched_is_none(runtime: LocalRuntime, new_key: NewKey) -> None:
    key = new_key("never")
    assert runtime.status(key) is None
    assert runtime.replicas_with_logs(key) == []
    assert runtime.log_path(key, "worker-0") is None
    assert runtime.tail(key, "worker-0") == []
    assert list(runtime.read_logs(key, follow=True)) == []
    runtime.terminate(key)
    runtime.cleanup(key)


def test_a_terminated_job_is_not_launched_again(runtime: LocalRuntime, new_key: NewKey) -> None:
    key = new_key("done")
    replicas = [spec("Worker", 0, ["sleep", "30"])]
    runtime.launch(key, replicas)
    (s,) = statuses(runtime, key)
    runtime.terminate(key, grace_seconds=5)
    wait_for(lambda: not alive(s.pid or 0))
    runtime.launch(key, [*replicas, spec("Worker", 1, ["sleep", "30"])])
    assert [x.name for x in statuses(runtime, key)] == ["worker-0"]


def test_capacity_reports_this_machine_and_honours_the_gpu_override(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANZO_ML_LOCAL_GPUS", "3")
    cap = LocalRuntime(root).capacity()
    assert cap.gpus == 3 and cap.cpus >= 1 and cap.memory_bytes > 2**20
    monkeypatch.setenv("HANZO_ML_LOCAL_GPUS", "two")
    with pytest.raises(ValueError, match="HANZO_ML_LOCAL_GPUS: must be an integer"):
        LocalRuntime(root).capacity()


def test_concurrent_launches_start_each_replica_once(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("race")
    replicas = [spec("Worker", i, ["sleep", "30"]) for i in range(3)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait()
            LocalRuntime(runtime.root).launch(key, replicas)
            runtime.status(key)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    shims = _shims_of(key)
    assert len(shims) == 3
    assert sorted(s.pid or 0 for s in statuses(runtime, key)) == sorted(shims)


def test_finished_replicas_leave_no_zombies_in_the_control_plane(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("reaped")
    runtime.launch(key, [spec("Worker", i, ["true"]) for i in range(5)])
    st = wait_finished(runtime, key)
    pids = [s.pid for s in st if s.pid]
    # A shim exits just after recording its status; the next look collects it.
    wait_for(
        lambda: runtime.status(key) and not any(_is_zombie_child(p) for p in pids),
        timeout=3,
        what="zombies reaped",
    )


def _is_zombie_child(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    return fields[0] == b"Z" and int(fields[1]) == os.getpid()
