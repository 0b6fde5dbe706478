"""The fluent tracking API: module-level functions over one active run, as MLflow's.

    import hanzo_ml_lab as ml
    ml.log_param("lr", 0.01)
    for epoch in range(5):
        ml.log_metric("loss", train_one_epoch(), step=epoch)

Where the points go:

- **inside a job** (the runtime sets ``HANZO_ML_RUN``, ``HANZO_ML_API`` and a token): the
  job's Run. The same script runs unchanged locally, on a cluster, or bare.
- **anywhere else** (a notebook cell, a plain script): an ad-hoc Run created on first use in
  the control plane ``ClientConfig.resolve`` finds (``HANZO_ML_API`` or the embedded server's
  ``$HANZO_ML_HOME/server.json``), in ``experiment`` (default ``default``, created if missing).
  ``start_run`` makes one explicitly; its ``with`` block marks it Succeeded, or Failed when the
  block raises.

The active run lives in a ``contextvars`` variable, so ``start_run`` blocks nest and async tasks
keep their own; a thread that never entered one logs to the process's default run.

``log_metric`` costs about a microsecond: it appends to an in-memory buffer and returns (see
``_writer``). A background writer sends batches and spools them to disk first, so a point the
SDK accepted reaches the server exactly once even if the control plane is down for a while or
the process exits before it is back (``HANZO_ML_FLUSH_TIMEOUT`` bounds the wait at exit; the
rest stays in the spool for the next process or the controller).

Deliberate differences from MLflow: ``step`` defaults to the next step of that key in this
process (0, 1, 2, ...) rather than 0, so a chart of an un-stepped metric is a line, not a
stack; run phases are the API's ``Succeeded``/``Failed`` (``FINISHED``, ``FAILED`` and
``KILLED`` are accepted too).
"""

from __future__ import annotations

import atexit
import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hanzo_ml_lab.api.errors import AlreadyExists, Invalid, NotFound
from hanzo_ml_lab.client._config import ClientConfig
from hanzo_ml_lab.env import (
    HANZO_ML_ARTIFACTS,
    HANZO_ML_EXPERIMENT,
    HANZO_ML_FLUSH_TIMEOUT,
    HANZO_ML_NAMESPACE,
    HANZO_ML_PARAMS,
    HANZO_ML_RUN,
    HANZO_ML_SPOOL_DIR,
    home_dir,
)

from ._writer import (
    PARAM_VALUE_MAX,
    TAG_VALUE_MAX,
    RunSink,
    Writer,
    _as_float,
    _as_step,
    check_key,
)

if TYPE_CHECKING:
    from hanzo_ml_lab.client import Client

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "flush",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "params",
    "set_tag",
    "set_tags",
    "start_run",
]


_time_ns = time.time_ns
DEFAULT_EXPERIMENT = "default"
LABEL_EXPERIMENT = "hanzo.ai/experiment"
LABEL_PARENT_RUN = "hanzo.ai/parent-run"
END_WAIT_SECONDS = 5.0  # end_run waits this long for delivery, then leaves it to the writer
_PHASES = {"Succeeded": "Succeeded", "Failed": "Failed", "FINISHED": "Succeeded",
           "FAILED": "Failed", "KILLED": "Failed"}


class ActiveRun:
    """A run this process logs to. A context manager: leaving the ``with`` block ends a run
    that ``start_run`` created (Succeeded, or Failed if the block raised)."""

    def __init__(self, name: str, namespace: str, experiment: str | None, *, owned: bool,
                 parent: ActiveRun | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self.experiment = experiment
        self.owned = owned  # created by this process: ending it is ours to do
        self.parent = parent
        self.ended = False
        self._sink: RunSink | None = None
        self._token: contextvars.Token[ActiveRun | None] | None = None

    def __repr__(self) -> str:
        return (f"ActiveRun(name={self.name!r}, namespace={self.namespace!r}, "
                f"experiment={self.experiment!r})")

    @property
    def artifact_uri(self) -> str:
        """Where ``log_artifact`` puts this run's files unless the job names a place."""
        return f"vfs://{self.namespace}/runs/{self.name}/artifacts"

    def sink(self) -> RunSink:
        sink = self._sink
        if sink is None:
            sink = self._sink = _state.writer().sink(self.name, self.namespace, self.experiment)
        return sink

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.owned and not self.ended:
            _end(self, "Failed" if exc_type is not None else "Succeeded")
        else:
            _deactivate(self)


_active: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "hanzo_ml_active_run", default=None)


