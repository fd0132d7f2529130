"""The work queue: which key a worker reconciles next.

client-go's ``workqueue`` semantics, on asyncio:

- **Stingy**: a key added many times before a worker takes it is handed out
  once (``dirty`` coalesces the adds).
- **Never twice at once**: a key is in ``processing`` from ``get`` until
  ``done``. Adding it meanwhile only marks it dirty; ``done`` then queues it
  again, so the change is reconciled after the running reconcile, not beside it.
- **Fair**: keys are handed out in the order they were (first) added.
- **Multi-consumer**: any number of workers may wait in ``get``.
- **Delays**: ``add_after`` keeps a heap of timers (one armed clock timer for
  the earliest); a key waiting twice keeps the earlier time.
  ``add_rate_limited`` asks the :class:`~reconciler.runtime.ratelimit.RateLimiter`
  for the delay; ``forget`` resets the key's backoff.
- **Shutdown**: ``shutdown`` refuses new adds, cancels the timers and wakes
  every getter with :class:`ShutDown`. Unlike client-go, keys still queued are
  not handed out: reconciles are level-based, so whoever runs next relists and
  queues every key again, and a shutdown (or a lost leadership) must be quick.
  :meth:`WorkQueue.wait_drained` waits for the keys in ``processing``.

The next hop is :mod:`reconciler.runtime.controller`, whose workers loop
over ``get``/``done``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from reconciler.runtime.clock import Clock, MonotonicClock, Timer
from reconciler.runtime.ratelimit import RateLimiter, default_rate_limiter

__all__ = ["NoQueueMetrics", "QueueMetrics", "ShutDown", "WorkQueue"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """``get`` on a queue that was shut down: the worker should return."""


class QueueMetrics(Protocol):
    def added(self) -> None: ...

    def retried(self) -> None: ...

    def depth(self, value: int) -> None: ...


class NoQueueMetrics:
    def added(self) -> None:
        return None

    def retried(self) -> None:
        return None

    def depth(self, value: int) -> None:
        return None


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        name: str = "queue",
        clock: Clock | None = None,
        rate_limiter: RateLimiter[K] | None = None,
        metrics: QueueMetrics | None = None,
    ) -> None:
        self.name = name
        self._clock = clock or MonotonicClock()
        self._limiter: RateLimiter[K] = rate_limiter or default_rate_limiter(self._clock)
        self._metrics = metrics or NoQueueMetrics()
        self._queue: deque[K] = deque()  # every queued key is dirty and not processing
        self._dirty: set[K] = set()  # keys to reconcile; each is queued or processing
        self._processing: set[K] = set()  # keys a worker holds between get and done
        self._getters: deque[asyncio.Future[None]] = deque()  # workers waiting in get
        self._waiting: dict[K, float] = {}  # add_after keys -> when they are due
        self._heap: list[tuple[float, int, K]] = []  # (due, seq, key); stale entries skipped
        self._seq = itertools.count()
        self._timer: tuple[float, Timer] | None = None  # the clock timer for the heap's top
        self._drained = asyncio.Event()
        self._drained.set()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    def add(self, key: K) -> None:
        """Mark ``key`` for reconciling; a no-op when it is already marked."""
        if self._shutting_down:
            return
        self._metrics.added()
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() queues it again
        self._push(key)

    async def get(self) -> K:
        """The next key, waiting for one; :class:`ShutDown` once shut down."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._getters:
                    self._getters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were woken for a key: pass it on
                raise
        if self._shutting_down:
            raise ShutDown(self.name)
        key = self._queue.popleft()
        self._metrics.depth(len(self._queue))
        self._processing.add(key)
        self._dirty.discard(key)
        self._drained.clear()
        return key

    def done(self, key: K) -> None:
        """The worker finished ``key``; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._push(key)
        if not self._processing:
            self._drained.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (at once when <= 0)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock.now() + delay
        if key in self._waiting and self._waiting[key] <= due:
            return
        self._waiting[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._arm()

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the rate limiter's delay (its backoff grows)."""
        if self._shutting_down:
            return
        self._metrics.retried()
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """``key`` succeeded: its backoff starts over (it stays queued if it is)."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    def shutdown(self) -> None:
        """Refuse adds, drop timers and queued keys, wake every getter with ShutDown."""
        if self._shutting_down:
            return
        self._shutting_down = True
        if self._timer is not None:
            self._timer[1].cancel()
            self._timer = None
        self._heap.clear()
        self._waiting.clear()
        self._queue.clear()
        self._dirty &= self._processing
        self._metrics.depth(0)
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def wait_drained(self) -> None:
        """Until no key is being processed (call after :meth:`shutdown`)."""
        await self._drained.wait()

    def _push(self, key: K) -> None:
        self._queue.append(key)
        self._metrics.depth(len(self._queue))
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _arm(self) -> None:
        """Keep one clock timer armed for the earliest waiting key."""
        while self._heap and self._waiting.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # superseded by an earlier add_after
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._timer[0] <= due:
                return
            self._timer[1].cancel()
        self._timer = (due, self._clock.call_later(due - self._clock.now(), self._fire))

    def _fire(self) -> None:
        self._timer = None
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == due:
                del self._waiting[key]
                self.add(key)
        self._arm()
