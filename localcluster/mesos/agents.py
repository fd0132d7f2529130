"""Agents: reservations, quota, draining, maintenance, loss and partitions.

What operators do to agents (operator API) and what faults do to them
(:mod:`.faults`) ends up here, in :class:`AgentManager`:

* RESERVE/UNRESERVE_RESOURCES move resources of an agent's total between
  unreserved and a role; outstanding offers on the agent are rescinded first,
  as the master does, and a reservation that does not fit is a 409.
* DRAIN_AGENT stops offers, kills every task (grace at most
  ``max_grace_period``, TASK_KILLED with REASON_AGENT_DRAINING) and moves the
  agent from DRAINING to DRAINED once its tasks are gone and acknowledged;
  with ``mark_gone`` the agent is then removed.
* MARK_AGENT_GONE removes an agent; its tasks become TASK_GONE_BY_OPERATOR
  (maintenance, in :mod:`.maintenance`, removes agents the same way).
* An unreachable agent (lost or partitioned) has its tasks reported
  TASK_UNREACHABLE (TASK_LOST for frameworks that are not PARTITION_AWARE);
  after ``unreachable_gone_timeout`` it is gone and they become TASK_GONE.
  A partitioned agent that heals comes back with its tasks still running.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from adapters.mesos import (
    TERMINAL_TASK_STATES,
    AgentAdded,
    AgentID,
    AgentRemoved,
    DrainConfig,
    DrainInfo,
    DrainState,
    DurationInfo,
    OperatorEvent,
    OperatorEventType,
    QuotaConfig,
    TaskState,
    TaskStatusReason,
    TaskStatusSource,
)
from localcluster.mesos import views
from localcluster.mesos.operations import reservation_change
from localcluster.mesos.resources import Bag
from localcluster.mesos.state import Agent, TaskRecord

if TYPE_CHECKING:
    from adapters.mesos import Resource
    from localcluster.mesos.master import Master

__all__ = ["AgentError", "AgentManager", "Conflict"]

logger = logging.getLogger(__name__)


class AgentError(ValueError):
    """An operator request that Mesos answers with 400 Bad Request."""


class Conflict(AgentError):
    """An operator request that Mesos answers with 409 Conflict."""


class AgentManager:
    """Agent-level operations (see the module docstring)."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.unreachable_tasks: dict[str, list[TaskRecord]] = {}

    def get(self, agent_id: str) -> Agent:
        agent = self.master.state.agents.get(agent_id)
        if agent is None or agent.gone:
            raise AgentError(f"Unknown agent {agent_id}")
        return agent

    def add(self, agent: Agent) -> None:
        self.master.state.agents[agent.id] = agent
        self.published_added(agent)
        self.master.allocator.trigger()

    def published_added(self, agent: Agent) -> None:
        self.master.publish(
            lambda: OperatorEvent.wrap(
                OperatorEventType.AGENT_ADDED, AgentAdded(agent=views.agent(self.master, agent))
            )
        )

    def _published_removed(self, agent: Agent) -> None:
        self.master.publish(
            lambda: OperatorEvent.wrap(
                OperatorEventType.AGENT_REMOVED, AgentRemoved(agent_id=AgentID(value=agent.id))
            )
        )

    # ------------------------------------------------------- reservations, quota

    def reserve(self, agent_id: str, resources: list[Resource], *, reserve: bool) -> None:
        agent = self.get(agent_id)
        try:
            taken, given = reservation_change(resources, reserve=reserve)
        except ValueError as exc:
            raise AgentError(str(exc)) from exc
        self.master.allocator.rescind_agent(agent)
        free = agent.total.copy()
        free.subtract(agent.allocated)
        if not free.contains(taken):
            raise Conflict("Insufficient resources to " + ("reserve" if reserve else "unreserve"))
        agent.total.subtract(taken)
        agent.total.add(given)
        self.master.allocator.trigger()

    def update_quota(self, configs: list[QuotaConfig]) -> None:
        updates = {}
        for config in configs:
            if not config.role or config.role == "*":
                raise AgentError(f"Invalid role '{config.role}' in quota config")
            guarantees = {k: float(v.value) for k, v in config.guarantees.items()}
            limits = {k: float(v.value) for k, v in config.limits.items()}
            for name, amount in guarantees.items():
                if amount < 0 or (name in limits and limits[name] < amount):
                    raise AgentError(
                        f"Invalid quota config for role '{config.role}':"
                        f" guarantee > limit for '{name}'"
                    )
            updates[config.role] = (guarantees, limits)
        for role, (guarantees, limits) in updates.items():
            if guarantees or limits:
                self.master.state.quotas[role] = (guarantees, limits)
            else:
                self.master.state.quotas.pop(role, None)
        for fw in self.master.state.frameworks.values():
            for offer in list(fw.offers.values()):
                if offer.role in updates:
                    self.master.allocator.rescind(offer)
        self.master.allocator.trigger()

    # ------------------------------------------------------------------ draining

    def deactivate(self, agent_id: str, *, active: bool) -> None:
        agent = self.get(agent_id)
        agent.deactivated = not active
        if active:
            if agent.drain is not None and agent.drain.state == DrainState.DRAINED:
                agent.drain = None
            self.master.allocator.trigger()
        else:
            self.master.allocator.rescind_agent(agent)

    def drain(self, agent_id: str, *, max_grace: float | None, mark_gone: bool) -> None:
        agent = self.get(agent_id)
        config = DrainConfig(mark_gone=mark_gone)
        if max_grace is not None:
            config.max_grace_period = DurationInfo(nanoseconds=int(max_grace * 1e9))
        agent.drain = DrainInfo(state=DrainState.DRAINING, config=config)
        agent.deactivated = True
        self.master.allocator.rescind_agent(agent)
        logger.info("draining agent %s (%d tasks)", agent.hostname, len(agent.tasks))
        grace_default = self.master.settings.default_drain_grace
        for rec in self._tasks_on(agent):
            grace = grace_default if max_grace is None else min(grace_default, max_grace)
            self.master.tasks.kill_on_agent(agent, rec, grace)
        self.check_drained(agent)

    def check_drained(self, agent: Agent) -> None:
        if agent.drain is None or agent.drain.state != DrainState.DRAINING or agent.tasks:
            return
        agent.drain = DrainInfo(state=DrainState.DRAINED, config=agent.drain.config)
        logger.info("agent %s drained", agent.hostname)
        if agent.drain.config.mark_gone:
            self.remove(
                agent,
                TaskState.TASK_GONE_BY_OPERATOR,
                TaskStatusReason.REASON_AGENT_REMOVED_BY_OPERATOR,
            )

    def _tasks_on(self, agent: Agent) -> list[TaskRecord]:
        out = []
        for fw_id, task_id in list(agent.tasks):
            fw = self.master.state.frameworks.get(fw_id)
            rec = fw.tasks.get(task_id) if fw is not None else None
            if rec is not None and rec.state not in TERMINAL_TASK_STATES:
                out.append(rec)
        return out

    # --------------------------------------------------------- removal, partitions

    def remove(self, agent: Agent, state: TaskState, reason: TaskStatusReason) -> None:
        """The agent is gone for good: its tasks end in ``state``; containers are stopped."""
        candidates = self._tasks_on(agent) + self.unreachable_tasks.pop(agent.id, [])
        unique = {id(rec): rec for rec in candidates if rec.state not in TERMINAL_TASK_STATES}
        tasks = list(unique.values())
        agent.gone = True
        agent.epoch += 1
        self.master.allocator.rescind_agent(agent)
        for rec in tasks:
            self.master.tasks.transition(
                rec,
                state,
                source=TaskStatusSource.SOURCE_MASTER,
                reason=reason,
                message=f"Agent {agent.hostname} removed",
            )
            self.master.tasks.kill_on_agent(agent, rec, 0.0)
        self.master.tasks.held.pop(agent.id, None)
        agent.allocated = Bag()
        self._published_removed(agent)
        self.master.allocator.trigger()

    def mark_gone(self, agent_id: str) -> None:
        agent = self.get(agent_id)
        self.remove(
            agent,
            TaskState.TASK_GONE_BY_OPERATOR,
            TaskStatusReason.REASON_AGENT_REMOVED_BY_OPERATOR,
        )

    def unreachable(self, agent_id: str, *, partition: bool) -> None:
        """Lose (``partition=False``: its tasks die) or partition an agent."""
        agent = self.get(agent_id)
        if not agent.reachable:
            return
        tasks = self._tasks_on(agent)
        agent.unreachable_since = time.time()
        agent.partitioned = partition
        agent.epoch += 1
        self.master.allocator.rescind_agent(agent)
        agent.allocated = Bag()
        self.unreachable_tasks[agent.id] = tasks
        logger.info(
            "agent %s unreachable (%s), %d tasks",
            agent.hostname,
            "partitioned" if partition else "lost",
            len(tasks),
        )
        for rec in tasks:
            rec.unreachable = True
            self.master.tasks.transition(
                rec,
                TaskState.TASK_UNREACHABLE,
                source=TaskStatusSource.SOURCE_MASTER,
                reason=TaskStatusReason.REASON_AGENT_REMOVED,
                message=f"Agent {agent.hostname} is unreachable",
                unreachable_time=agent.unreachable_since,
            )
            if not partition:
                self.master.tasks.kill_on_agent(agent, rec, 0.0)
        self._published_removed(agent)
        self.master.call_later(
            self.master.settings.unreachable_gone_timeout, self._gone_timeout, agent.id, agent.epoch
        )

    def _gone_timeout(self, agent_id: str, epoch: int) -> None:
        agent = self.master.state.agents.get(agent_id)
        if agent is None or agent.epoch != epoch or agent.reachable:
            return
        logger.info("unreachable agent %s is now gone", agent.hostname)
        self.remove(agent, TaskState.TASK_GONE, TaskStatusReason.REASON_AGENT_REMOVED)

    def heal(self, agent_id: str) -> None:
        """A partition ends: the agent reregisters with whatever still runs on it."""
        agent = self.master.state.agents.get(agent_id)
        if agent is None or agent.reachable or agent.gone:
            return
        partitioned = agent.partitioned
        agent.unreachable_since = None
        agent.partitioned = False
        agent.epoch += 1
        for rec in self.unreachable_tasks.pop(agent.id, []):
            fw = self.master.state.frameworks.get(rec.framework_id)
            rec.unreachable = False
            if fw is None or not partitioned:
                continue
            previous = next(
                (s.state for s in reversed(rec.statuses) if s.state not in _GAP_STATES),
                TaskState.TASK_STAGING,
            )
            rec.state = previous
            if rec.task_id not in fw.tasks:
                fw.tasks[rec.task_id] = rec
                if rec in fw.completed:
                    fw.completed.remove(rec)
            agent.tasks.add(rec.key)
            agent.allocated.add(rec.resources)
        for fw_id, task_id, observed in self.master.tasks.held.pop(agent.id, []):
            self.master.tasks.on_report(fw_id, task_id, observed)
        logger.info("agent %s reregistered", agent.hostname)
        self.published_added(agent)
        self.master.allocator.trigger()


_GAP_STATES = frozenset({TaskState.TASK_UNREACHABLE, TaskState.TASK_LOST, TaskState.TASK_UNKNOWN})
