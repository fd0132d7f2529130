"""The Domain controller: dynamic reservations per host and a quota per domain role.

A level-based reconcile of the whole data center, whichever Domain is queued
(reservations of one host depend on every Domain, AgentSet and
RegistryMirror, so a partial pass would be wrong)::

    Hosts, Domains, AgentSets, RegistryMirrors (store)
    + GET_AGENTS (agent id, its port ranges and dynamic reservations by hostname)
      -> desired_reservations(host, ..., ports=agent_ports(agent))
         vs reserved_by_role(agent)     (cpus, mem, disk; ports as ranges)
                                          reconciler/domains/slice.py
      -> UNRESERVE_RESOURCES for what is too much, then RESERVE_RESOURCES
         for what is missing (only the difference; nothing when equal)
    + GET_QUOTA -> quota_changes(domains) -> UPDATE_QUOTA   reconciler/domains/quota.py
      -> each Domain's status: hosts, condition Reserved (True, or False with
         the hosts still pending and why), events Reserved / ReserveFailed

Reserved resources that tasks are using cannot be unreserved: Mesos refuses
and the host stays pending; the controller retries with its back-off
(``requeue_after``, doubling up to RESYNC_SECONDS) and says so in the
condition. A host without an agent yet is pending too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from adapters.mesos.model_cluster import QuotaConfig, QuotaStatus
from adapters.mesos.model_common import Resource
from adapters.mesos.model_enums import ReservationType
from adapters.mesos.model_operator import GetAgents, GetAgentsAgent
from adapters.protocols import Store
from crds.agentset import AgentSet
from crds.app import App
from crds.domain import Domain, DomainHostStatus
from crds.errors import MesosError
from crds.events import EventKind
from crds.host import Host, HostLifecycle
from crds.meta import ConditionStatus
from crds.registrymirror import RegistryMirror
from reconciler.apps.instances import Instance
from reconciler.domains.quota import quota_changes
from reconciler.domains.slice import (
    Amount,
    ReservationDiff,
    agent_ports,
    desired_reservations,
    host_domain,
    reservation_diff,
    reservation_resources,
    reserved_by_role,
)
from reconciler.domains.usage import DomainUsage, domain_usage
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Manager,
    Recorder,
    Request,
    Result,
    enqueue_all,
    spec_or_metadata_changed,
)
from reconciler.runtime.conditions import condition

__all__ = ["DomainMesos", "DomainReconciler", "register"]

logger = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
USAGE_DELAY = 1.0  # a domain's status figures follow instance changes within this
FIRST_RETRY_SECONDS = 0.5
PRINCIPAL = "dcos-controller"
RESERVED = "Reserved"


class DomainMesos(Protocol):
    """The operator calls the Domain controller makes (MesosOperatorClient). Errors are
    MesosError."""

    async def get_agents(self) -> GetAgents: ...
    async def get_quota(self) -> QuotaStatus: ...
    async def update_quota(
        self, configs: Sequence[QuotaConfig], *, force: bool = False
    ) -> None: ...
    async def reserve_resources(
        self,
        agent_id: str,
        resources: Sequence[Resource],
        *,
        source: Sequence[Resource] | None = None,
    ) -> None: ...
    async def unreserve_resources(self, agent_id: str, resources: Sequence[Resource]) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DomainReconciler:
    def __init__(
        self,
        *,
        store: Store,
        mesos: DomainMesos,
        recorder: Recorder,
        principal: str = PRINCIPAL,
        wall: Callable[[], datetime] = _utcnow,
        resync: float = RESYNC_SECONDS,
        instances: Callable[[], Iterable[Instance]] | None = None,
    ) -> None:
        self._store = store
        self._instances = instances
        self._mesos = mesos
        self._recorder = recorder
        self._principal = principal
        self._wall = wall
        self._resync = resync
        self._retry = FIRST_RETRY_SECONDS

    async def reconcile(self, req: Request) -> Result:
        del req  # every Domain's pass is the whole data center's
        domains = [d for d in await self._list("Domain") if isinstance(d, Domain)]
        hosts = [
            h
            for h in await self._list("Host")
            if isinstance(h, Host) and h.spec.lifecycle is not HostLifecycle.DECOMMISSIONED
        ]
        agentsets = [a for a in await self._list("AgentSet") if isinstance(a, AgentSet)]
        mirrors = [m for m in await self._list("RegistryMirror") if isinstance(m, RegistryMirror)]
        pending: dict[str, list[str]] = {}  # role -> "host: why"
        try:
            agents = {a.agent_info.hostname: a for a in (await self._mesos.get_agents()).agents}
        except MesosError as exc:
            return await self._failed(domains, f"GET_AGENTS failed: {exc}")
        for host in hosts:
            wanted = desired_reservations(host, domains, agentsets, mirrors)
            owner = host_domain(host, domains)
            role = owner.mesos_role if owner is not None else ""
            agent = self._agent_id(agents.get(host.metadata.name))
            if agent is None:
                if wanted:
                    pending.setdefault(role, []).append(f"{host.metadata.name}: no agent yet")
                continue
            total = agents[host.metadata.name].total_resources
            wanted = desired_reservations(
                host, domains, agentsets, mirrors, ports=agent_ports(total)
            )
            have = reserved_by_role(total)
            static = reserved_by_role(total, types=(ReservationType.STATIC,))
            why = await self._apply(agent, reservation_diff(wanted, have, static=static))
            if why is not None:
                pending.setdefault(role, []).append(f"{host.metadata.name}: {why}")
        try:
            changes = quota_changes(domains, await self._mesos.get_quota())
            if changes:
                await self._mesos.update_quota(changes, force=True)
        except MesosError as exc:
            return await self._failed(domains, f"quota: {exc}")
        usage = await self._usage(domains, hosts)
        for domain in domains:
            mine = [h for h in hosts if host_domain(h, domains) == domain]
            await self._write_status(
                domain,
                len(mine),
                pending.get(domain.mesos_role, []),
                usage.get(domain.metadata.name),
            )
        if any(pending.values()):
            return Result(requeue_after=self._backoff())
        self._retry = FIRST_RETRY_SECONDS
        return Result(requeue_after=self._resync)

    async def _usage(self, domains: list[Domain], hosts: list[Host]) -> dict[str, DomainUsage]:
        """Capacity, usage and borrowed share per domain, from the instance records."""
        if self._instances is None:
            return {}
        apps = [a for a in await self._list("App") if isinstance(a, App)]
        live = list(self._instances())
        found: dict[str, DomainUsage] = {}
        for domain in domains:
            name = domain.metadata.name
            resources = {
                a.metadata.name: Amount(a.spec.cpus, float(a.spec.mem))
                for a in apps
                if a.metadata.domain == name
            }
            found[name] = domain_usage(domain, domains, hosts, live, resources)
        return found

    async def _list(self, kind: str) -> list[object]:
        return list((await self._store.list(kind)).items)

    @staticmethod
    def _agent_id(agent: GetAgentsAgent | None) -> str | None:
        if agent is None or agent.agent_info.id is None:
            return None
        return agent.agent_info.id.value

    async def _apply(self, agent_id: str, diff: ReservationDiff) -> str | None:
        """Unreserve, then reserve; the reason when Mesos refused, else None."""
        try:
            for role, amount in diff.unreserve.items():
                resources = reservation_resources(role, amount, principal=self._principal)
                await self._mesos.unreserve_resources(agent_id, resources)
            for role, amount in diff.reserve.items():
                resources = reservation_resources(role, amount, principal=self._principal)
                await self._mesos.reserve_resources(agent_id, resources)
        except MesosError as exc:
            logger.warning("agent %s: reservation refused: %s", agent_id, exc)
            return f"refused by Mesos ({exc})"
        return None

    async def _write_status(
        self, domain: Domain, hosts: int, pending: list[str], usage: DomainUsage | None = None
    ) -> None:
        now = self._wall()
        previous = domain.status.conditions
        if pending:
            cond = condition(
                previous,
                RESERVED,
                ConditionStatus.FALSE,
                "Pending",
                f"{len(pending)} host(s) not reserved yet: " + "; ".join(sorted(pending)[:5]),
                now,
            )
        else:
            cond = condition(
                previous,
                RESERVED,
                ConditionStatus.TRUE,
                "Reserved",
                f"{hosts} host(s) reserved for role {domain.mesos_role}",
                now,
            )
        old = next((c for c in previous if c.type == RESERVED), None)
        conditions = [c for c in previous if c.type != RESERVED] + [cond]
        status = domain.status.model_copy(
            update={
                "observed_generation": domain.metadata.generation,
                "hosts": hosts,
                "conditions": conditions,
            }
            | _usage_fields(usage)
        )
        if status == domain.status:
            return
        if old is None or old.status is not cond.status:
            kind = EventKind.NORMAL if cond.status is ConditionStatus.TRUE else EventKind.WARNING
            reason = "Reserved" if cond.status is ConditionStatus.TRUE else "ReservePending"
            self._recorder.emit(domain, kind, reason, cond.message)
        await self._store.update_status(domain.model_copy(update={"status": status}))

    async def _failed(self, domains: list[Domain], why: str) -> Result:
        logger.warning("Domain reservations: %s", why)
        for domain in domains:
            await self._write_status(domain, domain.status.hosts or 0, [f"Mesos: {why}"])
        return Result(requeue_after=self._backoff())

    def _backoff(self) -> float:
        after = self._retry
        self._retry = min(self._resync, self._retry * 2)
        return after


def _usage_fields(usage: DomainUsage | None) -> dict[str, object]:
    if usage is None:
        return {}
    return {
        "capacity_cpus": round(usage.capacity.cpus, 3),
        "capacity_mem": round(usage.capacity.mem, 3),
        "allocated_cpus": round(usage.used.cpus, 3),
        "allocated_mem": round(usage.used.mem, 3),
        "instances": usage.instances,
        "borrowed_cpus": round(usage.borrowed.cpus, 3),
        "borrowed_mem": round(usage.borrowed.mem, 3),
        "per_host": [
            DomainHostStatus(
                host=row.host,
                borrowed=row.borrowed,
                cpus=None if row.capacity is None else round(row.capacity.cpus, 3),
                mem=None if row.capacity is None else round(row.capacity.mem, 3),
                used_cpus=round(row.used.cpus, 3),
                used_mem=round(row.used.mem, 3),
                instances=row.instances,
            )
            for row in usage.hosts
        ],
    }


def register(
    manager: Manager,
    *,
    mesos: DomainMesos,
    store: Store | None = None,
    principal: str = PRINCIPAL,
    settings: ControllerSettings | None = None,
    wall: Callable[[], datetime] = _utcnow,
    resync: float = RESYNC_SECONDS,
    instances: Callable[[], Iterable[Instance]] | None = None,
) -> Controller:
    """The Domain controller on ``manager``, reserving through ``mesos``."""
    store = store or manager.store
    domains = manager.informer("Domain")
    reconciler = DomainReconciler(
        store=store,
        mesos=mesos,
        recorder=Recorder(store, "domain-controller"),
        principal=principal,
        wall=wall,
        resync=resync,
        instances=instances,
    )
    # Only spec changes matter: status writes (ours included) would make a busy loop.
    changed = spec_or_metadata_changed
    builder = manager.controller("domain").for_kind("Domain", updates=changed)
    for kind in ("Host", "AgentSet", "RegistryMirror"):
        builder = builder.watches(
            kind, lambda enqueue: enqueue_all(enqueue, domains, updates=changed)
        )
    return builder.with_settings(settings or ControllerSettings(workers=1)).complete(reconciler)
