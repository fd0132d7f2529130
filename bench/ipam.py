"""IPAM throughput: IP allocations per second, three allocator processes, one etcd.

Three processes (``python -m bench.ipam --worker``), as three controllers
would be, each allocate ``PER_WORKER`` addresses of one pool (a /16 in /28
blocks) for their own instances on ``HOSTS`` hosts shared by all three, so
they race for the same blocks and the same addresses. Each connects, says
``ready``, and starts when the benchmark writes ``go`` to all of them; the
figure is every allocation over the wall time from ``go`` to the last worker
done. Every allocation is a listing of the pool and at least one
create-if-absent transaction (:mod:`adapters.etcd.ipam`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from adapters.etcd import EtcdIpam, EtcdSettings, open_store
from bench.common import Figure, etcd
from crds.ippool import IPPoolSpec
from reconciler.ipam import Ipam

WORKERS = 3
PER_WORKER = 400
HOSTS = 120
PREFIX = "/bench-ipam"
SPEC = IPPoolSpec.model_validate(
    {"vlan": 20, "cidr": "10.20.0.0/16", "gateway": "10.20.0.1", "blockSize": 28}
)


async def _worker(endpoint: str, worker: int) -> None:
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=PREFIX)) as store:
        ipam = Ipam(EtcdIpam(store))
        await ipam.claim_block(pool="bench", spec=SPEC, host=f"h{worker}")  # connected
        print("ready", flush=True)
        sys.stdin.readline()
        for n in range(PER_WORKER):
            host = f"h{(n * WORKERS + worker) % HOSTS}"
            await ipam.allocate_ip(pool="bench", spec=SPEC, host=host, owner=f"w{worker}-{n}")
    print(json.dumps({"done": time.time()}), flush=True)


def run() -> list[Figure]:
    with etcd() as server:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.ipam", "--worker", server.endpoint, str(w)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for w in range(WORKERS)
        ]
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("an allocator did not start")
        started = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        done = []
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"an allocator failed (exit {proc.returncode})")
            done.append(json.loads(out)["done"])
    took = max(done) - started
    return [
        Figure(
            "IPAM allocations, 3 concurrent allocators",
            WORKERS * PER_WORKER / took,
            "IPs/s",
        )
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        asyncio.run(_worker(sys.argv[2], int(sys.argv[3])))
    else:
        for figure in run():
            print(figure.render())
