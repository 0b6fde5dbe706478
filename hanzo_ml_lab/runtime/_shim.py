"""The shim each local replica runs under, so its exit code outlives the control plane.

Only a parent can ``waitpid`` a process, and the control plane that started a replica may be
gone (SIGKILLed, restarted) by the time it ends. So every replica is ``/bin/sh`` running this
script, which runs the real command as a foreground child and then writes its exit status to a
file, atomically (a temporary file renamed over the target). Whoever asks later reads the file.

Why it is written the way it is:

- The command arrives as ``"$@"``: user arguments are never pasted into shell code.
- ``trap 't=143' TERM`` (a handler, not ``trap '' TERM``): a handled signal is reset to its
  default in the child, while an ignored one would be inherited as ignored. When the process
  group gets SIGTERM the child gets it directly and dies (143, or whatever it chooses); the
  shim's handler runs only after the child has exited, and the shim goes on to record the
  status. A signal that arrives before the command started skips it (status 128+N).
- One window stays open: a signal that lands while the shell's child is between ``fork`` and
  ``exec`` is taken by the shell's handler and never reaches the command. The runtime closes it
  by sending SIGTERM a second time to replicas that were very young when terminated.
- After recording, the shim sends SIGTERM to what is left of its group (say, a daemon the
  command left behind), as a container runtime does when the main process exits.
- A shim that is SIGKILLed records nothing; the runtime then reports the replica as lost.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHIM_ARGV0", "SHIM_SCRIPT", "read_exit_file", "shim_argv", "write_exit_file"]

SHIM_ARGV0 = "hanzo-ml-replica"

SHIM_SCRIPT = """\
f=$1; shift
t=
trap 't=129' HUP
trap 't=130' INT
trap 't=143' TERM
if [ -z "$t" ]; then "$@"; c=$?; else c=$t; fi
printf '%s\\n' "$c" >"$f.tmp" 2>/dev/null && command -p mv -f "$f.tmp" "$f" 2>/dev/null
trap '' HUP INT TERM
kill -TERM 0 2>/dev/null
exit "$c"
"""


def shim_argv(exit_file: Path, command: list[str]) -> list[str]:
    """The argv that runs ``command`` under the shim, recording its status in ``exit_file``."""
    return ["/bin/sh", "-c", SHIM_SCRIPT, SHIM_ARGV0, str(exit_file), *command]


def read_exit_file(path: Path) -> tuple[int | None, str, float] | None:
    """(exit code or None if unknown, message, mtime) from an exit file, or None if there is no
    complete one yet.

    The shim writes ``"<code>\\n"``; the runtime writes ``"<code or -> <message>\\n"`` for
    replicas whose end it observed another way (SIGKILL, lost). A file without its final
    newline is still being written and does not count.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(4096)
            mtime = os.fstat(f.fileno()).st_mtime
    except OSError:
        return None
    if not raw.endswith(b"\n"):
        return None
    code_text, _, message = raw.decode("utf-8", "replace").strip().partition(" ")
    try:
        code: int | None = int(code_text)
    except ValueError:
        code = None
    return code, message, mtime


def write_exit_file(path: Path, exit_code: int | None, message: str) -> None:
    """Record how a replica ended when the shim could not (atomically, never overwriting)."""
    if path.exists():
        return
    line = f"{'-' if exit_code is None else exit_code} {message}".strip().replace("\n", " ")
    tmp = path.with_name(path.name + ".rt.tmp")
    tmp.write_text(line + "\n")
    os.replace(tmp, path)
