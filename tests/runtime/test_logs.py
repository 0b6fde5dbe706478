"""Reading logs: resumable cursors, following to the end, tails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hanzo_ml_lab.runtime import JobKey, LocalRuntime
from hanzo_ml_lab.runtime._logs import last_lines, tail_offset, utf8_safe_end

from .helpers import finished, py, spec, wait_for

NewKey = Callable[[str], JobKey]


def bursts(tag: str, n_bursts: int = 4, lines: int = 5, pause: float = 0.12) -> list[str]:
    """A replica that prints ``lines`` lines ``n_bursts`` times with pauses in between."""
    return py(
        "import time\n"
        f"for b in range({n_bursts}):\n"
        f"    for i in range({lines}): print('{tag}', b, i, 'é' * (i % 3))\n"
        f"    time.sleep({pause})\n"
    )


def expected(tag: str, n_bursts: int = 4, lines: int = 5) -> str:
    return "".join(
        f"{tag} {b} {i} {'é' * (i % 3)}\n" for b in range(n_bursts) for i in range(lines)
    )


def test_reading_one_chunk_per_connection_resumes_without_duplicates_or_loss(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("resume")
    runtime.launch(key, [spec("Master", 0, bursts("m")), spec("Worker", 0, bursts("w"))])
    got: dict[str, str] = {"master-0": "", "worker-0": ""}
    cursor = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = finished(runtime.status(key))
        stream = runtime.read_logs(key, since=cursor)  # a client that reconnects every chunk
        chunk = next(stream, None)
        if chunk is None:
            if done:
                break
            time.sleep(0.03)
            continue
        got[chunk.replica] += chunk.text
        cursor = chunk.cursor
    assert got == {"master-0": expected("m"), "worker-0": expected("w")}


def test_a_cursor_for_all_replicas_resumes_one_of_them_and_vice_versa(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("mixed")
    runtime.launch(
        key,
        [
            spec("Master", 0, py("print('m1'); print('m2')")),
            spec("Worker", 0, py("print('w1'); print('w2')")),
        ],
    )
    wait_for(lambda: finished(runtime.status(key)))
    first = next(runtime.read_logs(key))
    assert (first.replica, first.text) == ("master-0", "m1\nm2\n")
    rest = list(runtime.read_logs(key, since=first.cursor))
    assert [(c.replica, c.text) for c in rest] == [("worker-0", "w1\nw2\n")]
    assert list(runtime.read_logs(key, "master-0", since=first.cursor)) == []
    assert list(runtime.read_logs(key, since=rest[-1].cursor)) == []


def test_large_output_comes_in_pieces_that_join_exactly(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("big")
    code = "import sys\nfor i in range(20000): print(f'{i:06d}', 'x' * (i % 37))"
    runtime.launch(key, [spec("Worker", 0, py(code))])
    wait_for(lambda: finished(runtime.status(key)))
    want = "".join(f"{i:06d} {'x' * (i % 37)}\n" for i in range(20000))
    text, cursor, pieces = "", None, 0
    while True:
        stream = runtime.read_logs(key, "worker-0", since=cursor)
        chunk = next(stream, None)
        if chunk is None:
            break
        assert chunk.text.endswith("\n")
        text, cursor, pieces = text + chunk.text, chunk.cursor, pieces + 1
    assert pieces > 3 and text == want


def test_follow_ends_once_the_job_has_finished_and_everything_was_read(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("follow")
    runtime.launch(key, [spec("Master", 0, bursts("m")), spec("Worker", 0, bursts("w", 2))])
    t = time.monotonic()
    got: dict[str, str] = {"master-0": "", "worker-0": ""}
    for chunk in runtime.read_logs(key, follow=True):
        got[chunk.replica] += chunk.text
    assert time.monotonic() - t < 5
    assert got == {"master-0": expected("m"), "worker-0": expected("w", 2)}
    assert finished(runtime.status(key))


def test_follow_returns_soon_after_stop_is_set(runtime: LocalRuntime, new_key: NewKey) -> None:
    key = new_key("stop")
    runtime.launch(key, [spec("Worker", 0, py("import time; print('up'); time.sleep(300)"))])
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t = time.monotonic()
    texts = [c.text for c in runtime.read_logs(key, follow=True, stop=stop)]
    assert texts == ["up\n"]
    assert time.monotonic() - t < 0.3 + 0.25


def test_an_unfinished_line_is_held_back_until_its_end_and_sent_when_the_job_ends(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("partial")
    code = (
        "import sys, time\n"
        "sys.stdout.write('abc'); sys.stdout.flush(); time.sleep(0.3)\n"
        "sys.stdout.write('def\\n'); sys.stdout.write('no newline at the end')"
    )
    runtime.launch(key, [spec("Worker", 0, py(code))])
    texts = [c.text for c in runtime.read_logs(key, "worker-0", follow=True)]
    assert texts == ["abcdef\n", "no newline at the end"]


def test_tail_lines_starts_each_replica_near_its_end(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    key = new_key("tail")
    runtime.launch(
        key,
        [
            spec("Master", 0, py("for i in range(100): print('m', i)")),
            spec("Worker", 0, py("for i in range(100): print('w', i)")),
        ],
    )
    wait_for(lambda: finished(runtime.status(key)))
    chunks = list(runtime.read_logs(key, tail_lines=2))
    assert [(c.replica, c.text) for c in chunks] == [
        ("master-0", "m 98\nm 99\n"),
        ("worker-0", "w 98\nw 99\n"),
    ]
    assert list(runtime.read_logs(key, since=chunks[-1].cursor, tail_lines=2)) == []


def test_a_cursor_not_issued_by_the_runtime_is_rejected(
    runtime: LocalRuntime, new_key: NewKey
) -> None:
    with pytest.raises(ValueError, match="since: not a log cursor"):
        runtime.read_logs(new_key("x"), since="garbage")
    with pytest.raises(ValueError, match="replica: must look like"):
        runtime.read_logs(new_key("x"), "../../etc/passwd")


def test_tail_helpers_count_lines_and_show_progress_bars_as_a_terminal_would(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\nb\nc\n")
    assert tail_offset(path, 2) == 2 and tail_offset(path, 10) == 0 and tail_offset(path, 0) == 6
    path.write_bytes(b"a\nb\nc")
    assert tail_offset(path, 2) == 2
    path.write_bytes(b"epoch 1\n 10%\r 50%\r100%\r\ndone\n")
    assert last_lines(path, 2) == ["100%", "done"]
    assert utf8_safe_end("é".encode()[:1]) == 0 and utf8_safe_end("aé".encode()) == 3
