"""Give-back: borrowed instances move home once the domain's own hosts have room again.

A domain with ``sharedPool.borrow: WhenExhausted`` places an App's instances on
the shared pool (hosts no domain owns) only when its own hosts are full. When
its own hosts have room again, each borrowed instance is *given back*: moved
home with the machinery that empties a draining host
(:mod:`reconciler.apps.plan`, ``moving`` instances). The App controller passes
the ids :func:`give_back` chooses to the plan, which then

- launches a replacement for each (placement takes the domain's own offers
  first, so it lands at home) as far as ``N + floor(N * maximumOverCapacity)``
  allows;
- kills the borrowed one only once ``N`` instances stay healthy without it,
  i.e. once its replacement is healthy; never below
  ``ceil(N * minimumHealthCapacity)``.

:func:`give_back` is pure and stateless, so a controller that restarts, or a
new leader, decides the same: with ``T`` live instances of the target version
(``N`` wanted), ``T - N`` replacements are already under way, and as many
borrowed instances as that, plus what the home hosts can take now within the
over-capacity room, are moving. Replacements under way are counted only as far
as they are at home or queued with room at home: extra instances all on the
shared pool are a scale down, and a queued instance that fits nowhere at home
(a cancelled drain's replacement) is an excess one, not a give-back.
``home_room`` is what placement over the held offers of the domain's own hosts
takes now, with borrowing disabled, after every queued launch
(:meth:`reconciler.framework.MesosFramework.home_room`).

Nothing moves while a rollout is under way (instances of another version, or
no completed target), while the App is being deleted, or when the App has no
room above ``N`` (``maximumOverCapacity`` 0 would kill before replacing; a
borrowed instance is not worth a moment below ``N``), nor while instances are
on draining hosts. The oldest borrowed instances go first, then by id, so the
choice is the same at every reconcile. An App scaled down keeps its home
instances: the borrowed ones are the first to go.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from crds.domain import BorrowPolicy, Domain
from crds.host import Host
from reconciler.apps.instances import Instance, InstanceState
from reconciler.domains.slice import host_domain

__all__ = ["borrowed", "give_back", "shared_pool_hosts"]


def shared_pool_hosts(hosts: Iterable[Host], domains: Iterable[Domain]) -> frozenset[str]:
    """Hostnames of the shared pool: hosts no Domain owns (``spec.domain`` or a
    Domain's hostSelector). Hosts with no Host object are not in it."""
    domains = list(domains)
    return frozenset(h.metadata.name for h in hosts if host_domain(h, domains) is None)


def borrowed(instances: Iterable[Instance], shared: Collection[str]) -> list[Instance]:
    """Live instances (not Killing) on shared-pool hosts, in the order they move home:
    the oldest first, then by id (a replacement that had to borrow again goes last)."""
    found = [
        i
        for i in instances
        if i.is_active
        and i.state is not InstanceState.KILLING
        and i.hostname is not None
        and i.hostname in shared
    ]
    return sorted(found, key=lambda i: (i.launched_at, i.instance_id))


def give_back(
    instances: Sequence[Instance],
    *,
    target: str | None,
    wanted: int,
    max_active: int,
    shared: Collection[str],
    home_room: int,
    queued_home: int = 0,
    borrow: BorrowPolicy = BorrowPolicy.WHEN_EXHAUSTED,
    leaving: Collection[str] = frozenset(),
) -> frozenset[str]:
    """Ids of the borrowed instances to move home now (see the module docstring).

    ``target`` is the version of the completed rollout (None while one is under
    way), ``wanted`` is ``spec.instances`` (0 while deleting), ``max_active`` is
    ``N + floor(N * maximumOverCapacity)``, ``shared`` the shared-pool hostnames
    ``home_room`` how many more instances the domain's own hosts take now, and
    ``queued_home`` how many of the App's queued (unplaced) instances they take.
    Nothing moves while instances are on ``leaving`` (draining) hosts: the drain's
    replacements would read as give-backs under way."""
    if borrow is not BorrowPolicy.WHEN_EXHAUSTED or target is None or wanted <= 0:
        return frozenset()
    if max_active <= wanted:
        return frozenset()
    active = [i for i in instances if i.is_active]
    live = [i for i in active if i.state is not InstanceState.KILLING]
    if any(i.version != target or i.hostname in leaving for i in live):
        return frozenset()
    away = borrowed(live, shared)
    if not away:
        return frozenset()
    queued = sum(1 for i in live if i.hostname is None)
    home = sum(1 for i in live if i.hostname is not None and i.hostname not in shared)
    stray = max(0, queued - queued_home)  # queued instances that would not go home
    under_way = min(max(0, len(live) - wanted - stray), home + min(queued, queued_home))
    headroom = max(0, max_active - len(active))
    count = min(len(away), under_way + min(max(0, home_room), headroom))
    return frozenset(i.instance_id for i in away[:count])
