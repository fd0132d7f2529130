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

Agents first: the framework's placement holds Apps outside the system domain
off a host until every AgentSet selecting it has its agent ready there
(:func:`agents_waiting`, read from the AgentSet informer at every matching
pass; placement's ``AgentsChecker``).

Deletion: the controller adds the finalizer ``dcos/app-instances`` to every
App it sees. Once ``deletionTimestamp`` is set, the plan kills every
instance whatever the bounds; when no record is left (all ended and
expunged) the rollout state is deleted and the finalizer removed, and the
store deletes the App. An App that vanished without the finalizer still has
its instances killed.

Events: ScalingUp, Launched, Killed, RolloutComplete,
ProgressDeadlineExceeded, FailedPlacement, MovingOffHost, MovedOffHost,
MoveOffHostCancelled, GivingBack, GaveBack, ImageNotReplicated.

Image gate (:meth:`AppReconciler._image_gate`): a new rollout (a spec version
that is neither the rollout's target nor the one rolled back from) of an App
whose image's registry is a RegistryMirror's ``serves`` waits until the
image's digest is on every ready replica (the mirror's status rows,
:mod:`reconciler.registry.gate`): until then the reconcile plans nothing, sets
``ImageReplicated=False`` (``Waiting``) and looks again every second; past
``gateTimeoutSeconds`` the reason is ``Timeout`` with a warning event
``ImageNotReplicated``, the rollout still not started.

Give-back (:mod:`reconciler.controllers.giveback`): instances of a
``WhenExhausted`` domain on shared-pool hosts are passed to the plan as
``giving_back`` once the domain's own hosts have room, and moved home within
the capacity bounds like instances on a draining host.
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
from crds.agentset import AgentSet
from crds.app import App, AppStatus
from crds.domain import Domain
from crds.events import EventKind
from crds.host import Host, HostLifecycle
from crds.meta import ConditionStatus, Resource
from crds.registrymirror import RegistryMirror
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
from reconciler.controllers.giveback import GiveBack
from reconciler.framework import FrameworkSettings, MesosFramework
from reconciler.placement import AppKey
from reconciler.registry.gate import GateResult
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
from reconciler.runtime.conditions import condition
from reconciler.runtime.finalizers import set_finalizer
from reconciler.runtime.informer import Enqueue

__all__ = ["FINALIZER", "AppReconciler", "agents_waiting", "new_framework", "register"]

logger = logging.getLogger(__name__)

FINALIZER = "dcos/app-instances"
NOT_READY_DELAY = 0.2  # seconds: the framework is loading its records
NO_DOMAIN_DELAY = 5.0
LEAVING = frozenset({HostLifecycle.DRAINING, HostLifecycle.DECOMMISSIONED})
"""Host lifecycles whose instances are moved elsewhere."""
IMAGE_REPLICATED = "ImageReplicated"
GATE_POLL = 1.0  # seconds between looks at a held rollout's image on the mirror
GATE_FAILED_POLL = 30.0  # after the gate timed out: the image may still arrive


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
        mirrors: Informer | None = None,
    ) -> None:
        self._store = store
        self._apps = apps
        self._mirrors = mirrors
        self._gate_since: dict[tuple[AppKey, str], datetime] = {}  # held rollouts: since when
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
        # The status this term last wrote: the informer's copy can lag behind it, and a
        # reconcile that compared with the cache would skip a write that is still needed.
        # Keyed by the framework's subscription count: a new term (or subscription)
        # starts from the cache again, as another leader may have written meanwhile.
        self._status_written: dict[AppKey, tuple[int, AppStatus]] = {}
        self._moving: dict[AppKey, frozenset[str]] = {}  # leaving hosts reported per App
        self._giveback = GiveBack(
            framework=framework, domains=domains, hosts=hosts, recorder=recorder
        )

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
        held = await self._image_gate(app, key, history, now)
        if held is not None:
            return held
        seen = _took_over(history, now) if self._records.inherited(*key) else history
        leaving = self._leaving(instances)
        giving_back = self._giveback.choose(app, domain, instances, seen, leaving)
        p = plan(
            app=app,
            instances=instances,
            now=now,
            history=seen,
            settings=self._settings(app),
            leaving=leaving,
            giving_back=giving_back,
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
        self._giveback.report(app, key, instances, giving_back)
        if domain is None:
            return Result(requeue_after=NO_DOMAIN_DELAY)
        return Result(requeue_after=self._giveback.recheck(key, p.requeue_after))

    # ------------------------------------------------------------ gating

    async def _image_gate(
        self, app: App, key: AppKey, history: RolloutState | None, now: datetime
    ) -> Result | None:
        """Hold a new rollout of an App whose image a RegistryMirror serves until the
        image is on every ready replica (:func:`reconciler.registry.gate.gate_verdict`):
        a Result (requeue, condition ImageReplicated=False) while held, None to go on."""
        from reconciler.apps.version import spec_version
        from reconciler.registry.gate import GateVerdict, gate_verdict, split_image
        from reconciler.registry.mirror import mirror_for_image

        if self._mirrors is None or app.metadata.deletion_timestamp is not None:
            return None
        version = spec_version(app.spec)
        if history is not None and version in (history.target_version, history.rolled_back_from):
            return None  # not a new rollout
        mirrors = [m for m in self._mirrors.list() if isinstance(m, RegistryMirror)]
        mirror = mirror_for_image(app.spec.image, mirrors)
        parts = split_image(app.spec.image) if app.spec.image else None
        if mirror is None or parts is None:
            return None
        for held in [k for k in self._gate_since if k[0] == key and k[1] != version]:
            del self._gate_since[held]  # an older spec of this App: no longer waited for
        since = self._gate_since.setdefault((key, version), now)
        result = await _image_on_mirror(mirror, parts[1], parts[2])
        verdict = gate_verdict(
            result, waiting_since=since, now=now, timeout_seconds=mirror.spec.gate_timeout_seconds
        )
        if verdict is GateVerdict.OPEN:
            self._gate_since.pop((key, version), None)
            return None
        image, name = app.spec.image, mirror.metadata.name
        ready = sum(1 for r in mirror.status.replicas if r.ready)
        if not ready:
            where = "no replica is ready"
        elif result.digest is None:
            where = "not on the primary"
        else:
            where = f"missing on {len(result.missing_on)} of {ready} ready replicas"
        if verdict is GateVerdict.FAILED:
            reason = "Timeout"
            message = (
                f"{image} not on every replica of RegistryMirror {name} after "
                f"{mirror.spec.gate_timeout_seconds}s ({where}): rollout not started"
            )
        else:
            reason, message = "Waiting", f"waiting for {image} on RegistryMirror {name} ({where})"
        await self._gate_condition(app, reason, message, now)
        return Result(requeue_after=GATE_POLL if verdict is GateVerdict.WAIT else GATE_FAILED_POLL)

    def _last_status(self, app: App, key: AppKey) -> AppStatus:
        """The App's status as this controller last wrote it, else as the cache has it
        (the controller is the only writer of an App's status while it leads)."""
        written = self._status_written.get(key)
        if written is None or written[0] != self._fw.subscriptions:
            return app.status
        return written[1]

    async def _put_status(self, app: App, key: AppKey, status: AppStatus) -> None:
        await self._store.update_status(app.model_copy(update={"status": status}))
        self._status_written[key] = (self._fw.subscriptions, status)

    async def _gate_condition(self, app: App, reason: str, message: str, now: datetime) -> None:
        key = AppKey(app.metadata.domain or "", app.metadata.name)
        last = self._last_status(app, key)
        old = last.conditions
        fresh = condition(old, IMAGE_REPLICATED, ConditionStatus.FALSE, reason, message, now)
        rest = [c for c in old if c.type != IMAGE_REPLICATED]
        before = next((c for c in old if c.type == IMAGE_REPLICATED), None)
        if before is not None and before.reason == fresh.reason and before.message == fresh.message:
            return
        if reason == "Timeout":
            self._recorder.emit(app, EventKind.WARNING, "ImageNotReplicated", message)
        await self._put_status(app, key, last.model_copy(update={"conditions": [*rest, fresh]}))

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
        self._status_written.pop(key, None)
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
            self._giveback.forget(key)
        return Result()

    async def _finish_deletion(self, app: App, key: AppKey) -> Result:
        self._fw.cancel(key)
        if self._fw.instances(*key):
            return Result()  # records changing queue the App again
        await self._records.delete_rollout(*key)
        self._summaries.pop(key, None)
        self._moving.pop(key, None)
        self._status_written.pop(key, None)
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
        last = self._last_status(app, key)
        status = report.to_app_status(last).model_copy(
            update={
                "running_instances": report.running,
                "updated_instances": report.updated,
                "revision": report.revision,
                "consecutive_failures": report.consecutive_failures,
                "last_failure_message": report.last_failure_message or None,
                "last_failure_at": report.last_failure_at,
                "placement": summary,
                "last_placement": summary or last.last_placement,
            }
        )
        if status != last:
            await self._put_status(app, key, status)

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
    wall: Callable[[], datetime] = _utcnow,
) -> Controller:
    """The App controller on ``manager``, with ``framework`` run as a leader-only runnable.

    ``store`` is where status and finalizers are written (the manager's fenced
    store by default); the framework's records use the store they were given.
    ``wall`` is the clock of rollouts and the image gate (tests inject one).
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
        mirrors=manager.informer("RegistryMirror"),
        wall=wall,
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
    apps = manager.informer("App")
    agentsets = manager.informer("AgentSet")
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
        agents_waiting=lambda: agents_waiting(
            [a for a in agentsets.list() if isinstance(a, AgentSet)],
            [h for h in hosts.list() if isinstance(h, Host)],
        ),
        app_resources=lambda domain, name: _resources(apps.get(ObjectKey("App", domain, name))),
    )


def _resources(app: Resource | None) -> tuple[float, float] | None:
    """One instance's cpus and MiB (placement counts a domain's live usage with them)."""
    return (app.spec.cpus, float(app.spec.mem)) if isinstance(app, App) else None


def agents_waiting(
    agentsets: Sequence[AgentSet], hosts: Sequence[Host]
) -> dict[str, tuple[str, ...]]:
    """Per Active host, the AgentSets that select it (``hostSelector``) whose status row
    for it is missing or not ``ready``: Apps outside the system domain are not placed
    there until none is left (placement's AgentsChecker). A host no AgentSet selects is
    left out, open to every App."""
    ready = {a.metadata.name: {row.host for row in a.status.hosts if row.ready} for a in agentsets}
    waiting: dict[str, tuple[str, ...]] = {}
    for host in hosts:
        if host.spec.lifecycle is not HostLifecycle.ACTIVE:
            continue  # nothing new is placed there anyway
        name = host.metadata.name
        names = tuple(
            sorted(
                a.metadata.name
                for a in agentsets
                if a.metadata.deletion_timestamp is None
                and a.spec.host_selector.matches(host.metadata.labels)
                and name not in ready[a.metadata.name]
            )
        )
        if names:
            waiting[name] = names
    return waiting


async def _image_on_mirror(mirror: RegistryMirror, repository: str, reference: str) -> GateResult:
    """Whether ``repository:reference`` is on every ready replica of ``mirror`` (its
    status rows; the primary first)."""
    from adapters.registry import RegistryClient
    from reconciler.registry.gate import image_on_replicas

    rows = sorted((r for r in mirror.status.replicas if r.ready), key=lambda r: not r.primary)
    clients = [RegistryClient(f"http://{r.address}", timeout=5.0) for r in rows]
    try:
        return await image_on_replicas(clients, repository, reference)
    except Exception as err:  # a replica went away mid-check: hold and look again
        logger.info("image check on RegistryMirror %s: %s", mirror.metadata.name, err)
        return GateResult(open=False, digest=None, missing_on=tuple(c.base_url for c in clients))
    finally:
        for client in clients:
            await client.aclose()
