"""Where the proxy sends requests, and with which identity.

The upstream is decided by configuration only: ``HanzoMLExtension.api_url`` (remote mode), or
the embedded control plane of ``HanzoMLExtension.home`` (embedded mode, started on demand).
Handlers ``await resolver.get()``; in embedded mode the first call starts (or attaches to) the
plane in the background and later calls share that one attempt. A failed attempt is forgotten,
so the next request tries again, and a plane that stops answering is looked up again.

Kernels inherit the Jupyter server's environment, so once the upstream is known its address,
org, home and token (file) are put in ``os.environ``: ``%load_ext hanzo_ml_lab`` in any kernel
this server starts finds the same control plane without setup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from hanzo_ml_lab.api.errors import ApiError, BadGateway
from hanzo_ml_lab.jupyter._embedded import (
    EmbeddedStartError,
    Health,
    attach_or_start,
    probe,
)

__all__ = ["Upstream", "UpstreamResolver", "host_of", "kernel_environment"]

log = logging.getLogger(__name__)

Mode = Literal["embedded", "remote"]

WHAT_TO_DO = ("check HANZO_ML_API (HanzoMLExtension.api_url), or start one with "
              "`hanzo-ml serve`")


def host_of(url: str) -> str:
    """``host:port`` of ``url``, never its credentials, path or query."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Upstream:
    """One resolved control plane. The token is read from ``token_file`` when one is given,
    again whenever the file changes, so a rotated token is picked up without a restart."""

    base_url: str
    mode: Mode
    token: str = ""
    token_file: Path | None = None
    _cache: tuple[float, str] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return host_of(self.base_url)

    def bearer(self) -> str:
        if self.token_file is None:
            return self.token
        try:
            mtime = self.token_file.stat().st_mtime
            if self._cache is None or self._cache[0] != mtime:
                self._cache = (mtime, self.token_file.read_text().strip())
            return self._cache[1]
        except OSError:
            return self.token


def kernel_environment(upstream: Upstream, *, org: str, home: Path) -> dict[str, str | None]:
    """The ``HANZO_ML_*`` variables a kernel needs to reach ``upstream`` (``None``: unset)."""
    env: dict[str, str | None] = {
        "HANZO_ML_API": upstream.base_url,
        "HANZO_ML_ORG": org,
        "HANZO_ML_HOME": str(home),
    }
    if upstream.token_file is not None:
        # The file, not its content: the token stays out of `ps e` and follows rotation. An
        # inherited HANZO_ML_TOKEN would win over the file, so it is removed.
        env["HANZO_ML_TOKEN_FILE"] = str(upstream.token_file)
        env["HANZO_ML_TOKEN"] = None
    elif upstream.token:
        env["HANZO_ML_TOKEN"] = upstream.token
        env["HANZO_ML_TOKEN_FILE"] = None
    return env


