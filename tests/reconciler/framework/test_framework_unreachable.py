"""A healed agent's tasks: the framework asks about its Unreachable records.

When a partitioned agent reregisters, the master sends nothing about the
tasks it kept (a partition-aware framework is responsible for them): only
reconciliation tells the framework they run again. The framework reconciles
its Unreachable records every ``unreachable_reconcile_interval``.
"""

from __future__ import annotations

from reconciler.apps import InstanceState
from tests.reconciler.framework.test_framework_live import (
    Harness,
    app,
    domain,
    fresh,
    harness,
    local,
    running,
)

__all__ = ["harness", "local"]


async def test_a_healed_agents_task_is_running_again_in_its_record(harness: Harness) -> None:
    a = app()
    async with harness.framework(unreachable_reconcile_interval=0.2) as (fw, _):
        wanted = fresh(a, 1, harness.rng)
        fw.request(app=a, domain=domain(), spec=a.spec, instances=wanted)
        task_id = wanted[0].instance_id
        await harness.until(lambda: running(fw, [task_id]))
        record = fw.records.get(task_id)
        assert record is not None and record.agent_id is not None
        faults = harness.local.master.faults

        def state() -> InstanceState | None:
            found = fw.records.get(task_id)
            return None if found is None else found.state

        faults.partition_agent(record.agent_id)
        await harness.until(lambda: state() is InstanceState.UNREACHABLE)
        faults.heal_agent(record.agent_id)
        await harness.until(lambda: state() is InstanceState.RUNNING)
        assert harness.mesos_state(task_id) == "TASK_RUNNING"
