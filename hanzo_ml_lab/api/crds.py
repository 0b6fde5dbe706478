"""CustomResourceDefinitions derived from the API models (``controller/crds/``).

The pydantic models are the source of truth; this module turns each Kind's JSON schema into the
*structural* OpenAPI v3 schema Kubernetes requires (apiextensions.k8s.io/v1): every ``$ref``
inlined, ``anyOf [X, null]`` turned into ``nullable: true``, every node typed (or marked
``x-kubernetes-preserve-unknown-fields`` / ``x-kubernetes-int-or-string``), and the JSON Schema
keywords OpenAPI v3.0 lacks rewritten or dropped. A test regenerates the files and compares them
with the committed ones, so the manifests can never drift from the models.

    python -m hanzo_ml_lab.api.crds --out controller/crds      # what `make crds` runs
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ._base import GROUP, VERSION, Resource
from ._registry import KINDS, kind_info

__all__ = ["CATEGORY", "crd_filename", "generate_crd", "generate_crds", "main", "write_crds"]

CATEGORY = "hanzo-ml"
HEADER = (
    "# Generated from hanzo_ml_lab/api by hanzo_ml_lab.api.crds; do not edit.\n"
    "# Regenerate with `make crds`.\n"
)

# Keywords OpenAPI v3.0 (as Kubernetes reads it) shares with JSON Schema, copied as they are.
_KEPT = (
    "description",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "multipleOf",
    "pattern",
)
_FORMATS = {"date-time", "int32", "int64", "double", "float"}
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_INT_OR_STRING = "x-kubernetes-int-or-string"


def crd_filename(cls: type[Resource[Any, Any]]) -> str:
    return f"{cls.plural}.{GROUP}.yaml"


class _Converter:
    """JSON Schema (pydantic, by alias) -> structural OpenAPI v3 schema."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs

    def convert(self, node: dict[str, Any], stack: tuple[str, ...] = ()) -> dict[str, Any]:
        node = dict(node)
        ref = node.pop("$ref", None)
        if ref is None and len(node.get("allOf", ())) == 1:
            ref = node.pop("allOf")[0].get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[-1]
            if name in stack:  # recursive type: Kubernetes cannot express it structurally
                return self._finish({"type": "object", _PRESERVE: True}, node)
            target = self.convert(self.defs[name], (*stack, name))
            return self._finish(target, node)

        if node.get(_INT_OR_STRING):
            return self._finish({_INT_OR_STRING: True}, node, skip_kept=True)

        union = node.pop("anyOf", None) or node.pop("oneOf", None)
        if union is not None:
            node.pop("discriminator", None)
            members = [m for m in union if m.get("type") != "null"]
            nullable = len(members) < len(union)
            if len(members) == 1:
                out = self.convert(members[0], stack)
            elif all(self.convert(m, stack).get("type") == "object" for m in members):
                out = {"type": "object", _PRESERVE: True}
            else:
                out = {_PRESERVE: True}
            if nullable:
                out = {**out, "nullable": True}
            return self._finish(out, node)

        return self._finish(self._plain(node, stack), node)

    def _plain(self, node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kind = node.get("type")
        if "const" in node:
            out["enum"] = [node["const"]]
            kind = kind or _json_type(node["const"])
        if kind is None and "enum" in node:
            kind = _json_type(node["enum"][0])
        if kind is None and "properties" in node:
            kind = "object"
        if kind is None:
            return {_PRESERVE: True}
        out["type"] = kind
        if kind == "object":
            props = node.get("properties") or {}
            if props:
                out["properties"] = {
                    key: self.convert(props[key], stack) for key in sorted(props)
                }
                if node.get("required"):
                    out["required"] = sorted(node["required"])
            extra = node.get("additionalProperties")
            patterned = node.get("patternProperties") or {}
            if extra is None and len(patterned) == 1:
                # dict[Key, V] with a constrained key: Kubernetes has no key patterns.
                extra = next(iter(patterned.values()))
            if isinstance(extra, dict) and not props:
                converted = self.convert(extra, stack)
                if converted == {_PRESERVE: True}:
                    out[_PRESERVE] = True
                else:
                    out["additionalProperties"] = converted
            elif extra is True or (not props and extra is None):
                out[_PRESERVE] = True
        elif kind == "array":
            items = node.get("items")
            out["items"] = self.convert(items, stack) if items else {_PRESERVE: True}
        # Constraints pydantic could not turn into JSON Schema (after a validator) stay raw.
        if "ge" in node:
            out["minimum"] = node["ge"]
        if "le" in node:
            out["maximum"] = node["le"]
        if "gt" in node:
            out["minimum"], out["exclusiveMinimum"] = node["gt"], True
        if "lt" in node:
            out["maximum"], out["exclusiveMaximum"] = node["lt"], True
        if "exclusiveMinimum" in node and not isinstance(node["exclusiveMinimum"], bool):
            out["minimum"] = node["exclusiveMinimum"]
            out["exclusiveMinimum"] = True
        if "exclusiveMaximum" in node and not isinstance(node["exclusiveMaximum"], bool):
            out["maximum"] = node["exclusiveMaximum"]
            out["exclusiveMaximum"] = True
        if node.get("format") in _FORMATS:
            out["format"] = node["format"]
        return out

    @staticmethod
    def _finish(
        out: dict[str, Any], node: dict[str, Any], *, skip_kept: bool = False
    ) -> dict[str, Any]:
        out = dict(out)
        for key in _KEPT:
            if key in node and not (skip_kept and key != "description"):
                out[key] = node[key]
        if "description" in out:
            out["description"] = _summary(out["description"])
        default = node.get("default")
        if default is not None and not out.get(_INT_OR_STRING):
            out["default"] = default
        return {key: out[key] for key in _order(out)}


def _summary(text: str) -> str:
    """The first paragraph of a docstring on one line, for `kubectl explain`."""
    paragraph = text.strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split()).replace("``", "`")


