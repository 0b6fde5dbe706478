"""Every route is authenticated; tenants never see each other; bad input changes nothing."""

from __future__ import annotations

import os
import stat
from typing import Any

import httpx
import jwt
import pytest

from hanzo_ml_lab.server.auth import AUDIENCE, ISSUER
from tests.conftest import ControlPlane

JOB: dict[str, Any] = {
    "apiVersion": "hanzo.ai/v1",
    "kind": "TrainingJob",
    "metadata": {"name": "secret-job"},
    "spec": {"framework": "pytorch", "command": ["python", "train.py"], "workers": {"replicas": 1}},
}


def all_operations(cp: ControlPlane) -> list[tuple[str, str]]:
    with cp.http() as http:
        spec = http.get("/openapi.json").json()
    return [(m.upper(), p.replace("{name}", "x")) for p, ops in spec["paths"].items() for m in ops]


@pytest.mark.parametrize("how", ["missing", "forged", "expired", "wrong-scheme"])
def test_every_route_refuses_a_missing_or_forged_token(
    control_plane: ControlPlane, how: str
) -> None:
    headers = {"X-Org-Id": "acme"}
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "orgs": ["*"]}
    if how == "forged":
        headers["Authorization"] = "Bearer " + jwt.encode(claims, "not-the-key" * 4, "HS256")
    elif how == "expired":
        headers["Authorization"] = "Bearer " + jwt.encode(
            {**claims, "exp": 1}, control_plane.server.settings.signing_key, "HS256"
        )
    elif how == "wrong-scheme":
        headers["Authorization"] = "Basic " + control_plane.token("acme")
    ops = all_operations(control_plane)
    assert len(ops) > 40
    with httpx.Client(base_url=control_plane.url, headers=headers) as http:
        for method, path in ops:
            r = http.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.json()["reason"] == "Unauthorized"


def test_embedded_credentials_are_private_to_the_user(control_plane: ControlPlane) -> None:
    for path in (control_plane.home / "token", control_plane.home / "auth" / "signing.key"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, f"{path} has mode {oct(mode)}"


def test_org_maps_to_its_tenant_namespace(control_plane: ControlPlane) -> None:
    created = control_plane.client("acme").create(JOB)
    assert created["metadata"]["namespace"] == "tenant-acme"


def test_a_tenant_cannot_see_or_touch_another_tenants_objects(control_plane: ControlPlane) -> None:
    control_plane.client("acme").create(JOB)
    with control_plane.http("globex") as other:
        assert other.get("/v1/ml/jobs").json()["items"] == []
        for method in ("GET", "DELETE"):
            r = other.request(method, "/v1/ml/jobs/secret-job")
            assert r.status_code == 404, method
        r = other.patch("/v1/ml/jobs/secret-job", json={"metadata": {"labels": {"x": "y"}}})
        assert r.status_code == 404
        r = other.put("/v1/ml/jobs/secret-job", json=JOB)
        assert r.status_code == 404
        r = other.post("/v1/ml/jobs/secret-job/cancel")
        assert r.status_code == 404
        # naming the other tenant's namespace explicitly is refused, not redirected
        r = other.post(
            "/v1/ml/jobs", json={**JOB, "metadata": {"name": "sneaky", "namespace": "tenant-acme"}}
        )
        assert r.status_code == 403
    # and the victim's object is untouched
    job = control_plane.client("acme").get("TrainingJob", "secret-job")
    assert job["metadata"]["labels"] == {}
    assert "cancelled" not in job["spec"] or job["spec"]["cancelled"] is False


def test_a_token_for_one_org_cannot_act_in_another(control_plane: ControlPlane) -> None:
    with control_plane.http("globex", token=control_plane.token("acme")) as http:
        r = http.get("/v1/ml/jobs")
    assert r.status_code == 403
    assert "X-Org-Id" in r.json()["message"]


def test_artifact_uri_outside_the_tenant_is_refused(control_plane: ControlPlane) -> None:
    body = {**JOB, "spec": {**JOB["spec"], "artifacts": {"output": "vfs://tenant-globex/runs/x"}}}
    with control_plane.http("acme") as http:
        r = http.post("/v1/ml/jobs", json=body)
    assert r.status_code == 403
    assert "spec.artifacts.output" in r.json()["message"]


def _rv(cp: ControlPlane) -> str:
    return cp.server.store.current_resource_version()


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("malformed-json", b'{"kind": "TrainingJob", ', 400, "not valid JSON"),
    ("not-an-object", b"[1, 2]", 400, "must be a JSON object"),
    (
        "unknown-field",
        {**JOB, "spec": {**JOB["spec"], "wrokers": {"replicas": 2}}},
        422,
        "spec.wrokers",
    ),
    (
        "wrong-type",
        {**JOB, "spec": {**JOB["spec"], "workers": {"replicas": "many"}}},
        422,
        "spec.workers.replicas",
    ),
    (
        "zero-replicas",
        {**JOB, "spec": {**JOB["spec"], "workers": {"replicas": 0}}},
        422,
        "spec.workers.replicas",
    ),
    ("invalid-name", {**JOB, "metadata": {"name": "Bad_Name"}}, 422, "metadata.name"),
    ("missing-name", {**JOB, "metadata": {}}, 422, "metadata.name"),
    (
        "missing-required",
        {**JOB, "spec": {"command": ["python"], "workers": {"replicas": 1}}},
        422,
        "spec.framework",
    ),
    (
        "unknown-framework",
        {**JOB, "spec": {**JOB["spec"], "framework": "caffe"}},
        422,
        "spec.framework",
    ),
    ("wrong-kind", {**JOB, "kind": "Experiment"}, 400, "kind"),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    control_plane: ControlPlane, case: tuple[str, Any, int, str]
) -> None:
    _, body, code, needle = case
    before = _rv(control_plane)
    with control_plane.http("acme") as http:
        if isinstance(body, bytes):
            r = http.post("/v1/ml/jobs", content=body, headers={"Content-Type": "application/json"})
        else:
            r = http.post("/v1/ml/jobs", json=body)
    assert r.status_code == code, r.text
    status = r.json()
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert needle in status["message"]
    assert _rv(control_plane) == before
    assert control_plane.server.store.list("TrainingJob").items == []


def test_body_over_the_limit_is_refused(control_plane: ControlPlane) -> None:
    big = {**JOB, "metadata": {"name": "big", "annotations": {"blob": "x" * (1024 * 1024 + 1)}}}
    before = _rv(control_plane)
    with control_plane.http("acme") as http:
        r = http.post("/v1/ml/jobs", json=big)
    assert r.status_code == 413
    assert "at most 1048576 bytes" in r.json()["message"]
    assert _rv(control_plane) == before


def test_invalid_org_is_refused_naming_the_header(control_plane: ControlPlane) -> None:
    with control_plane.http("Not An Org", token=control_plane.owner_token) as http:
        r = http.get("/v1/ml/jobs")
    assert r.status_code in (400, 422)
    assert "X-Org-Id" in r.json()["message"]
