"""``dcosctl sync`` of a folder of 200 Apps, through the dcosctl binary.

Figures: a first sync and an unchanged one (wall time, start-up included),
and with ``sync --watch`` running on the folder, the latency from writing one
file to the etcd put of its object, seen by an etcd watch (median and worst of
20 writes), and from a write behind the folder's back to the put that
``--self-heal`` makes.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.protocols import ObjectKey
from bench.common import DCOSCTL, Figure, app_doc, dcosctl, domain_doc, etcd, stop
from crds.app import App

COUNT = 200
WRITES = 20
PREFIX = "/bench"
TIMEOUT = 30.0


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, etcd() as server:
        folder = Path(tmp) / "specs"
        folder.mkdir()
        (folder / "domain.yaml").write_text(json.dumps(domain_doc("bench")))
        for i in range(COUNT):
            (folder / f"app-{i:03d}.yaml").write_text(json.dumps(app_doc(f"app-{i:03d}", "bench")))
        first = dcosctl(server.endpoint, PREFIX, "sync", str(folder))
        again = dcosctl(server.endpoint, PREFIX, "sync", str(folder))
        argv = [DCOSCTL, "--etcd", server.endpoint, "--prefix", PREFIX, "sync", str(folder)]
        watcher = subprocess.Popen(
            [*argv, "--watch", "--self-heal", "--interval", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            _first_pass(watcher)
            writes, heals = asyncio.run(_latencies(server.endpoint, folder))
        finally:
            stop(watcher)
    ms = 1000.0
    return [
        Figure(f"sync {COUNT} Apps from a folder (first)", first * ms, "ms", ""),
        Figure(f"sync {COUNT} Apps from a folder (unchanged)", again * ms, "ms", ""),
        Figure(
            "sync --watch: file write to etcd put (median)",
            statistics.median(writes) * ms,
            "ms",
            "< 1,000",
        ),
        Figure("sync --watch: file write to etcd put (worst)", max(writes) * ms, "ms", "< 1,000"),
        Figure(
            "sync --watch --self-heal: drift to put back (median)",
            statistics.median(heals) * ms,
            "ms",
            "< 1,000",
        ),
    ]


def _first_pass(watcher: subprocess.Popen[str]) -> None:
    """Until the watcher printed its first pass (its summary line): no write waits
    for its start-up."""
    out = watcher.stdout
    assert out is not None
    for line in out:
        if "(etcd revision" in line:
            # the rest is drained, so the watcher never blocks on a full pipe
            threading.Thread(target=out.read, daemon=True).start()
            return
    raise RuntimeError(f"dcosctl sync --watch exited with {watcher.wait()}")


async def _latencies(endpoint: str, folder: Path) -> tuple[list[float], list[float]]:
    settings = EtcdSettings(endpoints=(endpoint,), prefix=PREFIX)
    async with open_store(settings) as store:
        writes: list[float] = []
        heals: list[float] = []
        for i in range(WRITES):
            name = f"app-{i:03d}"
            doc = app_doc(name, "bench", instances=3 + i)
            started = time.monotonic()
            await asyncio.to_thread((folder / f"{name}.yaml").write_text, json.dumps(doc))
            await _put(store, name, 3 + i)
            writes.append(time.monotonic() - started)
        for i in range(WRITES // 2):
            name = f"app-{i:03d}"
            app = await store.get(ObjectKey("App", "bench", name))
            assert isinstance(app, App)
            drifted = app.model_copy(update={"spec": app.spec.model_copy(update={"instances": 99})})
            started = time.monotonic()
            await store.update(drifted)
            await _put(store, name, 3 + i)
            heals.append(time.monotonic() - started)
    return writes, heals


async def _put(store: EtcdStore, name: str, instances: int) -> None:
    """Until the App has ``instances``, followed with an etcd watch (no polling delay)."""
    key = ObjectKey("App", "bench", name)
    revision = await store.revision()
    app = await store.get(key)
    if isinstance(app, App) and app.spec.instances == instances:
        return
    events = store.watch("App", domain="bench", revision=revision)
    try:
        async with asyncio.timeout(TIMEOUT):
            async for event in events:
                obj = event.obj
                if isinstance(obj, App) and (ObjectKey.of(obj), obj.spec.instances) == (
                    key,
                    instances,
                ):
                    return
    finally:
        await events.aclose()
