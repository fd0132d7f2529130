"""Shared pieces of the benchmarks: a figure, a private etcd, the dcosctl binary, a
``dcos-controller`` process (started, waited for as leader, stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from localcluster.etcd import EtcdServer

DCOSCTL = str(Path(sys.executable).parent / "dcosctl")
CONTROLLER = str(Path(sys.executable).parent / "dcos-controller")


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


def start_controller(
    endpoint: str,
    prefix: str,
    mesos: str,
    metrics: str,
    log: Path,
    *,
    flags: Sequence[str] = (),
    wrapper: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """``dcos-controller run`` on ``endpoint``/``prefix`` and ``mesos``, writing to ``log``;
    ``flags`` are added (e.g. ``--id``), ``wrapper`` runs it under another command."""
    argv = [CONTROLLER, "run", "--etcd", endpoint, "--prefix", prefix, "--mesos", mesos]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*wrapper, *argv, "--metrics-addr", metrics, *flags], stdout=sink, stderr=sink
        )


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_leader(client: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    """Until the controller's ``/healthz`` (``client``'s base URL) says it leads."""
    async with asyncio.timeout(60):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dcos-controller exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                resp = await client.get("/healthz")
                if resp.status_code == 200 and resp.json().get("leader"):
                    return
            await asyncio.sleep(0.1)
