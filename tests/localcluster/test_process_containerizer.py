"""ProcessContainerizer runs real local processes: env, exit codes, kill, health, close."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from adapters.mesos import (
    AgentID,
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    Environment,
    EnvironmentVariable,
    HealthCheck,
    HealthCheckType,
    Parameter,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatusReason,
)
from localcluster.mesos.containerizer import Launch
from localcluster.mesos.process import ProcessContainerizer

AGENT = "agent-1"


def launch_of(
    command: CommandInfo,
    *,
    ports=(),
    health: HealthCheck | None = None,
    container: ContainerInfo | None = None,
) -> Launch:
    task_id = f"task-{uuid.uuid4().hex[:8]}"
    task = TaskInfo(
        name="t",
        task_id=TaskID(value=task_id),
        agent_id=AgentID(value=AGENT),
        command=command,
        health_check=health,
        container=container,
    )
    return Launch(task=task, agent_id=AGENT, hostname="h1", framework_id="fw-1", ports=ports)


def health(value: str, *, failures: int = 2) -> HealthCheck:
    return HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(value=value),
        delay_seconds=0.0,
        interval_seconds=0.1,
        timeout_seconds=5.0,
        consecutive_failures=failures,
        grace_period_seconds=0.0,
    )


@pytest.fixture
async def containerizer(tmp_path: Path):
    runner = ProcessContainerizer(tmp_path / "state")
    yield runner
    await runner.close()


def sandbox(tmp_path: Path, launch: Launch) -> Path:
    return tmp_path / "state" / AGENT / launch.task.task_id.value


def living_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (those wait for init to reap them)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


async def wait_group_gone(pgid: int) -> None:
    """Until no living process is left in ``pgid`` (SIGKILL takes effect a moment later)."""
    async with asyncio.timeout(5):
        while True:
            if not living_members(pgid):
                return
            await asyncio.sleep(0.01)


async def group_of(tmp_path: Path, launch: Launch) -> int:
    """The task's process group, once its shell has written ``pid`` (polled, with a deadline)."""
    path = sandbox(tmp_path, launch) / "pid"
    async with asyncio.timeout(10):
        while True:
            if path.exists() and path.read_text().endswith("\n"):
                return int(path.read_text())
            await asyncio.sleep(0.01)


async def test_ports_and_command_environment_reach_the_process(containerizer, reports, tmp_path):
    env = Environment(variables=[EnvironmentVariable(name="GREETING", value="hello")])
    command = CommandInfo(
        value='echo "$PORT0 $PORT1 $PORTS $PORT $GREETING $MESOS_TASK_ID"', environment=env
    )
    launch = launch_of(command, ports=(31000, 31001))

    await containerizer.launch(launch, reports)
    finished = await reports.wait_state(launch.task.task_id.value, TaskState.TASK_FINISHED)

    assert finished.message == "exited with code 0"
    assert reports.states(launch.task.task_id.value) == [
        TaskState.TASK_STARTING,
        TaskState.TASK_RUNNING,
        TaskState.TASK_FINISHED,
    ]
    out = (sandbox(tmp_path, launch) / "stdout").read_text()
    assert out == f"31000 31001 31000,31001 31000 hello {launch.task.task_id.value}\n"


@pytest.mark.parametrize(
    ("command", "state", "message"),
    [
        pytest.param(
            CommandInfo(value="exit 3"), TaskState.TASK_FAILED, "exited with code 3", id="shell-3"
        ),
        pytest.param(
            CommandInfo(shell=False, value="/bin/sh", arguments=["sh", "-c", "exit 0"]),
            TaskState.TASK_FINISHED,
            "exited with code 0",
            id="argv-0",
        ),
        pytest.param(
            CommandInfo(value="kill -9 $$"),
            TaskState.TASK_FAILED,
            "killed by signal 9",
            id="signal",
        ),
    ],
)
async def test_exit_status_decides_the_terminal_state(
    containerizer, reports, command, state, message
):
    launch = launch_of(command)

    await containerizer.launch(launch, reports)
    status = await reports.wait_for(lambda s: s.state.name in ("TASK_FINISHED", "TASK_FAILED"))

    assert (status.state, status.message) == (state, message)


