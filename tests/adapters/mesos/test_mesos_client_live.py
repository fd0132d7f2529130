"""Our Mesos clients over real HTTP against the local master emulator.

The emulator (``localcluster.mesos.server.LocalMaster``) speaks the v1
scheduler and operator APIs on 127.0.0.1 with simulated agents, so these
tests run the production httpx code end to end: SUBSCRIBE and its RecordIO
stream, ACCEPT with a LAUNCH, reliable updates and their acknowledgements,
KILL, reconciliation, and resubscription after the master fails over.
Intervals are shortened so every test takes well under a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import pytest

from adapters.mesos import (
    CommandInfo,
    Filters,
    FrameworkInfo,
    Offer,
    OfferOperation,
    OfferOperationType,
    OperationLaunch,
    OperatorEventType,
    Resource,
    Scalar,
    SchedulerEvent,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    ValueType,
)
from adapters.mesos.http import MesosSettings
from adapters.mesos.operator import MesosOperatorClient
from adapters.mesos.scheduler import FrameworkEnded, MesosSchedulerClient
from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import MasterSettings, SimSettings

TIMEOUT = 10.0


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=agents_from_flags(2, cpus=4, mem=4096, ports="31000-31009"),
        heartbeat_interval=0.5,
        allocation_interval=0.1,
        allocation_batch=0.005,
        status_update_retry=0.3,
        sim=SimSettings(running_delay=0.02),
    )
    async with LocalMaster(settings) as started:
        yield started


def client_settings(local: LocalMaster) -> MesosSettings:
    return MesosSettings(
        masters=(local.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
    )


def framework(name: str = "live") -> FrameworkInfo:
    return FrameworkInfo(user="root", name=name, roles=[], failover_timeout=3600)


def task(task_id: str, offer: Offer) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=TaskID(value=task_id),
        agent_id=offer.agent_id,
        resources=[
            Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=0.1)),
            Resource(name="mem", type=ValueType.SCALAR, scalar=Scalar(value=32)),
        ],
        command=CommandInfo(value="sleep 1000"),
    )


class Framework:
    """Reads the event stream like a scheduler: acknowledges each reliable update."""

    def __init__(self, client: MesosSchedulerClient, info: FrameworkInfo) -> None:
        self.client = client
        self.events: AsyncGenerator[SchedulerEvent, None] = client.subscribe(info)
        self.acknowledged: list[tuple[str, str]] = []  # (task id, state)

    async def next(
        self, kind: str, where: Callable[[SchedulerEvent], bool] = lambda e: True
    ) -> SchedulerEvent:
        async with asyncio.timeout(TIMEOUT):
            while True:
                event = await anext(self.events)
                if event.update is not None:
                    await self._acknowledge(event.update.status)
                if event.type == kind and where(event):
                    return event

    async def update(self, task_id: str, state: TaskState) -> TaskStatus:
        def match(event: SchedulerEvent) -> bool:
            status = event.update.status if event.update else None
            return status is not None and status.task_id.value == task_id and status.state == state

        event = await self.next("UPDATE", match)
        assert event.update is not None
        return event.update.status

    async def _acknowledge(self, status: TaskStatus) -> None:
        if status.uuid is None or status.agent_id is None:
            return  # reconciliation answers are not acknowledged
        await self.client.acknowledge(
            agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid
        )
        self.acknowledged.append((status.task_id.value, str(status.state)))


async def test_launch_kill_reconcile_and_resubscribe_after_failover(local: LocalMaster) -> None:
    async with MesosSchedulerClient(client_settings(local)) as client:
        fw = Framework(client, framework())
        subscribed = await fw.next("SUBSCRIBED")
        assert subscribed.subscribed is not None
        framework_id = subscribed.subscribed.framework_id
        first_stream = client.stream_id

        offers = await fw.next("OFFERS")
        assert offers.offers is not None
        offer = offers.offers.offers[0]
        launch = OperationLaunch(task_infos=[task("t1", offer), task("t2", offer)])
        await client.accept(
            [offer.id],
            [OfferOperation(type=OfferOperationType.LAUNCH, launch=launch)],
            filters=Filters(refuse_seconds=0.1),
        )
        await fw.update("t1", TaskState.TASK_RUNNING)
        await fw.update("t2", TaskState.TASK_RUNNING)

        await client.kill("t1", offer.agent_id)
        await fw.update("t1", TaskState.TASK_KILLED)
        assert ("t1", "TASK_KILLED") in fw.acknowledged

        await client.reconcile([("t2", offer.agent_id)])
        answer = await fw.update("t2", TaskState.TASK_RUNNING)
        assert answer.reason == TaskStatusReason.REASON_RECONCILIATION
        assert answer.uuid is None

        local.master.faults.failover_master()
        again = await fw.next("SUBSCRIBED")
        assert again.subscribed is not None
        assert again.subscribed.framework_id == framework_id
        assert client.stream_id not in (None, first_stream)

        await client.reconcile()  # implicit: every non-terminal task
        answer = await fw.update("t2", TaskState.TASK_RUNNING)
        assert answer.reason == TaskStatusReason.REASON_RECONCILIATION

        async with MesosOperatorClient(client_settings(local)) as operator:
            tasks = await operator.get_tasks()
            frameworks = await operator.get_frameworks()
        states = {t.task_id.value: t.state for t in tasks.tasks}
        assert states.get("t2") == TaskState.TASK_RUNNING
        assert "t1" not in states
        [mine] = [f for f in frameworks.frameworks if f.framework_info.id == framework_id]
        assert mine.connected and mine.active

        await client.teardown()
        async with asyncio.timeout(TIMEOUT):
            assert [e.type async for e in fw.events if e.type == "ERROR"] == []


async def test_a_second_instance_taking_over_ends_the_first(local: LocalMaster) -> None:
    async with (
        MesosSchedulerClient(client_settings(local)) as first,
        MesosSchedulerClient(client_settings(local)) as second,
    ):
        old = Framework(first, framework("ha"))
        subscribed = await old.next("SUBSCRIBED")
        assert subscribed.subscribed is not None
        info = framework("ha").model_copy(update={"id": subscribed.subscribed.framework_id})
        new = Framework(second, info)
        await new.next("SUBSCRIBED")
        with pytest.raises(FrameworkEnded, match="Framework failed over"):
            await old.next("NEVER")
        assert second.framework_id == subscribed.subscribed.framework_id
        await new.events.aclose()


async def test_operator_reads_and_stream(local: LocalMaster) -> None:
    async with MesosOperatorClient(client_settings(local)) as operator:
        assert (await operator.get_health()).healthy
        agents = await operator.get_agents()
        assert len(agents.agents) == 2
        state = await operator.get_state()
        assert state.get_agents is not None and len(state.get_agents.agents) == 2
        legacy = await operator.master_state()
        assert len(legacy["slaves"]) == 2

        events = operator.subscribe()
        async with asyncio.timeout(TIMEOUT):
            first = await anext(events)
            assert first.type == OperatorEventType.SUBSCRIBED
            local.master.faults.failover_master()  # cuts the operator stream too
            while (event := await anext(events)).type != OperatorEventType.SUBSCRIBED:
                pass
        await events.aclose()
        assert event.subscribed is not None and event.subscribed.get_state is not None
