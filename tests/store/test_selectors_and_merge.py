"""The pure parts: label selector parsing and matching, RFC 7386 merge patch."""

from __future__ import annotations

from typing import Any

import pytest

import hanzo_ml_lab.store as store_pkg
from hanzo_ml_lab.api.errors import BadRequest
from hanzo_ml_lab.store import merge_patch, parse_selector


def test_an_empty_selector_matches_everything() -> None:
    for text in (None, "", "   "):
        selector = parse_selector(text)
        assert selector.empty and selector.matches({}) and selector.matches({"a": "b"})


def test_a_selector_prints_back_in_canonical_form() -> None:
    text = " a = b , c != d, e in (y, x), f notin (z), g, !h "
    selector = parse_selector(text)
    assert str(selector) == "a=b,c!=d,e in (x,y),f notin (z),g,!h"
    assert parse_selector(str(selector)) == selector


def test_prefixed_keys_and_dotted_values_are_allowed() -> None:
    selector = parse_selector("hanzo.ai/experiment=mnist-v1.2,app.kubernetes.io/name")
    assert selector.matches({"hanzo.ai/experiment": "mnist-v1.2", "app.kubernetes.io/name": "x"})
    assert not selector.matches({"hanzo.ai/experiment": "mnist-v1.2"})


def test_a_parse_error_names_the_position() -> None:
    with pytest.raises(BadRequest, match="at position 4"):
        parse_selector("a=b c")


@pytest.mark.parametrize("text", ["Hanzo.AI/x=y", "a=" + "v" * 64, "-a=b", "a=b-"])
def test_keys_and_values_outside_the_label_syntax_are_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="label"):
        parse_selector(text)


# RFC 7386, appendix A.
RFC_7386_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_7386_EXAMPLES)
def test_merge_patch_follows_the_rfc_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_modifies_neither_argument() -> None:
    target = {"a": {"b": [1, 2]}, "c": 1}
    patch = {"a": {"d": {"e": 1}}, "c": None}
    result = merge_patch(target, patch)
    result["a"]["b"].append(3)
    result["a"]["d"]["e"] = 2
    assert target == {"a": {"b": [1, 2]}, "c": 1}
    assert patch == {"a": {"d": {"e": 1}}, "c": None}


def test_the_public_surface_is_what_all_says() -> None:
    for name in store_pkg.__all__:
        assert hasattr(store_pkg, name), name
    public = {n for n in vars(store_pkg) if not n.startswith("_")}
    assert public - {"annotations", "sqlite", "tracking"} <= set(store_pkg.__all__)
