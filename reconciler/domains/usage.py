"""What a domain has and uses: capacity of its hosts, usage of its live instances.

:func:`domain_usage` is pure. Capacity is the sum of the resources of the
hosts the domain owns (``Host.spec.domain`` or the Domain's hostSelector).
Usage counts the domain's live placed instances (neither ended nor
unreachable), wherever they run; an instance on a host that no domain owns (the shared
pool) counts as borrowed too, unless the domain never borrows (``borrow: Never``, e.g.
the system domain): its instances there run on resources reserved for its role.
Per-host usage is kept for the domain's own hosts and the shared-pool hosts it
borrows from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from crds.domain import BorrowPolicy, Domain
from crds.host import Host
from reconciler.apps.instances import Instance
from reconciler.domains.slice import Amount, host_domain

__all__ = ["DomainUsage", "HostUsage", "domain_usage"]


@dataclasses.dataclass(frozen=True, slots=True)
class DomainUsage:
    capacity: Amount
    """CPU shares and MiB of the domain's own hosts."""
    used: Amount
    """Of its live instances, borrowed included."""
    instances: int
    """Its live instances."""
    borrowed: Amount
    """Of its live instances on shared-pool hosts."""
    by_host: Mapping[str, Amount]
    """Used per hostname."""
    hosts: tuple[HostUsage, ...] = ()
    """Per host: the domain's own hosts (by name), then the shared-pool hosts it borrows."""


@dataclasses.dataclass(frozen=True, slots=True)
class HostUsage:
    host: str
    borrowed: bool
    """A shared-pool host; False: one of the domain's own."""
    capacity: Amount | None
    """The host's resources (own hosts only)."""
    used: Amount
    instances: int


def domain_usage(
    domain: Domain,
    domains: Iterable[Domain],
    hosts: Iterable[Host],
    instances: Iterable[Instance],
    resources: Mapping[str, Amount],
) -> DomainUsage:
    """Usage of ``domain``; ``resources`` maps an app name of the domain to one instance's share."""
    domains = list(domains)
    name = domain.metadata.name
    owner: dict[str, Domain | None] = {}
    capacity = Amount()
    by_host: dict[str, Amount] = {}
    own: dict[str, Amount] = {}
    counts: dict[str, int] = {}
    for h in hosts:
        owner[h.metadata.name] = found = host_domain(h, domains)
        if found is not None and found.metadata.name == name:
            by_host[h.metadata.name] = Amount()
            own[h.metadata.name] = Amount(h.spec.resources.cpus, float(h.spec.resources.mem))
            capacity = capacity + own[h.metadata.name]
    borrows = domain.spec.shared_pool.borrow is not BorrowPolicy.NEVER
    used, borrowed, count = Amount(), Amount(), 0
    for inst in instances:
        if inst.domain != name or not inst.is_active or inst.app not in resources:
            continue
        if inst.hostname is None:
            continue  # still waiting for an offer: uses nothing yet
        share = resources[inst.app]
        used, count = used + share, count + 1
        by_host[inst.hostname] = by_host.get(inst.hostname, Amount()) + share
        counts[inst.hostname] = counts.get(inst.hostname, 0) + 1
        if borrows and inst.hostname in owner and owner[inst.hostname] is None:
            borrowed = borrowed + share
    rows = [HostUsage(h, False, own[h], by_host[h], counts.get(h, 0)) for h in sorted(own)]
    rows += [
        HostUsage(h, True, None, by_host[h], counts[h])
        for h in sorted(by_host)
        if borrows and h not in own and h in owner and owner[h] is None
    ]
    return DomainUsage(capacity, used, count, borrowed, by_host, tuple(rows))
