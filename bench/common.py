"""Shared pieces of the benchmarks: a figure, a private etcd, the dcosctl binary."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.etcd import EtcdServer

DCOSCTL = str(Path(sys.executable).parent / "dcosctl")


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""

    def render(self) -> str:
        return f"{self.name:<52} {self.value:>12,.1f} {self.unit:<10} {self.target}"


@contextmanager
def etcd() -> Iterator[EtcdServer]:
    """A private etcd with room for large transactions."""
    with EtcdServer(extra_args=("--quota-backend-bytes", str(4 * 1024**3))) as server:
        yield server


def dcosctl(endpoint: str, prefix: str, *args: str) -> float:
    """Run dcosctl against ``endpoint``; return its wall time in seconds."""
    started = time.perf_counter()
    proc = subprocess.run(
        [DCOSCTL, "--etcd", endpoint, "--prefix", prefix, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"dcosctl {' '.join(args)} failed: {proc.stderr.strip()}")
    return took


def domain_doc(name: str) -> dict[str, Any]:
    return {"apiVersion": "dcos/v1", "kind": "Domain", "metadata": {"name": name}, "spec": {}}


def app_doc(name: str, domain: str, *, instances: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "dcos/v1",
        "kind": "App",
        "metadata": {"name": name, "domain": domain, "labels": {"tier": "web"}},
        "spec": {
            "image": "registry.local:5000/shop/web:1.0",
            "instances": instances,
            "cpus": 0.5,
            "mem": 256,
        },
    }
