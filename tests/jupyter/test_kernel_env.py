"""Kernels started by this server can reach the control plane with no setup."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ControlPlane


def process_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc/<pid>/environ")
async def test_a_kernel_started_through_the_server_gets_the_control_plane_in_its_env(
    jp_fetch: Any, jp_serverapp: Any, control_plane: ControlPlane
) -> None:
    started = await jp_fetch("api", "kernels", method="POST", body=json.dumps({}))
    kernel_id = json.loads(started.body)["id"]
    try:
        kernel = jp_serverapp.kernel_manager.get_kernel(kernel_id)
        pid = kernel.provisioner.process.pid
        env = process_environ(pid)  # fixed at exec: what the kernel really got
        assert env["HANZO_ML_API"] == control_plane.url
        assert env["HANZO_ML_TOKEN"] == control_plane.owner_token
        assert env["HANZO_ML_ORG"] == "acme"
        assert env["HANZO_ML_HOME"] == os.environ["HANZO_ML_HOME"]
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
