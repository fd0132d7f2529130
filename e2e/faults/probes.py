"""What the master, CMDB and status-update scenarios (and the soak run) look at besides the
history checker.

- :func:`regressions`: instance records that went backwards in state, from the
  recorded etcd history (Staging < Starting < Running < Killing < an end);
  a record leaves Unreachable for any live state, since a healed agent's
  task comes back Running;
- :func:`task_count` / :func:`launched_since`: the master's tasks, live and
  finished, read from the in-process master;
- :func:`mid_rollout`: wait until a rollout has launched some of its new
  instances and not all of them, so a fault lands in the middle of it;
- :func:`bump`: a new image tag for a list of Apps, through the stack's
  :meth:`~e2e.faults.stack.FaultStack.apply` (so each write is recorded as
  acknowledged).
"""

from __future__ import annotations

import json
from typing import Any

from e2e.faults.history import History
from e2e.faults.stack import FaultStack, app_docs

__all__ = ["bump", "launched_since", "mid_rollout", "regressions", "task_count", "task_ids"]

_RANK = {
    "Pending": 0,
    "Staging": 1,
    "Starting": 2,
    "Running": 3,
    "Killing": 4,
}
_END = 5  # any terminal state


def _rank(state: str) -> int | None:
    """The order of ``state`` in an instance's life; None for Unreachable."""
    if state == "Unreachable":
        return None
    return _RANK.get(state, _END)


def regressions(history: History) -> list[str]:
    """Each instance record write that moved its state backwards, as one line."""
    last: dict[str, tuple[str, int]] = {}
    found: list[str] = []
    for event in history.events:
        if not event.key.startswith("instances/") or event.key.count("/") != 3:
            continue
        if event.value is None:
            last.pop(event.key, None)
            continue
        state = str(json.loads(event.value).get("state", ""))
        before = last.get(event.key)
        rank = _rank(state)
        if before is not None and rank is not None:
            old_state, old_rank = before
            if old_state != "Unreachable" and rank < old_rank:
                found.append(
                    f"{event.key.rsplit('/', 1)[-1]}: {old_state} -> {state} "
                    f"at revision {event.revision}"
                )
        last[event.key] = (state, rank if rank is not None else -1)
    return found


def task_count(stack: FaultStack) -> int:
    """Every task the master has known, live or finished."""
    state = stack.master.master.state
    return sum(len(fw.tasks) + len(fw.completed) for fw in state.frameworks.values())


def launched_since(stack: FaultStack, before: set[str]) -> set[str]:
    """The task ids the master knows now that are not in ``before``."""
    state = stack.master.master.state
    now = {rec.task_id for fw in state.frameworks.values() for rec in fw.tasks.values()}
    now |= {rec.task_id for fw in state.frameworks.values() for rec in fw.completed}
    return now - before


def task_ids(stack: FaultStack) -> set[str]:
    """Every task id the master has known."""
    return launched_since(stack, set())


async def mid_rollout(stack: FaultStack, before: set[str], total: int, *, within: float) -> int:
    """Wait until at least one and fewer than ``total`` new tasks are launched; how many."""
    seen: list[int] = []

    async def started() -> bool:
        count = len(launched_since(stack, before))
        seen.append(count)
        return count >= 1

    await stack.until("the rollout to launch its first instances", started, within=within)
    count = seen[-1]
    assert count < total, f"the rollout launched all {total} instances before the fault"
    return count


async def bump(stack: FaultStack, count: int, tag: str, **spec: Any) -> int:
    """Apply ``count`` Apps (:func:`~e2e.faults.stack.app_docs`) at image ``tag``."""
    return await stack.apply(app_docs(count, tag=tag, **spec))
