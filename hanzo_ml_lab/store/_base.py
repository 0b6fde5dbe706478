"""The resource store contract, with Kubernetes API semantics.

Objects are plain JSON dicts in wire form (``apiVersion``, ``kind``, ``metadata``, ``spec``,
``status``); validating them against the pydantic models is the caller's job (the server does
it before it writes). The store owns ``metadata.uid``, ``resourceVersion``, ``generation``,
``creationTimestamp`` and ``deletionTimestamp``: values a caller sends for them are ignored,
except ``resourceVersion`` on writes, which is a precondition.

The rules every implementation keeps (SQLite today, the Kubernetes API next):

- ``resourceVersion`` is opaque to callers. Every write moves it. A write that carries a
  ``resourceVersion`` other than the stored one raises ``Conflict``; a write without one is
  unconditional. A write that would leave the object exactly as it is changes nothing: the
  object comes back as it was, and no version or event is issued (as in Kubernetes).
- ``generation`` starts at 1 and moves only when ``spec`` changes (or deletion begins).
- ``update`` writes metadata and spec and ignores status; ``update_status`` writes status and
  ignores everything else.
- ``delete`` of an object with finalizers only sets ``deletionTimestamp``; the object goes
  when an update empties its finalizers. While deletion is pending no finalizer may be added,
  and a second ``delete`` changes nothing.
- When an object goes, every object whose ``ownerReferences`` name its uid is deleted too
  (cascading, the ``Background`` propagation policy of Kubernetes).
- ``watch`` from a ``resourceVersion`` first replays every event after it, then follows live
  events; a version older than the retained history raises ``Gone``. Without a version (or
  with ``"0"``, "any point") it starts with ``ADDED`` for every existing object (a
  list-then-watch). A watch with a label selector sees an object whose labels stop matching as
  ``DELETED`` and one that starts matching as ``ADDED``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ListResult", "Store", "WatchEvent", "EventType"]

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object}


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str | None = None
    remaining_item_count: int | None = field(default=None)


class Store(ABC):
    """Abstract resource store. Every method names what it raises (``hanzo_ml_lab.api.errors``)."""

    @abstractmethod
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object and return it as stored.

        ``metadata.generateName`` without ``name`` gets a random suffix.
        Raises ``AlreadyExists`` if (kind, namespace, name) exists, ``Invalid`` if the name or
        namespace is missing.
        """

    @abstractmethod
    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """Raises ``NotFound``."""

    @abstractmethod
    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """Objects of ``kind`` ordered by (namespace, name); ``namespace=None`` means all.

        ``label_selector`` uses Kubernetes syntax (``a=b,c!=d,e in (x,y),f,!g``).
        With ``limit``, ``continue_token`` is set while items remain (pass it back unchanged
        for the next page) and ``remaining_item_count`` says how many.
        Raises ``BadRequest`` for a malformed selector or continue token.
        """

    @abstractmethod
    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace metadata (labels, annotations, finalizers, ownerReferences) and spec.

        Raises ``NotFound``, ``Conflict`` (stale ``resourceVersion``), ``Invalid`` (adding a
        finalizer while deletion is pending).
        """

    @abstractmethod
    def update_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace status only. Raises ``NotFound``, ``Conflict``."""

    @abstractmethod
    def patch(
        self,
        kind: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: Literal["status"] | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) to the object, or to its status.

        A ``metadata.resourceVersion`` inside the patch is a precondition, as in ``update``.
        Raises ``NotFound``, ``Conflict``.
        """

    @abstractmethod
    def delete(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        """Begin deletion; return the object as it now stands, or ``None`` if it is gone.

        With finalizers the object stays, marked with ``deletionTimestamp``.
        Raises ``NotFound``, ``Conflict`` (precondition on ``resource_version``).
        """

    @abstractmethod
    def watch(
        self,
        kind: str | None = None,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        stop: threading.Event | None = None,
        heartbeat_seconds: float = 15.0,
    ) -> Iterator[WatchEvent]:
        """Events for matching objects, forever or until ``stop`` is set.

        Yields a ``BOOKMARK`` (object carries only ``metadata.resourceVersion``) after
        ``heartbeat_seconds`` without events, so a consumer can notice its peer went away.
        Raises ``Gone`` (too old a version), ``BadRequest`` (bad selector or version), no later
        than the first ``next()``; ``Gone`` can also end the iteration later, when a consumer
        falls so far behind that the history it needs is compacted away.
        """

    @abstractmethod
    def current_resource_version(self) -> str:
        """The newest resourceVersion the store has issued."""

    def close(self) -> None:  # noqa: B027 — optional for stores with nothing to release
        """Release connections; the store is unusable afterwards."""
