"""Decommissioning a host, one idempotent step at a time: :func:`next_step`.

A host set to decommissioning in the CMDB is mirrored as ``Draining``.
Placement already gives it nothing new, and the App controller replaces
its instances elsewhere within each App's capacity bounds. From then on
the Host controller moves it along, in this order::

    WaitInstances     live instance records on the host: wait for the App controller
    DrainAgent        its Mesos agent is not drained: DRAIN_AGENT
    WaitAgent         the agent is DRAINING: wait until Mesos says DRAINED
    SetOffline        the CMDB device is not offline: set it offline
    SetDecommissioned spec.lifecycle is still Draining: set it Decommissioned
    ReleaseBlocks     the host holds an IP block: release it (refused while an
                      address of it is held)
    Done              recycled: the ``Recycled`` event, Decommissioned=True

Every step is decided from facts read afresh, so a step that failed, or a
controller that restarted in the middle, is simply decided again. Steps
whose system is not configured (no Mesos, no CMDB) are skipped; a Mesos
that cannot be read holds the host at ``WaitAgent``. A host set offline in
the CMDB directly (Decommissioned without passing Draining) goes through
the same steps. This module is pure; the controller does the I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from adapters.protocols import DeviceStatus
from crds.host import HostLifecycle
from reconciler.hosts.onboarding import AgentView, DrainState

__all__ = ["AgentFact", "DecommissionFacts", "Step", "next_step"]


class Step(enum.StrEnum):
    NONE = "None"
    WAIT_INSTANCES = "WaitInstances"
    DRAIN_AGENT = "DrainAgent"
    WAIT_AGENT = "WaitAgent"
    SET_OFFLINE = "SetOffline"
    SET_DECOMMISSIONED = "SetDecommissioned"
    RELEASE_BLOCKS = "ReleaseBlocks"
    DONE = "Done"


class AgentFact(enum.StrEnum):
    """What is known of the host's Mesos agent."""

    NOT_CONFIGURED = "NotConfigured"
    """No Mesos operator client: the agent steps are skipped."""
    UNKNOWN = "Unknown"
    """Mesos could not be read."""
    ABSENT = "Absent"
    """No agent registered with the host's name: nothing can run there."""
    PRESENT = "Present"


@dataclass(frozen=True)
class DecommissionFacts:
    lifecycle: HostLifecycle
    instances: int
    """Live (non-terminal) instance records on the host."""
    agent_fact: AgentFact
    agent: AgentView | None = None
    device_status: DeviceStatus | None = None
    """The CMDB device's status; None when no CMDB is configured."""
    blocks_held: int = 0


def next_step(facts: DecommissionFacts) -> Step:
    """The next thing to do for the host (NONE for an Active one)."""
    if facts.lifecycle is HostLifecycle.ACTIVE:
        return Step.NONE
    if facts.instances > 0:
        return Step.WAIT_INSTANCES
    if facts.agent_fact is AgentFact.UNKNOWN:
        return Step.WAIT_AGENT
    if facts.agent_fact is AgentFact.PRESENT and facts.agent is not None:
        if facts.agent.drain is None:
            return Step.DRAIN_AGENT
        if facts.agent.drain is DrainState.DRAINING:
            return Step.WAIT_AGENT
    if facts.device_status is not None and facts.device_status is not DeviceStatus.OFFLINE:
        return Step.SET_OFFLINE
    if facts.lifecycle is HostLifecycle.DRAINING:
        return Step.SET_DECOMMISSIONED
    if facts.blocks_held:
        return Step.RELEASE_BLOCKS
    return Step.DONE
