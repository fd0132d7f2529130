"""Informers: one kind's objects, listed and watched into a local cache.

An :class:`Informer` lists its kind (``Store.list``) and watches from the
list's revision (``Store.watch``), keeping every object in a cache keyed by
:class:`~adapters.protocols.ObjectKey` that reconcilers read instead of
etcd. The cache contract, as client-go's ``SharedInformer``:

- **eventually consistent**: the cache may lag etcd, never run ahead of it;
- **per-object order**: one object's changes are applied in revision order;
- **delivery**: every handler sees ``on_add``/``on_update``/``on_delete``
  for each change it applies; a watch that fell behind compaction is bridged
  by the store's synthetic events, so no change goes unreported.

Handlers only map an object to keys and queue them (:func:`enqueue_self`,
:func:`enqueue_owner`); no reconcile logic runs in a handler. A handler may
take an update predicate, controller-runtime's ``WithPredicates``:
:func:`spec_or_metadata_changed` drops updates that changed only the status,
so a controller is not woken by its own status writes. Every
``resync_period`` seconds, every cached object is handed to the handlers
again as ``on_update(obj, obj)``, so a level-based reconcile also repairs
drift that no event announced. :meth:`Informer.relist` lists again and
replaces the cache (the manager calls it when it gains leadership, so the
new leader starts from etcd, not from what it watched while standing by).

A failed list or watch is logged, counted (``dcos_informer_watch_errors_total``)
and retried with exponential backoff; it is never swallowed silently.

The next hop is :mod:`reconciler.runtime.manager`, which owns the informers
and wires their handlers to controllers.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from adapters.protocols import EventType, ObjectKey, StoreReader, WatchEvent
from crds.errors import DcosError
from crds.meta import Resource, Scope
from crds.registry import KINDS
from reconciler.runtime.clock import Clock, MonotonicClock
from reconciler.runtime.controller import Request
from reconciler.runtime.metrics import RuntimeMetrics
from reconciler.runtime.settings import InformerSettings

__all__ = [
    "EventHandler",
    "Informer",
    "UpdatePredicate",
    "enqueue_all",
    "enqueue_owner",
    "enqueue_self",
    "spec_or_metadata_changed",
]

logger = logging.getLogger(__name__)

Enqueue = Callable[[Request], None]
UpdatePredicate = Callable[[Resource, Resource], bool]
"""``predicate(old, new)``: whether an update is handed to the mapper at all."""


def spec_or_metadata_changed(old: Resource, new: Resource) -> bool:
    """False for an update that changed only the status (a resync, ``old is new``, passes)."""
    return old is new or old.spec != new.spec or old.metadata != new.metadata


class EventHandler(Protocol):
    def on_add(self, obj: Resource) -> None: ...

    def on_update(self, old: Resource, new: Resource) -> None: ...

    def on_delete(self, obj: Resource) -> None: ...


class _MapToRequests:
    """A handler that maps each object to requests and enqueues them."""

    def __init__(
        self,
        enqueue: Enqueue,
        mapper: Callable[[Resource], list[Request]],
        updates: UpdatePredicate | None = None,
    ) -> None:
        self._enqueue = enqueue
        self._map = mapper
        self._updates = updates

    def _handle(self, obj: Resource) -> None:
        for req in self._map(obj):
            self._enqueue(req)

    def on_add(self, obj: Resource) -> None:
        self._handle(obj)

    def on_update(self, old: Resource, new: Resource) -> None:
        if self._updates is not None and not self._updates(old, new):
            return
        if old is not new:
            self._handle(old)  # an owner that changed is told both
        self._handle(new)

    def on_delete(self, obj: Resource) -> None:
        self._handle(obj)


def enqueue_self(enqueue: Enqueue, *, updates: UpdatePredicate | None = None) -> EventHandler:
    """Queue the object itself (on an update only when ``updates(old, new)``, if given)."""
    return _MapToRequests(enqueue, lambda obj: [Request.of(obj)], updates)


class Lister(Protocol):
    """What :func:`enqueue_all` reads: an informer's cached objects."""

    def list(self) -> builtins.list[Resource]: ...


class _EnqueueAll:
    """A handler that queues every object of another informer on each change."""

    def __init__(self, enqueue: Enqueue, targets: Lister, updates: UpdatePredicate | None):
        self._enqueue = enqueue
        self._targets = targets
        self._updates = updates

    def _all(self) -> None:
        for obj in self._targets.list():
            self._enqueue(Request.of(obj))

    def on_add(self, obj: Resource) -> None:
        self._all()

    def on_update(self, old: Resource, new: Resource) -> None:
        if self._updates is None or self._updates(old, new):
            self._all()

    def on_delete(self, obj: Resource) -> None:
        self._all()


def enqueue_all(
    enqueue: Enqueue, targets: Lister, *, updates: UpdatePredicate | None = None
) -> EventHandler:
    """Queue every object ``targets`` holds when a watched object is added, deleted or
    (only when ``updates(old, new)``, if given) updated: e.g. every Host when an IPPool
    changes."""
    return _EnqueueAll(enqueue, targets, updates)


