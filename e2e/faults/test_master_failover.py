"""The Mesos master fails over in the middle of a rollout of 60 Apps, twice.

``/faults/failover-master`` gives the master a new leader id and cuts every
stream; its state is kept, as a newly elected master recovers it from the
replicated log and the agents. The leading controller must resubscribe with
its framework id (no second framework, no task orphaned), reconcile, and
finish the rollout: every App converges and the history checks hold.
"""

from __future__ import annotations

import pytest

from e2e.faults.probes import bump, launched_since, mid_rollout, task_ids
from e2e.faults.stack import FaultStack

pytestmark = pytest.mark.timeout(90)

APPS = 60
INSTANCES = 2


async def test_master_fails_over_mid_rollout(fault_stack: FaultStack) -> None:
    stack = fault_stack
    state = stack.master.master.state
    await bump(stack, APPS, "1", instances=INSTANCES)
    await stack.until("the Apps to converge", stack.converged, within=40)
    framework_ids = set(state.frameworks)
    master_ids = [state.master_id]
    before = task_ids(stack)

    await bump(stack, APPS, "2", instances=INSTANCES)
    first = await mid_rollout(stack, before, APPS * INSTANCES, within=20)
    master_ids.append((await stack.master_fault("failover-master"))["master_id"])

    async def more_launched() -> bool:
        return len(launched_since(stack, before)) > first

    # The controller resubscribes and goes on launching; then the master fails over again.
    await stack.until("launches after the failover", more_launched, within=20)
    master_ids.append((await stack.master_fault("failover-master"))["master_id"])

    report = await stack.verify(within=45)
    assert len(set(master_ids)) == 3
    assert set(state.frameworks) == framework_ids, "the framework did not resubscribe with its id"
    assert all(fw.stream is not None for fw in state.frameworks.values())
    assert len(task_ids(stack) - before) == APPS * INSTANCES
    assert report.apps == APPS
