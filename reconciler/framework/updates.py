"""What a Mesos status update does to an instance record: a pure function.

:func:`apply_update` is the framework's whole policy for task states:

- the Mesos state maps to ours (:func:`~reconciler.apps.from_task_state`);
  a state Mesos does not define is ignored;
- no record, or an ended one: nothing to write; the task is killed when it
  is alive (a task we launched once and forgot, or one nobody launched),
  unless it is already being killed;
- a Killing record ignores every live state until Mesos reports the end;
- a live update older than the record (its timestamp before the record's
  ``lastUpdateAt``) is stale: duplicates and reordered resends change nothing;
- an update that changes neither the state nor the health writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.protocols import TaskUpdate
from reconciler.apps.instances import Instance, InstanceState, from_task_state

__all__ = ["Outcome", "apply_update"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    record: Instance | None = None  # the record to write; None: nothing changes
    kill: bool = False  # the task is alive without a live record: kill it


def apply_update(inst: Instance | None, update: TaskUpdate, *, now: datetime) -> Outcome:
    """The effect of ``update`` on ``inst`` (its record, None when there is none)."""
    try:
        state = from_task_state(update.state)
    except ValueError:
        logger.warning("task %s: unknown state %s ignored", update.task_id, update.state)
        return Outcome()
    if inst is None or inst.is_terminal:
        return Outcome(kill=not state.is_terminal and state is not InstanceState.KILLING)
    if inst.state is InstanceState.KILLING and not state.is_terminal:
        return Outcome()
    when = now if update.timestamp is None else datetime.fromtimestamp(update.timestamp, UTC)
    if not state.is_terminal and inst.last_update_at is not None and when < inst.last_update_at:
        return Outcome()
    healthy = update.healthy
    if healthy is None and state is inst.state:
        healthy = inst.healthy
    if state is inst.state and healthy == inst.healthy:
        return Outcome()
    message = update.message or None
    return Outcome(record=inst.observe(state, now=when, healthy=healthy, message=message))
