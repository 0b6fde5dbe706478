"""The thin streaming proxy: ``{base_url}hanzo-ml/api/v1/ml/...`` → ``<upstream>/v1/ml/...``.

Why not jupyter-server-proxy's ``ProxyHandler`` (STYLE.md suggests subclassing it): in 4.6 it
buffers the whole response unless the browser sends exactly ``Accept: text/event-stream``, so a
``?watch=true`` NDJSON stream would never arrive; it forwards every browser header (Cookie, the
Jupyter token) to the upstream; it turns XSRF checks off ("defer to proxied apps"); it builds
``http://{host}:{port}{path}`` only (no https, no base path); and a refused connection becomes
a bare 599 text body. Overriding all of that leaves nothing of the base class, so this handler
relays with ``httpx.AsyncClient`` directly, in a few dozen lines. Details: docs/jupyter.md.

What it guarantees:
- the upstream comes from configuration; the path is re-built from validated segments
  (``_paths.upstream_path``), so no request picks the host, port or leaves ``/v1/ml/``;
- the identity is the server's: ``Authorization``/``X-Org-Id`` are set here, and nothing the
  browser sent besides ``Content-Type`` and ``Accept`` is forwarded;
- status and body pass through unchanged, chunk by chunk, flushed as they arrive;
- an upstream that does not answer is a 502 ``Status`` saying what to check.
"""

from __future__ import annotations

import asyncio

import httpx
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from hanzo_ml_lab import __version__
from hanzo_ml_lab.api.errors import ApiError, BadGateway
from hanzo_ml_lab.jupyter._paths import is_stream_query, normalize_query, upstream_path
from hanzo_ml_lab.jupyter._upstream import Upstream, unreachable_message
from hanzo_ml_lab.jupyter.handlers import HanzoMLHandler

__all__ = ["ProxyHandler"]

#: Response headers worth relaying; never Set-Cookie (the upstream does not own this origin),
#: Location (no redirect elsewhere), or hop-by-hop and framing headers (tornado frames anew).
PASSED_RESPONSE_HEADERS = ("Cache-Control", "Retry-After", "ETag", "Last-Modified",
                           "X-Accel-Buffering", "Warning")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ProxyHandler(HanzoMLHandler):
    """Relays GET/POST/PUT/PATCH/DELETE under ``hanzo-ml/api/`` to the control plane."""

    _relay: asyncio.Future[None] | None = None
    _client_gone = False

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.relay()

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self.relay()

    @web.authenticated
    @authorized
    async def put(self) -> None:
        await self.relay()

    @web.authenticated
    @authorized
    async def patch(self) -> None:
        await self.relay()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        await self.relay()

    def on_connection_close(self) -> None:
        # The browser left (e.g. a watch panel closed): stop reading the upstream stream.
        self._client_gone = True
        if self._relay is not None and not self._relay.done():
            self._relay.cancel()

    async def relay(self) -> None:
        prefix = url_path_join(self.base_url, "hanzo-ml/api/")
        raw = self.request.path
        rest = raw[len(prefix):] if raw.startswith(prefix) else ""
        try:
            path = upstream_path(rest)
            upstream = await self.resolver.get()
        except ApiError as e:
            self.write_status(e)
            return
        self._relay = asyncio.ensure_future(self._forward(upstream, path, retry=True))
        try:
            await self._relay
        except asyncio.CancelledError:
            if not self._client_gone:
                raise

    def _upstream_headers(self, upstream: Upstream) -> dict[str, str]:
        headers = {
            "X-Org-Id": self.extensionapp.org,
            "Accept": self.request.headers.get("Accept", "application/json"),
            "Accept-Encoding": "identity",
            "User-Agent": f"hanzo-ml-lab-jupyter/{__version__}",
        }
        if "Content-Type" in self.request.headers:
            headers["Content-Type"] = self.request.headers["Content-Type"]
        bearer = upstream.bearer()
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return headers

    async def _forward(self, upstream: Upstream, path: str, *, retry: bool) -> None:
        resolver = self.resolver
        query = normalize_query(self.request.query)
        method = self.request.method or "GET"
        stream = is_stream_query(self.request.query)
        request = resolver.client.build_request(
            method,
            upstream.base_url + path + (f"?{query}" if query else ""),
            headers=self._upstream_headers(upstream),
            content=self.request.body if method in BODY_METHODS and self.request.body else None,
            # Watch and follow streams may be quiet for minutes: no read timeout for them.
            timeout=httpx.Timeout(resolver.request_timeout, connect=resolver.connect_timeout,
                                  read=None if stream else resolver.request_timeout),
        )
        try:
            response = await resolver.client.send(request, stream=True)
        except httpx.TransportError as e:
            if retry and isinstance(e, httpx.ConnectError) and resolver.forget(upstream):
                # The embedded plane went away since we attached: find or start it again.
                try:
                    upstream = await resolver.get()
                except ApiError as err:
                    self.write_status(err)
                    return
                await self._forward(upstream, path, retry=False)
                return
            reason = str(e) or "no answer"
            self.write_status(BadGateway(unreachable_message(upstream, f"{type(e).__name__}: "
                                                                       f"{reason}")))
            return
        content_type = response.headers.get("Content-Type", "application/json")
        try:
            self.set_status(response.status_code, response.reason_phrase or None)
            for name in PASSED_RESPONSE_HEADERS:
                if name in response.headers:
                    self.set_header(name, response.headers[name])
            self.set_header("Content-Type", content_type)
            await self.flush()  # the status line now: a watcher knows its stream is open
            async for chunk in response.aiter_raw():
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        except httpx.TransportError as e:
            # Too late for a status: the body has begun. End it; the client sees a cut stream.
            self.log.warning("hanzo-ml: upstream %s ended a response early: %s", upstream.host,
                             e)
        finally:
            await response.aclose()
        if not self._finished:
            self.finish(set_content_type=content_type)