def _json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


_KEY_ORDER = (
    "description", "type", "format", "enum", "default", "nullable",
    "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "required", "properties", "additionalProperties", "items",
    _INT_OR_STRING, _PRESERVE,
)


def _order(node: dict[str, Any]) -> list[str]:
    known = [k for k in _KEY_ORDER if k in node]
    return known + sorted(k for k in node if k not in _KEY_ORDER)


def openapi_schema(cls: type[Resource[Any, Any]]) -> dict[str, Any]:
    """The structural ``openAPIV3Schema`` of one Kind."""
    schema = cls.model_json_schema(by_alias=True)
    converter = _Converter(schema.get("$defs", {}))
    props = schema["properties"]
    spec = converter.convert(props["spec"])
    status = converter.convert(props["status"])
    status.pop("nullable", None)
    status.pop("default", None)
    root: dict[str, Any] = {
        "description": _summary(cls.__doc__ or cls.__name__),
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return root


def generate_crd(cls: type[Resource[Any, Any]]) -> dict[str, Any]:
    info = kind_info(cls)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "hanzo-ml"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": name, "type": kind, "jsonPath": path}
                        for name, path, kind in info.printer_columns
                    ],
                    "schema": {"openAPIV3Schema": openapi_schema(cls)},
                }
            ],
        },
    }


def generate_crds() -> dict[str, str]:
    """``{"trainingjobs.hanzo.ai.yaml": "<yaml>", ...}`` for every Kind, deterministic."""
    return {
        crd_filename(cls): HEADER
        + yaml.safe_dump(generate_crd(cls), sort_keys=False, default_flow_style=False, width=100)
        for cls in KINDS.values()
    }


def write_crds(out_dir: str | Path) -> list[Path]:
    """Write every CRD into ``out_dir`` and remove generated files of Kinds that are gone."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = generate_crds()
    written: list[Path] = []
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    for stale in out.glob(f"*.{GROUP}.yaml"):
        if stale.name not in files:
            stale.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hanzo_ml_lab.api.crds", description="Write the hanzo.ai/v1 CRDs."
    )
    parser.add_argument("--out", default="controller/crds", help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the files differ instead of writing"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.check:
        stale = [
            name for name, text in generate_crds().items()
            if not (out / name).exists() or (out / name).read_text() != text
        ]
        for name in stale:
            print(f"out of date: {out / name}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_crds(out):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
