"""What placement reads: offers, hosts, instances and quotas, as plain frozen values.

The placement pipeline never sees a Mesos message. The framework converts each
Mesos ``Offer`` into one or two :class:`AgentOffer` values with
:meth:`AgentOffer.from_values` (the mapping is spelled out there), the App
controller turns each missing instance into a :class:`Candidate`, and the
store's Hosts, instance records and Domains become a :class:`Snapshot`.

Everything here is read-only; what one plan has taken from the snapshot so
far lives in :mod:`reconciler.placement.state`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from crds.app import App, Constraint, ContainerNetwork
from crds.domain import BorrowPolicy, Domain
from crds.host import Host, HostLifecycle

__all__ = [
    "SHARED_ROLE",
    "AgentOffer",
    "Amounts",
    "AppKey",
    "Candidate",
    "DomainUsage",
    "FreeIps",
    "IpPoolOf",
    "PlacedInstance",
    "Snapshot",
    "lifecycles_of",
]

SHARED_ROLE = "*"
"""The role of unreserved resources: the shared pool."""

FreeIps = Callable[[str | None, str], int | None]
"""``free_ips(pool, hostname)``: free addresses of ``pool`` in the host's block, before
this plan takes any (0 while the pool has given the host no block); None when the pool
does not select the host. With :attr:`Snapshot.ip_pool_of` set, ``pool`` is always a
pool's name; without, None stands for the host's own pool."""

IpPoolOf = Callable[[str], str | None]
"""``ip_pool_of(hostname)``: the pool an instance that names none draws its address
from on that host (the first by name of the pools selecting it); None: no pool selects
the host, and such an instance launches there without an address of its own."""


class AppKey(NamedTuple):
    domain: str
    name: str


@dataclass(frozen=True, slots=True)
class Amounts:
    """Scalar resources and port ranges of one part of an offer."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: tuple[tuple[int, int], ...] = ()
    """Inclusive ``(begin, end)`` ranges, as Mesos offers them."""

    def empty(self) -> bool:
        return not (self.cpus or self.mem or self.disk or self.ports)


@dataclass(frozen=True, slots=True)
class AgentOffer:
    """One offer from one agent for one role: either its reserved or its unreserved part.

    ``role`` is the offer's ``allocation_info.role``; ``reserved`` says whether these
    resources are reserved for that role (the domain's own hosts) or unreserved
    (the shared pool). A task launched on it takes resources of that same kind.
    """

    offer_id: str
    agent_id: str
    hostname: str
    role: str
    reserved: bool
    attributes: Mapping[str, str] = field(hash=False)
    """Agent attributes as text, ``hostname`` included."""
    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: tuple[tuple[int, int], ...] = ()

    @property
    def port_count(self) -> int:
        return sum(end - begin + 1 for begin, end in self.ports)

    @classmethod
    def from_values(
        cls,
        *,
        offer_id: str,
        agent_id: str,
        hostname: str,
        role: str,
        attributes: Mapping[str, str | float],
        reserved: Amounts = Amounts(),
        unreserved: Amounts = Amounts(),
    ) -> tuple[AgentOffer, ...]:
        """The placeable parts of one Mesos offer, reserved part first; empty parts are left out.

        The framework maps a Mesos ``Offer`` like this:

        * ``offer_id`` = ``offer.id.value``, ``agent_id`` = ``offer.agent_id.value``,
          ``hostname`` = ``offer.hostname``;
        * ``role`` = ``offer.allocation_info.role`` (the framework's role when absent);
        * ``attributes``: each TEXT attribute's ``text.value``, each SCALAR attribute's
          ``scalar.value`` (rendered here: 4.0 → "4", 2.5 → "2.5"); RANGES and SET
          attributes are left out;
        * ``reserved`` / ``unreserved``: the sums of the SCALAR ``cpus``, ``mem``,
          ``disk`` resources and the RANGES of ``ports``, split by whether the resource
          has ``reservations`` (or a legacy ``role`` other than "*"). Revocable
          resources and disks with ``disk`` info (volumes, MOUNT disks) are left out.
        """
        text = {key: _render(value) for key, value in attributes.items()}
        text["hostname"] = hostname
        parts = ((True, reserved), (False, unreserved))
        return tuple(
            cls(
                offer_id=offer_id,
                agent_id=agent_id,
                hostname=hostname,
                role=role,
                reserved=is_reserved,
                attributes=text,
                cpus=amounts.cpus,
                mem=amounts.mem,
                disk=amounts.disk,
                ports=tuple(sorted(amounts.ports)),
            )
            for is_reserved, amounts in parts
            if not amounts.empty()
        )


