"""The dashboard's view model: pure functions from objects to JSON rows.

Every figure is what the object's status in etcd holds, as the informers
cached it; nothing is recomputed from Mesos or the instance records. A
figure the status does not hold yet (a controller has not written it) is
``None`` and the page shows a dash. The only sums are across statuses: a
host's ``used`` adds up the ``perHost`` entries every Domain's status keeps
for it, its ``agents`` the AgentSet status entries of that host, and a
pool's ``total`` counts the usable addresses of the blocks its status lists.

Rows are plain dicts with camelCase keys, sorted by name, so two snapshots
of the same objects serialise to the same text and the stream can skip an
update that changes nothing (:mod:`reconciler.dashboard.feed`).

:func:`snapshot` puts the rows of every table together; the next hop is
:mod:`reconciler.dashboard.feed`, which builds it from the informers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from ipaddress import IPv4Network
from typing import Any

from crds.agentset import AgentSet
from crds.app import App
from crds.domain import Domain
from crds.events import Event
from crds.host import Host
from crds.ippool import IPPool, IPPoolSpec
from crds.meta import Condition

__all__ = [
    "EVENTS_SHOWN",
    "Row",
    "app_row",
    "app_rows",
    "domain_row",
    "domain_rows",
    "event_rows",
    "host_rows",
    "pool_row",
    "pool_rows",
    "snapshot",
    "usable_count",
]

Row = dict[str, Any]
"""One table row as JSON: camelCase keys, numbers, strings, booleans or None."""

EVENTS_SHOWN = 50
"""The most recent events the page lists."""


def _condition(conditions: Sequence[Condition], kind: str) -> Row | None:
    for c in conditions:
        if c.type == kind:
            return {"status": c.status.value, "reason": c.reason, "message": c.message}
    return None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def domain_rows(domains: Iterable[Domain]) -> list[Row]:
    """:func:`domain_row` of each Domain, by name."""
    return [domain_row(d) for d in sorted(domains, key=lambda d: d.metadata.name)]


def domain_row(d: Domain) -> Row:
    """A Domain's own capacity, what its instances use, what it borrows and may borrow."""
    s, pool = d.status, d.spec.shared_pool
    limit = pool.max_borrow
    return {
        "name": d.metadata.name,
        "priority": d.spec.priority,
        "borrow": pool.borrow.value,
        "hosts": s.hosts,
        "instances": s.instances,
        "capacityCpus": _round(s.capacity_cpus),
        "capacityMem": _round(s.capacity_mem),
        "usedCpus": _round(s.allocated_cpus),
        "usedMem": _round(s.allocated_mem),
        "borrowedCpus": _round(s.borrowed_cpus),
        "borrowedMem": _round(s.borrowed_mem),
        "maxBorrowCpus": None if limit is None else _round(limit.cpus),
        "maxBorrowMem": None if limit is None else _round(limit.mem),
        "reserved": _condition(s.conditions, "Reserved"),
    }


def host_rows(
    hosts: Iterable[Host], domains: Iterable[Domain], agentsets: Iterable[AgentSet]
) -> list[Row]:
    """Per Host: where it belongs, its lifecycle, its Mesos agent, its per-host agents
    (ready / expected, from the AgentSets' statuses) and what instances use there (the
    Domains' ``perHost`` figures)."""
    used: dict[str, list[float]] = {}
    for d in domains:
        for entry in d.status.per_host:
            sums = used.setdefault(entry.host, [0.0, 0.0])
            sums[0] += entry.used_cpus
            sums[1] += entry.used_mem
    agents: dict[str, list[int]] = {}
    for a in agentsets:
        for agent in a.status.hosts:
            counts = agents.setdefault(agent.host, [0, 0])
            counts[0] += int(agent.ready)
            counts[1] += 1
    rows = []
    for h in sorted(hosts, key=lambda h: h.metadata.name):
        name = h.metadata.name
        cpus_mem = used.get(name)
        ready_total = agents.get(name)
        rows.append(
            {
                "name": name,
                "address": str(h.spec.address),
                "domain": h.spec.domain,
                "lifecycle": h.spec.lifecycle.value,
                "rack": h.spec.attributes.rack,
                "agentId": h.status.agent_id,
                "agentsReady": None if ready_total is None else ready_total[0],
                "agents": None if ready_total is None else ready_total[1],
                "instances": h.status.instances,
                "cpus": _round(h.spec.resources.cpus),
                "mem": _round(h.spec.resources.mem),
                "usedCpus": None if cpus_mem is None else _round(cpus_mem[0]),
                "usedMem": None if cpus_mem is None else _round(cpus_mem[1]),
                "drift": len(h.status.drift),
            }
        )
    return rows


