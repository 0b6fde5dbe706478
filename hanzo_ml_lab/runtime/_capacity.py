"""How much this machine can run: CPUs, memory and GPUs, within the limits of its container.

Binder and most notebook hosts run us in a cgroup smaller than the machine, so the cgroup's
CPU quota and memory limit win over what the kernel reports for the whole host.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

from hanzo_ml_lab.env import HANZO_ML_LOCAL_GPUS

from ._base import Capacity

__all__ = ["HANZO_ML_LOCAL_GPUS", "detect_capacity"]

def detect_capacity() -> Capacity:
    return Capacity(cpus=_cpus(), memory_bytes=_memory_bytes(), gpus=_gpus())


def _cpus() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def _cgroup_cpu_quota() -> float | None:
    try:  # cgroup v2: "max 100000" or "150000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return q / p if q > 0 and p > 0 else None
    except (OSError, ValueError):
        return None


def _memory_bytes() -> int:
    total = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if not total:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = 0
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = int(Path(limit_file).read_text().strip())
        except (OSError, ValueError):  # "max", or no such file
            continue
        if 0 < limit < total:
            total = limit
        break
    return total


def _gpus() -> int:
    raw = os.environ.get(HANZO_ML_LOCAL_GPUS.name, "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(
                f"{HANZO_ML_LOCAL_GPUS.name}: must be an integer >= 0, got {raw!r}; "
                "unset it to detect GPUs with nvidia-smi"
            )
        return int(raw)
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run(
            [exe, "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))
