"""Addresses end to end: the manager with the IPPool and App controllers (real etcd, sim).

Wired as ``dcos-controller run --mesos`` wires them (``new_framework`` with
``EtcdIpam`` and the IPPool informer): the IPPool controller claims a block
for each selected Host, the App's instances get addresses from their host's
block, and deleting the App releases every address before it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from ipaddress import IPv4Address
from typing import Any

import pytest

from adapters.etcd import EtcdStore
from adapters.etcd.ipam import EtcdIpam
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.errors import NotFound
from crds.host import Host
from crds.ippool import IPPool
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings
from reconciler.apps import InstanceState
from reconciler.controllers import ippool
from reconciler.controllers.app import new_framework, register
from reconciler.framework import FrameworkSettings, MesosFramework
from reconciler.runtime import Manager, ManagerSettings

TIMEOUT = 15.0
HOSTS = ("node-1", "node-2")
KEY = ObjectKey("App", "shop", "web")


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=tuple(AgentSpec(hostname=h, cpus=4, mem=4096, ports="31000-31019") for h in HOSTS),
        heartbeat_interval=0.3,
        allocation_interval=0.05,
        allocation_batch=0.005,
        status_update_retry=0.2,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.05),
    )
    async with LocalMaster(settings) as started:
        yield started


async def until(check: Callable[[], Any], changed: asyncio.Event) -> None:
    """Until ``await check()`` is truthy: re-checked on every record change, or 50 ms."""
    async with asyncio.timeout(TIMEOUT):
        while not await check():
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await changed.wait()


@contextlib.asynccontextmanager
async def manager_running(
    local: LocalMaster, store: EtcdStore, changed: asyncio.Event
) -> AsyncIterator[MesosFramework]:
    mesos = MesosSettings(
        masters=(local.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
    )
    async with MesosSchedulerClient(mesos) as client:
        manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
        ippool.register(manager, ipam=EtcdIpam(store))
        fw = new_framework(
            manager,
            mesos=client,
            codec=MesosWireCodec(),
            store=store,
            settings=FrameworkSettings(
                offer_hold_seconds=0.3, refuse_seconds=0.1, ipam_refresh_seconds=0.2
            ),
            ipam=EtcdIpam(store),
        )
        register(manager, framework=fw)
        fw.records.add_listener(lambda domain, app: changed.set())
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop), name="test:manager")
        try:
            yield fw
        finally:
            stop.set()
            async with asyncio.timeout(TIMEOUT):
                await task


async def seed(store: EtcdStore) -> None:
    domain = {"sharedPool": {"borrow": "WhenExhausted"}}
    await store.create(Domain.model_validate({"metadata": {"name": "shop"}, "spec": domain}))
    for name in HOSTS:
        spec = {"address": "127.0.0.1", "resources": {"cpus": 4, "mem": 4096}}
        labels = {"net": "vlan20"}
        await store.create(
            Host.model_validate({"metadata": {"name": name, "labels": labels}, "spec": spec})
        )
    pool = {
        "vlan": 20,
        "cidr": "10.20.0.0/24",
        "gateway": "10.20.0.1",
        "hostSelector": {"matchLabels": {"net": "vlan20"}},
    }
    await store.create(IPPool.model_validate({"metadata": {"name": "vlan20"}, "spec": pool}))
    body = {
        "image": "busybox:1",
        "cpus": 0.5,
        "mem": 64,
        "instances": 4,
        "ipPool": "vlan20",
        "backoff": {"backoffSeconds": 0.05, "maxLaunchDelaySeconds": 0.5},
    }
    await store.create(
        App.model_validate({"metadata": {"name": "web", "domain": "shop"}, "spec": body})
    )


async def test_instances_take_addresses_of_their_hosts_blocks_and_deletion_frees_them(
    local: LocalMaster, store: EtcdStore
) -> None:
    await seed(store)
    ipam = EtcdIpam(store)
    changed = asyncio.Event()  # set on every record change
    async with manager_running(local, store, changed) as fw:

        async def all_running() -> bool:
            found = fw.instances("shop", "web")
            return len(found) == 4 and all(i.state is InstanceState.RUNNING for i in found)

        await until(all_running, changed)
        allocations = await ipam.list_allocations("vlan20")
        blocks = {b.host: b.cidr for b in allocations.blocks}
        assert set(blocks) == set(HOSTS)
        instances = fw.instances("shop", "web")
        assert len({i.ip for i in instances}) == 4
        for inst in instances:
            assert inst.hostname is not None and inst.ip is not None
            assert IPv4Address(inst.ip) in blocks[inst.hostname]
        held = {a.owner: str(a.ip) for a in allocations.ips if a.held}
        assert held == {i.instance_id: i.ip for i in instances}

        await store.delete(KEY)

        async def gone() -> bool:
            try:
                await store.get(KEY)
            except NotFound:
                return True
            return False

        async def all_released() -> bool:
            listed = await ipam.list_allocations("vlan20")
            return len(listed.ips) == 4 and not any(a.held for a in listed.ips)

        await until(gone, changed)
        await until(all_released, changed)
