"""The tracking SDK: what training code calls to record runs, params, metrics and artifacts.

    import hanzo_ml_lab as ml
    with ml.start_run(experiment="mnist"):
        ml.log_params({"lr": 0.01, "batch": 64})
        for epoch in range(5):
            ml.log_metric("loss", train_one_epoch(), step=epoch)
        ml.log_artifact("model.pt")
    ml.runs("mnist")          # a DataFrame, one row per run

The fluent functions live in ``fluent`` (MLflow-shaped), the background delivery in
``_writer`` and ``_spool``, the DataFrame helpers in ``frames``.
"""

from __future__ import annotations

from .fluent import (
    ActiveRun,
    active_run,
    end_run,
    flush,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    params,
    set_tag,
    set_tags,
    start_run,
)
from .frames import metrics, runs

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
    "metrics",
    "params",
    "runs",
    "set_tag",
    "set_tags",
    "start_run",
]
