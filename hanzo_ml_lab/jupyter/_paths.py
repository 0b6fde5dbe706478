"""Which control-plane path a proxied request may reach, decided from the raw request path.

The proxy forwards ``{base_url}hanzo-ml/api/<rest>`` to ``<configured upstream>/<rest>``. The
host, port and scheme come only from configuration; this module makes sure ``<rest>`` cannot
leave ``/v1/ml/`` either. It works on the *raw* (still percent-encoded) path, because tornado
decodes path arguments and ``%2e%2e`` or ``%2F`` would otherwise turn into ``..`` and ``/``
after the checks. Every segment is decoded once, checked against a small allowlist (resource
names are DNS-1123, collections and actions are words, ``name:predict`` has a colon), and
quoted again, so what reaches the upstream is exactly what was checked.

No I/O here: the rules are unit-tested directly.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode

from hanzo_ml_lab.api.errors import BadRequest, NotFound

__all__ = ["API_ROOT", "is_stream_query", "normalize_query", "upstream_path"]

API_ROOT = ("v1", "ml")

_SEGMENT = re.compile(r"[A-Za-z0-9._~:-]+\Z")
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})")
_FORBIDDEN_ESCAPES = {"/", "\\", ".", "%"}
_HINT = "only /v1/ml/* on the configured control plane is reachable through this proxy"


def _refuse(rule: str, raw: str) -> BadRequest:
    return BadRequest(f"path: {rule} (got {raw!r}); {_HINT}")


def _decode_segment(segment: str, raw: str) -> str:
    if "%" in _ESCAPE.sub("", segment):
        raise _refuse("malformed percent-encoding", raw)

    def decode(m: re.Match[str]) -> str:
        char = chr(int(m.group("hex"), 16))
        if char in _FORBIDDEN_ESCAPES or not char.isprintable():
            raise _refuse(f"encoded {char!r} ({m.group(0)}) is not allowed", raw)
        return char

    return _ESCAPE.sub(decode, segment)


def upstream_path(raw: str) -> str:
    """The upstream path for ``raw``, the part of the request path after ``hanzo-ml/api/``.

    Raises ``BadRequest`` (400) for anything that tries to change the path's meaning:
    ``.``/``..`` segments, empty segments (``//``), backslashes, ``@``, scheme-like
    segments, encoded ``/ \\ . %``. Raises ``NotFound`` (404) for well-formed paths outside
    ``/v1/ml/``.
    """
    if raw == "":
        raise NotFound(f"path: '' is outside /v1/ml/; {_HINT}")
    if "\\" in raw:
        raise _refuse("backslashes are not allowed", raw)
    segments = raw.split("/")
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()  # one trailing slash is harmless; dropped
    decoded: list[str] = []
    for segment in segments:
        if segment == "":
            raise _refuse("empty segments ('//') are not allowed", raw)
        value = _decode_segment(segment, raw)
        if value in (".", ".."):
            raise _refuse("'.' and '..' segments are not allowed", raw)
        if "@" in value:
            raise _refuse("'@' is not allowed", raw)
        if value.endswith(":"):
            raise _refuse(f"segment {value!r} looks like a URL scheme", raw)
        if not _SEGMENT.match(value):
            raise _refuse(
                f"segment {value!r} may contain only letters, digits and '.', '_', '~', ':', '-'",
                raw,
            )
        decoded.append(value)
    if tuple(decoded[:2]) != API_ROOT or len(decoded) < 3:
        raise NotFound(f"path: {raw!r} is outside /v1/ml/; {_HINT}")
    return "/" + "/".join(quote(s, safe=":~") for s in decoded)


def normalize_query(query: str) -> str:
    """The query string re-encoded from its parsed pairs (so it cannot smuggle a fragment)."""
    return urlencode(parse_qsl(query, keep_blank_values=True))


def is_stream_query(query: str) -> bool:
    """``?watch=true`` and ``?follow=true`` responses never end on their own."""
    flags = {k: v.lower() for k, v in parse_qsl(query, keep_blank_values=True)}
    return any(flags.get(k) in ("true", "1") for k in ("watch", "follow"))
