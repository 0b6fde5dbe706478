"""Listing: order, namespaces, label selectors, pagination."""

from __future__ import annotations

import pytest

from hanzo_ml_lab.api.errors import BadRequest
from hanzo_ml_lab.store import Store

from .helpers import KIND, job, names


def test_list_orders_by_namespace_then_name(store: Store, ns: str, other_ns: str) -> None:
    for namespace, name in ((other_ns, "b"), (ns, "c"), (other_ns, "a"), (ns, "a")):
        store.create(job(name, namespace))
    store.create(job("z", ns, kind="Sweep"))
    every = store.list(KIND)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in every.items] == [
        (ns, "a"), (ns, "c"), (other_ns, "a"), (other_ns, "b")]
    assert names(store.list(KIND, ns).items) == ["a", "c"]
    assert names(store.list(KIND, "nobody-here").items) == []
    assert every.continue_token is None and every.remaining_item_count is None


def test_list_carries_the_current_resource_version(store: Store, ns: str) -> None:
    store.create(job("a", ns))
    store.create(job("b", ns, kind="Sweep"))
    assert store.list(KIND, ns).resource_version == store.current_resource_version()


LABELLED = {
    "a": {"app": "mnist", "tier": "gpu", "env": "dev"},
    "b": {"app": "mnist", "tier": "cpu", "env": "prod"},
    "c": {"app": "cifar", "env": "prod", "archived": "true"},
    "d": {},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", ["a", "b", "c", "d"]),
        ("app=mnist", ["a", "b"]),
        ("app==mnist", ["a", "b"]),
        ("app!=mnist", ["c", "d"]),  # objects without the label are "not equal" too
        ("env in (dev, prod)", ["a", "b", "c"]),
        ("env in (staging)", []),
        ("env notin (dev)", ["b", "c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("!archived,app", ["a", "b"]),
        ("app=mnist,tier!=gpu", ["b"]),
        ("app in (mnist,cifar),env=prod,!tier", ["c"]),
        ("  app = mnist , env notin ( prod ) ", ["a"]),
        ("tier=", []),
    ],
)
def test_label_selector_operators(store: Store, ns: str, selector: str,
                                  expected: list[str]) -> None:
    for name, labels in LABELLED.items():
        store.create(job(name, ns, labels=labels))
    assert names(store.list(KIND, ns, label_selector=selector).items) == expected


@pytest.mark.parametrize(
    "selector",
    ["=mnist", "app in mnist", "app in (", "app in ()", "app notin (a,)", "a b",
     "app=mnist,", ",app", "app=x y", "app=(x)", "!", "app >= 3", "bad key!=x"],
)
def test_a_malformed_selector_is_a_bad_request_naming_it(store: Store, ns: str,
                                                         selector: str) -> None:
    with pytest.raises(BadRequest) as e:
        store.list(KIND, ns, label_selector=selector)
    assert selector in e.value.message


def test_pages_cover_every_item_exactly_once(store: Store, ns: str, other_ns: str) -> None:
    expected = []
    for namespace in (ns, other_ns):
        for i in range(7):
            store.create(job(f"job-{i:02d}", namespace))
            expected.append((namespace, f"job-{i:02d}"))
    seen, token, remaining = [], None, []
    while True:
        page = store.list(KIND, limit=3, continue_token=token)
        assert len(page.items) <= 3
        seen += [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in page.items]
        token = page.continue_token
        if token is None:
            break
        remaining.append(page.remaining_item_count)
    assert seen == expected
    assert remaining == [11, 8, 5, 2]


def test_pages_within_a_namespace_and_with_a_selector(store: Store, ns: str,
                                                      other_ns: str) -> None:
    for i in range(10):
        store.create(job(f"j{i}", ns, labels={"even": str(i % 2 == 0).lower()}))
        store.create(job(f"j{i}", other_ns, labels={"even": "true"}))
    first = store.list(KIND, ns, label_selector="even=true", limit=2)
    assert names(first.items) == ["j0", "j2"]
    second = store.list(KIND, ns, label_selector="even=true", limit=2,
                        continue_token=first.continue_token)
    third = store.list(KIND, ns, label_selector="even=true", limit=2,
                       continue_token=second.continue_token)
    assert names(second.items) == ["j4", "j6"] and names(third.items) == ["j8"]
    assert third.continue_token is None


def test_a_page_limit_larger_than_the_list_returns_everything(store: Store, ns: str) -> None:
    for name in "abc":
        store.create(job(name, ns))
    page = store.list(KIND, ns, limit=10)
    assert names(page.items) == ["a", "b", "c"] and page.continue_token is None


def test_objects_created_behind_the_cursor_are_not_repeated(store: Store, ns: str) -> None:
    for name in ("b", "d", "f"):
        store.create(job(name, ns))
    first = store.list(KIND, ns, limit=2)
    store.create(job("a", ns))
    store.create(job("e", ns))
    rest = store.list(KIND, ns, limit=10, continue_token=first.continue_token)
    assert names(first.items) == ["b", "d"] and names(rest.items) == ["e", "f"]


@pytest.mark.parametrize("token", ["not-base64!!", "aGVsbG8=", "e30="])
def test_a_bad_continue_token_is_a_bad_request(store: Store, ns: str, token: str) -> None:
    with pytest.raises(BadRequest) as e:
        store.list(KIND, ns, limit=1, continue_token=token)
    assert "continue" in e.value.message
