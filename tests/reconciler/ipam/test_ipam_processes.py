"""Several allocator processes on one etcd: no address or block is ever given twice.

Each process (``ipam_worker.py``) allocates for its own owners on random
hosts, releases some at once (cooldown 0, so released addresses are fought
over), and allocates the same shared owners as every other process. Then
the records in etcd, and what each process believes it holds, must agree.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from adapters.etcd import EtcdIpam, EtcdStore
from adapters.etcd.client import prefix_end
from tests.reconciler.ipam.ipam_worker import SPEC

WORKER = Path(__file__).with_name("ipam_worker.py")
ROOT = Path(__file__).parents[3]
PROCESSES = 4
OPS = 80
HOSTS = 12


async def run_workers(endpoint: str, prefix: str, seed: int) -> list[dict[str, Any]]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            endpoint,
            prefix,
            *map(str, (worker, seed, OPS, HOSTS)),
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for worker in range(PROCESSES)
    ]
    results = []
    async with asyncio.timeout(25):
        for proc in procs:
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            results.append(json.loads(out))
    return results


async def index(store: EtcdStore, kind: str) -> dict[str, str]:
    start = store.keys.raw(f"ipam/{kind}/p") + b"/"
    kvs, _, _ = await store.client.range(start, prefix_end(start))
    return {kv.key[len(start) :].decode(): next(iter(json.loads(kv.value).values())) for kv in kvs}


async def test_concurrent_processes_never_give_an_address_or_block_twice(
    store: EtcdStore, etcd_endpoint: str
) -> None:
    seed = random.randrange(1_000_000)
    results = await run_workers(etcd_endpoint, store.settings.prefix, seed)
    allocations = await EtcdIpam(store).list_allocations("p")
    hosts, owners = await index(store, "hosts"), await index(store, "owners")
    # one block per host, one host per block, and the two records agree
    blocks = {b.cidr: b.host for b in allocations.blocks}
    assert len(set(hosts.values())) == len(hosts) == len(blocks), seed
    assert {IPv4Network(c): h for h, c in hosts.items()} == blocks, seed
    # one owner per address, the records and the owner index agree
    held = {a.ip: a for a in allocations.ips if a.held}
    assert len(set(owners.values())) == len(owners) == len(held), seed
    assert {IPv4Address(ip): o for o, ip in owners.items()} == {
        ip: a.owner for ip, a in held.items()
    }, seed
    forbidden = {SPEC.cidr.network_address, SPEC.cidr.broadcast_address, SPEC.gateway}
    for a in allocations.ips:
        assert a.ip not in forbidden and not SPEC.is_reserved(a.ip), (seed, a)
        assert a.ip in IPv4Network(hosts[a.host]), (seed, a)  # never leaves its host
    # what every process believes it holds is exactly what etcd says
    believed: dict[str, str] = {}
    for result in results:
        believed.update(result["held"])
        assert result["shared"] == results[0]["shared"], seed  # idempotent across processes
    believed.update(results[0]["shared"])
    assert believed == owners, seed
    assert len(set(believed.values())) == len(believed), seed
