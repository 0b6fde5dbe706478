"""The writer's connection to the control plane: HTTP/1.1 on a plain socket.

The sender posts JSON to one URL, one request at a time, on one keep-alive connection. It
needs none of what an HTTP client library adds, and it is on the critical path of a job's
first metric: httpx costs 130-270 ms to import here, ``http.client`` 30-35 ms (``email`` and
``ssl`` come with it), ``socket`` about 6 ms. So this is the one request the SDK makes,
written out: the sender thread imports this module, never the thread that logs.

It behaves as the httpx client it replaces did for this one use:

- connect timeout 5 s, then ``ClientConfig.timeout`` for each read;
- the base URL's path is kept (``http://host/hanzo-ml/api`` + ``/v1/ml/...``);
- ``HTTP(S)_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` are honoured (an ``http://`` proxy; HTTPS is
  tunnelled with ``CONNECT``); credentials in the proxy URL are sent as basic auth;
- HTTPS verifies with ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi's bundle when
  it is installed, else the system's (``ssl`` is imported only for an ``https`` URL);
- responses may carry ``Content-Length``, be chunked, or end with the connection; ``1xx``
  interim responses are skipped; ``Connection: close`` (or HTTP/1.0) closes after the answer.

Every failure to get an answer is an ``OSError`` (``BadResponse`` for a reply that is not
HTTP). A kept-alive connection that turns out to be closed by the server (its idle timeout)
is reopened and the request sent once more at once (batches are idempotent by ``batchId``),
so a sparse logger does not pay the writer's retry back-off after every quiet spell.
"""

from __future__ import annotations

import base64
import os
import select
import socket
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["BadResponse", "Connection", "Response", "TRANSPORT_ERRORS"]

CONNECT_TIMEOUT = 5.0
_MAX_LINE = 65536
_MAX_HEADERS = 200


class BadResponse(ConnectionError):
    """What came back is not an HTTP/1.x response we can read."""


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError,)


class Response:
    """A whole answer: status, reason, headers (``header(name)``, any case) and body."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment names for ``scheme://host``, or None."""
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None  # the common case: nothing to look at (and urllib.request not loaded)
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):  # NO_PROXY (and the OS's, on macOS)
        return None
    return proxy if "://" in proxy else "http://" + proxy


