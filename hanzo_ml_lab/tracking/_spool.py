"""Batches on disk: the SDK's write-ahead spool.

Every batch is written here *before* it is sent and deleted once the server acknowledged it,
so a batch that left the in-memory buffer survives the process dying mid-send, the control
plane being down, or the process exiting before it came back. Whoever reads the directory
later (a new SDK process, or the controller when the job ends) sends the files again; the
server ingests each ``batchId`` once, so a file sent twice counts once.

One file per batch, ``<batchId>.json``, written atomically (a hidden temporary file, then a
rename), holding ``{"version": 1, "namespace", "run", "batch": <the wire batch>}``. Batch ids
start with a millisecond timestamp, so sorting the names replays batches in the order they
were made. Files are not fsynced: they survive the process, not a power cut.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["Spool", "SpooledBatch", "new_batch_id"]

FORMAT_VERSION = 1

_counter_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_batch_id() -> str:
    """A UUID (version 7 layout: 48-bit millisecond time, then a counter and random bits),
    so batch ids sort in the order they were made."""
    global _last_ms, _counter
    with _counter_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
        else:
            _counter = 0
        _last_ms = ms
        seq = _counter & 0xFFF
    rand = int.from_bytes(os.urandom(8)) >> 2  # 62 random bits
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    h = f"{value:032x}"  # str(uuid.UUID(int=value)), without importing uuid (nor secrets)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class SpooledBatch(NamedTuple):
    """A batch found on disk: where it goes and its wire body."""

    path: Path
    namespace: str
    run: str
    batch: dict[str, Any]


class Spool:
    """One spool directory. Methods never raise ``OSError`` for a missing file: another process
    replaying the same directory may have taken it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, batch_id: str) -> Path:
        return self.directory / f"{batch_id}.json"

    def write(self, namespace: str, run: str, batch_id: str, body: bytes) -> Path:
        """Write the encoded wire batch ``body``; raises ``OSError`` if the disk refuses."""
        self.directory.mkdir(parents=True, exist_ok=True)
        doc = b"".join((b'{"version":1,"namespace":', json.dumps(namespace).encode(),
                        b',"run":', json.dumps(run).encode(), b',"batch":', body, b"}"))
        final = self.path_for(batch_id)
        tmp = self.directory / f".{batch_id}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(doc)
        os.replace(tmp, final)
        return final

    def remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def reject(self, path: Path) -> None:
        """Keep a batch the server refused for good (``*.rejected``), out of every replay."""
        try:
            path.rename(path.with_suffix(".rejected"))
        except OSError:
            pass

    def leftovers(self, namespace: str) -> list[SpooledBatch]:
        """Batches of ``namespace`` waiting in the directory, oldest first."""
        out: list[SpooledBatch] = []
        try:
            files = sorted(self.directory.glob("*.json"))
        except OSError:
            return out
        for file in files:
            item = self.load(file)
            if item is not None and item.namespace == namespace:
                out.append(item)
        return out

    def load(self, path: Path) -> SpooledBatch | None:
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.reject(path)
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("batch"), dict) or \
                not isinstance(doc.get("run"), str) or not isinstance(doc.get("namespace"), str):
            self.reject(path)
            return None
        return SpooledBatch(path, doc["namespace"], doc["run"], doc["batch"])
