"""The /v1/ml/* surface over real HTTP: routes, CRUD of every Kind, finalizers, watch."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ControlPlane

EXAMPLES_DIR = Path(__file__).parents[2] / "docs" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))

HIP_ROUTES = """
POST /v1/ml/jobs
GET /v1/ml/jobs
GET /v1/ml/jobs/{name}
DELETE /v1/ml/jobs/{name}
POST /v1/ml/jobs/{name}/cancel
POST /v1/ml/experiments
GET /v1/ml/experiments
GET /v1/ml/experiments/{name}
GET /v1/ml/experiments/{name}/runs
GET /v1/ml/experiments/{name}/metrics
POST /v1/ml/sweeps
GET /v1/ml/sweeps
GET /v1/ml/sweeps/{name}
GET /v1/ml/sweeps/{name}/trials
POST /v1/ml/pipelines
GET /v1/ml/pipelines
GET /v1/ml/pipelines/{name}
POST /v1/ml/pipelines/{name}/run
POST /v1/ml/notebooks
GET /v1/ml/notebooks
GET /v1/ml/notebooks/{name}
POST /v1/ml/notebooks/{name}/stop
POST /v1/ml/models
GET /v1/ml/models
GET /v1/ml/models/{name}
POST /v1/ml/models/{name}/versions
POST /v1/ml/inference
GET /v1/ml/inference
GET /v1/ml/inference/{name}
POST /v1/ml/inference/{name}:predict
"""


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_every_hip_route_is_served_at_its_exact_path(control_plane: ControlPlane) -> None:
    with control_plane.http() as http:
        spec = http.get("/openapi.json").json()
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    wanted = {tuple(line.split()) for line in HIP_ROUTES.strip().splitlines()}
    assert wanted - served == set()
    assert not any(p.startswith("/api/") for _, p in served)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_kind_round_trips_through_http(control_plane: ControlPlane, example: Path) -> None:
    obj = load(example)
    kind, name = obj["kind"], obj["metadata"]["name"]
    client = control_plane.client("acme")
    created = client.create(obj)
    assert created["metadata"]["namespace"] == "tenant-acme"
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["uid"]
    got = client.get(kind, name)
    assert got["spec"] == created["spec"]
    listed = client.list(kind)
    assert [i["metadata"]["name"] for i in listed["items"]] == [name]

    patched = client.patch(kind, name, {"metadata": {"labels": {"touched": "yes"}}})
    assert patched["metadata"]["labels"]["touched"] == "yes"
    assert patched["metadata"]["generation"] == 1, "a label change is not a spec change"
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    replaced = client.replace(
        {**patched, "metadata": {**patched["metadata"], "annotations": {"note": "replaced"}}}
    )
    assert replaced["metadata"]["annotations"] == {"note": "replaced"}

    client.delete(kind, name)
    with pytest.raises(Exception) as err:
        client.get(kind, name)
    assert getattr(err.value, "code", None) == 404


def test_stale_resource_version_gets_409(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    exp = client.create({"kind": "Experiment", "metadata": {"name": "e1"}, "spec": {}})
    client.patch("Experiment", "e1", {"spec": {"description": "newer"}})
    with control_plane.http() as http:
        stale = {**exp, "spec": {"description": "older"}}
        r = http.put("/v1/ml/experiments/e1", json=stale)
    assert r.status_code == 409
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "Conflict"
    assert client.get("Experiment", "e1")["spec"]["description"] == "newer"


def test_delete_waits_for_finalizer_until_it_is_removed(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    client.create(
        {
            "kind": "Experiment",
            "metadata": {"name": "held", "finalizers": ["hanzo.ai/test"]},
            "spec": {},
        }
    )
    left = client.delete("Experiment", "held")
    assert left["metadata"]["deletionTimestamp"]
    assert client.get("Experiment", "held")["metadata"]["deletionTimestamp"]
    client.patch("Experiment", "held", {"metadata": {"finalizers": []}})
    with pytest.raises(Exception) as err:
        client.get("Experiment", "held")
    assert getattr(err.value, "code", None) == 404


def test_cascade_delete_follows_owner_references(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    exp = client.create({"kind": "Experiment", "metadata": {"name": "parent"}, "spec": {}})
    owner = {
        "apiVersion": "hanzo.ai/v1",
        "kind": "Experiment",
        "name": "parent",
        "uid": exp["metadata"]["uid"],
    }
    client.create(
        {
            "kind": "Run",
            "metadata": {"name": "child", "ownerReferences": [owner]},
            "spec": {"experiment": "parent"},
        }
    )
    client.delete("Experiment", "parent")
    assert client.list("Run")["items"] == []


def test_watch_replays_from_resource_version_then_follows_live(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    first = client.create({"kind": "Experiment", "metadata": {"name": "a"}, "spec": {}})
    client.create({"kind": "Experiment", "metadata": {"name": "b"}, "spec": {}})
    client.create({"kind": "Experiment", "metadata": {"name": "c"}, "spec": {}})
    seen: list[tuple[str, str]] = []

    def later() -> None:
        control_plane.client("acme").create(
            {"kind": "Experiment", "metadata": {"name": "d"}, "spec": {}}
        )

    timer = threading.Timer(0.3, later)
    timer.start()
    for ev in client.watch(
        "Experiment", resource_version=first["metadata"]["resourceVersion"], timeout=10
    ):
        if ev["type"] == "BOOKMARK":
            continue
        seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        if len(seen) == 3:
            break
    timer.join()
    assert seen == [("ADDED", "b"), ("ADDED", "c"), ("ADDED", "d")]


def test_watch_from_a_compacted_version_reports_expired(control_plane: ControlPlane) -> None:
    with control_plane.http() as http:
        with http.stream(
            "GET", "/v1/ml/experiments", params={"watch": "true", "resourceVersion": "-5"}
        ) as r:
            first = json.loads(next(r.iter_lines()))
    assert first["type"] == "ERROR"
    assert first["object"]["kind"] == "Status"


def test_run_pipeline_creates_a_run_owned_by_the_pipeline(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    pipeline = client.create(load(EXAMPLES_DIR / "pipeline-train-eval-deploy.yaml"))
    name = pipeline["metadata"]["name"]
    run = client.run_pipeline(name, {"lr": 0.1})
    assert run["kind"] == "Run"
    assert run["spec"]["source"] == {"kind": "Pipeline", "name": name}
    assert run["metadata"]["ownerReferences"][0]["name"] == name


def test_stop_notebook_sets_idle_timeout_to_zero(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    client.create(
        {"kind": "Notebook", "metadata": {"name": "nb"}, "spec": {"idleTimeoutSeconds": 1800}}
    )
    assert client.stop_notebook("nb")["spec"]["idleTimeoutSeconds"] == 0


def test_model_versions_are_added_once_and_recorded(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    client.create(
        {
            "kind": "Model",
            "metadata": {"name": "m"},
            "spec": {"framework": "sklearn", "artifact": "vfs://tenant-acme/models/m/v1.bin"},
        }
    )
    model = client.add_model_version(
        "m", {"name": "v1", "artifact": "vfs://tenant-acme/models/m/v1.bin"}
    )
    assert [v["name"] for v in model["spec"]["versions"]] == ["v1"]
    assert client.get("ModelVersion", "m-v1")["spec"]["version"] == "v1"
    with pytest.raises(Exception) as err:
        client.add_model_version("m", {"name": "v1", "artifact": "vfs://tenant-acme/x"})
    assert getattr(err.value, "code", None) == 409


def test_cancel_marks_the_job_cancelled(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    client.create(
        {
            "kind": "TrainingJob",
            "metadata": {"name": "j"},
            "spec": {
                "framework": "pytorch",
                "command": ["python", "-c", "pass"],
                "workers": {"replicas": 1},
            },
        }
    )
    assert client.cancel_job("j")["spec"]["cancelled"] is True


def test_predict_on_an_inference_that_is_not_running_is_503(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    client.create(
        {
            "kind": "Inference",
            "metadata": {"name": "inf"},
            "spec": {"runtime": "engine", "model": {"name": "m", "version": "v1"}, "replicas": 1},
        }
    )
    with control_plane.http() as http:
        r = http.post("/v1/ml/inference/inf:predict", json={"inputs": []})
    assert r.status_code == 503
    assert "not ready" in r.json()["message"]


def test_a_second_control_plane_on_the_same_home_is_refused(control_plane: ControlPlane) -> None:
    from hanzo_ml_lab.server.embedded import HomeInUse, build_embedded_app

    with pytest.raises(HomeInUse, match="another hanzo-ml control plane"):
        build_embedded_app(control_plane.home)


def test_experiment_runs_lists_only_that_experiments_runs(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    for exp in ("a", "b"):
        client.create({"kind": "Experiment", "metadata": {"name": exp}, "spec": {}})
        client.create({"kind": "Run", "metadata": {"name": f"run-{exp}",
                                                   "labels": {"hanzo.ai/experiment": exp}},
                       "spec": {"experiment": exp}})
    runs = client.experiment_runs("a")
    assert runs["kind"] == "RunList"
    assert [r["metadata"]["name"] for r in runs["items"]] == ["run-a"]
    with control_plane.http("acme") as http:
        assert http.get("/v1/ml/experiments/missing/runs").status_code == 404


def test_sweep_trials_lists_the_child_training_jobs(control_plane: ControlPlane) -> None:
    client = control_plane.client("acme")
    client.create(load(EXAMPLES_DIR / "sweep-lr-sweep-q2.yaml"))
    client.create({"kind": "TrainingJob",
                   "metadata": {"name": "lr-sweep-q2-t0",
                                "labels": {"hanzo.ai/sweep": "lr-sweep-q2"}},
                   "spec": {"framework": "pytorch", "command": ["python", "-c", "pass"]}})
    client.create({"kind": "TrainingJob", "metadata": {"name": "unrelated"},
                   "spec": {"framework": "pytorch", "command": ["python", "-c", "pass"]}})
    trials = client.sweep_trials("lr-sweep-q2")
    assert [t["metadata"]["name"] for t in trials["items"]] == ["lr-sweep-q2-t0"]
