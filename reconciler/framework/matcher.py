"""One matching pass: queued launches placed on held offers, records put in memory.

:class:`OfferMatcher` runs the placement pipeline (:class:`reconciler.placement.Placer`)
for every queued :class:`~reconciler.framework.queue.LaunchRequest` over the
held offers, with the instances already placed (for constraints and spreading),
host lifecycles and domain quotas as the snapshot. For every placement it
takes the request off the queue and puts the instance's record (Pending,
agent and host set) in :class:`~reconciler.apps.records.InstanceRecords`
memory; the framework then flushes the records and only then sends the
ACCEPTs (:class:`Match`: one per offer, with every launch placed on it). If
the flush fails, :meth:`OfferMatcher.undo` forgets the records and queues the
requests again, so nothing is launched that is not recorded.

A pass costs about the queued requests, not the records: the held offers
are converted once when they arrive (:class:`~reconciler.framework.offers.OfferPool`),
and the instances already placed are read per app, only for the apps being
placed, from the records' per-app index (:class:`PlacedByApp`). A long queue
is placed in parts of ``chunk`` requests with the event loop let run in
between (the leader's lease keepalive, etcd calls), which gives the same plan
as one part (see :class:`~reconciler.placement.Placer`); a request cancelled
meanwhile is left out, and so is an offer rescinded meanwhile (its requests
stay queued).

**Addresses.** With IPPools (:class:`~reconciler.framework.addresses.Addresses`),
the snapshot says how many addresses each (pool, host) has free and which
pool a host's instances draw from, and after placing, before anything is
recorded, every placed instance that takes an address gets it
(``Ipam.allocate_ip``, owner = instance id): the record and the launch carry
it, so the address is in etcd with the record before the ACCEPT. A failed
allocation un-places that instance (it stays queued) and counts as
"no free IP in POOL" in its app's summary.

It also keeps each app's placement summary (why its last unplaced instance
found no offer) on the queue and tells the records' listeners when it changes,
so the App controller writes it into the status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from adapters.protocols import TaskLaunch
from crds.app import App
from crds.domain import BorrowPolicy, Domain
from crds.errors import ConflictError, DcosError
from crds.host import Host
from reconciler.apps.records import InstanceRecords
from reconciler.domains.slice import host_roles
from reconciler.framework.addresses import Addresses, AddressView
from reconciler.framework.launches import host_ports_for, task_launch
from reconciler.framework.offers import OfferPool
from reconciler.framework.queue import LaunchQueue, LaunchRequest
from reconciler.ipam import IpamExhausted
from reconciler.placement import (
    AppKey,
    Candidate,
    DomainUsage,
    PlacedInstance,
    Placement,
    Placer,
    Snapshot,
    Stack,
    Unplaced,
    lifecycles_of,
)

__all__ = ["AppResources", "Match", "OfferMatcher", "PlacedByApp"]

AppResources = Callable[[str, str], tuple[float, float] | None]
"""``app_resources(domain, app)``: cpus and MiB of one instance of the App; None: unknown."""

CHUNK = 256
"""Requests placed between two turns of the event loop."""

ALLOCATE_CONCURRENCY = 16
"""Hosts whose addresses one pass allocates at once."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    accepts: tuple[tuple[str, tuple[TaskLaunch, ...]], ...]  # (offer id, its launches)
    placed: tuple[LaunchRequest, ...]


