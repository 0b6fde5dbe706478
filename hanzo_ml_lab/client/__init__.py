"""The typed HTTP client of the ``/v1/ml/*`` API, sync and async.

    from hanzo_ml_lab.client import Client
    with Client() as c:                      # finds the embedded control plane
        c.create({"kind": "Experiment", "metadata": {"name": "mnist"}, "spec": {}})
"""

from hanzo_ml_lab.client._async import AsyncClient
from hanzo_ml_lab.client._base import ClientConfig, ControlPlaneUnreachable
from hanzo_ml_lab.client._sync import Client

__all__ = ["AsyncClient", "Client", "ClientConfig", "ControlPlaneUnreachable"]
