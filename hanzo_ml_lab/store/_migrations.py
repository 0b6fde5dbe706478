"""Schema versions of the SQLite store, applied in order and recorded in ``PRAGMA user_version``.

A schema change is a new ``Migration`` at the end of ``MIGRATIONS``, never an edit of an old
one: databases in users' ``$HANZO_ML_HOME`` were built by the old ones. Each migration runs in
its own transaction together with the bump of ``user_version``, so a crash leaves the database
at the previous version, and two processes opening the same file migrate it once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration", "SchemaTooNew", "latest_version", "migrate"]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "objects, owner references, event history, counters",
        (
            # One row per live object. ``labels`` duplicates metadata.labels so a list can
            # filter without parsing every body; ``rv`` is the object's resourceVersion.
            """
            CREATE TABLE objects (
                kind      TEXT    NOT NULL,
                namespace TEXT    NOT NULL,
                name      TEXT    NOT NULL,
                uid       TEXT    NOT NULL UNIQUE,
                rv        INTEGER NOT NULL,
                labels    TEXT    NOT NULL DEFAULT '{}',
                body      TEXT    NOT NULL,
                PRIMARY KEY (kind, namespace, name)
            )
            """,
            # ownerReferences, indexed by the owner's uid, for cascading deletion.
            """
            CREATE TABLE owner_refs (
                owner_uid TEXT NOT NULL,
                kind      TEXT NOT NULL,
                namespace TEXT NOT NULL,
                name      TEXT NOT NULL,
                PRIMARY KEY (owner_uid, kind, namespace, name)
            )
            """,
            "CREATE INDEX owner_refs_by_dependent ON owner_refs (kind, namespace, name)",
            # Every resourceVersion issued is one event; the oldest are trimmed to the store's
            # history_limit. ``prev_labels`` (MODIFIED only) lets a selector-filtered watch
            # tell an object leaving its selection from one that was never in it.
            """
            CREATE TABLE events (
                rv          INTEGER PRIMARY KEY,
                type        TEXT NOT NULL,
                kind        TEXT NOT NULL,
                namespace   TEXT NOT NULL,
                name        TEXT NOT NULL,
                prev_labels TEXT,
                body        TEXT NOT NULL
            )
            """,
            "CREATE INDEX events_by_kind ON events (kind, rv)",
            # resource_version: the last issued; compacted: the newest rv trimmed from events.
            """
            CREATE TABLE counters (
                name  TEXT PRIMARY KEY,
                value INTEGER NOT NULL
            )
            """,
            "INSERT INTO counters (name, value) VALUES ('resource_version', 0), ('compacted', 0)",
        ),
    ),
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer hanzo-ml-lab than the one opening it."""


def latest_version() -> int:
    return MIGRATIONS[-1].version


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str = "the database") -> int:
    """Bring ``conn`` (autocommit mode) to the latest schema; return the version it ends at.

    Raises ``SchemaTooNew`` rather than guess at a schema it does not know.
    """
    latest = latest_version()
    current = _user_version(conn)
    if current > latest:
        raise SchemaTooNew(
            f"{path} has store schema version {current}, newer than the {latest} this "
            "hanzo-ml-lab knows; upgrade hanzo-ml-lab or point HANZO_ML_HOME elsewhere"
        )
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            if _user_version(conn) >= migration.version:
                conn.execute("COMMIT")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return _user_version(conn)
