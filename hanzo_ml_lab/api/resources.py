"""Compute requests and environment variables, shaped as Kubernetes containers take them.

Users copy ``resources`` blocks between Pods and our Kinds, so they keep the Pod shape:
``requests`` and ``limits`` maps of resource name to quantity (``nvidia.com/gpu: "1"``).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from ._base import ApiModel
from ._types import Quantity

__all__ = ["EnvVar", "ResourceRequirements", "check_unique_env"]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ResourceRequirements(ApiModel):
    """CPU, memory and accelerators a replica asks for (``requests``) and may not exceed
    (``limits``). The local runtime records them; the Kubernetes runtime passes them to Pods."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class EnvVar(ApiModel):
    """One environment variable of a container, as in a Pod spec."""

    name: str
    value: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError(
                "must be a valid environment variable name (letters, digits, '_', '-', '.', "
                f"not starting with a digit), got {v!r}"
            )
        return v


def check_unique_env(env: list[EnvVar], prefix: str = "env") -> list[tuple[str, str]]:
    """Rule violations (relative path, message) for repeated variable names."""
    seen: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    for index, var in enumerate(env):
        if var.name in seen:
            problems.append(
                (f"{prefix}[{index}].name",
                 f"duplicate name {var.name!r} (first at {prefix}[{seen[var.name]}])")
            )
        else:
            seen[var.name] = index
    return problems
