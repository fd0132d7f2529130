"""The AgentSet controller: one agent App per matching host, rolled batch by batch.

A level-based reconcile per AgentSet::

    AgentSet + every Host + its agent Apps (informer caches, dcos-system Apps
    labelled with the owner)
      -> plan(agentset, hosts, apps)                 reconciler/agentsets/plan.py
      -> create agents on new hosts, update one batch of outdated agents
         (at most maxUnavailable unavailable), delete agents of hosts that left
      -> status (desired, ready, updated, per-host rows, conditions), events

Agents are ordinary Apps in the system domain (:mod:`reconciler.system`),
owned by the AgentSet: the App controller places, health-checks and
replaces them under the role ``dcos-system``, whose slice each host
reserves. An agent App's status change queues its AgentSet (owner
reference), so a batch is followed by the next as soon as its agents are
healthy; any Host change queues every AgentSet.

A write (or delete) is remembered until the App cache has seen it, so a
reconcile that runs before the watch delivers its own update neither counts
the updated agent as still available (and starts the next batch too early)
nor creates or deletes an agent twice.

Deletion: the finalizer ``dcos/agentset-apps`` is added to every AgentSet;
once ``deletionTimestamp`` is set, every owned App is deleted and the
finalizer is removed when none is left in the cache.

Conditions: Ready (every desired agent available at the current template),
RolloutInProgress. Events: AgentPlaced, AgentUpdated, AgentRemoved,
RolloutComplete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.protocols import Store
from crds.agentset import AgentSet
from crds.app import App
from crds.events import EventKind
from crds.host import Host
from crds.meta import ConditionStatus, Resource
from reconciler.agentsets import HOST_LABEL, TEMPLATE_LABEL, Plan, agent_spec, plan
from reconciler.agentsets.plan import agent_app_name
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Informer,
    Manager,
    Recorder,
    Request,
    Result,
    enqueue_all,
    enqueue_owner,
    spec_or_metadata_changed,
)
from reconciler.runtime.conditions import condition
from reconciler.runtime.finalizers import set_finalizer
from reconciler.system import (
    SYSTEM_DOMAIN,
    delete_owned,
    ensure_system_domain,
    owned_app,
    owned_by,
    put_owned,
)

__all__ = ["FINALIZER", "AgentSetReconciler", "register"]

logger = logging.getLogger(__name__)

FINALIZER = "dcos/agentset-apps"
KIND = "AgentSet"
DELETE_POLL = 1.0  # seconds between checks that the owned Apps are gone
RESYNC = 30.0
WRITE_MEMORY = 10.0  # seconds a write of ours stands in for the App cache
TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _generation(obj: Resource) -> int:
    """Grows with spec writes only (a status write may reach the cache first)."""
    return obj.metadata.generation or 0


class AgentSetReconciler:
    def __init__(
        self,
        *,
        store: Store,
        agentsets: Informer,
        hosts: Informer,
        apps: Informer,
        recorder: Recorder,
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._agentsets = agentsets
        self._hosts = hosts
        self._apps = apps
        self._recorder = recorder
        self._wall = wall
        self._written: dict[str, tuple[App, datetime]] = {}  # agent App -> our last write
        self._deleting: dict[str, datetime] = {}  # agent App -> when we deleted it
        self._domain_ready = False

    async def reconcile(self, req: Request) -> Result:
        obj = self._agentsets.get(req.key)
        if not isinstance(obj, AgentSet):
            await self._delete_all(req.name)
            return Result()
        agentset = obj
        if agentset.metadata.deletion_timestamp is not None:
            return await self._finish_deletion(agentset)
        if FINALIZER not in agentset.metadata.finalizers:
            agentset = await self._set_finalizer(agentset, present=True)
        if not self._domain_ready:
            await ensure_system_domain(self._store)
            self._domain_ready = True
        hosts = [h for h in self._hosts.list() if isinstance(h, Host)]
        apps = self._owned(agentset.metadata.name)
        p = plan(agentset, hosts, apps)
        await self._act(agentset, p)
        await self._write_status(agentset, p)
        return Result(requeue_after=RESYNC)

    # ------------------------------------------------------------ reading

    def _owned(self, name: str) -> list[App]:
        """The AgentSet's agent Apps: the cache, or our own later write of one (a
        write the cache has not shown within WRITE_MEMORY is forgotten)."""
        apps: dict[str, App] = {}
        for obj in self._apps.list(SYSTEM_DOMAIN):
            if not isinstance(obj, App) or owned_by(obj) != (KIND, name):
                continue
            apps[obj.metadata.name] = obj
        now = self._wall()
        for app_name, (written, at) in list(self._written.items()):
            if owned_by(written) != (KIND, name):
                continue
            cached = apps.get(app_name)
            seen = cached is not None and _generation(cached) >= _generation(written)
            if seen or (now - at).total_seconds() > WRITE_MEMORY:
                del self._written[app_name]
            else:
                apps[app_name] = written
        for app_name, at in list(self._deleting.items()):
            app = apps.get(app_name)
            if app is None or app.metadata.deletion_timestamp is not None:
                del self._deleting[app_name]  # the cache shows it
            elif (now - at).total_seconds() > WRITE_MEMORY:
                del self._deleting[app_name]
            else:
                meta = app.metadata.model_copy(update={"deletion_timestamp": at})
                apps[app_name] = app.model_copy(update={"metadata": meta})
        return list(apps.values())

    # ------------------------------------------------------------- acting

    async def _put(self, agentset: AgentSet, host: str, template: str) -> None:
        name = agent_app_name(agentset.metadata.name, host)
        app = owned_app(
            agentset,
            name=name,
            spec=agent_spec(agentset, host),
            labels={HOST_LABEL: host, TEMPLATE_LABEL: template},
        )
        self._written[name] = (await put_owned(self._store, app), self._wall())

    async def _act(self, agentset: AgentSet, p: Plan) -> None:
        for host in p.create:
            await self._put(agentset, host, p.template)
            self._event(agentset, "AgentPlaced", f"agent on host {host} (template {p.template})")
        for host in p.update:
            await self._put(agentset, host, p.template)
            self._event(agentset, "AgentUpdated", f"agent on host {host} to template {p.template}")
        for name in p.delete:
            await delete_owned(self._store, name)
            self._written.pop(name, None)
            self._deleting[name] = self._wall()
            self._event(agentset, "AgentRemoved", f"agent App {name} removed")

    def _event(self, agentset: AgentSet, reason: str, message: str) -> None:
        self._recorder.emit(agentset, EventKind.NORMAL, reason, message)

    async def _delete_all(self, name: str) -> int:
        """Delete every App ``name`` owns; how many are still in the cache."""
        owned = self._owned(name)
        for app in owned:
            if app.metadata.deletion_timestamp is None:
                await delete_owned(self._store, app.metadata.name)
                self._deleting[app.metadata.name] = self._wall()
            self._written.pop(app.metadata.name, None)
        return len(owned)

    async def _finish_deletion(self, agentset: AgentSet) -> Result:
        left = await self._delete_all(agentset.metadata.name)
        if left:
            return Result(requeue_after=DELETE_POLL)
        if FINALIZER in agentset.metadata.finalizers:
            await self._set_finalizer(agentset, present=False)
            await self._recorder.normal(agentset, "Deleted", "every agent removed")
        return Result()

    async def _set_finalizer(self, agentset: AgentSet, *, present: bool) -> AgentSet:
        return await set_finalizer(self._store, agentset, FINALIZER, present=present)

    # ---------------------------------------------------------- reporting

    async def _write_status(self, agentset: AgentSet, p: Plan) -> None:
        now = self._wall()
        old = agentset.status
        previous = old.conditions
        if p.rolling:
            message = (
                f"{p.updated}/{p.desired} updated, {p.ready}/{p.desired} ready, "
                f"at most {p.max_unavailable} unavailable"
                + (f"; {len(p.waiting)} waiting" if p.waiting else "")
            )
            rolling = condition(previous, "RolloutInProgress", TRUE, "Rolling", message, now)
            ready = condition(previous, "Ready", FALSE, "AgentsNotReady", message, now)
        else:
            message = f"{p.desired} agent(s) at template {p.template}"
            rolling = condition(previous, "RolloutInProgress", FALSE, "Complete", message, now)
            ready = condition(previous, "Ready", TRUE, "AllReady", message, now)
        status = old.model_copy(
            update={
                "observed_generation": agentset.metadata.generation,
                "desired": p.desired,
                "ready": p.ready,
                "updated": p.updated,
                "template_hash": p.template,
                "hosts": p.rows,
                "conditions": [ready, rolling],
            }
        )
        was_rolling = any(
            c.type == "RolloutInProgress" and c.status is TRUE for c in old.conditions
        )
        if was_rolling and not p.rolling:
            self._event(agentset, "RolloutComplete", message)
        if status != old:
            await self._store.update_status(agentset.model_copy(update={"status": status}))


def _host_changed(old: Resource, new: Resource) -> bool:
    """Lifecycle, labels or conditions (Onboarded) changed; not a counter of the status."""
    assert isinstance(old, Host) and isinstance(new, Host)
    return (
        old.spec.lifecycle != new.spec.lifecycle
        or old.metadata.labels != new.metadata.labels
        or old.status.conditions != new.status.conditions
        or old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
    )


def register(
    manager: Manager, *, store: Store | None = None, settings: ControllerSettings | None = None
) -> Controller:
    """The AgentSet controller on ``manager``; status and Apps written to ``store``
    (the manager's fenced store by default)."""
    store = store or manager.store
    agentsets = manager.informer(KIND)
    reconciler = AgentSetReconciler(
        store=store,
        agentsets=agentsets,
        hosts=manager.informer("Host"),
        apps=manager.informer("App"),
        recorder=Recorder(store, "agentset-controller"),
    )
    return (
        manager.controller("agentset")
        .for_kind(KIND, updates=spec_or_metadata_changed)
        .watches("Host", lambda enqueue: enqueue_all(enqueue, agentsets, updates=_host_changed))
        .watches("App", lambda enqueue: enqueue_owner(enqueue, KIND))
        .with_settings(settings or ControllerSettings(workers=1))
        .complete(reconciler)
    )
