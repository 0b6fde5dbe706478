"""Runs and metric histories as pandas DataFrames (``ml.runs``, ``ml.metrics``).

pandas is imported when one of these is called, never when the SDK is imported: training
code that only logs does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from hanzo_ml_lab.client import Client

__all__ = ["metrics", "runs"]

PAGE = 100_000
_NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from .fluent import _state

    return _state.client()


def _float(value: Any) -> float:
    if isinstance(value, str):
        return _NON_FINITE.get(value, float("nan"))
    return float(value) if value is not None else float("nan")


def runs(experiment: str, client: Client | None = None) -> pd.DataFrame:
    """One row per run of ``experiment``: ``run``, ``phase``, ``start``, ``end``, then
    ``params.<key>`` and ``metrics.<key>`` (the latest value) columns, newest run first."""
    import pandas as pd

    c = _client(client)
    items = c.experiment_runs(experiment)["items"]
    rows: list[dict[str, Any]] = []
    param_keys: set[str] = set()
    metric_keys: set[str] = set()
    for item in items:
        name = item["metadata"]["name"]
        status = item.get("status") or {}
        latest = c.run_latest_metrics(name)
        end = latest.get("end") or {}
        source = ((item.get("spec") or {}).get("source") or {}).get("kind", "Adhoc")
        phase = status.get("phase") or end.get("phase") or (
            "Running" if source == "Adhoc" else None)
        row: dict[str, Any] = {
            "run": name,
            "phase": phase,
            "start": status.get("startTime") or item["metadata"].get("creationTimestamp"),
            "end": status.get("endTime") or end.get("endedAt"),
        }
        for key, value in c.run_params(name)["params"].items():
            row[f"params.{key}"] = value
            param_keys.add(key)
        for key, summary in latest["metrics"].items():
            row[f"metrics.{key}"] = _float(summary.get("value"))
            metric_keys.add(key)
        rows.append(row)
    columns = ["run", "phase", "start", "end", *(f"params.{k}" for k in sorted(param_keys)),
               *(f"metrics.{k}" for k in sorted(metric_keys))]
    df = pd.DataFrame(rows, columns=columns)
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    for key in metric_keys:
        df[f"metrics.{key}"] = df[f"metrics.{key}"].astype("float64")
    return df.sort_values("start", ascending=False, ignore_index=True)


def metrics(run: str | None = None, job: str | None = None, experiment: str | None = None,
            key: str | None = None, client: Client | None = None) -> pd.DataFrame:
    """Every point, one row each: ``run``, ``key``, ``step``, ``timestamp`` (UTC), ``value``,
    in the order they were ingested. Give a ``run``, a ``job`` (its run), an ``experiment``
    (all its runs; with ``run`` too, that run only), or nothing for the active run."""
    import pandas as pd

    c = _client(client)
    if job is not None:
        if run is not None:
            raise ValueError("metrics: give run or job, not both")
        status = c.get("TrainingJob", job).get("status") or {}
        run = status.get("runName") or job
    if run is None and experiment is None:
        from .fluent import active_run

        current = active_run()
        if current is None:
            raise ValueError("metrics: give run, job or experiment (no run is active)")
        run = current.name
    columns: dict[str, list[Any]] = {"run": [], "key": [], "step": [], "timestamp": [],
                                     "value": []}
    after = 0
    while True:
        page = c.metric_page(run=run, experiment=experiment, key=key, after=after, limit=PAGE)
        items = page["items"]
        for p in items:
            columns["run"].append(p["run"])
            columns["key"].append(p["key"])
            columns["step"].append(p["step"])
            columns["timestamp"].append(p["timestamp"])
            v = p["value"]
            columns["value"].append(v if type(v) is float or type(v) is int else _float(v))
        if len(items) < PAGE:
            break
        after = int(page["next"])
    df = pd.DataFrame(columns)
    df["step"] = df["step"].astype("int64")
    df["timestamp"] = pd.to_datetime(df["timestamp"].astype("int64"), unit="ms", utc=True)
    df["value"] = df["value"].astype("float64")
    return df
