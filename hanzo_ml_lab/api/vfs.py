"""``vfs://`` URIs: where artifacts live, and which tenant owns them.

HIP-109 writes every artifact to ``vfs://<tenant namespace>/<path>``. The first segment is the
owning namespace (``tenant-acme``), so a URI says on its face whose data it is: the models only
check the shape, and the server compares the namespace with the caller's tenant
(``foreign_vfs_uris``) so nobody can point a job at another tenant's files.

The functions need no pydantic (the SDK in a job imports this module); the model field type
``VfsUri`` is built the first time it is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from ._names import validate_dns1123
from .errors import Cause

__all__ = ["SCHEME", "VfsUri", "foreign_vfs_uris", "parse_vfs_uri", "vfs_uri"]

SCHEME = "vfs://"
_SHAPE = "vfs://<namespace>/<path> (e.g. vfs://tenant-acme/runs/mnist/v1)"
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\?#]")
VFS_URI_PATTERN = r"^vfs://[a-z0-9]([-a-z0-9]*[a-z0-9])?/[^\\?#]+$"


def parse_vfs_uri(uri: str) -> tuple[str, str]:
    """Split ``vfs://tenant-acme/runs/x/v1`` into ``("tenant-acme", "runs/x/v1")``.

    Raises ``ValueError`` naming the broken rule: the scheme, the namespace (a DNS-1123 label),
    a non-empty path, no ``.``/``..`` or empty segments (a single trailing ``/`` is allowed and
    kept, it marks a directory), no backslashes, control characters, ``?`` or ``#``.
    """
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise ValueError(f"must be a vfs URI of the form {_SHAPE}, got {uri!r}")
    rest = uri[len(SCHEME):]
    namespace, sep, path = rest.partition("/")
    if not namespace:
        raise ValueError(f"must name a namespace after vfs:// ({_SHAPE}), got {uri!r}")
    try:
        validate_dns1123(namespace)
    except ValueError as exc:
        raise ValueError(f"namespace {namespace!r} of {uri!r} {exc}") from None
    if not sep or not path or path == "/":
        raise ValueError(f"must have a path after the namespace ({_SHAPE}), got {uri!r}")
    if _FORBIDDEN.search(path):
        raise ValueError(
            f"path must not contain backslashes, control characters, '?' or '#', got {uri!r}"
        )
    segments = path[:-1].split("/") if path.endswith("/") else path.split("/")
    for segment in segments:
        if segment == "..":
            raise ValueError(f"must not contain '..' segments, got {uri!r}")
        if segment == ".":
            raise ValueError(f"must not contain '.' segments, got {uri!r}")
        if segment == "":
            raise ValueError(f"must not contain empty segments ('//'), got {uri!r}")
    return namespace, path


def vfs_uri(namespace: str, path: str) -> str:
    """Build a URI and check it, so callers never assemble one by hand."""
    uri = f"{SCHEME}{namespace}/{path.lstrip('/')}"
    parse_vfs_uri(uri)
    return uri


def _check(value: str) -> str:
    parse_vfs_uri(value)
    return value


if TYPE_CHECKING:
    VfsUri = Annotated[str, "vfs://<namespace>/<path>"]
    """A field holding a ``vfs://<namespace>/<path>`` URI."""


def _vfs_uri_type() -> Any:
    from pydantic import AfterValidator, WithJsonSchema

    return Annotated[
        str,
        AfterValidator(_check),
        WithJsonSchema({"type": "string", "pattern": VFS_URI_PATTERN}),
    ]


def __getattr__(name: str) -> Any:
    # ``VfsUri`` (a field type: ``str`` checked by ``parse_vfs_uri``) needs pydantic, which
    # only the models load; made once, on first use
    if name == "VfsUri":
        value = globals()["VfsUri"] = _vfs_uri_type()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if _plain(key) else f"{path}[{key}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _plain(key: Any) -> bool:
    return isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) is not None


def foreign_vfs_uris(obj: Any, namespace: str) -> list[Cause]:
    """Causes for every ``vfs://`` string in ``obj``'s spec whose namespace is not ``namespace``.

    ``obj`` is a wire dict or a ``Resource``. Every string is looked at, not only the typed URI
    fields, so a URI hidden in ``params`` or ``env`` is caught too. Unparseable ``vfs://``
    strings are reported as well. The server raises ``Forbidden`` with these causes.
    """
    wire = obj.to_wire() if hasattr(obj, "to_wire") else obj
    spec = wire.get("spec") if isinstance(wire, dict) else None
    causes: list[Cause] = []
    for path, value in _strings(spec, "spec"):
        if not value.startswith(SCHEME):
            continue
        try:
            owner, _ = parse_vfs_uri(value)
        except ValueError as exc:
            causes.append(Cause(field=path, message=str(exc)))
            continue
        if owner != namespace:
            causes.append(
                Cause(
                    field=path,
                    message=f"must be under vfs://{namespace}/ (this tenant's namespace), "
                    f"got {value!r}",
                    reason="FieldValueForbidden",
                )
            )
    return causes
