"""The IPPool controller: a block of the pool for every host it selects, and the status.

A level-based reconcile per IPPool::

    IPPool (informer cache) + Hosts (informer cache) + allocations (IpamStore)
      -> stranded allocations? (check_pool_change)     reconciler/ipam/change.py
         yes: condition StrandedAllocations=True, claim nothing
      -> per selected host without a block: Ipam.claim_block (one create-if-absent
         transaction; fenced, so a deposed leader claims nothing)
      -> status: blocks, addresses, per-host used/free/utilisation, conditions,
         only when it changed
      -> events; requeue after RESYNC_SECONDS (addresses change under the pool)

Selected hosts are those whose labels match ``spec.hostSelector``, except
Decommissioned ones, which get no new block (a block they hold is kept and
still reported). A Host added, deleted, relabelled or changing lifecycle
queues every pool.

**Stranded allocations.** ``dcosctl apply`` refuses a spec change that
would strand blocks or held addresses; another client may still write one.
The controller compares the spec with the allocations themselves (the
blocks' prefix length stands for the old ``blockSize``), sets
``StrandedAllocations=True`` with :func:`check_pool_change`'s message and
claims nothing until the spec is put back or the allocations are released.

Conditions: Ready (every selected host holds a block, nothing stranded),
Exhausted (a selected host got no block: the pool is full), and
StrandedAllocations. Events: BlockAllocated, PoolExhausted,
StrandedAllocations. ``docs/ipam.md`` has the details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.protocols import IpamStore, PoolAllocations, Store
from crds.events import EventKind
from crds.host import Host, HostLifecycle
from crds.ippool import IPPool, IPPoolHostBlocks, IPPoolSpec, IPPoolStatus
from crds.meta import ConditionStatus, Resource
from reconciler.ipam import Ipam, IpamExhausted, PoolChangeCheck, check_pool_change, utilisation
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Informer,
    Manager,
    Recorder,
    Request,
    Result,
    enqueue_all,
    spec_or_metadata_changed,
)
from reconciler.runtime.conditions import condition

__all__ = ["IPPoolReconciler", "register", "stranded"]

logger = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
"""How often a pool's usage is read again: addresses are taken and released under it."""
COOLDOWN_SECONDS = 60.0
"""A released address's cooldown, as the allocator of the App controller uses it."""

READY = "Ready"
EXHAUSTED = "Exhausted"
STRANDED = "StrandedAllocations"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def stranded(spec: IPPoolSpec, allocations: PoolAllocations) -> PoolChangeCheck:
    """The allocations ``spec`` strands, judged from the allocations alone: blocks
    of another prefix length than ``blockSize`` (the old one, as far as they
    tell), blocks outside the cidr, held addresses the spec no longer allows."""
    sizes = {b.cidr.prefixlen for b in allocations.blocks}
    old = spec
    if sizes - {spec.block_size}:
        other = min(sizes - {spec.block_size})
        old = spec.model_copy(update={"block_size": other})
    return check_pool_change(old, spec, allocations)