def _render(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class PlacedInstance:
    """An instance already running (or launching): where it is, for constraints and scoring."""

    hostname: str
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One instance to place, with everything about its app and domain that placement needs."""

    app: AppKey
    instance_id: str
    version: str
    role: str
    """The domain's Mesos role."""
    cpus: float
    mem: float
    disk: float = 0.0
    ports: int = 0
    """How many host ports to pick from the offer's ranges."""
    constraints: tuple[Constraint, ...] = ()
    borrow: BorrowPolicy = BorrowPolicy.NEVER
    max_borrow_cpus: float | None = None
    max_borrow_mem: float | None = None
    needs_ip: bool = True
    ip_pool: str | None = None
    """The IPPool the address comes from; None: the pool of the host it lands on."""

    @property
    def request_id(self) -> str:
        """Names this placement request; the tie-breaking seed derives from it."""
        return f"{self.app.domain}/{self.app.name}@{self.version}#{self.instance_id}"

    @classmethod
    def for_app(
        cls, app: App, domain: Domain, *, instance_id: str, version: str, host_ports: int = 0
    ) -> Candidate:
        """The candidate for one instance of ``app``, which belongs to ``domain``."""
        limit = domain.spec.shared_pool.max_borrow
        return cls(
            app=AppKey(domain.metadata.name, app.metadata.name),
            instance_id=instance_id,
            version=version,
            role=domain.mesos_role,
            cpus=app.spec.cpus,
            mem=float(app.spec.mem),
            disk=float(app.spec.disk),
            ports=host_ports,
            constraints=tuple(app.spec.constraints),
            borrow=domain.spec.shared_pool.borrow,
            max_borrow_cpus=limit.cpus if limit else None,
            max_borrow_mem=float(limit.mem) if limit and limit.mem is not None else None,
            # a command task, like a host-network container, shares the host's network
            needs_ip=app.spec.image is not None and app.spec.network is ContainerNetwork.BRIDGE,
            ip_pool=app.spec.ip_pool,
        )


@dataclass(frozen=True, slots=True)
class DomainUsage:
    """A domain's quota (None: not limited) and what it uses now, borrowed included."""

    quota_cpus: float | None = None
    quota_mem: float | None = None
    quota_disk: float | None = None
    quota_instances: int | None = None
    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    instances: int = 0
    borrowed_cpus: float = 0.0
    borrowed_mem: float = 0.0

    @classmethod
    def of(cls, domain: Domain) -> DomainUsage:
        """Quota from the spec, usage from the status the Domain controller wrote."""
        quota, status = domain.spec.quota, domain.status
        return cls(
            quota_cpus=quota.cpus,
            quota_mem=None if quota.mem is None else float(quota.mem),
            quota_disk=None if quota.disk is None else float(quota.disk),
            quota_instances=quota.instances,
            cpus=status.allocated_cpus or 0.0,
            mem=status.allocated_mem or 0.0,
            instances=status.instances or 0,
            borrowed_cpus=status.borrowed_cpus or 0.0,
            borrowed_mem=status.borrowed_mem or 0.0,
        )


@dataclass(frozen=True)
class Snapshot:
    """Everything one plan reads; nothing in it changes while placing."""

    offers: tuple[AgentOffer, ...]
    lifecycles: Mapping[str, HostLifecycle] = field(default_factory=dict)
    """Host lifecycle by hostname (:func:`lifecycles_of`)."""
    instances: Mapping[AppKey, tuple[PlacedInstance, ...]] = field(default_factory=dict)
    """Instances already placed, per app."""
    domains: Mapping[str, DomainUsage] = field(default_factory=dict)
    """Quota and usage by domain name; a domain left out is not limited."""
    free_ips: FreeIps | None = None
    """Free addresses per pool and host; None: no IPAM (no IPPool): no address is checked
    or given."""
    ip_pool_of: IpPoolOf | None = None
    """The pool of each host, for candidates that name none; None: such candidates are
    checked against ``free_ips(None, hostname)``."""
    network_ready: Callable[[str, str], bool] | None = None
    """``network_ready(pool, hostname)``: the pool's Docker network is in place on the
    host's engine (a Host whose engine is declared, until its Host controller made the
    network, takes no instance with an address: it would fail and hold the address
    through its cooldown); None: not checked."""
    unknown_hosts_active: bool = True
    """Offers from hosts with no Host object take instances (False: "host unknown")."""
    host_roles: Mapping[str, str] = field(default_factory=dict)
    """The Mesos role of the Domain each host is dedicated to (``Host.spec.domain`` or the
    Domain's hostSelector); hosts left out are the shared pool. The unreserved resources of
    a dedicated host are not the shared pool: they are its domain's share before the Domain
    controller has reserved it, and nothing is placed on them."""
    agents_waiting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per host, the AgentSets that select it whose agent is not ready there yet; such a
    host takes no instance outside the system domain."""


def lifecycles_of(hosts: Iterable[Host]) -> dict[str, HostLifecycle]:
    """Host lifecycle by hostname; a Host's name is its agent's hostname."""
    return {host.metadata.name: host.spec.lifecycle for host in hosts}
