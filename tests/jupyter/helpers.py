"""Helpers shared by the Jupyter extension tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import HTTPResponse


def status_of(response: HTTPResponse) -> dict[str, Any]:
    body = json.loads(response.body)
    assert isinstance(body, dict)
    return body


@dataclass
class Canary:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    port: int
    hits: list[str] = field(default_factory=list)

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"
