"""Maintenance: schedules, inverse offers, machines DRAINING, DOWN and UP.

As ``maintenance.md`` describes: posting a schedule puts its machines in
DRAINING mode at once; their agents' offers are rescinded and come back with
``unavailability``, and every framework running tasks there gets an inverse
offer (its answer is accepted and not acted on). START_MAINTENANCE brings
DRAINING machines DOWN: their agents are removed, so their tasks end as
TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks that are not
PARTITION_AWARE). STOP_MAINTENANCE brings DOWN machines UP again: the agents
register anew, with no tasks, and the machines leave the schedule. A machine
is matched by hostname and, when given, IP.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from adapters.mesos import (
    AgentID,
    EventInverseOffers,
    FrameworkID,
    InverseOffer,
    MachineID,
    OfferID,
    Schedule,
    SchedulerEvent,
    SchedulerEventType,
    TaskState,
    TaskStatusReason,
    Unavailability,
)
from localcluster.mesos.agents import AgentError
from localcluster.mesos.state import Agent, Framework

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["Maintenance"]

logger = logging.getLogger(__name__)


class Maintenance:
    """The maintenance schedule and machine modes of one master."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self._next_inverse = 0

    def _machine_of(self, agent: Agent, machines: list[MachineID]) -> MachineID | None:
        for machine in machines:
            if (machine.hostname is None or machine.hostname == agent.hostname) and (
                machine.ip is None or machine.ip == agent.ip
            ):
                return machine
        return None

    def _scheduled(self, agent: Agent) -> Unavailability | None:
        for window in self.master.state.schedule.windows:
            if self._machine_of(agent, window.machine_ids) is not None:
                return window.unavailability
        return None

    def unavailability(self, agent: Agent) -> Unavailability | None:
        return self._scheduled(agent)

    def update_schedule(self, schedule: Schedule) -> None:
        seen: set[tuple[str, str]] = set()
        for window in schedule.windows:
            for machine in window.machine_ids:
                key = _key(machine)
                if key in seen:
                    raise AgentError(f"Machine '{key}' appears more than once in the schedule")
                seen.add(key)
        for key in self.master.state.down_machines:
            if key not in seen:
                raise AgentError(f"Machine '{key}' is DOWN and must stay in the schedule")
        self.master.state.schedule = schedule
        for agent in self.master.state.agents.values():
            if self._scheduled(agent) is not None:
                self.master.allocator.rescind_agent(agent)
        for fw in self.master.state.frameworks.values():
            self.send_inverse_offers(fw)
        self.master.allocator.trigger()

    def send_inverse_offers(self, fw: Framework) -> None:
        """Inverse offers for agents in a maintenance window where ``fw`` runs tasks."""
        offers = []
        for agent in self.master.state.agents.values():
            window = self._scheduled(agent) if agent.reachable else None
            if window is None or not any(k[0] == fw.id for k in agent.tasks):
                continue
            self._next_inverse += 1
            offer_id = f"{self.master.state.master_id}-IO{self._next_inverse}"
            self.master.state.inverse_offers[offer_id] = (fw.id, agent.id)
            self.master.state.inverse_offer_answers.setdefault(
                (agent.id, fw.id),
                {
                    "status": "UNKNOWN",
                    "framework_id": {"value": fw.id},
                    "timestamp": {"nanoseconds": time.time_ns()},
                },
            )
            offers.append(
                InverseOffer(
                    id=OfferID(value=offer_id),
                    framework_id=FrameworkID(value=fw.id),
                    agent_id=AgentID(value=agent.id),
                    unavailability=window,
                )
            )
        if offers:
            event = SchedulerEvent.wrap(
                SchedulerEventType.INVERSE_OFFERS, EventInverseOffers(inverse_offers=offers)
            )
            self.master.send(fw, event)

    def answer(self, fw: Framework, offer_ids: list[str], *, accept: bool) -> None:
        """ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: recorded for GET_MAINTENANCE_STATUS."""
        for offer_id in offer_ids:
            owner = self.master.state.inverse_offers.pop(offer_id, None)
            if owner is None or owner[0] != fw.id:
                continue
            self.master.state.inverse_offer_answers[(owner[1], fw.id)] = {
                "status": "ACCEPT" if accept else "DECLINE",
                "framework_id": {"value": fw.id},
                "timestamp": {"nanoseconds": time.time_ns()},
            }

    def statuses(self, machine: MachineID) -> list[dict[str, object]]:
        """The frameworks' latest answers for the agents on ``machine``."""
        agents = {a.id for a in self.master.state.agents.values() if self._machine_of(a, [machine])}
        answers = self.master.state.inverse_offer_answers
        return [answer for (agent_id, _), answer in sorted(answers.items()) if agent_id in agents]

    def start_maintenance(self, machines: list[MachineID]) -> None:
        scheduled = {_key(m) for w in self.master.state.schedule.windows for m in w.machine_ids}
        for machine in machines:
            if _key(machine) not in scheduled or _key(machine) in self.master.state.down_machines:
                raise AgentError(
                    f"Machine '{_key(machine)}' is not in DRAINING mode and cannot be brought down"
                )
        for machine in machines:
            self.master.state.down_machines.add(_key(machine))
            for agent in list(self.master.state.agents.values()):
                if not agent.gone and not agent.down and self._machine_of(agent, [machine]):
                    self.master.agents.remove(
                        agent,
                        TaskState.TASK_GONE_BY_OPERATOR,
                        TaskStatusReason.REASON_AGENT_REMOVED_BY_OPERATOR,
                    )
                    agent.gone = False
                    agent.down = True

    def stop_maintenance(self, machines: list[MachineID]) -> None:
        for machine in machines:
            if _key(machine) not in self.master.state.down_machines:
                raise AgentError(
                    f"Machine '{_key(machine)}' is not in DOWN mode and cannot be brought up"
                )
        keys = {_key(m) for m in machines}
        self.master.state.down_machines -= keys
        schedule = self.master.state.schedule
        for window in schedule.windows:
            window.machine_ids = [m for m in window.machine_ids if _key(m) not in keys]
        schedule.windows = [w for w in schedule.windows if w.machine_ids]
        for agent in self.master.state.agents.values():
            if agent.down and self._machine_of(agent, machines):
                agent.down = False
                agent.epoch += 1
                self.master.agents.published_added(agent)
        self.master.allocator.trigger()


def _key(machine: MachineID) -> tuple[str, str]:
    return (machine.hostname or "", machine.ip or "")
