"""DockerContainerizer on a real private dockerd: launch, labels, static IPs, exits, kill,
health checks, volumes, close. Container IPs are inspected, never connected to."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.docker import DockerEngine
from adapters.mesos import (
    AgentID,
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    DockerNetwork,
    DurationInfo,
    HealthCheck,
    HealthCheckType,
    IPAddress,
    KillPolicy,
    Label,
    Labels,
    NetworkInfo,
    Parameter,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatusReason,
    Volume,
    VolumeMode,
)
from localcluster.mesos.containerizer import Launch
from localcluster.mesos.docker import BridgeNetwork, DockerContainerizer, container_spec

AGENT = "agent-1"


def launch_of(
    image: str,
    command: CommandInfo | None,
    *,
    network: NetworkInfo | None = None,
    volumes: list[Volume] | None = None,
    health: HealthCheck | None = None,
    agent: str = AGENT,
) -> Launch:
    task_id = f"task-{uuid.uuid4().hex[:8]}"
    docker = DockerInfo(image=image, network=DockerNetwork.USER if network else DockerNetwork.HOST)
    task = TaskInfo(
        name="t",
        task_id=TaskID(value=task_id),
        agent_id=AgentID(value=agent),
        command=command,
        container=ContainerInfo(
            type=ContainerType.DOCKER,
            docker=docker,
            network_infos=[network] if network else [],
            volumes=volumes or [],
        ),
        health_check=health,
        labels=Labels(labels=[Label(key="app", value="web")]),
    )
    return Launch(task=task, agent_id=agent, hostname="h1", framework_id="fw-1", ports=(31000,))


def health(value: str, *, failures: int = 2) -> HealthCheck:
    return HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(value=value),
        delay_seconds=0.0,
        interval_seconds=0.2,
        timeout_seconds=10.0,
        consecutive_failures=failures,
        grace_period_seconds=0.0,
    )


@pytest.mark.parametrize(
    ("command", "cmd", "entrypoint"),
    [
        pytest.param(
            CommandInfo(shell=False, arguments=["300"]), ("300",), ("/bin/sleep",), id="argv"
        ),
        pytest.param(
            CommandInfo(value="sleep 300"), ("sleep 300",), ("/bin/sh", "-c"), id="shell-wins"
        ),
    ],
)
def test_the_entrypoint_parameter_replaces_the_image_entrypoint(command, cmd, entrypoint):
    launch = launch_of("dcos-test/busybox:1", command)
    container = launch.task.container
    assert container is not None and container.docker is not None
    docker = container.docker.model_copy(
        update={"parameters": [Parameter(key="entrypoint", value="/bin/sleep")]}
    )
    container = container.model_copy(update={"docker": docker})
    launch = replace(launch, task=launch.task.model_copy(update={"container": container}))

    spec = container_spec(launch)

    assert (spec.command, spec.entrypoint) == (cmd, entrypoint)


@pytest.fixture
def bridge() -> BridgeNetwork:
    """A VLAN-like network with this host's /28 block as ip-range; subnet varies per test."""
    octet = random.randrange(1, 250)
    return BridgeNetwork(
        name=f"vlan-{octet}",
        subnet=f"10.200.{octet}.0/24",
        ip_range=f"10.200.{octet}.16/28",
        gateway=f"10.200.{octet}.1",
    )


@pytest.fixture
async def containerizer(docker_engine: DockerEngine, bridge: BridgeNetwork):
    runner = DockerContainerizer(docker_engine, networks=[bridge])
    yield runner
    await runner.close()
    await docker_engine.remove_network(bridge.name)


async def containers_of(engine: DockerEngine, launch: Launch):
    return await engine.containers(labels={"dcos.task_id": launch.task.task_id.value})


async def test_task_runs_labelled_on_its_network_with_its_ip_and_kill_removes_it(
    containerizer, docker_engine, reports, busybox_image, bridge
):
    ip = bridge.subnet.replace(".0/24", ".17")
    network = NetworkInfo(name=bridge.name, ip_addresses=[IPAddress(ip_address=ip)])
    launch = launch_of(busybox_image, CommandInfo(value="sleep 300"), network=network)
    task_id = launch.task.task_id.value

    await containerizer.launch(launch, reports)
    running = await reports.wait_state(task_id, TaskState.TASK_RUNNING)

    assert running.ip_address == ip
    [container] = await containers_of(docker_engine, launch)
    assert container.name == f"mesos-{AGENT}-{task_id}"
    assert container.labels == {
        "app": "web",
        "dcos.task_id": task_id,
        "dcos.agent_id": AGENT,
        "dcos.framework_id": "fw-1",
    }
    details = await docker_engine.inspect_container(container.id)
    assert details.state == "running"
    assert details.ip_addresses == {bridge.name: ip}

    await containerizer.kill(task_id, grace_seconds=1)

    assert reports.states(task_id) == [
        TaskState.TASK_STARTING,
        TaskState.TASK_RUNNING,
        TaskState.TASK_KILLED,
    ]
    assert await containers_of(docker_engine, launch) == []