def apply_environment(env: dict[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass
class UpstreamResolver:
    """Resolves the upstream for the handlers; one per extension (and event loop)."""

    api_url: str
    token: str
    token_file: str
    org: str
    home: Path
    start_embedded: bool
    connect_timeout: float
    request_timeout: float
    embedded_timeout: float = 20.0
    inject_kernel_env: bool = True
    _upstream: Upstream | None = None
    _task: asyncio.Task[Upstream] | None = None
    _process: subprocess.Popen[bytes] | None = None
    _client: httpx.AsyncClient | None = None
    _last_port: int = 0
    log: logging.Logger = field(default_factory=lambda: log)

    @property
    def mode(self) -> Mode:
        return "remote" if self.api_url else "embedded"

    def __post_init__(self) -> None:
        if self.api_url:
            self._upstream = Upstream(
                base_url=self.api_url.rstrip("/"), mode="remote", token=self.token,
                token_file=Path(self.token_file).expanduser() if self.token_file else None)
            self._export(self._upstream)
        elif self.inject_kernel_env:
            # The address is not known yet, but the home is: a kernel started before the plane
            # is up still finds it through <home>/server.json.
            apply_environment({"HANZO_ML_HOME": str(self.home), "HANZO_ML_ORG": self.org})

    # -- the shared HTTP client --------------------------------------------------------------
    @property
    def client(self) -> httpx.AsyncClient:
        """One pooled client; ``trust_env=False`` so no proxy variable or ``.netrc`` adds a hop
        or credentials the configuration did not name."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False, follow_redirects=False,
                timeout=httpx.Timeout(self.request_timeout, connect=self.connect_timeout))
        return self._client

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- resolving ---------------------------------------------------------------------------
    def start(self) -> None:
        """Begin resolving in the background (embedded mode); returns at once."""
        if self._upstream is None and self.start_embedded and \
                (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._start_embedded())
            self._task.add_done_callback(self._report)

    def _report(self, task: asyncio.Task[Upstream]) -> None:
        # Retrieved here, so a failed background start is logged even if no request awaits it.
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("hanzo-ml: %s", self._start_error(task.exception()))

    def _start_error(self, error: BaseException | None) -> str:
        if isinstance(error, EmbeddedStartError):
            return str(error)
        return f"cannot start the embedded control plane in {self.home}: {error}"

    async def get(self) -> Upstream:
        """The upstream to use now. Raises ``ApiError`` (502) when there is none."""
        if self._upstream is not None:
            return self._upstream
        if not self.start_embedded:
            raise BadGateway(
                "no hanzo-ml control plane is configured and HanzoMLExtension.start_embedded "
                f"is off: set HANZO_ML_API (HanzoMLExtension.api_url), or start one with "
                f"`hanzo-ml serve --home {self.home}`")
        self.start()
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except (EmbeddedStartError, OSError) as e:
            raise BadGateway(f"hanzo-ml: {self._start_error(e)}") from e

    def forget(self, upstream: Upstream) -> bool:
        """The embedded ``upstream`` stopped answering: look it up again next time. Returns
        whether anything was forgotten (remote upstreams are configuration, never forgotten)."""
        if upstream.mode == "embedded" and self._upstream is upstream:
            self._upstream = None
            return True
        return False

    async def _start_embedded(self) -> Upstream:
        # Restarting a plane that went away, we ask for its old port: kernels started since
        # were given that address in HANZO_ML_API.
        info, process = await attach_or_start(self.home, timeout=self.embedded_timeout,
                                              connect_timeout=self.connect_timeout,
                                              port=self._last_port)
        self._last_port = urlsplit(info.url).port or 0
        if process is not None:
            self._process = process  # kept so the child is reaped, never waited on
        self.log.info("hanzo-ml: %s the embedded control plane at %s (pid %s, home %s)",
                      "started" if process is not None else "attached to", info.url, info.pid,
                      self.home)
        upstream = Upstream(base_url=info.url, mode="embedded", token_file=info.token_file)
        self._upstream = upstream
        self._export(upstream)
        return upstream

    def _export(self, upstream: Upstream) -> None:
        if self.inject_kernel_env:
            apply_environment(kernel_environment(upstream, org=self.org, home=self.home))

    async def health(self) -> tuple[Health, Upstream | None]:
        """Health of the upstream (starting the embedded one if need be), for ``/config``."""
        try:
            upstream = await self.get()
        except ApiError as e:
            return Health(False, error=e.message), None
        health = await probe(upstream.base_url, timeout=self.connect_timeout, client=self.client)
        if not health.healthy and self.forget(upstream):
            # The embedded plane went away (stopped, machine rebooted): find or start it again.
            try:
                upstream = await self.get()
            except ApiError as e:
                return Health(False, error=e.message), None
            health = await probe(upstream.base_url, timeout=self.connect_timeout,
                                 client=self.client)
        if not health.healthy:
            health = Health(False, error=unreachable_message(upstream, health.error or ""))
        return health, upstream


def unreachable_message(upstream: Upstream, reason: str) -> str:
    return (f"hanzo-ml control plane at {upstream.host} is not reachable: {reason}; "
            f"{WHAT_TO_DO}")
