"""The control plane's ASGI app: HIP-109's ``/v1/ml/*`` surface over a store.

``create_app`` is all a caller needs: the embedded server (``hanzo-ml serve``), the tests and
the Kubernetes facade build the same app over different stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from hanzo_ml_lab import __version__
from hanzo_ml_lab.api import KINDS
from hanzo_ml_lab.server._errors import install_error_handlers
from hanzo_ml_lab.server.routes import actions, logs
from hanzo_ml_lab.server.routes.resources import build_resource_router
from hanzo_ml_lab.server.routes.tracking import close_tracking, install_tracking
from hanzo_ml_lab.server.settings import ServerSettings
from hanzo_ml_lab.store import Store
from hanzo_ml_lab.store.tracking import TrackingStore

__all__ = ["create_app"]

Hook = Callable[[FastAPI], Awaitable[None]]


def create_app(
    settings: ServerSettings,
    store: Store,
    *,
    on_startup: list[Hook] | None = None,
    on_shutdown: list[Hook] | None = None,
    tracking: TrackingStore | None = None,
) -> FastAPI:
    """Build the app. ``on_startup``/``on_shutdown`` hooks start and stop what runs beside it
    (the controller engine in embedded mode). ``tracking`` is the ``TrackingStore`` for
    metrics and params; without one, ``<home>/tracking.db`` is opened (and closed on
    shutdown)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup or []:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(on_shutdown or []):
                await hook(app)
            close_tracking(app)

    app = FastAPI(
        title="hanzo-ml control plane",
        version=__version__,
        description="HIP-109 /v1/ml/* surface. Every route takes `Authorization: Bearer <JWT>` "
        "and `X-Org-Id`; errors are Kubernetes Status objects.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.predictor = None
    app.state.runtime = None  # set when a controller with a runtime backend runs beside the API
    app.state.extras: dict[str, Any] = {}
    install_error_handlers(app)
    app.include_router(actions.router)
    app.include_router(logs.router)
    for kind in KINDS:
        app.include_router(build_resource_router(kind))
    install_tracking(app, tracking)  # metrics, params, vfs: hanzo_ml_lab/server/routes/tracking.py

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