@pytest.mark.parametrize(
    ("script", "state", "message"),
    [
        pytest.param("exit 3", TaskState.TASK_FAILED, "exited with code 3", id="exit-3"),
        pytest.param("true", TaskState.TASK_FINISHED, "exited with code 0", id="exit-0"),
    ],
)
async def test_exit_code_decides_the_terminal_state_and_the_container_goes(
    containerizer, docker_engine, reports, busybox_image, script, state, message
):
    launch = launch_of(busybox_image, CommandInfo(value=script))
    task_id = launch.task.task_id.value

    await containerizer.launch(launch, reports)
    status = await reports.wait_for(lambda s: s.task_id == task_id and s.state == state)

    assert status.message == message
    assert reports.states(task_id) == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, state]
    assert await containers_of(docker_engine, launch) == []


async def test_a_missing_image_fails_the_launch(containerizer, reports, dockerd):
    launch = launch_of("dcos-test/absent:1", CommandInfo(value="true"))

    await containerizer.launch(launch, reports)

    failed = await reports.wait_state(launch.task.task_id.value, TaskState.TASK_FAILED)
    assert failed.reason == TaskStatusReason.REASON_CONTAINER_LAUNCH_FAILED
    assert failed.message.startswith(
        "Failed to launch container: image dcos-test/absent:1 is not on the agent's Docker engine"
    )
    assert reports.states(launch.task.task_id.value) == [TaskState.TASK_FAILED]


async def test_passing_health_check_reports_healthy(containerizer, reports, busybox_image):
    launch = launch_of(busybox_image, CommandInfo(value="sleep 300"), health=health("true"))
    task_id = launch.task.task_id.value

    await containerizer.launch(launch, reports)
    healthy = await reports.wait_health(task_id, True)

    assert healthy.state == TaskState.TASK_RUNNING
    assert healthy.reason == TaskStatusReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
    await containerizer.kill(task_id, grace_seconds=0)
    assert [s.healthy for s in reports.seen if s.healthy is not None] == [True]


async def test_failing_health_check_reports_unhealthy_then_kills(
    containerizer, docker_engine, reports, busybox_image
):
    launch = launch_of(
        busybox_image, CommandInfo(value="sleep 300"), health=health("false", failures=2)
    )
    no_grace = KillPolicy(grace_period=DurationInfo(nanoseconds=0))  # sleep ignores SIGTERM
    launch = replace(launch, task=launch.task.model_copy(update={"kill_policy": no_grace}))
    task_id = launch.task.task_id.value

    await containerizer.launch(launch, reports)
    unhealthy = await reports.wait_health(task_id, False)
    killed = await reports.wait_state(task_id, TaskState.TASK_KILLED)

    assert unhealthy.state == TaskState.TASK_RUNNING
    assert killed.healthy is False
    assert await containers_of(docker_engine, launch) == []


async def test_host_volume_and_environment_are_visible_inside(
    containerizer, docker_engine, reports, busybox_image, tmp_path: Path
):
    (tmp_path / "hello").write_text("from the host\n")
    volume = Volume(mode=VolumeMode.RO, container_path="/data", host_path=str(tmp_path))
    launch = launch_of(busybox_image, CommandInfo(value="sleep 300"), volumes=[volume])
    await containerizer.launch(launch, reports)
    await reports.wait_state(launch.task.task_id.value, TaskState.TASK_RUNNING)
    [container] = await containers_of(docker_engine, launch)

    read = await docker_engine.exec(container.id, ["sh", "-c", 'cat /data/hello; echo "$PORT0"'])
    write = await docker_engine.exec(container.id, ["touch", "/data/new"])

    assert (read.exit_code, read.output) == (0, b"from the host\n31000\n")
    assert write.exit_code != 0  # mounted read-only
    details = await docker_engine.inspect_container(container.id)
    assert [(m.host_path, m.container_path, m.read_only) for m in details.mounts] == [
        (str(tmp_path), "/data", True)
    ]


async def test_close_removes_every_container_and_reports_nothing_more(
    docker_engine, reports, busybox_image
):
    runner = DockerContainerizer(docker_engine)
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    command = CommandInfo(value="sleep 300")
    launches = [launch_of(busybox_image, command, agent=agent) for _ in range(3)]
    for launch in launches:
        await runner.launch(launch, reports)
    assert len(await docker_engine.containers(labels={"dcos.agent_id": agent})) == 3

    await runner.close()

    assert await docker_engine.containers(labels={"dcos.agent_id": agent}) == []
    assert {s.state for s in reports.seen} == {TaskState.TASK_STARTING, TaskState.TASK_RUNNING}