class _State:
    """Process-wide: the control plane config, the writer, the default run."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.default: ActiveRun | None = None
        self.runs: list[ActiveRun] = []  # every run handle made here (to end and re-fork)
        self._config: ClientConfig | None = None
        self._writer: Writer | None = None
        self._client: Client | None = None
        self._atexit = False

    def config(self) -> ClientConfig:
        with self.lock:
            if self._config is None:
                self._config = ClientConfig.resolve()
            return self._config

    def client(self) -> Client:
        with self.lock:
            if self._client is None:
                # httpx and the client: only for ad-hoc runs and artifacts, never on the
                # first log_metric of a job
                from hanzo_ml_lab.client import Client

                self._client = Client(config=self.config())
            return self._client

    def writer(self) -> Writer:
        with self.lock:
            if self._writer is None:
                self._writer = Writer(self.config(), _spool_dir())
                if not self._atexit:
                    atexit.register(_at_exit)
                    self._atexit = True
            return self._writer

    def existing_writer(self) -> Writer | None:
        return self._writer

    def after_fork(self) -> None:
        # the writer's threads did not survive the fork: start afresh, keep the run identities
        self.lock = threading.RLock()
        self._writer = None
        self._client = None
        for run in self.runs:
            run._sink = None


_state = _State()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_state.after_fork)


def _spool_dir() -> Path:
    raw = HANZO_ML_SPOOL_DIR.get()
    return Path(raw).expanduser() if raw else home_dir() / "spool"


def _job_run() -> ActiveRun | None:
    name = HANZO_ML_RUN.get()
    if not name:
        return None
    namespace = HANZO_ML_NAMESPACE.get() or _state.config().namespace
    return ActiveRun(name, namespace, HANZO_ML_EXPERIMENT.get(), owned=False)


def _ensure_experiment(client: Client, name: str) -> None:
    try:
        client.get("Experiment", name)
    except NotFound:
        try:
            client.create({"apiVersion": "hanzo.ai/v1", "kind": "Experiment",
                           "metadata": {"name": name},
                           "spec": {"description": "created by the tracking SDK"}})
        except AlreadyExists:
            pass


def _create_run(name: str | None, experiment: str | None, tags: Mapping[str, Any] | None,
                parent: ActiveRun | None) -> ActiveRun:
    client = _state.client()
    exp = experiment or HANZO_ML_EXPERIMENT.get() or DEFAULT_EXPERIMENT
    if name:
        try:  # resume a run by name, as MLflow resumes by run id
            found = client.get("Run", name)
            run = ActiveRun(name, found["metadata"]["namespace"],
                            (found.get("spec") or {}).get("experiment"),
                            owned=True, parent=parent)
            _register(run)
            if tags:
                set_tags(tags, run=run)
            return run
        except NotFound:
            pass
    _ensure_experiment(client, exp)
    labels = {LABEL_EXPERIMENT: exp}
    spec: dict[str, Any] = {"experiment": exp, "source": {"kind": "Adhoc"}}
    if parent is not None:
        spec["parentRun"] = parent.name
        labels[LABEL_PARENT_RUN] = parent.name
    meta: dict[str, Any] = {"labels": labels}
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = "run-"
    created = client.create({"apiVersion": "hanzo.ai/v1", "kind": "Run", "metadata": meta,
                             "spec": spec})
    run = ActiveRun(created["metadata"]["name"], created["metadata"]["namespace"], exp,
                    owned=True, parent=parent)
    _register(run)
    if tags:
        set_tags(tags, run=run)
    return run


def _register(run: ActiveRun) -> None:
    with _state.lock:
        _state.runs.append(run)


def _current() -> ActiveRun:
    """The run to log to: the context's, else the process default (made on first use)."""
    run = _active.get()
    if run is not None:
        return run
    run = _state.default
    if run is not None:
        return run
    with _state.lock:
        if _state.default is None:
            job = _job_run()
            if job is not None:
                _register(job)
                _state.default = job
            else:
                _state.default = _create_run(None, None, None, None)
        return _state.default


