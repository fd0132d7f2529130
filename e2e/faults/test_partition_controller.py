"""The leading controller is cut off from etcd mid-rollout; the other takes over.

Each controller reaches etcd through a TCP proxy of its own
(:class:`localcluster.tcpproxy.TcpProxy`). While 100 Apps roll out a new
image tag, the leader's proxy is cut: its connections stay open but nothing
crosses, as in a network partition (it still reaches the Mesos master).
Its lease cannot be refreshed, so it must stop acting as leader, and the
other controller takes over once the lease expires and carries the rollout
on. The partition then heals: what the old leader sent meanwhile reaches
etcd only now, and fencing must make every such write fail (its term is
over). It comes back as the standby. The history is checked as in every
fault scenario.
"""

from __future__ import annotations

import time

import pytest

from e2e.faults.stack import ELECTION, FaultStack, StackSettings

pytestmark = pytest.mark.timeout(90)

APPS = 100
PROGRESS = 40
"""Instance record writes (of the rollout, then of the new leader) between the faults."""


@pytest.fixture
def stack_settings() -> StackSettings:
    return StackSettings(proxied=True)


async def test_leader_cut_off_from_etcd_while_the_other_takes_over(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await stack.rollout_under_way(APPS, writes=PROGRESS)
    old = await stack.wait_leader()
    new = next(name for name in stack.replicas if name != old)
    mid_rollout = bool(await stack.not_converged())
    stack.cut(old)
    cut = time.monotonic()

    async def old_stepped_down() -> bool:
        return not await stack.replicas[old].leading()

    await stack.until(f"{old} to step down", old_stepped_down, within=15)
    stepped_down = time.monotonic() - cut
    await stack.wait_leader(other_than=old, within=15)
    took_over = time.monotonic() - cut
    term_start = await stack.carried_on(new, writes=PROGRESS)
    healed = stack.history.last_revision
    stack.heal(old)

    report = await stack.verify(within=60)
    print(
        f"\n{report.summary()}; {old} stepped down {stepped_down:.1f}s after the cut, "
        f"{new} took over after {took_over:.1f}s"
    )
    assert mid_rollout, "the cut came after the rollout had finished"
    # it stopped leading by the time its lease could have expired (the polling's slack aside)
    assert stepped_down <= stack.settings.lease_ttl + 1.5
    # no term between the takeover and the heal but the new leader's (a later one is a
    # fresh election: under load a lease can expire without a fault)
    terms = [(rev, name) for rev, name in stack.history.terms(ELECTION) if rev > term_start]
    assert all(rev > healed for rev, _ in terms), terms
