"""Handlers under ``{base_url}hanzo-ml/``: what the lab extension needs from the server.

    GET  hanzo-ml/config              where the API is, which org, whether the plane answers
    *    hanzo-ml/api/v1/ml/...       the control plane's HIP-109 routes (``_proxy.ProxyHandler``)
    *    hanzo-ml/...                 anything else: 404 Status

Every verb of every handler requires Jupyter authentication (``@web.authenticated``, a 403 for
API handlers) and authorization on the ``hanzo-ml`` resource; unsafe verbs on
cookie-authenticated requests need the XSRF token (``APIHandler`` checks it in ``prepare``).
Errors are Kubernetes ``Status`` objects, like the control plane's own.
"""

from __future__ import annotations

import json
from http.client import responses
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

from hanzo_ml_lab import __version__
from hanzo_ml_lab.api.errors import ApiError, NotFound
from hanzo_ml_lab.api.tenancy import tenant_namespace

if TYPE_CHECKING:
    from hanzo_ml_lab.jupyter._upstream import UpstreamResolver
    from hanzo_ml_lab.jupyter.app import HanzoMLExtension

__all__ = ["AUTH_RESOURCE", "ConfigHandler", "HanzoMLHandler", "NotFoundHandler"]

#: The resource name Jupyter authorizers see for every request to this extension.
AUTH_RESOURCE = "hanzo-ml"


class HanzoMLHandler(ExtensionHandlerMixin, APIHandler):
    """Base of our handlers: the extension, its resolver, and ``Status`` errors."""

    auth_resource = AUTH_RESOURCE

    @property
    def extensionapp(self) -> HanzoMLExtension:
        return self.settings[self.name]  # type: ignore[no-any-return]

    @property
    def resolver(self) -> UpstreamResolver:
        return self.extensionapp.resolver

    def write_status(self, error: ApiError) -> None:
        self.set_status(error.code)
        self.finish(json.dumps(error.to_status()))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Jupyter's own refusals (403 unauthenticated, XSRF, 405) as ``Status`` objects too."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        reason = responses.get(status_code, "Error")
        message = reason
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = "internal error in the hanzo-ml Jupyter extension; see the server log"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                "code": status_code, "reason": reason.replace(" ", ""),
                                "message": message}))


class ConfigHandler(HanzoMLHandler):
    """``GET hanzo-ml/config``: everything the browser needs, and no secret.

    The token and the upstream URL stay on the server: the browser only ever talks to
    ``apiBase`` on this origin, with its Jupyter credentials.
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        ext = self.extensionapp
        health, _upstream = await self.resolver.health()
        upstream: dict[str, Any] = {"healthy": health.healthy}
        if health.version:
            upstream["version"] = health.version
        if health.error:
            upstream["message"] = health.error
        self.finish(json.dumps({
            "apiBase": url_path_join(self.base_url, "hanzo-ml/api/v1/ml"),
            "org": ext.org,
            "namespace": tenant_namespace(ext.org),
            "mode": self.resolver.mode,
            "upstream": upstream,
            "version": __version__,
        }))


class NotFoundHandler(HanzoMLHandler):
    """Any other path under ``hanzo-ml/``: a 404 ``Status`` (after authentication)."""

    def _not_found(self) -> None:
        self.write_status(NotFound(
            f"{self.request.path}: no such hanzo-ml endpoint; the API is under "
            f"{url_path_join(self.base_url, 'hanzo-ml/api/v1/ml/')} and the settings at "
            f"{url_path_join(self.base_url, 'hanzo-ml/config')}"))

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def put(self) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def patch(self) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        self._not_found()
