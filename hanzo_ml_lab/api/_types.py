"""Annotated field types the Kinds share: object-name references, timestamps, quantities, numbers.

Each type carries its own rule and a human error message, so a bad value fails at the field that
holds it (``spec.experiment.name: must be a lowercase RFC 1123 label ...``), and its own JSON
schema, so the CRD generator emits the same rule the server enforces.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from ._base import validate_dns1123

__all__ = [
    "DNS1123_PATTERN",
    "MetricKey",
    "Name",
    "NonEmptyStr",
    "Number",
    "QUANTITY_PATTERN",
    "Quantity",
    "Timestamp",
]

DNS1123_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Kubernetes' resource.Quantity grammar, as its CRD schemas write it.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(QUANTITY_PATTERN)

# MLflow's rule for metric and param keys: what tracking users already write.
_METRIC_KEY_PATTERN = r"^[A-Za-z0-9_\-. /:]+$"
_METRIC_KEY = re.compile(_METRIC_KEY_PATTERN)
_METRIC_KEY_MAX = 250


def _name(value: str) -> str:
    return validate_dns1123(value)


Name = Annotated[
    str,
    AfterValidator(_name),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS1123_PATTERN}),
]
"""The name of another object in the same namespace (a DNS-1123 label)."""


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


NonEmptyStr = Annotated[
    str, AfterValidator(_non_empty), WithJsonSchema({"type": "string", "minLength": 1})
]


def _timestamp_in(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"must be an RFC 3339 timestamp such as 2026-05-18T09:30:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None or "T" not in value:
        raise ValueError(
            "must be an RFC 3339 timestamp with a date, a time and a zone "
            f"(e.g. 2026-05-18T09:30:00Z), got {value!r}"
        )
    return value


Timestamp = Annotated[
    str,
    BeforeValidator(_timestamp_in),
    AfterValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An RFC 3339 timestamp kept as the string it was written as (``datetime`` accepted in Python)."""


def _quantity_in(value: Any) -> Any:
    # YAML writes `cpu: 8` as an int; Kubernetes quantities are int-or-string.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(
            "must be a Kubernetes quantity such as '1', '500m', '4Gi' or '32Gi', "
            f"got {value!r}"
        )
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_in),
    AfterValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string", "pattern": QUANTITY_PATTERN}],
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A Kubernetes resource quantity (``"8"``, ``"500m"``, ``"32Gi"``); numbers become strings."""


def _number_in(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {str(value).lower()}")
    return value


def _number_out(value: float) -> float:
    # Keep integers integers on the wire: `max: 128` stays 128, not 128.0.
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


Number = Annotated[float, BeforeValidator(_number_in), AfterValidator(_number_out)]
"""A number that keeps integral values as ints (YAML's ``1e-5`` string is read as a float)."""


def _metric_key(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if len(value) > _METRIC_KEY_MAX:
        raise ValueError(f"must be no more than {_METRIC_KEY_MAX} characters, got {len(value)}")
    if not _METRIC_KEY.match(value):
        raise ValueError(
            "may contain only letters, digits, '_', '-', '.', ' ', ':' and '/' "
            f"(e.g. 'val_acc' or 'train/loss'), got {value!r}"
        )
    return value


MetricKey = Annotated[
    str,
    AfterValidator(_metric_key),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": _METRIC_KEY_MAX,
         "pattern": _METRIC_KEY_PATTERN}
    ),
]
"""A metric or param key, with MLflow's character rules."""
