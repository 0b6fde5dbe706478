"""The typed HTTP client of the ``/v1/ml/*`` API, sync and async.

    from hanzo_ml_lab.client import Client
    with Client() as c:                      # finds the embedded control plane
        c.create({"kind": "Experiment", "metadata": {"name": "mnist"}, "spec": {}})

Each name is imported the first time it is used (PEP 562): ``ClientConfig`` alone does not
load httpx, which the tracking SDK relies on to keep ``log_metric``'s first call cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hanzo_ml_lab.client._async import AsyncClient
    from hanzo_ml_lab.client._config import ClientConfig, ControlPlaneUnreachable
    from hanzo_ml_lab.client._sync import Client

__all__ = ["AsyncClient", "Client", "ClientConfig", "ControlPlaneUnreachable"]

_SOURCE_OF = {
    "AsyncClient": "._async",
    "Client": "._sync",
    "ClientConfig": "._config",
    "ControlPlaneUnreachable": "._config",
}


def __getattr__(name: str) -> Any:
    module = _SOURCE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
