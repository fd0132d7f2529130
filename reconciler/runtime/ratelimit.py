"""Retry policy: how long a key waits before it is handed out again.

Built from small parts, as client-go's ``workqueue`` rate limiters are:

- :class:`RateLimiter` is three methods: ``when`` (record a failure, return
  the delay), ``forget`` (the key succeeded: reset it) and ``num_requeues``;
- :class:`ItemExponential` backs each key off on its own: ``base * 2**n``
  seconds after its n-th consecutive failure, never more than ``cap``;
- :class:`Bucket` is one token bucket shared by every key (``qps`` tokens a
  second, at most ``burst`` saved), so a storm of failures cannot busy the
  workers or the store;
- :class:`MaxOf` combines them: the longest delay wins.

:func:`default_rate_limiter` is ``MaxOf(ItemExponential(0.005, 300),
Bucket(10, 100))``: per-key backoff from 5 ms to 5 minutes under a global
10 qps. Time comes from an injected :class:`~reconciler.runtime.clock.Clock`.

The next hop is :mod:`reconciler.runtime.queue`, which asks the limiter in
``add_rate_limited``.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from reconciler.runtime.clock import Clock, MonotonicClock

__all__ = ["Bucket", "ItemExponential", "MaxOf", "RateLimiter", "default_rate_limiter"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[K_contra]):
    def when(self, item: K_contra) -> float:
        """Record one more failure of ``item``; seconds it should wait."""
        ...

    def forget(self, item: K_contra) -> None:
        """``item`` succeeded (or was given up on): its history starts over."""
        ...

    def num_requeues(self, item: K_contra) -> int:
        """Failures of ``item`` since it was last forgotten."""
        ...


class ItemExponential(Generic[K]):
    """Per key: ``base * 2**failures`` seconds, capped at ``cap``."""

    def __init__(self, base: float = 0.005, cap: float = 300.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError("ItemExponential needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, item: K) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if failures >= 64:  # 2**64 * base is past any cap; avoid float overflow
            return self.cap
        return min(self.base * 2.0**failures, self.cap)

    def forget(self, item: K) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: K) -> int:
        return self._failures.get(item, 0)


class Bucket(Generic[K]):
    """One token bucket for every key: ``qps`` tokens a second, ``burst`` at most.

    Like Go's ``rate.Limiter.Reserve().Delay()``: each ``when`` takes a token,
    going into debt when none is left; the delay is the time the debt takes
    to be paid back. Keys are not tracked, so ``forget`` does nothing.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("Bucket needs qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock or MonotonicClock()
        self._tokens = float(burst)  # negative while in debt
        self._last = self._clock.now()

    def when(self, item: K) -> float:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: K) -> None:
        return None

    def num_requeues(self, item: K) -> int:
        return 0


class MaxOf(Generic[K]):
    """Asks every limiter (each keeps its own count) and waits the longest."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOf needs at least one limiter")
        self.limiters = limiters

    def when(self, item: K) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: K) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_rate_limiter(
    clock: Clock | None = None,
    *,
    base: float = 0.005,
    cap: float = 300.0,
    qps: float = 10.0,
    burst: int = 100,
) -> MaxOf[K]:
    """Per-key exponential backoff (5 ms to 5 min) under a global 10 qps bucket."""
    return MaxOf(ItemExponential(base, cap), Bucket(qps, burst, clock=clock))
