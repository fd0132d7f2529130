"""The App controller: keep an App's instances running, roll its upgrades, report.

A level-based reconcile per App (the request never carries the event)::

    App (informer cache) + records and queued instances (framework)
      + rollout state (etcd)
        -> plan(app=, instances=, now=, history=, settings=)      reconciler/apps/plan.py
        -> persist plan.rollout
        -> kill: framework.kill (records marked Killing, KILL sent)
        -> launch: new Instance ids queued on the framework, which places them,
           writes each record and only then sends the LAUNCH
        -> expunge ended records
        -> status (compute_status + placement summary), only when it changed
        -> events (emitted: written in the background); requeue after plan.requeue_after

Instance records change under the framework (status updates); every change
queues the App again through the records' listener, so the controller never
polls Mesos. A Domain change queues every App of the domain.

Draining hosts: the reconcile looks up the Host (informer cache) of each
host the App's instances are on; those Draining or Decommissioned are
passed to the plan as ``leaving``, which replaces their instances elsewhere
within the capacity bounds (placement puts nothing new there). A Host whose
lifecycle changes queues only the Apps with records on it (the records'
hostname index, :meth:`InstanceRecords.apps_on`). The status says
``MovingOffDrainingHosts`` with the count per host and, when replacements
cannot be placed, the placement summary; an event ``MovingOffHost`` is
recorded when an App starts moving instances off a host.

Deletion: the controller adds the finalizer ``dcos/app-instances`` to every
App it sees. Once ``deletionTimestamp`` is set, the plan kills every
instance whatever the bounds; when no record is left (all ended and
expunged) the rollout state is deleted and the finalizer removed, and the
store deletes the App. An App that vanished without the finalizer still has
its instances killed.

Events: ScalingUp, Launched, Killed, RolloutComplete,
ProgressDeadlineExceeded, FailedPlacement, MovingOffHost, MovedOffHost,
MoveOffHostCancelled.
``docs/apps-controller.md`` has the details.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from adapters.protocols import (
    IpamStore,
    MesosCodec,
    MesosScheduler,
    ObjectKey,
    RawStore,
    Store,
)
from crds.app import App
from crds.domain import Domain
from crds.events import EventKind
from crds.host import Host, HostLifecycle
from crds.meta import Resource
from reconciler.apps import (
    Instance,
    LaunchReason,
    Plan,
    RolloutPhase,
    RolloutSettings,
    RolloutState,
    compute_status,
    leaving_hosts,
    new_instance_id,
    plan,
)
from reconciler.apps.records import InstanceRecords
from reconciler.framework import FrameworkSettings, MesosFramework
from reconciler.placement import AppKey
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Informer,
    Manager,
    Recorder,
    Request,
    Result,
    spec_or_metadata_changed,
)
from reconciler.runtime.finalizers import set_finalizer
from reconciler.runtime.informer import Enqueue

__all__ = ["FINALIZER", "AppReconciler", "new_framework", "register"]

logger = logging.getLogger(__name__)

FINALIZER = "dcos/app-instances"
NOT_READY_DELAY = 0.2  # seconds: the framework is loading its records
NO_DOMAIN_DELAY = 5.0
LEAVING = frozenset({HostLifecycle.DRAINING, HostLifecycle.DECOMMISSIONED})
"""Host lifecycles whose instances are moved elsewhere."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _version(obj: Resource) -> int:
    """The object's resource version as a number (0 when it has none)."""
    try:
        return int(obj.metadata.resource_version or 0)
    except ValueError:
        return 0


def _took_over(state: RolloutState | None, now: datetime) -> RolloutState | None:
    """An inherited PROGRESSING rollout's progress clock restarted at ``now``: etcd may
    not hold the previous leader's last progress (``records`` writes no progress-only
    change), so a failover extends the deadline rather than shortening it."""
    if state is None or state.phase is not RolloutPhase.PROGRESSING:
        return state
    if state.last_progress_at is None or state.last_progress_at >= now:
        return state
    return state.model_copy(update={"last_progress_at": now})


