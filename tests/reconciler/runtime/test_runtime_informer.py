"""Informers against a real etcd: initial list, watch, resync, relist, retries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ListResult, ObjectKey, WatchEvent
from crds.errors import Unavailable
from crds.meta import ObjectMeta, OwnerReference, Resource
from reconciler.runtime.clock import ManualClock
from reconciler.runtime.controller import Request
from reconciler.runtime.informer import (
    Informer,
    enqueue_all,
    enqueue_owner,
    enqueue_self,
    spec_or_metadata_changed,
)
from reconciler.runtime.metrics import RuntimeMetrics
from reconciler.runtime.settings import InformerSettings
from tests.adapters.kinds import Widget, WidgetSpec, gadget, registered, widget

DEADLINE = 10.0


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


class Recording:
    """A handler that reports ("add"|"update"|"delete", name, size)."""

    def __init__(self) -> None:
        self.seen: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()

    def on_add(self, obj: Resource) -> None:
        self.seen.put_nowait(("add", obj.metadata.name, obj.spec.size))

    def on_update(self, old: Resource, new: Resource) -> None:
        self.seen.put_nowait(("update", new.metadata.name, new.spec.size))

    def on_delete(self, obj: Resource) -> None:
        self.seen.put_nowait(("delete", obj.metadata.name, obj.spec.size))

    async def take(self, count: int) -> list[tuple[str, str, int]]:
        async with asyncio.timeout(DEADLINE):
            return [await self.seen.get() for _ in range(count)]


@contextlib.asynccontextmanager
async def _running(informer: Informer) -> AsyncIterator[Informer]:
    task = asyncio.create_task(informer.run(), name=f"informer:{informer.kind}")
    try:
        async with asyncio.timeout(DEADLINE):
            await informer.wait_for_sync()
        yield informer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_lists_then_watches_create_update_delete(store: EtcdStore) -> None:
    await store.create(widget("before", size=1))
    await store.create(gadget("other-kind"))
    handler = Recording()
    informer = Informer(store, "Widget", settings=InformerSettings(resync_period=0))
    informer.add_handler(handler)
    async with _running(informer):
        assert await handler.take(1) == [("add", "before", 1)]
        assert informer.has_synced
        await store.create(widget("new", size=2))
        await store.update(widget("new", size=3))
        await store.delete(ObjectKey("Widget", "shop", "before"))
        assert await handler.take(3) == [
            ("add", "new", 2),
            ("update", "new", 3),
            ("delete", "before", 1),
        ]
        assert informer.keys() == [ObjectKey("Widget", "shop", "new")]
        cached = informer.get(ObjectKey("Widget", "shop", "new"))
        assert cached is not None and cached.spec.size == 3
        assert [o.metadata.name for o in informer.list(domain="shop")] == ["new"]
        assert informer.list(domain="elsewhere") == []


async def test_a_handler_added_late_is_told_of_the_cache(store: EtcdStore) -> None:
    await store.create(widget("a"))
    informer = Informer(store, "Widget", settings=InformerSettings(resync_period=0))
    async with _running(informer):
        handler = Recording()
        informer.add_handler(handler)
        assert await handler.take(1) == [("add", "a", 1)]


async def test_resync_hands_every_cached_object_over_again(store: EtcdStore) -> None:
    await store.create(widget("a"))
    await store.create(widget("b"))
    clock = ManualClock()
    handler = Recording()
    informer = Informer(store, "Widget", settings=InformerSettings(resync_period=60), clock=clock)
    informer.add_handler(handler)
    async with _running(informer):
        assert sorted(await handler.take(2)) == [("add", "a", 1), ("add", "b", 1)]
        async with asyncio.timeout(DEADLINE):
            await clock.wait_for_timers(1)  # the resync loop is waiting on the clock
        clock.advance(59)
        assert handler.seen.empty()
        clock.advance(1)
        assert sorted(await handler.take(2)) == [("update", "a", 1), ("update", "b", 1)]


async def test_relist_replaces_the_cache_and_reports_the_difference(store: EtcdStore) -> None:
    await store.create(widget("keep"))
    await store.create(widget("gone"))
    informer = Informer(store, "Widget", settings=InformerSettings(resync_period=0))
    await informer.relist()
    assert len(informer) == 2
    handler = Recording()
    informer.add_handler(handler)
    await handler.take(2)
    # changes the informer has not watched (it is not running)
    await store.delete(ObjectKey("Widget", "shop", "gone"))
    await store.update(widget("keep", size=5))
    await store.create(widget("added"))
    await informer.relist()
    assert sorted(await handler.take(3)) == [
        ("add", "added", 1),
        ("delete", "gone", 1),
        ("update", "keep", 5),
    ]
    assert [o.metadata.name for o in informer.list()] == ["added", "keep"]


class _FlakyStore:
    """A StoreReader whose list fails ``failures`` times, then lists nothing."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.lists = 0

    async def get(self, key: ObjectKey) -> Resource:
        raise NotImplementedError

    async def list(
        self, kind: str | None = None, *, domain: str | None = None, selector: str | None = None
    ) -> ListResult:
        self.lists += 1
        if self.lists <= self.failures:
            raise Unavailable("etcd at http://127.0.0.1:1 is unavailable")
        return ListResult([], 7)

    async def watch(
        self, kind: str | None = None, *, domain: str | None = None, revision: int
    ) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # never reached: an empty, endless watch


