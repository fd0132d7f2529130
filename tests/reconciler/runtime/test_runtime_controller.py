"""The worker loop and the reconcile handler's four-way switch, without etcd.

A scripted reconciler reports each call on an asyncio.Queue; tests await
those reports (with a deadline) and move a ManualClock for the delays.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from crds.errors import ConflictError, TerminalError
from reconciler.runtime.clock import ManualClock
from reconciler.runtime.controller import Controller, Request, Result
from reconciler.runtime.metrics import RuntimeMetrics
from reconciler.runtime.settings import ControllerSettings, QueueSettings

DEADLINE = 5.0
A = Request("Widget", "shop", "a")
B = Request("Widget", "shop", "b")

Step = Callable[[Request], Result]


class Scripted:
    """Runs ``script[req]`` (a list of steps, the last repeating) and reports calls."""

    def __init__(self, script: dict[Request, list[Step]]) -> None:
        self.script = script
        self.calls: asyncio.Queue[Request] = asyncio.Queue()
        self.count: dict[Request, int] = {}

    async def reconcile(self, req: Request) -> Result:
        n = self.count.get(req, 0)
        self.count[req] = n + 1
        steps = self.script.get(req, [lambda _: Result()])
        self.calls.put_nowait(req)
        result: Result = steps[min(n, len(steps) - 1)](req)
        return result

    async def next_call(self) -> Request:
        async with asyncio.timeout(DEADLINE):
            return await self.calls.get()

    async def no_call(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        assert self.calls.empty(), f"unexpected reconcile of {self.calls.get_nowait()}"


def _raise(exc: Exception) -> Step:
    def step(_: Request) -> Result:
        raise exc

    return step


@contextlib.asynccontextmanager
async def _running(
    reconciler: Scripted, clock: ManualClock, *, workers: int = 1
) -> AsyncIterator[tuple[Controller, RuntimeMetrics]]:
    metrics = RuntimeMetrics()
    settings = ControllerSettings(
        workers=workers,
        queue=QueueSettings(base_delay=1.0, max_delay=8.0, qps=1000, burst=1000),
    )
    controller = Controller("widget", reconciler, settings=settings, clock=clock, metrics=metrics)
    controller.open()
    task = asyncio.create_task(controller.run(), name="controller:widget")
    try:
        yield controller, metrics
    finally:
        controller.stop_taking_work()
        async with asyncio.timeout(DEADLINE):
            await task


def _count(metrics: RuntimeMetrics, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "dcos_controller_reconcile_total", {"controller": "widget", "result": result}
    )
    return value or 0.0


async def test_success_is_forgotten_and_not_requeued() -> None:
    clock, rec = ManualClock(), Scripted({})
    async with _running(rec, clock) as (controller, metrics):
        controller.enqueue(A)
        assert await rec.next_call() == A
        clock.advance(1000)
        await rec.no_call()
        assert controller.queue is not None and controller.queue.num_requeues(A) == 0
    assert _count(metrics, "success") == 1


async def test_error_requeues_with_per_key_exponential_backoff() -> None:
    clock = ManualClock()
    rec = Scripted(
        {A: [_raise(ConflictError("stale")), _raise(RuntimeError("bug")), lambda _: Result()]}
    )
    async with _running(rec, clock) as (controller, metrics):
        controller.enqueue(A)
        await rec.next_call()
        clock.advance(0.99)
        await rec.no_call()
        clock.advance(0.01)  # first retry after base_delay = 1 s
        await rec.next_call()
        clock.advance(1.99)
        await rec.no_call()
        clock.advance(0.01)  # second retry after 2 s
        await rec.next_call()
        clock.advance(100)
        await rec.no_call()  # the third call succeeded
        assert controller.queue is not None and controller.queue.num_requeues(A) == 0
    assert _count(metrics, "error") == 2
    assert (
        metrics.registry.get_sample_value(
            "dcos_controller_reconcile_errors_total", {"controller": "widget"}
        )
        == 2
    )
    assert (
        metrics.registry.get_sample_value("dcos_workqueue_retries_total", {"name": "widget"}) == 2
    )


async def test_terminal_error_is_not_requeued() -> None:
    clock = ManualClock()
    rec = Scripted({A: [_raise(TerminalError("image name is invalid"))]})
    async with _running(rec, clock) as (controller, metrics):
        controller.enqueue(A)
        await rec.next_call()
        clock.advance(1000)
        await rec.no_call()
        assert controller.queue is not None and controller.queue.num_requeues(A) == 0
    assert _count(metrics, "terminal") == 1


async def test_requeue_after_forgets_backoff_and_comes_back_on_time() -> None:
    clock = ManualClock()
    rec = Scripted(
        {A: [_raise(ConflictError("x")), lambda _: Result(requeue_after=30), lambda _: Result()]}
    )
    async with _running(rec, clock) as (controller, metrics):
        controller.enqueue(A)
        await rec.next_call()
        clock.advance(1)
        await rec.next_call()  # returned requeue_after=30
        assert controller.queue is not None and controller.queue.num_requeues(A) == 0
        clock.advance(29.9)
        await rec.no_call()
        clock.advance(0.1)
        assert await rec.next_call() == A
    assert _count(metrics, "requeue_after") == 1


async def test_requeue_goes_through_the_rate_limiter_without_an_error() -> None:
    clock = ManualClock()
    rec = Scripted({A: [lambda _: Result(requeue=True), lambda _: Result()]})
    async with _running(rec, clock) as (controller, metrics):
        controller.enqueue(A)
        await rec.next_call()
        clock.advance(1)
        await rec.next_call()
    assert _count(metrics, "requeue") == 1
    assert _count(metrics, "error") == 0


async def test_a_key_is_never_reconciled_by_two_workers_at_once() -> None:
    clock = ManualClock()
    running: set[Request] = set()
    overlaps = []
    release = asyncio.Event()
    calls: asyncio.Queue[Request] = asyncio.Queue()

    class Slow:
        async def reconcile(self, req: Request) -> Result:
            if req in running:
                overlaps.append(req)
            running.add(req)
            calls.put_nowait(req)
            await release.wait()
            running.discard(req)
            return Result()

    rec = Scripted({})
    rec.reconcile = Slow().reconcile  # type: ignore[method-assign]
    async with _running(rec, clock, workers=4) as (controller, _):
        controller.enqueue(A)
        controller.enqueue(B)
        async with asyncio.timeout(DEADLINE):
            assert {await calls.get(), await calls.get()} == {A, B}
        controller.enqueue(A)  # while A runs: coalesced, not given to an idle worker
        controller.enqueue(A)
        for _ in range(20):
            await asyncio.sleep(0)
        assert calls.empty()
        release.set()
        async with asyncio.timeout(DEADLINE):
            assert await calls.get() == A  # once more, after the first finished
    assert overlaps == []


async def test_workers_are_named_and_survive_exceptions() -> None:
    clock = ManualClock()
    rec = Scripted({A: [_raise(ZeroDivisionError("boom"))], B: [lambda _: Result()]})
    async with _running(rec, clock, workers=3) as (controller, _):
        controller.enqueue(A)
        await rec.next_call()
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert {"worker:widget:0", "worker:widget:1", "worker:widget:2"} <= names
        controller.enqueue(B)
        assert await rec.next_call() == B


async def test_reconcile_timeout_counts_as_an_error_and_retries() -> None:
    clock = ManualClock()
    calls: asyncio.Queue[int] = asyncio.Queue()

    class HangsOnce:
        count = 0

        async def reconcile(self, req: Request) -> Result:
            HangsOnce.count += 1
            calls.put_nowait(HangsOnce.count)
            if HangsOnce.count == 1:
                await asyncio.Event().wait()  # cut short by reconcile_timeout
            return Result()

    metrics = RuntimeMetrics()
    settings = ControllerSettings(reconcile_timeout=0.05, queue=QueueSettings(base_delay=1.0))
    controller = Controller("widget", HangsOnce(), settings=settings, clock=clock, metrics=metrics)
    controller.open()
    task = asyncio.create_task(controller.run())
    controller.enqueue(A)
    async with asyncio.timeout(DEADLINE):
        assert await calls.get() == 1
        await clock.wait_for_timers(1)  # the timed-out key waits for its retry
    assert _count(metrics, "error") == 1
    clock.advance(1)
    async with asyncio.timeout(DEADLINE):
        assert await calls.get() == 2
    controller.stop_taking_work()
    await task
    assert _count(metrics, "success") == 1


async def test_stop_taking_work_lets_the_reconcile_in_flight_finish() -> None:
    clock = ManualClock()
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class Busy:
        async def reconcile(self, req: Request) -> Result:
            started.set()
            await release.wait()
            finished.set()
            return Result()

    controller = Controller("widget", Busy(), clock=clock)
    controller.open()
    task = asyncio.create_task(controller.run())
    controller.enqueue(A)
    controller.enqueue(B)
    async with asyncio.timeout(DEADLINE):
        await started.wait()
    controller.stop_taking_work()
    assert not task.done()
    release.set()
    async with asyncio.timeout(DEADLINE):
        await task
    assert finished.is_set()
    assert not controller.running


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(workers: int) -> None:
    with pytest.raises(ValueError):
        ControllerSettings(workers=workers)
