"""The Python face of the magics: ``train``, ``job``, ``jobs``, ``attach``, ``sweep``.

Everything ``%%ml_train`` and friends do is here, callable from plain Python (the magics only
parse their options and call these). The package re-exports ``train`` and ``job`` as
``ml.train`` / ``ml.job``::

    import hanzo_ml_lab as ml
    j = ml.train("import time; time.sleep(1)", workers=2, experiment="demo")
    j.wait(); j.logs(); j.metrics()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hanzo_ml_lab.api.errors import AlreadyExists, ApiError, NotFound
from hanzo_ml_lab.client import Client, ClientConfig, ControlPlaneUnreachable

from ._names import cell_digest, generate_name, notebook_path
from ._spec import (
    ANNOTATION_CELL,
    ANNOTATION_NOTEBOOK,
    InvalidArgument,
    build_sweep,
    build_training_job,
    job_spec,
    script_source,
)
from ._state import TERMINAL_PHASES, JobState
from ._summary import elapsed_seconds, summary_html
from ._widget import JobWidget, SweepWidget, live_widgets

__all__ = [
    "last_job",
    "InvalidArgument",
    "Job",
    "Sweep",
    "attach",
    "get_client",
    "job",
    "jobs",
    "sweep",
    "train",
]

_clients: dict[ClientConfig, Client] = {}
_clients_lock = threading.Lock()


def get_client(config: ClientConfig | None = None) -> Client:
    """The kernel's client for ``config`` (default: from the environment), reused per config."""
    cfg = config or ClientConfig.resolve()
    with _clients_lock:
        existing = _clients.get(cfg)
        if existing is None or existing._http.is_closed:
            existing = _clients[cfg] = Client(config=cfg)
        return existing


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def _launch_annotations(script: str | None) -> dict[str, str]:
    shell = _shell()
    user_ns = getattr(shell, "user_ns", None)
    return {ANNOTATION_NOTEBOOK: notebook_path(user_ns),
            ANNOTATION_CELL: cell_digest(script or "")}


