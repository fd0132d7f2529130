"""``dcosctl plan``: where the Apps of some manifests would land now, writing nothing.

The pipeline, one read each, then the same :func:`reconciler.placement.place`
the framework's offer matcher runs::

    Apps (its revision is the plan's), Domains, Hosts, AgentSets,
    instance records                                                     etcd
      + what an offer from each agent would hold now                 OfferSource
      -> per App of the manifests: the spec apply would write (three-way merge)
         and the instances that spec adds (:func:`new_instances`)
      -> one Snapshot (with the hosts dedicated to a domain and the hosts still
         waiting for their agents, as the framework sees them), one place() over
         every candidate, seeded by the revision
      -> LivePlan: a host or the reason why not, per new instance

The plan cannot take offers from the running framework (it holds them), so an
:class:`OfferSource` says what an offer would contain now: per agent, the
free resources of each role (see ``docs/commands/plan.md``).

Which instances an App adds: an App not live yet, all ``instances``; a new
spec version, the instances of that version a rollout would start (those
already running it are kept); the same version with more instances, the
extra ones. Scaling down and unchanged Apps place nothing.

``LivePlan.revision`` is the etcd revision the Apps were read at:
``dcosctl apply --if-revision`` refuses when any object of its files changed
after it (:mod:`reconciler.apply.apply`).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from adapters.protocols import ObjectKey, OfferAmounts, OfferView, RecordStore
from crds.agentset import AgentSet
from crds.app import App
from crds.domain import Domain
from crds.host import Host
from reconciler.apply.manifests import Manifest
from reconciler.apply.merge import merged_object
from reconciler.apps.instances import Instance, new_instance_id
from reconciler.apps.records import INSTANCES
from reconciler.apps.version import spec_version
from reconciler.controllers.app import agents_waiting
from reconciler.domains.slice import host_roles
from reconciler.placement import (
    AgentOffer,
    Amounts,
    AppKey,
    Candidate,
    DomainUsage,
    PlacedInstance,
    Snapshot,
    Stack,
    build_default_stack,
    lifecycles_of,
    place,
)

__all__ = [
    "AppChange",
    "Change",
    "LivePlan",
    "OfferSource",
    "PlannedInstance",
    "agent_offers",
    "new_instances",
    "plan_manifests",
]

logger = logging.getLogger(__name__)


class OfferSource(Protocol):
    """What each agent would offer now, one view per agent and role."""

    async def offers(self) -> Sequence[OfferView]: ...


class Change(enum.StrEnum):
    CREATE = "create"
    """The App is not live: every instance is new."""
    ROLLOUT = "rollout"
    """A new spec version: its instances replace the running ones."""
    SCALE = "scale"
    """Same version, more instances."""
    NONE = "none"
    """Same version, as many instances or fewer: nothing to place."""


@dataclass(frozen=True)
class AppChange:
    key: ObjectKey
    change: Change
    version: str
    new: int  # instances to place
    error: str | None = None  # why none can be placed at all (no domain)


@dataclass(frozen=True)
class PlannedInstance:
    app: ObjectKey
    index: int  # 1-based among the App's new instances
    version: str
    hostname: str | None  # None: cannot be placed
    role: str | None
    reserved: bool
    detail: str  # the placement metrics' summary

    @property
    def borrowed(self) -> bool:
        """Placed on unreserved resources: the shared pool, which a domain only borrows
        (``sharedPool.borrow: WhenExhausted``, once its own hosts are full)."""
        return self.hostname is not None and not self.reserved


@dataclass(frozen=True)
class LivePlan:
    revision: int
    """The etcd revision the Apps were read at."""
    offers: int
    """Offer parts (agent and role) the plan placed over."""
    apps: tuple[AppChange, ...]
    instances: tuple[PlannedInstance, ...]


def new_instances(desired: App, live: App | None, records: Sequence[Instance]) -> AppChange:
    """What applying ``desired`` over ``live`` adds (see the module docstring)."""
    key = ObjectKey.of(desired)
    version = spec_version(desired.spec)
    wanted = desired.spec.instances
    if live is None:
        return AppChange(key, Change.CREATE, version, wanted)
    if spec_version(live.spec) != version:
        running = sum(i.is_active and i.version == version for i in records)
        return AppChange(key, Change.ROLLOUT, version, max(0, wanted - running))
    extra = wanted - live.spec.instances
    if extra > 0:
        return AppChange(key, Change.SCALE, version, extra)
    return AppChange(key, Change.NONE, version, 0)


def agent_offers(views: Sequence[OfferView]) -> tuple[AgentOffer, ...]:
    """Placement's offers for the views, as the framework converts real ones."""
    out: list[AgentOffer] = []
    for view in views:
        out.extend(
            AgentOffer.from_values(
                offer_id=view.offer_id,
                agent_id=view.agent_id,
                hostname=view.hostname,
                role=view.role,
                attributes=view.attributes,
                reserved=_amounts(view.reserved),
                unreserved=_amounts(view.unreserved),
            )
        )
    return tuple(out)


