"""Per-host reservations: the system slice, the domain's share, and the difference.

Every host gives a *system slice* to the system role: the sum of the
containers of the AgentSets whose ``hostSelector`` matches the host, plus one
registry replica for each RegistryMirror whose ``hostSelector`` matches it
(:func:`system_slice`). The rest of a host that belongs to a Domain (its
``spec.domain`` names it, or the Domain's ``hostSelector`` matches its
labels) is reserved to the Domain's Mesos role; the rest of any other host
stays unreserved, the shared pool (:func:`desired_reservations`).

The Domain controller reads what an agent has reserved
(:func:`reserved_by_role`, from GET_AGENTS), and issues only the difference
(:func:`reservation_diff`): RESERVE_RESOURCES for what is missing and
UNRESERVE_RESOURCES for what is too much, per role, in the refined
``reservations: [{type: DYNAMIC, role, principal}]`` form that
:func:`reservation_resources` builds. Everything here is pure: the same
objects give the same reservations, so a reconcile that finds nothing to do
sends nothing. Static reservations (agent flags) count towards what a role
should have but are never unreserved.

Amounts are cpus, mem and disk (MiB) and host port ranges. A host's cpus,
mem and disk come from its Host; its ports from its agent (every port range
the agent has, reserved or not: :func:`agent_ports`). A slice larger than the
host is cut to the host, so a host never reserves more than it offers.

Ports: the system slice takes :data:`SYSTEM_PORTS_PER_APP` ports for each
AgentSet and registry replica the host runs, from the *top* of the host's
port ranges (31000-32000 gives 31999-32000 to one AgentSet); the domain's
role gets every other port. Placement hands out ports from the bottom of an
offer's ranges, so the system slice growing by an AgentSet takes ports the
domain's tasks are the least likely to hold (a port a task holds cannot be
unreserved: the host stays pending until the task ends).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from adapters.mesos.model_common import Range, Ranges, ReservationInfo, Resource, Scalar
from adapters.mesos.model_enums import ReservationType, ValueType
from crds.agentset import AgentSet
from crds.domain import Domain
from crds.host import Host
from crds.registrymirror import RegistryMirror
from reconciler.system import SYSTEM_ROLE

__all__ = [
    "SYSTEM_PORTS_PER_APP",
    "Amount",
    "PortRanges",
    "ReservationDiff",
    "agent_ports",
    "desired_reservations",
    "host_domain",
    "host_roles",
    "reservation_diff",
    "reservation_resources",
    "reserved_by_role",
    "system_slice",
]

_EPSILON = 1e-6  # below this a difference is rounding, not a reservation to change

SYSTEM_PORTS_PER_APP = 2
"""Host ports of the system slice per AgentSet and registry replica on the host."""

PortRanges = tuple[tuple[int, int], ...]
"""Inclusive ``(begin, end)`` port ranges, sorted and merged."""


def _merge(ranges: Iterable[tuple[int, int]]) -> PortRanges:
    out: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return tuple(out)


def _without(have: PortRanges, take: PortRanges) -> PortRanges:
    out = list(have)
    for t_begin, t_end in take:
        left: list[tuple[int, int]] = []
        for begin, end in out:
            if t_end < begin or t_begin > end:
                left.append((begin, end))
                continue
            if begin < t_begin:
                left.append((begin, t_begin - 1))
            if end > t_end:
                left.append((t_end + 1, end))
        out = left
    return tuple(out)


def _within(have: PortRanges, limit: PortRanges) -> PortRanges:
    return _merge(
        (max(b, lb), min(e, le)) for b, e in have for lb, le in limit if max(b, lb) <= min(e, le)
    )


def _top(ranges: PortRanges, count: int) -> PortRanges:
    """The ``count`` highest ports of ``ranges``."""
    picked: list[tuple[int, int]] = []
    for begin, end in reversed(ranges):
        if count <= 0:
            break
        first = max(begin, end - count + 1)
        picked.append((first, end))
        count -= end - first + 1
    return _merge(picked)


@dataclasses.dataclass(frozen=True, slots=True)
class Amount:
    """CPU shares, memory and disk in MiB, and host port ranges."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: PortRanges = ()
    """Sorted, merged, inclusive ranges."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", _merge(self.ports))

    def __add__(self, other: Amount) -> Amount:
        return Amount(
            self.cpus + other.cpus,
            self.mem + other.mem,
            self.disk + other.disk,
            (*self.ports, *other.ports),
        )

    def minus(self, other: Amount) -> Amount:
        """What is left of this after ``other``, never below zero."""
        return Amount(
            max(0.0, self.cpus - other.cpus),
            max(0.0, self.mem - other.mem),
            max(0.0, self.disk - other.disk),
            _without(self.ports, other.ports),
        )

    def cap(self, limit: Amount) -> Amount:
        """This, cut to ``limit`` (ports: those in both)."""
        return Amount(
            min(self.cpus, limit.cpus),
            min(self.mem, limit.mem),
            min(self.disk, limit.disk),
            _within(self.ports, limit.ports),
        )

    @property
    def empty(self) -> bool:
        return (
            self.cpus <= _EPSILON
            and self.mem <= _EPSILON
            and self.disk <= _EPSILON
            and not self.ports
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ReservationDiff:
    """What to reserve and to unreserve on one agent, per role."""

    reserve: dict[str, Amount]
    unreserve: dict[str, Amount]

    @property
    def empty(self) -> bool:
        return not self.reserve and not self.unreserve


def system_slice(
    host: Host,
    agentsets: Iterable[AgentSet],
    mirrors: Iterable[RegistryMirror],
    *,
    ports: PortRanges = (),
) -> Amount:
    """The resources the host reserves to the system role, cut to the host's capacity:
    cpus and mem of the matching AgentSets and registry replicas, and
    :data:`SYSTEM_PORTS_PER_APP` ports each from the top of the host's ``ports``."""
    labels = host.metadata.labels
    total = Amount()
    members = 0
    for agentset in agentsets:
        if agentset.spec.host_selector.matches(labels):
            template = agentset.spec.template
            total += Amount(template.cpus, float(template.mem))
            members += 1
    for mirror in mirrors:
        if mirror.spec.host_selector.matches(labels):
            total += Amount(mirror.spec.cpus, float(mirror.spec.mem))
            members += 1
    total += Amount(ports=_top(_merge(ports), SYSTEM_PORTS_PER_APP * members))
    return total.cap(_capacity(host, ports))


