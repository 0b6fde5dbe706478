"""A ``LocalRuntime`` on a fresh root; whatever a test leaves running is killed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hanzo_ml_lab.runtime import JobKey, LocalRuntime


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "runtime"


@pytest.fixture
def runtime(root: Path) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(root)
    try:
        yield rt
    finally:
        for key in LocalRuntime(root).list_launched():
            rt.cleanup(key)


@pytest.fixture
def new_key() -> Callable[[str], JobKey]:
    def make(name: str = "job") -> JobKey:
        return JobKey("tenant-acme", name, uuid.uuid4().hex[:12])

    return make