async def test_list_failures_are_counted_and_retried_with_backoff() -> None:
    clock = ManualClock()
    metrics = RuntimeMetrics()
    flaky = _FlakyStore(failures=3)
    settings = InformerSettings(resync_period=0, retry_initial=1.0, retry_max=3.0)
    informer = Informer(flaky, "Widget", settings=settings, clock=clock, metrics=metrics)
    task = asyncio.create_task(informer.run())
    try:
        for expected_delay in (1.0, 2.0, 3.0):
            async with asyncio.timeout(DEADLINE):
                await clock.wait_for_timers(1)
            assert not informer.has_synced
            clock.advance(expected_delay - 0.01)
            assert clock.sleepers == 1, "retried too early"
            clock.advance(0.01)
        async with asyncio.timeout(DEADLINE):
            await informer.wait_for_sync()
        assert flaky.lists == 4
        errors = metrics.registry.get_sample_value(
            "dcos_informer_watch_errors_total", {"kind": "Widget"}
        )
        assert errors == 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _owned(name: str, owner: str, *, controller: bool = True, domain: str = "shop") -> Widget:
    ref = OwnerReference(kind="Widget", name=owner, uid="u-1", controller=controller)
    return Widget(
        metadata=ObjectMeta(name=name, domain=domain, owner_references=[ref]), spec=WidgetSpec()
    )


def test_enqueue_self_and_enqueue_owner_map_objects_to_requests() -> None:
    queued: list[Request] = []
    enqueue_self(queued.append).on_add(widget("a"))
    owner_handler = enqueue_owner(queued.append, "Widget")
    owner_handler.on_add(_owned("child", "parent"))
    owner_handler.on_add(_owned("child2", "other", controller=False))  # not the controller
    owner_handler.on_delete(_owned("child3", "parent", domain="shop"))
    assert queued == [
        Request("Widget", "shop", "a"),
        Request("Widget", "shop", "parent"),
        Request("Widget", "shop", "parent"),
    ]
    everyone = enqueue_owner(queued.append, "Widget", only_controller=False)
    queued.clear()
    everyone.on_update(_owned("c", "old-owner"), _owned("c", "new-owner"))
    assert queued == [
        Request("Widget", "shop", "old-owner"),
        Request("Widget", "shop", "new-owner"),
    ]


def test_enqueue_all_queues_every_target_on_a_change_that_matters() -> None:
    targets = [widget("x"), widget("y")]

    class Cache:
        def list(self) -> list[Resource]:
            return list(targets)

    queued: list[Request] = []
    handler = enqueue_all(queued.append, Cache(), updates=spec_or_metadata_changed)
    handler.on_add(widget("a"))
    assert queued == [Request("Widget", "shop", "x"), Request("Widget", "shop", "y")]
    queued.clear()
    old = widget("a")
    handler.on_update(old, old.model_copy(update={"status": old.status}))  # status only
    assert queued == []
    handler.on_delete(widget("a"))
    assert len(queued) == 2


def test_an_update_predicate_drops_status_only_updates_but_not_resyncs() -> None:
    queued: list[Request] = []
    handler = enqueue_self(queued.append, updates=spec_or_metadata_changed)
    old = widget("a")
    status_only = old.model_copy(update={"status": old.status.model_copy(update={"ready": 3})})
    handler.on_update(old, status_only)
    assert queued == [], "a controller's own status write does not wake it"
    handler.on_update(old, old)  # a resync
    assert queued == [Request("Widget", "shop", "a")]
    queued.clear()
    resized = old.model_copy(update={"spec": old.spec.model_copy(update={"size": 9})})
    handler.on_update(old, resized)
    labelled = old.model_copy(
        update={"metadata": old.metadata.model_copy(update={"labels": {"tier": "web"}})}
    )
    handler.on_update(old, labelled)
    assert queued == [Request("Widget", "shop", "a")] * 4  # old and new of each
