"""hanzo-ml-lab: a notebook-first ML control plane (HIP-109)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
