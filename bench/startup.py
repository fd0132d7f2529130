"""``dcosctl --help`` start-up: wall time of the whole process, median of 10."""

from __future__ import annotations

import statistics
import subprocess
import time

from bench.common import DCOSCTL, Figure


def _once() -> float:
    started = time.perf_counter()
    subprocess.run([DCOSCTL, "--help"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run() -> list[Figure]:
    _once()  # warm the page cache
    runs = [_once() for _ in range(10)]
    return [
        Figure(
            "dcosctl --help start-up (median of 10)", statistics.median(runs) * 1000, "ms", "<= 300"
        )
    ]
