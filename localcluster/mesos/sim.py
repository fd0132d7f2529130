"""The ``sim`` containerizer: tasks that exist only as timers.

No process is started. A launched task reports TASK_STARTING after
``starting_delay`` and TASK_RUNNING ``running_delay`` later (healthy, when
the task has a health check: a simulated check always passes); a seeded random
draw (``failure_rate``) turns some launches into TASK_FAILED instead, the
same ones on every run with the same seed; with ``run_duration`` a running
task reports TASK_FINISHED when it is up; a kill reports TASK_KILLED after
``kill_delay``. A task that asks for a static address (``network_infos``)
reports it with TASK_RUNNING, as a real agent reports its container's
address; the sim pretends, no interface is made. All timers live in one heap
served by one named task, so ten thousand tasks cost ten thousand heap
entries, not ten thousand coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from dataclasses import dataclass

from adapters.mesos import TaskState, TaskStatusReason
from localcluster.mesos.containerizer import Launch, Report, StatusReport
from localcluster.mesos.process import requested_ip
from localcluster.mesos.settings import SimSettings

__all__ = ["SimContainerizer"]

logger = logging.getLogger(__name__)


@dataclass
class _Task:
    report: Report
    health_checked: bool = False
    ip_address: str | None = None
    state: TaskState = TaskState.TASK_STAGING
    generation: int = 0  # bumped on kill, so older timers of the task are ignored


class SimContainerizer:
    """A :class:`~localcluster.mesos.containerizer.Containerizer` without processes."""

    def __init__(self, settings: SimSettings | None = None) -> None:
        self.settings = settings or SimSettings()
        self._random = random.Random(self.settings.seed)
        self._tasks: dict[str, _Task] = {}
        self._heap: list[tuple[float, int, str, int, TaskState]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def _at(self, delay: float, task_id: str, state: TaskState) -> None:
        loop = asyncio.get_running_loop()
        self._seq += 1
        generation = self._tasks[task_id].generation
        heapq.heappush(self._heap, (loop.time() + delay, self._seq, task_id, generation, state))
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="sim:timers")

    async def launch(self, launch: Launch, report: Report) -> None:
        task_id = launch.task.task_id.value
        s = self.settings
        self._tasks[task_id] = _Task(
            report=report,
            health_checked=launch.task.health_check is not None,
            ip_address=requested_ip(launch),
        )
        self._at(s.starting_delay, task_id, TaskState.TASK_STARTING)
        fails = s.failure_rate > 0 and self._random.random() < s.failure_rate
        final = TaskState.TASK_FAILED if fails else TaskState.TASK_RUNNING
        self._at(s.starting_delay + s.running_delay, task_id, final)
        if not fails and s.run_duration is not None:
            self._at(
                s.starting_delay + s.running_delay + s.run_duration,
                task_id,
                TaskState.TASK_FINISHED,
            )

    async def kill(self, task_id: str, *, grace_seconds: float = 3.0) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        task.generation += 1
        self._at(self.settings.kill_delay, task_id, TaskState.TASK_KILLED)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._tasks.clear()
        self._heap.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            while self._heap and self._heap[0][0] <= loop.time():
                _, _, task_id, generation, state = heapq.heappop(self._heap)
                task = self._tasks.get(task_id)
                if task is None or task.generation != generation:
                    continue
                await self._fire(task_id, task, state)
            timeout = self._heap[0][0] - loop.time() if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _fire(self, task_id: str, task: _Task, state: TaskState) -> None:
        message, reason = "", None
        if state == TaskState.TASK_FAILED:
            message, reason = (
                "Command exited with status 1",
                TaskStatusReason.REASON_COMMAND_EXECUTOR_FAILED,
            )
        elif state == TaskState.TASK_FINISHED:
            message = "Command exited with status 0"
        elif state == TaskState.TASK_KILLED:
            message = "Command terminated with signal Terminated"
        running = state == TaskState.TASK_RUNNING
        healthy = True if running and task.health_checked else None
        task.state = state
        if state in (TaskState.TASK_FAILED, TaskState.TASK_FINISHED, TaskState.TASK_KILLED):
            del self._tasks[task_id]
        try:
            await task.report(
                StatusReport(
                    task_id=task_id,
                    state=state,
                    message=message,
                    reason=reason,
                    healthy=healthy,
                    ip_address=task.ip_address if running else None,
                )
            )
        except Exception:
            logger.exception("reporting %s for %s failed", state, task_id)