def host_domain(host: Host, domains: Iterable[Domain]) -> Domain | None:
    """The Domain the host is dedicated to: by ``spec.domain``, else the first Domain
    (by name) whose ``hostSelector`` matches the host's labels."""
    by_name = sorted(domains, key=lambda domain: domain.metadata.name)
    if host.spec.domain is not None:
        return next((d for d in by_name if d.metadata.name == host.spec.domain), None)
    for domain in by_name:
        selector = domain.spec.host_selector
        if selector is not None and selector.matches(host.metadata.labels):
            return domain
    return None


def desired_reservations(
    host: Host,
    domains: Iterable[Domain],
    agentsets: Iterable[AgentSet],
    mirrors: Iterable[RegistryMirror],
    *,
    ports: PortRanges = (),
) -> dict[str, Amount]:
    """Role to the amount the host should have reserved for it dynamically; ``ports``
    are the host's port ranges (its agent's, :func:`agent_ports`)."""
    system = system_slice(host, agentsets, mirrors, ports=ports)
    wanted: dict[str, Amount] = {}
    if not system.empty:
        wanted[SYSTEM_ROLE] = system
    domain = host_domain(host, domains)
    if domain is not None and domain.mesos_role != SYSTEM_ROLE:
        rest = _capacity(host, ports).minus(system)
        if not rest.empty:
            wanted[domain.mesos_role] = rest
    return wanted


