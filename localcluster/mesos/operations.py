"""Offer operations of an ACCEPT, applied in order against the offered resources.

``remaining`` starts as everything the accepted offers held; each operation
takes from it, and what is left afterwards goes back to the allocator (with
the ACCEPT's filter). As in Mesos:

* LAUNCH validates each task on its own (unique id, the offer's agent, exactly
  one of command or executor, resources that fit what remains); an invalid
  task gets TASK_ERROR with REASON_TASK_INVALID from the master (no uuid)
  and the others still launch;
* LAUNCH_GROUP is all or nothing (REASON_TASK_GROUP_INVALID), and its tasks
  share the group's executor id;
* RESERVE and UNRESERVE move resources between unreserved and a reservation in
  the agent's total, so later offers carry ``reservations`` (or the legacy
  ``role``/``reservation``);
* volume and disk operations are accepted and ignored.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from adapters.mesos import (
    AllocationInfo,
    ExecutorInfo,
    OfferOperation,
    OfferOperationType,
    Resource,
    TaskInfo,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    TaskStatusSource,
)
from localcluster.mesos.resources import Bag, from_resources
from localcluster.mesos.state import Agent, Framework

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["apply_operations", "reservation_change"]

logger = logging.getLogger(__name__)


def apply_operations(
    master: Master,
    fw: Framework,
    agent: Agent,
    role: str,
    remaining: Bag,
    operations: list[OfferOperation],
) -> None:
    launched = 0
    for op in operations:
        if op.type == OfferOperationType.LAUNCH and op.launch is not None:
            for info in op.launch.task_infos:
                launched += _launch(master, fw, agent, role, remaining, [info], None)
        elif op.type == OfferOperationType.LAUNCH_GROUP and op.launch_group is not None:
            group = op.launch_group
            launched += _launch(
                master, fw, agent, role, remaining, group.task_group.tasks, group.executor
            )
        elif op.type in (OfferOperationType.RESERVE, OfferOperationType.UNRESERVE):
            body = op.reserve if op.type == OfferOperationType.RESERVE else op.unreserve
            if body is None:
                continue
            try:
                source, target = reservation_change(
                    body.resources, reserve=op.type == OfferOperationType.RESERVE
                )
            except ValueError as exc:
                logger.info("framework %s: invalid %s: %s", fw.id, op.type, exc)
                continue
            if not remaining.contains(source):
                logger.info("framework %s: %s exceeds the offer", fw.id, op.type)
                continue
            remaining.subtract(source)
            remaining.add(target)
            agent.total.subtract(source)
            agent.total.add(target)
        else:
            logger.info("framework %s: ignoring offer operation %s", fw.id, op.type)
    if launched:
        logger.info(
            "launched %d tasks of framework %s on agent %s", launched, fw.id, agent.hostname
        )


def reservation_change(resources: list[Resource], *, reserve: bool) -> tuple[Bag, Bag]:
    """``(taken, given)`` bags of a RESERVE (unreserved -> reserved) or UNRESERVE."""
    reserved = from_resources(resources)
    unreserved = Bag()
    for (name, resv), value in reserved.scalars.items():
        if resv is None:
            raise ValueError(f"resource '{name}' carries no reservation")
        unreserved.add(Bag({(name, None): value}))
    for (name, resv), rng in reserved.ranges.items():
        if resv is None:
            raise ValueError(f"resource '{name}' carries no reservation")
        unreserved.add(Bag(ranges={(name, None): list(rng)}))
    return (unreserved, reserved) if reserve else (reserved, unreserved)


def _error(
    master: Master, fw: Framework, info: TaskInfo, reason: TaskStatusReason, message: str
) -> None:
    status = TaskStatus(
        task_id=info.task_id,
        state=TaskState.TASK_ERROR,
        source=TaskStatusSource.SOURCE_MASTER,
        reason=reason,
        message=message,
        agent_id=info.agent_id,
        timestamp=time.time(),
    )
    master.tasks.send_update(fw, status)


def _validate(
    fw: Framework, agent: Agent, role: str, info: TaskInfo, seen: set[str], *, group: bool
) -> str | None:
    task_id = info.task_id.value
    if not task_id:
        return "Task ID must not be empty"
    if task_id in fw.tasks or task_id in seen:
        return f"Task has duplicate ID: {task_id}"
    if info.agent_id.value != agent.id:
        return f"Task uses invalid agent: {info.agent_id.value}"
    if group and info.executor is not None:
        return "Task in a task group must not have an executor"
    if not group and (info.command is None) == (info.executor is None):
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    for res in info.resources:
        if res.allocation_info is not None and res.allocation_info.role not in (None, role):
            return (
                f"Task resources are allocated to role '{res.allocation_info.role}', not '{role}'"
            )
    return None


def _launch(
    master: Master,
    fw: Framework,
    agent: Agent,
    role: str,
    remaining: Bag,
    infos: list[TaskInfo],
    executor: ExecutorInfo | None,
) -> int:
    group = executor is not None
    reason = (
        TaskStatusReason.REASON_TASK_GROUP_INVALID
        if group
        else TaskStatusReason.REASON_TASK_INVALID
    )
    seen: set[str] = set()
    needs: list[Bag] = []
    problem: str | None = None
    # A single task takes from ``remaining`` directly; a group only once all of it fits.
    budget = remaining.copy() if group else remaining
    if executor is not None:
        try:
            executor_needs = from_resources(executor.resources)
            if not budget.contains(executor_needs):
                raise ValueError("uses more resources than the offer has left")
            budget.subtract(executor_needs)
        except ValueError as exc:
            problem = f"Executor {exc}"
    for info in infos:
        if problem is not None:
            break
        problem = _validate(fw, agent, role, info, seen, group=group)
        if problem is None:
            try:
                need = from_resources(info.resources)
                if info.executor is not None:
                    need.add(from_resources(info.executor.resources))
                budget.subtract(_fit(need, budget))
                needs.append(need)
            except ValueError as exc:
                problem = f"Task {exc}"
        seen.add(info.task_id.value)
    if problem is not None:
        for info in infos:
            _error(master, fw, info, reason, problem)
        return 0
    if executor is not None and needs:
        needs[0].add(from_resources(executor.resources))
    for info, need in zip(infos, needs, strict=True):
        if group:
            remaining.subtract(need)
        if executor is not None and not info.executor:
            info = info.model_copy(update={"executor": executor})
        info = _with_allocation(info, role)
        executor_id = info.executor.executor_id.value if info.executor is not None else None
        master.tasks.launch(
            fw, agent, info=info, role=role, resources=need, executor_id=executor_id
        )
    return len(infos)


def _fit(need: Bag, budget: Bag) -> Bag:
    if need.empty():
        raise ValueError("uses no resources")
    if not budget.contains(need):
        raise ValueError("uses more resources than the offer has left")
    return need


def _with_allocation(info: TaskInfo, role: str) -> TaskInfo:
    """Inject the offer's ``allocation_info`` into resources that lack it, as Mesos does."""
    if all(r.allocation_info is not None for r in info.resources):
        return info
    resources = [
        r
        if r.allocation_info is not None
        else r.model_copy(update={"allocation_info": AllocationInfo(role=role)})
        for r in info.resources
    ]
    return info.model_copy(update={"resources": resources})
