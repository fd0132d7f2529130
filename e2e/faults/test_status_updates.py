"""Duplicated and reordered status updates during a rollout.

The master sends every UPDATE event twice (``/faults/duplicate-updates``,
mode on) and holds them to send in shuffled batches, an older state after a
newer one in each batch that can have it (``/faults/reorder-updates``), while
60 Apps roll out to a new image. The framework must take a duplicate or a
stale update for what it is: no instance record ever goes backwards in
state, no instance is launched twice (the rollout launches exactly one task
per new instance), and the history checks hold.
"""

from __future__ import annotations

import pytest

from e2e.faults.probes import bump, mid_rollout, regressions, task_ids
from e2e.faults.stack import FaultStack

pytestmark = pytest.mark.timeout(90)

APPS = 60
INSTANCES = 2


async def test_duplicated_and_reordered_updates_during_a_rollout(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await bump(stack, APPS, "1", instances=INSTANCES)
    await stack.until("the Apps to converge", stack.converged, within=40)
    before = task_ids(stack)
    assert len(before) == APPS * INSTANCES

    await stack.master_fault("duplicate-updates", mode="on")
    await stack.master_fault("reorder-updates", batch=8, seed=7, hold=0.2)
    await bump(stack, APPS, "2", instances=INSTANCES)
    await mid_rollout(stack, before, APPS * INSTANCES, within=20)
    await stack.until("the rollout under the faults", stack.converged, within=45)
    faults = stack.master.master.faults
    duplicated, reordered, stale = faults.duplicated, faults.reordered, faults.stale
    await stack.master_fault("reorder-updates", mode="off")
    await stack.master_fault("duplicate-updates", mode="off")

    report = await stack.verify(within=30)
    assert duplicated >= APPS * INSTANCES * 2  # each new task's STARTING and RUNNING, at least
    assert reordered >= APPS * INSTANCES / 8
    assert stale > 0, "no update arrived after a newer one of its task"
    assert regressions(stack.history) == []
    launched = task_ids(stack) - before
    assert len(launched) == APPS * INSTANCES, "a new instance was launched more than once"
    assert report.apps == APPS
