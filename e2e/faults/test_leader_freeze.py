"""The leader is frozen with SIGSTOP past its lease, then resumed: it must change nothing.

While 100 Apps roll out a new image tag, the leading controller gets
SIGSTOP: it keeps its sockets and its state but runs nothing, its lease
keepalives included. The lease expires, the standby takes over and carries
the rollout on. Then the frozen one gets SIGCONT and carries on exactly
where it stopped, with work it had planned as the leader and a Mesos
stream it believes is its own. It must change nothing:

- every etcd write it attempts is fenced by the leader key's create
  revision, so none passes: the history shows no term but the new leader's
  from its election on, and every instance record created after the resume
  was created in the new term;
- every task the master runs from the resume on has an instance record
  created in the new leader's term (the old leader cannot launch what it
  could not record), and it never subscribes the framework to the master
  again (which would take it from the new leader);
- it ends as the standby (``/healthz`` says it does not lead).

The history is then checked as in every fault scenario.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from e2e.faults.stack import ELECTION, FaultStack

pytestmark = pytest.mark.timeout(90)

APPS = 100
PROGRESS = 40
"""Instance record writes (of the rollout, then of the new leader) between the faults."""


async def test_frozen_leader_resumed_after_its_lease_changes_nothing(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    await stack.rollout_under_way(APPS, writes=PROGRESS)
    old = await stack.wait_leader()
    new = next(name for name in stack.replicas if name != old)
    mid_rollout = bool(await stack.not_converged())
    stack.freeze(old)
    frozen = time.monotonic()
    await stack.wait_leader(other_than=old, within=15)
    took_over = time.monotonic() - frozen
    term = await stack.carried_on(new, writes=PROGRESS)

    stack.resume(old)
    resumed_at, resumed_wall = time.monotonic(), time.time()
    resumed = stack.history.last_revision

    async def standby() -> bool:
        body = await stack.replicas[old].health()
        return body is not None and not body.get("leader")

    await stack.until(f"{old} to answer as the standby", standby, within=10)
    report = await stack.verify(within=60)
    print(
        f"\n{report.summary()}; {new} took over {took_over:.1f}s after the freeze, "
        f"{old} resumed at revision {resumed}"
    )
    assert mid_rollout, "the leader was frozen after the rollout had finished"

    history = stack.history
    # no term between the takeover and the resume but the new leader's, none of the old one's
    # after it but a fresh election (under load a lease can expire without a fault)
    later = [(rev, name) for rev, name in history.terms(ELECTION) if rev > term]
    assert all(rev > resumed for rev, _ in later), later
    created = {
        e.key.rsplit("/", 1)[-1]: e.create_revision
        for e in history.events
        if e.key.startswith("instances/") and e.value is not None
    }
    late = [op for op in history.tasks if op.at >= resumed_at]
    launched = {op.task_id for op in late} - {
        op.task_id for op in history.tasks if op.at < resumed_at
    }
    made_before = sorted(t for t in launched if created.get(t, 0) < term)
    assert made_before == [], f"tasks launched after the resume from the old term: {made_before}"
    (framework,) = stack.master.master.state.frameworks.values()
    assert framework.connected
    subscribed = _subscriptions(stack.replicas[old].log.read_text(errors="replace"))
    assert [at for at in subscribed if at >= resumed_wall] == [], "it took the framework back"


def _subscriptions(log: str) -> list[float]:
    """When the controller of ``log`` (re)subscribed its framework to the master."""
    return [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for line in log.splitlines()
        if "adapters.mesos.scheduler: Mesos framework" in line and "subscribed on" in line
    ]