class AppReconciler:
    def __init__(
        self,
        *,
        store: Store,
        apps: Informer,
        domains: Informer,
        framework: MesosFramework,
        recorder: Recorder,
        rollout: RolloutSettings | None = None,
        wall: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
        hosts: Informer | None = None,
    ) -> None:
        self._store = store
        self._apps = apps
        self._domains = domains
        self._hosts = hosts
        self._fw = framework
        self._records = framework.records
        self._recorder = recorder
        self._rollout = rollout or RolloutSettings()
        self._wall = wall
        self._rng = rng or random.Random()
        self._summaries: dict[AppKey, str | None] = {}  # last FailedPlacement reported
        self._finalized: dict[AppKey, App] = {}  # finalizer written, not yet in the cache
        self._moving: dict[AppKey, frozenset[str]] = {}  # leaving hosts reported per App

    async def reconcile(self, req: Request) -> Result:
        if not self._fw.ready:
            return Result(requeue_after=NOT_READY_DELAY)
        obj = self._apps.get(req.key)
        key = AppKey(req.domain or "", req.name)
        if not isinstance(obj, App):
            return await self._orphaned(key)
        app = obj
        deleting = app.metadata.deletion_timestamp is not None
        if not deleting and FINALIZER not in app.metadata.finalizers:
            # Durable before anything is launched; the same reconcile goes on with
            # the written App instead of waiting for its turn in the queue again.
            written = self._finalized.get(key)
            if written is not None and _version(written) > _version(app):
                app = written  # the cache has not seen our write yet
            else:
                app = self._finalized[key] = await self._set_finalizer(app, present=True)
        else:
            self._finalized.pop(key, None)
        domain = self._domain(app)
        instances = self._fw.instances(*key)
        history = await self._records.rollout(*key)
        now = self._wall()
        seen = _took_over(history, now) if self._records.inherited(*key) else history
        leaving = self._leaving(instances)
        p = plan(
            app=app,
            instances=instances,
            now=now,
            history=seen,
            settings=self._settings(app),
            leaving=leaving,
        )
        await self._records.save_rollout(*key, p.rollout)
        killed = await self._kill(p, instances)
        launched = self._launch(app, domain, p, now) if domain is not None else 0
        if p.expunge:
            self._records.remove(p.expunge)
            await self._records.flush()
        if deleting:
            return await self._finish_deletion(app, key)
        await self._write_status(app, key, p, now, domain, leaving)
        self._events(app, key, history, p, killed=killed, queued=launched)
        self._moving_events(app, key, instances, leaving)
        if domain is None:
            return Result(requeue_after=NO_DOMAIN_DELAY)
        return Result(requeue_after=p.requeue_after)

    # ------------------------------------------------------------ reading

    def _domain(self, app: App) -> Domain | None:
        obj = self._domains.get(ObjectKey("Domain", None, app.metadata.domain or ""))
        return obj if isinstance(obj, Domain) else None

    def _leaving(self, instances: Sequence[Instance]) -> frozenset[str]:
        """The hosts of ``instances`` whose Host is Draining or Decommissioned."""
        if self._hosts is None:
            return frozenset()
        leaving = set()
        for name in {i.hostname for i in instances if i.hostname is not None}:
            host = self._hosts.get(ObjectKey("Host", None, name))
            if isinstance(host, Host) and host.spec.lifecycle in LEAVING:
                leaving.add(name)
        return frozenset(leaving)

    def _settings(self, app: App) -> RolloutSettings:
        base = self._rollout
        return RolloutSettings(
            progress_deadline_seconds=float(app.spec.progress_deadline_seconds),
            auto_rollback=app.spec.upgrade_strategy.auto_rollback,
            backoff_reset_seconds=base.backoff_reset_seconds,
            history_limit=base.history_limit,
            kill_retry_seconds=base.kill_retry_seconds,
        )

    # ----------------------------------------------------------- applying

    async def _kill(self, p: Plan, instances: list[Instance]) -> int:
        by_id = {i.instance_id: i for i in instances}
        doomed = [by_id[k.instance_id] for k in p.kill if k.instance_id in by_id]
        if not doomed:
            return 0
        await self._fw.kill(doomed)
        return len(doomed)

    def _launch(self, app: App, domain: Domain, p: Plan, now: datetime) -> int:
        count = 0
        for intent in p.launch:
            fresh = [
                Instance(
                    instance_id=new_instance_id(
                        domain=domain.metadata.name,
                        app=app.metadata.name,
                        version=intent.version,
                        rng=self._rng,
                    ),
                    domain=domain.metadata.name,
                    app=app.metadata.name,
                    version=intent.version,
                    health_checked=bool(intent.spec.health_checks),
                    launched_at=now,
                )
                for _ in range(intent.count)
            ]
            self._fw.request(app=app, domain=domain, spec=intent.spec, instances=fresh)
            count += len(fresh)
        return count

    async def _orphaned(self, key: AppKey) -> Result:
        """The App is gone (deleted without our finalizer): end what is left of it."""
        self._finalized.pop(key, None)
        self._fw.cancel(key)
        instances = self._fw.instances(*key)
        await self._fw.kill([i for i in instances if not i.is_terminal])
        ended = [i.instance_id for i in instances if i.is_terminal]
        if ended:
            self._records.remove(ended)
            await self._records.flush()
        if not self._fw.instances(*key):
            await self._records.delete_rollout(*key)
            self._summaries.pop(key, None)
            self._moving.pop(key, None)
        return Result()

    async def _finish_deletion(self, app: App, key: AppKey) -> Result:
        self._fw.cancel(key)
        if self._fw.instances(*key):
            return Result()  # records changing queue the App again
        await self._records.delete_rollout(*key)
        self._summaries.pop(key, None)
        self._moving.pop(key, None)
        if FINALIZER in app.metadata.finalizers:
            await self._set_finalizer(app, present=False)
            await self._recorder.normal(app, "Deleted", "every instance ended; finalizer removed")
        return Result()

    async def _set_finalizer(self, app: App, *, present: bool) -> App:
        return await set_finalizer(self._store, app, FINALIZER, present=present)

    # --------------------------------------------------------- reporting

    async def _write_status(
        self,
        app: App,
        key: AppKey,
        p: Plan,
        now: datetime,
        domain: Domain | None,
        leaving: frozenset[str],
    ) -> None:
        summary = self._fw.placement_summary(key)
        if domain is None:
            summary = f"domain {app.metadata.domain} not found"
        report = compute_status(
            app,
            self._fw.instances(*key),
            p.rollout,
            now,
            leaving=leaving,
            placement=summary,
            quota=domain.spec.quota if domain is not None else None,
        )
        status = report.to_app_status(app.status).model_copy(
            update={
                "running_instances": report.running,
                "updated_instances": report.updated,
                "revision": report.revision,
                "consecutive_failures": report.consecutive_failures,
                "last_failure_message": report.last_failure_message or None,
                "last_failure_at": report.last_failure_at,
                "placement": summary,
                "last_placement": summary or app.status.last_placement,
            }
        )
        if status != app.status:
            await self._store.update_status(app.model_copy(update={"status": status}))

    def _events(
        self,
        app: App,
        key: AppKey,
        history: RolloutState | None,
        p: Plan,
        *,
        killed: int,
        queued: int,
    ) -> None:
        """Emit what this reconcile did; written in the background (:meth:`Recorder.emit`)."""
        emit = self._recorder.emit
        normal, warning = EventKind.NORMAL, EventKind.WARNING
        scale = [i for i in p.launch if i.reason is LaunchReason.SCALE]
        if queued and scale:
            emit(app, normal, "ScalingUp", f"{queued} instance(s) of {scale[0].version} queued")
        launched = self._fw.take_launched(key)
        if launched:
            emit(app, normal, "Launched", f"{launched} instance(s) launched")
        if killed:
            reasons = sorted({str(k.reason) for k in p.kill})
            emit(app, normal, "Killed", f"{killed} instance(s) killed: {', '.join(reasons)}")
        before = history.phase if history is not None else None
        same_target = history is not None and history.target_version == p.rollout.target_version
        after = p.rollout.phase
        if after is RolloutPhase.COMPLETE and not (same_target and before is after):
            message = f"revision {p.rollout.revision} ({p.rollout.target_version}) rolled out"
            emit(app, normal, "RolloutComplete", message)
        if after is RolloutPhase.FAILED and not (same_target and before is after):
            message = f"revision {p.rollout.revision} made no progress before the deadline"
            emit(app, warning, "ProgressDeadlineExceeded", message)
        gone_back = p.rollout.rolled_back_from
        if gone_back is not None and gone_back != (history.rolled_back_from if history else None):
            why = (
                f" (last failure: {p.rollout.rollback_reason})" if p.rollout.rollback_reason else ""
            )
            message = (
                f"{gone_back} made no progress before the deadline{why}; rolling back to "
                f"revision {p.rollout.revision} ({p.rollout.target_version})"
            )
            emit(app, warning, "RolledBack", message)
        summary = self._fw.placement_summary(key)
        if summary != self._summaries.get(key):
            self._summaries[key] = summary
            if summary is not None:
                emit(app, warning, "FailedPlacement", summary)

    def _moving_events(
        self, app: App, key: AppKey, instances: Sequence[Instance], leaving: frozenset[str]
    ) -> None:
        """Per App and leaving host: ``MovingOffHost`` when it starts moving instances off
        it (counted before this reconcile's kills), ``MovedOffHost`` once none is left
        there, ``MoveOffHostCancelled`` when the host is back in service first."""
        moving = leaving_hosts(instances, leaving)
        before = self._moving.get(key, frozenset())
        now = frozenset(moving)
        emit, normal = self._recorder.emit, EventKind.NORMAL
        for host in sorted(now - before):
            message = f"moving {moving[host]} instance(s) off {host} ({self._lifecycle(host)})"
            emit(app, normal, "MovingOffHost", message)
        for host in sorted(before - now):
            if host in leaving:
                emit(app, normal, "MovedOffHost", f"no instance left on {host}")
            else:
                message = f"{host} is {self._lifecycle(host)} again: its instances stay"
                emit(app, normal, "MoveOffHostCancelled", message)
        if now:
            self._moving[key] = now
        else:
            self._moving.pop(key, None)

    def _lifecycle(self, hostname: str) -> str:
        host = self._hosts.get(ObjectKey("Host", None, hostname)) if self._hosts else None
        return str(host.spec.lifecycle) if isinstance(host, Host) else "unknown"