def reserved_by_role(
    resources: Sequence[Resource], *, types: Iterable[ReservationType] = (ReservationType.DYNAMIC,)
) -> dict[str, Amount]:
    """Role to the cpus, mem, disk and ports an agent has reserved (GET_AGENTS'
    ``total_resources``), of the reservation ``types`` (dynamic only by default);
    unreserved resources are left out, refined reservations count for their last role."""
    wanted = set(types)
    reserved: dict[str, Amount] = {}
    for resource in resources:
        if not resource.reservations:
            continue
        last = resource.reservations[-1]
        if last.type not in wanted or last.role is None:
            continue
        amount = _amount_of(resource)
        if amount is not None:
            reserved[last.role] = reserved.get(last.role, Amount()) + amount
    return reserved


def agent_ports(resources: Sequence[Resource]) -> PortRanges:
    """Every port range of an agent (GET_AGENTS' ``total_resources``), reserved or not."""
    return _merge(
        (r.begin, r.end)
        for resource in resources
        if resource.name == "ports" and resource.ranges is not None
        for r in resource.ranges.range
    )


def _amount_of(resource: Resource) -> Amount | None:
    if resource.name == "ports" and resource.ranges is not None:
        return Amount(ports=tuple((r.begin, r.end) for r in resource.ranges.range))
    if resource.scalar is None or resource.disk is not None:
        return None  # volumes and MOUNT disks are not the host's plain disk
    value = resource.scalar.value
    return {
        "cpus": Amount(cpus=value),
        "mem": Amount(mem=value),
        "disk": Amount(disk=value),
    }.get(resource.name)


def reservation_diff(
    desired: Mapping[str, Amount],
    actual: Mapping[str, Amount],
    *,
    static: Mapping[str, Amount] | None = None,
) -> ReservationDiff:
    """Per role, the amount to reserve (desired above actual) and to unreserve
    (actual above desired); roles with nothing to change are left out.

    ``actual`` is what is reserved dynamically; ``static`` (agent flags) counts
    towards the desired amount but is never unreserved, since only a restart
    of the agent changes it."""
    fixed = static or {}
    reserve: dict[str, Amount] = {}
    unreserve: dict[str, Amount] = {}
    for role in sorted(set(desired) | set(actual) | set(fixed)):
        want = desired.get(role, Amount())
        dynamic = actual.get(role, Amount())
        have = dynamic + fixed.get(role, Amount())
        more = want.minus(have)
        less = have.minus(want).cap(dynamic)
        if not more.empty:
            reserve[role] = more
        if not less.empty:
            unreserve[role] = less
    return ReservationDiff(reserve=reserve, unreserve=unreserve)


def reservation_resources(role: str, amount: Amount, *, principal: str) -> list[Resource]:
    """The ``Resource`` list of a RESERVE/UNRESERVE_RESOURCES call for ``amount`` of ``role``:
    cpus, mem and disk as SCALAR, ports as RANGES (Mesos' ``Value.Ranges``)."""
    reservation = ReservationInfo(type=ReservationType.DYNAMIC, role=role, principal=principal)
    resources: list[Resource] = []
    for name, value in (("cpus", amount.cpus), ("mem", amount.mem), ("disk", amount.disk)):
        if value > _EPSILON:
            resources.append(
                Resource(
                    name=name,
                    type=ValueType.SCALAR,
                    scalar=Scalar(value=round(value, 3)),
                    reservations=[reservation],
                )
            )
    if amount.ports:
        resources.append(
            Resource(
                name="ports",
                type=ValueType.RANGES,
                ranges=Ranges(range=[Range(begin=b, end=e) for b, e in amount.ports]),
                reservations=[reservation],
            )
        )
    return resources


def _capacity(host: Host, ports: PortRanges = ()) -> Amount:
    res = host.spec.resources
    return Amount(res.cpus, float(res.mem), float(res.disk), _merge(ports))


def host_roles(hosts: Iterable[Host], domains: Iterable[Domain]) -> dict[str, str]:
    """Host name to the Mesos role of the Domain it is dedicated to (:func:`host_domain`);
    hosts of no domain (the shared pool) are left out."""
    known = list(domains)
    roles: dict[str, str] = {}
    for host in hosts:
        domain = host_domain(host, known)
        if domain is not None:
            roles[host.metadata.name] = domain.mesos_role
    return roles
