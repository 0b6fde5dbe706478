"""What the benchmarks share: an embedded control plane in a subprocess, statistics, tables,
and the results file.

Standard library only at import time: ``ingest.py`` imports this module from the MLflow
virtualenv too (``.venv-bench``), where hanzo-ml-lab is not installed.

The machine these run on is shared and noisy, so every benchmark measures the project and its
peer in the same run, interleaved rep by rep, and reports medians and ratios rather than
absolute figures alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "ORG",
    "RESULTS_DIR",
    "ControlPlane",
    "free_port",
    "machine_info",
    "median",
    "percentile",
    "print_table",
    "start_control_plane",
    "wait_http",
    "write_results",
]

ORG = "default"  # the embedded owner token may act in every org; this one is tenant-default
RESULTS_DIR = Path(__file__).resolve().parent / "results"  # gitignored
_HANZO_ENV = ("HANZO_ML_API", "HANZO_ML_TOKEN", "HANZO_ML_TOKEN_FILE", "HANZO_ML_ORG",
              "HANZO_ML_RUN", "HANZO_ML_SPOOL_DIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between closest ranks."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; 10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_info() -> dict[str, Any]:
    """When and where: the figures mean little without the machine and its load."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "loadavg": loadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for r in cells:
        print("  " + "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w)
                               for c, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _numeric(s: str) -> bool:
    return s[:1].isdigit() or (s[:1] == "-" and s[1:2].isdigit()) or s == "-"


def write_results(name: str, data: dict[str, Any]) -> Path:
    out = Path(os.environ.get("HANZO_ML_BENCH_RESULTS") or RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\nresults: {path}")
    return path


def wait_http(url: str, *, timeout: float, headers: dict[str, str] | None = None,
              proc: subprocess.Popen[bytes] | None = None, what: str = "server") -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before answering")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout}s ({last})")


def bin_path(name: str) -> str:
    """A console script of the interpreter running us (the project's .venv)."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found next to {sys.executable} or on PATH; run "
                           "`make install` first")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _HANZO_ENV}
    env.update(extra)
    return env


@dataclass
class ControlPlane:
    """``hanzo-ml serve`` on a free port with its own ``HANZO_ML_HOME`` in a temporary dir."""

    url: str
    home: Path
    token: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def token_file(self) -> Path:
        return self.home / "token"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Org-Id": ORG}

    def sdk_env(self) -> dict[str, str]:
        """What a process needs in its environment for ``import hanzo_ml_lab as ml`` to log
        here."""
        return {"HANZO_ML_API": self.url, "HANZO_ML_TOKEN": self.token, "HANZO_ML_ORG": ORG,
                "HANZO_ML_HOME": str(self.home)}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def start_control_plane(*, controller: bool = True, keep: bool = False,
                        serve_args: tuple[str, ...] = ()) -> Iterator[ControlPlane]:
    """Start an embedded control plane in a subprocess; stop it and remove its home after.
    ``serve_args`` are more options for ``hanzo-ml serve`` (e.g. ``--spool-watch 0``)."""
    tmp = Path(tempfile.mkdtemp(prefix="hanzo-bench-"))
    home = tmp / "home"
    port = free_port()
    log_path = tmp / "serve.log"
    argv = [bin_path("hanzo-ml"), "serve", "--home", str(home), "--port", str(port)]
    if not controller:
        argv.append("--no-controller")
    argv.extend(serve_args)
    log = open(log_path, "wb")  # noqa: SIM115 — closed below, after the process ends
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            env=clean_env(HANZO_ML_HOME=str(home)), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    cp: ControlPlane | None = None
    try:
        wait_http(url + "/healthz", timeout=30, proc=proc, what="hanzo-ml serve")
        deadline = time.monotonic() + 10
        while not (home / "token").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        cp = ControlPlane(url=url, home=home, token=(home / "token").read_text().strip(),
                          proc=proc, log_path=log_path)
        yield cp
    except BaseException:
        with contextlib.suppress(OSError):
            sys.stderr.write(log_path.read_text()[-3000:])
        raise
    finally:
        if cp is not None:
            cp.stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def create_experiment(cp: ControlPlane, name: str, *, writes_per_second: int | None) -> None:
    """Create (or update) an Experiment; with ``writes_per_second`` its metric rate limit
    (``spec.rateLimit.metricWritesPerSecond``; a write is one metric point, default 1000/s)."""
    spec: dict[str, Any] = {"description": "benchmark"}
    if writes_per_second:
        spec["rateLimit"] = {"metricWritesPerSecond": writes_per_second}
    body = json.dumps({"apiVersion": "hanzo.ai/v1", "kind": "Experiment",
                       "metadata": {"name": name}, "spec": spec}).encode()
    req = urllib.request.Request(cp.url + "/v1/ml/experiments", data=body, method="POST",
                                 headers={**cp.headers(), "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


class NdjsonStream:
    """A newline-delimited JSON stream (a ``?watch=true`` response) read on a daemon thread;
    ``on_event(event, arrived)`` is called for each line with ``time.time()`` at its arrival.

    ``start()`` returns once the response headers arrived (the server streams from then on),
    so whatever happens after it is seen live, not replayed.
    """

    def __init__(self, url: str, *, headers: dict[str, str],
                 on_event: Any, params: dict[str, str] | None = None) -> None:
        import threading

        self.url = url
        self.headers = headers
        self.params = params or {}
        self.on_event = on_event
        self.opened = threading.Event()
        self.error: BaseException | None = None
        self._stopping = False
        self._client: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-stream")

    def start(self, timeout: float = 15.0) -> NdjsonStream:
        self._thread.start()
        if not self.opened.wait(timeout):
            raise RuntimeError(f"stream {self.url} did not open within {timeout}s "
                               f"({self.error})")
        return self

    def _run(self) -> None:
        import httpx

        try:
            with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client:
                self._client = client
                with client.stream("GET", self.url, headers=self.headers,
                                   params=self.params) as r:
                    if r.status_code != 200:
                        r.read()
                        raise RuntimeError(f"{self.url}: {r.status_code} {r.text[:300]}")
                    self.opened.set()
                    for line in r.iter_lines():
                        now = time.time()
                        if self._stopping:
                            return
                        if line.strip():
                            self.on_event(json.loads(line), now)
        except BaseException as e:  # noqa: BLE001 — kept for the caller; closing ends us too
            if not self._stopping:
                self.error = e
        finally:
            self.opened.set()

    def stop(self) -> None:
        self._stopping = True
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self._thread.join(2.0)


__all__ += ["NdjsonStream", "bin_path", "clean_env", "create_experiment", "loadavg",
            "proc_cpu_seconds"]
