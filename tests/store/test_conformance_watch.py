"""Watch: list-then-watch, replay from a resourceVersion, live events, bookmarks, stop."""

from __future__ import annotations

import threading
import time

import pytest

from hanzo_ml_lab.api.errors import BadRequest
from hanzo_ml_lab.store import Store

from .helpers import KIND, job, summary, take


def _later(delay: float, *writes: object) -> threading.Thread:
    """Run the write callables on a thread after ``delay``, as another client would."""

    def run() -> None:
        time.sleep(delay)
        for write in writes:
            write()  # type: ignore[operator]

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_watch_without_a_version_lists_existing_objects_as_added_then_follows(
    store: Store, ns: str
) -> None:
    store.create(job("b", ns))
    store.create(job("a", ns))
    stop = threading.Event()
    events = store.watch(KIND, ns, stop=stop)
    writer = _later(0.05, lambda: store.create(job("c", ns)))
    got = take(events, 3, stop)
    writer.join()
    assert summary(got) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


def test_watch_replays_events_after_a_version_then_follows_live(store: Store, ns: str) -> None:
    store.create(job("before", ns))
    start = store.current_resource_version()
    store.create(job("a", ns))
    store.patch(KIND, ns, "a", {"spec": {"replicas": 2}})
    store.delete(KIND, ns, "before")
    stop = threading.Event()
    events = store.watch(KIND, ns, resource_version=start, stop=stop)
    writer = _later(0.1, lambda: store.create(job("live", ns)),
                    lambda: store.patch(KIND, ns, "live", {"spec": {"replicas": 3}}),
                    lambda: store.delete(KIND, ns, "a"))
    got = take(events, 6, stop)
    writer.join()
    assert summary(got) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "before"),
                            ("ADDED", "live"), ("MODIFIED", "live"), ("DELETED", "a")]
    versions = [int(e.object["metadata"]["resourceVersion"]) for e in got]
    assert versions == sorted(versions) and len(set(versions)) == 6
    assert got[1].object["spec"] == {"replicas": 2}
    assert str(versions[-1]) == store.current_resource_version()


def test_watch_resumes_exactly_after_the_version_of_any_event(store: Store, ns: str) -> None:
    store.create(job("seed", ns))
    start = store.current_resource_version()
    for name in "abcd":
        store.create(job(name, ns))
    stop = threading.Event()
    first = take(store.watch(KIND, ns, resource_version=start, stop=stop), 4, stop)
    resume_at = first[1].object["metadata"]["resourceVersion"]
    stop = threading.Event()
    rest = take(store.watch(KIND, ns, resource_version=resume_at, stop=stop), 2, stop)
    assert summary(rest) == [("ADDED", "c"), ("ADDED", "d")]


def test_watch_sees_only_its_kind_and_namespace(store: Store, ns: str, other_ns: str) -> None:
    store.create(job("seed", "seed-ns"))
    start = store.current_resource_version()
    store.create(job("other-ns", other_ns))
    store.create(job("other-kind", ns, kind="Sweep"))
    store.create(job("mine", ns))
    stop = threading.Event()
    got = take(store.watch(KIND, ns, resource_version=start, stop=stop), 1, stop)
    assert summary(got) == [("ADDED", "mine")]
    stop = threading.Event()
    every = take(store.watch(None, None, resource_version=start, stop=stop), 3, stop)
    assert summary(every) == [("ADDED", "other-ns"), ("ADDED", "other-kind"), ("ADDED", "mine")]


def test_a_selector_watch_sees_objects_leave_and_enter_its_selection(store: Store,
                                                                     ns: str) -> None:
    store.create(job("a", ns, labels={"team": "x"}))
    store.create(job("b", ns, labels={"team": "y"}))
    start = store.current_resource_version()
    store.patch(KIND, ns, "a", {"metadata": {"labels": {"team": "y"}}})  # leaves
    store.patch(KIND, ns, "b", {"metadata": {"labels": {"team": "x"}}})  # enters
    store.patch(KIND, ns, "b", {"spec": {"replicas": 5}})  # stays
    store.patch(KIND, ns, "a", {"spec": {"replicas": 5}})  # still out
    store.delete(KIND, ns, "b")
    stop = threading.Event()
    got = take(store.watch(KIND, ns, resource_version=start, label_selector="team=x",
                           stop=stop), 4, stop, timeout=1.0)
    assert summary(got) == [("DELETED", "a"), ("ADDED", "b"), ("MODIFIED", "b"),
                            ("DELETED", "b")]


def test_a_selector_watch_without_a_version_lists_only_matching_objects(store: Store,
                                                                        ns: str) -> None:
    store.create(job("a", ns, labels={"team": "x"}))
    store.create(job("b", ns, labels={"team": "y"}))
    stop = threading.Event()
    events = store.watch(KIND, ns, label_selector="team=x", stop=stop)
    writer = _later(0.05, lambda: store.create(job("c", ns, labels={"team": "x"})))
    got = take(events, 2, stop)
    writer.join()
    assert summary(got) == [("ADDED", "a"), ("ADDED", "c")]


def test_a_bookmark_follows_a_quiet_heartbeat(store: Store, ns: str) -> None:
    store.create(job("a", ns))
    store.create(job("b", ns, kind="Sweep"))  # moves the version, not this watch's kind
    stop = threading.Event()
    started = time.monotonic()
    events = store.watch(KIND, ns, resource_version=store.current_resource_version(),
                         stop=stop, heartbeat_seconds=0.2)
    got = take(events, 1, stop, bookmarks=True)
    assert time.monotonic() - started < 2.0
    assert [e.type for e in got] == ["BOOKMARK"]
    assert got[0].object["metadata"]["resourceVersion"] == store.current_resource_version()
    assert got[0].object["kind"] == KIND


def test_setting_stop_ends_the_watch_promptly(store: Store, ns: str) -> None:
    stop = threading.Event()
    events = store.watch(KIND, ns, stop=stop, heartbeat_seconds=60)
    ended = threading.Event()
    stopped_at: list[float] = []

    def consume() -> None:
        for _ in events:
            pass
        stopped_at.append(time.monotonic())
        ended.set()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.1)
    set_at = time.monotonic()
    stop.set()
    assert ended.wait(2.0)
    thread.join()
    assert stopped_at[0] - set_at < 0.5


def test_watch_with_a_malformed_selector_is_a_bad_request(store: Store, ns: str) -> None:
    with pytest.raises(BadRequest):
        next(iter(store.watch(KIND, ns, label_selector="a in (", stop=threading.Event())))