# -- runs ---------------------------------------------------------------------------------


def start_run(name: str | None = None, experiment: str | None = None,
              tags: Mapping[str, Any] | None = None) -> ActiveRun:
    """Start (or resume, by ``name``) a run and make it the active one; use it in ``with``.

    Inside a job, ``start_run()`` (or the job's run name) is the job's own run, which the
    job's end finishes; any other name makes a run nested under it. Outside a job it creates
    an ad-hoc Run (``generateName: run-``) in ``experiment`` (default ``default``), nested
    under the active run if there is one.
    """
    parent = _active.get() or _state.default
    job_name = HANZO_ML_RUN.get()
    if job_name and name in (None, job_name):
        run = _state.default if _state.default and _state.default.name == job_name else None
        if run is None:
            run = _job_run()
            assert run is not None
            _register(run)
            with _state.lock:
                if _state.default is None:
                    _state.default = run
    else:
        run = _create_run(name, experiment, None, parent)
    run._token = _active.set(run)
    with _state.lock:
        if _state.default is None:
            _state.default = run
    if tags:
        set_tags(tags, run=run)
    return run


def active_run() -> ActiveRun | None:
    """The run ``log_*`` would write to now, or None if none was started or used yet."""
    return _active.get() or _state.default


def _phase(phase: str) -> str:
    try:
        return _PHASES[phase]
    except KeyError:
        raise Invalid(f"end_run: phase must be Succeeded or Failed, got {phase!r}") from None


def _deactivate(run: ActiveRun) -> None:
    if run._token is not None:
        try:
            _active.reset(run._token)
        except ValueError:  # ended in another context: just clear ours
            if _active.get() is run:
                _active.set(run.parent)
        run._token = None
    elif _active.get() is run:
        _active.set(run.parent)
    with _state.lock:
        if _state.default is run:
            _state.default = None


def _end(run: ActiveRun, phase: str, *, wait: float = END_WAIT_SECONDS) -> None:
    run.ended = True
    writer = _state.writer()
    if run.owned:
        writer.end(run.sink(), phase)
    _deactivate(run)
    writer.flush(wait)


def end_run(phase: str = "Succeeded") -> None:
    """End the active run: send what is buffered and mark it ``phase`` (Succeeded/Failed).

    A job's own run is finished by the job, not here: for it this only flushes. Waits a few
    seconds for delivery, then leaves the rest to the background writer.
    """
    run = _active.get() or _state.default
    if run is None:
        return
    _end(run, _phase(phase))


# -- metrics, params, tags ----------------------------------------------------------------


