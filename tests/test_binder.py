"""binder/ works: postBuild installs the package so that JupyterLab's server extension is enabled
and the package imports from anywhere; start exports where the control plane keeps its state.

mybinder.org builds with network access; this test must work without any. So postBuild runs in a
fresh virtual environment (``python -m venv``, its own pip) whose *dependencies* are borrowed from
this one: a ``.pth`` file puts this environment's site-packages on its path, and the two console
scripts postBuild's check calls (``jupyter``, ``jupyter-server``) are written for the new
interpreter the way pip writes them. pip is told ``PIP_NO_INDEX``, ``PIP_NO_DEPS`` and no build
isolation, so every requirement postBuild names is already satisfied. What postBuild itself does —
build this package from a copy of the repository, install it into the new environment (the wheel,
its data files, the ``jupyter_server_config.d`` entry), check the extension — runs for real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
# What a clone of the repository holds that building and installing the package reads.
BUILD_INPUTS = ("pyproject.toml", "hatch_build.py", "README.md", "hanzo_ml_lab", "magics",
                "controller", "jupyter-config", "labextension", "binder")
CONSOLE_SCRIPTS = {"jupyter": "jupyter_core.command", "jupyter-server": "jupyter_server.serverapp"}


@dataclass
class Env:
    """A virtual environment postBuild can run in, and a copy of the repository to run it from."""

    prefix: Path
    repo: Path
    config_dir: Path

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"

    def vars(self, **extra: str) -> dict[str, str]:
        """The environment of a Binder build: this venv first on PATH, nothing of ours leaking
        in (no VIRTUAL_ENV, PYTHONPATH or HANZO_ML_*), user config isolated, pip offline."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIP_", "HANZO_ML_", "JUPYTER_"))
               and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        env.update(
            PATH=os.pathsep.join([str(self.bin), "/usr/local/bin", "/usr/bin", "/bin"]),
            JUPYTER_CONFIG_DIR=str(self.config_dir),
            PYTHONNOUSERSITE="1",
            PIP_NO_INDEX="1",
            PIP_NO_DEPS="1",
            PIP_NO_BUILD_ISOLATION="0",  # pip's negative options read "0" as "on"
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        env.update(extra)
        return env

    def run(self, argv: list[str], *, cwd: Path | None = None,
            env: Mapping[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=cwd or self.prefix.parent, env=dict(env or self.vars()),
                              capture_output=True, text=True, timeout=timeout)

    def extensions(self) -> str:
        """``jupyter server extension list`` in this environment, colour codes removed."""
        r = self.run(["jupyter", "server", "extension", "list"])
        assert r.returncode == 0, r.stdout + r.stderr
        return re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)

    def enabled_here(self) -> list[str]:
        """Server extensions enabled by this environment's own config dir (not the user's
        or the system's)."""
        sections = re.split(r"^Config dir: ", self.extensions(), flags=re.M)
        mine = [s for s in sections if s.startswith(str(self.prefix / "etc" / "jupyter"))]
        return [m.group(1) for s in mine for m in re.finditer(r"^\s+(\S+) enabled$", s, re.M)]


def make_env(where: Path) -> Env:
    prefix = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix)}))
    assert site.is_dir(), site
    ours = Path(sysconfig.get_path("purelib"))
    # A plain path line: this environment's packages become importable, but its own .pth files
    # (the editable install of hanzo_ml_lab among them) are not processed.
    (site / "_deps_from_dev_env.pth").write_text(f"{ours}\n")
    for script, module in CONSOLE_SCRIPTS.items():
        path = prefix / "bin" / script
        path.write_text(f"#!{prefix / 'bin' / 'python'}\nimport sys\nfrom {module} import main\n"
                        "sys.exit(main())\n")
        path.chmod(0o755)
    repo = where / "repo"
    repo.mkdir()
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            shutil.copy2(source, repo / name)
    config_dir = where / "user-jupyter-config"
    config_dir.mkdir()
    return Env(prefix=prefix, repo=repo, config_dir=config_dir)


IMPORTS = """
import hanzo_ml_lab, hanzo_ml_lab.magics._widget, hanzo_ml_lab.controller.engine
import hanzo_ml_lab.jupyter, hanzo_ml_lab.cli
import importlib.util as u
assert hanzo_ml_lab.__file__.startswith({prefix!r}), hanzo_ml_lab.__file__
assert u.find_spec("magics") is None and u.find_spec("controller") is None
from hanzo_ml_lab.magics import load_ipython_extension
print("imported from", hanzo_ml_lab.__file__)
"""


def test_post_build_installs_the_package_and_enables_the_server_extension(
        tmp_path: Path) -> None:
    env = make_env(tmp_path)
    editable = Path(sysconfig.get_path("purelib")) / "_editable_impl_hanzo_ml_lab.pth"
    editable_before = editable.exists()
    # before: nothing of ours in the new environment
    assert "hanzo_ml_lab.jupyter" not in env.enabled_here()
    before = env.run([str(env.bin / "python"), "-c", "import hanzo_ml_lab"])
    assert before.returncode != 0 and "No module named 'hanzo_ml_lab'" in before.stderr

    build = env.run([str(env.repo / "binder" / "postBuild")], cwd=env.repo, timeout=180)
    assert build.returncode == 0, build.stdout + build.stderr

    assert "hanzo_ml_lab.jupyter" in env.enabled_here()
    assert (env.prefix / "etc" / "jupyter" / "jupyter_server_config.d" /
            "hanzo_ml_lab.json").is_file()
    imported = env.run([str(env.bin / "python"), "-c", IMPORTS.format(prefix=str(env.prefix))])
    assert imported.returncode == 0, imported.stderr
    assert "imported from" in imported.stdout
    # the development environment was left alone
    assert editable.exists() == editable_before


def test_post_build_fails_the_build_when_the_extension_is_not_enabled(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    (env.repo / "jupyter-config" / "jupyter_server_config.d" / "hanzo_ml_lab.json").unlink()
    build = env.run([str(env.repo / "binder" / "postBuild")], cwd=env.repo, timeout=180)
    assert build.returncode == 1, build.stdout + build.stderr
    assert "the hanzo_ml_lab.jupyter server extension is not enabled" in build.stderr


def _start(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HANZO_ML_")}
    return subprocess.run([str(BINDER / "start"), *argv], env={**base, **env},
                          capture_output=True, text=True, timeout=30)


def test_start_exports_the_control_plane_home_and_runs_the_command(tmp_path: Path) -> None:
    r = _start(["env"], HOME=str(tmp_path))
    assert r.returncode == 0, r.stderr
    seen = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert seen["HANZO_ML_HOME"] == f"{tmp_path}/.hanzo-ml"
    assert seen["HANZO_ML_ORG"] == "default"

    kept = _start(["sh", "-c", 'echo "$HANZO_ML_HOME $HANZO_ML_ORG"'], HOME=str(tmp_path),
                  HANZO_ML_HOME="/srv/ml", HANZO_ML_ORG="acme")
    assert kept.stdout.strip() == "/srv/ml acme"

    assert _start(["sh", "-c", "exit 3"], HOME=str(tmp_path)).returncode == 3


def test_runtime_is_a_python_the_package_supports() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert m, f"binder/runtime.txt: must read python-X.Y, got {runtime!r}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = re.fullmatch(r">=\s*(\d+)\.(\d+)", requires)
    assert low, requires
    assert (int(m[1]), int(m[2])) >= (int(low[1]), int(low[2]))
