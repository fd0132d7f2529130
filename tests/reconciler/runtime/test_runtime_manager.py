"""The manager end to end against a real etcd: informers, workers, retries,
leader election with failover, graceful stop.

The toy reconciler copies ``spec.size`` of the test kind ``Widget`` into
``status.ready``, reading the informer's cache and writing through the
manager's (fenced) store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.leader import EtcdLeaderElector, FencedStore
from adapters.protocols import ObjectKey, Store
from crds.errors import ConflictError, TerminalError
from localcluster.etcd import EtcdServer
from reconciler.runtime import (
    ControllerSettings,
    InformerSettings,
    Manager,
    ManagerSettings,
    QueueSettings,
    Recorder,
    Request,
    Result,
)
from tests.adapters.kinds import WidgetStatus, registered, widget
from tests.adapters.proxy import CuttableProxy

DEADLINE = 15.0
TTL = 2
FAST = ControllerSettings(workers=2, queue=QueueSettings(base_delay=0.01, max_delay=0.1))


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


class SizeToReady:
    """Makes status.ready equal spec.size; fails on demand."""

    def __init__(self, manager: Manager, *, fail: dict[str, Exception] | None = None) -> None:
        self.cache = manager.informer("Widget")
        self.store = manager.store
        self.recorder = Recorder(manager.store, "widget-controller")
        self.fail = dict(fail or {})
        self.failures_left: dict[str, int] = {}
        self.calls: list[Request] = []

    async def reconcile(self, req: Request) -> Result:
        self.calls.append(req)
        if req.name in self.fail and self.failures_left.get(req.name, 2) > 0:
            self.failures_left[req.name] = self.failures_left.get(req.name, 2) - 1
            raise self.fail[req.name]
        obj = self.cache.get(req.key)
        if obj is None or obj.status.ready == obj.spec.size:
            return Result()
        status = WidgetStatus(ready=obj.spec.size, observed_generation=obj.metadata.generation)
        await self.store.update_status(obj.model_copy(update={"status": status}))
        await self.recorder.normal(obj, "Scaled", f"ready {obj.spec.size}")
        return Result()


def _manager(store: Store, **kwargs: object) -> Manager:
    settings = ManagerSettings(metrics_addr=None, informer=InformerSettings(resync_period=0))
    return Manager(store, settings=settings, **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _running(manager: Manager) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop), name="manager")
    try:
        yield stop
    finally:
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await task


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    try:
        async with asyncio.timeout(DEADLINE):
            while True:  # polls etcd and the managers: external state, with a deadline
                if await check():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {DEADLINE}s: {what}") from None


async def _ready(store: Store, name: str, size: int) -> bool:
    obj = await store.get(ObjectKey("Widget", "shop", name))
    return bool(obj.status.ready == size)


async def test_status_converges_to_spec_and_follows_updates(store: EtcdStore) -> None:
    await store.create(widget("early", size=2))
    manager = _manager(store)
    reconciler = SizeToReady(manager)
    manager.controller("widget").for_kind("Widget").with_settings(FAST).complete(reconciler)
    async with _running(manager):
        await _until(lambda: _ready(store, "early", 2), "the object listed at start converges")
        await store.create(widget("late", size=3))
        await _until(lambda: _ready(store, "late", 3), "a created object converges")
        await store.update(widget("late", size=5))
        await _until(lambda: _ready(store, "late", 5), "an updated object converges")
        healthy, detail = manager.health()
        assert healthy and detail["leader"] and detail["informers"]["Widget"]["synced"]
    events = await store.events(ObjectKey("Widget", "shop", "late"))
    assert [(e.reason, e.source) for e in events] == [("Scaled", "widget-controller")]
    assert not manager.health()[0], "a stopped manager is not healthy"


async def test_failures_requeue_with_backoff_and_terminal_errors_do_not(store: EtcdStore) -> None:
    manager = _manager(store)
    reconciler = SizeToReady(
        manager, fail={"flaky": ConflictError("stale"), "broken": TerminalError("cannot")}
    )
    manager.controller("widget").for_kind("Widget").with_settings(FAST).complete(reconciler)
    async with _running(manager):
        await store.create(widget("flaky", size=4))
        await store.create(widget("broken", size=4))
        await _until(lambda: _ready(store, "flaky", 4), "flaky converges after two failures")
        await asyncio.sleep(0.3)  # > max_delay: a requeue of "broken" would have run by now
    names = [r.name for r in reconciler.calls]
    assert names.count("flaky") >= 3  # two failures, the fix, then its own status change
    assert names.count("broken") == 1
    assert not await _ready(store, "broken", 4)
    errors = manager.metrics.registry.get_sample_value(
        "dcos_controller_reconcile_errors_total", {"controller": "widget"}
    )
    assert errors == 3


async def test_owned_objects_queue_their_owner(store: EtcdStore) -> None:
    from crds.meta import ObjectMeta, OwnerReference
    from tests.adapters.kinds import Widget

    owner = await store.create(widget("owner"))
    manager = _manager(store)
    reconciler = SizeToReady(manager)
    builder = manager.controller("widget").for_kind("Widget").owns("Widget")
    builder.with_settings(FAST).complete(reconciler)
    async with _running(manager):
        await _until(lambda: _ready(store, "owner", 1), "the owner converges")
        reconciler.calls.clear()
        ref = OwnerReference(
            kind="Widget", name="owner", uid=owner.metadata.uid or "", controller=True
        )
        await store.create(
            Widget(metadata=ObjectMeta(name="part", domain="shop", owner_references=[ref]))
        )

        async def owner_reconciled() -> bool:
            return Request("Widget", "shop", "owner") in reconciler.calls

        await _until(owner_reconciled, "a change to an owned object queues its owner")


@contextlib.asynccontextmanager
async def _replica(
    endpoint: str, prefix: str, identity: str
) -> AsyncIterator[tuple[Manager, SizeToReady]]:
    settings = EtcdSettings(endpoints=(endpoint,), prefix=prefix, timeout=1.0)
    async with open_store(settings) as store:
        elector = EtcdLeaderElector(store, identity=identity, ttl=TTL)
        manager = _manager(FencedStore(store, elector), elector=elector)
        reconciler = SizeToReady(manager)
        manager.controller("widget").for_kind("Widget").with_settings(FAST).complete(reconciler)
        yield manager, reconciler


async def test_only_the_leader_reconciles_and_the_other_takes_over_when_it_is_cut_off(
    store: EtcdStore, etcd_server: EtcdServer
) -> None:
    prefix = store.settings.prefix
    async with (
        CuttableProxy(etcd_server.client_port) as proxy,
        _replica(proxy.endpoint, prefix, "a") as (a, _),
        _running(a),
    ):
        await _until(lambda: _leading(a), "a leads")
        async with _replica(etcd_server.endpoint, prefix, "b") as (b, rec_b), _running(b):
            await _until(lambda: _synced(b), "b's informer syncs while standing by")
            await store.create(widget("one", size=2))
            await _until(lambda: _ready(store, "one", 2), "the leader reconciles")
            assert rec_b.calls == [] and b.terms == 0, "a standby reconciles nothing"
            cut_at = time.monotonic()
            await proxy.cut()
            await store.create(widget("two", size=3))  # written while nobody leads
            await _until(lambda: _leading(b), "b takes over")
            took = time.monotonic() - cut_at
            assert took < TTL + 1.5, f"failover took {took:.1f}s"
            assert not a.leading, "the cut-off leader stopped its workers"
            await _until(lambda: _ready(store, "two", 3), "the new leader relisted and reconciles")
            assert b.terms == 1
            assert {r.name for r in rec_b.calls} >= {"one", "two"}, "b queued every object"
            assert b.metrics.registry.get_sample_value("dcos_leader") == 1
            assert a.metrics.registry.get_sample_value("dcos_leader") == 0


async def test_a_stopping_leader_resigns_so_the_standby_takes_over_at_once(
    store: EtcdStore, etcd_endpoint: str
) -> None:
    prefix = store.settings.prefix
    async with (
        _replica(etcd_endpoint, prefix, "a") as (a, _),
        _replica(etcd_endpoint, prefix, "b") as (b, _),
    ):
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        run_a = asyncio.create_task(a.run(stop_a))
        await _until(lambda: _leading(a), "a leads")
        run_b = asyncio.create_task(b.run(stop_b))
        await _until(lambda: _synced(b), "b stands by")
        stopped_at = time.monotonic()
        stop_a.set()
        async with asyncio.timeout(DEADLINE):
            await run_a
        await _until(lambda: _leading(b), "b takes over")
        assert time.monotonic() - stopped_at < TTL / 2, "resigning must not wait for the TTL"
        stop_b.set()
        async with asyncio.timeout(DEADLINE):
            await run_b


async def _leading(manager: Manager) -> bool:
    return manager.leading


async def _synced(manager: Manager) -> bool:
    return manager.health()[0]


async def test_stop_waits_for_reconciles_in_flight_up_to_the_shutdown_timeout(
    store: EtcdStore,
) -> None:
    await store.create(widget("slow"))
    await store.create(widget("stuck"))
    started: asyncio.Queue[str] = asyncio.Queue()
    finished: list[str] = []
    cancelled: list[str] = []
    release = asyncio.Event()

    class Slow:
        async def reconcile(self, req: Request) -> Result:
            started.put_nowait(req.name)
            try:
                if req.name == "slow":
                    await release.wait()
                else:
                    await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(req.name)
                raise
            finished.append(req.name)
            return Result()

    settings = ManagerSettings(
        metrics_addr=None, shutdown_timeout=0.5, informer=InformerSettings(resync_period=0)
    )
    manager = Manager(store, settings=settings)
    manager.controller("widget").for_kind("Widget").with_settings(FAST).complete(Slow())
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    async with asyncio.timeout(DEADLINE):
        assert {await started.get(), await started.get()} == {"slow", "stuck"}
    stop.set()
    release.set()  # "slow" may finish; "stuck" never does
    async with asyncio.timeout(DEADLINE):
        await run
    assert finished == ["slow"]
    assert cancelled == ["stuck"]
