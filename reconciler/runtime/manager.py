"""The controller manager: informers, controllers, leadership, health.

Wiring is separate from logic, as in controller-runtime's builder::

    manager = Manager(store, elector=elector)
    manager.controller("widget").for_kind("Widget").owns("Gadget").complete(WidgetReconciler(...))
    await manager.run(stop)

:meth:`Manager.run` starts, in one TaskGroup:

1. ``/metrics`` and ``/healthz`` (:class:`~reconciler.runtime.metrics.MetricsServer`),
   the garbage collection policy (:class:`~reconciler.runtime.collector.CollectorPolicy`)
   and the event loop's lag (``dcos_event_loop_lag_seconds``);
2. one informer per kind (``informer:{kind}``), shared by every controller
   that reads the kind; it waits until all have listed;
3. the leadership loop (:func:`~reconciler.runtime.leader.run_elected`):
   on gaining a term, every informer lists again, every controller gets a
   fresh queue, every cached object is queued, and the workers start; on
   losing it, the workers are cancelled at once; on ``stop``, queues stop
   handing out keys, reconciles in flight get ``shutdown_timeout`` seconds
   to finish, then the term is resigned.

Leader-only runnables (:meth:`Manager.add_runnable`, controller-runtime's
``LeaderElectionRunnable``: e.g. the Mesos framework) start with each term
after the relist, beside the workers; they are cancelled when the term is
lost, and on ``stop`` once the workers have drained.

A standby keeps its informers watching (warm caches, fast takeover) but
queues nothing: controllers drop keys while they have no queue.

``/healthz`` answers 200 once every informer has synced and the manager
runs, 503 otherwise, with JSON detail either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from adapters.protocols import LeaderElector, LeaderTerm, Store
from reconciler.runtime.clock import Clock, MonotonicClock
from reconciler.runtime.collector import CollectorPolicy
from reconciler.runtime.controller import Controller, Reconciler
from reconciler.runtime.informer import (
    Enqueue,
    EventHandler,
    Informer,
    UpdatePredicate,
    enqueue_owner,
    enqueue_self,
)
from reconciler.runtime.leader import AlwaysLeader, run_elected
from reconciler.runtime.metrics import MetricsServer, RuntimeMetrics, sample_loop_lag
from reconciler.runtime.settings import ControllerSettings, ManagerSettings

__all__ = ["ControllerBuilder", "Manager"]

logger = logging.getLogger(__name__)


class ControllerBuilder:
    """``manager.controller(name).for_kind(kind).owns(kind).complete(reconciler)``."""

    def __init__(self, manager: Manager, name: str) -> None:
        self._manager = manager
        self._name = name
        self._for: str | None = None
        self._for_updates: UpdatePredicate | None = None
        self._watches: list[tuple[str, Callable[[Enqueue], EventHandler]]] = []
        self._settings: ControllerSettings | None = None

    def for_kind(self, kind: str, *, updates: UpdatePredicate | None = None) -> ControllerBuilder:
        """The kind this controller reconciles: its objects are queued themselves (an
        update only when ``updates(old, new)``, e.g. :func:`spec_or_metadata_changed`)."""
        self._for = kind
        self._for_updates = updates
        return self

    def owns(self, kind: str) -> ControllerBuilder:
        """Objects of ``kind`` queue their controlling owner of the ``for_kind`` kind."""
        self._watches.append((kind, self._owner_handler))
        return self

    def watches(self, kind: str, handler: Callable[[Enqueue], EventHandler]) -> ControllerBuilder:
        """Objects of ``kind`` are mapped to requests by ``handler(enqueue)``."""
        self._watches.append((kind, handler))
        return self

    def with_settings(self, settings: ControllerSettings) -> ControllerBuilder:
        self._settings = settings
        return self

    def _owner_handler(self, enqueue: Enqueue) -> EventHandler:
        assert self._for is not None
        return enqueue_owner(enqueue, self._for)

    def complete(self, reconciler: Reconciler) -> Controller:
        if self._for is None:
            raise ValueError(f"controller {self._name}: for_kind() was not called")
        m = self._manager
        controller = Controller(
            self._name, reconciler, settings=self._settings, clock=m.clock, metrics=m.metrics
        )
        m.informer(self._for).add_handler(
            enqueue_self(controller.enqueue, updates=self._for_updates)
        )
        for kind, handler in self._watches:
            m.informer(kind).add_handler(handler(controller.enqueue))
        m.add(controller)
        return controller


class Manager:
    def __init__(
        self,
        store: Store,
        *,
        elector: LeaderElector | None = None,
        settings: ManagerSettings | None = None,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.store = store
        """What controllers read and write (fenced by the composition root)."""
        self.elector: LeaderElector = elector or AlwaysLeader()
        self.settings = settings or ManagerSettings()
        self.clock = clock or MonotonicClock()
        self.metrics = metrics or RuntimeMetrics()
        self.informers: dict[str, Informer] = {}
        self.controllers: list[Controller] = []
        self.runnables: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self.terms = 0  # terms led so far
        self._running = False
        self._leading = False
        self._server: MetricsServer | None = None
        if self.settings.metrics_addr is not None:
            self._server = MetricsServer(self.metrics, self.health, self.settings.metrics_addr)

    @property
    def server(self) -> MetricsServer | None:
        return self._server

    def informer(self, kind: str) -> Informer:
        """The informer of ``kind`` (one per kind, shared)."""
        if kind not in self.informers:
            self.informers[kind] = Informer(
                self.store,
                kind,
                settings=self.settings.informer,
                clock=self.clock,
                metrics=self.metrics,
            )
        return self.informers[kind]

    def controller(self, name: str) -> ControllerBuilder:
        return ControllerBuilder(self, name)

    def add(self, controller: Controller) -> None:
        if any(c.name == controller.name for c in self.controllers):
            raise ValueError(f"a controller named {controller.name!r} exists already")
        self.controllers.append(controller)

    def add_runnable(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``run()`` (task ``leader:{name}``) during every term; it is cancelled when
        the term ends. An exception it raises ends the term, as a failed relist does."""
        self.runnables.append((name, run))

    @property
    def leading(self) -> bool:
        """True while a term's workers run (after the relist, before the drain)."""
        return self._leading

    def bind(self) -> None:
        """Bind the metrics address now (OSError if taken), before anything starts."""
        if self._server is not None:
            self._server.bind()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then drain, resign and return."""
        self._running = True
        try:
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(informer.run(), name=f"informer:{kind}")
                    for kind, informer in self.informers.items()
                ]
                if self._server is not None:
                    background.append(tg.create_task(self._server.serve(), name="metrics-server"))
                collector = CollectorPolicy(self.settings.collector, clock=self.clock)
                background.append(tg.create_task(collector.run(), name="gc"))
                background.append(tg.create_task(sample_loop_lag(self.metrics), name="loop-lag"))
                await self._wait_for_sync(stop)
                await run_elected(
                    elector=self.elector,
                    lead=lambda term: self._lead(term, stop),
                    stop=stop,
                    metrics=self.metrics,
                    clock=self.clock,
                )
                if self._server is not None:
                    self._server.stop()
                for task in background:
                    if task.get_name() != "metrics-server":
                        task.cancel()
        finally:
            self._running = False
        logger.info("manager stopped")

    async def _wait_for_sync(self, stop: asyncio.Event) -> None:
        for kind, informer in self.informers.items():
            while not stop.is_set() and not informer.has_synced:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await informer.wait_for_sync()
                logger.debug("waiting for the informer of %s to sync", kind)

    async def _lead(self, term: LeaderTerm, stop: asyncio.Event) -> None:
        """One term: fresh caches and queues, workers until ``stop``, then drain."""
        self.terms += 1
        for informer in self.informers.values():
            await informer.relist()
        for controller in self.controllers:
            controller.open()
        for informer in self.informers.values():
            informer.resync()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline, asyncio.TaskGroup() as tg:
                runners = [
                    tg.create_task(run(), name=f"leader:{name}") for name, run in self.runnables
                ]
                workers = [
                    tg.create_task(controller.run(), name=f"controller:{controller.name}")
                    for controller in self.controllers
                ]
                self._leading = True
                await stop.wait()
                self._leading = False
                logger.info("stopping: draining reconciles in flight")
                for controller in self.controllers:
                    controller.stop_taking_work()
                deadline.reschedule(loop.time() + self.settings.shutdown_timeout)
                if workers:
                    await asyncio.wait(workers)
                for runner in runners:
                    runner.cancel()
        except TimeoutError:
            logger.warning(
                "reconciles still running after %.1fs were cancelled",
                self.settings.shutdown_timeout,
            )
        finally:
            self._leading = False

    def health(self) -> tuple[bool, dict[str, Any]]:
        informers = {
            kind: {"synced": inf.has_synced, "objects": len(inf)}
            for kind, inf in self.informers.items()
        }
        controllers = {
            c.name: {"running": c.running, "queued": len(c.queue) if c.queue is not None else 0}
            for c in self.controllers
        }
        synced = all(i["synced"] for i in informers.values())
        healthy = self._running and synced
        term = self.elector.term
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "running": self._running,
            "identity": self.elector.identity,
            "leader": term is not None,
            "term": term.revision if term is not None else None,
            "informers": informers,
            "controllers": controllers,
        }