def _ssl_context() -> Any:
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            pass
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Reader:
    """Reads one response from a buffered socket file."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def line(self) -> bytes:
        line: bytes = self.f.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise BadResponse("response line too long")
        return line

    def head(self) -> tuple[str, int, str, dict[str, str]]:
        first = self.line()
        if not first:
            raise ConnectionResetError("the server closed the connection without answering")
        parts = first.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"not an HTTP/1.x status line: {first[:80]!r}")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = self.line()
            if raw in (b"\r\n", b"\n"):
                return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers
            if not raw:
                raise BadResponse("the connection closed inside the response headers")
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise BadResponse(f"malformed header line: {raw[:80]!r}")
            key, value = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise BadResponse(f"more than {_MAX_HEADERS} response headers")

    def exactly(self, n: int) -> bytes:
        data: bytes = self.f.read(n)
        if len(data) != n:
            raise BadResponse(f"the connection closed {n - len(data)} bytes before the end "
                              "of the response body")
        return data

    def chunked(self) -> bytes:
        out: list[bytes] = []
        while True:
            size_line = self.line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadResponse(f"bad chunk size {size_line[:20]!r}") from None
            if size == 0:
                while self.line() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(out)
            out.append(self.exactly(size))
            self.exactly(2)  # CRLF after the chunk


class Connection:
    """One keep-alive connection that posts JSON bodies to paths under ``base_url``."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"control plane URL: must be http(s)://host[:port][/path], got "
                             f"{base_url!r}")
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self._target = (self.host, self.port)  # where the TCP connection goes
        self._absolute = ""  # through a plain-HTTP proxy, requests name the whole URL
        self._proxy_auth: str | None = None
        self._tunnel = False  # https through a proxy: CONNECT first
        proxy = _proxy_for(self.scheme, self.host)
        if proxy:
            p = urlsplit(proxy)
            if p.scheme == "http" and p.hostname:
                self._target = (p.hostname, p.port or 80)
                if p.username is not None:
                    cred = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
                    self._proxy_auth = "Basic " + base64.b64encode(cred).decode()
                if self.scheme == "https":
                    self._tunnel = True
                else:
                    self._absolute = f"http://{_authority(self.host, self.port)}"
        self._ctx = _ssl_context() if self.scheme == "https" else None
        head = {"Host": _authority(self.host, self.port), **headers,
                "Connection": "keep-alive"}
        if self._proxy_auth and self._absolute:
            head["Proxy-Authorization"] = self._proxy_auth
        self._head = "".join(f"{k}: {v}\r\n" for k, v in head.items())
        self._sock: socket.socket | None = None
        self._reader: _Reader | None = None

    # -- the connection -------------------------------------------------------------------
    def _open(self) -> None:
        sock = socket.create_connection(self._target, timeout=CONNECT_TIMEOUT)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tunnel:
                self._connect_tunnel(sock)
            if self._ctx is not None:
                sock = self._ctx.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._reader = _Reader(sock.makefile("rb"))

    def _connect_tunnel(self, sock: socket.socket) -> None:
        authority = _authority(self.host, self.port)
        lines = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if self._proxy_auth:
            lines += f"Proxy-Authorization: {self._proxy_auth}\r\n"
        sock.sendall((lines + "\r\n").encode("latin-1"))
        reader = _Reader(sock.makefile("rb"))
        _, status, reason, headers = reader.head()
        if status != 200:
            raise ConnectionRefusedError(f"the proxy refused CONNECT {authority}: {status} "
                                         f"{reason}")
        reader.f.close()  # the socket stays open; nothing of the tunnel is left unread

    def _idle_and_open(self) -> bool:
        """True if the kept-alive connection is still there (an idle connection the server
        closed reads as ready: end of file)."""
        sock = self._sock
        if sock is None:
            return False
        if getattr(sock, "pending", None) and sock.pending():  # type: ignore[attr-defined]
            return False  # TLS bytes nobody asked for: start afresh
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    # -- a request ------------------------------------------------------------------------
    def post(self, path: str, body: bytes) -> Response:
        """POST ``body`` to the base URL's path + ``path``; raises ``OSError`` if no answer
        came."""
        request = (f"POST {self._absolute}{self.prefix}{path} HTTP/1.1\r\n{self._head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        reused = self._idle_and_open()
        if self._sock is not None and not reused:
            self.close()
        while True:
            if self._sock is None:
                self._open()
            try:
                return self._exchange(request, body)
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
                self.close()
                if not reused:
                    raise e
                reused = False  # closed under us while idle: once more, on a fresh connection
            except BaseException:
                self.close()
                raise

    def _exchange(self, request: bytes, body: bytes) -> Response:
        sock, reader = self._sock, self._reader
        assert sock is not None and reader is not None
        if len(body) <= 65536:
            sock.sendall(request + body)
        else:
            sock.sendall(request)
            sock.sendall(body)
        while True:
            version, status, reason, headers = reader.head()
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue): the real one follows
            break
        if "chunked" in headers.get("transfer-encoding", "").lower():
            data = reader.chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"].split(",")[0])
            except ValueError:
                raise BadResponse(f"bad Content-Length {headers['content-length']!r}") from None
            data = reader.exactly(length)
        elif status in (204, 304):
            data = b""
        else:
            data = reader.f.read()  # the body ends with the connection
            headers["connection"] = "close"
        conn = headers.get("connection", "").lower()
        if "close" in conn or (version == "HTTP/1.0" and "keep-alive" not in conn):
            self.close()
        return Response(status, reason, headers, data)

    def close(self) -> None:
        sock, reader = self._sock, self._reader
        self._sock = self._reader = None
        for thing in (reader.f if reader is not None else None, sock):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass
