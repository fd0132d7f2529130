"""The IPPool controller on a running Manager: a Host relabelled into the pool gets a block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.etcd import EtcdStore
from adapters.etcd.ipam import EtcdIpam
from adapters.protocols import ObjectKey
from crds.host import Host
from crds.ippool import IPPool
from reconciler.controllers import ippool
from reconciler.runtime import Manager, ManagerSettings
from tests.reconciler.controllers.test_controller_ippool import host, pool

TIMEOUT = 10.0
POLL = 0.02


@pytest.fixture
async def running(store: EtcdStore) -> AsyncIterator[EtcdStore]:
    manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
    ippool.register(manager, ipam=EtcdIpam(store))
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop), name="test:manager")
    try:
        yield store
    finally:
        stop.set()
        async with asyncio.timeout(TIMEOUT):
            await task


async def blocks_of(store: EtcdStore, want: list[str]) -> IPPool:
    """The pool once its status lists exactly ``want`` as hosts holding blocks."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            got = await store.get(ObjectKey("IPPool", None, "v110"))
            if isinstance(got, IPPool) and [h.host for h in (got.status.hosts or [])] == want:
                return got
            await asyncio.sleep(POLL)


async def test_a_relabelled_host_gets_a_block(running: EtcdStore) -> None:
    store = running
    await store.create(pool())
    await store.create(host("a"))
    await store.create(host("b", vlan="120"))
    first = await blocks_of(store, ["a"])
    assert first.status.allocated_blocks == 1
    b = await store.get(ObjectKey("Host", None, "b"))
    assert isinstance(b, Host)
    meta = b.metadata.model_copy(update={"labels": {"vlan": "110"}})
    await store.update(b.model_copy(update={"metadata": meta}))
    second = await blocks_of(store, ["a", "b"])
    assert second.status.allocated_blocks == 2
    assert (second.status.hosts or [])[0].blocks != (second.status.hosts or [])[1].blocks
