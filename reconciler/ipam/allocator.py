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

    It remembers the last listing of each pool and computes candidates from
    it, adding its own claims, so an allocation usually costs one
    transaction; it lists again only when the candidates were all taken
    meanwhile or there seem to be none. A stale listing is safe: the store
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
        self._seen: dict[str, PoolAllocations] = {}  # per pool: its last listing plus our claims

    async def _list(self, pool: str) -> PoolAllocations:
        self._seen[pool] = allocations = await self._store.list_allocations(pool)
        return allocations

    def _add(
        self, pool: str, *, block: BlockAllocation | None = None, ip: IpAllocation | None = None
    ) -> None:
        seen = self._seen.get(pool, PoolAllocations())
        self._seen[pool] = PoolAllocations(
            blocks=seen.blocks + ((block,) if block else ()),
            ips=tuple(a for a in seen.ips if ip is None or a.ip != ip.ip) + ((ip,) if ip else ()),
        )

    async def claim_block(self, *, pool: str, spec: IPPoolSpec, host: str) -> IPv4Network:
        """``host``'s block of ``pool``: the one it holds, else a newly claimed one."""
        allocations = self._seen.get(pool) or await self._list(pool)
        for attempt in range(self._attempts):
            if attempt:
                allocations = await self._list(pool)
            held = [b.cidr for b in allocations.blocks if b.host == host]
            if held:
                return held[0]
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
                allocations = await self._list(pool)
                for a in allocations.ips:
                    if a.owner == owner and a.held:
                        return a.ip
            candidates = ip_candidates(
                spec, block, allocations.ips, now=self._now(), cooldown=self.cooldown
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
