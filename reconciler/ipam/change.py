"""Refusing pool changes that would strand allocations.

An IPPool's spec may change while hosts hold blocks and instances hold
addresses. :func:`check_pool_change` lists what the new spec would leave
stranded, each with its reason, so the change can be refused with one line:

- a block outside the new cidr, or any block when ``blockSize`` changes;
- a held address outside the new cidr, or now the gateway, reserved, or the
  new cidr's network or broadcast address.

Released addresses are never stranded: nobody holds them. Hosts that the new
``hostSelector`` no longer selects are the caller's to check (it knows the
hosts' labels).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.protocols import BlockAllocation, IpAllocation, PoolAllocations
from crds.ippool import IPPoolSpec

__all__ = ["PoolChangeCheck", "Stranded", "check_pool_change"]

_SHOWN = 3
"""Stranded allocations named in the message; the rest are counted."""


@dataclass(frozen=True)
class Stranded:
    allocation: BlockAllocation | IpAllocation
    reason: str

    def __str__(self) -> str:
        a = self.allocation
        if isinstance(a, BlockAllocation):
            return f"block {a.cidr} of host {a.host} {self.reason}"
        return f"{a.ip} of {a.owner} on {a.host} {self.reason}"


@dataclass(frozen=True)
class PoolChangeCheck:
    stranded: tuple[Stranded, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.stranded

    def message(self, pool: str) -> str:
        """One line: empty when the change strands nothing."""
        if self.ok:
            return ""
        shown = "; ".join(str(s) for s in self.stranded[:_SHOWN])
        more = len(self.stranded) - _SHOWN
        tail = f" (and {more} more)" if more > 0 else ""
        count = len(self.stranded)
        return (
            f"IPPool {pool}: the change would strand {count} "
            f"allocation{'s' if count != 1 else ''}: {shown}{tail}"
        )


def check_pool_change(
    old: IPPoolSpec, new: IPPoolSpec, allocations: PoolAllocations
) -> PoolChangeCheck:
    """The allocations ``new`` would strand (empty ``stranded``: the change is safe)."""
    stranded: list[Stranded] = []
    for block in allocations.blocks:
        if new.block_size != old.block_size:
            reason = f"would not be a block of /{new.block_size}"
            stranded.append(Stranded(block, reason))
        elif not block.cidr.subnet_of(new.cidr):
            stranded.append(Stranded(block, f"is outside the new cidr {new.cidr}"))
    for ip in allocations.ips:
        reason = _ip_reason(new, ip)
        if ip.held and reason:
            stranded.append(Stranded(ip, reason))
    return PoolChangeCheck(tuple(stranded))


def _ip_reason(new: IPPoolSpec, ip: IpAllocation) -> str:
    net = new.cidr
    if ip.ip not in net:
        return f"is outside the new cidr {net}"
    if ip.ip == new.gateway:
        return "would be the gateway"
    if ip.ip in (net.network_address, net.broadcast_address):
        return f"would be the network or broadcast address of {net}"
    if new.is_reserved(ip.ip):
        return "would be reserved"
    return ""
