"""Widget freshness: how long after a metric point is accepted the job view holds it.

A TrainingJob logs ``ml.log_metric("t", time.time(), step=i)`` 20 times a second for 10 s: each
point carries the moment it was logged as its value (float seconds, the job's clock, which is
this machine's clock). In this process three readers follow the job's run:

- **api**: the experiment's metric stream straight from the control plane
  (``GET /v1/ml/experiments/{name}/metrics?watch=true``), opened before the job exists. When a
  point arrives here it has been committed by the server. The tracking store keeps no server
  receive time per point, so *this arrival is our "accepted" instant* (an upper bound: it
  includes the server waking its stream, which it does on the commit, in-process);
- **widget (direct)**: a ``JobWidget`` (``hanzo_ml_lab.magics._widget``, the object
  ``%%ml_train`` displays) whose client talks to the control plane;
- **widget (via Jupyter)**: a second ``JobWidget`` whose client talks to a real
  ``jupyter server`` subprocess with the hanzo-ml server extension, at
  ``http://127.0.0.1:<port>/hanzo-ml/api`` with the Jupyter token as its bearer (the Jupyter
  server accepts ``Authorization: Bearer|token <token>``); the extension proxies to the same
  control plane (``--HanzoMLExtension.api_url``, ``--HanzoMLExtension.token_file``).

Each widget's ``metrics`` trait (the synced state the browser draws) is observed; a point's
arrival is the first trait change holding it. Reported per point, p50 / p99 / max:

- accepted -> widget: the widget's own latency (its flush interval is 0.1 s);
- logged -> accepted: the SDK's batching (it sends every 0.2 s) plus HTTP and the commit;
- logged -> widget: end to end.

    .venv/bin/python benchmarks/widget_freshness.py [--reps 3] [--seconds 10] [--hz 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ORG,
    ControlPlane,
    NdjsonStream,
    bin_path,
    clean_env,
    create_experiment,
    free_port,
    machine_info,
    percentile,
    print_table,
    start_control_plane,
    wait_http,
    write_results,
)

EXPERIMENT = "bench-fresh"
KEY = "t"

JOB_SCRIPT = """\
import time
import hanzo_ml_lab as ml
p = ml.params()
n, period = int(p["n"]), 1.0 / float(p["hz"])
log = ml.log_metric  # load the SDK before the first timed point
t_next = time.time()
for i in range(n):
    log("t", time.time(), step=i)
    t_next += period
    pause = t_next - time.time()
    if pause > 0:
        time.sleep(pause)
ml.flush()
"""


@contextlib.contextmanager
def jupyter_server(cp: ControlPlane) -> Iterator[tuple[str, str]]:
    """A ``jupyter server`` whose hanzo-ml extension proxies to ``cp``: (base url, token)."""
    token = uuid.uuid4().hex
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="jupyter-bench-") as td:
        root = Path(td) / "root"
        root.mkdir()
        argv = [bin_path("jupyter"), "server", "--no-browser", "--allow-root",
                "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
                f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                f"--HanzoMLExtension.api_url={cp.url}",
                f"--HanzoMLExtension.token_file={cp.token_file}",
                f"--HanzoMLExtension.org={ORG}"]
        env = clean_env(JUPYTER_RUNTIME_DIR=str(Path(td) / "runtime"),
                        JUPYTER_CONFIG_DIR=str(Path(td) / "config"),
                        HANZO_ML_HOME=str(cp.home))
        log_path = Path(td) / "jupyter.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            base = f"http://127.0.0.1:{port}"
            try:
                auth = {"Authorization": f"token {token}"}
                wait_http(base + "/api/status", timeout=60, headers=auth, proc=proc,
                          what="jupyter server")
                wait_http(base + "/hanzo-ml/api/v1/ml/experiments", timeout=30, headers=auth,
                          proc=proc, what="the hanzo-ml proxy")
                yield base, token
            except BaseException:
                sys.stderr.write(log_path.read_text(errors="replace")[-3000:])
                raise
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)


class Arrivals:
    """First arrival time of each logged value, per reader."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, dict[str, dict[float, float]]] = {}  # reader -> run -> value -> t

    def record(self, reader: str, run: str, values: list[float], now: float) -> None:
        with self.lock:
            got = self.seen.setdefault(reader, {}).setdefault(run, {})
            for v in values:
                if v not in got:
                    got[v] = now

    def on_api(self, ev: dict[str, Any], now: float) -> None:
        if ev.get("type") != "POINTS":
            return
        by_run: dict[str, list[float]] = {}
        for p in ev.get("items") or []:
            if p.get("key") == KEY:
                by_run.setdefault(p["run"], []).append(float(p["value"]))
        for run, values in by_run.items():
            self.record("api", run, values, now)

    def observer(self, reader: str, run: str) -> Any:
        def on_change(change: dict[str, Any]) -> None:
            now = time.time()
            series = (change.get("new") or {}).get(KEY) or {}
            self.record(reader, run, [float(v) for v in series.get("values") or []], now)
        return on_change


