"""Carving a pool into blocks and choosing what to try next.

:func:`carve` lists the pool's blocks in address order; :func:`usable_addresses`
gives the addresses of one block that may be handed out (see the package
docstring for the block edges). :func:`block_candidates` and
:func:`ip_candidates` order what an allocator tries: the store takes the
first one nobody claimed meanwhile. The next hop is :mod:`.allocator`.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from adapters.protocols import BlockAllocation, IpAllocation, IpCandidate
from crds.ippool import IPPoolSpec

__all__ = ["block_candidates", "carve", "ip_candidates", "usable_addresses"]


def carve(spec: IPPoolSpec) -> list[IPv4Network]:
    """Every block of ``spec``'s cidr, ``/blockSize`` each, in address order."""
    return list(spec.cidr.subnets(new_prefix=spec.block_size))


def usable_addresses(spec: IPPoolSpec, block: IPv4Network) -> list[IPv4Address]:
    """The addresses of ``block`` that may be handed out, in order.

    All of the block except the pool's network and broadcast addresses, the
    gateway and the reserved ranges.
    """
    net = spec.cidr
    excluded = [(int(net.network_address),) * 2, (int(net.broadcast_address),) * 2]
    excluded += [(int(first), int(last)) for first, last in spec.reserved_ranges()]
    low, high = int(block.network_address), int(block.broadcast_address)
    excluded = [(f, la) for f, la in excluded if f <= high and la >= low]
    return [
        IPv4Address(n)
        for n in range(low, high + 1)
        if not any(first <= n <= last for first, last in excluded)
    ]


def block_candidates(
    spec: IPPoolSpec, blocks: Iterable[BlockAllocation], *, limit: int = 16
) -> list[IPv4Network]:
    """At most ``limit`` blocks no host holds that have a usable address, lowest first."""
    taken = {b.cidr for b in blocks}
    found: list[IPv4Network] = []
    for block in spec.cidr.subnets(new_prefix=spec.block_size):
        if len(found) == limit:
            break
        if block not in taken and usable_addresses(spec, block):
            found.append(block)
    return found


def ip_candidates(
    spec: IPPoolSpec,
    block: IPv4Network,
    ips: Iterable[IpAllocation],
    *,
    now: float,
    cooldown: float,
) -> list[IpCandidate]:
    """Addresses of ``block`` an instance may take, in the order to try them.

    Never-used addresses first (lowest first), then released ones whose
    cooldown has passed (``now - released_at >= cooldown``), least recently
    released first. Held addresses and those still cooling down are left out.
    """
    usable = usable_addresses(spec, block)
    allowed = set(usable)
    recorded = {a.ip: a for a in ips if a.ip in block}
    fresh = [IpCandidate(ip) for ip in usable if ip not in recorded]
    cooled = sorted(
        (
            a
            for a in recorded.values()
            if a.released_at is not None
            and now - a.released_at >= cooldown
            and a.ip in allowed  # the spec may have reserved it since
        ),
        key=lambda a: (a.released_at, a.ip),
    )
    return fresh + [IpCandidate(a.ip, a.revision) for a in cooled]
