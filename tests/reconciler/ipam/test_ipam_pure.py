"""Carving, candidates, utilisation and pool-change checks: pure, no I/O."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.protocols import BlockAllocation, IpAllocation, PoolAllocations
from crds.ippool import IPPoolSpec
from reconciler.ipam import (
    block_candidates,
    carve,
    check_pool_change,
    ip_candidates,
    usable_addresses,
    utilisation,
)

NET = IPv4Network("10.20.0.0/24")


def spec(**changes: object) -> IPPoolSpec:
    values: dict[str, object] = {"vlan": 20, "cidr": "10.20.0.0/24", "gateway": "10.20.0.1"}
    values.update(changes)
    return IPPoolSpec.model_validate(values)


def ip(text: str, *, owner: str = "i1", host: str = "h1", released_at: float | None = None):
    return IpAllocation("p", IPv4Address(text), host, owner, released_at, revision=5)


def test_carve_cuts_the_cidr_into_blocks_in_order() -> None:
    blocks = carve(spec())
    assert len(blocks) == 16 == spec().block_count
    assert blocks[0] == IPv4Network("10.20.0.0/28") and blocks[-1] == IPv4Network("10.20.0.240/28")


def test_block_edges_are_given_but_not_the_pool_edges_gateway_or_reserved() -> None:
    pool = spec(reserved=["10.20.0.5", "10.20.0.250-10.20.0.254"])
    first = usable_addresses(pool, IPv4Network("10.20.0.0/28"))
    assert IPv4Address("10.20.0.0") not in first  # the pool's network address
    assert IPv4Address("10.20.0.1") not in first  # the gateway
    assert IPv4Address("10.20.0.5") not in first
    assert IPv4Address("10.20.0.15") in first  # the last of a block is an ordinary address
    assert len(first) == 13
    last = usable_addresses(pool, IPv4Network("10.20.0.240/28"))
    assert last[0] == IPv4Address("10.20.0.240") and last[-1] == IPv4Address("10.20.0.249")
    assert IPv4Address("10.20.0.16") in usable_addresses(pool, IPv4Network("10.20.0.16/28"))


def test_block_candidates_skip_taken_and_fully_reserved_blocks() -> None:
    pool = spec(reserved=["10.20.0.16-10.20.0.31"])
    taken = [BlockAllocation("p", IPv4Network("10.20.0.0/28"), "h1")]
    assert block_candidates(pool, taken)[0] == IPv4Network("10.20.0.32/28")


def test_ip_candidates_fresh_first_then_least_recently_released_after_cooldown() -> None:
    pool = spec(block_size=30, reserved=[])
    block = IPv4Network("10.20.0.4/30")
    ips = [
        ip("10.20.0.4", owner="a"),
        ip("10.20.0.5", owner="b", released_at=100.0),
        ip("10.20.0.6", owner="c", released_at=50.0),
    ]
    found = ip_candidates(pool, block, ips, now=150.0, cooldown=60.0)
    assert [c.ip for c in found] == [IPv4Address("10.20.0.7"), IPv4Address("10.20.0.6")]
    assert found[0].revision == 0 and found[1].revision == 5
    later = ip_candidates(pool, block, ips, now=160.0, cooldown=60.0)
    assert [str(c.ip) for c in later] == ["10.20.0.7", "10.20.0.6", "10.20.0.5"]


def test_utilisation_counts_used_cooling_and_free_per_host() -> None:
    pool = spec()
    blocks = (BlockAllocation("p", IPv4Network("10.20.0.16/28"), "h1"),)
    ips = (ip("10.20.0.16"), ip("10.20.0.17", owner="i2", released_at=10.0))
    usage = utilisation(pool, PoolAllocations(blocks, ips), now=20.0, cooldown=60.0)
    (host,) = usage.hosts
    assert (host.usable, host.used, host.cooling, host.free) == (16, 1, 1, 14)
    assert host.utilisation == pytest.approx(1 / 16)
    assert usage.allocated_blocks == 1 and usage.total_blocks == 16


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"cidr": "10.20.1.0/24", "gateway": "10.20.1.1"}, "outside", id="cidr"),
        pytest.param({"reserved": ["10.20.0.16-10.20.0.20"]}, "reserved", id="reserved"),
        pytest.param({"gateway": "10.20.0.18"}, "gateway", id="gateway"),
        pytest.param({"block_size": 27}, "/27", id="block-size"),
    ],
)
def test_check_pool_change_names_what_it_strands(changes: dict[str, object], reason: str) -> None:
    blocks = (BlockAllocation("p", IPv4Network("10.20.0.16/28"), "h1"),)
    ips = (ip("10.20.0.18", owner="web-1"), ip("10.20.0.19", owner="gone", released_at=1.0))
    check = check_pool_change(spec(), spec(**changes), PoolAllocations(blocks, ips))
    assert not check.ok
    message = check.message("vlan20")
    assert message.startswith("IPPool vlan20: the change would strand") and reason in message
    assert "\n" not in message and "gone" not in message


def test_check_pool_change_allows_growing_the_pool() -> None:
    blocks = (BlockAllocation("p", IPv4Network("10.20.0.16/28"), "h1"),)
    grown = spec(cidr="10.20.0.0/22")
    check = check_pool_change(spec(), grown, PoolAllocations(blocks, (ip("10.20.0.18"),)))
    assert check.ok and check.message("p") == ""


@st.composite
def pools(draw: st.DrawFn) -> IPPoolSpec:
    prefix = draw(st.integers(22, 28))
    block = draw(st.integers(max(prefix, 26), 30))
    cidr = IPv4Network(f"10.20.0.0/{prefix}")
    size = cidr.num_addresses
    gateway = cidr[draw(st.integers(1, size - 2))]
    reserved = [
        f"{cidr[a]}-{cidr[a + n]}"
        for a, n in draw(
            st.lists(st.tuples(st.integers(0, size - 9), st.integers(0, 8)), max_size=4)
        )
    ]
    return spec(cidr=str(cidr), gateway=str(gateway), block_size=block, reserved=reserved)


@settings(max_examples=60, deadline=None)
@given(pools())
def test_blocks_partition_the_pool_and_never_give_forbidden_addresses(pool: IPPoolSpec) -> None:
    blocks = carve(pool)
    assert sum(b.num_addresses for b in blocks) == pool.cidr.num_addresses
    given_out = [a for b in blocks for a in usable_addresses(pool, b)]
    assert len(given_out) == len(set(given_out))
    edges = {pool.cidr.network_address, pool.cidr.broadcast_address, pool.gateway}
    assert not edges & set(given_out)
    assert not any(pool.is_reserved(a) for a in given_out)
    free = (
        pool.cidr.num_addresses
        - len(edges)
        - sum(1 for a in pool.cidr if pool.is_reserved(a) and a not in edges)
    )
    assert len(given_out) == free


@settings(max_examples=60, deadline=None)
@given(
    pools(),
    st.lists(st.tuples(st.integers(0, 63), st.none() | st.floats(0, 100)), max_size=20),
    st.floats(0, 200),
)
def test_ip_candidates_are_free_usable_and_cooled(
    pool: IPPoolSpec, records: list[tuple[int, float | None]], now: float
) -> None:
    block = carve(pool)[0]
    usable = usable_addresses(pool, block)
    ips = {
        block[n % block.num_addresses]: ip(
            str(block[n % block.num_addresses]), owner=f"o{n}", released_at=r
        )
        for n, r in records
    }
    found = ip_candidates(pool, block, ips.values(), now=now, cooldown=30.0)
    assert len({c.ip for c in found}) == len(found)
    for c in found:
        assert c.ip in block and c.ip in usable
        record = ips.get(c.ip)
        assert record is None or (
            record.released_at is not None and now - record.released_at >= 30.0
        )
    released = [ips[c.ip].released_at for c in found if c.ip in ips]
    assert released == sorted(released)
    assert all(c.ip not in ips for c in found[: len(found) - len(released)])