def _amounts(part: OfferAmounts) -> Amounts:
    return Amounts(cpus=part.cpus, mem=part.mem, disk=part.disk, ports=part.ports)


async def plan_manifests(
    store: RecordStore,
    manifests: Sequence[Manifest],
    *,
    source: OfferSource,
    stack: Stack | None = None,
) -> LivePlan:
    """Place the new instances of the manifests' Apps over the live state; writes nothing."""
    listed = await store.list("App")
    revision = listed.revision
    live = {ObjectKey.of(a): a for a in listed.items if isinstance(a, App)}
    domains = {d.metadata.name: d for d in (await store.list("Domain")).items}
    domains |= {m.obj.metadata.name: m.obj for m in manifests if isinstance(m.obj, Domain)}
    hosts = [h for h in (await store.list("Host")).items if isinstance(h, Host)]
    records = _decode(await store.list_raw(INSTANCES))
    views = await source.offers()
    changes: list[AppChange] = []
    candidates: list[Candidate] = []
    for m in manifests:
        if not isinstance(m.obj, App):
            continue
        key = ObjectKey.of(m.obj)
        current = live.get(key)
        merged = merged_object(m.obj, current, source=m.source, document=m.document)
        assert isinstance(merged, App)
        mine = [i for i in records if i.domain == key.domain and i.app == key.name]
        change = new_instances(merged, current, mine)
        domain = domains.get(key.domain or "")
        if not isinstance(domain, Domain):
            change = AppChange(key, change.change, change.version, change.new, "no such domain")
            changes.append(change)
            continue
        changes.append(change)
        candidates.extend(_candidates(merged, domain, change, revision))
    snapshot = _snapshot(views, hosts, records, domains)
    agentsets = [a for a in (await store.list("AgentSet")).items if isinstance(a, AgentSet)]
    snapshot = dataclasses.replace(
        snapshot,
        host_roles=host_roles(hosts, [d for d in domains.values() if isinstance(d, Domain)]),
        agents_waiting=agents_waiting(agentsets, hosts),
    )
    result = place(
        candidates, snapshot, stack=stack or build_default_stack(), seed=f"plan@{revision}"
    )
    outcome: dict[str, tuple[str | None, str | None, bool, str]] = {
        p.candidate.instance_id: (p.hostname, p.role, p.reserved, p.metrics.summary())
        for p in result.placements
    }
    for u in result.unplaced:
        outcome[u.candidate.instance_id] = (None, None, False, u.metrics.summary())
    planned = []
    numbers: dict[AppKey, int] = {}
    for candidate in candidates:
        hostname, role, reserved, detail = outcome[candidate.instance_id]
        number = numbers[candidate.app] = numbers.get(candidate.app, 0) + 1
        key = ObjectKey("App", candidate.app.domain, candidate.app.name)
        planned.append(
            PlannedInstance(key, number, candidate.version, hostname, role, reserved, detail)
        )
    logger.info("planned %d instances over %d offers", len(planned), len(snapshot.offers))
    return LivePlan(revision, len(snapshot.offers), tuple(changes), tuple(planned))


def _decode(raw: Sequence[tuple[str, bytes]]) -> list[Instance]:
    records = []
    for path, value in raw:
        try:
            records.append(Instance.from_json(value))
        except ValueError:
            logger.warning("instance record %s does not decode; left out of the plan", path)
    return records


def _candidates(app: App, domain: Domain, change: AppChange, revision: int) -> list[Candidate]:
    """The App's new instances as candidates, with ids drawn from a seeded generator."""
    rng = random.Random(f"plan@{revision}/{change.key}")
    return [
        Candidate.for_app(
            app,
            domain,
            instance_id=new_instance_id(
                domain=domain.metadata.name, app=app.metadata.name, version=change.version, rng=rng
            ),
            version=change.version,
            host_ports=len(app.spec.ports),
        )
        for _ in range(change.new)
    ]


def _snapshot(
    views: Sequence[OfferView],
    hosts: Sequence[Host],
    records: Sequence[Instance],
    domains: Mapping[str, object],
) -> Snapshot:
    attributes = {
        v.hostname: {**{k: str(a) for k, a in v.attributes.items()}, "hostname": v.hostname}
        for v in views
    }
    placed: dict[AppKey, list[PlacedInstance]] = {}
    for inst in records:
        if inst.is_active and inst.hostname:
            where = attributes.get(inst.hostname, {"hostname": inst.hostname})
            placed.setdefault(AppKey(inst.domain, inst.app), []).append(
                PlacedInstance(inst.hostname, where)
            )
    return Snapshot(
        offers=agent_offers(views),
        lifecycles=lifecycles_of(hosts),
        instances={key: tuple(found) for key, found in placed.items()},
        domains={n: DomainUsage.of(d) for n, d in domains.items() if isinstance(d, Domain)},
    )
