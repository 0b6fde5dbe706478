"""One background thread per widget that keeps its state current.

The thread runs a small asyncio loop with one ``AsyncClient``, so a single thread can hold
the three streams a job view needs at once, each waiting on the network, none polling:

- the TrainingJob watch (``?watch=true`` on the collection; events for other jobs are
  dropped here, as the API has no field selector), which drives phase, replicas and times;
- the run's metric points (``/runs/{run}/metrics?watch=true``), replayed from the start;
- the job's logs (``/jobs/{name}/logs?follow=true``), from a tail, resumed by cursor.

A flush task hands the changed fields to the widget as a leading-edge throttle: the first
change after a quiet ``interval`` goes out at once (a job logging a point now and then shows
it within milliseconds), later ones are batched so that at most one update leaves per
``interval`` seconds, so a chatty job still costs a bounded number of comm messages. Every
change pokes the flush task (``_poke``); it also looks every ``interval`` regardless.

Each stream ends by itself once the job has finished and everything was read, and the thread
ends with them: a finished job leaves no thread behind. ``stop()`` ends it early: it cancels
the loop's main task, which closes the open responses, and joins the thread.

Runs in a copy of the launching context, so in ipykernel the messages it sends (comm updates,
the final display update) carry the launching cell's parent header.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from hanzo_ml_lab.api.errors import ApiError, BadRequest, Gone, NotFound, ServiceUnavailable
from hanzo_ml_lab.client import AsyncClient, ClientConfig, ControlPlaneUnreachable

from ._state import TERMINAL_PHASES, JobState, SweepState

__all__ = ["THREAD_PREFIX", "JobWatcher", "SweepWatcher", "Watcher"]

log = logging.getLogger(__name__)

THREAD_PREFIX = "hanzo-ml-watch"
READ_TIMEOUT = 45.0  # three watch heartbeats: a silent stream this long is a dead one
LOG_TAIL_LINES = 200
# After the job ended, how long the live metric stream may still deliver before the final
# read (which gets whatever is stored: the SDK flushes before its process exits).
METRICS_GRACE = 0.3
METRICS_PAGE = 10_000  # the server's default page of a non-watch read
PARAMS_EVERY = 2.0  # while the progress total is unknown, re-read the run's params this often
RETRY_MIN, RETRY_MAX = 0.5, 5.0

Sink = Callable[[dict[str, Any]], None]


class _Backoff:
    def __init__(self) -> None:
        self.delay = RETRY_MIN

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, RETRY_MAX)

    def reset(self) -> None:
        self.delay = RETRY_MIN


def _problem(e: BaseException) -> str:
    if isinstance(e, ControlPlaneUnreachable):
        return f"control plane unreachable, retrying ({e})"
    return str(e)


class Watcher:
    """Base: the thread, the loop, the flush cadence and stopping. Subclasses define ``run``."""

    kind = ""

    def __init__(self, state: Any, config: ClientConfig, sink: Sink, *,
                 interval: float = 0.1, on_finish: Callable[[], None] | None = None) -> None:
        self.state = state
        self.config = config
        self.sink = sink
        self.interval = interval
        self.on_finish = on_finish
        self.done = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._kick: asyncio.Event | None = None  # set on every change (on the loop's thread)
        name = state.get("name")
        ctx = contextvars.copy_context()
        self.thread = threading.Thread(target=ctx.run, args=(self._main,), daemon=True,
                                       name=f"{THREAD_PREFIX}:{self.kind}/{name}")

    @property
    def name(self) -> str:
        return str(self.state.get("name"))

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """End the thread; ``True`` if it ended within ``timeout``."""
        self._stop.set()
        with self._lock:
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)
        if threading.current_thread() is self.thread or not self.thread.is_alive():
            return not self.thread.is_alive() or threading.current_thread() is self.thread
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    # -- the thread ----------------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._amain())
        except (asyncio.CancelledError, KeyboardInterrupt):
            pass
        except Exception:  # noqa: BLE001 — a watcher must never take the kernel down
            log.exception("hanzo-ml watcher for %s %s failed", self.kind, self.name)
        finally:
            self._flush()
            if self.on_finish is not None and not self._stop.is_set():
                try:
                    self.on_finish()
                except Exception:  # noqa: BLE001
                    log.exception("hanzo-ml watcher finish hook failed")
            self.done.set()

    async def _amain(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        self._kick = asyncio.Event()
        flusher = asyncio.create_task(self._flush_loop())
        try:
            async with AsyncClient(config=self.config) as client:
                await self.run(client)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        kick = self._kick
        assert kick is not None
        last = -math.inf  # when an update last went out: the first change goes at once
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), self.interval)
            wait = last + self.interval - loop.time()
            if wait > 0:  # one went out less than an interval ago: gather until it is up
                await asyncio.sleep(wait)
            kick.clear()
            if self._flush():  # a look that found nothing does not delay the next change
                last = loop.time()

    def _poke(self) -> None:
        """Something changed: have the flush task send it (now, or when the interval is up).
        Called on the loop's thread, by the streams."""
        kick = self._kick
        if kick is not None:
            kick.set()

    def _error(self, message: str) -> None:
        self.state.set_error(message)
        self._poke()

    def _flush(self) -> bool:
        """Hand what changed to the widget; True if there was anything."""
        try:
            changes = self.state.take_changes()
            if changes:
                self.sink(changes)
                return True
        except Exception:  # noqa: BLE001 — a closed widget, a frontend gone: keep watching
            log.debug("hanzo-ml watcher could not update its widget", exc_info=True)
        return False

    async def run(self, client: AsyncClient) -> None:
        raise NotImplementedError

    # -- shared pieces -------------------------------------------------------------------

    async def _get(self, client: AsyncClient) -> dict[str, Any] | None:
        """The object, retrying while the control plane is unreachable; ``None`` if gone."""
        backoff = _Backoff()
        while True:
            try:
                obj = await client.get(self.kind, self.name)
                self._error("")
                return obj
            except NotFound:
                self.state.mark_deleted()
                self._error(f"{self.kind} {self.name!r} not found in namespace "
                            f"{self.config.namespace}")
                return None
            except (ControlPlaneUnreachable, ApiError) as e:
                self._error(_problem(e))
                await backoff.sleep()

    async def _watch_object(self, client: AsyncClient, obj: dict[str, Any],
                            apply: Callable[[dict[str, Any]], None],
                            changed: Callable[[], None]) -> None:
        """Follow one object by name until it reaches a terminal phase or is deleted."""
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        backoff = _Backoff()
        while not (self.state.terminal or self.state.deleted):
            try:
                async for ev in client.watch(self.kind, resource_version=rv,
                                             timeout=READ_TIMEOUT):
                    kind, item = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":
                        if item.get("code") == Gone.code:
                            raise Gone(str(item.get("message", "")))
                        raise ApiError(str(item.get("message", "watch failed")))
                    meta = item.get("metadata") or {}
                    rv = meta.get("resourceVersion") or rv
                    backoff.reset()
                    if self.state.get("error"):
                        self._error("")
                    if kind == "BOOKMARK" or meta.get("name") != self.name:
                        continue
                    if kind == "DELETED":
                        self.state.mark_deleted()
                        changed()
                        self._poke()
                        return
                    apply(item)
                    changed()
                    self._poke()
                    if self.state.terminal:
                        return
            except Gone:
                fresh = await self._get(client)  # the history is gone: start from now
                if fresh is None:
                    changed()
                    return
                apply(fresh)
                changed()
                self._poke()
                rv = (fresh.get("metadata") or {}).get("resourceVersion")
                continue
            except NotFound:
                self.state.mark_deleted()
                changed()
                self._poke()
                return
            except (ControlPlaneUnreachable, ApiError) as e:
                self._error(_problem(e))
                await backoff.sleep()
                continue
            await asyncio.sleep(0.1)  # the server ended the stream (restart): resume from rv


