"""Garbage collection that does not stall the event loop for long.

CPython's cyclic collector runs a full (generation 2) collection whenever
enough objects have survived into the oldest generation, and a full
collection visits *every* tracked object: with the caches of a large data
center (ten thousand instance records, thousands of objects, the Mesos
offers) one takes hundreds of milliseconds, several times a minute while
things change, and every reconcile, watch event and status update waits.

:class:`CollectorPolicy` keeps those collections small, as long-lived Python
servers do with ``gc.freeze()``:

- after each full collection, what survived it (the caches, everything
  long-lived) is moved to the permanent generation, which the collector does
  not visit; the next full collection visits only what survived since. The
  survivors are exactly the reachable objects (the younger generations are
  empty at that moment), so no garbage is frozen;
- frozen objects are still freed when their last reference goes (most
  objects are: a replaced record, a deleted object); only reference cycles
  among them wait, for a full collection of everything every
  ``full_interval`` seconds (``gc.unfreeze()``, ``gc.collect()``, freeze
  again).

The manager installs the policy while it runs (:meth:`CollectorPolicy.run`)
and removes it, unfreezing everything, when it stops.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from reconciler.runtime.clock import Clock, MonotonicClock
from reconciler.runtime.settings import CollectorSettings

__all__ = ["CollectorPolicy"]

logger = logging.getLogger(__name__)


class CollectorPolicy:
    def __init__(self, settings: CollectorSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock = clock or MonotonicClock()
        self.frozen = 0  # full collections whose survivors were frozen

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()
            self.frozen += 1

    def full_collection(self) -> None:
        """Collect everything, frozen objects included, and freeze the survivors."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()  # the callback freezes the survivors
        logger.info(
            "full garbage collection: %d unreachable, %d frozen, %.0f ms",
            found,
            gc.get_freeze_count(),
            1000 * (time.perf_counter() - started),
        )

    async def run(self) -> None:
        """Until cancelled: freeze after each full collection, collect everything every
        ``full_interval`` seconds; on the way out, remove the policy and unfreeze."""
        if not self.settings.freeze:
            return
        gc.callbacks.append(self._on_collection)
        try:
            while True:
                await self._clock.sleep(self.settings.full_interval or 3600.0)
                if self.settings.full_interval > 0:
                    self.full_collection()
        finally:
            gc.callbacks.remove(self._on_collection)
            gc.unfreeze()
