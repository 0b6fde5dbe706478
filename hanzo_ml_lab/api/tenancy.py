"""Tenants and namespaces: org ``acme`` lives in namespace ``tenant-acme`` (HIP-109).

The mapping is the only link between the ``X-Org-Id`` a request carries and the objects it may
touch, so it is one function, used by the server, the client and the store alike.
"""

from __future__ import annotations

from ._names import validate_dns1123
from .errors import Cause, Invalid

__all__ = ["TENANT_PREFIX", "org_of_namespace", "tenant_namespace"]

TENANT_PREFIX = "tenant-"
_ORG_MAX = 63 - len(TENANT_PREFIX)


def tenant_namespace(org: str) -> str:
    """``"acme"`` -> ``"tenant-acme"``.

    Raises ``Invalid`` with a cause on ``X-Org-Id`` unless ``org`` is a DNS-1123 label short
    enough for the namespace to be one too (56 characters).
    """
    try:
        validate_dns1123(org if isinstance(org, str) else "", max_length=_ORG_MAX)
    except ValueError as exc:
        raise Invalid(
            f"X-Org-Id: org id {exc}",
            causes=[Cause(field="X-Org-Id", message=f"org id {exc}")],
        ) from None
    return f"{TENANT_PREFIX}{org}"


def org_of_namespace(namespace: str) -> str | None:
    """``"tenant-acme"`` -> ``"acme"``; ``None`` for a namespace that is no tenant's."""
    if not namespace.startswith(TENANT_PREFIX) or namespace == TENANT_PREFIX:
        return None
    return namespace[len(TENANT_PREFIX):]
