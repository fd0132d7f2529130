"""The master's state in v1 operator API shapes (``master.proto``).

Pure functions from :mod:`.state` records to the wire models: one
:class:`~adapters.mesos.Task`, agent, framework, and the GET_STATE family
built from them. The operator API (:mod:`.operator_api`) answers with these
and the operator event stream embeds them; the legacy ``/master/state``
(:mod:`.legacy`) has its own, older shapes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from adapters.mesos import (
    TERMINAL_TASK_STATES,
    AgentCapability,
    AgentCapabilityType,
    AgentID,
    AgentInfo,
    ExecutorID,
    FrameworkID,
    GetAgents,
    GetAgentsAgent,
    GetExecutors,
    GetFrameworks,
    GetFrameworksFramework,
    GetState,
    GetTasks,
    Resource,
    Task,
    TimeInfo,
)
from localcluster.mesos.resources import Bag, to_resources
from localcluster.mesos.state import Agent, Framework, TaskRecord

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["agent", "agents", "framework", "frameworks", "get_state", "task", "tasks"]

logger = logging.getLogger(__name__)

_AGENT_CAPABILITIES = [
    AgentCapability(type=t)
    for t in (
        AgentCapabilityType.MULTI_ROLE,
        AgentCapabilityType.HIERARCHICAL_ROLE,
        AgentCapabilityType.RESERVATION_REFINEMENT,
        AgentCapabilityType.AGENT_DRAINING,
    )
]


def _time(seconds: float) -> TimeInfo:
    return TimeInfo(nanoseconds=int(seconds * 1e9))


def task(rec: TaskRecord) -> Task:
    last = rec.statuses[-1] if rec.statuses else None
    return Task(
        name=rec.info.name,
        task_id=rec.info.task_id,
        framework_id=FrameworkID(value=rec.framework_id),
        executor_id=ExecutorID(value=rec.executor_id) if rec.executor_id else None,
        agent_id=AgentID(value=rec.agent_id),
        state=rec.state,
        resources=rec.info.resources,
        statuses=[s.model_copy(update={"uuid": None}) if s.uuid else s for s in rec.statuses],
        status_update_state=rec.pending[0].state if rec.pending else (last.state if last else None),
        status_update_uuid=rec.pending[0].uuid if rec.pending else None,
        labels=rec.info.labels,
        discovery=rec.info.discovery,
        container=rec.info.container,
        health_check=rec.info.health_check,
        kill_policy=rec.info.kill_policy,
        user=None,
    )


def _agent_info(master: Master, a: Agent) -> AgentInfo:
    return AgentInfo(
        hostname=a.hostname,
        port=a.port,
        resources=to_resources(a.total, refined=True),
        attributes=a.attributes,
        id=AgentID(value=a.id),
    )


def agent(master: Master, a: Agent) -> GetAgentsAgent:
    return GetAgentsAgent(
        agent_info=_agent_info(master, a),
        active=a.reachable and not a.deactivated,
        deactivated=a.deactivated,
        version="1.11.0",
        pid=a.pid,
        registered_time=_time(a.registered_time),
        total_resources=to_resources(a.total, refined=True),
        allocated_resources=_allocated(master, a),
        offered_resources=to_resources(a.offered, refined=True),
        capabilities=_AGENT_CAPABILITIES,
        drain_info=a.drain,
    )


def _allocated(master: Master, a: Agent) -> list[Resource]:
    by_role: dict[str, Bag] = {}
    for fw_id, task_id in a.tasks:
        fw = master.state.frameworks.get(fw_id)
        rec = fw.tasks.get(task_id) if fw is not None else None
        if rec is not None and rec.state not in TERMINAL_TASK_STATES:
            by_role.setdefault(rec.role, Bag()).add(rec.resources)
    out: list[Resource] = []
    for role, bag in sorted(by_role.items()):
        out.extend(to_resources(bag, role=role, refined=True))
    return out


def agents(master: Master) -> GetAgents:
    listed = [a for a in master.state.agents.values() if a.reachable]
    return GetAgents(agents=[agent(master, a) for a in listed])


def framework(master: Master, fw: Framework) -> GetFrameworksFramework:
    allocated = Bag()
    for rec in fw.tasks.values():
        if rec.state not in TERMINAL_TASK_STATES:
            allocated.add(rec.resources)
    offered = Bag()
    for offer in fw.offers.values():
        offered.add(offer.resources)
    return GetFrameworksFramework(
        framework_info=fw.info,
        active=fw.connected,
        connected=fw.connected,
        recovered=fw.recovered,
        registered_time=_time(fw.registered_time),
        reregistered_time=_time(fw.reregistered_time) if fw.reregistered_time else None,
        unregistered_time=_time(fw.unregistered_time) if fw.unregistered_time else None,
        allocated_resources=to_resources(allocated, refined=True),
        offered_resources=to_resources(offered, refined=True),
    )


def frameworks(master: Master) -> GetFrameworks:
    return GetFrameworks(
        frameworks=[framework(master, fw) for fw in master.state.frameworks.values()],
        completed_frameworks=[framework(master, fw) for fw in master.state.completed_frameworks],
    )


def tasks(master: Master) -> GetTasks:
    active: list[Task] = []
    unreachable: list[Task] = []
    completed: list[Task] = []
    for fw in master.state.frameworks.values():
        for rec in fw.tasks.values():
            (unreachable if rec.unreachable else active).append(task(rec))
        completed.extend(task(rec) for rec in fw.completed)
    for fw in master.state.completed_frameworks:
        completed.extend(task(rec) for rec in fw.completed)
    return GetTasks(tasks=active, unreachable_tasks=unreachable, completed_tasks=completed)


def get_state(master: Master) -> GetState:
    return GetState(
        get_tasks=tasks(master),
        get_executors=GetExecutors(),
        get_frameworks=frameworks(master),
        get_agents=agents(master),
    )
