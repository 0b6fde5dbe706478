"""Reading a request body: size limit first, then JSON (or YAML), with errors that say where."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import Request

from hanzo_ml_lab.api.errors import BadRequest, RequestTooLarge

__all__ = ["read_object"]


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body: must be at most {limit} bytes, got {declared}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body: must be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; YAML when the content type says so."""
    limit: int = request.app.state.settings.max_body_bytes
    raw = await _read_limited(request, limit)
    if not raw.strip():
        raise BadRequest("request body: must be a JSON object, got an empty body")
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            data = yaml.safe_load(raw)
        else:
            data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadRequest(
            f"request body: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from e
    except yaml.YAMLError as e:
        raise BadRequest(f"request body: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise BadRequest(f"request body: must be a JSON object, got {type(data).__name__}")
    return data
