"""etcd is stopped in the middle of a rollout of 100 Apps, and started again.

The rollout of a new image tag for 100 Apps is under way (both controllers
have seen some of it written) when the etcd server stops: no lease can be
kept, no record written, no watch followed. Both controllers must notice
(neither says it leads any more: a leader that cannot refresh its lease
must assume it is lost), and nothing they do meanwhile may run a task etcd
does not know of. etcd then starts again, the same member on the same ports
with its data; a controller is elected, the watches resume from the
revision they stopped at (the history's too), and the rollout finishes.
The history is checked as in every fault scenario.
"""

from __future__ import annotations

import time

import pytest

from e2e.faults.stack import FaultStack

pytestmark = pytest.mark.timeout(90)

APPS = 100
PROGRESS = 40
"""Instance record writes of the rollout before etcd stops."""


async def test_etcd_stopped_and_restarted_mid_rollout(fault_stack: FaultStack) -> None:
    stack = fault_stack
    await stack.rollout_under_way(APPS, writes=PROGRESS)
    mid_rollout = bool(await stack.not_converged())
    await stack.stop_etcd()
    stopped = time.monotonic()

    async def nobody_leads() -> bool:
        return not any([await r.leading() for r in stack.replicas.values()])

    await stack.until("both controllers to step down", nobody_leads, within=15)
    stepped_down = time.monotonic() - stopped
    await stack.start_etcd()
    leader = await stack.wait_leader(within=20)
    elected = time.monotonic() - stopped

    report = await stack.verify(within=60)
    print(
        f"\n{report.summary()}; stepped down {stepped_down:.1f}s after etcd stopped, "
        f"{leader} elected {elected:.1f}s after, history watch reopened "
        f"{stack.recorder.reconnects} times"
    )
    assert mid_rollout, "etcd stopped after the rollout had finished"
    assert stack.recorder.reconnects >= 1
    assert stepped_down <= 2 * stack.settings.lease_ttl + 3
