"""WorkQueue semantics (client-go's): coalescing, one worker per key, delays, shutdown.

Time is a ManualClock: delays and backoff take no real time.
"""

from __future__ import annotations

import asyncio

import pytest

from reconciler.runtime.clock import ManualClock
from reconciler.runtime.queue import ShutDown, WorkQueue
from reconciler.runtime.ratelimit import ItemExponential, default_rate_limiter

DEADLINE = 5.0


def _queue(clock: ManualClock | None = None) -> WorkQueue[str]:
    clock = clock or ManualClock()
    return WorkQueue(clock=clock, rate_limiter=ItemExponential(1.0, 8.0))


async def _drain(queue: WorkQueue[str]) -> list[str]:
    """Every key queued now, each marked done."""
    got = []
    while len(queue):
        key = await queue.get()
        queue.done(key)
        got.append(key)
    return got


async def test_n_adds_before_get_give_one_get() -> None:
    queue = _queue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await _drain(queue) == ["a", "b"]


async def test_add_while_processing_is_delivered_again_only_after_done() -> None:
    queue = _queue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a key being processed is never handed out twice"
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.done(key)
    async with asyncio.timeout(DEADLINE):
        assert await getter == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_done_without_readd_does_not_requeue() -> None:
    queue = _queue()
    queue.add("a")
    queue.done(await queue.get())
    assert len(queue) == 0 and queue.processing == frozenset()


@pytest.mark.parametrize(
    ("adds", "expected"),
    [
        pytest.param(["a", "b", "c"], ["a", "b", "c"], id="fifo"),
        pytest.param(["a", "b", "a", "c", "b"], ["a", "b", "c"], id="first-add-keeps-its-place"),
        pytest.param([], [], id="empty"),
    ],
)
async def test_keys_are_handed_out_in_first_add_order(adds: list[str], expected: list[str]) -> None:
    queue = _queue()
    for key in adds:
        queue.add(key)
    assert await _drain(queue) == expected


async def test_many_getters_each_get_a_different_key() -> None:
    queue = _queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    for key in "abc":
        queue.add(key)
    async with asyncio.timeout(DEADLINE):
        got = await asyncio.gather(*getters)
    assert sorted(got) == ["a", "b", "c"]


async def test_shutdown_wakes_every_getter_with_shutdown() -> None:
    queue = _queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.shutdown()
    async with asyncio.timeout(DEADLINE):
        results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_drops_queued_keys_refuses_adds_and_drains_in_flight() -> None:
    queue = _queue()
    queue.add("busy")
    queue.add("queued")
    busy = await queue.get()
    queue.shutdown()
    queue.add("late")
    assert len(queue) == 0
    drained = asyncio.create_task(queue.wait_drained())
    await asyncio.sleep(0)
    assert not drained.done(), "a key in flight keeps the queue from being drained"
    queue.add(busy)  # dirtied while processing, after shutdown: not requeued
    queue.done(busy)
    async with asyncio.timeout(DEADLINE):
        await drained
    assert len(queue) == 0


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    queue = _queue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")  # wakes `first`
    first.cancel()  # ...which is cancelled before it runs
    async with asyncio.timeout(DEADLINE):
        assert await second == "a"
    assert first.cancelled()


async def test_add_after_waits_for_the_clock() -> None:
    clock = ManualClock()
    queue = _queue(clock)
    queue.add_after("a", 10)
    queue.add_after("b", 5)
    queue.add_after("c", 0)
    assert await _drain(queue) == ["c"]
    clock.advance(5)
    assert await _drain(queue) == ["b"]
    clock.advance(4.9)
    assert len(queue) == 0
    clock.advance(0.1)
    assert await _drain(queue) == ["a"]


async def test_add_after_twice_keeps_the_earlier_time() -> None:
    clock = ManualClock()
    queue = _queue(clock)
    queue.add_after("a", 10)
    queue.add_after("a", 3)
    queue.add_after("a", 20)
    clock.advance(3)
    assert await _drain(queue) == ["a"]
    clock.advance(30)
    assert len(queue) == 0, "the superseded timers fire nothing"


async def test_add_rate_limited_backs_off_per_key_and_forget_resets() -> None:
    clock = ManualClock()
    queue = _queue(clock)  # ItemExponential(1, 8)
    delays = []
    for _ in range(5):
        queue.add_rate_limited("a")
        waited = 0.0
        while not len(queue):
            clock.advance(0.5)
            waited += 0.5
        delays.append(waited)
        await _drain(queue)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert queue.num_requeues("a") == 5
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_shutdown_cancels_delayed_adds() -> None:
    clock = ManualClock()
    queue = _queue(clock)
    queue.add_after("a", 1)
    queue.shutdown()
    clock.advance(2)
    assert len(queue) == 0
    assert clock.sleepers == 0


async def test_plain_adds_are_never_rate_limited_even_with_the_bucket_in_debt() -> None:
    """The global bucket (1 qps, burst 1 here) paces retries only, as in client-go."""
    clock = ManualClock()
    queue: WorkQueue[str] = WorkQueue(
        clock=clock, rate_limiter=default_rate_limiter(clock, qps=1.0, burst=1)
    )
    for key in ("x", "y", "z"):
        queue.add_rate_limited(key)  # the bucket is in debt now
    keys = [f"k{i}" for i in range(1000)]
    for key in keys:
        queue.add(key)
    assert await _drain(queue) == keys, "every plain add is handed out at once"


async def test_a_burst_of_adds_to_one_key_while_it_is_processed_gives_one_more_get() -> None:
    queue = _queue()
    queue.add("a")
    key = await queue.get()
    for _ in range(100):
        queue.add("a")
    assert len(queue) == 0
    queue.done(key)
    assert await _drain(queue) == ["a"], "the hundred changes coalesce into one reconcile"