def one_job(http: Any, arrivals: Arrivals, configs: dict[str, Any], n: int, hz: float,
            widget_cls: Any) -> str:
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    job = {"apiVersion": "hanzo.ai/v1", "kind": "TrainingJob", "metadata": {"name": name},
           "spec": {"framework": "pytorch", "script": JOB_SCRIPT,
                    "experiment": {"name": EXPERIMENT}, "params": {"n": n, "hz": hz}}}
    http.post("/v1/ml/jobs", json=job).raise_for_status()
    widgets = []
    try:
        for reader, config in configs.items():
            w = widget_cls(name, config=config, start=False)
            w.observe(arrivals.observer(reader, name), names=["metrics"])
            w._watcher.start()  # observed before its thread starts: no change missed
            widgets.append(w)
        for w in widgets:
            phase = w.wait(timeout=n / hz + 60)
            if phase != "Succeeded":
                raise RuntimeError(f"job {name} ended {phase}: {w.state.get('message')}")
    finally:
        for w in widgets:
            w.close()
    return name


def stats(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "p50_ms": percentile(xs, 50) * 1000,
            "p99_ms": percentile(xs, 99) * 1000, "max_ms": max(xs) * 1000 if xs else 0.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3, help="jobs, one after the other")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--hz", type=float, default=20.0)
    args = p.parse_args(argv)
    n = int(args.seconds * args.hz)
    info = machine_info()
    print(f"widget freshness: {args.reps} jobs x {n} points at {args.hz:g}/s, "
          f"{info['cpus']} cpus, load {info['loadavg']}")

    import httpx

    from hanzo_ml_lab.client import ClientConfig
    from hanzo_ml_lab.magics._widget import JobWidget

    arrivals = Arrivals()
    runs: list[str] = []
    with start_control_plane() as cp, jupyter_server(cp) as (jp_url, jp_token):
        create_experiment(cp, EXPERIMENT, writes_per_second=None)  # 20/s: the default 1000/s
        os.environ.update(cp.sdk_env())
        configs = {
            "widget (direct)": ClientConfig(base_url=cp.url, token=cp.token, org=ORG),
            "widget (via Jupyter)": ClientConfig(base_url=f"{jp_url}/hanzo-ml/api",
                                                 token=jp_token, org=ORG),
        }
        api = NdjsonStream(cp.url + f"/v1/ml/experiments/{EXPERIMENT}/metrics",
                           headers=cp.headers(), params={"watch": "true"},
                           on_event=arrivals.on_api).start()
        try:
            with httpx.Client(base_url=cp.url, headers=cp.headers(), timeout=30) as http:
                for rep in range(args.reps):
                    runs.append(one_job(http, arrivals, configs, n, args.hz, JobWidget))
                    got = {r: len(arrivals.seen.get(r, {}).get(runs[-1], {}))
                           for r in ("api", *configs)}
                    print(f"  job {rep + 1} {runs[-1]}: points seen " +
                          ", ".join(f"{r} {c}" for r, c in got.items()))
        finally:
            api.stop()
        if api.error:
            raise RuntimeError(f"the API stream failed: {api.error}")

    results: dict[str, Any] = {}
    rows = []
    for reader in configs:
        acc_to_w, log_to_w, log_to_acc = [], [], []
        missing = 0
        for run in runs:
            at_api = arrivals.seen.get("api", {}).get(run, {})
            at_w = arrivals.seen.get(reader, {}).get(run, {})
            for value, t_api in at_api.items():
                log_to_acc.append(t_api - value)
                if value not in at_w:
                    missing += 1
                    continue
                acc_to_w.append(at_w[value] - t_api)
                log_to_w.append(at_w[value] - value)
        results[reader] = {"accepted_to_widget": stats(acc_to_w),
                           "logged_to_widget": stats(log_to_w),
                           "logged_to_accepted": stats(log_to_acc), "missing": missing}
        s, e = results[reader]["accepted_to_widget"], results[reader]["logged_to_widget"]
        rows.append([reader, s["n"], s["p50_ms"], s["p99_ms"], s["max_ms"], e["p50_ms"],
                     e["p99_ms"]])
    acc = results["widget (direct)"]["logged_to_accepted"]
    print_table(f"Widget freshness, {len(runs)} jobs x {n} points at {args.hz:g}/s (ms)",
                ["reader", "points", "accepted->widget p50", "p99", "max",
                 "logged->widget p50", "p99"], rows)
    print(f"\n  logged -> accepted (SDK batching every 0.2 s + HTTP + commit): "
          f"p50 {acc['p50_ms']:.0f} ms, p99 {acc['p99_ms']:.0f} ms")
    print("  accepted = the point's arrival on a direct API watch stream in this process (the "
          "store keeps no per-point receive time)")
    for reader in configs:
        if results[reader]["missing"]:
            print(f"  WARNING: {reader} never showed {results[reader]['missing']} points")
    write_results("widget_freshness", {
        "machine": info, "loadavg_after": machine_info()["loadavg"], "jobs": runs,
        "points_per_job": n, "hz": args.hz, "results": results,
        "definition": "accepted = first arrival on a direct experiment metric watch stream; "
                      "logged = the point's value (time.time() at the log call in the job)",
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
