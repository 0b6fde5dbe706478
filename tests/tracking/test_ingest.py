"""POST /runs/{name}/log and the reads: round trip, exactly-once, write-once params, errors,
the per-experiment rate limit, tenant isolation."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from tests.conftest import ControlPlane
from tests.tracking.conftest import all_points, make_run


def batch(batch_id: str, n: int = 3, key: str = "loss", start: int = 0,
          **extra: Any) -> dict[str, Any]:
    values = [float(i) / 2 for i in range(start, start + n)]
    return {"batchId": batch_id,
            "metrics": {"keys": [key] * n, "values": values,
                        "steps": list(range(start, start + n)),
                        "timestamps": [1_700_000_000_000 + i for i in range(n)]},
            **extra}


def test_a_batch_round_trips_points_params_and_tags(control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c)
    body = {"batchId": "b-1",
            "metrics": {"keys": ["loss", "acc", "loss", "acc"], "values": [1.0, 0.5, "NaN", 0.75],
                        "steps": [0, 0, 1, 1]},
            "params": {"lr": 0.01, "layers": 3}, "tags": {"owner": "ada"}}
    assert c.log_run_batch("r1", body) == {"accepted": 4, "duplicate": False}

    points = all_points(c, "r1")
    assert [(p["key"], p["step"]) for p in points] == [("loss", 0), ("loss", 1), ("acc", 0),
                                                       ("acc", 1)]
    assert [p["seq"] for p in points] == sorted(p["seq"] for p in points)
    assert points[1]["value"] == "NaN"  # JSON has no NaN: the wire spells it
    assert c.run_params("r1") == {"params": {"lr": "0.01", "layers": "3"},
                                  "tags": {"owner": "ada"}}
    latest = c.run_latest_metrics("r1")["metrics"]
    assert latest["acc"]["value"] == 0.75 and latest["acc"]["step"] == 1
    assert latest["loss"] == {**latest["loss"], "value": "NaN", "count": 2, "min": 1.0,
                              "max": 1.0}
    only_acc = c.metric_page(run="r1", key="acc", after=0)
    assert [p["value"] for p in only_acc["items"]] == [0.5, 0.75]
    assert c.metric_page(run="r1", after=only_acc["next"])["items"] == []


def test_packed_columns_are_accepted(control_plane: ControlPlane) -> None:
    import base64
    from array import array

    c = control_plane.client()
    make_run(c)
    values = base64.b64encode(array("d", [1.5, math.inf]).tobytes()).decode()
    steps = base64.b64encode(array("q", [7, 8]).tobytes()).decode()
    c.log_run_batch("r1", {"batchId": "p", "metrics": {
        "keys": ["x", "x"], "values": {"f64": values}, "steps": {"i64": steps}}})
    assert [(p["step"], p["value"]) for p in all_points(c, "r1")] == [(7, 1.5), (8, "Infinity")]


def test_a_batch_id_is_ingested_once(control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c)
    assert c.log_run_batch("r1", batch("same", 5))["duplicate"] is False
    again = c.log_run_batch("r1", batch("same", 5))
    assert again == {"accepted": 0, "duplicate": True}
    assert len(all_points(c, "r1")) == 5


def test_params_are_write_once_and_a_conflicting_batch_changes_nothing(
        control_plane: ControlPlane) -> None:
    from hanzo_ml_lab.api.errors import Conflict

    c = control_plane.client()
    make_run(c, params={"epochs": "10"})
    c.log_run_batch("r1", {"batchId": "a", "params": {"lr": "0.1"}})
    c.log_run_batch("r1", {"batchId": "b", "params": {"lr": "0.1"}})  # same value: fine
    with pytest.raises(Conflict) as err:
        c.log_run_batch("r1", batch("c", 4, params={"lr": "0.2"}, tags={"t": "x"}))
    assert err.value.causes[0].field == "params.lr"
    assert "write-once" in err.value.message
    assert all_points(c, "r1") == []  # the batch's points went down with it
    assert c.run_params("r1")["tags"] == {}
    with pytest.raises(Conflict, match="params.epochs"):  # the Run's spec params count too
        c.log_run_batch("r1", {"batchId": "d", "params": {"epochs": "20"}})


def test_a_bad_batch_names_the_field_and_writes_nothing(control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c)
    with control_plane.http() as http:
        r = http.post("/v1/ml/runs/r1/log", json={
            "batchId": "bad", "metrics": {"keys": ["ok", "no!"], "values": [1, "abc"]},
            "end": {"phase": "Done"}})
        assert r.status_code == 422
        fields = {cause["field"] for cause in r.json()["details"]["causes"]}
        assert fields == {"metrics.keys[1]", "metrics.values[1]", "end.phase"}
        r = http.post("/v1/ml/runs/r1/log", json={
            "batchId": "short", "metrics": {"keys": ["a", "b"], "values": [1.0]}})
        assert r.status_code == 422
        assert "metrics.values: must have as many items as metrics.keys (2)" in r.json()["message"]
        r = http.post("/v1/ml/runs/r1/log", content=b"{not json")
        assert r.status_code == 400
    assert all_points(c, "r1") == []


def test_a_missing_run_is_404(control_plane: ControlPlane) -> None:
    from hanzo_ml_lab.api.errors import NotFound

    c = control_plane.client()
    with pytest.raises(NotFound):
        c.log_run_batch("nope", batch("x"))
    with pytest.raises(NotFound):
        c.metric_page(run="nope")
    with pytest.raises(NotFound):
        c.metric_page(experiment="nope")


def test_a_flood_is_rate_limited_per_experiment_with_retry_after(
        control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c, "flood", "limited", rate=50)
    make_run(c, "calm", "other")
    accepted = refused = 0
    with control_plane.http() as http:
        for i in range(12):
            r = http.post("/v1/ml/runs/flood/log", json=batch(f"f{i}", 20, start=20 * i))
            if r.status_code == 429:
                refused += 1
                assert int(r.headers["Retry-After"]) >= 1
                status = r.json()
                assert status["reason"] == "TooManyRequests"
                assert 0 < status["details"]["retryAfterSeconds"] <= 1
                assert "50 points/s" in status["message"]
            else:
                assert r.status_code == 200
                accepted += r.json()["accepted"]
        # another experiment has its own bucket (the server default, 1000/s)
        assert http.post("/v1/ml/runs/calm/log", json=batch("c", 500)).status_code == 200
        # params alone cost nothing
        assert http.post("/v1/ml/runs/flood/log",
                         json={"batchId": "p", "params": {"a": "1"}}).status_code == 200
    assert refused > 0 and accepted <= 60 + 20
    assert len(all_points(c, "flood")) == accepted  # a refused batch wrote nothing


def test_a_batch_bigger_than_the_bucket_is_admitted_when_it_is_full(
        control_plane: ControlPlane) -> None:
    c = control_plane.client()
    make_run(c, "big", "tiny", rate=10)
    assert c.log_run_batch("big", batch("huge", 100))["accepted"] == 100
    from hanzo_ml_lab.api.errors import TooManyRequests

    with pytest.raises(TooManyRequests) as err:
        c.log_run_batch("big", batch("next", 1))
    assert err.value.retry_after_seconds is not None and err.value.retry_after_seconds > 5


def test_another_tenant_sees_nothing(control_plane: ControlPlane) -> None:
    acme = control_plane.client("acme")
    make_run(acme)
    acme.log_run_batch("r1", batch("a"))
    with control_plane.http("globex") as http:
        for method, path, body in [
            ("POST", "/v1/ml/runs/r1/log", batch("g")),
            ("GET", "/v1/ml/runs/r1/metrics", None),
            ("GET", "/v1/ml/runs/r1/metrics?watch=true", None),
            ("GET", "/v1/ml/runs/r1/metrics/latest", None),
            ("GET", "/v1/ml/runs/r1/params", None),
            ("GET", "/v1/ml/experiments/exp/metrics", None),
        ]:
            r = http.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
    # and globex's own run of the same name is a separate world
    globex = control_plane.client("globex")
    make_run(globex)
    assert all_points(globex, "r1") == []
    globex.log_run_batch("r1", batch("a"))  # the same batch id in another tenant is new
    assert len(all_points(globex, "r1")) == 3 and len(all_points(acme, "r1")) == 3


def test_every_tracking_route_needs_a_token(control_plane: ControlPlane) -> None:
    import httpx

    with httpx.Client(base_url=control_plane.url) as http:
        for method, path in [("POST", "/v1/ml/runs/r1/log"), ("GET", "/v1/ml/runs/r1/metrics"),
                             ("GET", "/v1/ml/runs/r1/params"),
                             ("GET", "/v1/ml/experiments/e/metrics"),
                             ("PUT", "/v1/ml/vfs/tenant-acme/x"),
                             ("GET", "/v1/ml/vfs/tenant-acme/x")]:
            assert http.request(method, path, headers={"X-Org-Id": "acme"}).status_code == 401


def test_ingest_keeps_up(control_plane: ControlPlane) -> None:
    """Not a benchmark: a guard against an accidental per-point round trip."""
    c = control_plane.client()
    make_run(c, "fast", "fast", rate=10_000_000)
    t0 = time.perf_counter()
    for i in range(5):
        c.log_run_batch("fast", batch(f"b{i}", 10_000, start=i * 10_000))
    assert time.perf_counter() - t0 < 10
    assert c.run_latest_metrics("fast")["metrics"]["loss"]["count"] == 50_000
