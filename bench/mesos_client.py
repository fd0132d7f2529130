"""Our Mesos client against the local master with 1,000 sim agents.

The master runs as its own process; ``MesosSchedulerClient`` subscribes as a
MULTI_ROLE framework. Figures: offers/s (SUBSCRIBED to 1,000 offers
received), launches/s (tasks in ACCEPTs answered by the master per second, ten per
offer) and 10,000 tasks launched through the client until TASK_RUNNING
(tasks/s, every update acknowledged through the client).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from adapters.mesos import (
    AgentID,
    CommandInfo,
    Filters,
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
    Offer,
    OfferOperation,
    Resource,
    Scalar,
    SchedulerEventType,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    ValueType,
)
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from bench.common import Figure
from bench.mesos_sim import AGENTS, TASKS_PER_AGENT, _rss_mib, _start_master

TOTAL = AGENTS * TASKS_PER_AGENT


def _tasks(offer: Offer) -> list[TaskInfo]:
    agent = offer.agent_id.value
    resources = [
        Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=0.1)),
        Resource(name="mem", type=ValueType.SCALAR, scalar=Scalar(value=32)),
    ]
    return [
        TaskInfo(
            name=f"{agent}-{i}",
            task_id=TaskID(value=f"{agent}-{i}"),
            agent_id=AgentID(value=agent),
            resources=resources,
            command=CommandInfo(value="sleep 3600"),
        )
        for i in range(TASKS_PER_AGENT)
    ]


async def _drive(url: str) -> tuple[float, float, float]:
    info = FrameworkInfo(
        user="bench",
        name="bench-client",
        roles=["bench"],
        capabilities=[FrameworkCapability(type=FrameworkCapabilityType.MULTI_ROLE)],
    )
    settings = MesosSettings(masters=(url,))
    calls = asyncio.Semaphore(16)
    offers_seen = running = 0
    subscribed_at = offers_done = first_accept = last_accept = 0.0
    pending: set[asyncio.Task[None]] = set()
    async with MesosSchedulerClient(settings) as client, asyncio.TaskGroup() as group:

        async def accept(offer: Offer) -> None:
            nonlocal last_accept
            operation = OfferOperation.of_launch(_tasks(offer))
            async with calls:
                await client.accept([offer.id], [operation], filters=Filters(refuse_seconds=3600))
            last_accept = time.perf_counter()

        async def ack(status: TaskStatus) -> None:
            assert status.agent_id is not None and status.uuid is not None
            async with calls:
                await client.acknowledge(
                    agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid
                )

        def spawn(coro: Coroutine[Any, Any, None], name: str) -> None:
            task = group.create_task(coro, name=name)
            pending.add(task)
            task.add_done_callback(pending.discard)

        async for event in client.subscribe(info):
            if event.type is SchedulerEventType.SUBSCRIBED:
                subscribed_at = time.perf_counter()
            elif event.type is SchedulerEventType.OFFERS and event.offers:
                for offer in event.offers.offers[: AGENTS - offers_seen]:
                    offers_seen += 1
                    first_accept = first_accept or time.perf_counter()
                    spawn(accept(offer), f"bench:accept:{offers_seen}")
                if offers_seen >= AGENTS and not offers_done:
                    offers_done = time.perf_counter()
            elif event.type is SchedulerEventType.UPDATE and event.update:
                status = event.update.status
                if status.uuid and status.agent_id:
                    spawn(ack(status), "bench:ack")
                if status.state is TaskState.TASK_RUNNING:
                    running += 1
                    if running == TOTAL:
                        await asyncio.gather(*pending)  # the last acknowledgements
                        break
        done = time.perf_counter()
    return (
        AGENTS / (offers_done - subscribed_at),
        TOTAL / (last_accept - first_accept),
        TOTAL / (done - first_accept),
    )


def run() -> list[Figure]:
    proc, url = _start_master()
    try:
        offers, launches, tasks = asyncio.run(_drive(url))
        rss = _rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [
        Figure(f"client: offers/s ({AGENTS} sim agents)", offers, "offers/s"),
        Figure("client: launches/s sent in ACCEPTs", launches, "tasks/s"),
        Figure(f"client: {TOTAL:,} tasks to RUNNING, acked", tasks, "tasks/s", ">= 1,000"),
        Figure("master RSS after that", rss, "MiB", "<= 300"),
    ]
