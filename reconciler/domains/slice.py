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

Amounts are cpus and mem (MiB). A slice larger than the host is cut to the
host, so a host never reserves more than it offers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from adapters.mesos.model_common import ReservationInfo, Resource, Scalar
from adapters.mesos.model_enums import ReservationType, ValueType
from crds.agentset import AgentSet
from crds.domain import Domain
from crds.host import Host
from crds.registrymirror import RegistryMirror
from reconciler.system import SYSTEM_ROLE

__all__ = [
    "Amount",
    "ReservationDiff",
    "desired_reservations",
    "host_domain",
    "reservation_diff",
    "reservation_resources",
    "reserved_by_role",
    "system_slice",
]

_EPSILON = 1e-6  # below this a difference is rounding, not a reservation to change


@dataclasses.dataclass(frozen=True, slots=True)
class Amount:
    """CPU shares and memory in MiB."""

    cpus: float = 0.0
    mem: float = 0.0

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.cpus + other.cpus, self.mem + other.mem)

    def minus(self, other: Amount) -> Amount:
        """What is left of this after ``other``, never below zero."""
        return Amount(max(0.0, self.cpus - other.cpus), max(0.0, self.mem - other.mem))

    def cap(self, limit: Amount) -> Amount:
        """This, cut to ``limit``."""
        return Amount(min(self.cpus, limit.cpus), min(self.mem, limit.mem))

    @property
    def empty(self) -> bool:
        return self.cpus <= _EPSILON and self.mem <= _EPSILON


@dataclasses.dataclass(frozen=True, slots=True)
class ReservationDiff:
    """What to reserve and to unreserve on one agent, per role."""

    reserve: dict[str, Amount]
    unreserve: dict[str, Amount]

    @property
    def empty(self) -> bool:
        return not self.reserve and not self.unreserve


def system_slice(
    host: Host, agentsets: Iterable[AgentSet], mirrors: Iterable[RegistryMirror]
) -> Amount:
    """The resources the host reserves to the system role, cut to the host's capacity."""
    labels = host.metadata.labels
    total = Amount()
    for agentset in agentsets:
        if agentset.spec.host_selector.matches(labels):
            template = agentset.spec.template
            total += Amount(template.cpus, float(template.mem))
    for mirror in mirrors:
        if mirror.spec.host_selector.matches(labels):
            total += Amount(mirror.spec.cpus, float(mirror.spec.mem))
    return total.cap(_capacity(host))


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
) -> dict[str, Amount]:
    """Role to the amount the host should have reserved for it dynamically."""
    system = system_slice(host, agentsets, mirrors)
    wanted: dict[str, Amount] = {}
    if not system.empty:
        wanted[SYSTEM_ROLE] = system
    domain = host_domain(host, domains)
    if domain is not None and domain.mesos_role != SYSTEM_ROLE:
        rest = _capacity(host).minus(system)
        if not rest.empty:
            wanted[domain.mesos_role] = rest
    return wanted


def reserved_by_role(
    resources: Sequence[Resource], *, types: Iterable[ReservationType] = (ReservationType.DYNAMIC,)
) -> dict[str, Amount]:
    """Role to the cpus/mem an agent has reserved (GET_AGENTS' ``total_resources``), of the
    reservation ``types`` (dynamic only by default); unreserved resources are left out,
    refined reservations count for their last role."""
    wanted = set(types)
    reserved: dict[str, Amount] = {}
    for resource in resources:
        if not resource.reservations or resource.scalar is None:
            continue
        last = resource.reservations[-1]
        if last.type not in wanted or last.role is None:
            continue
        value = resource.scalar.value
        amount = {"cpus": Amount(cpus=value), "mem": Amount(mem=value)}.get(resource.name)
        if amount is not None:
            reserved[last.role] = reserved.get(last.role, Amount()) + amount
    return reserved


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
    """The ``Resource`` list of a RESERVE/UNRESERVE_RESOURCES call for ``amount`` of ``role``."""
    reservation = ReservationInfo(type=ReservationType.DYNAMIC, role=role, principal=principal)
    resources: list[Resource] = []
    for name, value in (("cpus", amount.cpus), ("mem", amount.mem)):
        if value > _EPSILON:
            resources.append(
                Resource(
                    name=name,
                    type=ValueType.SCALAR,
                    scalar=Scalar(value=round(value, 3)),
                    reservations=[reservation],
                )
            )
    return resources


def _capacity(host: Host) -> Amount:
    return Amount(host.spec.resources.cpus, float(host.spec.resources.mem))
