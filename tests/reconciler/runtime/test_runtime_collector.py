"""The garbage collection policy: survivors of a full collection are frozen, a
collection of everything comes every ``full_interval``, and stopping unfreezes."""

from __future__ import annotations

import asyncio
import contextlib
import gc

from reconciler.runtime.clock import ManualClock
from reconciler.runtime.collector import CollectorPolicy
from reconciler.runtime.settings import CollectorSettings

DEADLINE = 5.0


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def _asleep(clock: ManualClock) -> None:
    """Until the policy waits for its next collection of everything."""
    async with asyncio.timeout(DEADLINE):
        await clock.wait_for_timers(1)


async def test_full_collections_freeze_their_survivors_and_stopping_unfreezes() -> None:
    clock = ManualClock()
    policy = CollectorPolicy(CollectorSettings(full_interval=60.0), clock=clock)
    task = asyncio.create_task(policy.run(), name="gc")
    try:
        await _asleep(clock)
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert policy.frozen == 1 and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        gc.collect(1)  # a younger generation: nothing is frozen
        assert policy.frozen == 1 and gc.get_freeze_count() == frozen
        _Cycle()  # garbage only a collection of everything finds
        gc.freeze()
        clock.advance(60.0)
        await _asleep(clock)
        assert policy.frozen == 2
        assert not any(isinstance(o, _Cycle) for o in gc.get_objects())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert gc.get_freeze_count() == 0
    assert policy._on_collection not in gc.callbacks


async def test_the_policy_can_be_turned_off() -> None:
    policy = CollectorPolicy(CollectorSettings(freeze=False))
    await policy.run()  # returns at once
    gc.collect()
    assert gc.get_freeze_count() == 0
