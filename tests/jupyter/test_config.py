"""``GET {base_url}hanzo-ml/config``: what the lab extension needs, and no secret."""

from __future__ import annotations

import json
from typing import Any

from hanzo_ml_lab import __version__
from tests.conftest import ControlPlane


async def test_config_tells_the_frontend_where_the_api_is(
    jp_fetch: Any, jp_base_url: str, control_plane: ControlPlane
) -> None:
    response = await jp_fetch("hanzo-ml", "config")
    body = json.loads(response.body)
    assert response.headers["Content-Type"].startswith("application/json")
    assert body == {
        "apiBase": f"{jp_base_url}hanzo-ml/api/v1/ml",
        "org": "acme",
        "namespace": "tenant-acme",
        "mode": "remote",
        "upstream": {"healthy": True, "version": __version__},
        "version": __version__,
    }


async def test_config_never_reveals_the_token_or_the_upstream_url(
    jp_fetch: Any, control_plane: ControlPlane
) -> None:
    text = (await jp_fetch("hanzo-ml", "config")).body.decode()
    assert control_plane.owner_token not in text
    assert control_plane.url not in text
    assert control_plane.url.split("//")[1] not in text