class IPPoolReconciler:
    def __init__(
        self,
        *,
        store: Store,
        ipam: IpamStore,
        pools: Informer,
        hosts: Informer,
        recorder: Recorder,
        cooldown: float = COOLDOWN_SECONDS,
        resync: float = RESYNC_SECONDS,
        now: Callable[[], float] = time.time,
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._ipam = ipam
        self._pools = pools
        self._hosts = hosts
        self._recorder = recorder
        self._cooldown = cooldown
        self._resync = resync
        self._now = now
        self._wall = wall

    def selected(self, pool: IPPool) -> list[str]:
        """The names of the hosts that should hold a block of ``pool``, sorted."""
        return sorted(
            h.metadata.name
            for h in self._hosts.list()
            if isinstance(h, Host)
            and h.spec.lifecycle is not HostLifecycle.DECOMMISSIONED
            and pool.spec.host_selector.matches(h.metadata.labels)
        )

    async def reconcile(self, req: Request) -> Result:
        obj = self._pools.get(req.key)
        if not isinstance(obj, IPPool) or obj.metadata.deletion_timestamp is not None:
            return Result()
        pool = obj
        name = pool.metadata.name
        allocations = await self._ipam.list_allocations(name)
        check = stranded(pool.spec, allocations)
        claimed: list[tuple[str, str]] = []
        exhausted: list[str] = []
        wanting: list[str] = []
        if check.ok:
            holders = {b.host for b in allocations.blocks}
            wanting = [h for h in self.selected(pool) if h not in holders]
            ipam = Ipam(self._ipam, cooldown=self._cooldown, now=self._now)
            for host in wanting:
                try:
                    block = await ipam.claim_block(pool=name, spec=pool.spec, host=host)
                except IpamExhausted as exc:
                    logger.info("%s", exc)
                    exhausted.append(host)
                    continue
                claimed.append((host, str(block)))
            if claimed:
                allocations = await self._ipam.list_allocations(name)
        status = self._status(pool, allocations, check, exhausted)
        if status != pool.status:
            await self._store.update_status(pool.model_copy(update={"status": status}))
        self._events(pool, claimed, exhausted, check)
        return Result(requeue_after=self._resync)

    def _status(
        self,
        pool: IPPool,
        allocations: PoolAllocations,
        check: PoolChangeCheck,
        exhausted: list[str],
    ) -> IPPoolStatus:
        usage = utilisation(pool.spec, allocations, now=self._now(), cooldown=self._cooldown)
        now = self._wall()
        previous = pool.status.conditions
        true, false = ConditionStatus.TRUE, ConditionStatus.FALSE
        name = pool.metadata.name
        if check.ok:
            stranded_c = condition(previous, STRANDED, false, "NoneStranded", "", now)
        else:
            stranded_c = condition(
                previous, STRANDED, true, "SpecStrandsAllocations", check.message(name), now
            )
        if exhausted:
            message = f"no free block for host{'s' if len(exhausted) > 1 else ''} " + ", ".join(
                exhausted
            )
            exhausted_c = condition(previous, EXHAUSTED, true, "NoFreeBlock", message, now)
        else:
            exhausted_c = condition(previous, EXHAUSTED, false, "BlocksAvailable", "", now)
        if not check.ok:
            ready = condition(previous, READY, false, STRANDED, stranded_c.message, now)
        elif exhausted:
            ready = condition(previous, READY, false, "Exhausted", exhausted_c.message, now)
        else:
            ready = condition(previous, READY, true, "BlocksAllocated", "", now)
        return pool.status.model_copy(
            update={
                "observed_generation": pool.metadata.generation,
                "conditions": [ready, exhausted_c, stranded_c],
                "total_blocks": usage.total_blocks,
                "allocated_blocks": usage.allocated_blocks,
                "allocated_ips": usage.used,
                "utilisation": round(usage.utilisation, 4),
                "hosts": [
                    IPPoolHostBlocks(
                        host=h.host,
                        blocks=list(h.blocks),
                        used=h.used,
                        free=h.free,
                        utilisation=round(h.utilisation, 4),
                    )
                    for h in usage.hosts
                ],
            }
        )

    def _events(
        self,
        pool: IPPool,
        claimed: list[tuple[str, str]],
        exhausted: list[str],
        check: PoolChangeCheck,
    ) -> None:
        """Emit what this reconcile did or found new; written in the background."""
        emit = self._recorder.emit
        for host, block in claimed:
            emit(pool, EventKind.NORMAL, "BlockAllocated", f"block {block} for host {host}")
        was = {c.type: c for c in pool.status.conditions}
        if exhausted:
            message = "no free block for " + ", ".join(exhausted)
            old = was.get(EXHAUSTED)
            if old is None or old.status is not ConditionStatus.TRUE:
                emit(pool, EventKind.WARNING, "PoolExhausted", message)
        if not check.ok:
            old = was.get(STRANDED)
            if old is None or old.status is not ConditionStatus.TRUE:
                emit(pool, EventKind.WARNING, STRANDED, check.message(pool.metadata.name))


def _host_moved(old: Resource, new: Resource) -> bool:
    """A Host relabelled or changing lifecycle: the pools selecting it may change."""
    return old.metadata.labels != new.metadata.labels or (
        isinstance(old, Host) and isinstance(new, Host) and old.spec.lifecycle != new.spec.lifecycle
    )


def register(
    manager: Manager,
    *,
    ipam: IpamStore,
    store: Store | None = None,
    settings: ControllerSettings | None = None,
    resync: float = RESYNC_SECONDS,
) -> Controller:
    """The IPPool controller on ``manager``; ``ipam`` should be built on the
    manager's fenced store so that a deposed leader claims nothing."""
    store = store or manager.store
    pools = manager.informer("IPPool")
    reconciler = IPPoolReconciler(
        store=store,
        ipam=ipam,
        pools=pools,
        hosts=manager.informer("Host"),
        recorder=Recorder(store, "ippool-controller"),
        resync=resync,
    )
    return (
        manager.controller("ippool")
        .for_kind("IPPool", updates=spec_or_metadata_changed)  # not woken by its status writes
        .watches("Host", lambda enqueue: enqueue_all(enqueue, pools, updates=_host_moved))
        .with_settings(settings or ControllerSettings(workers=1))
        .complete(reconciler)
    )
