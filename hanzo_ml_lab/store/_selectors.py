"""Kubernetes label selectors: parse the string form once, then match label maps with it.

The grammar is apimachinery's ``labels.Parse`` without the numeric ``<``/``>`` operators::

    selector    := ""  |  requirement ("," requirement)*
    requirement := KEY                                   # the label exists
                 | "!" KEY                               # the label does not exist
                 | KEY ("=" | "==" | "!=") VALUE         # VALUE may be empty
                 | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"

``!=`` and ``notin`` match objects that lack the label altogether, as in Kubernetes. Keys and
values are checked against the label syntax, so a typo fails loudly instead of matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hanzo_ml_lab.api.errors import BadRequest

__all__ = [
    "Requirement",
    "Selector",
    "label_key_error",
    "label_value_error",
    "parse_selector",
]

Operator = Literal["=", "!=", "in", "notin", "exists", "!"]

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SPECIAL = frozenset(" \t\r\n,()=!")


def label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or ``None`` if it is."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix):
            return (f"label key {key!r}: the prefix before '/' must be a DNS subdomain "
                    "(lowercase alphanumerics, '-' and '.', at most 253 characters)")
    if not name or len(name) > 63 or not _NAME.match(name):
        return (f"label key {key!r}: the name must be 1-63 alphanumerics, '-', '_' or '.', "
                "starting and ending with an alphanumeric")
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value (empty is allowed), or ``None`` if it is."""
    if value and (len(value) > 63 or not _NAME.match(value)):
        return (f"label value {value!r}: must be empty or 1-63 alphanumerics, '-', '_' or '.', "
                "starting and ending with an alphanumeric")
    return None


@dataclass(frozen=True)
class Requirement:
    """One comma-separated clause of a selector."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin": an object without the label is not equal to anything.
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            (value,) = self.values
            return f"{self.key}{self.operator}{value}"
        return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """A parsed selector: every requirement must match (they are ANDed)."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        """An empty selector matches everything."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


class _Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind  # "ident", or the operator / punctuation itself
        self.text = text
        self.pos = pos


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in ",()":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c == "=":
            width = 2 if text.startswith("==", i) else 1
            tokens.append(_Token("=", text[i:i + width], i))
            i += width
        elif c == "!":
            if text.startswith("!=", i):
                tokens.append(_Token("!=", "!=", i))
                i += 2
            else:
                tokens.append(_Token("!", "!", i))
                i += 1
        else:
            j = i
            while j < n and text[j] not in _SPECIAL:
                j += 1
            tokens.append(_Token("ident", text[i:j], i))
            i = j
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def fail(self, why: str, pos: int | None = None) -> BadRequest:
        at = len(self.text) if pos is None else pos
        return BadRequest(
            f'unable to parse label selector "{self.text}": {why} at position {at}; '
            "expected e.g. 'app=mnist,tier!=gpu,env in (dev,prod),team,!archived'"
        )

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token | None:
        tok = self.peek()
        if tok is not None:
            self.i += 1
        return tok

    def key(self) -> str:
        tok = self.take()
        if tok is None or tok.kind != "ident":
            raise self.fail("expected a label key", tok.pos if tok else None)
        why = label_key_error(tok.text)
        if why:
            raise self.fail(why, tok.pos)
        return tok.text

    def value(self, *, optional: bool) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "ident":
            if optional:
                return ""
            raise self.fail("expected a label value", tok.pos if tok else None)
        self.i += 1
        why = label_value_error(tok.text)
        if why:
            raise self.fail(why, tok.pos)
        return tok.text

    def requirement(self) -> Requirement:
        tok = self.peek()
        if tok is not None and tok.kind == "!":
            self.i += 1
            return Requirement(self.key(), "!")
        key = self.key()
        op = self.peek()
        if op is None or op.kind == ",":
            return Requirement(key, "exists")
        if op.kind in ("=", "!="):
            self.i += 1
            return Requirement(key, "=" if op.kind == "=" else "!=",
                               frozenset([self.value(optional=True)]))
        if op.kind == "ident" and op.text in ("in", "notin"):
            self.i += 1
            paren = self.take()
            if paren is None or paren.kind != "(":
                raise self.fail(f"expected '(' after '{op.text}'", paren.pos if paren else None)
            values = [self.value(optional=False)]
            while True:
                nxt = self.take()
                if nxt is None:
                    raise self.fail("expected ')'")
                if nxt.kind == ")":
                    break
                if nxt.kind != ",":
                    raise self.fail("expected ',' or ')'", nxt.pos)
                values.append(self.value(optional=False))
            return Requirement(key, "in" if op.text == "in" else "notin", frozenset(values))
        raise self.fail("expected '=', '==', '!=', 'in', 'notin' or ',' after the key", op.pos)

    def selector(self) -> Selector:
        if not self.tokens:
            return Selector()
        requirements = [self.requirement()]
        while (tok := self.take()) is not None:
            if tok.kind != ",":
                raise self.fail("expected ',' between requirements", tok.pos)
            requirements.append(self.requirement())
        return Selector(tuple(requirements))


def parse_selector(text: str | None) -> Selector:
    """Parse a label selector; ``None`` or blank selects everything.

    Raises ``BadRequest`` naming the selector, the position and the rule it breaks.
    """
    if text is None:
        return Selector()
    return _Parser(text).selector()
