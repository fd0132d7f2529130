"""``dcosctl --help`` stays fast: the heavy modules load only inside commands."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("pydantic", "yaml", "rich", "aetcd", "grpc", "reconciler", "adapters", "asyncio")


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = "import sys, cli.main; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_help_is_fast_and_lists_every_command() -> None:
    script = Path(sys.executable).parent / "dcosctl"
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(
            [str(script), "--help"], capture_output=True, text=True, check=True, timeout=60
        )
        best = min(best, time.perf_counter() - started)
    for command in ("apply", "diff", "get", "describe", "delete", "explain", "events", "version"):
        assert f"  {command} " in done.stdout
    assert best < 0.6, f"dcosctl --help took {best:.3f}s"


def test_no_arguments_prints_help() -> None:
    script = Path(sys.executable).parent / "dcosctl"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=60)
    assert "Usage: dcosctl" in done.stdout + done.stderr
