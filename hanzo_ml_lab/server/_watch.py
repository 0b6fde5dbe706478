"""Streaming a store watch over HTTP as newline-delimited JSON events, as Kubernetes does.

The store's watch is a blocking generator, so it runs on a thread of its own and hands events
to the response through an asyncio queue. When the client goes away the response generator is
closed, which sets the stop event, and the thread ends within the store's stop granularity.
An error after the stream started (e.g. ``Gone``) is sent as an ``ERROR`` event carrying a
``Status``, which is what Kubernetes clients expect.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fastapi.responses import StreamingResponse

from hanzo_ml_lab.api.errors import ApiError

__all__ = ["stream_events"]

WATCH_MEDIA_TYPE = "application/json;stream=watch"


def stream_events(
    produce: Callable[[threading.Event], Iterator[dict[str, Any]]],
    *,
    name: str = "watch",
) -> StreamingResponse:
    """Run ``produce(stop)`` on a thread and stream what it yields, one JSON object a line."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    stop = threading.Event()

    def put(item: dict[str, Any] | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is shutting down
            stop.set()

    def pump() -> None:
        try:
            for item in produce(stop):
                put(item)
                if stop.is_set():
                    break
        except ApiError as e:
            put({"type": "ERROR", "object": e.to_status()})
        except Exception as e:  # noqa: BLE001 — reported to the client, then the stream ends
            put({"type": "ERROR", "object": ApiError(f"watch failed: {e}").to_status()})
        finally:
            put(None)

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield (json.dumps(item, separators=(",", ":")) + "\n").encode()
        finally:
            stop.set()

    return StreamingResponse(
        body(),
        media_type=WATCH_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
