"""Where each Kind lives on the HTTP surface, shared by the server and the client.

HIP-109 names the collections of its seven Kinds (note ``jobs`` and the singular
``inference``); the five v0.1.x Kinds use their plurals.
"""

from __future__ import annotations

__all__ = ["API_PREFIX", "COLLECTIONS", "collection_path", "kind_for_collection"]

API_PREFIX = "/v1/ml"

COLLECTIONS: dict[str, str] = {
    "TrainingJob": "jobs",
    "Experiment": "experiments",
    "Sweep": "sweeps",
    "Pipeline": "pipelines",
    "Notebook": "notebooks",
    "Model": "models",
    "Inference": "inference",
    "SparkJob": "sparkjobs",
    "Run": "runs",
    "Metric": "metrics",
    "ModelVersion": "modelversions",
    "Artifact": "artifacts",
}

_KIND_BY_COLLECTION = {v: k for k, v in COLLECTIONS.items()}


def collection_path(kind: str) -> str:
    """``/v1/ml/jobs`` for ``TrainingJob``."""
    return f"{API_PREFIX}/{COLLECTIONS[kind]}"


def kind_for_collection(segment: str) -> str | None:
    return _KIND_BY_COLLECTION.get(segment)

