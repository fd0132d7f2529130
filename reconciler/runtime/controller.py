"""The reconcile contract and the workers that drive it.

A controller is a :class:`Reconciler` plus a work queue of :class:`Request`
keys. Reconciles are **level-based**: a request names an object (kind,
domain, name), never the event that woke it, and ``reconcile`` reads the
current state and closes the difference, however many events it missed.
It returns a :class:`Result`; the runtime owns every retry:

- raised :class:`crds.errors.TerminalError`: logged, forgotten, not requeued;
- raised anything else: requeued through the rate limiter (per-key
  exponential backoff under a global token bucket);
- ``Result(requeue_after=s)``: backoff forgotten, queued again in ``s`` seconds;
- ``Result(requeue=True)``: queued again through the rate limiter;
- ``Result()``: success, backoff forgotten.

The worker loop is controller-runtime's: :meth:`Controller.process_next_work_item`
(``get``, reconcile, ``done``) and :meth:`Controller.reconcile_handler` (the
four-way switch above). Each reconcile gets an id carried, with kind and
name, by a ``LoggerAdapter``. An exception escaping the reconciler is
caught and retried (the recovery Go does for a panic); ``CancelledError``
always propagates.

The next hop is :mod:`reconciler.runtime.manager`, which starts workers
only while it leads.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.protocols import ObjectKey
from crds.errors import DcosError, TerminalError
from crds.meta import Resource
from reconciler.runtime.clock import Clock, MonotonicClock
from reconciler.runtime.metrics import RuntimeMetrics
from reconciler.runtime.queue import ShutDown, WorkQueue
from reconciler.runtime.ratelimit import default_rate_limiter
from reconciler.runtime.settings import ControllerSettings

__all__ = [
    "Controller",
    "FuncReconciler",
    "Reconciler",
    "ReconcilerLogger",
    "Request",
    "Result",
    "TerminalError",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Request:
    """Which object to reconcile; never the event that caused it."""

    kind: str
    domain: str | None
    name: str

    @classmethod
    def of(cls, obj: Resource) -> Request:
        return cls(obj.kind, obj.metadata.domain, obj.metadata.name)

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.kind, self.domain, self.name)

    def __str__(self) -> str:
        return str(self.key)


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None
    """Reconcile again after this many seconds (polling what has no watch)."""
    requeue: bool = False
    """Reconcile again after the rate limiter's delay, without counting an error."""


class Reconciler(Protocol):
    async def reconcile(self, req: Request) -> Result:
        """Make the world match the object ``req`` names; idempotent."""
        ...


class FuncReconciler:
    """A reconcile function as a :class:`Reconciler`."""

    def __init__(self, fn: Callable[[Request], Awaitable[Result]]) -> None:
        self._fn = fn

    async def reconcile(self, req: Request) -> Result:
        return await self._fn(req)


class ReconcilerLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with ``Kind/domain/name [reconcile id]``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = self.extra or {}
        kwargs.setdefault("extra", {}).update(extra)
        return f"{extra['object']} [{extra['reconcile_id']}] {msg}", kwargs


class Controller:
    """One reconciler, its queue and its workers (``worker:{name}:{i}``)."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        settings: ControllerSettings | None = None,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.name = name
        self.reconciler = reconciler
        self.settings = settings or ControllerSettings()
        self._clock = clock or MonotonicClock()
        self._metrics = metrics or RuntimeMetrics()
        self.queue: WorkQueue[Request] | None = None  # set while running; None when idle

    @property
    def running(self) -> bool:
        return self.queue is not None and not self.queue.shutting_down

    def enqueue(self, req: Request) -> None:
        """Queue ``req`` while running; dropped otherwise (the next start lists everything)."""
        if self.queue is not None:
            self.queue.add(req)

    def enqueue_after(self, req: Request, delay: float) -> None:
        if self.queue is not None:
            self.queue.add_after(req, delay)

    def _new_queue(self) -> WorkQueue[Request]:
        q = self.settings.queue
        return WorkQueue(
            name=self.name,
            clock=self._clock,
            rate_limiter=default_rate_limiter(
                self._clock, base=q.base_delay, cap=q.max_delay, qps=q.qps, burst=q.burst
            ),
            metrics=self._metrics.queue(self.name),
        )

    def open(self) -> WorkQueue[Request]:
        """A fresh queue for a new term; keys added from now on are kept."""
        self.queue = self._new_queue()
        return self.queue

    async def run(self) -> None:
        """The workers, until the queue shuts down (or the task is cancelled)."""
        queue = self.queue if self.queue is not None else self.open()
        logger.info("%s: starting %d workers", self.name, self.settings.workers)
        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(self.settings.workers):
                    tg.create_task(self._worker(queue), name=f"worker:{self.name}:{i}")
        finally:
            queue.shutdown()
            if self.queue is queue:
                self.queue = None
            logger.info("%s: workers stopped", self.name)

    def stop_taking_work(self) -> None:
        """Shut the queue: idle workers return, busy ones finish their reconcile."""
        if self.queue is not None:
            self.queue.shutdown()

    async def _worker(self, queue: WorkQueue[Request]) -> None:
        while await self.process_next_work_item(queue):
            pass

    async def process_next_work_item(self, queue: WorkQueue[Request]) -> bool:
        """Reconcile one key; False once the queue is shut down."""
        try:
            req = await queue.get()
        except ShutDown:
            return False
        try:
            await self.reconcile_handler(queue, req)
        finally:
            queue.done(req)
        return True

    async def reconcile_handler(self, queue: WorkQueue[Request], req: Request) -> None:
        log = ReconcilerLogger(
            logger,
            {"object": str(req), "reconcile_id": uuid.uuid4().hex[:8], "controller": self.name},
        )
        try:
            result = await self._reconcile(req, log)
        except TerminalError as exc:
            queue.forget(req)
            self._count("terminal", error=True)
            log.error("terminal error, not requeued: %s", exc)
            return
        except Exception as exc:
            queue.add_rate_limited(req)
            self._count("error", error=True)
            retries = queue.num_requeues(req)
            if isinstance(exc, DcosError | TimeoutError):
                log.warning("reconcile failed (retry %d): %s", retries, exc)
            else:
                log.exception("reconcile raised (retry %d)", retries)
            return
        if result.requeue_after is not None and result.requeue_after > 0:
            queue.forget(req)
            queue.add_after(req, result.requeue_after)
            self._count("requeue_after")
        elif result.requeue:
            queue.add_rate_limited(req)
            self._count("requeue")
        else:
            queue.forget(req)
            self._count("success")

    async def _reconcile(self, req: Request, log: ReconcilerLogger) -> Result:
        """The user's reconcile, timed and bounded; its exceptions propagate."""
        log.debug("reconciling")
        workers = self._metrics.active_workers.labels(self.name)
        workers.inc()
        started = self._clock.now()
        try:
            async with asyncio.timeout(self.settings.reconcile_timeout):
                result = await self.reconciler.reconcile(req)
        finally:
            workers.dec()
            took = self._clock.now() - started
            self._metrics.reconcile_time.labels(self.name).observe(max(0.0, took))
        log.debug("reconciled in %.3fs: %s", took, result)
        return result

    def _count(self, result: str, *, error: bool = False) -> None:
        self._metrics.reconcile_total.labels(self.name, result).inc()
        if error:
            self._metrics.reconcile_errors.labels(self.name).inc()