async def test_stderr_goes_to_the_sandbox(containerizer, reports, tmp_path):
    launch = launch_of(CommandInfo(value="echo oops >&2; exit 1"))

    await containerizer.launch(launch, reports)
    await reports.wait_state(launch.task.task_id.value, TaskState.TASK_FAILED)

    assert (sandbox(tmp_path, launch) / "stderr").read_text() == "oops\n"


async def test_a_docker_entrypoint_parameter_is_the_program(containerizer, reports, tmp_path):
    docker = DockerInfo(
        image="shop/cart:1", parameters=[Parameter(key="entrypoint", value="/bin/sh")]
    )
    container = ContainerInfo(type=ContainerType.DOCKER, docker=docker)
    command = CommandInfo(shell=False, arguments=["-c", "echo from-entrypoint > out"])
    launch = launch_of(command, container=container)

    await containerizer.launch(launch, reports)
    await reports.wait_state(launch.task.task_id.value, TaskState.TASK_FINISHED)

    assert (sandbox(tmp_path, launch) / "out").read_text() == "from-entrypoint\n"


async def test_a_missing_program_fails_the_launch(containerizer, reports):
    launch = launch_of(CommandInfo(shell=False, value="/nonexistent/program"))

    await containerizer.launch(launch, reports)

    failed = await reports.wait_state(launch.task.task_id.value, TaskState.TASK_FAILED)
    assert failed.reason == TaskStatusReason.REASON_CONTAINER_LAUNCH_FAILED
    assert reports.states(launch.task.task_id.value) == [TaskState.TASK_FAILED]


@pytest.mark.parametrize(
    "script",
    [
        pytest.param("exec sleep 300", id="terminates-on-sigterm"),
        pytest.param("trap '' TERM; sleep 300 & wait; sleep 300", id="ignores-sigterm"),
    ],
)
async def test_kill_stops_the_process_group_and_reports_killed(
    containerizer, reports, tmp_path, script
):
    launch = launch_of(CommandInfo(value=f"echo $$ > pid; {script}"))
    task_id = launch.task.task_id.value
    await containerizer.launch(launch, reports)
    await reports.wait_state(task_id, TaskState.TASK_RUNNING)
    pid = await group_of(tmp_path, launch)

    await containerizer.kill(task_id, grace_seconds=0.3)

    killed = await reports.wait_state(task_id, TaskState.TASK_KILLED)
    assert killed.message == "killed"
    assert reports.states(task_id)[-1] == TaskState.TASK_KILLED
    await wait_group_gone(pid)


async def test_kill_of_an_unknown_task_is_ignored(containerizer):
    await containerizer.kill("no-such-task")


async def test_passing_health_check_reports_healthy_once(containerizer, reports):
    launch = launch_of(CommandInfo(value="sleep 300"), health=health("test -d ."))
    task_id = launch.task.task_id.value

    await containerizer.launch(launch, reports)
    healthy = await reports.wait_health(task_id, True)

    assert healthy.state == TaskState.TASK_RUNNING
    assert healthy.reason == TaskStatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
    await containerizer.kill(task_id, grace_seconds=0.5)
    assert [s.healthy for s in reports.seen if s.healthy is not None] == [True]


async def test_failing_health_check_reports_unhealthy_then_kills(containerizer, reports):
    launch = launch_of(CommandInfo(value="sleep 300"), health=health("false", failures=2))
    task_id = launch.task.task_id.value

    await containerizer.launch(launch, reports)
    unhealthy = await reports.wait_health(task_id, False)
    killed = await reports.wait_state(task_id, TaskState.TASK_KILLED)

    assert unhealthy.state == TaskState.TASK_RUNNING
    assert killed.healthy is False
    assert [s.healthy for s in reports.seen if s.state == TaskState.TASK_RUNNING] == [None, False]


async def test_close_kills_everything_and_reports_nothing_more(tmp_path, reports):
    runner = ProcessContainerizer(tmp_path / "state")
    launches = [launch_of(CommandInfo(value="echo $$ > pid; exec sleep 300")) for _ in range(3)]
    for launch in launches:
        await runner.launch(launch, reports)
    groups = [await group_of(tmp_path, launch) for launch in launches]

    await runner.close()

    assert {s.state for s in reports.seen} == {TaskState.TASK_STARTING, TaskState.TASK_RUNNING}
    for pid in groups:
        await wait_group_gone(pid)