def log_metric(key: str, value: float, step: int | None = None,
               timestamp: int | None = None) -> None:
    """Log one point of metric ``key``. ``step`` defaults to the key's next step in this
    process; ``timestamp`` is milliseconds since the epoch (default: now). NaN and ±inf are
    accepted. Returns at once; the point is sent in the background."""
    # RunSink.add, inlined: this is the hot path of every training loop
    run = _active.get() or _state.default or _current()
    sink = run._sink or run.sink()
    if type(value) is not float:
        value = _as_float(key, value)
    series = sink.series.get(key) or sink.new_series(key)
    if step is None:
        step = series.next_step
    elif type(step) is not int:
        step = _as_step(key, step)
    series.next_step = step + 1
    points = series.points
    points.append((value, step,
                   _time_ns() // 1_000_000 if timestamp is None else int(timestamp)))
    if len(points) >= sink.high_water and not sink.wake.is_set():
        sink.wake.set()


def log_metrics(metrics: Mapping[str, float], step: int | None = None,
                timestamp: int | None = None) -> None:
    """Log several metrics at once (each key gets its own next step unless ``step`` is given)."""
    run = _active.get() or _state.default or _current()
    add = (run._sink or run.sink()).add
    for key, value in metrics.items():
        add(key, value, step, timestamp)


def _param_value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > PARAM_VALUE_MAX:
        raise Invalid(f"log_param({key!r}): value must be no more than {PARAM_VALUE_MAX} "
                      f"characters, got {len(text)}")
    return text


def log_param(key: str, value: Any) -> None:
    """Log a param (stored as a string, like MLflow). Params are write-once: logging a
    different value for a key raises ``Conflict`` (at once if this process logged the key;
    otherwise at the next ``flush`` or ``log_param``, when the server refuses it)."""
    log_params({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    """Log several params; see ``log_param``."""
    checked = {check_key("log_param", k): _param_value(k, v) for k, v in params.items()}
    run = _current()
    _state.writer().log_params(run.sink(), checked)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run (tags, unlike params, may change)."""
    set_tags({key: value})


def set_tags(tags: Mapping[str, Any], *, run: ActiveRun | None = None) -> None:
    """Set several tags of the active run."""
    checked: dict[str, str] = {}
    for key, value in tags.items():
        check_key("set_tag", key)
        text = value if isinstance(value, str) else str(value)
        if len(text) > TAG_VALUE_MAX:
            raise Invalid(f"set_tag({key!r}): value must be no more than {TAG_VALUE_MAX} "
                          f"characters, got {len(text)}")
        checked[key] = text
    target = run or _current()
    _state.writer().set_tags(target.sink(), checked)


def params() -> dict[str, Any]:
    """The parameter assignment of this job (a sweep trial's hyperparameters), from
    ``HANZO_ML_PARAMS``; ``{}`` outside a job."""
    raw = HANZO_ML_PARAMS.get()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise Invalid(f"HANZO_ML_PARAMS: must be a JSON object, got {raw[:80]!r} ({e})") from e
    if not isinstance(value, dict):
        raise Invalid(f"HANZO_ML_PARAMS: must be a JSON object, got {type(value).__name__}")
    return value


def flush(timeout: float | None = None) -> bool:
    """Block until every point, param and tag logged so far is delivered; return False if
    ``timeout`` (seconds) passed first. Raises the first error the server refused a batch
    with, e.g. ``Conflict`` for a param already set to another value. Also delivers batches
    an earlier process left in the spool."""
    writer = _state.existing_writer()
    if writer is None:
        try:
            writer = _state.writer()
        except ConnectionError:
            return True  # no control plane configured and nothing was logged
    return writer.flush(timeout)


# -- artifacts ----------------------------------------------------------------------------


def log_artifact(local_path: str | os.PathLike[str], name: str | None = None) -> str:
    """Upload a file (or a directory, file by file) and return its ``vfs://`` URI.

    In a job with ``artifacts.output`` the files go under that URI (``HANZO_ML_ARTIFACTS``);
    otherwise under ``vfs://<namespace>/runs/<run>/artifacts/``. ``name`` defaults to the
    file's name. Each upload is recorded as an Artifact object labelled with the run.
    """
    path = Path(local_path)
    if not path.exists():
        raise FileNotFoundError(f"log_artifact: {path} does not exist")
    run = _current()
    base = HANZO_ML_ARTIFACTS.get() if not run.owned and run.name == HANZO_ML_RUN.get() else None
    base = (base or run.artifact_uri).rstrip("/")
    target = f"{base}/{(name or path.name).strip('/')}"
    client = _state.client()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            with open(file, "rb") as f:
                client.put_artifact(f"{target}/{file.relative_to(path).as_posix()}", f,
                                    run=run.name)
        return target + "/"
    with open(path, "rb") as f:
        return str(client.put_artifact(target, f, run=run.name)["uri"])


# -- exit ---------------------------------------------------------------------------------


def _failed_exit() -> bool:
    if "IPython" in sys.modules:
        try:
            from IPython import get_ipython

            if get_ipython() is not None:
                return False  # a cell that raised earlier does not fail the session's run
        except Exception:  # noqa: BLE001
            pass
    return getattr(sys, "last_value", None) is not None


def _at_exit() -> None:
    writer = _state.existing_writer()
    if writer is None:
        return
    phase = "Failed" if _failed_exit() else "Succeeded"
    for run in list(_state.runs):
        if run.owned and not run.ended:
            run.ended = True
            writer.end(run.sink(), phase)
    timeout = HANZO_ML_FLUSH_TIMEOUT.get()
    writer.close(30.0 if timeout is None else float(timeout))
