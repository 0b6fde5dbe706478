"""The Jupyter server extension: ``{base_url}hanzo-ml/`` (config and the API proxy).

Enabled on install through ``jupyter_server_config.d/hanzo_ml_lab.json``; see
``hanzo_ml_lab.jupyter.app.HanzoMLExtension`` for its configuration and docs/jupyter.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HanzoMLExtension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from hanzo_ml_lab.jupyter.app import HanzoMLExtension

    return [{"module": "hanzo_ml_lab.jupyter", "app": HanzoMLExtension}]


def __getattr__(name: str) -> Any:
    # Lazy, so importing hanzo_ml_lab.jupyter for the extension points stays cheap.
    if name == "HanzoMLExtension":
        from hanzo_ml_lab.jupyter.app import HanzoMLExtension

        return HanzoMLExtension
    raise AttributeError(name)
