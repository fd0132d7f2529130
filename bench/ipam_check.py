"""``dcosctl ipam check`` over 10,000 allocations: wall time of the whole command.

One IPPool (a /16 in /28 blocks), 10,000 addresses held on 715 hosts, one
instance record per address, written in the keys and JSON of
:class:`adapters.etcd.ipam.EtcdIpam` and :class:`reconciler.apps.records.InstanceRecords`
(in large batches, so the setup does not take 10,000 transactions). No Host
has an engine: the figure is etcd and the comparison, not Docker.

Two figures: a clean check (every owner has a live instance: one sighting),
and ``--repair --grace 0`` after 100 instances ended (three sightings, then
100 releases).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from datetime import UTC, datetime

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdSettings, open_store
from adapters.protocols import Create
from bench.common import Figure, dcosctl, etcd
from crds.ippool import IPPoolSpec
from crds.registry import parse_object
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.records import instance_path
from reconciler.ipam import carve, usable_addresses

COUNT = 10_000
LEAKED = 100
PREFIX = "/bench-ipam-check"
POOL = {"vlan": 20, "cidr": "10.20.0.0/16", "gateway": "10.20.0.1", "blockSize": 28}


def _instance(n: int, ip: str, host: str, state: InstanceState) -> Instance:
    return Instance(
        instance_id=f"d.app{n % 100}.v1.{n:08x}",
        domain="d",
        app=f"app{n % 100}",
        version="v1",
        state=state,
        hostname=host,
        ip=ip,
        launched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def _fill(endpoint: str) -> list[Instance]:
    spec = IPPoolSpec.model_validate(POOL)
    doc = {"apiVersion": "dcos/v1", "kind": "IPPool", "metadata": {"name": "p"}, "spec": POOL}
    puts: dict[str, bytes] = {}
    made: list[Instance] = []
    for b, block in enumerate(carve(spec)):
        host = f"h{b:04d}"
        usable = usable_addresses(spec, block)[: COUNT - len(made)]
        if not usable:
            break
        puts[f"ipam/blocks/p/{block}"] = json.dumps({"host": host}).encode()
        puts[f"ipam/hosts/p/{host}"] = json.dumps({"cidr": str(block)}).encode()
        for ip in usable:
            inst = _instance(len(made), str(ip), host, InstanceState.RUNNING)
            made.append(inst)
            record = {"host": host, "owner": inst.instance_id, "releasedAt": None}
            puts[f"ipam/ips/p/{ip}"] = json.dumps(record).encode()
            puts[f"ipam/owners/p/{inst.instance_id}"] = json.dumps({"ip": str(ip)}).encode()
            puts[instance_path(inst)] = inst.to_json().encode()
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=PREFIX)) as store:
        await store.commit([Create(parse_object(doc))])
        await store.commit_raw(puts)
    return made


async def _end(endpoint: str, instances: list[Instance]) -> None:
    ended = {
        instance_path(i): i.model_copy(update={"state": InstanceState.KILLED}).to_json().encode()
        for i in instances
    }
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=PREFIX)) as store:
        await store.commit_raw(ended)


def run() -> list[Figure]:
    with etcd() as server:
        made = asyncio.run(_fill(server.endpoint))
        clean = [dcosctl(server.endpoint, PREFIX, "ipam", "check") for _ in range(3)]
        asyncio.run(_end(server.endpoint, made[:: COUNT // LEAKED]))
        repair = dcosctl(server.endpoint, PREFIX, "ipam", "check", "--grace", "0", "--repair")
    return [
        Figure(
            "ipam check, 10,000 allocations, clean (median of 3)",
            statistics.median(clean) * 1000,
            "ms",
        ),
        Figure("ipam check --repair --grace 0, 10,000, 100 leaked", repair * 1000, "ms"),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.render())