class _DomainApps:
    """A Domain change queues every App of the domain."""

    def __init__(self, enqueue: Enqueue, apps: Informer) -> None:
        self._enqueue = enqueue
        self._apps = apps

    def _handle(self, obj: Resource) -> None:
        for app in self._apps.list(domain=obj.metadata.name):
            self._enqueue(Request.of(app))

    def on_add(self, obj: Resource) -> None:
        self._handle(obj)

    def on_update(self, old: Resource, new: Resource) -> None:
        if old.spec != new.spec:
            self._handle(new)

    def on_delete(self, obj: Resource) -> None:
        self._handle(obj)


class _HostApps:
    """A Host whose lifecycle changes queues the Apps with records on it (the records'
    hostname index); other Host changes, and resyncs, queue nothing."""

    def __init__(self, enqueue: Enqueue, records: InstanceRecords) -> None:
        self._enqueue = enqueue
        self._records = records

    def _handle(self, obj: Resource) -> None:
        for domain, name in sorted(self._records.apps_on(obj.metadata.name)):
            self._enqueue(Request("App", domain, name))

    def on_add(self, obj: Resource) -> None:
        if isinstance(obj, Host) and obj.spec.lifecycle in LEAVING:
            self._handle(obj)

    def on_update(self, old: Resource, new: Resource) -> None:
        if len({h.spec.lifecycle for h in (old, new) if isinstance(h, Host)}) > 1:
            self._handle(new)

    def on_delete(self, obj: Resource) -> None:
        if isinstance(obj, Host) and obj.spec.lifecycle in LEAVING:
            self._handle(obj)  # an unknown host is taken as Active


