"""Names for jobs the user did not name, and where the launching notebook lives.

A generated name must be a DNS-1123 label (it becomes a resource name and, on a cluster, pod
names), readable enough to say aloud ("brave-otter-3f2a"), and unlikely to collide: the
four hex digits give 65 536 names per word pair, and a create that still collides is retried
with a fresh name by the caller.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

__all__ = ["cell_digest", "generate_name", "notebook_path"]

_ADJECTIVES = (
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "eager",
    "fast", "fierce", "gentle", "golden", "happy", "keen", "lively", "lucid", "mellow", "nimble",
    "noble", "plucky", "proud", "quick", "quiet", "rapid", "sharp", "shiny", "silent", "sleek",
    "smooth", "snowy", "solar", "steady", "sunny", "swift", "tidy", "vivid", "witty", "zesty",
)
_NOUNS = (
    "badger", "beacon", "bison", "comet", "condor", "crane", "dolphin", "falcon", "ferret",
    "finch", "fox", "gecko", "heron", "ibis", "jaguar", "kestrel", "koala", "lemur", "lynx",
    "marten", "meteor", "nebula", "newt", "orca", "osprey", "otter", "panda", "pulsar", "quasar",
    "raven", "robin", "salmon", "sparrow", "tapir", "tiger", "toucan", "walrus", "wombat", "yak",
    "zebra",
)
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_MAX = 63


def generate_name(prefix: str | None = None) -> str:
    """``<adjective>-<noun>-<4 hex>``, or ``<prefix>-<4 hex>`` (e.g. the experiment's name)."""
    suffix = secrets.token_hex(2)
    if prefix:
        base = _NOT_DNS.sub("-", prefix.lower()).strip("-")[: _MAX - len(suffix) - 1].rstrip("-")
        if base:
            return f"{base}-{suffix}"
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{suffix}"


def notebook_path(user_ns: Mapping[str, Any] | None = None) -> str:
    """The notebook the kernel runs for, as JupyterLab tells it, or ``""`` when unknown.

    ipykernel puts the session's path in ``__session__`` (from ``JPY_SESSION_NAME``, which
    jupyter-server sets for kernels it starts); plain IPython has neither.
    """
    if user_ns is not None:
        session = user_ns.get("__session__")
        if isinstance(session, str) and session:
            return session
    return os.environ.get("JPY_SESSION_NAME", "")


def cell_digest(source: str) -> str:
    """SHA-256 of a cell's source, hex: identifies the cell a job was launched from."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()
