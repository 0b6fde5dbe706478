"""``HanzoMLExtension``: the Jupyter server side of hanzo-ml-lab.

Enabled on install by ``jupyter-config/jupyter_server_config.d/hanzo_ml_lab.json``
(``ServerApp.jpserver_extensions = {"hanzo_ml_lab.jupyter": true}``). Configure it like any
traitlets app, e.g. in ``jupyter_server_config.py``::

    c.HanzoMLExtension.api_url = "https://ml.example.com"
    c.HanzoMLExtension.token_file = "/var/run/secrets/hanzo-ml/token"
    c.HanzoMLExtension.org = "acme"

or on the command line: ``jupyter lab --HanzoMLExtension.org=acme``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, TraitError, Unicode, default, validate

from hanzo_ml_lab.api.errors import Invalid
from hanzo_ml_lab.api.tenancy import tenant_namespace
from hanzo_ml_lab.env import (
    HANZO_ML_API,
    HANZO_ML_ORG,
    HANZO_ML_TOKEN,
    HANZO_ML_TOKEN_FILE,
    home_dir,
)
from hanzo_ml_lab.jupyter._proxy import ProxyHandler
from hanzo_ml_lab.jupyter._upstream import UpstreamResolver, host_of
from hanzo_ml_lab.jupyter.handlers import ConfigHandler, NotFoundHandler

__all__ = ["HANDLERS", "HanzoMLExtension"]

#: Routes, relative to ``{base_url}``; first match wins.
HANDLERS: list[tuple[str, type[Any]]] = [
    (r"hanzo-ml/config", ConfigHandler),
    (r"hanzo-ml/api(?:/.*)?", ProxyHandler),
    (r"hanzo-ml(?:/.*)?", NotFoundHandler),
]


class HanzoMLExtension(ExtensionApp):
    """Proxies ``{base_url}hanzo-ml/api/v1/ml/*`` to the control plane, serves
    ``{base_url}hanzo-ml/config``, and starts the embedded control plane when none is set."""

    name = "hanzo_ml_lab"
    description = "hanzo-ml-lab: notebook-first ML control plane (HIP-109) for Jupyter"
    load_other_extensions = True

    api_url = Unicode(
        help="""Base URL of the hanzo-ml control plane, e.g. https://ml.example.com (the proxy
        appends /v1/ml/...). Default: $HANZO_ML_API. Empty: use the embedded control plane of
        `home`, starting it if `start_embedded`. Must not carry credentials; use `token` or
        `token_file`.""",
    ).tag(config=True)

    token = Unicode(
        help="""Bearer token (JWT) the proxy sends to a remote `api_url`. Default:
        $HANZO_ML_TOKEN. Ignored when `token_file` is set. The embedded control plane uses the
        owner token in its home instead. Never sent to the browser.""",
    ).tag(config=True)

    token_file = Unicode(
        help="""File holding the bearer token for `api_url`, re-read when it changes (e.g. a
        mounted secret). Default: $HANZO_ML_TOKEN_FILE.""",
    ).tag(config=True)

    org = Unicode(
        help="""Org sent as X-Org-Id with every proxied request; its namespace is
        tenant-<org>. Default: $HANZO_ML_ORG, else 'default'.""",
    ).tag(config=True)

    home = Unicode(
        help="""State directory of the embedded control plane (server.json, token, database,
        logs). Default: $HANZO_ML_HOME, else ~/.hanzo-ml.""",
    ).tag(config=True)

    start_embedded = Bool(
        True,
        help="""When `api_url` is empty: attach to the embedded control plane of `home`, or
        start one (`hanzo-ml serve`, detached so it outlives this server).""",
    ).tag(config=True)

    embedded_start_timeout = Float(
        20.0,
        help="Seconds to wait for a newly started embedded control plane to become healthy.",
    ).tag(config=True)

    request_timeout = Float(
        30.0,
        help="""Seconds to wait for the control plane to answer a proxied request. Watch and
        log-follow streams (?watch=true, ?follow=true) have no read timeout.""",
    ).tag(config=True)

    connect_timeout = Float(
        5.0,
        help="Seconds to wait for a connection to the control plane.",
    ).tag(config=True)

    inject_kernel_env = Bool(
        True,
        help="""Put HANZO_ML_API, HANZO_ML_TOKEN_FILE (or HANZO_ML_TOKEN), HANZO_ML_ORG and
        HANZO_ML_HOME in this server's environment, which kernels inherit, so
        `%load_ext hanzo_ml_lab` needs no setup.""",
    ).tag(config=True)

    @default("api_url")
    def _default_api_url(self) -> str:
        return _check_api_url(HANZO_ML_API.get() or "", source=" (from $HANZO_ML_API)")

    @default("token")
    def _default_token(self) -> str:
        return HANZO_ML_TOKEN.get() or ""

    @default("token_file")
    def _default_token_file(self) -> str:
        return HANZO_ML_TOKEN_FILE.get() or ""

    @default("org")
    def _default_org(self) -> str:
        return _check_org(HANZO_ML_ORG.get() or "default", source=" (from $HANZO_ML_ORG)")

    @default("home")
    def _default_home(self) -> str:
        return str(home_dir())

    @validate("api_url")
    def _validate_api_url(self, proposal: Any) -> str:
        return _check_api_url(str(proposal["value"]))

    @validate("org")
    def _validate_org(self, proposal: Any) -> str:
        return _check_org(str(proposal["value"]))

    def initialize_settings(self) -> None:
        self.resolver = UpstreamResolver(
            api_url=self.api_url, token=self.token, token_file=self.token_file, org=self.org,
            home=Path(self.home).expanduser(), start_embedded=self.start_embedded,
            connect_timeout=self.connect_timeout, request_timeout=self.request_timeout,
            embedded_timeout=self.embedded_start_timeout,
            inject_kernel_env=self.inject_kernel_env, log=self.log,
        )
        where = f"at {host_of(self.api_url)}" if self.api_url else f"of {self.home}"
        self.log.info("hanzo-ml: %s control plane %s, org %s", self.resolver.mode, where,
                      self.org)

    def initialize_handlers(self) -> None:
        self.handlers.extend(HANDLERS)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # The event loop runs now: start (or attach to) the embedded plane in the background,
        # so it is ready by the time the lab asks. Handlers await it if it is not.
        self.resolver.start()

    async def stop_extension(self) -> None:
        # The embedded control plane is deliberately left running: jobs outlive Jupyter.
        resolver = getattr(self, "resolver", None)
        if resolver is not None:
            await resolver.aclose()


def _check_api_url(value: str, source: str = "") -> str:
    """``value`` without a trailing slash, or ``TraitError`` naming the rule it breaks."""
    url = value.strip()
    if not url:
        return ""
    where = f"HanzoMLExtension.api_url{source}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TraitError(f"{where}: must be an http(s) URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise TraitError(f"{where}: must not carry credentials; set HanzoMLExtension.token "
                         "or token_file instead")
    if parts.query or parts.fragment:
        raise TraitError(f"{where}: must have no query or fragment, got {url!r}")
    return url.rstrip("/")


def _check_org(org: str, source: str = "") -> str:
    try:
        tenant_namespace(org)
    except Invalid as e:
        raise TraitError(f"HanzoMLExtension.org{source}: {e.message}") from None
    return org
