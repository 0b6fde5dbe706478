"""``hanzo-ml`` as a user runs it: a real process against a real control plane."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hanzo_ml_lab.api import parse_object
from tests.conftest import ControlPlane

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"


def hanzo_ml(
    cp: ControlPlane, *args: str, stdin: str | None = None, org: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HANZO_ML_API": cp.url, "HANZO_ML_TOKEN": cp.owner_token}
    if org:
        env["HANZO_ML_ORG"] = org
    return subprocess.run(
        [sys.executable, "-m", "hanzo_ml_lab.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_every_hip_example_applies_and_comes_back(control_plane: ControlPlane) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 12
    for f in files:
        r = hanzo_ml(control_plane, "apply", "-f", str(f))
        assert r.returncode == 0, (f, r.stderr)
        assert "created" in r.stdout
        doc = yaml.safe_load(f.read_text())
        got = hanzo_ml(
            control_plane,
            "get",
            doc["kind"],
            doc["metadata"]["name"],
            "-o",
            "json",
            org=doc["metadata"]["namespace"].removeprefix("tenant-"),
        )
        assert got.returncode == 0, got.stderr
        back = json.loads(got.stdout)
        assert back["spec"] == parse_object(doc).to_wire()["spec"], f.name


def test_apply_twice_reports_unchanged_then_configured(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    doc = {
        "apiVersion": "hanzo.ai/v1",
        "kind": "Experiment",
        "metadata": {"name": "exp", "namespace": "tenant-acme"},
        "spec": {"description": "one"},
    }
    f = tmp_path / "exp.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert "created" in hanzo_ml(control_plane, "apply", "-f", str(f)).stdout
    assert "unchanged" in hanzo_ml(control_plane, "apply", "-f", str(f)).stdout
    doc["spec"]["description"] = "two"
    f.write_text(yaml.safe_dump(doc))
    assert "configured" in hanzo_ml(control_plane, "apply", "-f", str(f)).stdout


def test_apply_reads_several_documents_from_stdin(control_plane: ControlPlane) -> None:
    docs = "\n---\n".join(
        yaml.safe_dump({"kind": "Experiment", "metadata": {"name": f"e{i}"}, "spec": {}})
        for i in range(3)
    )
    r = hanzo_ml(control_plane, "apply", "-f", "-", stdin=docs, org="acme")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("created") == 3


@pytest.mark.parametrize("kind", ["Experiment", "experiment", "experiments", "mlx"])
def test_get_accepts_kind_plural_and_short_name(control_plane: ControlPlane, kind: str) -> None:
    control_plane.client("acme").create(
        {"kind": "Experiment", "metadata": {"name": "seen"}, "spec": {}}
    )
    r = hanzo_ml(control_plane, "get", kind, org="acme")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[:2]
    assert header.split()[0] == "NAME" and header.split()[-1] == "AGE"
    assert row.split()[0] == "seen"


def test_get_yaml_describe_and_delete(control_plane: ControlPlane) -> None:
    control_plane.client("acme").create(
        {
            "kind": "TrainingJob",
            "metadata": {"name": "j1"},
            "spec": {
                "framework": "pytorch",
                "command": ["python", "t.py"],
                "workers": {"replicas": 2},
            },
        }
    )
    out = hanzo_ml(control_plane, "get", "mlj", "j1", "-o", "yaml", org="acme")
    assert yaml.safe_load(out.stdout)["spec"]["workers"]["replicas"] == 2
    desc = hanzo_ml(control_plane, "describe", "mlj", "j1", org="acme")
    assert "Name:         j1" in desc.stdout and "Conditions:" in desc.stdout
    gone = hanzo_ml(control_plane, "delete", "mlj", "j1", org="acme")
    assert gone.returncode == 0 and "deleted" in gone.stdout
    missing = hanzo_ml(control_plane, "get", "mlj", "j1", org="acme")
    assert missing.returncode == 1
    assert "not found" in missing.stderr.lower()


def test_bad_input_prints_a_message_not_a_traceback(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: TrainingJob\nmetadata: {name: x}\nspec: {framework: pytorch,"
        " command: [python], workers: {replicas: 0}}\n"
    )
    r = hanzo_ml(control_plane, "apply", "-f", str(bad), org="acme")
    assert r.returncode == 1
    assert "spec.workers.replicas" in r.stderr
    assert "Traceback" not in r.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    r = hanzo_ml(control_plane, "apply", "-f", str(broken), org="acme")
    assert r.returncode == 2 and "not valid YAML" in r.stderr
    r = hanzo_ml(control_plane, "get", "widgets", org="acme")
    assert r.returncode == 1 and "TrainingJob" in r.stderr and "Traceback" not in r.stderr


def test_crds_command_writes_the_committed_files(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hanzo_ml_lab.cli", "crds", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    committed = Path(__file__).parents[2] / "controller" / "crds"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in committed.glob("*.yaml"))
    for name in written:
        assert (tmp_path / name).read_text() == (committed / name).read_text()
