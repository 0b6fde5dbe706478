"""TrainingJobs run for real: local process groups, phases, logs, cancel, failure, restarts."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from tests.conftest import ControlPlane, wait_for

pytestmark = pytest.mark.timeout(120)


def job(name: str, code: str, *, workers: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "framework": "pytorch",
            "command": ["python", "-c", code],
            "workers": {"replicas": workers},
            **spec,
        },
    }


def finished(cp: ControlPlane, name: str, timeout: float = 60) -> dict[str, Any]:
    client = cp.client("acme")

    def done() -> dict[str, Any] | None:
        obj = client.get("TrainingJob", name)
        return obj if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    return wait_for(done, timeout, message=f"{name} to finish")  # type: ignore[no-any-return]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_two_workers_get_torchrun_env_and_succeed(
    control_plane_with_controller: ControlPlane,
) -> None:
    cp = control_plane_with_controller
    code = (
        "import os, json; print(json.dumps({k: os.environ[k] for k in "
        "('RANK','WORLD_SIZE','MASTER_ADDR','MASTER_PORT','HANZO_ML_RUN','HANZO_ML_JOB')}))"
    )
    cp.client("acme").create(job("envcheck", code, workers=2))
    done = finished(cp, "envcheck")
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert status["workersTotal"] == 2
    assert {r["exitCode"] for r in status["replicaStatuses"]} == {0}
    assert status["startTime"] and status["completionTime"]
    with cp.http("acme") as http:
        lines = [json.loads(x) for x in http.get("/v1/ml/jobs/envcheck/logs").text.splitlines()]
    envs = [json.loads(c["text"]) for c in lines if c["text"].startswith("{")]
    assert sorted(e["RANK"] for e in envs) == ["0", "1"]
    assert {e["WORLD_SIZE"] for e in envs} == {"2"}
    assert len({e["MASTER_PORT"] for e in envs}) == 1
    assert {e["HANZO_ML_RUN"] for e in envs} == {"envcheck"}
    run = cp.client("acme").get("Run", "envcheck")
    assert run["spec"]["source"] == {"kind": "TrainingJob", "name": "envcheck"}
    wait_for(
        lambda: (
            (cp.client("acme").get("Run", "envcheck").get("status") or {}).get("phase")
            == "Succeeded"
        ),
        10,
        message="run mirrors the job",
    )


def test_a_failing_script_ends_failed_with_exit_code_and_last_lines(
    control_plane_with_controller: ControlPlane,
) -> None:
    cp = control_plane_with_controller
    code = (
        "import sys; print('loading data'); print('boom: bad shape', file=sys.stderr); sys.exit(3)"
    )
    cp.client("acme").create(job("crash", code))
    status = finished(cp, "crash")["status"]
    assert status["phase"] == "Failed"
    assert status["failureReason"] == "ReplicaFailed"
    assert "exited with code 3" in status["failureMessage"]
    assert "boom: bad shape" in status["failureMessage"]
    assert any("boom" in line for line in status["lastLogLines"])
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ReplicaFailed"


def test_cancel_leaves_no_process_of_the_job_alive(
    control_plane_with_controller: ControlPlane,
) -> None:
    cp = control_plane_with_controller
    code = (
        "import os, subprocess, time; p = subprocess.Popen(['sleep', '300']); "
        "print('child', p.pid, flush=True); time.sleep(300)"
    )
    client = cp.client("acme")
    client.create(job("sleeper", code, workers=2))
    wait_for(
        lambda: (client.get("TrainingJob", "sleeper").get("status") or {}).get("workersReady") == 2,
        30,
        message="both workers running",
    )

    def child_pids() -> list[int]:
        with cp.http("acme") as http:
            text = http.get("/v1/ml/jobs/sleeper/logs").text
        return [
            int(json.loads(x)["text"].split()[1])
            for x in text.splitlines()
            if json.loads(x)["text"].startswith("child")
        ]

    children = wait_for(
        lambda: len(child_pids()) == 2 and child_pids(), 30, message="children printed"
    )
    running = client.get("TrainingJob", "sleeper")["status"]["replicaStatuses"]
    pids = [r["pid"] for r in running] + list(children)
    assert all(alive(p) for p in pids)
    client.cancel_job("sleeper")
    status = finished(cp, "sleeper")["status"]
    assert status["phase"] == "Failed" and status["failureReason"] == "Cancelled"
    wait_for(lambda: not any(alive(p) for p in pids), 20, message="every pid gone")


def test_gpu_request_on_a_machine_without_one_fails_fast(
    control_plane_with_controller: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = control_plane_with_controller
    spec = job("wants-gpu", "print('hi')")
    spec["spec"]["workers"]["resources"] = {"requests": {"nvidia.com/gpu": "1"}}
    cp.client("acme").create(spec)
    status = finished(cp, "wants-gpu", timeout=15)["status"]
    assert status["phase"] == "Failed"
    assert status["failureReason"] == "Unschedulable"
    assert "nvidia.com/gpu" in status["failureMessage"]
    assert "replicaStatuses" not in status, "nothing was started"


def test_on_failure_restarts_the_replicas_up_to_the_backoff_limit(
    control_plane_with_controller: ControlPlane, tmp_path: Any
) -> None:
    cp = control_plane_with_controller
    marker = tmp_path / "attempts"
    code = f"import sys; f = open({str(marker)!r}, 'a'); f.write('x'); f.close(); sys.exit(1)"
    cp.client("acme").create(job("flaky", code, restartPolicy="OnFailure", backoffLimit=2))
    status = finished(cp, "flaky")["status"]
    assert status["phase"] == "Failed"
    assert status["restarts"] == 2
    assert marker.read_text() == "xxx"


def test_ttl_after_finished_deletes_the_job(control_plane_with_controller: ControlPlane) -> None:
    cp = control_plane_with_controller
    client = cp.client("acme")
    client.create(job("short-lived", "print('done')", ttlSecondsAfterFinished=1))

    def gone() -> bool:
        return not any(
            j["metadata"]["name"] == "short-lived" for j in client.list("TrainingJob")["items"]
        )

    wait_for(gone, 30, message="job deleted by its TTL")
    assert client.get("Run", "short-lived")["metadata"]["name"] == "short-lived", (
        "the run outlives the job: it belongs to the experiment"
    )


def test_logs_follow_streams_until_the_job_ends_and_resume_from_a_cursor(
    control_plane_with_controller: ControlPlane,
) -> None:
    cp = control_plane_with_controller
    code = "import time\nfor i in range(5):\n    print('line', i, flush=True)\n    time.sleep(0.2)"
    cp.client("acme").create(job("chatty", code))
    with cp.http("acme") as http:
        with http.stream("GET", "/v1/ml/jobs/chatty/logs", params={"follow": "true"}) as r:
            chunks = [json.loads(line) for line in r.iter_lines() if line.strip()]
        text = "".join(c["text"] for c in chunks)
        assert [f"line {i}" for i in range(5)] == [ln for ln in text.splitlines() if ln]
        middle = next(i for i, c in enumerate(chunks) if "line 2" in c["text"])
        rest = http.get(
            "/v1/ml/jobs/chatty/logs", params={"since": chunks[middle]["cursor"]}
        ).text.splitlines()
        resumed = "".join(json.loads(x)["text"] for x in rest)
        assert resumed == "".join(c["text"] for c in chunks[middle + 1 :])
        bad = http.get("/v1/ml/jobs/chatty/logs", params={"replica": "worker-9"})
        assert bad.status_code == 400 and "worker-0" in bad.json()["message"]


def test_frameworks_get_their_launcher_env(control_plane_with_controller: ControlPlane) -> None:
    cp = control_plane_with_controller
    dump = "import os, json; print(json.dumps(dict(os.environ)))"
    client = cp.client("acme")
    client.create(
        {
            "kind": "TrainingJob",
            "metadata": {"name": "tf"},
            "spec": {
                "framework": "tensorflow",
                "command": ["python", "-c", dump],
                "master": {"replicas": 1},
                "workers": {"replicas": 1},
                "parameterServer": {"replicas": 1},
            },
        }
    )
    client.create(
        {
            "kind": "TrainingJob",
            "metadata": {"name": "jx"},
            "spec": {
                "framework": "jax",
                "command": ["python", "-c", dump],
                "workers": {"replicas": 2},
            },
        }
    )
    for name in ("tf", "jx"):
        assert finished(cp, name)["status"]["phase"] == "Succeeded"
    with cp.http("acme") as http:

        def envs(name: str) -> list[dict[str, str]]:
            out = http.get(f"/v1/ml/jobs/{name}/logs").text.splitlines()
            return [json.loads(json.loads(x)["text"]) for x in out]

        tf = envs("tf")
        jx = envs("jx")
    configs = [json.loads(e["TF_CONFIG"]) for e in tf]
    assert {c["task"]["type"] for c in configs} == {"chief", "worker", "ps"}
    assert set(configs[0]["cluster"]) == {"chief", "worker", "ps"}
    assert sorted(e["JAX_PROCESS_ID"] for e in jx) == ["0", "1"]
    assert {e["JAX_NUM_PROCESSES"] for e in jx} == {"2"}
    assert sys.executable and os.path.exists(sys.executable)
