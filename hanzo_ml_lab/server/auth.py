"""Bearer-token auth and tenant scoping.

Every request carries ``Authorization: Bearer <JWT>`` and ``X-Org-Id: <org>``. The token's
``orgs`` claim lists the orgs its subject belongs to (``"*"`` for the embedded owner, who may act
in any org on their own machine). Org ``acme`` maps to namespace ``tenant-acme``, and every
handler works inside that one namespace: there is no route that names another tenant's
namespace, so nothing crosses tenants.

In embedded mode the signing key and an owner token are created under ``$HANZO_ML_HOME`` with
mode 0600 — the same trust boundary as the user's home directory.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from hanzo_ml_lab.api import tenant_namespace
from hanzo_ml_lab.api.errors import Cause, Forbidden, Invalid, Unauthorized

__all__ = [
    "ISSUER",
    "AUDIENCE",
    "Credentials",
    "Tenant",
    "TenantContext",
    "ensure_credentials",
    "mint_token",
    "verify_token",
]

ISSUER = "hanzo-ml"
AUDIENCE = "hanzo-ml"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Credentials:
    key: str
    token: str
    key_path: Path
    token_path: Path


def _write_private(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(path, 0o600)


def mint_token(key: str, *, subject: str, orgs: list[str], ttl_seconds: int | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "orgs": orgs,
        "iat": now,
    }
    if ttl_seconds is not None:
        claims["exp"] = now + ttl_seconds
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def ensure_credentials(home: Path) -> Credentials:
    """Create (once) the signing key and the owner's token under ``home``; return both."""
    key_path = home / "auth" / "signing.key"
    token_path = home / "token"
    if key_path.exists():
        key = key_path.read_text().strip()
    else:
        key = secrets.token_hex(32)
        _write_private(key_path, key)
    token = token_path.read_text().strip() if token_path.exists() else ""
    try:
        verify_token(token, key)
    except Unauthorized:
        token = mint_token(key, subject="owner", orgs=["*"])
        _write_private(token_path, token)
    return Credentials(key=key, token=token, key_path=key_path, token_path=token_path)


def verify_token(token: str, key: str) -> dict[str, Any]:
    """Decode and check signature, issuer, audience and expiry; raise ``Unauthorized``."""
    if not token:
        raise Unauthorized("Authorization: a bearer token is required")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER
        )
    except jwt.ExpiredSignatureError as e:
        raise Unauthorized("Authorization: the bearer token has expired") from e
    except jwt.PyJWTError as e:
        raise Unauthorized(f"Authorization: the bearer token is not valid ({e})") from e
    orgs = claims.get("orgs")
    if not isinstance(orgs, list) or not all(isinstance(o, str) for o in orgs):
        raise Unauthorized("Authorization: the bearer token has no 'orgs' claim")
    return claims


@dataclass(frozen=True)
class TenantContext:
    """Who is asking, and the one namespace they may touch."""

    org: str
    namespace: str
    subject: str


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization: expected 'Bearer <token>'")
    return token.strip()


def get_tenant(request: Request) -> TenantContext:
    key: str = request.app.state.settings.signing_key
    claims = verify_token(_bearer(request), key)
    orgs: list[str] = claims["orgs"]
    org = request.headers.get("x-org-id", "").strip()
    if not org:
        if len(orgs) == 1 and orgs[0] != "*":
            org = orgs[0]
        else:
            raise Invalid(
                "X-Org-Id: header is required (the org whose resources this request acts on)",
                causes=[Cause("X-Org-Id", "header is required", "FieldValueRequired")],
            )
    namespace = tenant_namespace(org)
    if "*" not in orgs and org not in orgs:
        raise Forbidden(
            f"X-Org-Id: unknown org {org!r} for this token (member of: {', '.join(orgs)})"
        )
    return TenantContext(org=org, namespace=namespace, subject=str(claims.get("sub", "")))


Tenant = Annotated[TenantContext, Depends(get_tenant)]
