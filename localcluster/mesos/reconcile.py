"""Task reconciliation: the master's answer to RECONCILE (and to KILL of an unknown task).

As ``reconciliation.md`` describes: an explicit RECONCILE lists tasks and
gets each one's latest state; an implicit one (an empty list) gets every
non-terminal task of the framework. Answers come from the master
(``SOURCE_MASTER``, ``REASON_RECONCILIATION``) with no ``uuid``, so they are
sent once and never acknowledged. A task the master does not know is
TASK_UNKNOWN, or TASK_UNREACHABLE/TASK_GONE when the named agent is, and
TASK_LOST for frameworks that are not PARTITION_AWARE.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from adapters.mesos import (
    TERMINAL_TASK_STATES,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    TaskStatusSource,
)
from localcluster.mesos.state import Framework, TaskRecord, adapt

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["reconcile"]

logger = logging.getLogger(__name__)


def reconcile(master: Master, fw: Framework, tasks: list[tuple[str, str | None]]) -> None:
    """Explicit (listed tasks) or implicit (empty list) reconciliation."""
    if not tasks:
        for rec in fw.tasks.values():
            if rec.state not in TERMINAL_TASK_STATES:
                master.tasks.send_update(fw, _latest(master, rec))
        return
    for task_id, agent_id in tasks:
        found = fw.tasks.get(task_id)
        if found is not None:
            master.tasks.send_update(fw, _latest(master, found))
        else:
            master.tasks.send_update(fw, _unknown(master, fw, task_id, agent_id))


def _latest(master: Master, rec: TaskRecord) -> TaskStatus:
    base = master.tasks.status(rec, rec.state, source=TaskStatusSource.SOURCE_MASTER)
    if rec.statuses:
        last = rec.statuses[-1]
        base = last.model_copy(update={"uuid": None, "state": rec.state})
    return base.model_copy(
        update={
            "source": TaskStatusSource.SOURCE_MASTER,
            "reason": TaskStatusReason.REASON_RECONCILIATION,
            "message": "Reconciliation: Latest task state",
            "timestamp": time.time(),
        }
    )


def _unknown(master: Master, fw: Framework, task_id: str, agent_id: str | None) -> TaskStatus:
    agent = master.state.agents.get(agent_id) if agent_id else None
    state = TaskState.TASK_UNKNOWN
    message = "Reconciliation: Task is unknown"
    if agent is not None and agent.gone:
        state, message = TaskState.TASK_GONE, "Reconciliation: Task is gone"
    elif agent is not None and not agent.reachable:
        state, message = TaskState.TASK_UNREACHABLE, "Reconciliation: Task is unreachable"
    payload: dict[str, object] = {
        "task_id": {"value": task_id},
        "state": adapt(fw, state),
        "source": TaskStatusSource.SOURCE_MASTER,
        "reason": TaskStatusReason.REASON_RECONCILIATION,
        "message": message,
        "timestamp": time.time(),
    }
    if agent_id:
        payload["agent_id"] = {"value": agent_id}
    return TaskStatus.model_validate(payload)
