"""EtcdIpam.release_block against a real etcd: refused while an address is held,
released with the block's released addresses, idempotent, fenced, and safe
against an address taken between the read and the write."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

import pytest

from adapters.etcd import EtcdIpam, EtcdStore
from adapters.etcd.client import DeleteKey
from adapters.etcd.leader import EtcdLeaderElector, FencedStore
from adapters.protocols import IpCandidate
from crds.errors import ConflictError, NotLeader
from crds.ippool import IPPoolSpec
from reconciler.ipam import Ipam

SPEC = IPPoolSpec.model_validate(
    {"vlan": 20, "cidr": "10.20.0.0/26", "gateway": "10.20.0.1", "blockSize": 28}
)
BLOCK = IPv4Network("10.20.0.0/28")


async def test_a_block_is_released_only_once_no_address_of_it_is_held(store: EtcdStore) -> None:
    ipam = Ipam(EtcdIpam(store), now=lambda: 1000.0)
    assert await ipam.claim_block(pool="p", spec=SPEC, host="h1") == BLOCK
    other = await ipam.claim_block(pool="p", spec=SPEC, host="h2")
    ip = await ipam.allocate_ip(pool="p", spec=SPEC, host="h1", owner="web-1")
    with pytest.raises(ConflictError, match=re.escape(f"still has held address {ip}")):
        await ipam.release_block(pool="p", host="h1")
    assert [b.host for b in (await EtcdIpam(store).list_allocations("p")).blocks] == ["h1", "h2"]

    await ipam.release_ip(pool="p", owner="web-1")
    assert await ipam.release_block(pool="p", host="h1") == BLOCK
    listed = await EtcdIpam(store).list_allocations("p")
    assert [(b.cidr, b.host) for b in listed.blocks] == [(other, "h2")]
    assert listed.ips == ()  # the released address went with its block
    assert await ipam.release_block(pool="p", host="h1") is None  # idempotent
    # the block is free again: another host may take it
    assert await ipam.claim_block(pool="p", spec=SPEC, host="h3") == BLOCK


async def test_an_address_taken_meanwhile_fails_the_release(store: EtcdStore) -> None:
    """The transaction guards the block's unrecorded addresses too (create_revision 0)."""
    etcd = EtcdIpam(store)
    assert await etcd.claim_block(pool="p", host="h1", candidates=[BLOCK]) == BLOCK
    original = etcd._client.txn
    taken = False

    async def txn_after_a_claim(*args, **kwargs):  # another allocator wins the race
        nonlocal taken
        if not taken:
            taken = True
            await EtcdIpam(store).allocate_ip(
                pool="p",
                host="h1",
                owner="late",
                candidates=[IpCandidate(IPv4Address("10.20.0.9"))],
            )
        return await original(*args, **kwargs)

    etcd._client.txn = txn_after_a_claim  # type: ignore[method-assign]
    try:
        with pytest.raises(ConflictError, match=re.escape("10.20.0.9")):
            await etcd.release_block(pool="p", host="h1")
    finally:
        del etcd._client.txn  # the client's own method again
    listed = await EtcdIpam(store).list_allocations("p")
    assert [b.host for b in listed.blocks] == ["h1"]


async def test_a_deposed_leader_releases_nothing(store: EtcdStore) -> None:
    a = EtcdLeaderElector(store, identity="a", ttl=5)
    b = EtcdLeaderElector(store, identity="b", ttl=5)
    fenced = EtcdIpam(FencedStore(store, a))
    await a.campaign()
    assert await fenced.claim_block(pool="p", host="h1", candidates=[BLOCK]) == BLOCK
    await store.client.txn([], [DeleteKey(a.key)])  # a's lease "expired"; it has not noticed
    await b.campaign()
    with pytest.raises(NotLeader):
        await fenced.release_block(pool="p", host="h1")
    assert [blk.host for blk in (await EtcdIpam(store).list_allocations("p")).blocks] == ["h1"]
    await b.resign()
    await a.resign()
