"""``dcosctl get apps -A`` over 10,000 objects: wall time of the whole command."""

from __future__ import annotations

import asyncio
import statistics

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdSettings, open_store
from adapters.protocols import Create
from bench.common import Figure, app_doc, dcosctl, domain_doc, etcd
from crds.registry import parse_object

COUNT = 10_000
DOMAINS = 10


async def _fill(endpoint: str) -> None:
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix="/bench")) as store:
        ops = [Create(parse_object(domain_doc(f"d{i}"))) for i in range(DOMAINS)]
        ops += [
            Create(parse_object(app_doc(f"app-{i:05d}", f"d{i % DOMAINS}"))) for i in range(COUNT)
        ]
        await store.commit(ops)


def run() -> list[Figure]:
    with etcd() as server:
        asyncio.run(_fill(server.endpoint))
        table = [dcosctl(server.endpoint, "/bench", "get", "apps", "-A") for _ in range(3)]
        as_json = [dcosctl(server.endpoint, "/bench", "get", "apps", "-A", "-o", "json")]
    return [
        Figure(
            "get apps -A, 10,000 objects, table (median of 3)",
            statistics.median(table) * 1000,
            "ms",
            "<= 1,000",
        ),
        Figure("get apps -A, 10,000 objects, -o json", as_json[0] * 1000, "ms", ""),
    ]
