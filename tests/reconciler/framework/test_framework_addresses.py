"""The framework's view of the pools for one pass: which pool, how many free (pure)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from adapters.protocols import BlockAllocation, IpAllocation, PoolAllocations
from crds.host import Host
from crds.ippool import IPPool
from reconciler.framework.addresses import AddressView, _PoolIndex

NOW = 1_000.0


def pool(name: str, **spec: Any) -> IPPool:
    body = {"vlan": 20, "cidr": "10.20.0.0/24", "gateway": "10.20.0.1", **spec}
    return IPPool.model_validate({"metadata": {"name": name}, "spec": body})


def host(name: str, engine: bool = False, **labels: str) -> Host:
    spec: dict[str, Any] = {"address": "127.0.0.1", "resources": {"cpus": 4, "mem": 4096}}
    if engine:
        spec["engine"] = {"url": "unix:///run/docker.sock"}
    return Host.model_validate({"metadata": {"name": name, "labels": labels}, "spec": spec})


def address(ip: str, owner: str, released_at: float | None = None) -> IpAllocation:
    return IpAllocation("vlan20", IPv4Address(ip), "h1", owner, released_at)


def view(**index: PoolAllocations) -> AddressView:
    pools = [
        pool("vlan20", hostSelector={"matchLabels": {"net": "a"}}),
        pool("vlan10", hostSelector={"matchLabels": {"net": "a"}}, network="legacy"),
        pool("vlan30", hostSelector={"matchLabels": {"net": "b"}}),
    ]
    hosts = [host("h1", engine=True, net="a"), host("h2", net="b"), host("h3")]
    return AddressView(
        pools=pools,
        hosts=hosts,
        index={name: _PoolIndex.of(a, 0.0, 28) for name, a in index.items()},
        now=NOW,
        cooldown=60.0,
    )


def test_the_hosts_pool_is_the_first_by_name_that_selects_it() -> None:
    v = view()
    assert v.pool_of("h1") == "vlan10"
    assert v.pool_of("h2") == "vlan30"
    assert v.pool_of("h3") is None and v.pool_of("unknown") is None


def test_free_counts_held_and_cooling_addresses_as_taken() -> None:
    allocations = PoolAllocations(
        blocks=(BlockAllocation("vlan20", IPv4Network("10.20.0.0/28"), "h1"),),
        ips=(
            address("10.20.0.2", "held"),
            address("10.20.0.3", "cooling", released_at=NOW - 10),
            address("10.20.0.4", "cooled", released_at=NOW - 61),
        ),
    )
    v = view(vlan20=allocations)
    # 10.20.0.0/28 without the network address and the gateway: 14 usable.
    assert v.free("vlan20", "h1") == 14 - 2
    assert v.free("vlan20", "h2") is None  # not selected
    assert v.free("vlan10", "h1") == 0  # selected, no block yet (nor listing)
    assert v.free(None, "h1") is None


def test_network_names_and_pinning() -> None:
    v = view()
    assert v.network("vlan20") == "dcos-vlan20"
    assert v.network("vlan10") == "legacy"
    assert v.pins("h1") and not v.pins("h2") and not v.pins("unknown")


def test_the_index_follows_our_allocations_and_releases() -> None:
    index = _PoolIndex.of(PoolAllocations(), 0.0, 28)
    index.put(IpAllocation("vlan20", IPv4Address("10.20.0.2"), "h1", "o1"))
    assert set(index.owners) == {"o1"}
    index.release("o1", NOW)
    block = IPv4Network("10.20.0.0/28")
    assert index.owners == {} and index.ips[block][IPv4Address("10.20.0.2")].released_at == NOW
    assert index.taken(block, NOW, 60.0) == 1 and index.taken(block, NOW + 60, 60.0) == 0
    index.put(IpAllocation("vlan20", IPv4Address("10.20.0.2"), "h1", "o2"))
    assert set(index.owners) == {"o2"}
