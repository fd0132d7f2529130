"""The IPPool reconcile on real etcd: blocks per selected host, status, refusal to strand.

The reconciler reads pools and hosts from small in-memory caches standing in
for the informers; the objects, the status writes and the IPAM records are
in the test's etcd prefix.
"""

from __future__ import annotations

import builtins
from ipaddress import IPv4Network
from typing import Any

import pytest

from adapters.etcd import EtcdStore
from adapters.etcd.ipam import EtcdIpam
from adapters.etcd.leader import EtcdLeaderElector, FencedStore
from adapters.protocols import ObjectKey
from crds.errors import NotLeader
from crds.host import Host
from crds.ippool import IPPool
from crds.meta import ConditionStatus, Resource
from reconciler.controllers.ippool import IPPoolReconciler, stranded
from reconciler.ipam import Ipam
from reconciler.runtime import Recorder, Request


class Cache:
    """The two informer methods the reconciler uses, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[ObjectKey, Resource] = {}

    def put(self, obj: Resource) -> None:
        self.objects[ObjectKey.of(obj)] = obj

    def get(self, key: ObjectKey) -> Resource | None:
        return self.objects.get(key)

    def list(self, domain: str | None = None) -> builtins.list[Resource]:
        return list(self.objects.values())


def pool(name: str = "v110", **spec: Any) -> IPPool:
    return IPPool.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "vlan": 110,
                "cidr": "10.110.0.0/26",
                "gateway": "10.110.0.1",
                "hostSelector": {"matchLabels": {"vlan": "110"}},
                **spec,
            },
        }
    )


def host(name: str, *, vlan: str = "110", lifecycle: str = "Active") -> Host:
    return Host.model_validate(
        {
            "metadata": {"name": name, "labels": {"vlan": vlan}},
            "spec": {
                "lifecycle": lifecycle,
                "address": "10.10.1.11",
                "resources": {"cpus": 4, "mem": 4096},
            },
        }
    )


class Fixture:
    def __init__(self, store: EtcdStore, ipam_store: EtcdStore | None = None) -> None:
        self.store = store
        self.pools = Cache()
        self.hosts = Cache()
        self.ipam = EtcdIpam(ipam_store or store)
        self.recorder = Recorder(store, "ippool-controller")
        self.reconciler = IPPoolReconciler(
            store=ipam_store or store,
            ipam=self.ipam,
            pools=self.pools,  # type: ignore[arg-type]
            hosts=self.hosts,  # type: ignore[arg-type]
            recorder=self.recorder,
            now=lambda: 1000.0,
        )

    async def create(self, obj: Resource) -> Resource:
        created = await self.store.create(obj)
        (self.pools if isinstance(created, IPPool) else self.hosts).put(created)
        return created

    async def reconcile(self, name: str = "v110") -> IPPool:
        await self.reconciler.reconcile(Request("IPPool", None, name))
        await self.recorder.flush()
        got = await self.store.get(ObjectKey("IPPool", None, name))
        assert isinstance(got, IPPool)
        self.pools.put(got)
        return got

    async def reasons(self) -> dict[str, int]:
        """How many times each reason was recorded about the pool."""
        counts: dict[str, int] = {}
        for e in await self.store.events(ObjectKey("IPPool", None, "v110")):
            counts[e.reason] = counts.get(e.reason, 0) + e.count
        return counts


def conditions(p: IPPool) -> dict[str, ConditionStatus]:
    return {c.type: c.status for c in p.status.conditions}


async def test_each_selected_host_gets_a_block_and_status_counts(store: EtcdStore) -> None:
    f = Fixture(store)
    await f.create(pool())
    for name in ("a", "b"):
        await f.create(host(name))
    await f.create(host("other", vlan="120"))
    await f.create(host("gone", lifecycle="Decommissioned"))
    p = await f.reconcile()
    assert p.status.total_blocks == 4
    assert p.status.allocated_blocks == 2
    assert p.status.allocated_ips == 0
    assert [h.host for h in (p.status.hosts or [])] == ["a", "b"]
    assert all(len(h.blocks) == 1 and h.used == 0 and h.free > 0 for h in (p.status.hosts or []))
    assert conditions(p) == {
        "Ready": ConditionStatus.TRUE,
        "Exhausted": ConditionStatus.FALSE,
        "StrandedAllocations": ConditionStatus.FALSE,
    }
    listed = await f.ipam.list_allocations("v110")
    assert sorted(b.host for b in listed.blocks) == ["a", "b"]
    assert await f.reasons() == {"BlockAllocated": 2}
    # an address taken by an instance shows up in the host's usage
    spec = p.spec
    await Ipam(f.ipam).allocate_ip(pool="v110", spec=spec, host="a", owner="shop.web.1")
    again = await f.reconcile()
    a = (again.status.hosts or [])[0]
    assert (a.host, a.used, again.status.allocated_ips) == ("a", 1, 1)
    assert a.free == (p.status.hosts or [])[0].free - 1
    assert 0 < a.utilisation < 1
    # nothing new: no new event
    assert await f.reasons() == {"BlockAllocated": 2}


async def test_a_full_pool_reports_exhausted_once(store: EtcdStore) -> None:
    f = Fixture(store)
    await f.create(pool(cidr="10.110.0.0/27"))  # two /28 blocks
    for name in ("a", "b", "c"):
        await f.create(host(name))
    p = await f.reconcile()
    assert p.status.allocated_blocks == 2
    states = conditions(p)
    assert states["Exhausted"] is ConditionStatus.TRUE
    assert states["Ready"] is ConditionStatus.FALSE
    exhausted = next(c for c in p.status.conditions if c.type == "Exhausted")
    assert "c" in exhausted.message
    await f.reconcile()
    assert (await f.reasons())["PoolExhausted"] == 1


async def test_a_stranding_spec_claims_nothing_and_says_why(store: EtcdStore) -> None:
    f = Fixture(store)
    await f.create(pool())
    await f.create(host("a"))
    p = await f.reconcile()
    block = (p.status.hosts or [])[0].blocks[0]
    # another client moved the pool's cidr away from the allocated block
    moved = p.model_copy(update={"spec": pool(cidr="10.111.0.0/26", gateway="10.111.0.1").spec})
    f.pools.put(await store.update(moved))
    await f.create(host("b"))
    p = await f.reconcile()
    assert conditions(p)["StrandedAllocations"] is ConditionStatus.TRUE
    assert conditions(p)["Ready"] is ConditionStatus.FALSE
    message = next(c.message for c in p.status.conditions if c.type == "StrandedAllocations")
    assert f"block {block} of host a is outside the new cidr 10.111.0.0/26" in message
    listed = await f.ipam.list_allocations("v110")
    assert [b.host for b in listed.blocks] == ["a"]
    assert "StrandedAllocations" in await f.reasons()


def test_stranded_sees_a_block_size_change_from_the_blocks() -> None:
    from adapters.protocols import BlockAllocation, PoolAllocations

    blocks = (BlockAllocation("v110", IPv4Network("10.110.0.16/28"), "a"),)
    allocations = PoolAllocations(blocks=blocks)
    assert stranded(pool().spec, allocations).ok
    check = stranded(pool(blockSize=27).spec, allocations)
    assert "would not be a block of /27" in check.message("v110")


async def test_a_replica_that_does_not_lead_claims_nothing(store: EtcdStore) -> None:
    a = EtcdLeaderElector(store, identity="a", ttl=5)
    f = Fixture(store, ipam_store=FencedStore(store, a))  # a never campaigned
    await f.create(pool())
    await f.create(host("a"))
    with pytest.raises(NotLeader):
        await f.reconcile()
    assert (await EtcdIpam(store).list_allocations("v110")).blocks == ()
