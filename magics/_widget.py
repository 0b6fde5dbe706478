"""The live views: an anywidget per TrainingJob (and a small one per Sweep).

A widget is synced traits plus one ES module (``static/job_view.js``) whose
``render({ model, el })`` draws them and returns its cleanup. The traits are written only by the
widget's watcher thread (``_watcher.py``), in batches; the browser ticks the elapsed time itself
from ``start_time``, so a running job costs no kernel traffic per second. The Cancel button
sends a custom message (``{"type": "cancel"}``) that the kernel turns into
``client.cancel_job``.

Displayed, a view also carries a static ``text/html`` summary (for saved notebooks and
nbconvert) and output metadata ``{"hanzo-ml": {"kind", "name", "namespace"}}`` so a reopened
notebook or the side panel can find the job again.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from hanzo_ml_lab.api.errors import ApiError
from hanzo_ml_lab.client import Client, ClientConfig, ControlPlaneUnreachable

from ._state import JobState, SweepState
from ._summary import summary_html
from ._watcher import JobWatcher, SweepWatcher, Watcher

__all__ = ["JobWidget", "SweepWidget", "close_all", "live_widgets"]

log = logging.getLogger(__name__)

_STATIC = Path(__file__).parent / "static"
_ESM = (_STATIC / "job_view.js").read_text(encoding="utf-8")
_CSS = (_STATIC / "job_view.css").read_text(encoding="utf-8")

_registry_lock = threading.Lock()
_registry: list[_View] = []


def live_widgets(kind: str | None = None, name: str | None = None) -> list[_View]:
    """Open views in this kernel, oldest first (optionally of one object)."""
    with _registry_lock:
        return [w for w in _registry
                if (kind is None or w.kind == kind) and (name is None or w.name == name)]


def close_all() -> None:
    """Close every open view (stops their watcher threads)."""
    for w in live_widgets():
        w.close()


class _View(anywidget.AnyWidget):
    _esm = _ESM
    _css = _CSS

    kind = t.Unicode("").tag(sync=True)
    name = t.Unicode("").tag(sync=True)
    namespace = t.Unicode("").tag(sync=True)
    phase = t.Unicode("").tag(sync=True)
    experiment = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    live = t.Bool(True).tag(sync=True)

    _state: Any
    _watcher: Watcher

    def __init__(self, name: str, *, config: ClientConfig | None = None,
                 client: Client | None = None, interval: float = 0.1,
                 start: bool = True) -> None:
        self._config = config or (client.config if client is not None
                                  else ClientConfig.resolve())
        self._client = client
        self._closed = False
        self._display_handle: Any = None
        self._state = self._make_state(name, self._config.namespace)
        super().__init__(**self._trait_kwargs(self._state.take_changes()))
        self._watcher = self._make_watcher(interval)
        self.on_msg(self._on_custom_msg)
        with _registry_lock:
            _registry.append(self)
        if start:
            self._watcher.start()

    # -- subclass hooks ------------------------------------------------------------------

    def _make_state(self, name: str, namespace: str) -> Any:
        raise NotImplementedError

    def _make_watcher(self, interval: float) -> Watcher:
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------------

    def _trait_kwargs(self, changes: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in changes.items() if self.has_trait(k)}

    def _apply(self, changes: dict[str, Any]) -> None:
        """Set the changed traits as one comm message (called on the watcher thread)."""
        if self._closed:
            return
        with self.hold_sync():
            for key, value in self._trait_kwargs(changes).items():
                setattr(self, key, value)

    def _finished(self) -> None:
        """The watcher ended by itself (the object is done): mark the view static, and refresh
        the displayed output so a saved notebook keeps the final summary."""
        if self._closed:
            return
        self.live = False
        handle = self._display_handle
        if handle is not None and _in_kernel():
            try:
                handle.update(self)
            except Exception:  # noqa: BLE001 — the frontend may be gone; the state is kept
                log.debug("hanzo-ml could not refresh the displayed summary", exc_info=True)

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()

    def _sync_client(self) -> Client:
        if self._client is None:
            self._client = Client(config=self._config)
        return self._client

    # -- public --------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """Everything the view shows, as plain values (metrics with every point seen)."""
        return dict(self._state.snapshot())

    @property
    def watching(self) -> bool:
        """Whether the watcher thread still runs."""
        return self._watcher.alive

    def cancel(self) -> None:
        raise NotImplementedError

    def show(self) -> Any:
        """Display the view in the current output, keeping a handle to refresh it at the end."""
        from IPython.display import display

        self._display_handle = display(self, display_id=True)
        return self._display_handle

    def wait(self, timeout: float | None = None) -> str:
        """Block until the object finished and the view caught up; return the phase.

        Raises ``TimeoutError`` after ``timeout`` seconds. The watcher keeps going either way.
        """
        if not self._watcher.done.wait(timeout):
            raise TimeoutError(f"{self.kind} {self.name} still {self._state.phase or 'Pending'} "
                               f"after {timeout}s")
        return str(self._state.phase)

    def close(self) -> None:
        """Stop the watcher thread (promptly: its streams are closed) and close the view."""
        if not self._closed:
            self._closed = True
            self._watcher.stop()
            with _registry_lock:
                if self in _registry:
                    _registry.remove(self)
        super().close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.phase or 'Pending'}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data)
        data["text/html"] = summary_html(self._state.snapshot())
        metadata = dict(metadata or {})
        metadata["hanzo-ml"] = {"kind": self.kind, "name": self.name,
                                "namespace": self.namespace}
        return data, metadata


class JobWidget(_View):
    """Live view of a TrainingJob: phase badge, replicas ready/total, elapsed time, progress,
    a chart per metric, the log tail with a replica selector, and a Cancel button.

    Progress counts steps against ``progress_total`` (or ``total_steps``): a job param, a run
    param the script logs with ``ml.log_param``, or a metric of that name; without one the
    bar shows the steps seen.
    """

    workers_ready = t.Int(0).tag(sync=True)
    workers_total = t.Int(0).tag(sync=True)
    replicas = t.List(t.Unicode()).tag(sync=True)
    start_time = t.Unicode("").tag(sync=True)
    completion_time = t.Unicode("").tag(sync=True)
    run_name = t.Unicode("").tag(sync=True)
    progress_total = t.Int(0).tag(sync=True)
    progress_step = t.Int(0).tag(sync=True)
    metrics = t.Dict().tag(sync=True)
    logs = t.List(t.List(t.Unicode())).tag(sync=True)  # [replica, line], oldest first
    cancel_state = t.Unicode("").tag(sync=True)

    _state: JobState

    def _make_state(self, name: str, namespace: str) -> JobState:
        return JobState(name, namespace)

    def _make_watcher(self, interval: float) -> Watcher:
        return JobWatcher(self._state, self._config, self._apply, interval=interval,
                          on_finish=self._finished)

    def points(self, key: str) -> list[tuple[float, float]]:
        """Every ``(step, value)`` of metric ``key`` the view has received."""
        return self._state.points(key)

    def log_lines(self, replica: str | None = None) -> list[str]:
        return self._state.log_lines(replica)

    def cancel(self) -> None:
        """Cancel the job (the Cancel button calls this)."""
        self.cancel_state = "requested"
        try:
            self._sync_client().cancel_job(self.name)
            self.cancel_state = "sent"
        except (ApiError, ControlPlaneUnreachable) as e:
            self.cancel_state = f"failed: {e}"


class SweepWidget(_View):
    """Status of a Sweep: phase, trial counts, best trial. The live leaderboard comes with the
    sweep controller."""

    sweep = t.Dict().tag(sync=True)

    _state: SweepState

    def _make_state(self, name: str, namespace: str) -> SweepState:
        return SweepState(name, namespace)

    def _make_watcher(self, interval: float) -> Watcher:
        return SweepWatcher(self._state, self._config, self._apply, interval=interval,
                            on_finish=self._finished)

    def cancel(self) -> None:
        raise NotImplementedError("sweeps are stopped by deleting them, for now")


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return getattr(shell, "kernel", None) is not None
