"""The layering and packaging promises: imports point one way; users import only hanzo_ml_lab."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def test_import_contracts_hold() -> None:
    lint = BIN / "lint-imports"
    r = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "broken" in r.stdout and " 0 broken" in r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return next(out.glob("hanzo_ml_lab-*.whl"))


def test_wheel_maps_magics_and_controller_under_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "hanzo_ml_lab/magics/__init__.py" in names
    assert "hanzo_ml_lab/controller/engine.py" in names
    assert any(n.startswith("hanzo_ml_lab/controller/crds/") for n in names)
    assert not any(n.startswith(("magics/", "controller/")) for n in names)
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/hanzo_ml_lab.json") for n in names)


def test_installed_wheel_imports_only_under_hanzo_ml_lab(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(target)
    shutil.rmtree(
        target / next(p.name for p in target.iterdir() if p.name.endswith(".data")),
        ignore_errors=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import hanzo_ml_lab, hanzo_ml_lab.magics, hanzo_ml_lab.controller.engine\n"
        f"assert hanzo_ml_lab.__file__.startswith({str(target)!r}), hanzo_ml_lab.__file__\n"
        "import importlib.util as u\n"
        "assert u.find_spec('magics') is None and u.find_spec('controller') is None\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def test_editable_install_reaches_the_source_tree_without_top_level_names(tmp_path: Path) -> None:
    code = (
        "import hanzo_ml_lab.magics, hanzo_ml_lab.controller.engine as e\n"
        "import importlib.util as u\n"
        f"assert e.__file__.startswith({str(ROOT)!r}), e.__file__\n"
        "assert u.find_spec('magics') is None and u.find_spec('controller') is None\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert r.returncode == 0, r.stderr
