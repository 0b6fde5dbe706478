"""Create, read, update, patch, delete: the write rules every store keeps."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from hanzo_ml_lab.api.errors import AlreadyExists, BadRequest, Conflict, Invalid, NotFound
from hanzo_ml_lab.store import Store

from .helpers import KIND, job, take

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_returns_the_stored_object_with_store_owned_metadata(store: Store, ns: str) -> None:
    created = store.create(job("mnist", ns, labels={"app": "mnist"}, annotations={"a": "b"}))
    meta = created["metadata"]
    assert (created["kind"], created["apiVersion"]) == (KIND, "hanzo.ai/v1")
    assert (meta["name"], meta["namespace"]) == ("mnist", ns)
    assert meta["labels"] == {"app": "mnist"} and meta["annotations"] == {"a": "b"}
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"]
    assert meta["generation"] == 1
    assert RFC3339_Z.match(meta["creationTimestamp"])
    assert "deletionTimestamp" not in meta
    assert created["spec"] == {"replicas": 1}
    assert store.get(KIND, ns, "mnist") == created


def test_create_ignores_caller_values_for_store_owned_fields(store: Store, ns: str) -> None:
    created = store.create(job("mnist", ns, uid="mine", resourceVersion="999", generation=7,
                               creationTimestamp="2000-01-01T00:00:00Z",
                               deletionTimestamp="2000-01-01T00:00:00Z"))
    meta = created["metadata"]
    assert meta["uid"] != "mine" and meta["generation"] == 1
    assert meta["resourceVersion"] != "999"
    assert meta["creationTimestamp"] != "2000-01-01T00:00:00Z"
    assert "deletionTimestamp" not in meta


def test_create_ignores_status(store: Store, ns: str) -> None:
    created = store.create({**job("mnist", ns), "status": {"phase": "Running"}})
    assert "status" not in created
    assert "status" not in store.get(KIND, ns, "mnist")


def test_create_of_an_existing_name_is_already_exists(store: Store, ns: str,
                                                      other_ns: str) -> None:
    store.create(job("mnist", ns))
    with pytest.raises(AlreadyExists) as e:
        store.create(job("mnist", ns, spec={"replicas": 2}))
    assert "mnist" in e.value.message
    assert store.get(KIND, ns, "mnist")["spec"] == {"replicas": 1}
    store.create(job("mnist", other_ns))  # another namespace is another name
    store.create(job("mnist", ns, kind="Sweep"))  # and so is another kind


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"apiVersion": "hanzo.ai/v1", "kind": KIND, "metadata": {"namespace": "team-a"}},
         "metadata.name"),
        ({"apiVersion": "hanzo.ai/v1", "kind": KIND, "metadata": {"name": "x"}},
         "metadata.namespace"),
        ({"apiVersion": "hanzo.ai/v1", "metadata": {"name": "x", "namespace": "team-a"}},
         "kind"),
    ],
)
def test_create_without_name_namespace_or_kind_is_invalid(store: Store, body: dict[str, Any],
                                                          field: str) -> None:
    with pytest.raises(Invalid) as e:
        store.create(body)
    assert field in [c.field for c in e.value.causes]


def test_generate_name_appends_a_random_suffix(store: Store, ns: str) -> None:
    first = store.create(job(None, ns, generateName="mnist-"))
    second = store.create(job(None, ns, generateName="mnist-"))
    for created in (first, second):
        assert re.fullmatch(r"mnist-[a-z0-9]{5}", created["metadata"]["name"])
        assert created["metadata"]["generateName"] == "mnist-"
    assert first["metadata"]["name"] != second["metadata"]["name"]
    assert store.get(KIND, ns, first["metadata"]["name"]) == first


def test_get_of_a_missing_object_is_not_found(store: Store, ns: str) -> None:
    with pytest.raises(NotFound) as e:
        store.get(KIND, ns, "nope")
    assert "nope" in e.value.message


def test_update_replaces_metadata_and_spec(store: Store, ns: str) -> None:
    created = store.create(job("mnist", ns, labels={"a": "1", "b": "2"}))
    body = {**created, "spec": {"replicas": 3}}
    body["metadata"] = {**created["metadata"], "labels": {"a": "9"}, "annotations": {"x": "y"}}
    updated = store.update(body)
    assert updated["spec"] == {"replicas": 3}
    assert updated["metadata"]["labels"] == {"a": "9"}
    assert updated["metadata"]["annotations"] == {"x": "y"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert store.get(KIND, ns, "mnist") == updated


def test_update_ignores_status(store: Store, ns: str) -> None:
    created = store.create(job("mnist", ns))
    with_status = store.update_status({**created, "status": {"phase": "Running"}})
    updated = store.update({**with_status, "spec": {"replicas": 2}, "status": {"phase": "Hacked"}})
    assert updated["status"] == {"phase": "Running"}
    no_status = {k: v for k, v in updated.items() if k != "status"}
    assert store.update({**no_status, "spec": {"replicas": 3}})["status"] == {"phase": "Running"}


def test_update_status_ignores_everything_but_status(store: Store, ns: str) -> None:
    created = store.create(job("mnist", ns, labels={"a": "1"}))
    body = {**created, "spec": {"replicas": 99}, "status": {"phase": "Running"}}
    body["metadata"] = {**created["metadata"], "labels": {"a": "changed"}}
    updated = store.update_status(body)
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"] == {"replicas": 1}
    assert updated["metadata"]["labels"] == {"a": "1"}
    assert updated["metadata"]["generation"] == 1


def test_generation_moves_only_when_spec_changes(store: Store, ns: str) -> None:
    obj = store.create(job("mnist", ns))
    assert obj["metadata"]["generation"] == 1
    obj = store.update({**obj, "metadata": {**obj["metadata"], "labels": {"x": "y"}}})
    assert obj["metadata"]["generation"] == 1
    obj = store.update_status({**obj, "status": {"phase": "Running"}})
    assert obj["metadata"]["generation"] == 1
    obj = store.patch(KIND, ns, "mnist", {"metadata": {"annotations": {"k": "v"}}})
    assert obj["metadata"]["generation"] == 1
    obj = store.update({**obj, "spec": {"replicas": 2}})
    assert obj["metadata"]["generation"] == 2
    obj = store.patch(KIND, ns, "mnist", {"spec": {"image": "x"}})
    assert obj["metadata"]["generation"] == 3
    obj = store.patch(KIND, ns, "mnist", {"status": {"phase": "Done"}}, subresource="status")
    assert obj["metadata"]["generation"] == 3


def test_every_write_moves_the_resource_version(store: Store, ns: str) -> None:
    seen = [int(store.current_resource_version())]
    obj = store.create(job("mnist", ns))
    seen.append(int(obj["metadata"]["resourceVersion"]))
    obj = store.update({**obj, "spec": {"replicas": 2}})
    seen.append(int(obj["metadata"]["resourceVersion"]))
    obj = store.update_status({**obj, "status": {"phase": "Running"}})
    seen.append(int(obj["metadata"]["resourceVersion"]))
    obj = store.patch(KIND, ns, "mnist", {"metadata": {"labels": {"a": "b"}}})
    seen.append(int(obj["metadata"]["resourceVersion"]))
    assert seen == sorted(set(seen))
    assert store.current_resource_version() == obj["metadata"]["resourceVersion"]
    store.delete(KIND, ns, "mnist")
    assert int(store.current_resource_version()) > seen[-1]


def test_a_write_that_changes_nothing_does_not_move_the_resource_version(
    store: Store, ns: str
) -> None:
    obj = store.update_status({**store.create(job("mnist", ns)), "status": {"phase": "Running"}})
    before = store.current_resource_version()
    assert store.update(obj) == obj
    assert store.update_status(obj) == obj
    assert store.patch(KIND, ns, "mnist", {"spec": {"replicas": 1}}) == obj
    assert store.current_resource_version() == before


WRITES: dict[str, Callable[[Store, dict[str, Any], str | None], Any]] = {
    "update": lambda s, o, rv: s.update(
        {**o, "metadata": {**o["metadata"], "resourceVersion": rv}, "spec": {"replicas": 5}}),
    "update_status": lambda s, o, rv: s.update_status(
        {**o, "metadata": {**o["metadata"], "resourceVersion": rv}, "status": {"phase": "X"}}),
    "patch": lambda s, o, rv: s.patch(
        KIND, o["metadata"]["namespace"], o["metadata"]["name"],
        {"metadata": {"resourceVersion": rv}, "spec": {"replicas": 5}}),
    "patch_status": lambda s, o, rv: s.patch(
        KIND, o["metadata"]["namespace"], o["metadata"]["name"],
        {"metadata": {"resourceVersion": rv}, "status": {"phase": "X"}}, subresource="status"),
    "delete": lambda s, o, rv: s.delete(
        KIND, o["metadata"]["namespace"], o["metadata"]["name"], resource_version=rv),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_stale_resource_version_is_a_conflict(store: Store, ns: str, write: str) -> None:
    stale = store.create(job("mnist", ns))
    current = store.update({**stale, "spec": {"replicas": 2}})
    with pytest.raises(Conflict) as e:
        WRITES[write](store, stale, stale["metadata"]["resourceVersion"])
    assert "mnist" in e.value.message and "modified" in e.value.message
    assert store.get(KIND, ns, "mnist") == current


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_current_resource_version_passes(store: Store, ns: str, write: str) -> None:
    obj = store.create(job("mnist", ns))
    WRITES[write](store, obj, obj["metadata"]["resourceVersion"])
    assert store.current_resource_version() != obj["metadata"]["resourceVersion"]


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_without_resource_version_is_unconditional(store: Store, ns: str,
                                                           write: str) -> None:
    stale = store.create(job("mnist", ns))
    store.update({**stale, "spec": {"replicas": 2}})
    unpinned = {**stale, "metadata": {k: v for k, v in stale["metadata"].items()
                                      if k != "resourceVersion"}}
    WRITES[write](store, unpinned, None)


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_to_a_missing_object_is_not_found(store: Store, ns: str, write: str) -> None:
    with pytest.raises(NotFound):
        WRITES[write](store, job("ghost", ns), None)


def test_a_failed_write_leaves_the_store_unchanged(store: Store, ns: str) -> None:
    stale = store.create(job("mnist", ns))
    current = store.update({**stale, "spec": {"replicas": 2}})
    rv = store.current_resource_version()
    stop = threading.Event()
    events = store.watch(KIND, ns, resource_version=rv, stop=stop, heartbeat_seconds=0)
    for write in WRITES.values():
        with pytest.raises(Conflict):
            write(store, stale, stale["metadata"]["resourceVersion"])
    with pytest.raises(AlreadyExists):
        store.create(job("mnist", ns, spec={"replicas": 7}))
    assert store.current_resource_version() == rv
    assert store.get(KIND, ns, "mnist") == current
    assert take(events, 1, stop, timeout=0.5) == []


def test_patch_merges_objects_and_null_removes_keys(store: Store, ns: str) -> None:
    store.create(job("mnist", ns, labels={"a": "1", "b": "2"},
                     spec={"replicas": 1, "resources": {"cpu": "1", "memory": "1Gi"},
                           "args": ["x", "y"]}))
    patched = store.patch(KIND, ns, "mnist", {
        "metadata": {"labels": {"b": None, "c": "3"}},
        "spec": {"resources": {"memory": None, "gpu": 1}, "args": ["z"]},
    })
    assert patched["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert patched["spec"] == {"replicas": 1, "resources": {"cpu": "1", "gpu": 1}, "args": ["z"]}
    assert store.get(KIND, ns, "mnist") == patched


def test_patch_of_the_object_ignores_status_and_of_status_ignores_the_rest(
    store: Store, ns: str
) -> None:
    store.create(job("mnist", ns))
    patched = store.patch(KIND, ns, "mnist", {"spec": {"replicas": 2}, "status": {"phase": "X"}})
    assert patched["spec"] == {"replicas": 2} and "status" not in patched
    patched = store.patch(KIND, ns, "mnist",
                          {"spec": {"replicas": 9}, "metadata": {"labels": {"a": "b"}},
                           "status": {"phase": "Running", "replicas": {"ready": 1}}},
                          subresource="status")
    assert patched["status"] == {"phase": "Running", "replicas": {"ready": 1}}
    assert patched["spec"] == {"replicas": 2} and "labels" not in patched["metadata"]
    patched = store.patch(KIND, ns, "mnist", {"status": {"replicas": None}}, subresource="status")
    assert patched["status"] == {"phase": "Running"}


def test_patch_must_be_an_object(store: Store, ns: str) -> None:
    store.create(job("mnist", ns))
    with pytest.raises(BadRequest):
        store.patch(KIND, ns, "mnist", ["not", "a", "merge", "patch"])  # type: ignore[arg-type]


def test_delete_without_finalizers_removes_the_object(store: Store, ns: str) -> None:
    store.create(job("mnist", ns))
    assert store.delete(KIND, ns, "mnist") is None
    with pytest.raises(NotFound):
        store.get(KIND, ns, "mnist")
    with pytest.raises(NotFound):
        store.delete(KIND, ns, "mnist")
    recreated = store.create(job("mnist", ns))  # the name is free again, with a new uid
    assert recreated["metadata"]["generation"] == 1


def test_returned_objects_are_the_callers_to_mutate(store: Store, ns: str) -> None:
    body = job("mnist", ns, labels={"a": "1"})
    created = store.create(body)
    body["spec"]["replicas"] = 50
    created["metadata"]["labels"]["a"] = "mutated"
    got = store.get(KIND, ns, "mnist")
    assert got["spec"] == {"replicas": 1} and got["metadata"]["labels"] == {"a": "1"}
    got["spec"]["replicas"] = 70
    assert store.get(KIND, ns, "mnist")["spec"] == {"replicas": 1}


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"labels": {"app": "has space"}}, "metadata.labels.app"),
        ({"labels": {"bad key!": "x"}}, "metadata.labels.bad key!"),
        ({"labels": {"app": 3}}, "metadata.labels.app"),
        ({"finalizers": "not-a-list"}, "metadata.finalizers"),
        ({"ownerReferences": [{"kind": "Sweep", "name": "s"}]}, "metadata.ownerReferences[0].uid"),
    ],
)
def test_malformed_metadata_is_invalid_naming_the_field(store: Store, ns: str,
                                                        metadata: dict[str, Any],
                                                        field: str) -> None:
    with pytest.raises(Invalid) as e:
        store.create(job("mnist", ns, **metadata))
    assert field in [c.field for c in e.value.causes]
    assert field in e.value.message
