"""Metric ingestion: 100,000 points from one process, hanzo-ml-lab against MLflow.

Ours: ``ml.log_metric(key, value, step)`` in a loop, then ``ml.flush()``, into an embedded
control plane this script starts (``hanzo-ml serve`` in a subprocess, its own temporary
``HANZO_ML_HOME``). The clock runs from the first ``log_metric`` call until every point is
visible through the API (``GET /v1/ml/runs/{run}/metrics/latest`` counts them all). The
experiment's rate limit (``spec.rateLimit.metricWritesPerSecond``; a write is one point, the
default is 1000/s) is raised for the benchmark, or the bucket would be the measurement.

Peer: MLflow's local tracking on SQLite (``sqlite:///<tmp>/mlflow.db``), run by the MLflow
virtualenv's interpreter (``.venv-bench``, created by ``benchmarks/run.sh``) as a worker
subprocess that this script drives rep by rep, so both sides share the machine's mood:

- ``MlflowClient().log_batch`` of 1000 ``Metric`` objects, the same 100,000 points; its clock
  covers the ``log_batch`` calls only (each commits before it returns), which is the most
  favourable reading for MLflow;
- ``mlflow.log_metric`` in a loop on a smaller N, for context (extrapolated as a rate).

Same points on both sides: 4 keys (``loss``, ``accuracy``, ``lr``, ``grad_norm``) interleaved,
25,000 steps each.

    .venv/bin/python benchmarks/ingest.py [--points 100000] [--reps 3] [--fluent-points 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402 — after the path tweak, so the script runs from anywhere
    ORG,
    create_experiment,
    machine_info,
    median,
    print_table,
    proc_cpu_seconds,
    start_control_plane,
    write_results,
)

KEYS = ("loss", "accuracy", "lr", "grad_norm")
EXPERIMENT = "bench-ingest"
RATE_LIMIT = 100_000_000  # points/s: far above what one process can send
MLFLOW_BATCH = 1000
REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEER_PYTHON = REPO / ".venv-bench" / "bin" / "python"


# -- MLflow side: runs inside .venv-bench ---------------------------------------------------

def mlflow_worker(tracking_uri: str) -> None:
    """Serve ``{"op": ...}`` commands from stdin, one JSON answer per line on stdout."""
    import logging

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..."
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("bench")
    exp_id = exp.experiment_id if exp else client.create_experiment("bench")
    out = sys.stdout
    out.write(json.dumps({"ready": True, "mlflow": mlflow.__version__}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        n = int(cmd["n"])
        answer: dict[str, Any]
        if cmd["op"] == "batch":
            run_id = client.create_run(exp_id).info.run_id
            batch = int(cmd.get("batch", MLFLOW_BATCH))
            t0, c0 = time.perf_counter(), time.process_time()
            for start in range(0, n, batch):
                ts = int(time.time() * 1000)
                client.log_batch(run_id, metrics=[
                    Metric(KEYS[i & 3], float(i), ts, i >> 2)
                    for i in range(start, min(n, start + batch))])
            t1, c1 = time.perf_counter(), time.process_time()
            count = sum(len(client.get_metric_history(run_id, k)) for k in KEYS)
            t2 = time.perf_counter()
            client.set_terminated(run_id)
            answer = {"seconds": t1 - t0, "cpu_seconds": c1 - c0, "verify_seconds": t2 - t1,
                      "count": count}
        elif cmd["op"] == "fluent":
            with mlflow.start_run(experiment_id=exp_id) as run:
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(n):
                    mlflow.log_metric(KEYS[i & 3], float(i), step=i >> 2)
                t1, c1 = time.perf_counter(), time.process_time()
            count = sum(len(client.get_metric_history(run.info.run_id, k)) for k in KEYS)
            answer = {"seconds": t1 - t0, "cpu_seconds": c1 - c0, "count": count}
        else:
            answer = {"error": f"unknown op {cmd['op']!r}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


class MlflowPeer:
    """The worker subprocess, driven from the benchmark process."""

    def __init__(self, python: Path, tracking_uri: str) -> None:
        if not python.exists():
            raise SystemExit(f"MLflow's interpreter {python} is missing: run `make bench` (or "
                             "bash benchmarks/run.sh), which creates .venv-bench, or pass "
                             "--peer-python")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANZO_ML_")}
        env["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
        env["GIT_PYTHON_REFRESH"] = "quiet"
        self.proc = subprocess.Popen(
            [str(python), __file__, "--mlflow-worker", tracking_uri],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        hello = self._read()
        self.version = str(hello.get("mlflow"))

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the MLflow worker exited ({self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- our side -------------------------------------------------------------------------------

def ours_once(ml: Any, http: Any, n: int, server_pid: int) -> dict[str, float]:
    """Log ``n`` points through the SDK; time until the API shows all of them. CPU time is
    this process's (the SDK, and the polling) plus the control plane's."""
    name = f"ingest-{uuid.uuid4().hex[:8]}"
    log_metric = ml.log_metric
    keys = KEYS
    with ml.start_run(name=name, experiment=EXPERIMENT):
        t0, c0, s0 = time.perf_counter(), time.process_time(), proc_cpu_seconds(server_pid)
        for i in range(n):
            log_metric(keys[i & 3], float(i), step=i >> 2)
        t_logged = time.perf_counter()
        if not ml.flush(timeout=120):
            raise RuntimeError("ml.flush() timed out")
        t_flushed = time.perf_counter()
        count = 0
        while True:
            r = http.get(f"/v1/ml/runs/{name}/metrics/latest")
            r.raise_for_status()
            count = sum(int(m["count"]) for m in r.json()["metrics"].values())
            if count >= n or time.perf_counter() - t0 > 120:
                break
            time.sleep(0.005)
        t_visible = time.perf_counter()
        cpu = time.process_time() - c0 + proc_cpu_seconds(server_pid) - s0
    if count != n:
        raise RuntimeError(f"the API shows {count} points of run {name}, expected {n}")
    return {"seconds": t_visible - t0, "cpu_seconds": cpu, "log_loop_seconds": t_logged - t0,
            "flush_seconds": t_flushed - t_logged, "confirm_seconds": t_visible - t_flushed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--fluent-points", type=int, default=2_000,
                   help="points for MLflow's log_metric loop (context; 0 skips it)")
    p.add_argument("--peer-python", type=Path,
                   default=Path(os.environ.get("HANZO_ML_BENCH_PEER_PYTHON")
                                or DEFAULT_PEER_PYTHON))
    p.add_argument("--mlflow-worker", metavar="TRACKING_URI", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mlflow_worker:
        mlflow_worker(args.mlflow_worker)
        return 0

    import httpx

    n, reps = args.points, args.reps
    info = machine_info()
    print(f"metric ingestion: {n:,} points, {reps} reps, {info['cpus']} cpus, "
          f"load {info['loadavg']}")
    with start_control_plane() as cp, tempfile.TemporaryDirectory(prefix="mlflow-bench-") as mt:
        create_experiment(cp, EXPERIMENT, writes_per_second=RATE_LIMIT)
        print(f"experiment {EXPERIMENT}: spec.rateLimit.metricWritesPerSecond={RATE_LIMIT:,} "
              "(default 1000/s; a write is one point)")
        os.environ.update(cp.sdk_env())
        os.environ["HANZO_ML_ORG"] = ORG
        import hanzo_ml_lab as ml

        peer = MlflowPeer(args.peer_python, f"sqlite:///{mt}/mlflow.db")
        print(f"peer: MLflow {peer.version}, sqlite:///<tmp>/mlflow.db "
              f"({args.peer_python})")
        ours: list[dict[str, float]] = []
        batch: list[dict[str, float]] = []
        fluent: list[dict[str, float]] = []
        with httpx.Client(base_url=cp.url, headers=cp.headers(), timeout=30) as http:
            # warm-up, both sides: imports, threads, DB schema
            ours_once(ml, http, 10_000, cp.proc.pid)
            peer.ask(op="batch", n=2000)
            if args.fluent_points:
                peer.ask(op="fluent", n=100)
            for rep in range(reps):
                sides = ["ours", "batch"] if rep % 2 == 0 else ["batch", "ours"]
                for side in sides:
                    if side == "ours":
                        ours.append(ours_once(ml, http, n, cp.proc.pid))
                    else:
                        got = peer.ask(op="batch", n=n, batch=MLFLOW_BATCH)
                        if got["count"] != n:
                            raise RuntimeError(f"MLflow stored {got['count']} of {n} points")
                        batch.append(got)
                if args.fluent_points:
                    fluent.append(peer.ask(op="fluent", n=args.fluent_points))
                print(f"  rep {rep + 1}: ours {n / ours[-1]['seconds']:,.0f} pts/s, "
                      f"MLflow log_batch {n / batch[-1]['seconds']:,.0f} pts/s"
                      + (f", mlflow.log_metric {args.fluent_points / fluent[-1]['seconds']:,.0f}"
                         " pts/s" if fluent else ""))
        peer.close()

    ours_rate = median([n / r["seconds"] for r in ours])
    batch_rate = median([n / r["seconds"] for r in batch])
    fluent_rate = median([args.fluent_points / r["seconds"] for r in fluent]) if fluent else None
    ours_cpu = median([r["cpu_seconds"] / n * 1e6 for r in ours])
    batch_cpu = median([r["cpu_seconds"] / n * 1e6 for r in batch])
    rows: list[list[Any]] = [
        ["hanzo-ml-lab ml.log_metric + flush, until visible via API", f"{n:,}",
         median([r["seconds"] for r in ours]), ours_rate, "1.00x", ours_cpu],
        ["MLflow MlflowClient.log_batch(1000), SQLite", f"{n:,}",
         median([r["seconds"] for r in batch]), batch_rate, f"{batch_rate / ours_rate:.3f}x",
         batch_cpu],
    ]
    if fluent_rate:
        rows.append(["MLflow mlflow.log_metric loop, SQLite", f"{args.fluent_points:,}",
                     median([r["seconds"] for r in fluent]), fluent_rate,
                     f"{fluent_rate / ours_rate:.4f}x",
                     median([r["cpu_seconds"] / args.fluent_points * 1e6 for r in fluent])])
    print_table(f"Metric ingestion, medians of {reps} reps (same machine, same run)",
                ["path", "points", "seconds", "points/s", "vs ours", "CPU us/point"], rows)
    ratio = ours_rate / batch_rate
    print(f"\n  ours / MLflow log_batch = {ratio:.1f}x by wall clock (goal >= 10x); "
          f"{batch_cpu / ours_cpu:.1f}x by CPU time per point")
    if fluent_rate:
        print(f"  ours / mlflow.log_metric loop = {ours_rate / fluent_rate:,.0f}x")
    part = {k: median([r[k] for r in ours]) for k in
            ("log_loop_seconds", "flush_seconds", "confirm_seconds")}
    print(f"  ours, breakdown (medians): log loop {part['log_loop_seconds']:.3f} s, "
          f"flush {part['flush_seconds']:.3f} s, confirm via API {part['confirm_seconds']:.3f} s")
    print("  CPU: ours = this process (SDK) + the control plane process; MLflow = its process "
          "(in-process store)")
    write_results("ingest", {
        "machine": info, "loadavg_after": machine_info()["loadavg"], "points": n, "reps": reps,
        "rate_limit_points_per_second": RATE_LIMIT, "mlflow_version": peer.version,
        "ours": {"runs": ours, "points_per_second_median": ours_rate},
        "mlflow_log_batch": {"runs": batch, "points_per_second_median": batch_rate,
                             "batch": MLFLOW_BATCH},
        "mlflow_log_metric": {"runs": fluent, "points": args.fluent_points,
                              "points_per_second_median": fluent_rate},
        "ratio_ours_over_mlflow_log_batch": ratio,
        "cpu_us_per_point": {"ours": ours_cpu, "mlflow_log_batch": batch_cpu},
        "ratio_cpu_mlflow_log_batch_over_ours": batch_cpu / ours_cpu,
        "goal": ">= 10x MLflow log_batch",
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
