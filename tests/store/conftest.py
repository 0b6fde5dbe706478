"""Fixtures of the store conformance suite.

``store`` is parametrised over every backend, so each test in the ``test_conformance_*`` modules
runs against each of them unchanged. A new backend (the Kubernetes API next) adds an entry to
``BACKENDS`` that returns a fresh, empty store, and ``ns``/``other_ns`` fixtures it can keep apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hanzo_ml_lab.store import SQLiteStore, Store

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "sqlite": lambda tmp_path: SQLiteStore(tmp_path / "store.db"),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = BACKENDS[request.param](tmp_path)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def ns() -> str:
    return "team-a"


@pytest.fixture
def other_ns() -> str:
    return "team-b"
