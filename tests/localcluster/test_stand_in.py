"""Stand-ins: a task whose image the engine lacks runs as the stand-in image, answers
its health check, and keeps its labels; host paths rooted per agent."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from adapters.docker import ContainerSpec, Mount
from adapters.mesos import (
    AgentID,
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    DockerNetwork,
    HealthCheck,
    HealthCheckType,
    HTTPCheckInfo,
    TaskID,
    TaskInfo,
    TaskState,
    TCPCheckInfo,
)
from localcluster.mesos.containerizer import Launch, StatusReport
from localcluster.mesos.docker import DockerContainerizer
from localcluster.mesos.stand_in import (
    LABEL_STAND_IN,
    rooted,
    stand_in_check,
    stand_in_spec,
)

MISSING = "registry.example.com:5000/shop/cart:2.3.1@sha256:" + "ab" * 32
TIMING = {
    "delay_seconds": 0.0,
    "interval_seconds": 0.2,
    "timeout_seconds": 10.0,
    "grace_period_seconds": 30.0,
}


def launch_of(image: str, health: HealthCheck | None) -> Launch:
    task = TaskInfo(
        name="cart",
        task_id=TaskID(value=f"cart-{uuid.uuid4().hex[:8]}"),
        agent_id=AgentID(value="agent-1"),
        command=CommandInfo(shell=False, value="/opt/cart/bin/cart", arguments=["--port=8080"]),
        container=ContainerInfo(
            type=ContainerType.DOCKER,
            docker=DockerInfo(image=image, network=DockerNetwork.BRIDGE),
        ),
        health_check=health,
    )
    return Launch(task=task, agent_id="agent-1", hostname="sh1-r1-01", framework_id="fw-1")


def https(port: int = 8443, path: str = "/health") -> HealthCheck:
    return HealthCheck(
        type=HealthCheckType.HTTP,
        http=HTTPCheckInfo(scheme="https", port=port, path=path),
        **TIMING,
    )


def test_the_stand_in_serves_the_checked_port_and_keeps_the_task_s_identity() -> None:
    spec = ContainerSpec(name="c", image=MISSING, command=("--port=8080",), labels={"app": "cart"})
    ran = stand_in_spec(spec, launch_of(MISSING, https()), image="stand-in:1")
    assert ran.image == "stand-in:1" and ran.command == ()
    assert ran.entrypoint is not None and ran.entrypoint[:2] == ("/bin/sh", "-c")
    assert ran.labels == {"app": "cart", LABEL_STAND_IN: MISSING}
    assert (ran.env["DCOS_STAND_IN_PORTS"], ran.env["DCOS_STAND_IN_PATH"]) == ("8443", "/health")


@pytest.mark.parametrize(
    ("check", "url"),
    [
        pytest.param(https(), "http://127.0.0.1:8443/health", id="https-over-http"),
        pytest.param(
            HealthCheck(type=HealthCheckType.HTTP, http=HTTPCheckInfo(port=80, path="/a/b")),
            "http://127.0.0.1:80/a/b",
            id="http",
        ),
        pytest.param(
            HealthCheck(type=HealthCheckType.TCP, tcp=TCPCheckInfo(port=8081)),
            "http://127.0.0.1:8081/",
            id="tcp",
        ),
    ],
)
def test_a_stand_in_s_check_is_a_wget_inside_it(check: HealthCheck, url: str) -> None:
    converted = stand_in_check(launch_of(MISSING, check)).task.health_check
    assert converted is not None and converted.type == HealthCheckType.COMMAND
    assert converted.command is not None
    assert converted.command.value == f"wget -q -O /dev/null {url}"
    assert converted.http is None and converted.tcp is None


def test_a_command_check_and_no_check_stay_as_they_are() -> None:
    command = HealthCheck(type=HealthCheckType.COMMAND, command=CommandInfo(value="true"))
    for check in (command, None):
        launch = launch_of(MISSING, check)
        assert stand_in_check(launch) is launch


def test_host_paths_are_rooted_per_agent(tmp_path) -> None:
    spec = ContainerSpec(name="c", image="i", mounts=(Mount("/data/logs/cart", "/var/log"),))
    assert rooted(spec, tmp_path, "sh1-r1-01").mounts == (
        Mount(str(tmp_path / "sh1-r1-01" / "data/logs/cart"), "/var/log"),
    )


async def test_a_missing_image_runs_as_the_stand_in_and_turns_healthy(
    docker_engine, busybox_image
) -> None:
    reports: list[StatusReport] = []
    changed = asyncio.Event()

    async def report(status: StatusReport) -> None:
        reports.append(status)
        changed.set()

    async def until(predicate, within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                changed.clear()
                await changed.wait()

    containerizer = DockerContainerizer(docker_engine, stand_in=busybox_image)
    launch = launch_of(MISSING, https())
    task_id = launch.task.task_id.value
    try:
        await containerizer.launch(launch, report)
        await until(lambda: any(r.healthy is True for r in reports))
        assert [r.state for r in reports][:2] == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING]
        [container] = [
            c for c in await docker_engine.containers() if c.labels.get("dcos.task_id") == task_id
        ]
        assert container.state == "running"
        assert container.labels[LABEL_STAND_IN] == MISSING
        await containerizer.kill(task_id, grace_seconds=5.0)
        assert reports[-1].state == TaskState.TASK_KILLED
    finally:
        await containerizer.close()
