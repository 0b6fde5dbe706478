"""hanzo-ml-lab: a notebook-first ML control plane (HIP-109).

``import hanzo_ml_lab as ml`` is cheap: the tracking SDK (``ml.log_metric``, ``ml.start_run``,
``ml.runs`` ...) and the notebook API (``ml.train``, ``ml.job``) are imported the first time one
of their names is used, and pandas only when a DataFrame is asked for.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_TRACKING = (
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
)

# launching and watching jobs from Python: ml.train(...), ml.job(name).watch()
_NOTEBOOK = ("attach", "job", "jobs", "last_job", "sweep", "train")

__all__ = ["__version__", "load_ipython_extension", *_TRACKING, *_NOTEBOOK]


def __getattr__(name: str) -> Any:
    if name in _TRACKING:
        from hanzo_ml_lab import tracking as source
    elif name in _NOTEBOOK:
        from hanzo_ml_lab.magics import api as source  # type: ignore[no-redef]
    else:
        raise AttributeError(f"module 'hanzo_ml_lab' has no attribute {name!r}")
    value = getattr(source, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hanzo_ml_lab``: the magics live in ``hanzo_ml_lab.magics``."""
    from hanzo_ml_lab.magics import load_ipython_extension as load

    load(ipython)
