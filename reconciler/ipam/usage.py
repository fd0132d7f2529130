"""Utilisation: per host, its blocks, the addresses used, cooling down and free.

``used`` counts addresses held by an owner; ``cooling`` those released less
than ``cooldown`` ago; ``free`` the rest of the host's usable addresses.
Utilisation is ``used / usable`` (0 for a host with no usable address).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from adapters.protocols import PoolAllocations
from crds.ippool import IPPoolSpec
from reconciler.ipam.addresses import usable_addresses

__all__ = ["HostUsage", "PoolUsage", "utilisation"]


@dataclass(frozen=True)
class HostUsage:
    host: str
    blocks: tuple[IPv4Network, ...]
    usable: int
    """Addresses of the host's blocks that may be handed out."""
    used: int
    """Addresses held by an owner."""
    cooling: int
    """Released addresses still in their cooldown."""

    @property
    def free(self) -> int:
        return self.usable - self.used - self.cooling

    @property
    def utilisation(self) -> float:
        return self.used / self.usable if self.usable else 0.0


@dataclass(frozen=True)
class PoolUsage:
    total_blocks: int
    hosts: tuple[HostUsage, ...]
    """One entry per host holding a block, by host name."""

    @property
    def allocated_blocks(self) -> int:
        return sum(len(h.blocks) for h in self.hosts)

    @property
    def used(self) -> int:
        return sum(h.used for h in self.hosts)

    @property
    def usable(self) -> int:
        return sum(h.usable for h in self.hosts)

    @property
    def utilisation(self) -> float:
        """Used addresses over the usable addresses of the allocated blocks."""
        return self.used / self.usable if self.usable else 0.0


def utilisation(
    spec: IPPoolSpec, allocations: PoolAllocations, *, now: float, cooldown: float
) -> PoolUsage:
    """The usage of every host holding a block of ``spec``."""
    blocks: dict[str, list[IPv4Network]] = {}
    for b in allocations.blocks:
        blocks.setdefault(b.host, []).append(b.cidr)
    hosts = []
    for host in sorted(blocks):
        cidrs = sorted(blocks[host])
        ips = [a for a in allocations.ips if a.host == host]
        hosts.append(
            HostUsage(
                host=host,
                blocks=tuple(cidrs),
                usable=sum(len(usable_addresses(spec, c)) for c in cidrs),
                used=sum(1 for a in ips if a.held),
                cooling=sum(
                    1 for a in ips if a.released_at is not None and now - a.released_at < cooldown
                ),
            )
        )
    return PoolUsage(total_blocks=spec.block_count, hosts=tuple(hosts))
