"""JSON merge patch (RFC 7386): the body of a Kubernetes ``application/merge-patch+json`` PATCH.

A patch object is merged key by key; ``null`` removes a key; anything that is not an object
(including a list) replaces the target wholesale. Neither argument is modified.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["merge_patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with ``patch`` applied, as RFC 7386 section 2 defines it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(result: dict[str, Any], patch: dict[str, Any]) -> None:
    # ``result`` is already a private copy, so nested objects are merged in place.
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            if not isinstance(current, dict):
                current = {}
                result[key] = current
            _merge_into(current, value)
        else:
            result[key] = copy.deepcopy(value)
