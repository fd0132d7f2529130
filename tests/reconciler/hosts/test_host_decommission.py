"""reconciler.hosts.decommission: the next step of a host leaving service."""

from __future__ import annotations

import pytest

from adapters.protocols import DeviceStatus
from crds.host import HostLifecycle
from reconciler.hosts.decommission import AgentFact, DecommissionFacts, Step, next_step
from reconciler.hosts.onboarding import AgentView, DrainState

D, X, A = HostLifecycle.DRAINING, HostLifecycle.DECOMMISSIONED, HostLifecycle.ACTIVE
AGENT = AgentView("S1", "h1")
DRAINING = AgentView("S1", "h1", drain=DrainState.DRAINING)
DRAINED = AgentView("S1", "h1", drain=DrainState.DRAINED)
PRESENT, ABSENT = AgentFact.PRESENT, AgentFact.ABSENT
ON, OFF = DeviceStatus.DECOMMISSIONING, DeviceStatus.OFFLINE


def facts(
    lifecycle: HostLifecycle = D,
    instances: int = 0,
    fact: AgentFact = PRESENT,
    agent: AgentView | None = AGENT,
    device: DeviceStatus | None = ON,
    blocks: int = 1,
) -> DecommissionFacts:
    return DecommissionFacts(lifecycle, instances, fact, agent, device, blocks)


@pytest.mark.parametrize(
    ("given", "step"),
    [
        pytest.param(facts(A, instances=3), Step.NONE, id="active"),
        pytest.param(facts(instances=2), Step.WAIT_INSTANCES, id="instances-left"),
        pytest.param(facts(fact=AgentFact.UNKNOWN, agent=None), Step.WAIT_AGENT, id="mesos-down"),
        pytest.param(facts(), Step.DRAIN_AGENT, id="drain"),
        pytest.param(facts(agent=DRAINING), Step.WAIT_AGENT, id="draining"),
        pytest.param(facts(agent=DRAINED), Step.SET_OFFLINE, id="drained"),
        pytest.param(facts(fact=ABSENT, agent=None), Step.SET_OFFLINE, id="no-agent"),
        pytest.param(
            facts(fact=AgentFact.NOT_CONFIGURED, agent=None), Step.SET_OFFLINE, id="no-mesos"
        ),
        pytest.param(facts(agent=DRAINED, device=OFF), Step.SET_DECOMMISSIONED, id="offline"),
        pytest.param(facts(agent=DRAINED, device=None), Step.SET_DECOMMISSIONED, id="no-cmdb"),
        pytest.param(facts(X, agent=DRAINED, device=OFF), Step.RELEASE_BLOCKS, id="release"),
        pytest.param(facts(X, agent=DRAINED, device=OFF, blocks=0), Step.DONE, id="done"),
        pytest.param(facts(X, agent=None, fact=ABSENT, device=OFF, blocks=0), Step.DONE, id="gone"),
        pytest.param(facts(X, instances=1, device=OFF), Step.WAIT_INSTANCES, id="offline-direct"),
        pytest.param(facts(X, device=OFF, blocks=0), Step.DRAIN_AGENT, id="offline-undrained"),
    ],
)
def test_next_step(given: DecommissionFacts, step: Step) -> None:
    assert next_step(given) is step


def test_the_steps_run_in_order_to_done() -> None:
    """Doing each step's action moves the facts on until Done, never twice the same."""
    current = facts()
    seen = []
    for _ in range(10):
        step = next_step(current)
        seen.append(step)
        if step is Step.DONE:
            break
        current = {
            Step.DRAIN_AGENT: lambda f: facts(f.lifecycle, agent=DRAINED, device=f.device_status),
            Step.SET_OFFLINE: lambda f: facts(f.lifecycle, agent=f.agent, device=OFF),
            Step.SET_DECOMMISSIONED: lambda f: facts(X, agent=f.agent, device=OFF),
            Step.RELEASE_BLOCKS: lambda f: facts(X, agent=f.agent, device=OFF, blocks=0),
        }[step](current)
    assert seen == [
        Step.DRAIN_AGENT,
        Step.SET_OFFLINE,
        Step.SET_DECOMMISSIONED,
        Step.RELEASE_BLOCKS,
        Step.DONE,
    ]
