"""Launch latency: from the create call to the job's first metric visible through the API,
against a bare ``python script.py`` that writes its first metric to a file.

Ours: ``POST /v1/ml/jobs`` (a one-worker ``pytorch`` TrainingJob whose ``spec.script`` does
``import hanzo_ml_lab as ml; ml.log_metric("ready", 1, step=0); ml.flush()``) against an
embedded control plane this script starts. The clock stops when the point arrives on the
experiment's metric stream (``GET /v1/ml/experiments/{name}/metrics?watch=true``, opened before
the create call, so nothing polls). The script also logs two timestamps in the same batch
(``t_start``: its first line ran; ``t_logged``: the first ``log_metric`` returned, i.e. the SDK
is loaded), and a TrainingJob watch records when each phase was first seen: that splits the
time into control plane → process start → SDK → delivery.

Peer: ``subprocess.Popen([python, script.py, out])`` with the same interpreter; the script
writes ``{"key": "ready", ...}`` to a file (atomically); the clock stops when the file exists.

Reps alternate ours and bare after one warm-up of each; medians are reported. The control
plane ingests a running job's spool files itself (its spool watcher, every 10 ms);
``--spool-watch 0`` turns that off, so the first metric travels over HTTP only.

Bytecode: the warm-up job writes ``__pycache__`` for our modules, unless
``PYTHONDONTWRITEBYTECODE`` is set in the environment (it is in some sandboxes), in which case
every job compiles the SDK from source (~25 ms here). The header says which.

    .venv/bin/python benchmarks/launch.py [--reps 7] [--spool-watch SECONDS]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ORG,
    NdjsonStream,
    clean_env,
    create_experiment,
    machine_info,
    median,
    print_table,
    start_control_plane,
    write_results,
)

EXPERIMENT = "bench-launch"

JOB_SCRIPT = """\
import time
t_start = time.time()
import hanzo_ml_lab as ml
ml.log_metric("ready", 1, step=0)
t_logged = time.time()
ml.log_metric("t_start", t_start, step=0)
ml.log_metric("t_logged", t_logged, step=0)
ml.flush()
"""

BARE_SCRIPT = """\
import json, os, sys, time
path = sys.argv[1]
with open(path + ".tmp", "w") as f:
    json.dump({"key": "ready", "value": 1, "step": 0, "timestamp": int(time.time() * 1000)}, f)
