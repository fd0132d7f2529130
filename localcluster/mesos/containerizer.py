"""How an emulated agent runs a task: the seam between the master and the runtimes.

The master owns the task state machine and status-update delivery; a
containerizer only runs things and reports what happened through the
``report`` callback it is given. Three implementations: ``sim`` (no process,
states on timers), ``process`` (a local command, as Mesos's own containerizer
runs one), ``docker`` (a real container on a real Docker engine).

A containerizer reports TASK_STARTING/TASK_RUNNING once the task runs,
TASK_FINISHED/TASK_FAILED when it exits (with the exit code in the message),
TASK_KILLED after ``kill``, and health changes (``healthy=True/False``) when
the task has a COMMAND health check. It never reports for a task it was not
asked to launch, and reports nothing after a terminal state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from adapters.mesos import TaskInfo, TaskState, TaskStatusReason

__all__ = ["Containerizer", "Launch", "Report", "StatusReport"]


@dataclass(frozen=True)
class StatusReport:
    """What a containerizer observed about one task."""

    task_id: str
    state: TaskState
    message: str = ""
    reason: TaskStatusReason | None = None
    healthy: bool | None = None
    """Set when a health check ran: True passed, False failed."""
    ip_address: str | None = None
    """The container's IP, reported with TASK_RUNNING when it has its own."""


Report = Callable[[StatusReport], Awaitable[None]]


@dataclass(frozen=True)
class Launch:
    """One task to run on one agent."""

    task: TaskInfo
    agent_id: str
    hostname: str
    framework_id: str
    ports: tuple[int, ...] = ()
    """Host ports taken from the offer's ``ports`` resource, in order."""
    agent_ip: str = ""
    """The agent's address (``LIBPROCESS_IP`` of a process task); "" unknown."""


class Containerizer(Protocol):
    async def launch(self, launch: Launch, report: Report) -> None:
        """Start the task; return once it is started or has failed to start
        (either way, ``report`` has been or will be called)."""
        ...

    async def kill(self, task_id: str, *, grace_seconds: float = 3.0) -> None:
        """Stop the task; it reports TASK_KILLED. Unknown ids are ignored."""
        ...

    async def close(self) -> None:
        """Stop every task this containerizer started and release its resources."""
        ...
