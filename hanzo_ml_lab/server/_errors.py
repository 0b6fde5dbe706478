"""Every error leaves the server as one Kubernetes ``Status`` body."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hanzo_ml_lab.api.errors import ApiError, Cause, Invalid, NotFound

__all__ = ["install_error_handlers", "status_response"]


def status_response(err: ApiError) -> JSONResponse:
    headers = {}
    if err.retry_after_seconds is not None:
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after_seconds)))
    return JSONResponse(err.to_status(), status_code=err.code, headers=headers)


def _loc_to_field(loc: tuple[object, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if p in ("body", "query", "path", "header"):
            continue
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return status_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        causes = [Cause(_loc_to_field(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        message = "; ".join(f"{c.field}: {c.message}" for c in causes) or "invalid request"
        return status_response(Invalid(message, causes=causes))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return status_response(NotFound(f"no route for this path ({exc.detail})"))
        err = ApiError(str(exc.detail))
        body = err.to_status() | {
            "code": exc.status_code,
            "reason": _REASONS.get(exc.status_code, ""),
        }
        return JSONResponse(body, status_code=exc.status_code)


_REASONS = {405: "MethodNotAllowed", 406: "NotAcceptable", 415: "UnsupportedMediaType"}
