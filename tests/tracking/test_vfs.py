"""PUT/GET /v1/ml/vfs/...: artifacts round trip, are recorded, and never leave the tenant."""

from __future__ import annotations

import hashlib
import http.client
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import ControlPlane
from tests.tracking.conftest import make_run


def raw_request(cp: ControlPlane, method: str, target: str, body: bytes = b"",
                org: str = "acme") -> tuple[int, bytes]:
    """Send ``target`` byte for byte (httpx would normalise '..' away before it left)."""
    url = urlsplit(cp.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {cp.token(org)}")
        conn.putheader("X-Org-Id", org)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_an_artifact_round_trips_and_is_recorded(control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c)
    data = os.urandom(100_000)
    out = c.put_artifact("vfs://tenant-acme/runs/r1/model.bin", data, run="r1")
    assert out["uri"] == "vfs://tenant-acme/runs/r1/model.bin"
    assert out["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert out["sizeBytes"] == len(data)
    assert c.get_artifact("vfs://tenant-acme/runs/r1/model.bin") == data

    art = c.get("Artifact", out["artifact"])
    assert art["spec"]["uri"] == out["uri"] and art["spec"]["run"] == "r1"
    assert art["spec"]["digest"] == out["digest"] and art["spec"]["sizeBytes"] == len(data)
    assert art["metadata"]["labels"]["hanzo.ai/run"] == "r1"
    assert art["status"]["phase"] == "Available"

    again = c.put_artifact("vfs://tenant-acme/runs/r1/model.bin", b"v2", run="r1")
    assert again["artifact"] == out["artifact"]  # same path, same record, new digest
    assert c.get("Artifact", out["artifact"])["spec"]["sizeBytes"] == 2
    with control_plane.http() as http:
        listing = http.get("/v1/ml/vfs/tenant-acme/runs/").json()
    assert listing["items"] == [{"uri": "vfs://tenant-acme/runs/r1/model.bin", "sizeBytes": 2}]


def test_an_upload_to_a_missing_run_or_a_directory_is_refused(
        control_plane: ControlPlane) -> None:
    from hanzo_ml_lab.api.errors import Conflict, NotFound

    c = control_plane.client()
    with pytest.raises(NotFound):
        c.put_artifact("vfs://tenant-acme/x", b"1", run="nope")
    c.put_artifact("vfs://tenant-acme/d/f", b"1")
    with pytest.raises(Conflict):
        c.put_artifact("vfs://tenant-acme/d", b"1")
    with pytest.raises(Conflict):
        c.put_artifact("vfs://tenant-acme/d/f/g", b"1")
    with pytest.raises(NotFound):
        c.get_artifact("vfs://tenant-acme/missing")


def test_another_tenants_artifacts_are_not_found(control_plane: ControlPlane) -> None:
    from hanzo_ml_lab.api.errors import NotFound

    acme = control_plane.client("acme")
    acme.put_artifact("vfs://tenant-acme/secret.txt", b"acme only")
    globex = control_plane.client("globex")
    with pytest.raises(NotFound):
        globex.get_artifact("vfs://tenant-acme/secret.txt")
    with pytest.raises(NotFound):
        globex.put_artifact("vfs://tenant-acme/secret.txt", b"overwrite")
    with control_plane.http("globex") as http:
        assert http.get("/v1/ml/vfs/tenant-acme/").status_code == 404
    assert acme.get_artifact("vfs://tenant-acme/secret.txt") == b"acme only"


@pytest.mark.parametrize("target", [
    "/v1/ml/vfs/tenant-acme/../tenant-globex/escape",
    "/v1/ml/vfs/tenant-acme/%2e%2e/%2e%2e/%2e%2e/escape",
    "/v1/ml/vfs/tenant-acme/a%2f..%2f..%2f..%2fescape",
    "/v1/ml/vfs/tenant-acme/%252e%252e/escape",
    "/v1/ml/vfs/tenant-acme//tmp/escape",
    "/v1/ml/vfs//tmp/escape",
    "/v1/ml/vfs/tenant-acme/./escape",
    "/v1/ml/vfs/tenant-acme/%5c..%5cescape",
    "/v1/ml/vfs/tenant-acme/a%00b",
    "/v1/ml/vfs/tenant-globex/escape",
    "/v1/ml/vfs/../../escape",
])
def test_path_escapes_are_refused_and_write_nothing(control_plane: ControlPlane,
                                                     target: str) -> None:
    home = control_plane.home
    before = files_under(home)
    for method in ("PUT", "GET"):
        status, body = raw_request(control_plane, method, target, b"payload")
        assert status in (400, 404), (method, target, status, body)
    assert files_under(home) == before


def test_a_symlink_out_of_the_tenant_root_is_not_followed(control_plane: ControlPlane,
                                                          tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("secret")
    root = control_plane.home / "artifacts" / "tenant-acme"
    root.mkdir(parents=True, exist_ok=True)
    (root / "link").symlink_to(outside)
    for method in ("PUT", "GET"):
        status, _ = raw_request(control_plane, method, "/v1/ml/vfs/tenant-acme/link/passwd",
                                b"overwritten")
        assert status == 400
    assert (outside / "passwd").read_text() == "secret"
    assert files_under(outside) == {"passwd"}