os.replace(path + ".tmp", path)
"""


class Observed:
    """What the two streams saw, per job name: when each phase and each metric key first
    arrived (``time.time()``), and the metric values."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.phases: dict[str, dict[str, float]] = {}
        self.metrics: dict[str, dict[str, tuple[float, float]]] = {}  # run -> key -> (t, value)

    def on_job_event(self, ev: dict[str, Any], now: float) -> None:
        obj = ev.get("object") or {}
        name = (obj.get("metadata") or {}).get("name")
        if not name or ev.get("type") not in ("ADDED", "MODIFIED"):
            return
        phase = (obj.get("status") or {}).get("phase") or "Pending"
        with self.cond:
            self.phases.setdefault(name, {}).setdefault(phase, now)
            self.cond.notify_all()

    def on_metrics(self, ev: dict[str, Any], now: float) -> None:
        if ev.get("type") != "POINTS":
            return
        with self.cond:
            for p in ev.get("items") or []:
                self.metrics.setdefault(p["run"], {}).setdefault(p["key"],
                                                                 (now, float(p["value"])))
            self.cond.notify_all()

    def wait(self, pred: Any, timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise TimeoutError("waited too long")


def ours_once(http: Any, obs: Observed) -> dict[str, float]:
    name = f"launch-{uuid.uuid4().hex[:8]}"
    job = {"apiVersion": "hanzo.ai/v1", "kind": "TrainingJob", "metadata": {"name": name},
           "spec": {"framework": "pytorch", "script": JOB_SCRIPT,
                    "experiment": {"name": EXPERIMENT}}}
    t0 = time.time()
    r = http.post("/v1/ml/jobs", json=job)
    t_created = time.time()
    r.raise_for_status()
    obs.wait(lambda: len(obs.metrics.get(name, {})) >= 3, 60)
    t_visible = obs.metrics[name]["ready"][0]
    obs.wait(lambda: any(p in obs.phases.get(name, {}) for p in ("Succeeded", "Failed")), 60)
    phases = obs.phases[name]
    if "Succeeded" not in phases:
        raise RuntimeError(f"job {name} failed: {http.get(f'/v1/ml/jobs/{name}').json()}")
    return {
        "total": t_visible - t0,
        "create_returned": t_created - t0,
        "creating_seen": phases.get("Creating", float("nan")) - t0,
        "running_seen": phases.get("Running", float("nan")) - t0,
        "script_started": obs.metrics[name]["t_start"][1] - t0,
        "sdk_logged": obs.metrics[name]["t_logged"][1] - t0,
        "visible": t_visible - t0,
        "succeeded_seen": phases["Succeeded"] - t0,
    }


def bare_once(python: str, script: Path, out_dir: Path) -> dict[str, float]:
    out = out_dir / f"{uuid.uuid4().hex}.json"
    t0 = time.time()
    proc = subprocess.Popen([python, str(script), str(out)])
    while not out.exists():
        time.sleep(0.0005)
    t1 = time.time()
    proc.wait(30)
    return {"total": t1 - t0}


IMPORT_PROBES = {
    "stdlib a lean sender needs (http.client, json, base64, uuid, threading)":
        "import http.client, json, base64, uuid, threading",
    "pydantic": "import pydantic",
    "httpx": "import httpx",
    "hanzo_ml_lab.api (the package; lazy since 2026-11-23)": "import hanzo_ml_lab.api",
    "hanzo_ml_lab.api.KINDS (every Kind's models)": "import hanzo_ml_lab.api as a; a.KINDS",
    "hanzo_ml_lab.api.errors": "import hanzo_ml_lab.api.errors",
    "hanzo_ml_lab.client.Client (httpx)": "from hanzo_ml_lab.client import Client",
    "hanzo_ml_lab.tracking.fluent (the SDK)": "import hanzo_ml_lab.tracking.fluent",
    "first ml.log_metric in a job's env (SDK import + writer start)":
        "import hanzo_ml_lab as ml; ml.log_metric('ready', 1, step=0)",
}
IMPORTTIME_MODULES = ("_editable_impl_hanzo_ml_lab", "hanzo_ml_lab.tracking",
                      "hanzo_ml_lab.tracking.fluent", "hanzo_ml_lab.api", "hanzo_ml_lab.client",
                      "pydantic", "pydantic_core", "httpx", "httpx._main", "rich.console",
                      "click")


def startup_costs(python: str, reps: int = 5) -> dict[str, Any]:
    """Where a job's first metric spends its time before the network: interpreter start (wall,
    fresh process) and each import (timed inside a fresh process), median of ``reps``."""
    with tempfile.TemporaryDirectory(prefix="sdk-") as spool:
        # a job's environment, pointing at nothing: the first log_metric makes no request
        env = clean_env(HANZO_ML_RUN="probe", HANZO_ML_NAMESPACE=f"tenant-{ORG}",
                        HANZO_ML_API="http://127.0.0.1:9", HANZO_ML_TOKEN="x",
                        HANZO_ML_SPOOL_DIR=spool, HANZO_ML_FLUSH_TIMEOUT="0",
                        HANZO_ML_HOME=spool)

        def wall(code: str) -> float:
            t = time.perf_counter()
            subprocess.run([python, "-c", code], check=True, env=env)
            return time.perf_counter() - t

        def inside(code: str) -> float:
            probe = ("import time; _t = time.perf_counter()\n" + code +
                     "\nprint(time.perf_counter() - _t)")
            r = subprocess.run([python, "-c", probe], check=True, env=env,
                               capture_output=True, text=True)
            return float(r.stdout.strip().splitlines()[-1])

        samples: dict[str, list[float]] = {"wall: python -c pass": []}
        samples.update({what: [] for what in IMPORT_PROBES})
        for _ in range(reps):  # round-robin, so a noisy moment hits every probe alike
            samples["wall: python -c pass"].append(wall("pass"))
            for what, code in IMPORT_PROBES.items():
                samples[what].append(inside(code))
        out = {what: median(xs) for what, xs in samples.items()}
        r = subprocess.run([python, "-X", "importtime", "-c",
                            "import hanzo_ml_lab as ml; ml.log_metric"],
                           capture_output=True, text=True, env=env, check=True)
    cumulative: dict[str, float] = {}
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m and m.group(3) in IMPORTTIME_MODULES:
            cumulative.setdefault(m.group(3), int(m.group(2)) / 1000)
    return {"seconds": out, "importtime_cumulative_ms": cumulative}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--spool-watch", type=float, default=None, metavar="SECONDS",
                   help="the control plane's --spool-watch (default: its own, 0.01; 0: off, "
                        "so metrics arrive over HTTP only)")
    args = p.parse_args(argv)
    import httpx

    info = machine_info()
    python = sys.executable
    no_pyc = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    print(f"launch latency: {args.reps} reps, {info['cpus']} cpus, load {info['loadavg']}, "
          f"interpreter {python}, spool watch "
          f"{'default' if args.spool_watch is None else args.spool_watch}"
          f"{', PYTHONDONTWRITEBYTECODE set' if no_pyc else ''}")
    ours: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    serve_args = () if args.spool_watch is None else ("--spool-watch", str(args.spool_watch))
    with start_control_plane(serve_args=serve_args) as cp, \
            tempfile.TemporaryDirectory(prefix="bare-") as td:
        create_experiment(cp, EXPERIMENT, writes_per_second=None)
        script = Path(td) / "script.py"
        script.write_text(BARE_SCRIPT)
        obs = Observed()
        jobs = NdjsonStream(cp.url + "/v1/ml/jobs", headers=cp.headers(),
                            params={"watch": "true"}, on_event=obs.on_job_event).start()
        points = NdjsonStream(cp.url + f"/v1/ml/experiments/{EXPERIMENT}/metrics",
                              headers=cp.headers(), params={"watch": "true"},
                              on_event=obs.on_metrics).start()
        try:
            with httpx.Client(base_url=cp.url, headers=cp.headers(), timeout=30) as http:
                ours_once(http, obs)  # warm-up: first job compiles .pyc, warms caches
                bare_once(python, script, Path(td))
                for rep in range(args.reps):
                    order = ("ours", "bare") if rep % 2 == 0 else ("bare", "ours")
                    for side in order:
                        if side == "ours":
                            ours.append(ours_once(http, obs))
                        else:
                            bare.append(bare_once(python, script, Path(td)))
                    print(f"  rep {rep + 1}: ours {ours[-1]['total'] * 1000:.0f} ms, "
                          f"bare {bare[-1]['total'] * 1000:.0f} ms")
        finally:
            jobs.stop()
            points.stop()
        for s in (jobs, points):
            if s.error:
                raise RuntimeError(f"a stream failed: {s.error}")
    costs = startup_costs(python)

    ours_ms = median([r["total"] for r in ours]) * 1000
    bare_ms = median([r["total"] for r in bare]) * 1000
    ratio = ours_ms / bare_ms
    print_table(f"Launch latency, medians of {args.reps} reps (same interpreter, same run)",
                ["path", "ms", "vs bare"],
                [["hanzo-ml-lab: POST /v1/ml/jobs -> first metric visible via API", ours_ms,
                  f"{ratio:.1f}x"],
                 ["bare: Popen(python script.py) -> first metric in a file", bare_ms, "1.00x"]])
    print(f"\n  ours / bare = {ratio:.1f}x  (goal <= 1.5x)")

    steps = [("create_returned", "POST /v1/ml/jobs returned"),
             ("creating_seen", "phase Creating seen on the job watch"),
             ("running_seen", "phase Running seen on the job watch"),
             ("script_started", "the script's first line ran (process up)"),
             ("sdk_logged", "first ml.log_metric returned (SDK loaded)"),
             ("visible", "first metric visible on the metric stream")]
    rows = []
    prev = 0.0
    for key, what in sorted(steps, key=lambda s: median([r[s[0]] for r in ours])):
        at = median([r[key] for r in ours]) * 1000
        rows.append([what, at, at - prev])
        prev = at
    print_table("Where our time goes (medians, ms since the create call; steps sorted by time)",
                ["step", "at ms", "+ms"], rows)
    print_table("Interpreter start and imports (fresh process each, median of 5, ms)",
                ["what", "ms"], [[k, v * 1000] for k, v in costs["seconds"].items()])
    print("  -X importtime, cumulative ms, `import hanzo_ml_lab as ml; ml.log_metric`: " +
          ", ".join(f"{n} {ms:.0f}" for n, ms in costs["importtime_cumulative_ms"].items()))
    write_results("launch", {
        "machine": info, "loadavg_after": machine_info()["loadavg"], "reps": args.reps,
        "spool_watch": args.spool_watch, "pythondontwritebytecode": no_pyc,
        "ours": ours, "bare": bare, "ours_median_ms": ours_ms, "bare_median_ms": bare_ms,
        "ratio_ours_over_bare": ratio, "goal": "<= 1.5x bare start",
        "breakdown_median_ms": {k: median([r[k] for r in ours]) * 1000 for k, _ in steps},
        "startup_costs": costs, "job_script": JOB_SCRIPT, "bare_script": BARE_SCRIPT,
        "org": ORG,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
