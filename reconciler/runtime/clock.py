"""Time, injected: the runtime never reads the wall clock or sleeps directly.

Everything time-based in :mod:`reconciler.runtime` (backoff, token buckets,
``add_after``, resync, watch retries) asks a :class:`Clock`. Production uses
:class:`MonotonicClock` (the event loop's own timers); tests use
:class:`ManualClock`, whose time moves only when the test calls
:meth:`ManualClock.advance`, so a five-minute backoff takes no real time.

The next hop is :mod:`reconciler.runtime.ratelimit`, the first user.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "ManualClock", "MonotonicClock", "Timer"]

logger = logging.getLogger(__name__)


class Timer(Protocol):
    """A scheduled callback; ``asyncio.TimerHandle`` is one."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (in the event loop) once ``delay`` seconds have passed."""
        ...


class MonotonicClock:
    """Real time: ``time.monotonic`` and the running loop's timers."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _ManualTimer:
    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time that moves only by :meth:`advance`; timers fire inside ``advance``."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _ManualTimer]] = []  # a heap by due time
        self._seq = itertools.count()
        self._scheduled = asyncio.Event()  # set whenever a timer is added

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.due, next(self._seq), timer))
        self._scheduled.set()
        return timer

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    @property
    def sleepers(self) -> int:
        """Timers still pending (a test waits for a task to reach its sleep)."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    async def wait_for_timers(self, count: int = 1) -> None:
        """Until at least ``count`` timers are pending (a task reached its sleep)."""
        while self.sleepers < count:
            self._scheduled.clear()
            await self._scheduled.wait()

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due, in order."""
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            due, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, due)
            if not timer.cancelled:
                timer.callback()
        self._now = target
