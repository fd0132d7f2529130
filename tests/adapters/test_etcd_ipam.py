"""EtcdIpam and Ipam against a real etcd: claims, idempotence, cooldown, fencing."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network

import pytest

from adapters.etcd import EtcdIpam, EtcdStore
from adapters.etcd.client import DeleteKey
from adapters.etcd.leader import EtcdLeaderElector, FencedStore
from adapters.protocols import IpamStore, IpCandidate
from crds.errors import NotLeader
from crds.ippool import IPPoolSpec
from reconciler.ipam import Ipam, IpamExhausted, utilisation

SPEC = IPPoolSpec.model_validate(
    {
        "vlan": 20,
        "cidr": "10.20.0.0/26",
        "gateway": "10.20.0.1",
        "blockSize": 28,
        "reserved": ["10.20.0.2-10.20.0.3"],
    }
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_etcd_ipam_is_an_ipam_store(store: EtcdStore) -> None:
    as_protocol: IpamStore = EtcdIpam(store)  # checked by mypy
    assert as_protocol is not None


async def test_a_host_keeps_one_block_and_an_owner_one_address(store: EtcdStore) -> None:
    ipam = Ipam(EtcdIpam(store))
    block = await ipam.claim_block(pool="p", spec=SPEC, host="h1")
    assert block == IPv4Network("10.20.0.0/28")
    assert await ipam.claim_block(pool="p", spec=SPEC, host="h1") == block
    assert await ipam.claim_block(pool="p", spec=SPEC, host="h2") == IPv4Network("10.20.0.16/28")
    first = await ipam.allocate_ip(pool="p", spec=SPEC, host="h1", owner="web-1")
    assert first == IPv4Address("10.20.0.4")  # .0 network, .1 gateway, .2-.3 reserved
    assert await ipam.allocate_ip(pool="p", spec=SPEC, host="h1", owner="web-1") == first
    assert await ipam.allocate_ip(pool="p", spec=SPEC, host="h1", owner="web-2") != first


async def test_the_store_refuses_taken_candidates_and_returns_held_ones(store: EtcdStore) -> None:
    ipam = EtcdIpam(store)
    one, two = IPv4Network("10.20.0.0/28"), IPv4Network("10.20.0.16/28")
    assert await ipam.claim_block(pool="p", host="h1", candidates=[one]) == one
    assert await ipam.claim_block(pool="p", host="h2", candidates=[one]) is None
    assert await ipam.claim_block(pool="p", host="h2", candidates=[one, two]) == two
    assert await ipam.claim_block(pool="p", host="h1", candidates=[two]) == one
    a = IpCandidate(IPv4Address("10.20.0.5"))
    assert await ipam.allocate_ip(pool="p", host="h1", owner="x", candidates=[a]) == a.ip
    assert await ipam.allocate_ip(pool="p", host="h1", owner="y", candidates=[a]) is None
    assert await ipam.allocate_ip(pool="p", host="h1", owner="x", candidates=[]) is None
    listed = await ipam.list_allocations("p")
    assert {(b.cidr, b.host) for b in listed.blocks} == {(one, "h1"), (two, "h2")}
    assert [(i.ip, i.owner, i.held) for i in listed.ips] == [(a.ip, "x", True)]


async def test_a_released_address_waits_for_its_cooldown(store: EtcdStore) -> None:
    clock = Clock()
    ipam = Ipam(EtcdIpam(store), cooldown=60.0, now=clock)
    small = SPEC.model_copy(update={"block_size": 30, "reserved": []})
    # block 10.20.0.0/30: .0 network, .1 gateway: two usable addresses
    a = await ipam.allocate_ip(pool="p", spec=small, host="h1", owner="a")
    b = await ipam.allocate_ip(pool="p", spec=small, host="h1", owner="b")
    assert await ipam.release_ip(pool="p", owner="a") == a
    assert await ipam.release_ip(pool="p", owner="a") is None
    clock.now += 30
    assert await ipam.release_ip(pool="p", owner="b") == b
    with pytest.raises(IpamExhausted, match="full"):
        await ipam.allocate_ip(pool="p", spec=small, host="h1", owner="c")
    clock.now += 30  # a's cooldown is over, b's is not
    assert await ipam.allocate_ip(pool="p", spec=small, host="h1", owner="c") == a
    usage = utilisation(
        small, await EtcdIpam(store).list_allocations("p"), now=clock.now, cooldown=60
    )
    (host,) = usage.hosts
    assert (host.used, host.cooling, host.free) == (1, 1, 0)


async def test_concurrent_allocators_never_share_an_address(store: EtcdStore) -> None:
    ipams = [Ipam(EtcdIpam(store)) for _ in range(4)]

    async def take(n: int) -> IPv4Address:
        return await ipams[n % 4].allocate_ip(pool="p", spec=SPEC, host="h1", owner=f"i{n}")

    got = await asyncio.gather(*(take(n) for n in range(12)))
    assert len(set(got)) == 12  # 16 in the block less .0, .1, .2, .3
    with pytest.raises(IpamExhausted):
        await take(99)


async def test_a_deposed_leader_allocates_nothing(store: EtcdStore) -> None:
    a = EtcdLeaderElector(store, identity="a", ttl=5)
    b = EtcdLeaderElector(store, identity="b", ttl=5)
    fenced = Ipam(EtcdIpam(FencedStore(store, a)))
    with pytest.raises(NotLeader):
        await fenced.claim_block(pool="p", spec=SPEC, host="h1")
    await a.campaign()
    await fenced.allocate_ip(pool="p", spec=SPEC, host="h1", owner="x")
    await store.client.txn([], [DeleteKey(a.key)])  # a's lease "expired"; it has not noticed
    await b.campaign()
    with pytest.raises(NotLeader):
        await fenced.allocate_ip(pool="p", spec=SPEC, host="h1", owner="y")
    with pytest.raises(NotLeader):
        await fenced.claim_block(pool="p", spec=SPEC, host="h2")
    with pytest.raises(NotLeader):
        await fenced.release_ip(pool="p", owner="x")
    listed = await EtcdIpam(store).list_allocations("p")
    assert [(i.owner, i.held) for i in listed.ips] == [("x", True)]
    assert [blk.host for blk in listed.blocks] == ["h1"]
    await b.resign()
    await a.resign()


async def test_a_stale_listing_never_gives_a_taken_address(store: EtcdStore) -> None:
    a, b = Ipam(EtcdIpam(store), cooldown=0.0), Ipam(EtcdIpam(store), cooldown=0.0)
    first = await a.allocate_ip(pool="p", spec=SPEC, host="h1", owner="x")  # a remembers
    taken = await b.allocate_ip(pool="p", spec=SPEC, host="h1", owner="y")
    assert await b.release_ip(pool="p", owner="x") == first  # a does not know
    assert await a.allocate_ip(pool="p", spec=SPEC, host="h1", owner="z") not in (first, taken)
    assert await b.allocate_ip(pool="p", spec=SPEC, host="h1", owner="w") not in (first, taken)
    listed = await EtcdIpam(store).list_allocations("p")
    assert sorted(i.owner for i in listed.ips if i.held) == ["w", "y", "z"]
