"""EtcdStore.watch against a real etcd: order, resume after a dropped
connection, and relisting after compaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.protocols import EventType, ObjectKey, WatchEvent
from crds.meta import Resource
from localcluster.etcd import EtcdServer
from tests.adapters.kinds import WidgetStatus, gadget, registered, widget
from tests.adapters.proxy import CuttableProxy

DEADLINE = 20.0


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


async def _take(events: AsyncIterator[WatchEvent], count: int) -> list[WatchEvent]:
    taken: list[WatchEvent] = []
    async with asyncio.timeout(DEADLINE):
        while len(taken) < count:
            taken.append(await anext(events))
    return taken


def _summary(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(e.type.value, str(ObjectKey.of(e.obj))) for e in events]


@contextlib.asynccontextmanager
async def _watcher_through(proxy: CuttableProxy, prefix: str) -> AsyncIterator[EtcdStore]:
    settings = EtcdSettings(endpoints=(proxy.endpoint,), prefix=prefix, timeout=2.0)
    async with open_store(settings) as watcher:
        yield watcher


async def test_watch_sees_create_status_update_delete_in_order(store: EtcdStore) -> None:
    start = await store.revision()
    created = await store.create(widget("a"))
    await store.create(widget("a", domain="elsewhere"))  # filtered: other domain
    await store.create(gadget("g"))  # filtered: other kind
    await store.update_status(created.model_copy(update={"status": WidgetStatus(ready=3)}))
    updated = await store.update(widget("a", size=2))
    await store.delete(ObjectKey.of(created))
    async with contextlib.aclosing(store.watch("Widget", domain="shop", revision=start)) as it:
        events = await _take(it, 4)
    assert [e.type for e in events] == [
        EventType.ADDED,
        EventType.MODIFIED,
        EventType.MODIFIED,
        EventType.DELETED,
    ]
    added, status, spec, deleted = (e.obj for e in events)
    assert added == created
    assert status.status.ready == 3
    assert status.metadata.resource_version == created.metadata.resource_version
    assert spec.metadata.generation == 2 and spec.status.ready == 3
    assert spec == updated
    assert deleted == spec, "DELETED carries the last state, status included"
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions) and not any(e.synthetic for e in events)


async def test_watch_of_all_kinds_and_domains(store: EtcdStore) -> None:
    start = await store.revision()
    await store.create(widget("a", domain="one"))
    await store.create(gadget("g"))
    await store.create(widget("b", domain="two"))
    async with contextlib.aclosing(store.watch(revision=start)) as it:
        events = await _take(it, 3)
    assert _summary(events) == [
        ("ADDED", "Widget/one/a"),
        ("ADDED", "Gadget/g"),
        ("ADDED", "Widget/two/b"),
    ]


async def test_status_change_of_an_object_listed_before_the_watch(store: EtcdStore) -> None:
    created = await store.create(widget("a"))
    listed = await store.list("Widget")
    await store.update_status(created.model_copy(update={"status": WidgetStatus(ready=1)}))
    async with contextlib.aclosing(store.watch("Widget", revision=listed.revision)) as it:
        (event,) = await _take(it, 1)
    assert event.type is EventType.MODIFIED
    assert event.obj.spec == created.spec and event.obj.status.ready == 1


async def test_watch_resumes_from_the_last_revision_after_a_dropped_connection(
    store: EtcdStore, etcd_server: EtcdServer
) -> None:
    await store.create(widget("a"))
    async with (
        CuttableProxy(etcd_server.client_port) as proxy,
        _watcher_through(proxy, store.settings.prefix) as watcher,
    ):
        start = await watcher.revision()
        async with contextlib.aclosing(watcher.watch("Widget", revision=start)) as it:
            await store.create(widget("b"))
            assert _summary(await _take(it, 1)) == [("ADDED", "Widget/shop/b")]
            await proxy.cut()
            await store.create(widget("c"))
            await store.update(widget("a", size=5))
            await store.delete(ObjectKey("Widget", "shop", "b"))
            await proxy.restore()
            events = await _take(it, 3)
    assert _summary(events) == [
        ("ADDED", "Widget/shop/c"),
        ("MODIFIED", "Widget/shop/a"),
        ("DELETED", "Widget/shop/b"),
    ]
    assert not any(e.synthetic for e in events)


def _replay(view: dict[ObjectKey, Resource], events: list[WatchEvent]) -> None:
    for event in events:
        if event.type is EventType.DELETED:
            del view[ObjectKey.of(event.obj)]
        else:
            view[ObjectKey.of(event.obj)] = event.obj


async def test_compaction_relists_and_bridges_the_gap_with_synthetic_events(
    private_etcd: EtcdServer,
) -> None:
    settings = EtcdSettings(endpoints=(private_etcd.endpoint,), timeout=2.0)
    async with (
        open_store(settings) as writer,
        CuttableProxy(private_etcd.client_port) as proxy,
        _watcher_through(proxy, settings.prefix) as watcher,
    ):
        for name in ("keep", "change", "drop", "status"):
            await writer.create(widget(name))
        listed = await watcher.list("Widget")
        view = {ObjectKey.of(o): o for o in listed.items}
        async with contextlib.aclosing(watcher.watch("Widget", revision=listed.revision)) as it:
            await writer.create(widget("early"))
            early = await _take(it, 1)
            _replay(view, early)
            await proxy.cut()
            await writer.update(widget("change", size=7))
            await writer.delete(ObjectKey("Widget", "shop", "drop"))
            await writer.create(widget("late"))
            status_of = await writer.get(ObjectKey("Widget", "shop", "status"))
            await writer.update_status(
                status_of.model_copy(update={"status": WidgetStatus(ready=9)})
            )
            await writer.compact(await writer.revision())
            await proxy.restore()
            bridged = await _take(it, 4)
            _replay(view, bridged)
            truth = await writer.list("Widget")
            # After the bridge, live events flow again from the list's revision.
            await writer.update(widget("keep", size=2))
            (live,) = await _take(it, 1)
    assert all(e.synthetic for e in bridged)
    assert sorted(_summary(bridged)) == [
        ("ADDED", "Widget/shop/late"),
        ("DELETED", "Widget/shop/drop"),
        ("MODIFIED", "Widget/shop/change"),
        ("MODIFIED", "Widget/shop/status"),
    ]
    assert view == {ObjectKey.of(o): o for o in truth.items}
    assert not live.synthetic and live.obj.spec.size == 2


async def test_watch_from_a_compacted_revision_starts_with_everything(
    private_etcd: EtcdServer,
) -> None:
    settings = EtcdSettings(endpoints=(private_etcd.endpoint,), timeout=2.0)
    async with open_store(settings) as s:
        old = await s.revision()
        await s.create(widget("a"))
        await s.create(widget("b"))
        await s.compact(await s.revision())
        async with contextlib.aclosing(s.watch("Widget", revision=old)) as it:
            events = await _take(it, 2)
    assert _summary(events) == [("ADDED", "Widget/shop/a"), ("ADDED", "Widget/shop/b")]
    assert all(e.synthetic for e in events)