def register(
    manager: Manager,
    *,
    framework: MesosFramework,
    store: Store | None = None,
    settings: ControllerSettings | None = None,
    rollout: RolloutSettings | None = None,
) -> Controller:
    """The App controller on ``manager``, with ``framework`` run as a leader-only runnable.

    ``store`` is where status and finalizers are written (the manager's fenced
    store by default); the framework's records use the store they were given.
    """
    store = store or manager.store
    apps = manager.informer("App")
    reconciler = AppReconciler(
        store=store,
        apps=apps,
        domains=manager.informer("Domain"),
        framework=framework,
        recorder=Recorder(store, "app-controller"),
        rollout=rollout,
        hosts=manager.informer("Host"),
    )
    controller = (
        manager.controller("app")
        .for_kind("App", updates=spec_or_metadata_changed)  # not woken by its status writes
        .watches("Domain", lambda enqueue: _DomainApps(enqueue, apps))
        .watches("Host", lambda enqueue: _HostApps(enqueue, framework.records))
        .with_settings(settings or ControllerSettings(workers=4))
        .complete(reconciler)
    )
    framework.records.add_listener(
        lambda domain, app: controller.enqueue(Request("App", domain, app))
    )
    manager.add_runnable("mesos-framework", framework.run)
    return controller


def new_framework(
    manager: Manager,
    *,
    mesos: MesosScheduler,
    codec: MesosCodec,
    store: RawStore,
    settings: FrameworkSettings | None = None,
    ipam: IpamStore | None = None,
) -> MesosFramework:
    """The framework of ``manager``: roles from its Domain informer, host lifecycles from
    its Host informer, records in ``store`` (the fenced store); with ``ipam`` (the IPAM
    records over the same fenced store) instances get addresses from the IPPools of its
    IPPool informer."""
    from crds.ippool import IPPool
    from reconciler.ipam import Ipam

    domains, hosts = manager.informer("Domain"), manager.informer("Host")
    pools = manager.informer("IPPool") if ipam is not None else None
    return MesosFramework(
        mesos=mesos,
        codec=codec,
        records=InstanceRecords(store),
        domains=lambda: [d for d in domains.list() if isinstance(d, Domain)],
        hosts=lambda: [h for h in hosts.list() if isinstance(h, Host)],
        ipam=Ipam(ipam) if ipam is not None else None,
        ip_pools=lambda: [p for p in pools.list() if isinstance(p, IPPool)] if pools else [],
        settings=settings,
        metrics=manager.metrics,
        clock=manager.clock,
    )
