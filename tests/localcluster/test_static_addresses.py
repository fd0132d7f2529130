"""A task's requested static address in its TaskStatus with the sim and process
containerizers (nothing is made or connected to), and agents' own Docker engines
from flags and cluster files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mesos import (
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    IPAddress,
    NetworkInfo,
    TaskState,
)
from localcluster.mesos.__main__ import main, parser, settings_from
from localcluster.mesos.cluster import agents_from_flags, load_cluster, with_docker_sockets
from localcluster.mesos.process import ProcessContainerizer
from localcluster.mesos.server import LocalMaster
from tests.localcluster.conftest import Reports
from tests.localcluster.test_mesos_master_wire import (
    Scheduler,
    framework_info,
    settings,
    task_info,
)
from tests.localcluster.test_process_containerizer import launch_of

MESOS_NETWORK = {"name": "vlan-56", "ip_addresses": [{"ip_address": "172.20.56.18"}]}
"""A static address request, as the framework sends it to an agent without a Docker engine."""


async def test_a_sim_task_reports_the_static_address_it_asked_for() -> None:
    async with (
        LocalMaster(settings(agents=1)) as local,
        httpx.AsyncClient(base_url=local.url, timeout=10) as http,
    ):
        framework = Scheduler(http)
        try:
            await framework.subscribe(framework_info())
            offer = (await framework.offers())[0]
            container: dict[str, Any] = {"type": "MESOS", "network_infos": [MESOS_NETWORK]}
            plain = task_info("plain", offer["agent_id"]["value"])
            pinned = task_info("pinned", offer["agent_id"]["value"], container=container)
            await framework.launch(offer, pinned, plain)

            for task_id in ("pinned", "plain"):
                await framework.ack(await framework.update(task_id, "TASK_STARTING"))
            pinned_running = await framework.update("pinned", "TASK_RUNNING")
            plain_running = await framework.update("plain", "TASK_RUNNING")
        finally:
            await framework.close()

    assert pinned_running["container_status"]["network_infos"] == [MESOS_NETWORK]
    assert plain_running["container_status"]["network_infos"] == []


async def test_a_process_task_reports_its_requested_address_with_running(
    tmp_path: Path, reports: Reports
) -> None:
    network = NetworkInfo(name="vlan-56", ip_addresses=[IPAddress(ip_address="172.20.56.19")])
    container = ContainerInfo(type=ContainerType.MESOS, network_infos=[network])
    launch = launch_of(CommandInfo(value="sleep 30"), container=container)
    task_id = launch.task.task_id.value
    runner = ProcessContainerizer(tmp_path / "state")
    try:
        await runner.launch(launch, reports)
        running = await reports.wait_state(task_id, TaskState.TASK_RUNNING)
    finally:
        await runner.close()

    assert running.ip_address == "172.20.56.19"


async def test_a_docker_ip_parameter_counts_as_the_request_too(
    tmp_path: Path, reports: Reports
) -> None:
    docker = DockerInfo(image="x", parameters=[{"key": "ip", "value": "172.20.56.20"}])
    container = ContainerInfo(type=ContainerType.DOCKER, docker=docker)
    launch = launch_of(CommandInfo(value="sleep 30"), container=container)
    runner = ProcessContainerizer(tmp_path / "state")
    try:
        await runner.launch(launch, reports)
        running = await reports.wait_state(launch.task.task_id.value, TaskState.TASK_RUNNING)
    finally:
        await runner.close()

    assert running.ip_address == "172.20.56.20"


def test_each_agent_may_name_its_own_docker_engine_on_the_command_line() -> None:
    args = parser().parse_args(
        [
            "--agents=3",
            "--docker-socket=/run/default.sock",
            "--agent-docker-socket=agent-002.local=/run/h2/docker.sock",
        ]
    )

    built = settings_from(args)

    assert built.docker_sockets() == {
        "agent-001.local": "/run/default.sock",
        "agent-002.local": "/run/h2/docker.sock",
        "agent-003.local": "/run/default.sock",
    }


def test_a_cluster_file_names_an_agents_docker_engine(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "agents:\n  - {hostname: h1.dc1, docker_socket: /run/h1.sock}\n  - {hostname: h2.dc1}\n"
    )

    agents = load_cluster(path)

    assert [(a.hostname, a.docker_socket) for a in agents] == [
        ("h1.dc1", "/run/h1.sock"),
        ("h2.dc1", None),
    ]


@pytest.mark.parametrize(
    ("assignment", "error"),
    [
        pytest.param(
            "agent-009.local=/run/x.sock",
            "--agent-docker-socket names no agent: agent-009.local",
            id="unknown-agent",
        ),
        pytest.param(
            "/run/x.sock",
            "--agent-docker-socket expects HOSTNAME=SOCKET, got '/run/x.sock'",
            id="form",
        ),
    ],
)
def test_a_bad_agent_docker_socket_is_one_line(
    assignment: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="--agent-docker-socket"):
        with_docker_sockets(agents_from_flags(2), [assignment])

    assert main(["--agents=2", f"--agent-docker-socket={assignment}"]) == 2
    assert capsys.readouterr().err == f"error: {error}\n"