class JobWatcher(Watcher):
    """Keeps a ``JobState`` current: the job's status, its run's metrics and its logs."""

    kind = "TrainingJob"
    state: JobState

    def __init__(self, state: JobState, config: ClientConfig, sink: Sink, *,
                 interval: float = 0.1, on_finish: Callable[[], None] | None = None) -> None:
        super().__init__(state, config, sink, interval=interval, on_finish=on_finish)

    async def run(self, client: AsyncClient) -> None:
        self._started = asyncio.Event()
        self._ended = asyncio.Event()
        self._run_known = asyncio.Event()
        self._logs_done = asyncio.Event()
        self._metrics_done = asyncio.Event()
        self._params_read_at = -PARAMS_EVERY
        job = await self._get(client)
        if job is None:
            return
        self.state.apply_job(job)
        self._changed()
        self._poke()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._guard(self._watch_object(client, job, self.state.apply_job,
                                                          self._changed), self._ended))
            tg.create_task(self._guard(self._follow_logs(client), self._logs_done))
            tg.create_task(self._guard(self._stream_metrics(client), self._metrics_done))

    async def _guard(self, work: Awaitable[None], done: asyncio.Event | None) -> None:
        """Run one stream; whatever happens, mark it done so the others can finish."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 — shown in the widget, the others go on
            log.debug("hanzo-ml watcher stream failed", exc_info=True)
            self._error(str(e))
        finally:
            if done is not None:
                done.set()
            if done is self._ended:
                self._started.set()
                self._run_known.set()

    def _changed(self) -> None:
        phase = self.state.phase
        if phase in ("Running", "Degraded", *TERMINAL_PHASES) or self.state.deleted:
            self._started.set()
        if self.state.get("run_name") or self.state.terminal or self.state.deleted:
            self._run_known.set()
        if self.state.terminal or self.state.deleted:
            self._ended.set()

    async def _follow_logs(self, client: AsyncClient) -> None:
        await self._started.wait()
        if self.state.deleted:
            return
        cursor: str | None = None
        restarts = self.state.restarts
        backoff = _Backoff()
        while True:
            if self.state.restarts != restarts:  # a restarted job is a fresh workload
                cursor, restarts = None, self.state.restarts
            was_over = self.state.terminal
            try:
                async for chunk in client.job_logs(
                        self.name, follow=not was_over, since=cursor,
                        tail_lines=None if cursor else LOG_TAIL_LINES):
                    self.state.add_log(str(chunk.get("replica", "")), str(chunk.get("text", "")))
                    self._poke()
                    cursor = chunk.get("cursor") or cursor
                backoff.reset()
            except BadRequest:
                cursor = None  # a cursor of an earlier attempt: read the tail again
                await backoff.sleep()
                continue
            except (NotFound, ServiceUnavailable) as e:
                if isinstance(e, ServiceUnavailable):
                    self._error(str(e))
                break
            except (ControlPlaneUnreachable, ApiError) as e:
                self._error(_problem(e))
                await backoff.sleep()
                continue
            if was_over or self.state.deleted:
                break
            if self.state.terminal:
                continue  # one last read from the cursor catches output of the final moments
            # the replicas ended (or had not started) before the phase moved: look again soon
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), 1.0)
        self.state.flush_partial_logs()
        self._poke()

    async def _stream_metrics(self, client: AsyncClient) -> None:
        await self._run_known.wait()
        run = self.state.get("run_name")
        if not run:
            return
        await self._refresh_params(client, run, force=True)
        if not self.state.terminal:
            live = asyncio.create_task(self._read_metrics(client, run, watch=True))
            try:
                await self._ended.wait()
                await self._logs_done.wait()  # the processes are gone: their SDK has flushed
                await asyncio.wait({live}, timeout=METRICS_GRACE)
            finally:
                live.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await live
        await self._read_metrics(client, run, watch=False)
        await self._refresh_params(client, run, force=True)

    async def _read_metrics(self, client: AsyncClient, run: str, *, watch: bool) -> None:
        """Points after the last one seen: live (``watch``) until cancelled, or every page of
        what exists now."""
        backoff = _Backoff()
        while True:
            try:
                count = 0
                async for point in client.run_metrics(
                        run, after=self.state.last_seq or None, watch=watch,
                        timeout=READ_TIMEOUT):
                    self.state.add_points([point])  # the flush task batches what goes out
                    self._poke()
                    count += 1
                    if count % 256 == 1:
                        await self._refresh_params(client, run)
                backoff.reset()
                if not watch:
                    if count >= METRICS_PAGE:
                        continue  # a full page: more is waiting
                    return
                await asyncio.sleep(0.5)  # the server closed the stream: resume after last_seq
            except NotFound:
                # the run is not there (yet), or tracking is not served here
                if not watch or self.state.terminal:
                    return
                await backoff.sleep()
            except (ControlPlaneUnreachable, ApiError) as e:
                self._error(_problem(e))
                if not watch:
                    return
                await backoff.sleep()

    async def _refresh_params(self, client: AsyncClient, run: str, *,
                              force: bool = False) -> None:
        """Read the run's params (``ml.log_param("total_steps", N)`` declares the progress
        total): once at the start and the end, and while the total is unknown at most every
        ``PARAMS_EVERY`` seconds as points arrive. Params are write-once, so this stops once
        the total is known."""
        now = asyncio.get_running_loop().time()
        if not force and (self.state.get("progress_total") or
                          now - self._params_read_at < PARAMS_EVERY):
            return
        self._params_read_at = now
        with contextlib.suppress(ApiError, ControlPlaneUnreachable):
            body = await client.run_params(run)
            self.state.apply_params((body or {}).get("params") or {})
            self._poke()


class SweepWatcher(Watcher):
    """Keeps a ``SweepState`` current from the Sweep object's watch."""

    kind = "Sweep"
    state: SweepState

    async def run(self, client: AsyncClient) -> None:
        sweep = await self._get(client)
        if sweep is None:
            return
        self.state.apply_sweep(sweep)
        self._poke()
        await self._watch_object(client, sweep, self.state.apply_sweep, lambda: None)
