"""The proxy relays HIP-109 requests to the configured control plane: bodies, statuses and
streams pass through unchanged; the identity is the server's, not the browser's."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hanzo_ml_lab.client import Client
from tests.conftest import ControlPlane
from tests.jupyter.helpers import status_of

API = ("hanzo-ml", "api", "v1", "ml")


def experiment(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "hanzo.ai/v1", "kind": "Experiment",
            "metadata": {"name": name, "labels": labels}, "spec": {}}


async def test_post_then_get_round_trips_a_real_object(
    jp_fetch: Any, control_plane: ControlPlane
) -> None:
    created = await jp_fetch(*API, "experiments", method="POST",
                             body=json.dumps(experiment("via-proxy", team="vision")),
                             headers={"Content-Type": "application/json"})
    assert created.code == 201
    assert json.loads(created.body)["metadata"]["namespace"] == "tenant-acme"

    with control_plane.client("acme") as direct:
        assert direct.get("Experiment", "via-proxy")["metadata"]["labels"] == {"team": "vision"}

    read = await jp_fetch(*API, "experiments", "via-proxy")
    assert json.loads(read.body)["metadata"]["name"] == "via-proxy"
    listed = await jp_fetch(*API, "experiments", params={"labelSelector": "team=vision"})
    assert [i["metadata"]["name"] for i in json.loads(listed.body)["items"]] == ["via-proxy"]
    none = await jp_fetch(*API, "experiments", params={"labelSelector": "team=audio"})
    assert json.loads(none.body)["items"] == []


async def test_patch_put_and_delete_pass_through(jp_fetch: Any,
                                                 control_plane: ControlPlane) -> None:
    await jp_fetch(*API, "experiments", method="POST", body=json.dumps(experiment("e")))
    patched = await jp_fetch(*API, "experiments", "e", method="PATCH",
                             body=json.dumps({"spec": {"description": "patched"}}),
                             headers={"Content-Type": "application/merge-patch+json"})
    obj = json.loads(patched.body)
    assert obj["spec"]["description"] == "patched"
    obj["spec"]["description"] = "replaced"
    replaced = await jp_fetch(*API, "experiments", "e", method="PUT", body=json.dumps(obj))
    assert json.loads(replaced.body)["spec"]["description"] == "replaced"
    await jp_fetch(*API, "experiments", "e", method="DELETE")
    with control_plane.client("acme") as direct:
        assert direct.list("Experiment")["items"] == []


async def test_upstream_status_objects_pass_through_unchanged(
    raw_fetch: Any, control_plane: ControlPlane
) -> None:
    with control_plane.http("acme") as http:
        direct_404 = http.get("/v1/ml/experiments/missing")
        direct_422 = http.post("/v1/ml/experiments",
                               json={"kind": "Experiment", "metadata": {"name": "Bad_Name"}})
    proxied_404 = await raw_fetch("hanzo-ml/api/v1/ml/experiments/missing")
    proxied_422 = await raw_fetch(
        "hanzo-ml/api/v1/ml/experiments", method="POST",
        body=json.dumps({"kind": "Experiment", "metadata": {"name": "Bad_Name"}}))
    assert (proxied_404.code, status_of(proxied_404)) == (404, direct_404.json())
    assert (proxied_422.code, status_of(proxied_422)) == (422, direct_422.json())
    assert status_of(proxied_422)["details"]["causes"]


async def test_identity_comes_from_the_server_not_the_browser(
    jp_fetch: Any, control_plane: ControlPlane
) -> None:
    # A browser that names another org (or sends cookies) changes nothing: the object lands in
    # the configured org, with the configured token.
    await jp_fetch(*API, "experiments", method="POST", body=json.dumps(experiment("mine")),
                   headers={"X-Org-Id": "other", "Cookie": "session=stolen"})
    with control_plane.client("acme") as acme, control_plane.client("other") as other:
        assert acme.get("Experiment", "mine")
        assert other.list("Experiment")["items"] == []


async def test_watch_events_arrive_live_through_the_proxy(
    http_server_client: Any, http_server_port: Any, jp_base_url: str,
    jp_auth_header: dict[str, str], control_plane: ControlPlane,
) -> None:
    url = (f"http://127.0.0.1:{http_server_port[1]}{jp_base_url}"
           "hanzo-ml/api/v1/ml/experiments?watch=true")
    loop = asyncio.get_running_loop()

    def create_later() -> None:
        with Client(control_plane.url, token=control_plane.token("acme"), org="acme") as c:
            c.create(experiment("born-after-open"))

    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", url, headers=jp_auth_header) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("application/json;stream=watch")
            # The stream is open (headers arrived); only now does the object come to exist.
            await loop.run_in_executor(None, create_later)
            lines = response.aiter_lines()
            event = json.loads(await asyncio.wait_for(anext(lines), timeout=10))
            assert event["type"] == "ADDED"
            assert event["object"]["metadata"]["name"] == "born-after-open"
            assert not response.is_closed  # still streaming: delivered live, not at the end


@pytest.fixture
def hanzo_ml_config(control_plane: ControlPlane) -> dict[str, Any]:
    # Org "acme" with a token valid only for acme (not the owner token): what a remote
    # deployment looks like.
    return {"api_url": control_plane.url, "token": control_plane.token("acme"), "org": "acme"}
