"""Informer fan-out: how many changes per second a watch sees.

One writer commits status updates to 1,000 Apps in batches while four
watchers follow the same prefix; the figure is changes seen per second per
watcher, from the first write to the last event delivered.
"""

from __future__ import annotations

import asyncio
import time

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdSettings, open_store
from adapters.protocols import Create, Update
from bench.common import Figure, app_doc, domain_doc, etcd
from crds.registry import parse_object

APPS = 1000
ROUNDS = 5
WATCHERS = 4


async def _measure(endpoint: str) -> tuple[float, float]:
    settings = EtcdSettings(endpoints=(endpoint,), prefix="/bench")
    async with open_store(settings) as store:
        ops = [Create(parse_object(domain_doc("bench")))]
        ops += [Create(parse_object(app_doc(f"app-{i:04d}", "bench"))) for i in range(APPS)]
        created = [obj for obj in await store.commit(ops) if obj is not None]
        start_rev = await store.revision()
        expected = APPS * ROUNDS
        done = [asyncio.Event() for _ in range(WATCHERS)]
        finished_at = [0.0] * WATCHERS

        async def watch(i: int) -> None:
            seen = 0
            async for _event in store.watch("App", revision=start_rev):
                seen += 1
                if seen >= expected:
                    finished_at[i] = time.perf_counter()
                    done[i].set()
                    return

        async with asyncio.TaskGroup() as tg:
            for i in range(WATCHERS):
                tg.create_task(watch(i), name=f"bench-watch:{i}")
            await asyncio.sleep(0)
            started = time.perf_counter()
            apps = [obj for obj in created if obj.kind == "App"]
            for round_ in range(ROUNDS):
                updated = []
                for app in apps:
                    labels = {**app.metadata.labels, "round": str(round_)}
                    meta = app.metadata.model_copy(update={"labels": labels})
                    updated.append(Update(app.model_copy(update={"metadata": meta})))
                apps = [obj for obj in await store.commit(updated) if obj is not None]
            write_done = time.perf_counter()
            async with asyncio.timeout(120):
                for event in done:
                    await event.wait()
    slowest = max(finished_at) - started
    return expected / slowest, expected / (write_done - started)


def run() -> list[Figure]:
    with etcd() as server:
        seen, written = asyncio.run(_measure(server.endpoint))
    return [
        Figure(f"informer: changes/s written (batches of {APPS})", written, "changes/s"),
        Figure(f"informer: changes/s seen by each of {WATCHERS} watches", seen, "changes/s"),
    ]