def _create_named(c: Client, name: str | None, prefix: str | None,
                  build: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Create with ``name``, or with a generated one, drawing again on a collision."""
    if name:
        return c.create(build(name))
    for attempt in range(5):
        try:
            return c.create(build(generate_name(prefix)))
        except AlreadyExists:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _display_in_notebook() -> bool:
    return _shell() is not None


class Job:
    """A handle on a TrainingJob. Cheap to make; each property reads the control plane."""

    kind = "TrainingJob"

    def __init__(self, name: str, *, client: Client | None = None,
                 obj: dict[str, Any] | None = None) -> None:
        self.name = name
        self._client = client
        self._obj = obj

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = get_client()
        return self._client

    @property
    def namespace(self) -> str:
        return self.client.namespace

    def refresh(self) -> dict[str, Any]:
        """The job as the control plane has it now (wire form)."""
        self._obj = self.client.get("TrainingJob", self.name)
        return self._obj

    @property
    def object(self) -> dict[str, Any]:
        return self._obj if self._obj is not None else self.refresh()

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.refresh().get("status") or {})

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or "Pending")

    @property
    def widget(self) -> JobWidget | None:
        """The newest open view of this job in this kernel, if any."""
        views = [w for w in live_widgets("TrainingJob", self.name)
                 if w.namespace == self.namespace]
        return views[-1] if views else None

    def watch(self) -> JobWidget:
        """The live view of this job (an open one, or a new one). Display it by making it a
        cell's value; it keeps updating after the cell finished."""
        existing = self.widget
        if existing is not None and existing.watching:
            return existing
        return JobWidget(self.name, client=self.client)

    def show(self) -> JobWidget:
        """Display a live view now (and return it)."""
        w = self.watch()
        w.show()
        return w

    def logs(self, follow: bool = False, replica: str | None = None,
             tail: int | None = None) -> str | Iterator[str]:
        """The job's output: all of it as a string, or with ``follow`` an iterator of chunks
        that waits for the job to start and ends when it has finished and everything was read.

        With several replicas and no ``replica``, every line is prefixed ``[worker-1]``.
        """
        if follow:
            return self._follow_logs(replica, tail)
        prefix = self._prefixing(replica)
        return "".join(_prefixed(c, prefix) for c in
                       self.client.job_logs(self.name, replica=replica, tail_lines=tail))

    def _prefixing(self, replica: str | None) -> bool:
        if replica is not None:
            return False
        from ._spec import replica_names

        return len(replica_names(self.object.get("spec") or {})) > 1

    def _follow_logs(self, replica: str | None, tail: int | None) -> Iterator[str]:
        prefix = self._prefixing(replica)
        cursor: str | None = None
        self._wait_until(lambda phase: phase not in ("", "Pending", "Creating"), None)
        while True:
            over = self.phase in TERMINAL_PHASES
            stream = self.client.job_logs(self.name, replica=replica, follow=not over,
                                          since=cursor, tail_lines=None if cursor else tail)
            try:
                for chunk in stream:
                    cursor = chunk.get("cursor") or cursor
                    yield _prefixed(chunk, prefix)
            finally:
                stream.close()  # type: ignore[attr-defined]
            if over:
                return
            if self.phase not in TERMINAL_PHASES:
                time.sleep(0.5)  # the replicas ended before the phase moved

    def cancel(self) -> dict[str, Any]:
        """Ask the control plane to stop every replica; the job ends Failed (Cancelled)."""
        self._obj = self.client.cancel_job(self.name)
        return self._obj

    def delete(self) -> None:
        self.client.delete("TrainingJob", self.name)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job is Succeeded or Failed; return the phase.

        Raises ``TimeoutError`` after ``timeout`` seconds (the job keeps running).
        """
        w = self.widget
        if w is not None and w.watching:
            return w.wait(timeout)
        return self._wait_until(lambda phase: phase in TERMINAL_PHASES, timeout)

    def _wait_until(self, done: Callable[[str], bool], timeout: float | None) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        obj = self.refresh()
        phase = str((obj.get("status") or {}).get("phase") or "")
        rv = obj["metadata"].get("resourceVersion")
        while not done(phase):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"TrainingJob {self.name} still {phase or 'Pending'} "
                                   f"after {timeout}s")
            events = self.client.watch("TrainingJob", resource_version=rv,
                                       timeout=min(remaining or 30.0, 30.0))
            try:
                for ev in events:
                    item = ev.get("object") or {}
                    meta = item.get("metadata") or {}
                    rv = meta.get("resourceVersion") or rv
                    if ev.get("type") == "ERROR":
                        obj = self.refresh()  # history compacted: start from now
                        rv = obj["metadata"].get("resourceVersion")
                        phase = str((obj.get("status") or {}).get("phase") or "")
                        break
                    if meta.get("name") != self.name or ev.get("type") == "BOOKMARK":
                        if deadline is not None and time.monotonic() > deadline:
                            break
                        continue
                    if ev.get("type") == "DELETED":
                        raise NotFound(f'TrainingJob "{self.name}" was deleted',
                                       kind="TrainingJob", name=self.name)
                    self._obj = item
                    phase = str((item.get("status") or {}).get("phase") or "")
                    if done(phase) or (deadline is not None and time.monotonic() > deadline):
                        break
            except ControlPlaneUnreachable:
                if deadline is not None and time.monotonic() >= deadline:
                    continue
                time.sleep(0.5)
            finally:
                events.close()  # type: ignore[attr-defined]
        return phase

    def metrics(self, key: str | None = None) -> Any:
        """Every metric point of the job's run as a DataFrame (columns run, key, step,
        timestamp, value), as ``ml.metrics(job=...)`` gives it."""
        from hanzo_ml_lab.tracking.frames import metrics

        return metrics(job=self.name, key=key, client=self.client)

    def _summary_view(self) -> dict[str, Any]:
        obj = self.refresh()
        state = JobState(self.name, self.namespace)
        state.apply_job(obj)
        return state.snapshot()

    def __repr__(self) -> str:
        phase = ((self._obj or {}).get("status") or {}).get("phase") if self._obj else None
        return f"<Job {self.name}{' ' + phase if phase else ''}>"

    def _repr_html_(self) -> str:
        try:
            return summary_html(self._summary_view())
        except (ApiError, ControlPlaneUnreachable) as e:
            return f"<div>TrainingJob {self.name}: {e}</div>"


class Sweep:
    """A handle on a Sweep (its controller lands later: for now it records the search)."""

    kind = "Sweep"

    def __init__(self, name: str, *, client: Client | None = None) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = get_client()
        return self._client

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.client.get("Sweep", self.name).get("status") or {})

    def watch(self) -> SweepWidget:
        return SweepWidget(self.name, client=self.client)

    def __repr__(self) -> str:
        return f"<Sweep {self.name}>"


def _prefixed(chunk: Mapping[str, Any], prefix: bool) -> str:
    text = str(chunk.get("text", ""))
    if not prefix or not text:
        return text
    tag = f"[{chunk.get('replica', '')}] "
    lines = text.split("\n")
    return "\n".join(tag + line if line else line for line in lines)


def train(
    script_or_callable_source: str | Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    framework: str = "pytorch",
    workers: int = 1,
    master: int = 0,
    ps: int = 0,
    cpu: str | None = None,
    memory: str | None = None,
    gpu: int | None = None,
    image: str | None = None,
    command: list[str] | None = None,
    params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    experiment: str | None = None,
    backend: str = "local",
    wait: bool = False,
    show: bool = True,
    client: Client | None = None,
) -> Job:
    """Run code as a TrainingJob and return its handle at once.

    ``script_or_callable_source`` is Python source (run as ``python <script>`` in every
    replica) or a function (its source is shipped, then it is called); or give ``command``
    (argv) / ``image``. ``show`` displays the live view when running in IPython; ``wait``
    blocks until the job finished (the view keeps updating meanwhile).

    Raises ``InvalidArgument`` for arguments that break a rule, ``ApiError`` (``Invalid``
    names the field) when the control plane refuses the job.
    """
    script = script_source(script_or_callable_source)
    spec = job_spec(script, framework=framework, workers=workers, master=master, ps=ps,
                    cpu=cpu, memory=memory, gpu=gpu, image=image, command=command,
                    params=params, env=env, experiment=experiment, backend=backend)
    annotations = _launch_annotations(script)
    c = client or get_client()
    created = _create_named(
        c, name, experiment,
        lambda n: build_training_job(n, spec, annotations=annotations))
    handle = Job(created["metadata"]["name"], client=c, obj=created)
    global _last_job
    _last_job = handle
    view = None
    if show and _display_in_notebook():
        view = JobWidget(handle.name, client=c)
        view.show()
    if wait:
        if view is not None:
            view.wait()
        else:
            handle.wait()
    return handle


_last_job: Job | None = None


def last_job() -> Job:
    """The job this process launched last (``%%ml_train`` or ``train``), so the next cell
    can ``ml.last_job().wait()`` without knowing the generated name."""
    if _last_job is None:
        raise LookupError("no job was launched from this kernel yet; use ml.job(NAME)")
    return _last_job


def job(name: str, *, client: Client | None = None) -> Job:
    """A handle on an existing TrainingJob (raises ``NotFound`` if there is none)."""
    handle = Job(name, client=client)
    handle.refresh()
    return handle


def attach(name: str, *, client: Client | None = None,
           show: bool = True) -> JobWidget | SweepWidget:
    """A new live view of an existing TrainingJob (or Sweep) with its full history: every
    metric point from the start, the log tail. Raises ``NotFound`` if there is neither."""
    c = client or get_client()
    try:
        c.get("TrainingJob", name)
        view: JobWidget | SweepWidget = JobWidget(name, client=c)
    except NotFound:
        try:
            c.get("Sweep", name)
        except NotFound:
            raise NotFound(f'TrainingJob or Sweep "{name}" not found in namespace {c.namespace}',
                           kind="TrainingJob", name=name) from None
        view = SweepWidget(name, client=c)
    if show and _display_in_notebook():
        view.show()
    return view


def jobs(experiment: str | None = None, phase: str | None = None, limit: int | None = None,
         *, client: Client | None = None) -> Any:
    """TrainingJobs as a DataFrame, newest first: name, framework, phase, workers
    (ready/total), experiment, started, duration."""
    import pandas as pd

    c = client or get_client()
    # (annotated: mypy reads Client.list_all's ``list[...]`` as the method Client.list)
    items: Iterable[dict[str, Any]] = c.list_all("TrainingJob")
    rows = []
    for obj in items:
        spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
        exp = (spec.get("experiment") or {}).get("name") or ""
        this_phase = status.get("phase") or "Pending"
        if experiment is not None and exp != experiment:
            continue
        if phase is not None and this_phase.lower() != phase.lower():
            continue
        seconds = elapsed_seconds(status.get("startTime"), status.get("completionTime"))
        total = status.get("workersTotal") or (spec.get("workers") or {}).get("replicas", 1)
        rows.append({
            "name": meta["name"],
            "framework": spec.get("framework", ""),
            "phase": this_phase,
            "workers": f"{status.get('workersReady', 0)}/{total}",
            "experiment": exp,
            "started": pd.to_datetime(status.get("startTime"), utc=True)
            if status.get("startTime") else pd.NaT,
            "duration": pd.Timedelta(seconds=seconds) if seconds is not None else pd.NaT,
            "_created": meta.get("creationTimestamp") or "",
        })
    rows.sort(key=lambda r: r["_created"], reverse=True)
    if limit is not None:
        rows = rows[:limit]
    columns = ["name", "framework", "phase", "workers", "experiment", "started", "duration"]
    return pd.DataFrame([{k: r[k] for k in columns} for r in rows], columns=columns)


def sweep(
    script_or_callable_source: str | Callable[..., Any] | None = None,
    *,
    parameters: list[dict[str, Any]],
    objective: str,
    goal: str = "maximize",
    name: str | None = None,
    experiment: str | None = None,
    algorithm: str = "bayesian",
    max_trials: int = 10,
    parallelism: int = 1,
    framework: str = "pytorch",
    workers: int = 1,
    master: int = 0,
    ps: int = 0,
    cpu: str | None = None,
    memory: str | None = None,
    gpu: int | None = None,
    image: str | None = None,
    command: list[str] | None = None,
    env: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    backend: str = "local",
    show: bool = True,
    client: Client | None = None,
) -> Sweep:
    """Create a Sweep whose trials run the script with sampled ``ml.params()``.

    ``parameters`` are Sweep parameter items (``{"name", "type", "min", "max"}`` or
    ``{"name", "type": "choice", "values"}``). The sweep controller lands in a later release:
    the Sweep is recorded and shown, its trials do not start yet.
    """
    script = script_source(script_or_callable_source)
    template = job_spec(script, framework=framework, workers=workers, master=master, ps=ps,
                        cpu=cpu, memory=memory, gpu=gpu, image=image, command=command, env=env,
                        backend=backend)
    annotations = _launch_annotations(script)
    c = client or get_client()

    def build(n: str) -> dict[str, Any]:
        return build_sweep(n, template, experiment=experiment or n, objective=objective,
                           goal=goal, algorithm=algorithm, max_trials=max_trials,
                           parallelism=parallelism, parameters=parameters,
                           annotations=annotations)

    created = _create_named(c, name, experiment, build)
    handle = Sweep(created["metadata"]["name"], client=c)
    if show and _display_in_notebook():
        SweepWidget(handle.name, client=c).show()
    return handle
