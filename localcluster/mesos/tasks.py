"""Tasks: launch, the status-update stream, kill and reconciliation.

The task state machine lives in :meth:`TaskManager.transition`. Updates come
from two places, as in Mesos:

* reports of the agent's containerizer (STARTING, RUNNING, FINISHED...) are
  *reliable*: each carries a fresh ``uuid`` (base64 of 16 random bytes) and
  goes through the task's queue of pending updates, the agent's status update
  manager: only the head is sent, it is re-sent with exponential backoff
  (``status_update_retry`` doubling up to ``status_update_retry_max``) until
  ACKNOWLEDGE names its uuid, and only then is the next one sent (unless
  the reorder fault is on: then each is sent at once, see :mod:`.faults`);
* updates the master makes itself (invalid offers, validation errors,
  unreachable or gone agents, reconciliation answers) have no uuid, are sent
  once and must not be acknowledged.

The master's own view (``TaskRecord.state``) always moves to the latest
state at once, whatever the framework has acknowledged. A terminal state
releases the task's resources; once the terminal update is acknowledged the
task moves to the framework's completed tasks. States a framework cannot
understand are translated by capability (TASK_LOST for the partition-aware
states, TASK_KILLING dropped) as the master does.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING

from adapters.mesos import (
    TERMINAL_TASK_STATES,
    ContainerID,
    ContainerStatus,
    ExecutorID,
    FrameworkCapabilityType,
    FrameworkID,
    IPAddress,
    NetworkInfo,
    OperatorEvent,
    OperatorEventType,
    TaskAdded,
    TaskInfo,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    TaskStatusSource,
    TaskUpdated,
    TimeInfo,
    encode_bytes,
)
from localcluster.mesos import views
from localcluster.mesos.containerizer import Launch, Report, StatusReport
from localcluster.mesos.reconcile import reconcile
from localcluster.mesos.resources import Bag
from localcluster.mesos.state import Agent, Framework, TaskRecord, adapt

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["TaskManager"]

logger = logging.getLogger(__name__)


class TaskManager:
    """Tasks of every framework (see the module docstring)."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self._retries: list[tuple[float, int, str, str, str]] = []  # (due, seq, fw, task, uuid)
        self._seq = 0
        self._wake = asyncio.Event()
        self.held: dict[str, list[tuple[str, str, StatusReport]]] = {}
        """Reports from partitioned agents, replayed when they heal."""

    # ------------------------------------------------------------------ launch

    def launch(
        self,
        fw: Framework,
        agent: Agent,
        *,
        info: TaskInfo,
        role: str,
        resources: Bag,
        executor_id: str | None,
    ) -> None:
        """Record a task as STAGING and hand it to the agent's containerizer."""
        rec = TaskRecord(
            info=info,
            framework_id=fw.id,
            agent_id=agent.id,
            role=role,
            resources=resources,
            executor_id=executor_id,
        )
        fw.tasks[rec.task_id] = rec
        agent.tasks.add(rec.key)
        agent.allocated.add(resources)
        if self.master.operator_streams:
            self.master.publish(
                lambda: OperatorEvent.wrap(
                    OperatorEventType.TASK_ADDED, TaskAdded(task=views.task(rec))
                )
            )
        launch = Launch(
            task=info,
            agent_id=agent.id,
            hostname=agent.hostname,
            framework_id=fw.id,
            ports=tuple(resources.port_list()),
            agent_ip=agent.ip,
        )
        containerizer = self.master.containerizer_for(agent.containerizer, info)
        report = self._reporter(fw.id, rec.task_id)
        self.master.spawn(containerizer.launch(launch, report), name=f"launch:{rec.task_id}")

    def _reporter(self, fw_id: str, task_id: str) -> Report:
        async def report(observed: StatusReport) -> None:
            self.on_report(fw_id, task_id, observed)

        return report

    def on_report(self, fw_id: str, task_id: str, observed: StatusReport) -> None:
        fw = self.master.state.frameworks.get(fw_id)
        rec = fw.tasks.get(task_id) if fw is not None else None
        if fw is None or rec is None or rec.state in TERMINAL_TASK_STATES:
            return
        agent = self.master.state.agents.get(rec.agent_id)
        reason = observed.reason
        if agent is not None and agent.partitioned:
            self.held.setdefault(agent.id, []).append((fw_id, task_id, observed))
            return
        if agent is None or not agent.reachable:
            return  # the agent is lost: nothing it says reaches the master
        if agent.drain is not None and observed.state == TaskState.TASK_KILLED and reason is None:
            reason = TaskStatusReason.REASON_AGENT_DRAINING
        if observed.ip_address:
            rec.ip_address = observed.ip_address
        if observed.healthy is not None:
            rec.healthy = observed.healthy
        source = TaskStatusSource.SOURCE_EXECUTOR
        self.transition(
            rec,
            observed.state,
            source=source,
            reason=reason,
            message=observed.message or None,
            reliable=True,
            healthy=observed.healthy,
        )

    # ------------------------------------------------------------- transitions

    def status(
        self,
        rec: TaskRecord,
        state: TaskState,
        *,
        source: TaskStatusSource,
        reason: TaskStatusReason | None = None,
        message: str | None = None,
        reliable: bool = False,
        healthy: bool | None = None,
        unreachable_time: float | None = None,
    ) -> TaskStatus:
        fw = self.master.state.frameworks.get(rec.framework_id)
        container = None
        if source != TaskStatusSource.SOURCE_MASTER or rec.ip_address:
            networks = []
            if rec.ip_address:
                networks = [_reported_network(rec.info, rec.ip_address)]
            container = ContainerStatus(
                container_id=ContainerID(value=f"{rec.framework_id}.{rec.task_id}"),
                network_infos=networks,
            )
        return TaskStatus(
            task_id=rec.info.task_id,
            state=adapt(fw, state) if fw is not None else state,
            source=source,
            reason=reason,
            message=message,
            agent_id=rec.info.agent_id,
            executor_id=ExecutorID(value=rec.executor_id or rec.task_id),
            timestamp=time.time(),
            uuid=encode_bytes(os.urandom(16)) if reliable else None,
            healthy=healthy,
            container_status=container,
            unreachable_time=TimeInfo(nanoseconds=int(unreachable_time * 1e9))
            if unreachable_time
            else None,
        )

    def transition(
        self,
        rec: TaskRecord,
        state: TaskState,
        *,
        source: TaskStatusSource,
        reason: TaskStatusReason | None = None,
        message: str | None = None,
        reliable: bool = False,
        healthy: bool | None = None,
        unreachable_time: float | None = None,
    ) -> None:
        """Move ``rec`` to ``state`` and tell its framework (reliably or once)."""
        fw = self.master.state.frameworks.get(rec.framework_id)
        if state == TaskState.TASK_KILLING and (
            fw is None or not fw.has(FrameworkCapabilityType.TASK_KILLING_STATE)
        ):
            return
        status = self.status(
            rec,
            state,
            source=source,
            reason=reason,
            message=message,
            reliable=reliable,
            healthy=healthy,
            unreachable_time=unreachable_time,
        )
        was_terminal = rec.state in TERMINAL_TASK_STATES
        rec.state = status.state
        rec.statuses.append(status)
        if self.master.operator_streams:
            self.master.publish(
                lambda: OperatorEvent.wrap(
                    OperatorEventType.TASK_UPDATED,
                    TaskUpdated(
                        framework_id=FrameworkID(value=rec.framework_id),
                        status=status,
                        state=status.state,
                    ),
                )
            )
        if status.state in TERMINAL_TASK_STATES and not was_terminal:
            self._release(rec)
        if fw is None:
            return
        if reliable:
            rec.pending.append(status)
            if len(rec.pending) == 1:
                rec.retry_interval = self.master.settings.status_update_retry
                self._deliver(fw, rec, status)
            elif self.master.faults.reordering:  # forwarded ahead of its turn
                rec.early.add(status.uuid or "")
                self._deliver(fw, rec, status)
        else:
            self.send_update(fw, status)
        if status.state in TERMINAL_TASK_STATES and not rec.pending:
            self.complete(fw, rec)

    def _release(self, rec: TaskRecord) -> None:
        agent = self.master.state.agents.get(rec.agent_id)
        if agent is not None and not rec.unreachable:
            agent.allocated.subtract(rec.resources)
        self.master.allocator.trigger(rec.agent_id)

    def complete(self, fw: Framework, rec: TaskRecord) -> None:
        """Move a terminal, fully acknowledged task to the completed tasks."""
        if fw.tasks.get(rec.task_id) is rec:
            del fw.tasks[rec.task_id]
            fw.completed.append(rec)
        agent = self.master.state.agents.get(rec.agent_id)
        if agent is not None:
            agent.tasks.discard(rec.key)
            self.master.agents.check_drained(agent)

    def send_update(self, fw: Framework, status: TaskStatus) -> None:
        """Every UPDATE event leaves here, through the status-update faults."""
        self.master.faults.send_update(fw, status)

    # --------------------------------------------------------- reliable delivery

    def _deliver(self, fw: Framework, rec: TaskRecord, status: TaskStatus) -> None:
        self.send_update(fw, status)
        assert status.uuid is not None
        self._seq += 1
        due = time.monotonic() + rec.retry_interval
        heapq.heappush(self._retries, (due, self._seq, fw.id, rec.task_id, status.uuid))
        if self._retries[0][1] == self._seq:
            self._wake.set()

    def acknowledge(self, fw: Framework, task_id: str, uuid: str) -> None:
        rec = fw.tasks.get(task_id)
        if rec is not None and uuid in rec.early:
            # Sent ahead of its turn by the reorder fault: it leaves the queue, the head stays.
            rec.early.discard(uuid)
            rec.pending = deque(s for s in rec.pending if s.uuid != uuid)
            return
        if rec is None or not rec.pending or rec.pending[0].uuid != uuid:
            logger.debug("ignoring acknowledgement of %s/%s for unknown update", fw.id, task_id)
            return
        rec.pending.popleft()
        rec.retry_interval = self.master.settings.status_update_retry
        if rec.pending:
            head = rec.pending[0]
            if head.uuid in rec.early:  # already sent, and being retried
                rec.early.discard(head.uuid)
            else:
                self._deliver(fw, rec, head)
        elif rec.state in TERMINAL_TASK_STATES:
            self.complete(fw, rec)

    def resend_pending(self, fw: Framework) -> None:
        """Re-send every pending head (and updates sent early) at once (a resubscription)."""
        for rec in fw.tasks.values():
            for index, status in enumerate(rec.pending):
                if index == 0 or status.uuid in rec.early:
                    self.send_update(fw, status)

    async def run_retries(self) -> None:
        """Re-send unacknowledged heads when their retry time comes."""
        settings = self.master.settings
        while True:
            self._wake.clear()
            now = time.monotonic()
            while self._retries and self._retries[0][0] <= now:
                _, _, fw_id, task_id, uuid = heapq.heappop(self._retries)
                fw = self.master.state.frameworks.get(fw_id)
                rec = fw.tasks.get(task_id) if fw is not None else None
                status = _pending(rec, uuid) if fw is not None and rec is not None else None
                if fw is None or rec is None or status is None:
                    continue
                rec.retry_interval = min(rec.retry_interval * 2, settings.status_update_retry_max)
                logger.debug("retrying update %s of task %s", status.state, task_id)
                self._deliver(fw, rec, status)
            timeout = self._retries[0][0] - time.monotonic() if self._retries else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    # -------------------------------------------------------------------- kill

    def kill(self, fw: Framework, task_id: str, agent_id: str | None, grace: float | None) -> None:
        rec = fw.tasks.get(task_id)
        if rec is None:
            reconcile(self.master, fw, [(task_id, agent_id)])
            return
        if agent_id is not None and agent_id != rec.agent_id:
            logger.info("ignoring KILL of %s with mismatched agent %s", task_id, agent_id)
            return
        if rec.state in TERMINAL_TASK_STATES or rec.unreachable:
            return
        agent = self.master.state.agents[rec.agent_id]
        if rec.state != TaskState.TASK_KILLING and fw.has(
            FrameworkCapabilityType.TASK_KILLING_STATE
        ):
            # The command executor announces the kill to frameworks that understand it.
            self.transition(
                rec, TaskState.TASK_KILLING, source=TaskStatusSource.SOURCE_EXECUTOR, reliable=True
            )
        self.kill_on_agent(agent, rec, grace)

    def kill_on_agent(self, agent: Agent, rec: TaskRecord, grace: float | None) -> None:
        containerizer = self.master.containerizer_for(agent.containerizer, rec.info)
        if grace is None and rec.info.kill_policy and rec.info.kill_policy.grace_period:
            grace = rec.info.kill_policy.grace_period.nanoseconds / 1e9
        grace = 3.0 if grace is None else grace
        self.master.spawn(
            containerizer.kill(rec.task_id, grace_seconds=grace), name=f"kill:{rec.task_id}"
        )

    def remove_all(self, fw: Framework) -> None:
        """The framework is removed: kill everything it runs, silently."""
        for rec in list(fw.tasks.values()):
            if rec.state not in TERMINAL_TASK_STATES:
                agent = self.master.state.agents.get(rec.agent_id)
                rec.pending.clear()
                rec.state = TaskState.TASK_KILLED
                self._release(rec)
                if agent is not None and agent.reachable:
                    self.kill_on_agent(agent, rec, None)
            rec.pending.clear()
            self.complete(fw, rec)


def _pending(rec: TaskRecord, uuid: str) -> TaskStatus | None:
    """The pending update ``uuid`` of ``rec`` if it is still being retried."""
    if not rec.pending:
        return None
    if rec.pending[0].uuid == uuid:
        return rec.pending[0]
    if uuid in rec.early:
        return next((s for s in rec.pending if s.uuid == uuid), None)
    return None


def _reported_network(info: TaskInfo, ip_address: str) -> NetworkInfo:
    """The container's address as Mesos's docker executor reports it: the task's first
    ``network_infos`` entry (name, labels) with ``ip_addresses`` replaced by the address."""
    asked = info.container.network_infos if info.container is not None else []
    reported = [IPAddress(ip_address=ip_address)]
    if not asked:
        return NetworkInfo(ip_addresses=reported)
    return asked[0].model_copy(update={"ip_addresses": reported})
