"""The twelve Kinds by name, and the one way to turn a wire dict into a checked object.

Everything that receives an object (server routes, CLI ``apply``, the store's callers, the
controller reading back what it wrote) goes through ``parse_object``, so every layer reports a
bad field the same way: an ``Invalid`` whose causes name the wire path and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ._base import API_VERSION, Resource
from ._validation import causes_from
from .errors import BadRequest, Invalid
from .experiment import Experiment
from .inference import Inference
from .model import Model
from .modelversion import ModelVersion
from .notebook import Notebook
from .pipeline import Pipeline
from .sparkjob import SparkJob
from .sweep import Sweep
from .tracking import Artifact, Metric, Run
from .training import TrainingJob

__all__ = ["KINDS", "KindInfo", "kind_info", "parse_object", "resolve_kind"]

ResourceType = type[Resource[Any, Any]]

KINDS: dict[str, ResourceType] = {
    cls.__name__: cls
    for cls in (
        TrainingJob,
        Experiment,
        Sweep,
        Pipeline,
        Notebook,
        Model,
        Inference,
        SparkJob,
        Run,
        Metric,
        ModelVersion,
        Artifact,
    )
}

_BY_ALIAS: dict[str, ResourceType] = {}
for _cls in KINDS.values():
    for _alias in {_cls.__name__.lower(), _cls.plural, *_cls.short_names}:
        if _alias in _BY_ALIAS:  # pragma: no cover - guarded by a test
            raise RuntimeError(f"kind alias {_alias!r} is taken twice")
        _BY_ALIAS[_alias] = _cls


@dataclass(frozen=True)
class KindInfo:
    """A Kind's names and lifecycle, as the CRD generator, CLI and UI need them."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    phases: tuple[str, ...]
    finishes: bool
    printer_columns: tuple[tuple[str, str, str], ...]


def kind_info(cls: ResourceType) -> KindInfo:
    return KindInfo(
        kind=cls.__name__,
        plural=cls.plural,
        singular=cls.__name__.lower(),
        short_names=tuple(cls.short_names),
        phases=tuple(cls.phases),
        finishes=cls.finishes,
        printer_columns=tuple(cls.printer_columns),
    )


def resolve_kind(name: str) -> ResourceType:
    """The Kind class for a kind (any case), plural or short name.

    Raises ``BadRequest`` listing the valid kinds.
    """
    cls = _BY_ALIAS.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        valid = ", ".join(
            f"{c.__name__} ({c.plural}, {'/'.join(c.short_names)})" for c in KINDS.values()
        )
        raise BadRequest(f"unknown kind {name!r}; valid kinds are: {valid}")
    return cls


def parse_object(obj: dict[str, Any], *, kind: str | None = None) -> Resource[Any, Any]:
    """Validate a wire (camelCase) dict against its Kind's model.

    The Kind comes from ``obj["kind"]``, or from ``kind`` when the object has none (e.g. the
    route's plural); if both are given they must agree. ``apiVersion``, when present, must be
    ``hanzo.ai/v1``. Raises ``BadRequest`` (not a dict, unknown or conflicting kind) and
    ``Invalid`` whose causes name each broken field.
    """
    if not isinstance(obj, dict):
        raise BadRequest(f"object must be a mapping (JSON object), got {type(obj).__name__}")
    obj_kind = obj.get("kind")
    if obj_kind is not None and not isinstance(obj_kind, str):
        raise BadRequest(f"kind must be a string, got {type(obj_kind).__name__}")
    if obj_kind is None and kind is None:
        raise BadRequest(
            "object has no kind; set kind to one of " + ", ".join(KINDS)
        )
    cls = resolve_kind(obj_kind if obj_kind is not None else str(kind))
    if obj_kind is not None and kind is not None and resolve_kind(kind) is not cls:
        expected = resolve_kind(kind).__name__
        raise BadRequest(f"kind {obj_kind!r} does not match {expected} expected here")
    data = dict(obj)
    data["kind"] = cls.__name__
    data.setdefault("apiVersion", API_VERSION)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        causes = causes_from(exc, cls)
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        subject = f'{cls.__name__} "{name}"' if isinstance(name, str) and name else cls.__name__
        detail = "; ".join(f"{c.field}: {c.message}" for c in causes)
        raise Invalid(
            f"{subject} is invalid: {detail}",
            causes=causes,
            kind=cls.__name__,
            name=name if isinstance(name, str) else None,
        ) from None
