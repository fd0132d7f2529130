"""Replication of 20 tags from one registry replica to two others: MB/s and wall time.

Three real ``docker-registry`` processes on 127.0.0.1 (filesystem storage in
temp dirs). ``IMAGES`` schema2 images (``LAYERS`` incompressible layers of
``LAYER_BYTES`` each, plus a config blob) are pushed to the first over the API;
then one ``sync_replicas`` copies them to the two others (each blob streamed
once per destination, in 4 MB chunks). The clock runs around the sync only.
MB/s counts the bytes written to the destinations.

A second sync right after measures the cost of a sync with nothing to copy
(one catalog, tag list and manifest HEAD per tag on each replica).
"""

from __future__ import annotations

import asyncio
import time

from adapters.registry import RegistryClient
from bench.common import Figure
from localcluster.registry import RegistryServer, push_synthetic
from reconciler.registry import sync_replicas

IMAGES = 20
LAYERS = 2
LAYER_BYTES = 1536 * 1024  # 20 images x 3 MB


async def _measure(urls: list[str]) -> list[Figure]:
    clients = [RegistryClient(url) for url in urls]
    try:
        for n in range(IMAGES):
            await push_synthetic(
                clients[0],
                f"bench/app{n % 4}",
                f"v{n}",
                seed=f"img{n}",
                layer_sizes=(LAYER_BYTES,) * LAYERS,
            )
        started = time.perf_counter()
        report = await sync_replicas(clients, ["bench/*"])
        wall = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError(f"sync failed: {report}")
        started = time.perf_counter()
        await sync_replicas(clients, ["bench/*"])
        idle = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    megabytes = report.bytes_copied / 1e6
    return [
        Figure(f"registry sync: {IMAGES} tags to 2 replicas, wall", wall * 1000, "ms"),
        Figure("registry sync: bytes copied", megabytes, "MB"),
        Figure("registry sync: throughput", megabytes / wall, "MB/s"),
        Figure("registry sync: idle sync (nothing to copy)", idle * 1000, "ms"),
    ]


def run() -> list[Figure]:
    servers = [RegistryServer() for _ in range(3)]
    try:
        for server in servers:
            server.start()
        return asyncio.run(_measure([server.url for server in servers]))
    finally:
        for server in servers:
            server.close()
