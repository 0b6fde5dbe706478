"""From pydantic's ``ValidationError`` to causes that name the wire field and the rule.

Two things pydantic does not do for us:

- **Wire paths.** pydantic's ``loc`` is a tuple of whatever keys the input used plus union tags;
  a user wants ``spec.steps[2].template.workers.replicas``. ``wire_path`` walks the model's
  types along the ``loc`` so it can drop union tags and print list indexes and map keys the way
  Kubernetes does.
- **Cross-field rules with a field.** A model validator that sees ``maxReplicas < minReplicas``
  can only raise at the model. It raises ``RuleViolation`` instead, which carries paths relative
  to that model; pydantic keeps the exception in the error's context, and ``causes_from`` joins
  the paths.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from .errors import Cause

__all__ = ["RuleViolation", "causes_from", "human_message", "wire_path"]


class RuleViolation(ValueError):
    """A cross-field rule broken inside a model; ``problems`` are (relative path, message).

    The relative path is in wire form below the model that raises (``"command"``,
    ``"steps[2].dependsOn"``); an empty path means the model itself.
    """

    def __init__(self, problems: list[tuple[str, str]] | tuple[str, str]) -> None:
        if isinstance(problems, tuple):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in self.problems))


def _join(base: str, rel: str) -> str:
    if not rel:
        return base
    if not base:
        return rel
    return base + rel if rel.startswith("[") else f"{base}.{rel}"


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` until a concrete type or a real union remains."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _union_member(tp: Any, tag: str) -> Any | None:
    """The member of a union that pydantic names ``tag`` in a ``loc``."""
    for member in get_args(tp):
        if member is type(None):
            continue
        if get_origin(member) is Annotated:
            args = get_args(member)
            if any(isinstance(m, Tag) and m.tag == tag for m in args[1:]):
                return args[0]
            member = args[0]
        name = getattr(member, "__name__", None)
        if name == tag:
            return member
    return None


def wire_path(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """``("spec", "steps", 2, "trainingjob", "workers", "replicas")`` ->
    ``spec.steps[2].workers.replicas`` (field aliases, indexes in brackets, map keys in
    brackets, union tags dropped)."""
    path = ""
    tp: Any = model
    for seg in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(seg, str):
            field = None
            for name, info in tp.model_fields.items():
                if seg in (name, info.alias):
                    field = (info.alias or name, info.annotation)
                    break
            if field is None:
                path = _join(path, seg)
                tp = Any
            else:
                path = _join(path, field[0])
                tp = field[1]
            continue
        if origin in (Union, types.UnionType) and isinstance(seg, str):
            member = _union_member(tp, seg)
            if member is not None:
                tp = member
                continue
        if origin in (list, tuple) and isinstance(seg, int):
            path = f"{path}[{seg}]"
            args = get_args(tp)
            tp = args[0] if args else Any
            continue
        if seg == "[key]":  # pydantic's marker for an error in a map key, not a value
            continue
        if origin is dict:
            path = f"{path}[{seg}]"
            args = get_args(tp)
            tp = args[1] if len(args) == 2 else Any
            continue
        path = f"{path}[{seg}]" if isinstance(seg, int) else _join(path, str(seg))
        tp = Any
    return path


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _literal_values(expected: str) -> list[str]:
    return re.findall(r"'((?:[^'\\]|\\.)*)'", expected)


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
}


def human_message(error: Any) -> tuple[str, str]:
    """(message, Kubernetes cause reason) for one pydantic error dict."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "missing":
        return "field required", "FieldValueRequired"
    if kind == "extra_forbidden":
        return "unknown field (extra fields not permitted)", "FieldValueInvalid"
    if kind in ("literal_error", "enum"):
        values = _literal_values(str(ctx.get("expected", "")))
        listed = ", ".join(values) if values else str(ctx.get("expected", ""))
        return f"must be one of {listed}; got {_show(got)}", "FieldValueNotSupported"
    comparisons = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in comparisons:
        op, key = comparisons[kind]
        return f"must be {op} {ctx.get(key)}, got {_show(got)}", "FieldValueInvalid"
    if kind in ("too_short", "string_too_short"):
        least = ctx.get("min_length")
        if least == 1:
            return "must not be empty", "FieldValueRequired"
        unit = "characters" if kind == "string_too_short" else "items"
        return f"must have at least {least} {unit}", "FieldValueInvalid"
    if kind in ("too_long", "string_too_long"):
        most = ctx.get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        return f"must have at most {most} {unit}", "FieldValueTooLong"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {_show(got)}", "FieldValueInvalid"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {_show(got)}", "FieldValueTypeInvalid"
    if kind in ("value_error", "assertion_error"):
        err = ctx.get("error")
        text = str(err) if err is not None else str(error.get("msg", ""))
        return text, "FieldValueInvalid"
    msg = str(error.get("msg", "is invalid"))
    return (msg[:1].lower() + msg[1:]), "FieldValueInvalid"


def causes_from(exc: ValidationError, model: type[BaseModel]) -> list[Cause]:
    """One ``Cause`` per broken rule, in pydantic's order, duplicates dropped."""
    causes: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        base = wire_path(model, tuple(error.get("loc", ())))
        violation = (error.get("ctx") or {}).get("error")
        if isinstance(violation, RuleViolation):
            pairs = [(_join(base, rel), msg, "FieldValueInvalid")
                     for rel, msg in violation.problems]
        else:
            message, reason = human_message(error)
            if tuple(error.get("loc", ()))[-1:] == ("[key]",):
                message = f"key {message}"
            pairs = [(base, message, reason)]
        for field, message, reason in pairs:
            if (field, message) in seen:
                continue
            seen.add((field, message))
            causes.append(Cause(field=field or "<root>", message=message, reason=reason))
    return causes

