"""The Host controller: CMDB mirror, onboarding, engine drift and orphans, the pool
network, decommissioning to offline.

Two parts, registered together by :func:`register`:

- the CMDB mirror (:mod:`reconciler.hosts.mirror`, a leader-only runnable,
  only when a CMDB is configured) writes the CMDB-owned fields of each Host's
  spec and asks for every Host to be reconciled after each sync;
- a level-based reconcile per Host::

    Host (informer) + pass (reconciler/hosts/snapshot.py: instance counts,
    Mesos agents and tasks, IPAM blocks; read once for all hosts)
      -> CmdbReachable, lastCmdbSync          from the mirror's last sync
      -> Onboarded (Active hosts)             agent by hostname, attributes compared
      -> engine (spec.engine set)             EngineReachable, the pool's network
                                              ensured, ProfileDrift, Orphans, drift
      -> decommission (Draining/Decommissioned)  reconciler/hosts/decommission.py
                                              decides, reconciler/hosts/retirement.py
                                              acts: one idempotent step after another
      -> status (only when it changed), events; requeue

Conditions: CmdbReachable, Onboarded, EngineReachable, PoolNetwork,
ProfileDrift, Orphans, Draining, Decommissioned. Events: CmdbSynced,
CreatedFromCmdb, Onboarded, AttributesDiffer, Reactivated, NetworkCreated,
ProfileDrift, ProfileConforms, Orphans, AgentDraining, SetOffline,
Decommissioned, BlockReleased, Recycled. Failures of Mesos, Docker or the
CMDB are reported in a condition and retried with per-host backoff; etcd
failures fail the reconcile (the runtime retries). ``docs/hosts.md`` has
the details.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Network
from typing import cast

from adapters.protocols import (
    CmdbDevices,
    DockerHostEngine,
    IpamStore,
    MesosOperator,
    PoolAllocations,
    RawStore,
    Store,
)
from crds.errors import DockerError, MesosError
from crds.events import EventKind
from crds.host import Host, HostEngine, HostLifecycle, ProfileDrift
from crds.ippool import IPPool
from crds.meta import ConditionStatus, Resource
from reconciler.hosts import conditions as c
from reconciler.hosts.drift import Drift, compare
from reconciler.hosts.mirror import CmdbMirror, MirrorSettings
from reconciler.hosts.network import network_drift, network_plan
from reconciler.hosts.onboarding import AgentView, attribute_diff, diff_message
from reconciler.hosts.onboarding import known_task_ids as known_tasks
from reconciler.hosts.outcome import Outcome
from reconciler.hosts.retirement import Decommissioner
from reconciler.hosts.snapshot import HeldBlock, Pass, PassCache
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Informer,
    Manager,
    Recorder,
    Request,
    Result,
    enqueue_all,
    spec_or_metadata_changed,
)

__all__ = ["EngineFactory", "HostReconciler", "HostSettings", "register"]

logger = logging.getLogger(__name__)

EngineFactory = Callable[[HostEngine], DockerHostEngine]
"""Opens a client of a host's Docker engine (``adapters.docker_host.DockerHostReader``)."""

TRUE, FALSE, UNKNOWN = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HostSettings:
    """Timings of the Host controller."""

    resync: float = 30.0
    """Seconds between two reconciles of a quiet host (engine drift is read this often)."""
    poll: float = 1.0
    """Seconds between reconciles of a host waiting in its decommissioning; also the
    first retry delay after a failure."""
    backoff_max: float = 30.0
    """The longest retry delay after an engine, Mesos or CMDB failure."""
    pass_max_age: float = 5.0
    """How long one read of instances, Mesos and IPAM serves every host's reconcile."""
    drain_grace: float | None = None
    """DRAIN_AGENT's max_grace_period; None: the master's default."""
    mirror: MirrorSettings = field(default_factory=MirrorSettings)
    """The CMDB mirror's interval and device filters."""