def enqueue_owner(
    enqueue: Enqueue, owner_kind: str, *, only_controller: bool = True
) -> EventHandler:
    """Queue the object's owners of ``owner_kind`` (by default its controlling owner).

    An owner of a domain-scoped kind is in the object's domain; of a
    cluster-scoped kind, in none.
    """

    def owners(obj: Resource) -> list[Request]:
        cls = KINDS.get(owner_kind)
        cluster = cls is not None and cls.SCOPE is Scope.CLUSTER
        domain = None if cluster else obj.metadata.domain
        return [
            Request(owner_kind, domain, ref.name)
            for ref in obj.metadata.owner_references
            if ref.kind == owner_kind and (ref.controller or not only_controller)
        ]

    return _MapToRequests(enqueue, owners)


class Informer:
    """List + watch of one kind (in one domain, or all) into a cache."""

    def __init__(
        self,
        store: StoreReader,
        kind: str,
        *,
        domain: str | None = None,
        settings: InformerSettings | None = None,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.kind = kind
        self.domain = domain
        self.settings = settings or InformerSettings()
        self._store = store
        self._clock = clock or MonotonicClock()
        self._metrics = metrics or RuntimeMetrics()
        self._handlers: builtins.list[EventHandler] = []
        self._cache: dict[ObjectKey, Resource] = {}  # what was last applied, per object
        self._floor = 0  # watch events at or below this revision predate the cache
        self._synced = asyncio.Event()
        self._relisting = asyncio.Lock()

    # reading the cache

    def get(self, key: ObjectKey) -> Resource | None:
        return self._cache.get(key)

    def list(self, domain: str | None = None) -> builtins.list[Resource]:
        return [o for k, o in sorted(self._cache.items()) if domain is None or k.domain == domain]

    def keys(self) -> builtins.list[ObjectKey]:
        return sorted(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        """Until the first list is in the cache (bound it with ``asyncio.timeout``)."""
        await self._synced.wait()

    def add_handler(self, handler: EventHandler) -> None:
        """Add ``handler``; it is told of every object already cached."""
        self._handlers.append(handler)
        for obj in self._cache.values():
            handler.on_add(obj)

    # running

    async def run(self) -> None:
        """List, watch, resync: forever (until cancelled)."""
        async with asyncio.TaskGroup() as tg:
            if self.settings.resync_period > 0:
                tg.create_task(self._resync_loop(), name=f"resync:{self.kind}")
            tg.create_task(self._list_and_watch(), name=f"watch:{self.kind}")

    async def relist(self) -> None:
        """List again and replace the cache; handlers see the difference."""
        async with self._relisting:
            async with asyncio.timeout(self.settings.list_timeout):
                listed = await self._store.list(self.kind, domain=self.domain)
            self._replace(listed.items, listed.revision)
        logger.info(
            "informer %s: relisted %d objects at revision %d",
            self.kind,
            len(self._cache),
            listed.revision,
        )

    def resync(self) -> None:
        """Hand every cached object to the handlers again (``on_update(obj, obj)``)."""
        for obj in list(self._cache.values()):
            for handler in self._handlers:
                handler.on_update(obj, obj)

    async def _list_and_watch(self) -> None:
        delay = self.settings.retry_initial
        while True:
            try:
                await self.relist()
                self._synced.set()
                self._metrics.informer_synced.labels(self.kind).set(1)
                watch = self._store.watch(self.kind, domain=self.domain, revision=self._floor)
                try:
                    async for event in watch:
                        delay = self.settings.retry_initial
                        self._apply(event)
                finally:
                    aclose = getattr(watch, "aclose", None)
                    if aclose is not None:
                        with contextlib.suppress(DcosError):
                            await aclose()
                logger.warning("informer %s: watch ended; listing again", self.kind)
            except (DcosError, TimeoutError) as exc:
                self._metrics.watch_errors.labels(self.kind).inc()
                logger.warning(
                    "informer %s: list/watch failed (%s); retrying in %.1fs", self.kind, exc, delay
                )
                await self._clock.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max)

    async def _resync_loop(self) -> None:
        while True:
            await self._clock.sleep(self.settings.resync_period)
            if self.has_synced:
                logger.debug("informer %s: resync of %d objects", self.kind, len(self._cache))
                self.resync()

    def _replace(self, items: builtins.list[Resource], revision: int) -> None:
        before, self._cache = self._cache, {ObjectKey.of(o): o for o in items}
        self._floor = revision
        for key, old in before.items():
            if key not in self._cache:
                self._notify(EventType.DELETED, old, old)
        for key, obj in self._cache.items():
            if key not in before:
                self._notify(EventType.ADDED, obj, obj)
            elif before[key] != obj:
                self._notify(EventType.MODIFIED, before[key], obj)

    def _apply(self, event: WatchEvent) -> None:
        if event.revision <= self._floor:
            return  # already in the cache from a relist
        key = ObjectKey.of(event.obj)
        logger.debug("informer %s: %s %s at %d", self.kind, event.type.value, key, event.revision)
        old = self._cache.get(key)
        if event.type is EventType.DELETED:
            if self._cache.pop(key, None) is not None:
                self._notify(EventType.DELETED, event.obj, event.obj)
            return
        self._cache[key] = event.obj
        if old is None:
            self._notify(EventType.ADDED, event.obj, event.obj)
        else:
            self._notify(EventType.MODIFIED, old, event.obj)

    def _notify(self, kind: EventType, old: Resource, new: Resource) -> None:
        for handler in self._handlers:
            try:
                if kind is EventType.ADDED:
                    handler.on_add(new)
                elif kind is EventType.MODIFIED:
                    handler.on_update(old, new)
                else:
                    handler.on_delete(new)
            except Exception:
                logger.exception("informer %s: a handler failed on %s", self.kind, kind.value)
