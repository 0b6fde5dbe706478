"""The wire form of a Kind leaves out what is empty by default, as Kubernetes' ``omitempty`` does.

Validation fills defaults in (a stored TrainingJob says ``restartPolicy: Never`` even if the user
did not), but an unset list or map adds nothing: ``env: []``, ``limits: {}`` and
``resources: {}`` would only bury the fields that matter in ``get -o yaml``. Dropping them is
safe because parsing the wire form fills them in again, so ``parse(to_wire(x)) == x``.
Metadata is left as the envelope writes it.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["OmitEmptyWire", "omit_empty"]


def _defaults_to_empty(info: FieldInfo) -> bool:
    if info.is_required():
        return False
    factory = info.default_factory
    if factory in (list, dict):
        return True
    return info.default in ([], {})


def omit_empty(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    """Drop from ``data`` (``model`` dumped by alias) the empty collections and empty nested
    objects of fields that were empty by default. Mutates and returns ``data``."""
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        if key not in data:
            continue
        value = getattr(model, name)
        out = data[key]
        if isinstance(value, BaseModel) and isinstance(out, dict):
            omit_empty(value, out)
            if not out and not info.is_required():
                del data[key]
            continue
        if isinstance(value, list) and isinstance(out, list):
            for item, dumped in zip(value, out, strict=False):
                if isinstance(item, BaseModel) and isinstance(dumped, dict):
                    omit_empty(item, dumped)
        elif isinstance(value, dict) and isinstance(out, dict):
            for k, item in value.items():
                dumped = out.get(k)
                if isinstance(item, BaseModel) and isinstance(dumped, dict):
                    omit_empty(item, dumped)
        if isinstance(value, list | dict) and not value and _defaults_to_empty(info):
            del data[key]
    return data


class OmitEmptyWire:
    """Mixin for Kind classes: ``to_wire`` applies ``omit_empty`` to ``spec`` and ``status``."""

    def to_wire(self) -> dict[str, Any]:
        model = cast(BaseModel, self)
        data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        for part in ("spec", "status"):
            value = getattr(model, part, None)
            if isinstance(value, BaseModel) and isinstance(data.get(part), dict):
                omit_empty(value, data[part])
        return data
