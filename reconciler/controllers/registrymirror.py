"""The RegistryMirror controller: registry replicas as an owned App, kept in sync.

A level-based reconcile per RegistryMirror::

    RegistryMirror + its replica App (informer cache) + the App's instance
    records (the framework's, on the leader) + Hosts (addresses)
      -> put_owned(App <mirror>)       replicas instances, hostname UNIQUE,
                                       command docker-registry serve (no image)
      -> replicas_of(records)          running instances: host, host:port
      -> GET /v2/ on each              ready or not
      -> sync_due(...)                 schedule, dcos/sync-requested, a new
                                       ready replica (a replacement)
      -> sync_replicas(ready, repositories)   reconciler/registry/replicate.py
      -> status (per replica: host, address, ready, primary, lag, last sync),
         conditions Ready and Synced, events

The replicas are an ordinary App in the system domain (:mod:`reconciler.system`)
owned by the mirror: the App controller places them on distinct hosts,
relaunches a replica whose task ends, on another host if its own is gone,
and the next reconcile sees the new replica ready and catches it up with a
sync. Each replica runs as a Mesos command task (``docker-registry serve``
with its storage in the task's sandbox and HTTP on ``$LIBPROCESS_IP:$PORT0``),
so the agents need no registry image; see :mod:`reconciler.registry.mirror`.

A replica App's status change queues its mirror (owner reference); the
mirror is also requeued until every replica is ready, and at its next
scheduled sync.

Deletion: the finalizer ``dcos/registrymirror-apps`` is added to every
mirror; once ``deletionTimestamp`` is set the replica App is deleted and the
finalizer removed when the App has left the cache.

Conditions: Ready (``replicas`` replicas answer the registry API), Synced (the
last sync left no replica lagging). Events: ReplicasPlaced, ReplicaReady,
ReplicaLost, Synced, SyncFailed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from adapters.protocols import ObjectKey, Store
from adapters.registry import RegistryClient
from crds.app import App
from crds.events import EventKind
from crds.host import Host
from crds.meta import ConditionStatus
from crds.registrymirror import RegistryMirror, ReplicaStatus
from reconciler.apps.instances import Instance
from reconciler.registry.mirror import Replica, next_sync_in, replica_spec, replicas_of, sync_due
from reconciler.registry.replicate import SyncReport, sync_replicas
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Informer,
    Manager,
    Recorder,
    Request,
    Result,
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
    put_owned,
)

__all__ = ["FINALIZER", "RegistryMirrorReconciler", "register"]

logger = logging.getLogger(__name__)

KIND = "RegistryMirror"
FINALIZER = "dcos/registrymirror-apps"
NOT_READY_POLL = 1.0  # first look again while a replica is missing or not ready...
NOT_READY_POLL_MAX = 15.0  # ...doubling up to this while it stays so
DELETE_POLL = 1.0
PING_TIMEOUT = 2.0
TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryMirrorReconciler:
    def __init__(
        self,
        *,
        store: Store,
        mirrors: Informer,
        apps: Informer,
        hosts: Informer,
        instances: Callable[[], Iterable[Instance]],
        recorder: Recorder,
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._mirrors = mirrors
        self._apps = apps
        self._hosts = hosts
        self._instances = instances
        self._recorder = recorder
        self._wall = wall
        self._synced: dict[str, frozenset[str]] = {}  # mirror -> instances its last sync saw
        self._ready: dict[str, frozenset[str]] = {}  # mirror -> instances ready last time
        self._written: dict[str, RegistryMirror] = {}  # mirror -> our last status write
        self._placed: set[str] = set()  # mirrors whose App this controller created
        self._domain_ready = False
        self._not_ready: dict[str, int] = {}  # mirror -> looks in a row with a replica missing

    async def reconcile(self, req: Request) -> Result:
        obj = self._mirrors.get(req.key)
        if not isinstance(obj, RegistryMirror):
            await delete_owned(self._store, req.name)
            for memory in (self._synced, self._ready, self._written, self._not_ready):
                memory.pop(req.name, None)
            self._placed.discard(req.name)
            return Result()
        mirror = self._fresher(obj)
        if mirror.metadata.deletion_timestamp is not None:
            return await self._finish_deletion(mirror)
        if FINALIZER not in mirror.metadata.finalizers:
            mirror = await set_finalizer(self._store, mirror, FINALIZER, present=True)
        if not self._domain_ready:
            await ensure_system_domain(self._store)
            self._domain_ready = True
        name = mirror.metadata.name
        hosts = [h for h in self._hosts.list() if isinstance(h, Host)]
        wanted = owned_app(mirror, name=name, spec=replica_spec(mirror, hosts))
        stored = self._apps.get(ObjectKey("App", SYSTEM_DOMAIN, name))
        if not isinstance(stored, App) or stored.spec != wanted.spec:
            await put_owned(self._store, wanted)
            if not isinstance(stored, App) and name not in self._placed:
                self._placed.add(name)
                self._event(mirror, "ReplicasPlaced", f"App {SYSTEM_DOMAIN}/{name} created")
        addresses = {h.metadata.name: str(h.spec.address) for h in hosts}
        mine = [i for i in self._instances() if i.domain == SYSTEM_DOMAIN and i.app == name]
        replicas = replicas_of(mine, addresses)
        ready = await self._ping(replicas)
        self._ready_events(mirror, replicas, ready)
        now = self._wall()
        why = sync_due(mirror, ready=ready, synced=self._synced.get(name, frozenset()), now=now)
        report = None
        if why is not None:
            report = await self._sync(mirror, [r for r in replicas if r.instance_id in ready], why)
            now = self._wall()
        mirror = await self._write_status(mirror, replicas, ready, report, now)
        if len(ready) < mirror.spec.replicas:
            looks = self._not_ready[name] = self._not_ready.get(name, 0) + 1
            return Result(requeue_after=min(NOT_READY_POLL * 2 ** (looks - 1), NOT_READY_POLL_MAX))
        self._not_ready.pop(name, None)
        return Result(requeue_after=max(next_sync_in(mirror, now), NOT_READY_POLL))

    def _fresher(self, cached: RegistryMirror) -> RegistryMirror:
        """The cached mirror with our own last status write: this controller is the
        only writer of the status, and the cache may not show the write yet (a
        sync's results must never be overwritten from a stale status)."""
        written = self._written.get(cached.metadata.name)
        if written is None or written.metadata.uid != cached.metadata.uid:
            return cached
        return cached.model_copy(update={"status": written.status})

    # ------------------------------------------------------------ probing

    async def _ping(self, replicas: list[Replica]) -> frozenset[str]:
        """The instances of the replicas answering ``GET /v2/`` with 200."""

        async def one(replica: Replica) -> bool:
            async with RegistryClient(replica.url, timeout=PING_TIMEOUT) as client:
                return await client.ping()

        answers = await asyncio.gather(*(one(r) for r in replicas))
        return frozenset(r.instance_id for r, ok in zip(replicas, answers, strict=True) if ok)

    def _ready_events(
        self, mirror: RegistryMirror, replicas: list[Replica], ready: frozenset[str]
    ) -> None:
        name = mirror.metadata.name
        before = self._ready.get(name, frozenset())
        by_id = {r.instance_id: r for r in replicas}
        for instance in sorted(ready - before):
            r = by_id[instance]
            self._event(mirror, "ReplicaReady", f"replica on {r.host} answers at {r.address}")
        for instance in sorted(before - ready):
            self._event(
                mirror, "ReplicaLost", f"replica {instance} no longer answers", warning=True
            )
        self._ready[name] = ready

    # ------------------------------------------------------------ syncing

    async def _sync(self, mirror: RegistryMirror, ready: list[Replica], why: str) -> SyncReport:
        clients = [RegistryClient(r.url) for r in ready]
        try:
            report = await sync_replicas(clients, mirror.spec.repositories)
        finally:
            for client in clients:
                await client.aclose()
        self._synced[mirror.metadata.name] = frozenset(r.instance_id for r in ready)
        copied = sum(r.tags_copied for r in report.replicas)
        if report.ok:
            if copied:
                message = (
                    f"{copied} tag(s) copied, {report.bytes_copied} bytes ({why}); "
                    f"{report.tags} tag(s) on {len(ready)} replica(s)"
                )
                self._event(mirror, "Synced", message)
        else:
            errors = "; ".join(f"{r.url}: {r.error}" for r in report.replicas if r.error)
            self._event(mirror, "SyncFailed", f"sync ({why}) stopped: {errors}", warning=True)
        logger.info(
            "registry mirror %s synced (%s): %d tag(s) copied", mirror.metadata.name, why, copied
        )
        return report

    # ---------------------------------------------------------- reporting

    async def _write_status(
        self,
        mirror: RegistryMirror,
        replicas: list[Replica],
        ready: frozenset[str],
        report: SyncReport | None,
        now: datetime,
    ) -> RegistryMirror:
        """Write the status when it changed; the mirror with it."""
        old = mirror.status
        previous = {r.instance: r for r in old.replicas if r.instance is not None}
        by_url = {r.url: r for r in report.replicas} if report is not None else {}
        primary = next((r.instance_id for r in replicas if r.instance_id in ready), None)
        rows = []
        for replica in replicas:
            row = previous.get(replica.instance_id) or ReplicaStatus(
                host=replica.host, address=replica.address, instance=replica.instance_id
            )
            fields: dict[str, object] = {
                "host": replica.host,
                "address": replica.address,
                "ready": replica.instance_id in ready,
                "primary": replica.instance_id == primary,
            }
            done = by_url.get(replica.url)
            if done is not None:
                fields |= {"missing_tags": done.missing, "last_sync_time": now, "error": done.error}
            rows.append(row.model_copy(update=fields))
        count = len(ready)
        want = mirror.spec.replicas
        ready_cond = condition(
            old.conditions,
            "Ready",
            TRUE if count >= want else FALSE,
            "AllReady" if count >= want else "ReplicasNotReady",
            f"{count}/{want} replica(s) answer the registry API",
            now,
        )
        lagging = [r for r in rows if r.ready and r.missing_tags != 0]
        synced = report is not None or old.last_sync_time is not None
        if not synced:
            synced_cond = condition(
                old.conditions, "Synced", FALSE, "NotSynced", "no sync yet", now
            )
        elif lagging:
            lag = ", ".join(f"{r.host} ({r.missing_tags})" for r in lagging)
            synced_cond = condition(
                old.conditions, "Synced", FALSE, "Lagging", f"lagging: {lag}", now
            )
        else:
            synced_cond = condition(
                old.conditions, "Synced", TRUE, "InSync", "every ready replica has every tag", now
            )
        update: dict[str, object] = {
            "observed_generation": mirror.metadata.generation,
            "ready_replicas": count,
            "hosts": sorted(r.host for r in replicas),
            "replicas": rows,
            "conditions": [ready_cond, synced_cond],
        }
        if report is not None:
            update |= {"last_sync_time": now, "synced_repositories": report.repositories}
        status = old.model_copy(update=update)
        if status != old:
            mirror = mirror.model_copy(update={"status": status})
            await self._store.update_status(mirror)
            self._written[mirror.metadata.name] = mirror
        return mirror

    def _event(
        self, mirror: RegistryMirror, reason: str, message: str, *, warning: bool = False
    ) -> None:
        kind = EventKind.WARNING if warning else EventKind.NORMAL
        self._recorder.emit(mirror, kind, reason, message)

    async def _finish_deletion(self, mirror: RegistryMirror) -> Result:
        name = mirror.metadata.name
        app = self._apps.get(ObjectKey("App", SYSTEM_DOMAIN, name))
        if isinstance(app, App):
            if app.metadata.deletion_timestamp is None:
                await delete_owned(self._store, name)
            return Result(requeue_after=DELETE_POLL)
        if FINALIZER in mirror.metadata.finalizers:
            await set_finalizer(self._store, mirror, FINALIZER, present=False)
        self._synced.pop(name, None)
        self._ready.pop(name, None)
        self._written.pop(name, None)
        self._placed.discard(name)
        return Result()


def register(
    manager: Manager,
    *,
    instances: Callable[[], Iterable[Instance]],
    store: Store | None = None,
    settings: ControllerSettings | None = None,
    wall: Callable[[], datetime] = _utcnow,
) -> Controller:
    """The RegistryMirror controller on ``manager``; ``instances`` are the framework's
    instance records (the leader's), status and Apps written to ``store`` (the
    manager's fenced store by default)."""
    store = store or manager.store
    reconciler = RegistryMirrorReconciler(
        store=store,
        mirrors=manager.informer(KIND),
        apps=manager.informer("App"),
        hosts=manager.informer("Host"),
        instances=instances,
        recorder=Recorder(store, "registrymirror-controller"),
        wall=wall,
    )
    return (
        manager.controller("registrymirror")
        .for_kind(KIND, updates=spec_or_metadata_changed)
        .watches("App", lambda enqueue: enqueue_owner(enqueue, KIND))
        .with_settings(settings or ControllerSettings(workers=1))
        .complete(reconciler)
    )
