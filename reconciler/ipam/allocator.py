"""Ipam: candidates from :mod:`.addresses`, claims through an IpamStore.

Each call lists the pool, computes the candidates and lets the store claim
the first one still free; when others took all of them meanwhile, it lists
again (at most ``attempts`` times). The store's transactions are what make
two allocators safe; this loop only makes them make progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from adapters.protocols import BlockAllocation, IpAllocation, IpamStore, PoolAllocations
from crds.errors import DcosError
from crds.ippool import IPPoolSpec
from reconciler.ipam.addresses import block_candidates, ip_candidates

__all__ = ["Ipam", "IpamExhausted"]

logger = logging.getLogger(__name__)


class IpamExhausted(DcosError):
    """No block for the host, or no free address in its block: the host is infeasible."""


class Ipam:
    """Blocks for hosts and addresses for instances of the pools in one store.

    It remembers the last listing of each pool (:class:`_Seen`, indexed by
    host and by block) and computes candidates from the records of the
    host's block, adding its own claims, so an allocation usually costs one
    transaction and reads a block's records, not the pool's; it lists again
    only when the candidates were all taken meanwhile or there seem to be
    none. A stale listing is safe: the store
    checks every claim against etcd itself.
    """

    def __init__(
        self,
        store: IpamStore,
        *,
        cooldown: float = 60.0,
        attempts: int = 20,
        now: Callable[[], float] | None = None,  # None for the wall clock; tests inject
    ) -> None:
        self._store = store
        self.cooldown = cooldown
        self._attempts = attempts
        self._now = now or time.time
        self._seen: dict[str, _Seen] = {}  # per pool: its last listing plus our claims

    def now(self) -> float:
        """The wall clock the cooldown is measured with (seconds)."""
        return self._now()

    async def list_allocations(self, pool: str) -> PoolAllocations:
        """A fresh listing of ``pool``, which this allocator also remembers."""
        return await self._list(pool)

    async def _list(self, pool: str) -> PoolAllocations:
        allocations = await self._store.list_allocations(pool)
        self._seen[pool] = _Seen(allocations)
        return allocations

    async def _seen_or_list(self, pool: str) -> _Seen:
        seen = self._seen.get(pool)
        if seen is None:
            await self._list(pool)
            seen = self._seen[pool]
        return seen

    def _add(
        self, pool: str, *, block: BlockAllocation | None = None, ip: IpAllocation | None = None
    ) -> None:
        seen = self._seen.setdefault(pool, _Seen(PoolAllocations()))
        if block is not None:
            seen.add_block(block)
        if ip is not None:
            seen.add_ip(ip)

    async def claim_block(self, *, pool: str, spec: IPPoolSpec, host: str) -> IPv4Network:
        """``host``'s block of ``pool``: the one it holds, else a newly claimed one."""
        allocations = await self._seen_or_list(pool)
        for attempt in range(self._attempts):
            if attempt:
                await self._list(pool)
                allocations = self._seen[pool]
            held = allocations.block_of(host)
            if held is not None:
                return held
            candidates = block_candidates(spec, allocations.blocks)
            if not candidates:
                if attempt:
                    raise IpamExhausted(f"IPPool {pool} has no free block for host {host}")
                continue
            block = await self._store.claim_block(pool=pool, host=host, candidates=candidates)
            if block is not None:
                self._add(pool, block=BlockAllocation(pool, block, host))
                logger.info("IPPool %s: block %s for host %s", pool, block, host)
                return block
        raise IpamExhausted(f"IPPool {pool}: no block for host {host} after {self._attempts} tries")

    async def allocate_ip(
        self, *, pool: str, spec: IPPoolSpec, host: str, owner: str
    ) -> IPv4Address:
        """``owner``'s address in ``host``'s block (the same one when called again)."""
        block = await self.claim_block(pool=pool, spec=spec, host=host)
        allocations = self._seen[pool]
        for attempt in range(self._attempts):
            if attempt:
                for a in (await self._list(pool)).ips:
                    if a.owner == owner and a.held:
                        return a.ip
                allocations = self._seen[pool]
            candidates = ip_candidates(
                spec, block, allocations.ips_in(block), now=self._now(), cooldown=self.cooldown
            )
            if not candidates:
                if attempt:
                    raise IpamExhausted(f"IPPool {pool}: block {block} of host {host} is full")
                continue
            # the store returns the owner's address if it already holds one
            ip = await self._store.allocate_ip(
                pool=pool, host=host, owner=owner, candidates=candidates
            )
            if ip is not None:
                self._add(pool, ip=IpAllocation(pool, ip, host, owner))
                return ip
        raise IpamExhausted(f"IPPool {pool}: no address for {owner} after {self._attempts} tries")

    async def release_ip(self, *, pool: str, owner: str) -> IPv4Address | None:
        """Release ``owner``'s address (its cooldown starts now); None if it held none."""
        return await self._store.release_ip(pool=pool, owner=owner, at=self._now())

    async def release_block(self, *, pool: str, host: str) -> IPv4Network | None:
        """Give ``host``'s block back (a decommissioned host); None if it held none.
        ConflictError while an address of it is held."""
        self._seen.pop(pool, None)
        return await self._store.release_block(pool=pool, host=host)


class _Seen:
    """One pool's last listing plus this allocator's claims, indexed for its lookups:
    the block of each host, and the addresses of each block (by the prefix last asked
    for), so an allocation reads its own block's records, not the whole pool's."""

    __slots__ = ("_by_block", "_hosts", "_ips", "_prefix", "blocks")

    def __init__(self, listing: PoolAllocations) -> None:
        self.blocks: list[BlockAllocation] = list(listing.blocks)
        self._hosts: dict[str, IPv4Network] = {}
        for b in self.blocks:
            self._hosts.setdefault(b.host, b.cidr)
        self._ips: dict[IPv4Address, IpAllocation] = {a.ip: a for a in listing.ips}
        self._prefix = -1
        self._by_block: dict[IPv4Network, dict[IPv4Address, IpAllocation]] = {}

    def block_of(self, host: str) -> IPv4Network | None:
        return self._hosts.get(host)

    def add_block(self, block: BlockAllocation) -> None:
        self.blocks.append(block)
        self._hosts.setdefault(block.host, block.cidr)

    def add_ip(self, a: IpAllocation) -> None:
        self._ips[a.ip] = a
        if self._prefix >= 0:
            self._by_block.setdefault(_block(a.ip, self._prefix), {})[a.ip] = a

    def ips_in(self, block: IPv4Network) -> list[IpAllocation]:
        """The records of the addresses inside ``block``."""
        if block.prefixlen != self._prefix:
            self._prefix = block.prefixlen
            self._by_block = {}
            for a in self._ips.values():
                self._by_block.setdefault(_block(a.ip, self._prefix), {})[a.ip] = a
        return list(self._by_block.get(block, {}).values())


def _block(ip: IPv4Address, prefix: int) -> IPv4Network:
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return IPv4Network((int(ip) & mask, prefix))
