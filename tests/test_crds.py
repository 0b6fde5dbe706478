"""The CRDs in controller/crds/ are generated from the models, structural, and agree with them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanzo_ml_lab.api import KINDS, parse_object
from hanzo_ml_lab.api.crds import crd_filename, generate_crds, write_crds

ROOT = Path(__file__).resolve().parents[1]
CRD_DIR = ROOT / "controller" / "crds"
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.yaml"))
GENERATED = generate_crds()
CRDS = {name: yaml.safe_load(text) for name, text in GENERATED.items()}
HIP_SHORT_NAMES = {"trainingjobs": "mlj", "experiments": "mlx", "sweeps": "mls",
                   "pipelines": "mlp", "notebooks": "mln", "models": "mlm", "inferences": "mli"}
# OpenAPI v3.0 as Kubernetes accepts it in a structural schema.
ALLOWED_KEYS = {
    "description", "type", "format", "enum", "default", "nullable", "minimum",
    "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "minItems", "maxItems", "required", "properties", "additionalProperties", "items",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
}


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, node)]
    for key, child in (node.get("properties") or {}).items():
        nodes += walk(child, f"{path}.{key}")
    if isinstance(node.get("additionalProperties"), dict):
        nodes += walk(node["additionalProperties"], f"{path}[*]")
    if isinstance(node.get("items"), dict):
        nodes += walk(node["items"], f"{path}[]")
    return nodes


def test_committed_crds_match_the_models() -> None:
    committed = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    stale = sorted(n for n in set(committed) | set(GENERATED)
                   if committed.get(n) != GENERATED.get(n))
    assert not stale, (
        f"controller/crds/ is out of date with hanzo_ml_lab/api ({', '.join(stale)}); "
        "run `make crds` (python -m hanzo_ml_lab.api.crds --out controller/crds) and commit"
    )


def test_one_crd_per_kind_named_after_its_plural() -> None:
    assert set(GENERATED) == {crd_filename(cls) for cls in KINDS.values()}
    for cls in KINDS.values():
        crd = CRDS[crd_filename(cls)]
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["metadata"]["name"] == f"{cls.plural}.hanzo.ai"
        spec = crd["spec"]
        assert spec["group"] == "hanzo.ai" and spec["scope"] == "Namespaced"
        assert spec["names"]["kind"] == cls.__name__
        assert spec["names"]["singular"] == cls.__name__.lower()
        assert spec["names"]["shortNames"] == list(cls.short_names)
        assert spec["names"]["categories"] == ["hanzo-ml"]
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        assert version["subresources"] == {"status": {}}


def test_hip_kinds_carry_their_short_names() -> None:
    for plural, short in HIP_SHORT_NAMES.items():
        assert short in CRDS[f"{plural}.hanzo.ai.yaml"]["spec"]["names"]["shortNames"]


def test_short_names_are_unique_across_kinds() -> None:
    shorts = [s for crd in CRDS.values() for s in crd["spec"]["names"]["shortNames"]]
    assert len(shorts) == len(set(shorts))


@pytest.mark.parametrize("name", sorted(CRDS))
def test_schema_is_structural(name: str) -> None:
    root = schema_of(CRDS[name])
    assert root["type"] == "object"
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["properties"]["status"]["type"] == "object"
    for path, node in walk(root):
        typed = ("type" in node or node.get("x-kubernetes-preserve-unknown-fields")
                 or node.get("x-kubernetes-int-or-string"))
        assert typed, f"{name}: {path or '<root>'} has no type"
        leftovers = set(node) - ALLOWED_KEYS
        assert not leftovers, f"{name}: {path} keeps {sorted(leftovers)}"
        assert not ("properties" in node and "additionalProperties" in node), path
        if "additionalProperties" in node:
            assert isinstance(node["additionalProperties"], dict), path
        if node.get("type") == "array":
            assert "items" in node, path
    assert "$ref" not in GENERATED[name] and "anyOf" not in GENERATED[name]


@pytest.mark.parametrize("name", sorted(CRDS))
def test_printer_columns_point_at_schema_fields(name: str) -> None:
    crd = CRDS[name]
    root = schema_of(crd)
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns[-1] == {"name": "Age", "type": "date",
                           "jsonPath": ".metadata.creationTimestamp"}
    for column in columns[:-1]:
        node = root
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        kind = node.get("type", "string")
        assert column["type"] == kind, column


def test_trainingjob_columns_as_the_hip_reads() -> None:
    columns = CRDS["trainingjobs.hanzo.ai.yaml"]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns] == [
        ("Framework", ".spec.framework"),
        ("Phase", ".status.phase"),
        ("Workers", ".status.workersReady"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def check(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """A small OpenAPI validator: enough to see the CRD accepts what the models accept."""
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null not allowed"]
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{path}: not int-or-string"]
    kind = schema.get("type")
    errors: list[str] = []
    types = {"string": str, "integer": int, "number": int | float, "boolean": bool,
             "object": dict, "array": list}
    if kind is not None:
        if not isinstance(value, types[kind]) or (kind in ("integer", "number")
                                                   and isinstance(value, bool)):
            return [f"{path}: {value!r} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in enum")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: below minimum")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: above maximum")
    if kind == "object":
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: required")
        props = schema.get("properties")
        for key, item in value.items():
            if props is not None and key in props:
                errors += check(item, props[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += check(item, schema["additionalProperties"], f"{path}[{key}]")
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                errors.append(f"{path}.{key}: would be pruned (not in the schema)")
    if kind == "array":
        for index, item in enumerate(value):
            errors += check(item, schema["items"], f"{path}[{index}]")
    return errors


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_crd_schema_accepts_what_the_models_accept(path: Path) -> None:
    obj = parse_object(yaml.safe_load(path.read_text()))
    wire = obj.to_wire()
    crd = CRDS[crd_filename(type(obj))]
    errors = check(wire["spec"], schema_of(crd)["properties"]["spec"], "spec")
    assert not errors, errors


def test_write_crds_writes_every_file_and_drops_stale_ones(tmp_path: Path) -> None:
    stale = tmp_path / "tfjobs.hanzo.ai.yaml"
    stale.write_text("old")
    keep = tmp_path / "README.md"
    keep.write_text("mine")
    written = write_crds(tmp_path)
    assert {p.name for p in written} == set(GENERATED)
    assert not stale.exists() and keep.exists()
    assert all((tmp_path / n).read_text() == t for n, t in GENERATED.items())


def test_generation_is_deterministic() -> None:
    assert generate_crds() == GENERATED
