"""Detached processes of the local data center: start, wait until ready, stop.

``dcosctl up`` leaves etcd, the Mesos master and the controller replicas
running after it exits, so each is spawned in its own session with its
output in a log file, and found again later by the pid ``up`` wrote down.
Before signalling a pid, callers check its command line (``cmdline``), so a
recycled pid of another program is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["alive", "cmdline", "spawn_detached", "tail", "terminate", "wait_ready"]

POLL = 0.1
"""Seconds between two looks at a condition that has a deadline."""


def alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it when it is our exited child. A zombie
    (exited, not yet reaped by its parent or init) does not run."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cmdline(pid: int) -> list[bytes]:
    """The process's arguments; empty when it does not exist."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def spawn_detached(argv: list[str], log_file: Path) -> int:
    """``argv`` in its own session, stdin from /dev/null, stdout and stderr to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # posix_spawn: no Popen object is left to warn that its child still runs.
    return os.posix_spawn(
        argv[0],
        argv,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def wait_ready(
    pid: int, ready: Callable[[], bool], *, what: str, log_file: Path, timeout: float
) -> None:
    """Return once ``ready()``; RuntimeError with the log's tail when the process
    exits first or ``timeout`` passes (the process is then stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError(f"{what} exited at start:\n{tail(log_file)}")
        if ready():
            return
        time.sleep(POLL)
    terminate([pid], timeout=10.0)
    raise RuntimeError(f"{what} did not answer in {timeout:g} s:\n{tail(log_file)}")


def terminate(pids: Iterable[int], *, timeout: float) -> list[int]:
    """SIGTERM to all, then SIGKILL to those left after ``timeout``; the pids gone."""
    pids = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(POLL)
        if not any(alive(pid) for pid in pids):
            break
    return [pid for pid in pids if not alive(pid)]


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
