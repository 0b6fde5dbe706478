"""Notebook magics and live widgets for hanzo-ml (importable as ``hanzo_ml_lab.magics``).

    %load_ext hanzo_ml_lab          # or: %load_ext hanzo_ml_lab.magics

    %%ml_train --workers 2 --experiment mnist
    import hanzo_ml_lab as ml
    ...

Magics: ``%%ml_train``, ``%%ml_sweep``, ``%ml_jobs``, ``%ml_attach``, ``%ml_logs``,
``%ml_cancel``; their Python equivalents live in ``hanzo_ml_lab.magics.api``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_MAGIC_NAMES = {
    "line": ("ml_jobs", "ml_attach", "ml_logs", "ml_cancel", "ml_train", "ml_sweep"),
    "cell": ("ml_train", "ml_sweep"),
}


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics with ``ipython`` (what ``%load_ext`` calls)."""
    from ._magics import MLMagics

    ipython.register_magics(MLMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and stop every live view's watcher thread (``%unload_ext``)."""
    from ._widget import close_all

    close_all()
    table = ipython.magics_manager.magics
    for kind, names in _MAGIC_NAMES.items():
        for name in names:
            table[kind].pop(name, None)
