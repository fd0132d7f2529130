"""get -w: the list, then one line per change, until Ctrl-C (exit 0)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Cli = Callable[..., Result]


def _lines(stream: subprocess.Popen[str]) -> queue.Queue[str]:
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert stream.stdout is not None
        for line in stream.stdout:
            found.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return found


def _next(lines: queue.Queue[str], startswith: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line.startswith(startswith):
            return line


def test_watch_prints_changes_until_interrupted(
    dcosctl: Cli, applied: Path, etcd_endpoint: str, prefix: str, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "dcosctl"
    watcher = subprocess.Popen(
        [str(script), "--etcd", etcd_endpoint, "--prefix", prefix, "get", "apps", "-A", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)},
    )
    try:
        lines = _lines(watcher)
        header = _next(lines, "EVENT")
        assert header.split()[:3] == ["EVENT", "DOMAIN", "NAME"]
        assert _next(lines, "ADDED").split()[1:3] == ["checkout", "cart"]
        time.sleep(0.5)  # the watch is set up right after the list is printed
        applied.write_text(applied.read_text().replace("instances: 6", "instances: 9"))
        assert dcosctl("apply", "-f", str(applied)).exit_code == 0
        modified = _next(lines, "MODIFIED")
        assert modified.split()[1:4] == ["checkout", "cart", "9"]
        assert dcosctl("delete", "app", "indexer", "-d", "search").exit_code == 0
        assert _next(lines, "DELETED").split()[1:3] == ["search", "indexer"]
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=20)
        assert watcher.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
