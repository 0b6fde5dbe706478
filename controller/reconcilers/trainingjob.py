"""TrainingJob: replicas as runtime workloads, phases from what the runtime reports.

One pass reads the job and the runtime, moves one step, and writes status only if it changed:

    new ─► finalizer ─► Run + endpoints recorded (Creating) ─► launch ─► Running
                                                              │
           Succeeded ◄─ success policy ◄──────────────────────┤
           Failed    ◄─ a replica failed, no restarts left ◄──┤ (OnFailure: restart all, up to
           Failed    ◄─ cancelled / deadline exceeded ◄───────┘  backoffLimit times)

Success policy, as Kubeflow's: with a master, the master's success; otherwise every worker's.
Parameter servers never finish by themselves and are stopped when the job ends.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hanzo_ml_lab.api._base import now_iso
from hanzo_ml_lab.api.errors import AlreadyExists, Conflict, NotFound
from hanzo_ml_lab.runtime import JobKey, ReplicaStatus, Runtime
from hanzo_ml_lab.store import Store
from hanzo_ml_lab.store.tracking import TrackingStore

from ..conditions import set_condition, write_status
from ..engine import Key
from ..spoolwatch import SpoolWatcher
from ..topology import allocate_endpoints, build_replicas, plan_replicas

__all__ = ["FINALIZER", "LABEL_JOB", "TrainingJobReconciler", "runtime_key"]

FINALIZER = "hanzo.ai/runtime"
LABEL_JOB = "hanzo.ai/job"
LABEL_EXPERIMENT = "hanzo.ai/experiment"
DEFAULT_EXPERIMENT = "default"
ACTIVE_REQUEUE_SECONDS = 0.5
TERMINATE_GRACE_SECONDS = 5.0

# (namespace) -> env every replica gets to reach the control plane (API URL, token, org)
AccessEnv = Callable[[str], dict[str, str]]


def _parse_ts(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return (
            datetime.strptime(ts.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f")
            .replace(tzinfo=UTC)
            .timestamp()
        )
    except ValueError:
        try:
            return (
                datetime.strptime(ts.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")
                .replace(tzinfo=UTC)
                .timestamp()
            )
        except ValueError:
            return None


def _gpu_request(spec: dict[str, Any]) -> int:
    total = 0
    for part in ("master", "workers", "parameterServer"):
        group = spec.get(part) or {}
        res = group.get("resources") or {}
        want = (
            (res.get("limits") or {}).get("nvidia.com/gpu")
            or (res.get("requests") or {}).get("nvidia.com/gpu")
            or "0"
        )
        try:
            total += int(float(want)) * int(group.get("replicas", 1 if part == "workers" else 0))
        except ValueError:
            continue
    return total


def runtime_key(job: dict[str, Any]) -> JobKey:
    """The runtime's key for the job's current attempt (each restart is a fresh workload)."""
    meta = job["metadata"]
    attempt = (job.get("status") or {}).get("restarts", 0)
    return JobKey(meta["namespace"], meta["name"], f"{meta['uid']}-{attempt}")


class TrainingJobReconciler:
    kind = "TrainingJob"
    watches: list[Any] = []

    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        *,
        jobs_dir: Path,
        access_env: AccessEnv,
        tracking: TrackingStore | None = None,
        spool_watch: SpoolWatcher | None = None,
    ) -> None:
        self.store = store
        self.tracking = tracking
        # embedded mode: ingests a running job's spool files as they appear (fast path)
        self.spool_watch = spool_watch
        self.runtime = runtime
        self.jobs_dir = jobs_dir
        self.access_env = access_env

    # -- helpers --------------------------------------------------------------------------

    def workdir(self, job: dict[str, Any]) -> Path:
        meta = job["metadata"]
        return self.jobs_dir / meta["namespace"] / meta["name"] / meta["uid"] / "work"

    def _ensure_experiment_and_run(self, job: dict[str, Any], experiment: str) -> str:
        meta = job["metadata"]
        ns = meta["namespace"]
        try:
            self.store.create(
                {
                    "apiVersion": "hanzo.ai/v1",
                    "kind": "Experiment",
                    "metadata": {"name": experiment, "namespace": ns},
                    "spec": {"description": "created for a TrainingJob"},
                }
            )
        except AlreadyExists:
            pass
        exp = self.store.get("Experiment", ns, experiment)
        run_name = meta["name"]
        try:
            self.store.create(
                {
                    "apiVersion": "hanzo.ai/v1",
                    "kind": "Run",
                    "metadata": {
                        "name": run_name,
                        "namespace": ns,
                        "labels": {LABEL_EXPERIMENT: experiment, LABEL_JOB: meta["name"]},
                        "ownerReferences": [
                            {
                                "apiVersion": "hanzo.ai/v1",
                                "kind": "Experiment",
                                "name": experiment,
                                "uid": exp["metadata"]["uid"],
                            }
                        ],
                    },
                    "spec": {
                        "experiment": experiment,
                        "source": {"kind": "TrainingJob", "name": meta["name"]},
                        "params": {k: str(v) for k, v in (job["spec"].get("params") or {}).items()},
                    },
                }
            )
        except AlreadyExists:
            pass
        return run_name

    def _mirror_run(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        run_name = status.get("runName")
        if not run_name:
            return
        try:
            run = self.store.get("Run", job["metadata"]["namespace"], run_name)
        except Exception:  # noqa: BLE001 — the run was deleted by the user; nothing to mirror
            return
        new = copy.deepcopy(run.get("status") or {})
        new["phase"] = status.get("phase")
        if status.get("startTime"):
            new["startTime"] = status["startTime"]
        if status.get("completionTime"):
            new["endTime"] = status["completionTime"]
        if status.get("artifactURI"):
            new["artifactURI"] = status["artifactURI"]
        try:
            write_status(self.store, run, new)
        except Conflict:
            pass  # the tracking side wrote meanwhile; the next pass mirrors again

    def spool_dir(self, job: dict[str, Any]) -> Path:
        meta = job["metadata"]
        return self.jobs_dir / meta["namespace"] / meta["name"] / meta["uid"] / "spool"

    @staticmethod
    def _spool_key(job: dict[str, Any]) -> tuple[str, str, str]:
        meta = job["metadata"]
        return (meta["namespace"], meta["name"], meta["uid"])

    def _watch_spool(self, job: dict[str, Any], run: str, experiment: str) -> None:
        """Have the spool watcher follow the job's spool while it runs (before it starts, so
        its first batch is taken as soon as it is written)."""
        watcher = self.spool_watch
        key = self._spool_key(job)
        if watcher is None or watcher.watching(key):
            return
        ns = job["metadata"]["namespace"]
        params = {k: str(v) for k, v in (job["spec"].get("params") or {}).items()}
        try:  # the Run decides, as it does for the HTTP route: its experiment, its params
            spec = self.store.get("Run", ns, run).get("spec") or {}
            experiment = spec.get("experiment") or experiment
            params = dict(spec.get("params") or {})
        except NotFound:
            pass
        watcher.watch(key, self.spool_dir(job), namespace=ns, experiment=experiment, run=run,
                      fixed_params=params)

    def _unwatch_spool(self, job: dict[str, Any]) -> None:
        if self.spool_watch is not None:
            self.spool_watch.unwatch(self._spool_key(job))

    def _replay_spool(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        """Deliver what a replica spooled but could not send before it exited (the API was
        down): batch ids make this exactly-once even if the replica's own replay got there."""
        self._unwatch_spool(job)
        run = status.get("runName")
        if self.tracking is None or not run:
            return
        experiment = (job["spec"].get("experiment") or {}).get("name") or DEFAULT_EXPERIMENT
        self.tracking.ingest_spool_dir(
            self.spool_dir(job), job["metadata"]["namespace"], experiment, run
        )

    def _base_env(self, job: dict[str, Any], run_name: str, experiment: str) -> dict[str, str]:
        meta, spec = job["metadata"], job["spec"]
        ns = meta["namespace"]
        env = {
            **self.access_env(ns),
            "HANZO_ML_NAMESPACE": ns,
            "HANZO_ML_JOB": meta["name"],
            "HANZO_ML_RUN": run_name,
            "HANZO_ML_EXPERIMENT": experiment,
            "HANZO_ML_PARAMS": json.dumps(spec.get("params") or {}),
            "HANZO_ML_SPOOL_DIR": str(self.spool_dir(job)),
            "PYTHONUNBUFFERED": "1",
        }
        if spec.get("artifacts", {}).get("output"):
            env["HANZO_ML_ARTIFACTS"] = spec["artifacts"]["output"]
        return env

    # -- the pass -------------------------------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        job = self.store.get(key.kind, key.namespace, key.name)
        meta = job["metadata"]
        if meta.get("deletionTimestamp"):
            return self._finalize(job)
        if FINALIZER not in meta.get("finalizers", []):
            job = copy.deepcopy(job)
            job["metadata"]["finalizers"] = [*meta.get("finalizers", []), FINALIZER]
            job = self.store.update(job)
        status = copy.deepcopy(job.get("status") or {})
        phase = status.get("phase")
        if phase in ("Succeeded", "Failed"):
            return self._after_finish(job, status)
        return self._drive(job, status)

    def _finalize(self, job: dict[str, Any]) -> float | None:
        meta = job["metadata"]
        self._unwatch_spool(job)
        for launched in self.runtime.list_launched():
            if (launched.namespace, launched.name) == (
                meta["namespace"],
                meta["name"],
            ) and launched.uid.startswith(meta["uid"]):
                self.runtime.cleanup(launched)
        if FINALIZER in meta.get("finalizers", []):
            job = copy.deepcopy(job)
            job["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != FINALIZER]
            self.store.update(job)
        return None

    def _after_finish(self, job: dict[str, Any], status: dict[str, Any]) -> float | None:
        rkey = runtime_key(job)
        replicas = self.runtime.status(rkey) or []
        if any(r.state == "Running" for r in replicas):
            self.runtime.terminate(rkey, grace_seconds=TERMINATE_GRACE_SECONDS)
            return ACTIVE_REQUEUE_SECONDS
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        done_at = _parse_ts(status.get("completionTime")) or time.time()
        left = done_at + ttl - time.time()
        if left > 0:
            return left
        self.store.delete(job["kind"], job["metadata"]["namespace"], job["metadata"]["name"])
        return None

    def _finish(
        self, job: dict[str, Any], status: dict[str, Any], phase: str, reason: str, message: str
    ) -> float | None:
        gen = job["metadata"].get("generation")
        status["phase"] = phase
        status.setdefault("completionTime", now_iso())
        if phase == "Failed":
            status["failureReason"] = reason
            status["failureMessage"] = message
        set_condition(status, "Ready", False, reason, message, generation=gen)
        set_condition(status, "Synced", True, "Reconciled", "", generation=gen)
        set_condition(status, "Available", phase == "Succeeded", reason, message, generation=gen)
        status["observedGeneration"] = gen
        self._replay_spool(job, status)
        written = write_status(self.store, job, status)
        self._mirror_run(written, status)
        return self._after_finish(written, status)

    def _drive(self, job: dict[str, Any], status: dict[str, Any]) -> float | None:
        meta, spec = job["metadata"], job["spec"]
        gen = meta.get("generation")
        planned = plan_replicas(spec)
        status["workersTotal"] = len(planned)

        gpus = _gpu_request(spec)
        if gpus and gpus > self.runtime.capacity().gpus:
            return self._finish(
                job,
                status,
                "Failed",
                "Unschedulable",
                f"the job requests {gpus} nvidia.com/gpu but this runtime has "
                f"{self.runtime.capacity().gpus}; remove the GPU request or run on a cluster "
                "with GPUs",
            )

        experiment = (spec.get("experiment") or {}).get("name") or DEFAULT_EXPERIMENT
        if not status.get("runName"):
            status["runName"] = self._ensure_experiment_and_run(job, experiment)
        if not status.get("endpoints"):
            status["endpoints"] = allocate_endpoints(planned)
        if spec.get("artifacts", {}).get("output"):
            status["artifactURI"] = spec["artifacts"]["output"]
        if not status.get("phase"):
            status["phase"] = "Creating"
        if spec.get("image"):
            set_condition(
                status,
                "Synced",
                True,
                "LocalRuntime",
                f"image {spec['image']} is recorded but not pulled: the local runtime "
                "runs spec.command with this machine's Python",
                generation=gen,
            )
        else:
            set_condition(status, "Synced", True, "Reconciled", "", generation=gen)
        status["observedGeneration"] = gen
        # record run and endpoints before anything starts, so a restart reuses them
        job = write_status(self.store, job, status)
        status = copy.deepcopy(job["status"])

        rkey = runtime_key(job)
        if spec.get("cancelled"):
            return self._cancel(job, status, rkey)
        self._watch_spool(job, status["runName"], experiment)
        replicas = self.runtime.status(rkey)
        if replicas is None or len(replicas) < len(planned):
            specs = build_replicas(
                spec=spec,
                endpoints=status["endpoints"],
                workdir=self.workdir(job),
                base_env=self._base_env(job, status["runName"], experiment),
            )
            self.runtime.launch(rkey, specs)
            replicas = self.runtime.status(rkey) or []
            status.setdefault("startTime", now_iso())

        deadline = spec.get("activeDeadlineSeconds")
        started = _parse_ts(status.get("startTime"))
        if deadline and started and time.time() - started > deadline:
            self.runtime.terminate(rkey, grace_seconds=TERMINATE_GRACE_SECONDS)
            return self._finish(
                job,
                status,
                "Failed",
                "DeadlineExceeded",
                f"the job ran longer than activeDeadlineSeconds={deadline}",
            )
        return self._observe(job, status, rkey, replicas)

    def _cancel(self, job: dict[str, Any], status: dict[str, Any], rkey: JobKey) -> float | None:
        replicas = self.runtime.status(rkey) or []
        if any(r.state in ("Running", "Pending") for r in replicas):
            self.runtime.terminate(rkey, grace_seconds=TERMINATE_GRACE_SECONDS)
            status["replicaStatuses"] = self._replica_statuses(replicas)
            status["workersReady"] = 0
            set_condition(
                status,
                "Ready",
                False,
                "Cancelling",
                "SIGTERM sent to every replica",
                generation=job["metadata"].get("generation"),
            )
            write_status(self.store, job, status)
            return 0.2
        status["replicaStatuses"] = self._replica_statuses(replicas)
        status["workersReady"] = 0
        return self._finish(job, status, "Failed", "Cancelled", "the job was cancelled")

    @staticmethod
    def _replica_statuses(replicas: list[ReplicaStatus]) -> list[dict[str, Any]]:
        out = []
        for r in replicas:
            item: dict[str, Any] = {"type": r.replica_type, "index": r.index, "state": r.state}
            if r.pid is not None:
                item["pid"] = r.pid
            if r.exit_code is not None:
                item["exitCode"] = r.exit_code
            out.append(item)
        return out

    def _observe(
        self,
        job: dict[str, Any],
        status: dict[str, Any],
        rkey: JobKey,
        replicas: list[ReplicaStatus],
    ) -> float | None:
        spec = job["spec"]
        gen = job["metadata"].get("generation")
        status["replicaStatuses"] = self._replica_statuses(replicas)
        status["workersReady"] = sum(1 for r in replicas if r.state == "Running")
        failed = [r for r in replicas if r.state == "Failed"]
        if failed:
            first = failed[0]
            name = f"{first.replica_type.lower()}-{first.index}"
            tail = self.runtime.tail(rkey, name, 20)
            restarts = status.get("restarts", 0)
            if spec.get("restartPolicy") == "OnFailure" and restarts < spec.get("backoffLimit", 0):
                self.runtime.terminate(rkey, grace_seconds=TERMINATE_GRACE_SECONDS)
                if any(r.state == "Running" for r in self.runtime.status(rkey) or []):
                    return 0.2
                status["restarts"] = restarts + 1
                status["endpoints"] = allocate_endpoints(plan_replicas(spec))
                status["phase"] = "Creating"
                set_condition(
                    status,
                    "Ready",
                    False,
                    "Restarting",
                    f"{name} exited with code {first.exit_code}; restart "
                    f"{restarts + 1} of {spec.get('backoffLimit')}",
                    generation=gen,
                )
                write_status(self.store, job, status)
                return 0.0
            self.runtime.terminate(rkey, grace_seconds=TERMINATE_GRACE_SECONDS)
            status["lastLogLines"] = tail
            message = f"{name} exited with code {first.exit_code}"
            if first.message:
                message += f" ({first.message})"
            if tail:
                message += ": " + " | ".join(tail[-3:])
            return self._finish(job, status, "Failed", "ReplicaFailed", message)

        masters = [r for r in replicas if r.replica_type == "Master"]
        deciders = masters or [r for r in replicas if r.replica_type == "Worker"]
        if deciders and all(r.state == "Succeeded" for r in deciders):
            return self._finish(
                job, status, "Succeeded", "Succeeded", "every replica that decides success exited 0"
            )

        planned = len(plan_replicas(spec))
        if status["workersReady"] + sum(1 for r in replicas if r.state == "Succeeded") >= planned:
            status["phase"] = "Running"
            set_condition(
                status,
                "Ready",
                True,
                "AllReplicasRunning",
                f"{status['workersReady']}/{planned} replicas running",
                generation=gen,
            )
        else:
            status["phase"] = "Creating"
            set_condition(
                status,
                "Ready",
                False,
                "Starting",
                f"{status['workersReady']}/{planned} replicas running",
                generation=gen,
            )
        set_condition(status, "Available", False, "InProgress", "", generation=gen)
        written = write_status(self.store, job, status)
        self._mirror_run(written, status)
        return ACTIVE_REQUEUE_SECONDS