class HostReconciler:
    def __init__(
        self,
        *,
        store: Store,
        hosts: Informer,
        pools: Informer,
        ipam: IpamStore,
        passes: PassCache,
        recorder: Recorder,
        mirror: CmdbMirror | None = None,
        cmdb: CmdbDevices | None = None,
        mesos: MesosOperator | None = None,
        engines: EngineFactory | None = None,
        settings: HostSettings | None = None,
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._hosts = hosts
        self._pools = pools
        self._ipam = ipam
        self.passes = passes
        self._recorder = recorder
        self._mirror = mirror
        self._cmdb = cmdb
        self._mesos = mesos
        self._engines = engines
        self.settings = settings or HostSettings()
        self._wall = wall
        self._decommissioner = Decommissioner(
            store=store,
            ipam=ipam,
            passes=passes,
            cmdb=cmdb,
            mirror=mirror,
            mesos=mesos,
            poll=self.settings.poll,
            drain_grace=self.settings.drain_grace,
        )
        self._clients: dict[str, tuple[HostEngine, DockerHostEngine]] = {}
        self._failures: dict[str, int] = {}  # host -> consecutive failed reconciles

    async def close(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def reconcile(self, req: Request) -> Result:
        obj = self._hosts.get(req.key)
        if not isinstance(obj, Host) or obj.metadata.deletion_timestamp is not None:
            await self._drop_client(req.key.name)
            self._failures.pop(req.key.name, None)
            return Result()
        snapshot = await self.passes.get()
        out = Outcome(obj, self._wall())
        self._cmdb_condition(out)
        self._onboarding(out, snapshot)
        if out.host.spec.lifecycle is HostLifecycle.ACTIVE:
            await self._reactivate(out, snapshot)
        drift = await self._engine(out, snapshot)
        await self._decommissioner.run(out, snapshot)
        for kind, reason, message in out.events:  # right after what they tell of
            self._recorder.emit(out.host, kind, reason, message)
        snapshot = await self.passes.get()  # read again if a step changed it
        await self._write_status(out, snapshot, drift)
        return Result(requeue_after=self._requeue(out))

    def _requeue(self, out: Outcome) -> float:
        name = out.host.metadata.name
        if not out.failed:
            self._failures.pop(name, None)
            return out.requeue if out.requeue is not None else self.settings.resync
        failures = self._failures[name] = self._failures.get(name, 0) + 1
        return min(self.settings.poll * 2.0 ** (failures - 1), self.settings.backoff_max)

    # ------------------------------------------------------------------ CMDB

    def _cmdb_condition(self, out: Outcome) -> None:
        mirror = self._mirror
        if mirror is None:
            return
        if mirror.error is not None:
            out.set(c.CMDB_REACHABLE, FALSE, "CmdbUnavailable", mirror.error)
        elif mirror.last_sync is None:
            out.set(c.CMDB_REACHABLE, UNKNOWN, "NotSynced", "the CMDB was not read yet")
        else:
            out.set(c.CMDB_REACHABLE, TRUE, "Synced")

    # ------------------------------------------------------------ onboarding

    def _agent(self, out: Outcome, snapshot: Pass) -> AgentView | None:
        if snapshot.agents is None:
            return None
        return snapshot.agents.get(out.host.metadata.name)

    def _onboarding(self, out: Outcome, snapshot: Pass) -> None:
        host = out.host
        if self._mesos is None or host.spec.lifecycle is not HostLifecycle.ACTIVE:
            return
        if snapshot.agents is None:
            out.set(c.ONBOARDED, UNKNOWN, "MesosUnavailable", snapshot.mesos_error or "")
            out.failed = True
            return
        agent = snapshot.agents.get(host.metadata.name)
        was = out.was(c.ONBOARDED)
        if agent is None:
            message = f"no Mesos agent is registered with hostname {host.metadata.name}"
            out.set(c.ONBOARDED, FALSE, "NoAgent", message)
            return
        diffs = attribute_diff(host.spec.attributes.as_mesos(), agent.attributes)
        if diffs:
            message = diff_message(agent, diffs)
            out.set(c.ONBOARDED, FALSE, "AttributesDiffer", message)
            if was is None or was.reason != "AttributesDiffer" or was.message != message:
                out.event(EventKind.WARNING, "AttributesDiffer", message)
            return
        out.set(c.ONBOARDED, TRUE, "AgentRegistered", f"agent {agent.agent_id}")
        if was is None or was.status is not TRUE:
            out.event(EventKind.NORMAL, "Onboarded", f"Mesos agent {agent.agent_id}")

    async def _reactivate(self, out: Outcome, snapshot: Pass) -> None:
        """An Active host whose agent was drained (a decommissioning called off)."""
        agent = self._agent(out, snapshot)
        if self._mesos is None or agent is None or agent.drain is None:
            return
        try:
            await self._mesos.reactivate_agent(agent.agent_id)
        except MesosError as exc:
            out.failed = True
            logger.warning("Host %s: reactivating agent failed: %s", out.host.metadata.name, exc)
            return
        self.passes.invalidate()
        out.event(EventKind.NORMAL, "Reactivated", f"Mesos agent {agent.agent_id} reactivated")

    # ---------------------------------------------------------------- engine

    def _pool_and_block(
        self, host: Host, snapshot: Pass
    ) -> tuple[IPPool | None, IPv4Network | None]:
        """The host's IPPool (the one holding its block, when several select it) and block."""
        pools = [
            p
            for p in self._pools.list()
            if isinstance(p, IPPool) and p.spec.host_selector.matches(host.metadata.labels)
        ]
        held = {b.pool: b.cidr for b in snapshot.blocks.get(host.metadata.name, ())}
        for pool in sorted(pools, key=lambda p: p.metadata.name):
            if pool.metadata.name in held:
                return pool, held[pool.metadata.name]
        return (min(pools, key=lambda p: p.metadata.name), None) if pools else (None, None)

    async def _client(self, host: Host) -> DockerHostEngine | None:
        engine, factory = host.spec.engine, self._engines
        name = host.metadata.name
        cached = self._clients.get(name)
        if cached is not None and cached[0] == engine:
            return cached[1]
        await self._drop_client(name)
        if engine is None or factory is None:
            return None
        client = factory(engine)
        self._clients[name] = (engine, client)
        return client

    async def _drop_client(self, name: str) -> None:
        cached = self._clients.pop(name, None)
        if cached is not None:
            await cached[1].close()

    async def _engine(self, out: Outcome, snapshot: Pass) -> list[Drift] | None:
        """The drift rows to record; None when the engine was not read (keep the old ones).
        A Decommissioned host is out of service: its engine is no longer read."""
        host = out.host
        if host.spec.lifecycle is HostLifecycle.DECOMMISSIONED:
            await self._drop_client(host.metadata.name)
            return []
        try:
            client = await self._client(host)
        except DockerError as exc:
            out.set(c.ENGINE_REACHABLE, FALSE, "EngineUnreachable", str(exc))
            out.failed = True
            return None
        if client is None:
            return []
        pool, block = self._pool_and_block(host, snapshot)
        try:
            network_rows = await self._network(out, client, pool, block)  # before the read
            state = await client.read_state()
        except DockerError as exc:
            out.set(c.ENGINE_REACHABLE, FALSE, "EngineUnreachable", str(exc))
            for kept in (c.NETWORK, c.PROFILE_DRIFT, c.ORPHANS):
                out.keep(kept)
            out.failed = True
            return None
        out.set(
            c.ENGINE_REACHABLE, TRUE, "EngineRead", host.spec.engine.url if host.spec.engine else ""
        )
        known = None if snapshot.tasks is None else known_tasks(snapshot.tasks, state)
        rows = compare(
            host.spec.profile,
            state,
            known_task_ids=known,
            block=block,
            # the pool's gateway is checked once the host has a block (and so the network)
            gateway=None if pool is None or block is None else pool.spec.gateway,
        )
        profile = [d for d in rows if not d.field.startswith("container/")] + network_rows
        orphans = [d for d in rows if d.field.startswith("container/")]
        self._drift_conditions(out, profile, orphans, known is not None)
        return profile + orphans

    async def _network(
        self,
        out: Outcome,
        client: DockerHostEngine,
        pool: IPPool | None,
        block: IPv4Network | None,
    ) -> list[Drift]:
        """Ensure the pool's network on the engine; its drift rows."""
        if pool is None:
            return []
        if block is None:
            message = f"no block of IPPool {pool.metadata.name} yet"
            out.set(c.NETWORK, FALSE, "NoBlock", message)
            out.soon(self.settings.poll)
            return []
        plan = network_plan(pool, host=out.host.metadata.name, block=block)
        ensured = await client.ensure_network(plan)
        if ensured.created:
            message = f"network {plan.name}: subnet {plan.subnet}, ip-range {block}"
            out.event(EventKind.NORMAL, "NetworkCreated", message)
        rows = network_drift(plan, ensured.observed)
        if rows:
            out.set(c.NETWORK, FALSE, "NetworkDiffers", "; ".join(d.message for d in rows))
        else:
            out.set(c.NETWORK, TRUE, "NetworkReady", f"network {plan.name}, ip-range {block}")
        return rows

    def _drift_conditions(
        self, out: Outcome, profile: list[Drift], orphans: list[Drift], checked: bool
    ) -> None:
        old = out.host.status.drift
        old_profile = {d.setting for d in old if not d.setting.startswith("container/")}
        old_orphans = {d.setting for d in old if d.setting.startswith("container/")}
        if profile:
            message = "; ".join(f"{d.field}: {d.message}" for d in profile)
            out.set(c.PROFILE_DRIFT, TRUE, "SettingsDiffer", message)
            if {d.field for d in profile} != old_profile:
                out.event(EventKind.WARNING, "ProfileDrift", message)
        else:
            out.set(c.PROFILE_DRIFT, FALSE, "Conforms")
            if old_profile:
                out.event(EventKind.NORMAL, "ProfileConforms", "the host conforms to its profile")
        if not checked and self._mesos is None:
            out.set(c.ORPHANS, UNKNOWN, "NoMesos", "no Mesos to ask which tasks exist")
            return
        if not checked:
            out.set(c.ORPHANS, UNKNOWN, "MesosUnavailable", "Mesos tasks could not be read")
            return
        if orphans:
            message = "; ".join(d.message for d in orphans)
            out.set(c.ORPHANS, TRUE, "UnknownContainers", message)
            if {d.field for d in orphans} != old_orphans:
                out.event(EventKind.WARNING, "Orphans", message)
        else:
            out.set(c.ORPHANS, FALSE, "NoOrphans")

    # ---------------------------------------------------------------- status

    async def _write_status(self, out: Outcome, snapshot: Pass, drift: list[Drift] | None) -> None:
        host = out.host
        name = host.metadata.name
        _, block = self._pool_and_block(host, snapshot)
        agent = self._agent(out, snapshot)
        agent_id = agent.agent_id if agent is not None else None
        if snapshot.agents is None:
            agent_id = host.status.agent_id  # Mesos not read: keep what was known
        held = snapshot.blocks.get(name, ())
        update: dict[str, object] = {
            "observed_generation": host.metadata.generation,
            "agent_id": agent_id,
            "block": str(block) if block is not None else _first(held),
            "instances": snapshot.instances.get(name, 0),
            "conditions": list(out.conditions.values()),
        }
        if self._mirror is not None:
            update["last_cmdb_sync"] = self._mirror.last_sync
        if drift is not None:
            update["drift"] = [
                ProfileDrift(setting=d.field, desired=d.want, observed=d.have) for d in drift
            ]
        status = host.status.model_copy(update=update)
        if status != host.status:
            await self._store.update_status(host.model_copy(update={"status": status}))


def _first(blocks: tuple[HeldBlock, ...]) -> str | None:
    return str(blocks[0].cidr) if blocks else None


def _pool_changed(old: Resource, new: Resource) -> bool:
    return old.spec != new.spec or old.metadata.labels != new.metadata.labels


def _raw_store(store: Store) -> RawStore:
    if not hasattr(store, "list_raw"):
        raise TypeError("the Host controller needs a store with raw reads (records=...)")
    return cast(RawStore, store)


def register(
    manager: Manager,
    *,
    ipam: IpamStore,
    cmdb: CmdbDevices | None = None,
    mesos: MesosOperator | None = None,
    engines: EngineFactory | None = None,
    store: Store | None = None,
    records: RawStore | None = None,
    settings: HostSettings | None = None,
    controller_settings: ControllerSettings | None = None,
) -> Controller:
    """The Host controller on ``manager``, and the CMDB mirror when ``cmdb`` is given.

    ``ipam`` should be built on the manager's fenced store, so that a deposed
    leader releases nothing; ``records`` (the instance records) defaults to
    the manager's store; ``engines`` opens a client per host engine (without
    it, engines are not read).
    """
    store = store or manager.store
    settings = settings or HostSettings()
    hosts, pools = manager.informer("Host"), manager.informer("IPPool")
    recorder = Recorder(store, "host-controller")

    async def allocations() -> dict[str, PoolAllocations]:
        names = sorted(p.metadata.name for p in pools.list())
        return {name: await ipam.list_allocations(name) for name in names}

    passes = PassCache(
        records=records or _raw_store(store),
        allocations=allocations,
        mesos=mesos,
        want_tasks=lambda: any(isinstance(h, Host) and h.spec.engine for h in hosts.list()),
        max_age=settings.pass_max_age,
    )
    mirror = None
    if cmdb is not None:
        mirror = CmdbMirror(
            cmdb=cmdb, store=store, hosts=hosts, recorder=recorder, settings=settings.mirror
        )
    reconciler = HostReconciler(
        store=store,
        hosts=hosts,
        pools=pools,
        ipam=ipam,
        passes=passes,
        recorder=recorder,
        mirror=mirror,
        cmdb=cmdb,
        mesos=mesos,
        engines=engines,
        settings=settings,
    )
    controller = (
        manager.controller("host")
        .for_kind("Host", updates=spec_or_metadata_changed)  # not woken by its status writes
        .watches("IPPool", lambda enqueue: enqueue_all(enqueue, hosts, updates=_pool_changed))
        .with_settings(controller_settings or ControllerSettings(workers=4))
        .complete(reconciler)
    )

    async def close_engines() -> None:
        """Holds the engine clients for the term; closes them when it ends."""
        try:
            await asyncio.Event().wait()
        finally:
            await reconciler.close()

    manager.add_runnable("host-engines", close_engines)
    if mirror is not None:

        def enqueue_every_host() -> None:
            for host in hosts.list():
                controller.enqueue(Request.of(host))

        mirror.on_sync = enqueue_every_host
        manager.add_runnable("cmdb-mirror", mirror.run)
    return controller
