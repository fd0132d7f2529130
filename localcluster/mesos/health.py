"""COMMAND health checks, run the way Mesos runs them, for the process and docker runtimes.

The semantics follow Mesos (``HealthCheck`` proto defaults, and
``shared/reference/mesos/health-checks.md``): the first check runs after
``delay_seconds``, then every ``interval_seconds``; a check slower than
``timeout_seconds`` fails; failures inside ``grace_period_seconds`` before the
first success are ignored; ``healthy`` is reported (TASK_RUNNING,
REASON_TASK_HEALTH_CHECK_STATUS_UPDATED) only when it changes; after
``consecutive_failures`` failures in a row the task is killed, which the
containerizer then reports as TASK_KILLED with ``healthy`` false.

Containerizers differ only in where the command runs, so they hand
:func:`start_health_watch` an :data:`Exec`: ``process`` spawns the command
in the task's sandbox (:mod:`.process`), ``docker`` runs it inside the
container through the engine's ``exec`` (:mod:`.docker`). The timeout,
counting, reporting and the kill decision live here once. (``sim`` runs
nothing to check: its tasks report a simulated check that passes, :mod:`.sim`.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.mesos import CommandInfo, HealthCheck, HealthCheckType, TaskState, TaskStatusReason
from localcluster.mesos.containerizer import Launch, Report, StatusReport

__all__ = [
    "HEALTH_REASON",
    "Exec",
    "HealthSettings",
    "Probe",
    "command_health_check",
    "send_report",
    "start_health_watch",
    "watch_health",
]

logger = logging.getLogger(__name__)

HEALTH_REASON = TaskStatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED

Exec = Callable[[CommandInfo], Awaitable[int]]
"""Run a check's command where the task runs; its exit code. Raising fails the check."""

Probe = Callable[[float], Awaitable[bool]]
"""Run one check within the given seconds: True if it passed."""


@dataclass(frozen=True)
class HealthSettings:
    """A HealthCheck's timing, with the proto's defaults filled in."""

    delay: float = 15.0
    interval: float = 10.0
    timeout: float = 20.0
    consecutive_failures: int = 3
    grace_period: float = 10.0

    @classmethod
    def of(cls, check: HealthCheck) -> HealthSettings:
        d = cls()
        return cls(
            delay=d.delay if check.delay_seconds is None else check.delay_seconds,
            interval=d.interval if check.interval_seconds is None else check.interval_seconds,
            timeout=d.timeout if check.timeout_seconds is None else check.timeout_seconds,
            consecutive_failures=check.consecutive_failures or d.consecutive_failures,
            grace_period=(
                d.grace_period if check.grace_period_seconds is None else check.grace_period_seconds
            ),
        )


def command_health_check(check: HealthCheck | None) -> CommandInfo | None:
    """The command of a COMMAND health check; None when there is none to run."""
    if check is None:
        return None
    if check.type not in (None, HealthCheckType.COMMAND) or check.command is None:
        logger.warning("health check of type %s is not supported; not checking", check.type)
        return None
    return check.command


async def send_report(report: Report, status: StatusReport) -> None:
    """Report, logging (not raising) a failure: a watcher must live on to the end."""
    try:
        await report(status)
    except Exception:
        logger.exception("reporting %s of task %s failed", status.state, status.task_id)


def start_health_watch(
    launch: Launch,
    *,
    exec: Exec,
    report: Report,
    on_failed: Callable[[], Awaitable[None]],
    ip_address: str | None = None,
    name: str,
) -> asyncio.Task[None] | None:
    """Check ``launch``'s task from now on, in a task called ``name``; None without a
    COMMAND check. ``on_failed`` kills the task once it failed for good; health
    changes are reported with ``ip_address``, as TASK_RUNNING reported it."""
    check = launch.task.health_check
    command = command_health_check(check)
    if check is None or command is None:
        return None
    task_id = launch.task.task_id.value

    async def probe(limit: float) -> bool:
        try:
            async with asyncio.timeout(limit):
                code = await exec(command)
        except Exception as exc:  # a check that cannot run or overruns has failed
            logger.debug("health check of task %s failed: %r", task_id, exc)
            return False
        return code == 0

    async def on_change(healthy: bool) -> None:
        logger.info("task %s is %s", task_id, "healthy" if healthy else "unhealthy")
        status = StatusReport(
            task_id,
            TaskState.TASK_RUNNING,
            reason=HEALTH_REASON,
            healthy=healthy,
            ip_address=ip_address,
        )
        await send_report(report, status)

    watch = watch_health(
        settings=HealthSettings.of(check), probe=probe, on_change=on_change, on_failed=on_failed
    )
    return asyncio.create_task(watch, name=name)


async def watch_health(
    *,
    settings: HealthSettings,
    probe: Probe,
    on_change: Callable[[bool], Awaitable[None]],
    on_failed: Callable[[], Awaitable[None]],
) -> None:
    """Check until ``consecutive_failures`` in a row, then call ``on_failed`` and return."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    healthy: bool | None = None
    failures = 0
    await asyncio.sleep(settings.delay)
    while True:
        passed = await probe(settings.timeout)
        if passed:
            failures = 0
        elif healthy is not None or loop.time() - started >= settings.grace_period:
            failures += 1
        if passed or failures:
            if healthy is not passed:
                healthy = passed
                await on_change(passed)
            if failures >= settings.consecutive_failures:
                await on_failed()
                return
        await asyncio.sleep(settings.interval)
