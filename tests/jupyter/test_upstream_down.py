"""A control plane that refuses or never answers is a 502 Status that says what to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.jupyter.helpers import status_of


@pytest.fixture
def hanzo_ml_config(closed_port: int) -> dict[str, Any]:
    return {"api_url": f"http://127.0.0.1:{closed_port}", "token": "t", "org": "acme",
            "connect_timeout": 1.0}


async def test_a_refused_connection_is_a_502_naming_the_plane_and_the_fix(
    raw_fetch: Any, closed_port: int
) -> None:
    for method, body in (("GET", None), ("POST", b"{}")):
        response = await raw_fetch("hanzo-ml/api/v1/ml/jobs", method=method, body=body)
        assert response.code == 502
        status = status_of(response)
        assert {k: status[k] for k in ("kind", "status", "code", "reason")} == {
            "kind": "Status", "status": "Failure", "code": 502, "reason": "BadGateway"}
        message = status["message"]
        assert message.startswith(
            f"hanzo-ml control plane at 127.0.0.1:{closed_port} is not reachable: ")
        assert "HANZO_ML_API" in message and "hanzo-ml serve" in message


async def test_config_reports_the_plane_unhealthy_with_the_reason(
    jp_fetch: Any, closed_port: int
) -> None:
    body = json.loads((await jp_fetch("hanzo-ml", "config")).body)
    assert body["mode"] == "remote"
    assert body["upstream"]["healthy"] is False
    assert f"127.0.0.1:{closed_port} is not reachable" in body["upstream"]["message"]


class TestSilentUpstream:
    @pytest.fixture
    def hanzo_ml_config(self, silent_port: int) -> dict[str, Any]:
        return {"api_url": f"http://127.0.0.1:{silent_port}", "token": "t",
                "request_timeout": 0.5, "connect_timeout": 0.5}

    async def test_an_upstream_that_never_answers_times_out_as_502(
        self, raw_fetch: Any, silent_port: int
    ) -> None:
        response = await raw_fetch("hanzo-ml/api/v1/ml/jobs")
        assert response.code == 502
        assert f"127.0.0.1:{silent_port} is not reachable: ReadTimeout" in \
            status_of(response)["message"]


class TestNothingConfigured:
    @pytest.fixture
    def hanzo_ml_config(self, tmp_path: Any) -> dict[str, Any]:
        return {"api_url": "", "start_embedded": False, "home": str(tmp_path / "nowhere")}

    async def test_no_api_url_and_no_embedded_start_says_how_to_fix_it(
        self, raw_fetch: Any, jp_fetch: Any, tmp_path: Any
    ) -> None:
        response = await raw_fetch("hanzo-ml/api/v1/ml/jobs")
        assert response.code == 502
        message = status_of(response)["message"]
        assert "HANZO_ML_API" in message and "hanzo-ml serve" in message
        config = json.loads((await jp_fetch("hanzo-ml", "config")).body)
        assert (config["mode"], config["upstream"]["healthy"]) == ("embedded", False)
        assert not (tmp_path / "nowhere").exists()  # nothing was started
