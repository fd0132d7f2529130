"""An agent partitioned away and healed: in steady state, then in the middle of a rollout.

``/faults/partition-agent`` makes the agent unreachable while its tasks keep
running (TASK_UNREACHABLE, the framework being PARTITION_AWARE);
``/faults/heal-agent`` brings it back with them. The unreachable instances
keep their records and addresses and are replaced at once (they do not
count as active); when they come back Running the excess is killed. The
capacity floor is off (a partition takes healthy instances away by itself);
the ceiling, the addresses, the tasks and the acknowledged specs hold, and
every App converges.
"""

from __future__ import annotations

import pytest

from e2e.faults.history import Checks
from e2e.faults.probes import bump, launched_since, mid_rollout, task_ids
from e2e.faults.stack import FaultStack, StackSettings
from e2e.harness import rolled_out

pytestmark = pytest.mark.timeout(90)

APPS = 30
INSTANCES = 2


@pytest.fixture
def stack_settings() -> StackSettings:
    return StackSettings(hosts=4, master={"unreachable_gone_timeout": 600.0})


def _busiest(stack: FaultStack, *, but: str = "") -> str:
    """The agent that runs the most tasks (other than ``but``)."""
    agents = [a.id for a in stack.master.master.state.agents.values() if a.id != but]
    return max(agents, key=lambda a: (len(_tasks_on(stack, a)), a))


def _tasks_on(stack: FaultStack, agent_id: str) -> set[str]:
    return {
        rec.task_id
        for fw in stack.master.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if rec.agent_id == agent_id
    }


async def _all_rolled_out(stack: FaultStack) -> bool:
    apps = (await stack.store.list("App")).items
    for app in apps:
        if not await rolled_out(stack.store, app.metadata.domain or "", app.metadata.name):
            return False
    return True


async def test_agent_partitioned_and_healed(fault_stack: FaultStack) -> None:
    stack = fault_stack
    await bump(stack, APPS, "1", instances=INSTANCES)
    await stack.until("the Apps to converge", stack.converged, within=40)

    # Steady state: the partitioned agent's instances are replaced, then the excess killed.
    agent = _busiest(stack)
    stranded = _tasks_on(stack, agent)
    assert len(stranded) >= APPS // 4
    before = task_ids(stack)
    await stack.master_fault("partition-agent", agent_id=agent)

    async def replaced() -> bool:
        return len(launched_since(stack, before)) >= len(stranded) and await _all_rolled_out(stack)

    await stack.until("the stranded instances to be replaced", replaced, within=30)
    await stack.master_fault("heal-agent", agent_id=agent)
    await stack.until("the excess to be killed", stack.converged, within=30)
    assert len(launched_since(stack, before)) == len(stranded)

    # A rollout: another agent is partitioned in its middle and healed before it ends.
    agent = _busiest(stack, but=agent)
    before = task_ids(stack)
    await bump(stack, APPS, "2", instances=INSTANCES)
    first = await mid_rollout(stack, before, APPS * INSTANCES, within=20)
    await stack.master_fault("partition-agent", agent_id=agent)

    async def more_launched() -> bool:
        return len(launched_since(stack, before)) > first

    await stack.until("launches while the agent is away", more_launched, within=20)
    await stack.master_fault("heal-agent", agent_id=agent)

    report = await stack.verify(within=45, checks=Checks(healthy_floor=False))
    assert report.apps == APPS
    assert not stack.master.master.state.agents[agent].partitioned