class PlacedByApp(Mapping[AppKey, tuple[PlacedInstance, ...]]):
    """The active, placed instances of each app, read from the records when first asked.

    Placement asks only for the apps it places, so a pass never walks every
    record; an app's answer is kept for the pass, so the snapshot does not
    change while placing.
    """

    def __init__(
        self, records: InstanceRecords, attributes: Mapping[str, Mapping[str, str]]
    ) -> None:
        self._records = records
        self._attributes = attributes
        self._seen: dict[AppKey, tuple[PlacedInstance, ...]] = {}

    def __getitem__(self, key: AppKey) -> tuple[PlacedInstance, ...]:
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = tuple(
                PlacedInstance(
                    inst.hostname, self._attributes.get(inst.hostname, {"hostname": inst.hostname})
                )
                for inst in self._records.of_app(key.domain, key.name)
                if inst.is_active and inst.hostname
            )
        if not found:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[AppKey]:
        return (AppKey(*key) for key in self._records.apps() if AppKey(*key) in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _limited(domain: Domain) -> bool:
    """The domain has a quota or a borrowing limit: placement reads its usage."""
    quota, pool = domain.spec.quota, domain.spec.shared_pool
    limits = (quota.cpus, quota.mem, quota.disk, quota.instances, pool.max_borrow)
    return any(limit is not None for limit in limits)


class OfferMatcher:
    def __init__(
        self,
        *,
        queue: LaunchQueue,
        offers: OfferPool,
        records: InstanceRecords,
        domains: Callable[[], Sequence[Domain]],
        hosts: Callable[[], Sequence[Host]],
        stack: Stack,
        wall: Callable[[], datetime],
        addresses: Addresses | None = None,
        agents_waiting: Callable[[], Mapping[str, tuple[str, ...]]] = dict,
        app_resources: AppResources | None = None,
    ) -> None:
        self._agents_waiting = agents_waiting
        self._app_resources = app_resources
        self._addresses = addresses
        self._queue = queue
        self._offers = offers
        self._records = records
        self._domains = domains
        self._hosts = hosts
        self._stack = stack
        self._wall = wall

    async def match(self, seed: str, *, chunk: int = CHUNK) -> Match | None:
        """Place what is queued on what is held; None when nothing was placed."""
        requests = self._queue.requests()
        if not requests or not len(self._offers):
            return None
        view = await self._addresses.view(self.keeps) if self._addresses else None
        placer = Placer(self._snapshot(view), stack=self._stack, seed=seed)
        placements: list[Placement] = []
        unplaced: list[Unplaced] = []
        for start in range(0, len(requests), chunk):
            if start:
                await asyncio.sleep(0)  # let the loop run (lease keepalive, etcd calls)
            part = [
                r for r in requests[start : start + chunk] if r.instance.instance_id in self._queue
            ]
            result = placer.place(self._candidate(r) for r in part)
            placements.extend(result.placements)
            unplaced.extend(result.unplaced)
        ips: dict[str, str] = {}
        if view is not None:
            placements = await self._allocate(view, placements, unplaced, ips)
        self._record_summaries(requests, unplaced)
        return self._take(placements, view, ips)

    async def _allocate(
        self,
        view: AddressView,
        placements: list[Placement],
        unplaced: list[Unplaced],
        ips: dict[str, str],
    ) -> list[Placement]:
        """Allocate the address of every placement that takes one, into ``ips``; the
        placements left (a failed allocation moves its placement to ``unplaced``).

        Addresses of one (pool, host) are allocated one after the other (they would
        race for the same candidates), different hosts concurrently."""
        assert self._addresses is not None
        addresses = self._addresses
        groups: dict[tuple[str, str], list[Placement]] = {}
        for p in placements:
            if p.ip_pool is not None and p.candidate.instance_id in self._queue:
                groups.setdefault((p.ip_pool, p.hostname), []).append(p)
        if not groups:
            return placements
        failed: dict[str, str] = {}  # instance id -> reason
        gate = asyncio.Semaphore(ALLOCATE_CONCURRENCY)

        async def allocate(pool: str, host: str, group: list[Placement]) -> None:
            async with gate:
                for i, p in enumerate(group):
                    owner = p.candidate.instance_id
                    try:
                        ips[owner] = await addresses.allocate(
                            view, pool=pool, host=host, owner=owner
                        )
                    except (DcosError, TimeoutError) as exc:
                        if not isinstance(exc, IpamExhausted | ConflictError):
                            logger.warning("IPPool %s: no address for %s: %s", pool, owner, exc)
                            failed.update(
                                (q.candidate.instance_id, f"IPAM error in {pool}")
                                for q in group[i:]
                            )
                            return
                        logger.info(
                            "IPPool %s: no address for %s on %s: %s", pool, owner, host, exc
                        )
                        failed[owner] = f"no free IP in {pool}"

        await asyncio.gather(*(allocate(pool, host, g) for (pool, host), g in groups.items()))
        if not failed:
            return placements
        kept = []
        for p in placements:
            reason = failed.get(p.candidate.instance_id)
            if reason is None:
                kept.append(p)
                continue
            metrics = replace(p.metrics, filtered=dict(p.metrics.filtered), scores={})
            metrics.final_score = None
            metrics.filter_many(reason, 1)
            unplaced.append(Unplaced(p.candidate, metrics))
        return kept

    def _take(
        self, placements: list[Placement], view: AddressView | None, ips: dict[str, str]
    ) -> Match | None:
        """Records (in memory) and launches of the placements still valid, grouped by offer."""
        accepts: list[tuple[str, tuple[TaskLaunch, ...]]] = []
        placed: list[LaunchRequest] = []
        now = self._wall()
        by_offer: dict[str, list[Placement]] = {}
        for placement in placements:
            by_offer.setdefault(placement.offer_id, []).append(placement)
        for offer_id, group in by_offer.items():
            if offer_id not in self._offers:
                continue  # rescinded while placing: the requests stay queued
            launches = []
            for placement in group:
                req = self._queue.take_if_queued(placement.candidate.instance_id)
                if req is None:
                    continue  # cancelled while placing
                where = {"agent_id": placement.agent_id, "hostname": placement.hostname}
                ip = ips.pop(req.instance.instance_id, None)
                held = self._offers.view(offer_id)
                update = {
                    **where,
                    "launched_at": now,
                    "ip": ip,
                    "host_ports": placement.ports,
                    "host_ip": held.agent_ip if held is not None else None,
                }
                self._records.put(req.instance.model_copy(update=update))
                placed.append(req)
                network, pin = None, False
                if ip is not None and view is not None and placement.ip_pool is not None:
                    network = view.network(placement.ip_pool)
                    pin = view.pins(placement.hostname)
                launches.append(
                    task_launch(
                        req,
                        placement,
                        ip=ip,
                        network=network,
                        pin_ip=pin,
                        reservation=held.reservation if held is not None else ("STATIC", None),
                    )
                )
            if launches:
                accepts.append((offer_id, tuple(launches)))
        if self._addresses is not None:
            for owner, ip in ips.items():  # allocated, then cancelled or its offer rescinded
                self._addresses.release_later(owner, ip)
        return Match(tuple(accepts), tuple(placed)) if accepts else None

    def undo(self, match: Match) -> None:
        """The records of ``match`` could not be written: forget them, queue them again."""
        for r in match.placed:
            record = self._records.get(r.instance.instance_id)
            if record is not None and record.ip is not None and self._addresses is not None:
                # Dropped if it is queued again when due (a new placement on the same
                # host gets the same address back); released otherwise.
                self._addresses.release_later(record.instance_id, record.ip)
        self._records.remove(r.instance.instance_id for r in match.placed)
        for r in match.placed:
            self._queue.request(app=r.app, domain=r.domain, spec=r.spec, instances=[r.instance])

    def home_room(self, app: App, domain: Domain, *, version: str, limit: int) -> tuple[int, int]:
        """``(queued, room)`` of ``app`` on the held offers of its domain's own hosts,
        with borrowing disabled: how many of its queued instances they take (after the
        other Apps' queued launches), and how many more beyond those, up to ``limit``.
        Nothing is taken or recorded (give-back, :mod:`reconciler.domains.giveback`)."""
        key = AppKey(domain.metadata.name, app.metadata.name)
        mine = [r for r in self._queue.requests() if r.key == key]
        if not len(self._offers) or (limit <= 0 and not mine):
            return 0, 0
        snapshot = self._snapshot(None, also=domain.metadata.name)
        placer = Placer(snapshot, stack=self._stack, seed=f"home-room/{version}")
        placer.place(self._candidate(r) for r in self._queue.requests() if r.key != key)
        policy = domain.spec.shared_pool.model_copy(
            update={"borrow": BorrowPolicy.NEVER, "max_borrow": None}
        )
        own = domain.model_copy(
            update={"spec": domain.spec.model_copy(update={"shared_pool": policy})}
        )
        queued = placer.place(
            Candidate.for_app(
                r.app,
                own,
                instance_id=r.instance.instance_id,
                version=r.instance.version,
                host_ports=host_ports_for(r),
            )
            for r in mine
        )
        probes = (
            Candidate.for_app(
                app,
                own,
                instance_id=f"home-room-{n}",
                version=version,
                host_ports=len(app.spec.ports),
            )
            for n in range(max(0, limit))
        )
        return len(queued.placements), len(placer.place(probes).placements)

    def _candidate(self, req: LaunchRequest) -> Candidate:
        return Candidate.for_app(
            req.app,
            req.domain,
            instance_id=req.instance.instance_id,
            version=req.instance.version,
            host_ports=host_ports_for(req),
        )

    def _snapshot(self, view: AddressView | None, *, also: str | None = None) -> Snapshot:
        hosts, domains = self._hosts(), self._domains()
        return Snapshot(
            offers=self._offers.agent_offers(),
            lifecycles=lifecycles_of(hosts),
            host_roles=host_roles(hosts, domains),
            agents_waiting=self._agents_waiting(),
            instances=PlacedByApp(self._records, self._offers.attributes),
            domains=self._usage(domains, hosts, also),
            free_ips=view.free if view is not None else None,
            ip_pool_of=view.pool_of if view is not None else None,
            network_ready=view.network_ready if view is not None else None,
        )

    def _usage(
        self, domains: Sequence[Domain], hosts: Sequence[Host], also: str | None = None
    ) -> dict[str, DomainUsage]:
        """Quota and usage per domain: the Domain status's figures, raised to what the
        live records use now for the domains being placed that have a quota or a
        ``maxBorrow`` (the status is written on the
        Domain controller's resync; placements since then count at once, so borrowing
        stays within ``maxBorrow`` and quota holds across passes)."""
        figures = {d.metadata.name: DomainUsage.of(d) for d in domains}
        if self._app_resources is None:
            return figures
        placing = {r.key.domain for r in self._queue.requests()} | {also or ""}
        placing &= {d.metadata.name for d in domains if _limited(d)}  # others never look
        if not placing:
            return figures
        known = {h.metadata.name for h in hosts}
        dedicated = host_roles(hosts, domains)
        totals = {name: [0.0, 0.0, 0, 0.0, 0.0] for name in placing}
        for domain, app in self._records.apps():
            total = totals.get(domain)
            share = self._app_resources(domain, app) if total is not None else None
            if total is None or share is None:
                continue
            for inst in self._records.of_app(domain, app):
                if not inst.is_active or inst.hostname is None:
                    continue
                total[0] += share[0]
                total[1] += share[1]
                total[2] += 1
                if inst.hostname in known and inst.hostname not in dedicated:
                    total[3] += share[0]
                    total[4] += share[1]
        for name, (cpus, mem, count, borrowed_cpus, borrowed_mem) in totals.items():
            f = figures[name]
            figures[name] = replace(
                f,
                cpus=max(f.cpus, cpus),
                mem=max(f.mem, mem),
                instances=max(f.instances, int(count)),
                borrowed_cpus=max(f.borrowed_cpus, borrowed_cpus),
                borrowed_mem=max(f.borrowed_mem, borrowed_mem),
            )
        return figures

    def keeps(self, owner: str) -> bool:
        """The instance may hold its address: it is queued, or its record is live."""
        if owner in self._queue:
            return True
        record = self._records.get(owner)
        return record is not None and not record.is_terminal

    def _record_summaries(self, requests: list[LaunchRequest], unplaced: list[Unplaced]) -> None:
        why = {u.candidate.app: u.metrics.summary() for u in unplaced}
        for key in {r.key for r in requests}:
            summary = why.get(key) if self._queue.pending(key) else None  # cancelled meanwhile
            if summary != self._queue.summary(key):
                self._queue.record_summary(key, summary)
                self._records.notify(key.domain, key.name)
