"""Finalizers, deletionTimestamp and cascading deletion through ownerReferences."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hanzo_ml_lab.api.errors import Conflict, Invalid, NotFound
from hanzo_ml_lab.store import Store

from .helpers import KIND, job, owner_ref, summary, take

FINALIZER = "hanzo.ai/cleanup"


def _without_finalizers(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "finalizers": []}}


def _exists(store: Store, kind: str, ns: str, name: str) -> bool:
    try:
        store.get(kind, ns, name)
    except NotFound:
        return False
    return True


def test_delete_with_finalizers_marks_the_object_and_keeps_it(store: Store, ns: str) -> None:
    created = store.create(job("mnist", ns, finalizers=[FINALIZER]))
    marked = store.delete(KIND, ns, "mnist")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == created["metadata"]["generation"] + 1
    assert marked["metadata"]["finalizers"] == [FINALIZER]
    assert store.get(KIND, ns, "mnist") == marked


def test_deleting_an_object_already_being_deleted_changes_nothing(store: Store, ns: str) -> None:
    store.create(job("mnist", ns, finalizers=[FINALIZER]))
    marked = store.delete(KIND, ns, "mnist")
    rv = store.current_resource_version()
    assert store.delete(KIND, ns, "mnist") == marked
    assert store.current_resource_version() == rv


def test_emptying_finalizers_completes_deletion_with_a_deleted_event(store: Store,
                                                                     ns: str) -> None:
    store.create(job("mnist", ns, finalizers=[FINALIZER]))
    marked = store.delete(KIND, ns, "mnist")
    assert marked is not None
    stop = threading.Event()
    events = store.watch(KIND, ns, resource_version=store.current_resource_version(), stop=stop)
    store.update(_without_finalizers(marked))
    got = take(events, 1, stop)
    assert summary(got) == [("DELETED", "mnist")]
    assert got[0].object["metadata"]["uid"] == marked["metadata"]["uid"]
    assert int(got[0].object["metadata"]["resourceVersion"]) > int(
        marked["metadata"]["resourceVersion"])
    assert not _exists(store, KIND, ns, "mnist")


def test_patching_away_the_last_finalizer_completes_deletion(store: Store, ns: str) -> None:
    store.create(job("mnist", ns, finalizers=[FINALIZER, "other/x"]))
    store.delete(KIND, ns, "mnist")
    left = store.patch(KIND, ns, "mnist", {"metadata": {"finalizers": ["other/x"]}})
    assert left["metadata"]["finalizers"] == ["other/x"]
    assert _exists(store, KIND, ns, "mnist")
    store.patch(KIND, ns, "mnist", {"metadata": {"finalizers": None}})
    assert not _exists(store, KIND, ns, "mnist")


def test_no_finalizer_can_be_added_while_deletion_is_pending(store: Store, ns: str) -> None:
    store.create(job("mnist", ns, finalizers=[FINALIZER]))
    marked = store.delete(KIND, ns, "mnist")
    assert marked is not None
    body = {**marked, "metadata": {**marked["metadata"], "finalizers": [FINALIZER, "late/one"]}}
    with pytest.raises(Invalid) as e:
        store.update(body)
    assert "metadata.finalizers" in [c.field for c in e.value.causes]
    with pytest.raises(Invalid):
        store.patch(KIND, ns, "mnist", {"metadata": {"finalizers": ["late/one"]}})
    assert store.get(KIND, ns, "mnist") == marked


def test_spec_and_status_can_still_change_while_deletion_is_pending(store: Store,
                                                                   ns: str) -> None:
    store.create(job("mnist", ns, finalizers=[FINALIZER]))
    store.delete(KIND, ns, "mnist")
    updated = store.patch(KIND, ns, "mnist", {"spec": {"replicas": 0}})
    assert updated["spec"] == {"replicas": 0} and updated["metadata"]["deletionTimestamp"]
    updated = store.patch(KIND, ns, "mnist", {"status": {"phase": "Deleting"}},
                          subresource="status")
    assert updated["status"] == {"phase": "Deleting"}


def test_delete_with_a_stale_resource_version_is_a_conflict(store: Store, ns: str) -> None:
    stale = store.create(job("mnist", ns))
    store.patch(KIND, ns, "mnist", {"spec": {"replicas": 2}})
    with pytest.raises(Conflict):
        store.delete(KIND, ns, "mnist", resource_version=stale["metadata"]["resourceVersion"])
    assert _exists(store, KIND, ns, "mnist")


def test_cascade_deletes_children_and_grandchildren(store: Store, ns: str) -> None:
    sweep = store.create(job("sweep", ns, kind="Sweep"))
    trial = store.create(job("trial-1", ns, ownerReferences=[owner_ref(sweep)]))
    store.create(job("run-1", ns, kind="Run", ownerReferences=[owner_ref(trial)]))
    store.create(job("trial-2", ns, ownerReferences=[owner_ref(sweep)]))
    bystander = store.create(job("unrelated", ns))
    stop = threading.Event()
    events = store.watch(None, ns, resource_version=store.current_resource_version(), stop=stop)
    assert store.delete("Sweep", ns, "sweep") is None
    got = take(events, 4, stop)
    assert sorted(summary(got)) == [("DELETED", "run-1"), ("DELETED", "sweep"),
                                    ("DELETED", "trial-1"), ("DELETED", "trial-2")]
    assert got[0].object["metadata"]["name"] == "sweep"  # the owner goes first
    assert len({e.object["metadata"]["resourceVersion"] for e in got}) == 4
    for kind, name in (("Sweep", "sweep"), (KIND, "trial-1"), (KIND, "trial-2"),
                       ("Run", "run-1")):
        assert not _exists(store, kind, ns, name)
    assert store.get(KIND, ns, "unrelated") == bystander


def test_cascade_waits_for_a_childs_finalizers(store: Store, ns: str) -> None:
    sweep = store.create(job("sweep", ns, kind="Sweep"))
    trial = store.create(job("trial", ns, finalizers=[FINALIZER],
                             ownerReferences=[owner_ref(sweep)]))
    store.create(job("run", ns, kind="Run", ownerReferences=[owner_ref(trial)]))
    store.delete("Sweep", ns, "sweep")
    assert not _exists(store, "Sweep", ns, "sweep")
    pending = store.get(KIND, ns, "trial")
    assert pending["metadata"]["deletionTimestamp"]
    assert _exists(store, "Run", ns, "run")  # its owner is not gone yet
    store.update(_without_finalizers(pending))
    assert not _exists(store, KIND, ns, "trial")
    assert not _exists(store, "Run", ns, "run")


def test_cascade_starts_when_an_owner_with_finalizers_finally_goes(store: Store,
                                                                  ns: str) -> None:
    sweep = store.create(job("sweep", ns, kind="Sweep", finalizers=[FINALIZER]))
    store.create(job("trial", ns, ownerReferences=[owner_ref(sweep)]))
    marked = store.delete("Sweep", ns, "sweep")
    assert marked is not None
    assert _exists(store, KIND, ns, "trial")
    store.update(_without_finalizers(marked))
    assert not _exists(store, KIND, ns, "trial")


def test_cascade_keeps_a_child_another_live_object_owns(store: Store, ns: str) -> None:
    first = store.create(job("first", ns, kind="Sweep"))
    second = store.create(job("second", ns, kind="Sweep"))
    store.create(job("shared", ns, ownerReferences=[owner_ref(first), owner_ref(second)]))
    store.delete("Sweep", ns, "first")
    shared = store.get(KIND, ns, "shared")
    assert [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["second"]
    store.delete("Sweep", ns, "second")
    assert not _exists(store, KIND, ns, "shared")


def test_cascade_follows_owner_references_set_by_update(store: Store, ns: str) -> None:
    sweep = store.create(job("sweep", ns, kind="Sweep"))
    orphan = store.create(job("trial", ns))
    store.update({**orphan, "metadata": {**orphan["metadata"],
                                         "ownerReferences": [owner_ref(sweep)]}})
    store.delete("Sweep", ns, "sweep")
    assert not _exists(store, KIND, ns, "trial")
