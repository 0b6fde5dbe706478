"""The writer's own HTTP (``_http``), its leading-edge send, and what a job's SDK imports."""

from __future__ import annotations

import base64
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hanzo_ml_lab.client._config import ClientConfig
from hanzo_ml_lab.tracking import _http
from hanzo_ml_lab.tracking._writer import Writer
from tests.conftest import ControlPlane, free_port, wait_for
from tests.tracking.conftest import all_points, make_run, run_sdk

pytestmark = pytest.mark.timeout(120)

Reply = Callable[["Seen"], bytes]


class Seen:
    """One request the fake server read."""

    def __init__(self, line: str, headers: dict[str, str], body: bytes, conn: int) -> None:
        self.line, self.headers, self.body, self.conn = line, headers, body, conn


class FakeServer:
    """HTTP/1.1 on a socket, answering each request with ``reply(seen)`` (raw bytes);
    ``close_after`` ends the connection after each answer without saying so."""

    def __init__(self, reply: Reply, *, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.seen: list[Seen] = []
        self.connections = 0
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                conn = outer.connections
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    headers: dict[str, str] = {}
                    while (h := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                        k, _, v = h.decode().partition(":")
                        headers[k.strip().lower()] = v.strip()
                    body = self.rfile.read(int(headers.get("content-length", "0")))
                    seen = Seen(line.decode().strip(), headers, body, conn)
                    outer.seen.append(seen)
                    answer = outer.reply(seen)
                    self.wfile.write(answer)
                    self.wfile.flush()
                    if outer.close_after or answer.startswith(b"HTTP/1.0") or \
                            b"Connection: close" in answer:
                        return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(reply: Reply, **kw: Any) -> FakeServer:
        servers.append(FakeServer(reply, **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ok(body: bytes = b'{"accepted": 1}', extra: str = "") -> Reply:
    return lambda seen: (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_posts_keep_one_connection_and_keep_the_base_path(serve: Any) -> None:
    srv = serve(ok())
    c = _http.Connection(f"http://127.0.0.1:{srv.port}/hanzo-ml/api/", {"X-Org-Id": "acme"}, 5)
    for i in range(3):
        r = c.post("/v1/ml/runs/r%201/log", b'{"i": %d}' % i)
        assert (r.status, r.body, r.header("CONTENT-TYPE")) == (200, b'{"accepted": 1}',
                                                                 "application/json")
    c.close()
    assert srv.connections == 1
    first = srv.seen[0]
    assert first.line == "POST /hanzo-ml/api/v1/ml/runs/r%201/log HTTP/1.1"
    assert first.headers["host"] == f"127.0.0.1:{srv.port}"
    assert first.headers["x-org-id"] == "acme" and first.body == b'{"i": 0}'


def test_a_connection_the_server_closed_while_idle_is_reopened(serve: Any) -> None:
    srv = serve(ok(), close_after=True)  # closes after each answer, without a header saying so
    c = _http.Connection(f"http://127.0.0.1:{srv.port}", {}, 5)
    assert c.post("/a", b"1").status == 200
    time.sleep(0.05)
    assert c.post("/b", b"2").status == 200  # no error: a fresh connection, at once
    assert srv.connections == 2 and [s.body for s in srv.seen] == [b"1", b"2"]


def test_connection_close_chunked_interim_and_until_eof_answers(serve: Any) -> None:
    replies = iter([
        ok(extra="Connection: close\r\n"),
        lambda s: (b"HTTP/1.1 100 Continue\r\n\r\n"
                   b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5;x=y\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n"),
        lambda s: b"HTTP/1.0 503 Service Unavailable\r\n\r\ndown",
    ])
    srv = serve(lambda seen: next(replies)(seen))
    c = _http.Connection(f"http://127.0.0.1:{srv.port}", {}, 5)
    assert c.post("/1", b"").status == 200
    r = c.post("/2", b"")  # Connection: close was honoured: a new connection
    assert (r.status, r.header("retry-after"), r.body) == (429, "2", b'{"a": 1}')
    r = c.post("/3", b"")  # same connection; the body ends when the server closes it
    assert (r.status, r.reason, r.body) == (503, "Service Unavailable", b"down")
    assert [s.conn for s in srv.seen] == [1, 2, 2]


def test_no_answer_is_an_oserror() -> None:
    c = _http.Connection(f"http://127.0.0.1:{free_port()}", {}, 5)
    with pytest.raises(OSError):
        c.post("/x", b"{}")
    with pytest.raises(ValueError):
        _http.Connection("ftp://example.org", {}, 5)


def test_the_environment_s_proxy_is_used_unless_no_proxy_says_otherwise(
        serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = serve(ok(b"via proxy"))
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://ada:s%3Acret@127.0.0.1:{proxy.port}")
    c = _http.Connection("http://control-plane.example:8787/base", {}, 5)
    assert c.post("/v1/ml/runs/r/log", b"{}").body == b"via proxy"
    seen = proxy.seen[-1]
    assert seen.line == "POST http://control-plane.example:8787/base/v1/ml/runs/r/log HTTP/1.1"
    assert seen.headers["proxy-authorization"] == "Basic " + base64.b64encode(
        b"ada:s:cret").decode()
    assert seen.headers["host"] == "control-plane.example:8787"
    direct = serve(ok(b"direct"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    c = _http.Connection(f"http://127.0.0.1:{direct.port}", {}, 5)
    assert c.post("/x", b"{}").body == b"direct"


# -- the writer ----------------------------------------------------------------------------


def test_a_sparse_point_is_sent_at_once_not_at_the_next_interval(
        control_plane: ControlPlane, tmp_path: Path) -> None:
    c = control_plane.client()
    make_run(c, "sparse")
    config = ClientConfig(control_plane.url, control_plane.token("acme"), "acme")
    writer = Writer(config, tmp_path / "spool", interval=60.0)  # no periodic wake-up in time
    try:
        sink = writer.sink("sparse", "tenant-acme", "exp")
        assert sink.high_water == 1  # quiet: the first point wakes the encoder
        sink.add("loss", 0.5, None, None)
        wait_for(lambda: all_points(c, "sparse"), 20, message="the point, without a flush")
        # the encoder has batched since: later points wait for the interval, or a full buffer
        wait_for(lambda: sink.high_water == writer.batch_points, 5, message="batching mode")
    finally:
        writer.close(5)


def test_a_flood_still_goes_in_large_batches(control_plane: ControlPlane, tmp_path: Path) -> None:
    c = control_plane.client()
    make_run(c, "flood", rate=10_000_000)
    config = ClientConfig(control_plane.url, control_plane.token("acme"), "acme")
    writer = Writer(config, tmp_path / "spool", interval=0.2)
    posts: list[int] = []
    send = writer._send

    def counting(batch: Any) -> bool:
        posts.append(1)
        return send(batch)

    writer._send = counting  # type: ignore[method-assign]
    try:
        sink = writer.sink("flood", "tenant-acme", "exp")
        for i in range(50_000):
            sink.add("loss", float(i), None, None)
        assert writer.flush(30)
    finally:
        writer.close(5)
    assert len(all_points(c, "flood")) == 50_000
    assert len(posts) < 100  # a leading batch, then up to 10,000 points a batch: not per point


def test_a_job_s_sdk_loads_neither_pydantic_nor_httpx(control_plane: ControlPlane,
                                                     tmp_path: Path) -> None:
    c = control_plane.client()
    make_run(c, "light")
    code = (
        "import sys, threading\n"
        "import hanzo_ml_lab as ml\n"
        "ml.log_metric('loss', 1.0, step=0)\n"
        "heavy = ('pydantic', 'httpx', 'pandas', 'numpy', 'fastapi', 'hanzo_ml_lab.api._base',"
        " 'hanzo_ml_lab.client._sync')\n"
        "at_first_call = [m for m in heavy if m in sys.modules]\n"
        "assert ml.flush(timeout=30)\n"
        "after_delivery = [m for m in heavy if m in sys.modules]\n"
        "assert not at_first_call and not after_delivery, (at_first_call, after_delivery)\n"
    )
    env = {"HANZO_ML_API": control_plane.url, "HANZO_ML_TOKEN": control_plane.token("acme"),
           "HANZO_ML_ORG": "acme", "HANZO_ML_RUN": "light", "HANZO_ML_NAMESPACE": "tenant-acme",
           "HANZO_ML_EXPERIMENT": "exp", "HANZO_ML_SPOOL_DIR": str(tmp_path / "spool")}
    proc = run_sdk(code, env)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert [p["value"] for p in all_points(c, "light")] == [1.0]
