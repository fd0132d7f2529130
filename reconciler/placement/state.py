"""What one plan has taken from the snapshot so far.

:class:`PlanState` overlays a :class:`~reconciler.placement.snapshot.Snapshot`:
resources left in each offer part, host ports handed out (in range order, never
twice), instances of each app per attribute value (existing plus planned, in
:class:`ValueCounts` built lazily per (app, attribute) and then kept up to date,
so a constraint check is a dictionary lookup, not a walk over instances),
domain usage, addresses taken per (pool, host), and the offers placed on.

It is created and mutated (``commit``) only inside
:func:`reconciler.placement.stack.place`; checkers and scorers only read it.
Next: :mod:`reconciler.placement.checkers`.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.placement.snapshot import (
    AgentOffer,
    AppKey,
    Candidate,
    DomainUsage,
    PlacedInstance,
    Snapshot,
)

__all__ = ["PlanState", "ValueCounts", "attribute"]

_EPSILON = 1e-9  # cpus like 0.1 + 0.2 must fit into 0.3


class ValueCounts:
    """Instances of one app per value of one attribute: existing plus planned."""

    __slots__ = ("_min", "counts", "total")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}  # only values holding at least one instance
        self.total = 0
        self._min: int | None = None  # cache of min(counts.values()); None when stale

    def add(self, value: str | None) -> None:
        self.total += 1
        if value is not None:
            self.counts[value] = self.counts.get(value, 0) + 1
            self._min = None

    def min_count(self) -> int:
        if self._min is None:
            self._min = min(self.counts.values(), default=0)
        return self._min


class _Left:
    __slots__ = ("cpus", "disk", "mem", "ports_free", "ports_used")

    def __init__(self, agent: AgentOffer) -> None:
        self.cpus, self.mem, self.disk = agent.cpus, agent.mem, agent.disk
        self.ports_used = 0
        self.ports_free = agent.port_count


class _Usage:
    __slots__ = ("borrowed_cpus", "borrowed_mem", "cpus", "disk", "instances", "mem")

    def __init__(self, used: DomainUsage) -> None:
        self.cpus, self.mem, self.disk = used.cpus, used.mem, used.disk
        self.instances = used.instances
        self.borrowed_cpus, self.borrowed_mem = used.borrowed_cpus, used.borrowed_mem


def attribute(hostname: str, attributes: Mapping[str, str], name: str) -> str | None:
    """The value of attribute ``name`` (``hostname`` is always known), or None."""
    return hostname if name == "hostname" else attributes.get(name)


class PlanState:
    """The snapshot as the plan has consumed it so far (mutated only by ``commit``)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.borrowing = False  # True while the stack tries the shared pool (WhenExhausted)
        self._left = {id(agent): _Left(agent) for agent in snapshot.offers}
        self._counts: dict[tuple[AppKey, str], ValueCounts] = {}
        self._counted: dict[AppKey, list[tuple[str, ValueCounts]]] = {}  # same, per app
        self._planned: dict[AppKey, list[PlacedInstance]] = {}
        self._usage: dict[str, _Usage] = {}
        self._ips: dict[tuple[str | None, str], int] = {}  # addresses this plan took
        self.used_offers: set[str] = set()  # ids of the offers this plan placed on

    def left(self, agent: AgentOffer) -> _Left:
        return self._left[id(agent)]

    def fits(self, agent: AgentOffer, candidate: Candidate) -> str | None:
        """The first resource the offer lacks for ``candidate``, or None."""
        left = self._left[id(agent)]
        if candidate.cpus > left.cpus + _EPSILON:
            return "cpus"
        if candidate.mem > left.mem + _EPSILON:
            return "mem"
        if candidate.disk > left.disk + _EPSILON:
            return "disk"
        if candidate.ports > left.ports_free:
            return "ports"
        return None

    def counts(self, app: AppKey, name: str) -> ValueCounts:
        """Instances of ``app`` per value of attribute ``name``, built on first use."""
        key = (app, name)
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = ValueCounts()
            self._counted.setdefault(app, []).append((name, found))
            for inst in (*self.snapshot.instances.get(app, ()), *self._planned.get(app, ())):
                found.add(attribute(inst.hostname, inst.attributes, name))
        return found

    def quota(self, domain: str) -> DomainUsage:
        return self.snapshot.domains.get(domain) or DomainUsage()

    def usage(self, domain: str) -> _Usage:
        """What the domain uses, this plan's placements included."""
        found = self._usage.get(domain)
        if found is None:
            found = self._usage[domain] = _Usage(self.quota(domain))
        return found

    def ip_pool(self, candidate: Candidate, hostname: str) -> str | None:
        """The pool ``candidate``'s address comes from on ``hostname``: its own ``ipPool``,
        else the host's pool when the snapshot knows it (None: no pool selects the host)."""
        pool_of = self.snapshot.ip_pool_of
        if candidate.ip_pool is not None or pool_of is None:
            return candidate.ip_pool
        return pool_of(hostname)

    def free_ips(self, pool: str | None, hostname: str) -> int | None:
        """Free addresses of ``pool`` on ``hostname`` left to this plan; None: no IPAM,
        or the pool does not select the host."""
        if self.snapshot.free_ips is None:
            return None
        free = self.snapshot.free_ips(pool, hostname)
        return None if free is None else free - self._ips.get((pool, hostname), 0)

    def commit(self, agent: AgentOffer, candidate: Candidate) -> tuple[int, ...]:
        """Take ``candidate``'s resources from ``agent``; return the host ports picked."""
        left = self._left[id(agent)]
        left.cpus -= candidate.cpus
        left.mem -= candidate.mem
        left.disk -= candidate.disk
        ports = _nth_ports(agent.ports, left.ports_used, candidate.ports)
        left.ports_used += candidate.ports
        left.ports_free -= candidate.ports
        self.used_offers.add(agent.offer_id)
        placed = PlacedInstance(agent.hostname, agent.attributes)
        self._planned.setdefault(candidate.app, []).append(placed)
        for name, counts in self._counted.get(candidate.app, ()):
            counts.add(attribute(agent.hostname, agent.attributes, name))
        usage = self.usage(candidate.app.domain)
        usage.cpus += candidate.cpus
        usage.mem += candidate.mem
        usage.disk += candidate.disk
        usage.instances += 1
        if not agent.reserved:
            usage.borrowed_cpus += candidate.cpus
            usage.borrowed_mem += candidate.mem
        if candidate.needs_ip and self.snapshot.free_ips is not None:
            pool = self.ip_pool(candidate, agent.hostname)
            if pool is not None or self.snapshot.ip_pool_of is None:
                key = (pool, agent.hostname)
                self._ips[key] = self._ips.get(key, 0) + 1
        return ports


def _nth_ports(ranges: tuple[tuple[int, int], ...], skip: int, count: int) -> tuple[int, ...]:
    """``count`` ports after the first ``skip`` ones, walking the ranges in order."""
    picked: list[int] = []
    for begin, end in ranges:
        if len(picked) == count:
            break
        size = end - begin + 1
        if skip >= size:
            skip -= size
            continue
        first = begin + skip
        skip = 0
        picked.extend(range(first, min(end, first + count - len(picked) - 1) + 1))
    return tuple(picked)
