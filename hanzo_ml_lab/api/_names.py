"""Object and namespace names: the DNS-1123 label rule, with no pydantic.

Apart from ``_base`` so that the light modules (``tenancy``, ``vfs``) can check a name
without loading the models: the tracking SDK in a job imports those and nothing heavier.
"""

from __future__ import annotations

import re

__all__ = ["NAME_MAX", "validate_dns1123"]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_MAX = 63


def validate_dns1123(value: str, *, max_length: int = NAME_MAX) -> str:
    """Raise ``ValueError`` naming the rule unless ``value`` is a DNS-1123 label."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > max_length:
        raise ValueError(f"must be no more than {max_length} characters, got {len(value)}")
    if not DNS1123_LABEL.match(value):
        raise ValueError(
            "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit (e.g. 'my-name'), got {value!r}"
        )
    return value
