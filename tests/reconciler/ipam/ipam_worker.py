"""One allocator process of the multi-process IPAM test.

``python tests/reconciler/ipam/ipam_worker.py ENDPOINT PREFIX WORKER SEED OPS HOSTS``
allocates and releases addresses of pool ``p`` for random hosts, then prints
one JSON line: the addresses it still holds per owner, the shared owners'
addresses and how many requests found their host full.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from adapters.etcd import EtcdIpam, EtcdSettings, open_store
from crds.ippool import IPPoolSpec
from reconciler.ipam import Ipam, IpamExhausted

SPEC = IPPoolSpec.model_validate(
    {
        "vlan": 20,
        "cidr": "10.20.0.0/24",
        "gateway": "10.20.0.1",
        "blockSize": 28,
        "reserved": ["10.20.0.2-10.20.0.5", "10.20.0.100", "10.20.0.240-10.20.0.254"],
    }
)
SHARED = 4
"""Owners ``shared-<k>`` on host ``h<k>`` that every worker allocates: all must agree."""


async def work(endpoint: str, prefix: str, worker: int, seed: int, ops: int, hosts: int) -> None:
    rng = random.Random(seed * 1000 + worker)
    settings = EtcdSettings(endpoints=(endpoint,), prefix=prefix)
    async with open_store(settings) as store:
        ipam = Ipam(EtcdIpam(store), cooldown=0.0)  # reuse at once: the most contention
        held: dict[str, str] = {}
        full = 0
        shared = {}
        for k in range(SHARED):
            owner = f"shared-{k}"
            ip = await ipam.allocate_ip(pool="p", spec=SPEC, host=f"h{k}", owner=owner)
            shared[owner] = str(ip)
        for n in range(ops):
            if held and rng.random() < 0.4:
                owner = rng.choice(sorted(held))
                released = await ipam.release_ip(pool="p", owner=owner)
                assert str(released) == held.pop(owner), (owner, released)
                continue
            owner = f"w{worker}-{n}"
            try:
                ip = await ipam.allocate_ip(
                    pool="p", spec=SPEC, host=f"h{rng.randrange(hosts)}", owner=owner
                )
            except IpamExhausted:
                full += 1
                continue
            held[owner] = str(ip)
    print(json.dumps({"held": held, "shared": shared, "full": full}), flush=True)


if __name__ == "__main__":
    endpoint, prefix, *numbers = sys.argv[1:]
    worker, seed, ops, hosts = map(int, numbers)
    asyncio.run(work(endpoint, prefix, worker, seed, ops, hosts))