def app_rows(apps: Iterable[App]) -> list[Row]:
    """:func:`app_row` of each App, by domain and name."""
    return [
        app_row(a) for a in sorted(apps, key=lambda a: (a.metadata.domain or "", a.metadata.name))
    ]


def app_row(a: App) -> Row:
    """An App's desired, ready and updated instances, the rollout's condition and, while
    instances wait for an offer, why (``status.placement``)."""
    s = a.status
    return {
        "domain": a.metadata.domain,
        "name": a.metadata.name,
        "desired": a.spec.instances,
        "ready": s.ready_instances,
        "updated": s.updated_instances,
        "healthy": s.healthy_instances,
        "running": s.running_instances,
        "revision": s.revision,
        "current": s.observed_generation == a.metadata.generation,
        "progressing": _condition(s.conditions, "Progressing"),
        "available": _condition(s.conditions, "Available"),
        "degraded": _condition(s.conditions, "Degraded"),
        "placement": s.placement or None,
        "lastFailure": s.last_failure_message,
    }


def pool_rows(pools: Iterable[IPPool]) -> list[Row]:
    """:func:`pool_row` of each IPPool, by name."""
    return [pool_row(p) for p in sorted(pools, key=lambda p: p.metadata.name)]


def pool_row(p: IPPool) -> Row:
    """An IPPool's addresses given to containers over the usable addresses of the blocks
    handed to hosts, and the utilisation the status holds (0 to 1)."""
    s = p.status
    total = None
    if s.hosts is not None:
        total = sum(usable_count(p.spec, b) for h in s.hosts for b in h.blocks)
    return {
        "name": p.metadata.name,
        "vlan": p.spec.vlan,
        "cidr": str(p.spec.cidr),
        "blocks": s.allocated_blocks,
        "totalBlocks": s.total_blocks,
        "used": s.allocated_ips,
        "total": total,
        "utilisation": s.utilisation,
        "leaked": s.leaked_ips,
    }


def usable_count(spec: IPPoolSpec, block: IPv4Network) -> int:
    """How many addresses of ``block`` may be handed out: as many as
    :func:`reconciler.ipam.addresses.usable_addresses` lists, counted from the excluded
    ranges (the pool's network and broadcast addresses, the gateway, the reserved
    ranges) rather than address by address."""
    net = spec.cidr
    low, high = int(block.network_address), int(block.broadcast_address)
    excluded = [(int(net.network_address),) * 2, (int(net.broadcast_address),) * 2]
    excluded += [(int(first), int(last)) for first, last in spec.reserved_ranges()]
    clipped = sorted((max(f, low), min(la, high)) for f, la in excluded if f <= high and la >= low)
    taken, end = 0, low - 1  # addresses excluded so far; the highest one counted
    for first, last in clipped:
        if last > end:
            taken += last - max(first, end + 1) + 1
            end = last
    return high - low + 1 - taken


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def event_rows(events: Iterable[Event], *, limit: int = EVENTS_SHOWN) -> list[Row]:
    """The ``limit`` most recent events, newest first (the store lists them oldest first)."""
    latest = sorted(events, key=lambda e: (e.last_timestamp, e.first_timestamp), reverse=True)
    rows = []
    for e in latest[:limit]:
        who = e.involved_object
        where = f"{who.domain}/" if who.domain else ""
        rows.append(
            {
                "type": e.type.value,
                "reason": e.reason,
                "object": f"{who.kind}/{where}{who.name}",
                "source": e.source,
                "message": e.message,
                "count": e.count,
                "lastTimestamp": _iso(e.last_timestamp),
            }
        )
    return rows


def snapshot(
    *,
    domains: Sequence[Domain],
    hosts: Sequence[Host],
    apps: Sequence[App],
    pools: Sequence[IPPool],
    agentsets: Sequence[AgentSet],
    events: Sequence[Row],
    controller: Row,
) -> Row:
    """Every table of the page; ``events`` are rows already (:func:`event_rows`), and
    ``controller`` says which replica serves the page and whether it leads."""
    return {
        "controller": controller,
        "domains": domain_rows(domains),
        "hosts": host_rows(hosts, domains, agentsets),
        "apps": app_rows(apps),
        "pools": pool_rows(pools),
        "events": list(events),
    }
