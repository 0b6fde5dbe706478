"""Reading replica log files: resumable cursors, tails, and where a chunk may end.

A cursor is the byte offset reached in each replica's log, so a reconnecting reader resumes
exactly where it stopped, for one replica or for all of them. It is handed out as an opaque,
URL-safe string (it travels in ``?since=``) and checked on the way back in.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "CHUNK_BYTES",
    "decode_cursor",
    "encode_cursor",
    "last_lines",
    "read_from",
    "tail_offset",
    "utf8_safe_end",
]

CHUNK_BYTES = 64 * 1024
_CURSOR_PREFIX = "c1."


def encode_cursor(offsets: dict[str, int]) -> str:
    raw = json.dumps(offsets, separators=(",", ":"), sort_keys=True).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, int]:
    """Raise ``ValueError`` (naming ``since``) for anything ``encode_cursor`` did not make."""
    bad = ValueError(f"since: not a log cursor issued by this runtime: {cursor[:80]!r}")
    if not cursor.startswith(_CURSOR_PREFIX):
        raise bad
    body = cursor[len(_CURSOR_PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in data.items()
    ):
        raise bad
    return data


def read_from(path: Path, offset: int, limit: int = CHUNK_BYTES) -> tuple[bytes, int]:
    """Up to ``limit`` bytes from ``offset``, and the file's size. A file shorter than
    ``offset`` was replaced: read it from the start (the size tells the caller)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= offset:
                return b"", size
            f.seek(offset)
            return f.read(limit), size
    except FileNotFoundError:
        return b"", 0


def utf8_safe_end(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that does not end inside a UTF-8 sequence."""
    n = len(data)
    # Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
    i = n - 1
    while i >= 0 and n - i <= 4 and (data[i] & 0xC0) == 0x80:
        i -= 1
    if i < 0:
        return n
    lead = data[i]
    if lead < 0x80:
        need = 1
    elif lead >= 0xF0:
        need = 4
    elif lead >= 0xE0:
        need = 3
    elif lead >= 0xC0:
        need = 2
    else:
        return n  # not UTF-8 anyway; do not hold bytes back forever
    return n if n - i >= need else i


def tail_offset(path: Path, lines: int) -> int:
    """Byte offset where the last ``lines`` lines of ``path`` begin (a trailing unfinished
    line counts as one)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        end = os.fstat(f.fileno()).st_size
        if lines <= 0:
            return end
        pos = end
        # A final newline ends the last line; it does not start another one.
        wanted = lines + 1 if end and _byte_at(f, end - 1) == b"\n" else lines
        seen = 0
        while pos > 0:
            step = min(8192, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            i = len(block)
            while True:
                i = block.rfind(b"\n", 0, i)
                if i < 0:
                    break
                seen += 1
                if seen == wanted:
                    return pos + i + 1
        return 0


def _byte_at(f: BinaryIO, pos: int) -> bytes:
    f.seek(pos)
    return f.read(1)


def last_lines(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of ``path`` as text, without line ends.

    A line redrawn with ``\\r`` (a progress bar) is given as a terminal would show it: its last
    non-empty redraw.
    """
    if lines <= 0:
        return []
    start = tail_offset(path, lines)
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", "replace")
    out = [_as_shown(line) for line in text.split("\n")]
    if out and out[-1] == "":
        out.pop()
    return out[-lines:]


def _as_shown(line: str) -> str:
    if "\r" not in line:
        return line
    redraws = [part for part in line.split("\r") if part]
    return redraws[-1] if redraws else ""
