"""start_health_watch: the COMMAND check loop both containerizers share, on a scripted exec."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from adapters.mesos import (
    AgentID,
    CommandInfo,
    HealthCheck,
    HealthCheckType,
    HTTPCheckInfo,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatusReason,
)
from localcluster.mesos.containerizer import Launch
from localcluster.mesos.health import start_health_watch

TASK = "task-1"


def launch_with(check: HealthCheck | None) -> Launch:
    task = TaskInfo(
        name="t",
        task_id=TaskID(value=TASK),
        agent_id=AgentID(value="agent-1"),
        command=CommandInfo(value="sleep 300"),
        health_check=check,
    )
    return Launch(task=task, agent_id="agent-1", hostname="h1", framework_id="fw-1")


def command_check(*, failures: int = 2, grace: float = 0.0, timeout: float = 1.0) -> HealthCheck:
    return HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(value="check"),
        delay_seconds=0.0,
        interval_seconds=0.01,
        timeout_seconds=timeout,
        consecutive_failures=failures,
        grace_period_seconds=grace,
    )


class Script:
    """An exec answering from a list of outcomes: an exit code, an exception, or a hang."""

    def __init__(self, *outcomes: int | Exception | None) -> None:
        self._outcomes: Iterator[int | Exception | None] = iter(outcomes)
        self._length = len(outcomes)
        self.commands: list[str | None] = []
        self.failed = asyncio.Event()
        self.exhausted = asyncio.Event()
        """Set once every scripted outcome has been used."""

    async def __call__(self, command: CommandInfo) -> int:
        self.commands.append(command.value)
        outcome = next(self._outcomes, 0)
        if len(self.commands) > self._length:
            self.exhausted.set()
        if outcome is None:
            await asyncio.sleep(3600)  # cancelled by the check's timeout
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, int)
        return outcome

    async def on_failed(self) -> None:
        self.failed.set()


async def test_passing_check_reports_healthy_once_with_the_ip(reports):
    script = Script(0, 0, 0)
    watch = start_health_watch(
        launch_with(command_check()),
        exec=script,
        report=reports,
        on_failed=script.on_failed,
        ip_address="10.0.0.5",
        name="health:test",
    )
    assert watch is not None
    healthy = await reports.wait_health(TASK, True, within=5)
    async with asyncio.timeout(5):
        await script.exhausted.wait()
    watch.cancel()
    await asyncio.wait([watch])

    assert (healthy.state, healthy.ip_address) == (TaskState.TASK_RUNNING, "10.0.0.5")
    assert healthy.reason == TaskStatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
    assert [s.healthy for s in reports.seen] == [True]
    assert set(script.commands) == {"check"}


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(3, id="exit-code"),
        pytest.param(OSError("cannot run"), id="exec-raises"),
        pytest.param(None, id="timeout"),
    ],
)
async def test_consecutive_failures_report_unhealthy_once_then_call_on_failed(reports, failure):
    script = Script(0, failure, failure)
    watch = start_health_watch(
        launch_with(command_check(failures=2, timeout=0.05)),
        exec=script,
        report=reports,
        on_failed=script.on_failed,
        name="health:test",
    )
    assert watch is not None
    async with asyncio.timeout(5):
        await script.failed.wait()
        await watch

    assert [s.healthy for s in reports.seen] == [True, False]
    assert len(script.commands) == 3


async def test_failures_within_the_grace_period_before_a_success_are_ignored(reports):
    script = Script(1, 1, 1, 0)
    watch = start_health_watch(
        launch_with(command_check(failures=1, grace=60.0)),
        exec=script,
        report=reports,
        on_failed=script.on_failed,
        name="health:test",
    )
    assert watch is not None
    await reports.wait_health(TASK, True, within=5)
    watch.cancel()
    await asyncio.wait([watch])

    assert [s.healthy for s in reports.seen] == [True]
    assert not script.failed.is_set()


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(None, id="none"),
        pytest.param(
            HealthCheck(type=HealthCheckType.HTTP, http=HTTPCheckInfo(port=80)), id="http"
        ),
    ],
)
async def test_no_watch_without_a_command_check(reports, check):
    script = Script()
    watch = start_health_watch(
        launch_with(check), exec=script, report=reports, on_failed=script.on_failed, name="h"
    )
    assert watch is None
