"""The leader is killed with SIGKILL again and again while 100 Apps roll out.

100 Apps of two instances each (an address of the pool each) run on the
full stack; a new image tag for all of them starts 100 rolling upgrades at
once (a new instance must be healthy before an old one goes, and a task
takes half a second to run, so the rollout outlasts a few takeovers).
While they run, whichever controller leads is killed with SIGKILL as soon
as it has made some progress of its own (a few dozen instance record
writes since it took over: every 2 to 3 s on this machine), and restarted
at once, so a standby is always there to take over; four times (should a
rollout end before the next kill, another image starts another). Then the
faults stop, and the history is checked (:mod:`e2e.faults.history`): every
App converges, no App ever had more active instances than its bounds allow
or, once healthy, fewer healthy ones, no address was held twice or leaked,
every task the master ran had a record, no acknowledged spec was lost.
"""

from __future__ import annotations

import time

import pytest

from e2e.faults.stack import FaultStack, StackSettings, app_docs

pytestmark = pytest.mark.timeout(90)

APPS = 100
KILLS = 4
PROGRESS = 20
"""Instance record writes a new leader makes before it is killed in turn."""


@pytest.fixture
def stack_settings() -> StackSettings:
    """Tasks take half a second to run, so the rollout outlasts a few takeovers."""
    return StackSettings(running_delay=0.5)


async def test_leader_killed_every_few_seconds_during_a_rollout_of_100_apps(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await stack.rollout_under_way(APPS, writes=0, min_health=1.0)
    takeovers: list[float] = []
    mid_rollout = 0
    rollouts = 1
    for kill in range(KILLS):
        leader = await stack.wait_leader()
        if not await stack.not_converged():  # that rollout is over: kill during the next
            await stack.apply(app_docs(APPS, tag=str(3 + kill), min_health=1.0))
            rollouts += 1
        start = stack.record_writes

        async def progressed(since: int = start) -> bool:
            if await stack.progressed(since, PROGRESS):
                return True
            return not await stack.not_converged()

        await stack.until(f"{leader} to make progress", progressed, within=30)
        mid_rollout += bool(await stack.not_converged())
        await stack.kill(leader)
        killed = time.monotonic()
        await stack.wait_leader(other_than=leader, within=15)
        takeovers.append(time.monotonic() - killed)
        await stack.start_replica(leader)

    report = await stack.verify(within=60)
    print(
        f"\n{report.summary()}; {rollouts} rollouts; "
        f"takeovers took {', '.join(f'{t:.1f}s' for t in takeovers)}"
    )
    assert mid_rollout >= 3, "the leader was killed after the rollout had finished"
    assert report.takeovers >= KILLS
    assert report.faults == KILLS
    assert max(takeovers) <= 2 * stack.settings.lease_ttl + 3
