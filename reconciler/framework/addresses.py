"""Addresses at placement: the pool of each instance's IP, free counts, allocation, release.

:class:`Addresses` is the framework's side of IPAM (``docs/ipam.md``,
"Addresses at placement"):

- **Which pool.** An App's ``spec.ipPool`` if set (a host that pool does not
  select is infeasible: "not in IPPool vlan20"), else the pool whose
  ``hostSelector`` selects the Host (by its labels; Hosts are matched to
  agents by name == hostname; several pools: the first by name). A host no
  pool selects, for an App that names none, takes the instance without an
  address of its own, as before IPAM.
- **How many are free.** Per pool, the allocations are listed from the
  :class:`~adapters.protocols.IpamStore` (through :class:`reconciler.ipam.Ipam`)
  into a :class:`_PoolIndex` (host -> block, block -> its addresses) and kept
  up to date locally on every allocation and release; a pool is listed again
  when its listing is older than ``refresh_seconds`` (new blocks the IPPool
  controller claimed, releases by others). Free = usable addresses of the
  host's block minus those held or still cooling down; a host the pool gave
  no block yet has 0. Each pass gets an :class:`AddressView` that memoises
  the counts per (pool, host), so a check is a dictionary lookup. With no
  IPPool at all, there is no view and placement checks nothing.
- **Allocation.** :meth:`Addresses.allocate` is ``Ipam.allocate_ip(pool,
  host, owner=instance id)``. An address the owner already held in another
  host's block (a placement undone after an allocation) is released and a
  new one taken, so an address never leaves its host.
- **Release.** :meth:`Addresses.release_later` queues the release of an
  owner's address; :meth:`Addresses.release_due` runs those due, each retried
  with exponential backoff (logged) until it succeeds. A release is dropped
  when the owner turned out to hold its address rightly (``keep``: it is
  queued again or has a live record).
- **No leak across terms.** The first listing of each pool in a term (the
  index is forgotten when a term starts; the framework's releaser lists every
  pool at once, :meth:`Addresses.sweep`, and pools that appear later when
  they do) looks at every held address: an owner that is an instance id and
  has a terminal record or none at all (``keep`` is False) gets its address
  released. Owners that are not instance ids
  (``<domain>.<app>.<version>.<suffix>``) are not ours and are left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from adapters.protocols import IpAllocation, PoolAllocations
from crds.errors import DcosError
from crds.host import Host
from crds.ippool import IPPool, IPPoolSpec
from crds.meta import ConditionStatus
from reconciler.hosts.conditions import NETWORK as POOL_NETWORK
from reconciler.ipam import Ipam, IpamExhausted, usable_addresses
from reconciler.runtime.clock import Clock

__all__ = ["AddressView", "Addresses"]

logger = logging.getLogger(__name__)

RELEASE_CONCURRENCY = 16
"""Releases in flight at once."""

Keep = Callable[[str], bool]
"""``keep(owner)``: the owner may hold its address (queued, or its record is live)."""


def _is_instance_id(owner: str) -> bool:
    return owner.count(".") == 3 and all(owner.split("."))


@dataclass
class _PoolIndex:
    """One pool's allocations, as last listed plus our own changes: the block of each
    host and the address records of each block (``/prefix``, the pool's blockSize)."""

    listed_at: float
    prefix: int
    blocks: dict[str, IPv4Network] = field(default_factory=dict)
    ips: dict[IPv4Network, dict[IPv4Address, IpAllocation]] = field(default_factory=dict)
    owners: dict[str, IpAllocation] = field(default_factory=dict)  # held addresses only

    @classmethod
    def of(cls, allocations: PoolAllocations, at: float, prefix: int) -> _PoolIndex:
        index = cls(listed_at=at, prefix=prefix)
        for block in allocations.blocks:
            index.blocks.setdefault(block.host, block.cidr)
        for a in allocations.ips:
            index.put(a)
        return index

    def _block(self, ip: IPv4Address) -> IPv4Network:
        return IPv4Network(f"{ip}/{self.prefix}", strict=False)

    def put(self, a: IpAllocation) -> None:
        by_ip = self.ips.setdefault(self._block(a.ip), {})
        old = by_ip.get(a.ip)
        if old is not None and old.held and self.owners.get(old.owner) is old:
            del self.owners[old.owner]
        by_ip[a.ip] = a
        if a.held:
            self.owners[a.owner] = a

    def release(self, owner: str, at: float) -> None:
        held = self.owners.pop(owner, None)
        if held is not None:
            released = IpAllocation(held.pool, held.ip, held.host, owner, at, held.revision)
            self.ips.setdefault(self._block(held.ip), {})[held.ip] = released

    def taken(self, block: IPv4Network, now: float, cooldown: float) -> int:
        """Addresses of ``block`` held, or released less than ``cooldown`` ago."""
        return sum(
            1
            for a in self.ips.get(block, {}).values()
            if a.released_at is None or now - a.released_at < cooldown
        )


class AddressView:
    """Pools and hosts as one pass sees them; free counts memoised per (pool, host)."""

    def __init__(
        self,
        *,
        pools: Sequence[IPPool],
        hosts: Iterable[Host],
        index: dict[str, _PoolIndex],
        now: float,
        cooldown: float,
    ) -> None:
        self.pools = {p.metadata.name: p for p in sorted(pools, key=lambda p: p.metadata.name)}
        self._hosts = {h.metadata.name: h for h in hosts}
        self._index = index
        self._now = now
        self._cooldown = cooldown
        self._pool_of: dict[str, str | None] = {}
        self._free: dict[tuple[str | None, str], int | None] = {}

    def selects(self, pool: str, hostname: str) -> bool:
        """The pool exists and its ``hostSelector`` selects the Host named ``hostname``."""
        found, host = self.pools.get(pool), self._hosts.get(hostname)
        if found is None or host is None:
            return False
        return found.spec.host_selector.matches(host.metadata.labels)

    def pool_of(self, hostname: str) -> str | None:
        """The first pool by name that selects the host; None: none does."""
        if hostname not in self._pool_of:
            self._pool_of[hostname] = next(
                (name for name in self.pools if self.selects(name, hostname)), None
            )
        return self._pool_of[hostname]

    def free(self, pool: str | None, hostname: str) -> int | None:
        """Free addresses of ``pool`` in the host's block; None: the pool does not select it."""
        key = (pool, hostname)
        if key not in self._free:
            self._free[key] = self._count(pool, hostname)
        return self._free[key]

    def _count(self, pool: str | None, hostname: str) -> int | None:
        if pool is None or not self.selects(pool, hostname):
            return None
        index = self._index.get(pool)
        block = index.blocks.get(hostname) if index else None
        if index is None or block is None:
            return 0
        usable = len(usable_addresses(self.pools[pool].spec, block))
        return max(0, usable - index.taken(block, self._now, self._cooldown))

    def network(self, pool: str) -> str:
        """The pool's Docker network name."""
        return self.pools[pool].network_name

    def network_ready(self, pool: str, hostname: str) -> bool:
        """False while a Host whose engine is declared lacks the pool's network: its
        ``PoolNetwork`` condition (the Host controller's) is not True yet."""
        host = self._hosts.get(hostname)
        if host is None or host.spec.engine is None:
            return True
        return any(
            c.type == POOL_NETWORK and c.status == ConditionStatus.TRUE
            for c in host.status.conditions
        )

    def pins(self, hostname: str) -> bool:
        """The Host declares its Docker engine: the pool's network exists there."""
        host = self._hosts.get(hostname)
        return host is not None and host.spec.engine is not None


@dataclass
class _Release:
    owner: str
    ip: str | None
    due: float
    failures: int = 0


class Addresses:
    """The framework's allocations and releases (see the module docstring)."""

    def __init__(
        self,
        *,
        ipam: Ipam,
        pools: Callable[[], Sequence[IPPool]],
        hosts: Callable[[], Sequence[Host]],
        clock: Clock,
        refresh_seconds: float = 5.0,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self.ipam = ipam
        self._pools = pools
        self._hosts = hosts
        self._clock = clock
        self._refresh = refresh_seconds
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._index: dict[str, _PoolIndex] = {}
        self._releases: dict[str, _Release] = {}
        self.released = 0  # releases done, for tests and logs
        self.on_release: Callable[[], None] = lambda: None
        """Called when a release is queued (the framework wakes its releaser)."""

    def reset(self) -> None:
        """A new term: list every pool again (and sweep it); pending releases are dropped,
        the sweeps find them again."""
        self._index.clear()
        self._releases.clear()

    # --------------------------------------------------------------- a pass

    async def view(self, keep: Keep) -> AddressView | None:
        """This pass's view, pools listed again when stale; None when there is no IPPool."""
        pools = self._pools()
        if not pools:
            return None
        now = self._clock.now()
        stale = [
            p.metadata.name
            for p in pools
            if (i := self._index.get(p.metadata.name)) is None or now - i.listed_at >= self._refresh
        ]
        if stale:
            await asyncio.gather(*(self._list(pool, keep) for pool in stale))
        return AddressView(
            pools=pools,
            hosts=self._hosts(),
            index=self._index,
            now=self.ipam.now(),
            cooldown=self.ipam.cooldown,
        )

    async def sweep(self, keep: Keep) -> None:
        """List (and so sweep) every pool not listed yet this term."""
        new = [p.metadata.name for p in self._pools() if p.metadata.name not in self._index]
        if new:
            await asyncio.gather(*(self._list(pool, keep) for pool in new))

    async def _list(self, pool: str, keep: Keep) -> None:
        try:
            allocations = await self.ipam.list_allocations(pool)
        except (DcosError, TimeoutError) as exc:
            logger.warning("IPPool %s: allocations not listed (retried): %s", pool, exc)
            return  # the old index, if any, stays; no index: no free address there
        prefix = next((p.spec.block_size for p in self._pools() if p.metadata.name == pool), 28)
        first = pool not in self._index
        index = self._index[pool] = _PoolIndex.of(allocations, self._clock.now(), prefix)
        if first:  # a new term, or a new pool: release what no live instance holds
            for owner, held in index.owners.items():
                if _is_instance_id(owner) and not keep(owner):
                    logger.info(
                        "IPPool %s: %s of %s has no live instance: releasing", pool, held.ip, owner
                    )
                    self.release_later(owner, str(held.ip))

    async def allocate(self, view: AddressView, *, pool: str, host: str, owner: str) -> str:
        """``owner``'s address in ``host``'s block of ``pool``; raises DcosError when none."""
        spec = view.pools[pool].spec
        self._releases.pop(owner, None)  # it holds it rightly now
        try:
            return await self._allocate(pool, spec, host, owner)
        except (DcosError, TimeoutError):
            stale = self._index.get(pool)
            if stale is not None:
                stale.listed_at = -1e18  # listed again on the next pass
            raise

    async def _allocate(self, pool: str, spec: IPPoolSpec, host: str, owner: str) -> str:
        for _ in range(2):
            ip = await self.ipam.allocate_ip(pool=pool, spec=spec, host=host, owner=owner)
            block = await self.ipam.claim_block(pool=pool, spec=spec, host=host)  # remembered
            index = self._index.get(pool)  # None only if listed never: then swept later
            if index is not None:
                index.blocks.setdefault(host, block)
            if ip in block:
                if index is not None:
                    index.put(IpAllocation(pool, ip, host, owner))
                return str(ip)
            # Held since an undone placement on another host: never moved, let go.
            logger.info(
                "IPPool %s: %s holds %s outside %s's block: releasing", pool, owner, ip, host
            )
            await self.ipam.release_ip(pool=pool, owner=owner)
            if index is not None:
                index.release(owner, self.ipam.now())
        raise IpamExhausted(f"IPPool {pool}: no address for {owner} in {host}'s block")

    # -------------------------------------------------------------- releases

    def release_later(self, owner: str, ip: str | None) -> None:
        """Queue the release of ``owner``'s address (``ip``, when known, finds its pool)."""
        if owner not in self._releases:
            self._releases[owner] = _Release(owner, ip, self._clock.now())
            self.on_release()

    @property
    def listed(self) -> frozenset[str]:
        """The pools listed (and swept) this term."""
        return frozenset(self._index)

    @property
    def pending_releases(self) -> int:
        """Releases queued or waiting for their next try."""
        return len(self._releases)

    def next_due(self) -> float | None:
        """Seconds until the next release is due; None when none is pending."""
        if not self._releases:
            return None
        return max(0.0, min(r.due for r in self._releases.values()) - self._clock.now())

    async def release_due(self, keep: Keep) -> None:
        """Release every address whose release is due; failures are retried with backoff."""
        now = self._clock.now()
        due = []
        for release in [r for r in self._releases.values() if r.due <= now]:
            if keep(release.owner):
                del self._releases[release.owner]  # queued again or live: it keeps it
            else:
                due.append(release)
        gate = asyncio.Semaphore(RELEASE_CONCURRENCY)

        async def release_one(release: _Release) -> None:
            async with gate:
                try:
                    await self._release(release)
                except (DcosError, TimeoutError) as exc:
                    release.failures += 1
                    delay = min(self._retry_max, self._retry_initial * 2 ** (release.failures - 1))
                    release.due = self._clock.now() + delay
                    logger.warning(
                        "address of %s not released (try %d, again in %.1fs): %s",
                        release.owner,
                        release.failures,
                        delay,
                        exc,
                    )
                    return
            if self._releases.get(release.owner) is release:
                del self._releases[release.owner]

        await asyncio.gather(*(release_one(r) for r in due))

    async def _release(self, release: _Release) -> None:
        for pool in self._pools_of(release):
            ip = await self.ipam.release_ip(pool=pool, owner=release.owner)
            if ip is not None:
                index = self._index.get(pool)
                if index is not None:
                    index.release(release.owner, self.ipam.now())
                self.released += 1
                logger.info("IPPool %s: %s of %s released", pool, ip, release.owner)
                return

    def _pools_of(self, release: _Release) -> list[str]:
        """The pools to release the owner's address in, the likeliest first."""
        names = sorted(p.metadata.name for p in self._pools())
        held = [n for n in names if release.owner in getattr(self._index.get(n), "owners", {})]
        if held:
            return held
        if release.ip is not None:
            address = IPv4Address(release.ip)
            inside = [p.metadata.name for p in self._pools() if address in p.spec.cidr]
            if inside:
                return sorted(inside)
        return names
