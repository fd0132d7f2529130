"""Two hosts' Docker engines behind one local master: tasks on a pool's USER network.

Two private dockerds stand for two hosts; each agent of the master runs its
tasks on its own engine. The pool network is made in the test on each engine
the way the Host controller makes it (the pool's subnet and gateway, the
host's block as ip-range). Container addresses are assigned and inspected,
never connected to: health checks run inside the containers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.docker import DockerEngine
from adapters.mesos import (
    CommandInfo,
    DurationInfo,
    HealthCheck,
    HealthCheckType,
    HTTPCheckInfo,
    KillPolicy,
    NetworkInfo,
    Parameter,
    TaskState,
    TaskStatusReason,
    TCPCheckInfo,
)
from localcluster.dockerd import DockerDaemon
from localcluster.mesos.containerizer import Launch
from localcluster.mesos.docker import DockerContainerizer, in_container_check
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec
from tests.localcluster.conftest import Reports
from tests.localcluster.test_docker_containerizer import launch_of
from tests.localcluster.test_mesos_master_wire import (
    Scheduler,
    framework_info,
    settings,
    wait_for,
)

SUBNET = "172.31.240.0/24"
GATEWAY = "172.31.240.1"
BLOCKS = ("172.31.240.16/28", "172.31.240.32/28")
"""The ip-range of host 1 and of host 2 on the pool network."""


@dataclass(frozen=True)
class Hosts:
    """Two engines, each with the pool network over its own block."""

    network: str
    engines: tuple[DockerEngine, DockerEngine]
    sockets: tuple[str, str]


@pytest.fixture
async def hosts(
    dockerd: DockerDaemon, second_dockerd: DockerDaemon, busybox_image: str
) -> AsyncIterator[Hosts]:
    name = f"pool-{uuid.uuid4().hex[:6]}"
    sockets = (str(dockerd.socket_path), str(second_dockerd.socket_path))
    async with DockerEngine(sockets[0]) as one, DockerEngine(sockets[1]) as two:
        for engine, block in zip((one, two), BLOCKS, strict=True):
            await engine.ensure_network(name, subnet=SUBNET, ip_range=block, gateway=GATEWAY)
        yield Hosts(name, (one, two), sockets)
        for engine in (one, two):
            await engine.remove_network(name)


def docker_task(
    task_id: str, agent_id: str, image: str, network: str, ip: str | None
) -> dict[str, Any]:
    """A TaskInfo as the framework sends it for an instance with a pool IP on a docker host."""
    docker: dict[str, Any] = {"image": image, "network": "USER"}
    address: dict[str, Any] = {"protocol": "IPv4"}
    if ip is not None:
        docker["parameters"] = [{"key": "ip", "value": ip}]
        address["ip_address"] = ip
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": 'echo "$HOST" > /logs/started && exec sleep 300'},
        "container": {
            "type": "DOCKER",
            "docker": docker,
            "network_infos": [{"name": network, "ip_addresses": [address]}],
            "volumes": [
                {"container_path": "/logs", "host_path": f"/data/logs/web/{ip}", "mode": "RW"}
            ],
        },
    }


@pytest.fixture
async def master(hosts: Hosts, tmp_path: Path) -> AsyncIterator[LocalMaster]:
    """Agents h1.dc1 and h2.dc1, each on its own engine; host paths under ``tmp_path/<host>``."""
    agents = (
        AgentSpec(hostname="h1.dc1", cpus=2, mem=1024, docker_socket=hosts.sockets[0]),
        AgentSpec(hostname="h2.dc1", cpus=2, mem=1024, docker_socket=hosts.sockets[1]),
    )
    configured = settings(agents=agents, containerizer="docker", docker_host_root=str(tmp_path))
    async with LocalMaster(configured) as started:
        yield started


@pytest.fixture
async def framework(master: LocalMaster) -> AsyncIterator[Scheduler]:
    async with httpx.AsyncClient(base_url=master.url, timeout=10) as http:
        scheduler = Scheduler(http)
        await scheduler.subscribe(framework_info())
        yield scheduler
        await scheduler.close()


async def running(framework: Scheduler, task_id: str) -> dict[str, Any]:
    """TASK_RUNNING of ``task_id``, its STARTING acknowledged first."""
    await framework.ack(await framework.update(task_id, "TASK_STARTING", within=30))
    status = await framework.update(task_id, "TASK_RUNNING", within=30)
    await framework.ack(status)
    return status


async def test_each_agent_runs_its_task_on_its_own_engine_at_the_requested_ip(
    hosts: Hosts, framework: Scheduler, busybox_image: str, tmp_path: Path
) -> None:
    offers: dict[str, dict[str, Any]] = {}
    while len(offers) < 2:  # one OFFERS event may hold one agent or both
        offers |= {o["hostname"]: o for o in await framework.offers()}
    wanted = {"h1.dc1": "172.31.240.17", "h2.dc1": "172.31.240.33"}
    for hostname, ip in wanted.items():
        offer = offers[hostname]
        task = docker_task(
            f"web-{hostname[:2]}", offer["agent_id"]["value"], busybox_image, hosts.network, ip
        )
        assert (await framework.launch(offer, task)).status_code == 202

    for engine, (hostname, ip) in zip(hosts.engines, wanted.items(), strict=True):
        task_id = f"web-{hostname[:2]}"
        status = await running(framework, task_id)
        assert status["container_status"]["network_infos"] == [
            {"name": hosts.network, "ip_addresses": [{"ip_address": ip}]}
        ]
        [container] = await engine.containers(labels={"dcos.task_id": task_id})
        details = await engine.inspect_container(container.id)
        assert (details.state, details.ip_addresses) == ("running", {hosts.network: ip})
        logs = tmp_path / hostname / "data/logs/web" / ip  # the host's own tree, per IP
        assert [(m.host_path, m.container_path) for m in details.mounts] == [(str(logs), "/logs")]
        await wait_for((logs / "started").is_file)
        assert (logs / "started").read_text() == f"{hostname}\n"
    # each container is on its own host's engine only
    for engine, other in zip(hosts.engines, ("web-h2", "web-h1"), strict=True):
        assert await engine.containers(labels={"dcos.task_id": other}) == []


async def test_a_network_missing_on_the_agents_engine_fails_the_task_naming_it(
    hosts: Hosts, framework: Scheduler, busybox_image: str
) -> None:
    offer = (await framework.offers())[0]
    task = docker_task(
        "lost", offer["agent_id"]["value"], busybox_image, "vlan-absent", "172.31.240.18"
    )
    await framework.launch(offer, task)

    await framework.ack(await framework.update("lost", "TASK_STARTING", within=30))
    failed = await framework.update("lost", "TASK_FAILED", within=30)

    assert failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed["message"].startswith(
        "Failed to launch container: network vlan-absent not found on the agent's Docker engine"
    )
    for engine in hosts.engines:
        assert await engine.containers(labels={"dcos.task_id": "lost"}) == []


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        pytest.param(
            "172.31.240.100",
            "Invalid address 172.31.240.100: it is outside the ip-range 172.31.240.16/28",
            id="outside-the-block",
        ),
        pytest.param("172.31.240.17", "Address already in use", id="taken"),
        pytest.param("10.9.9.9", "does not belong to any of this network's subnets", id="subnet"),
    ],
)
async def test_an_address_the_host_cannot_give_fails_the_task_with_the_reason(
    hosts: Hosts, busybox_image: str, reports: Reports, ip: str, message: str
) -> None:
    one = hosts.engines[0]
    runner = DockerContainerizer(hosts.engines[1], engines={"h1": one})
    try:
        holder = user_launch(busybox_image, hosts.network, "172.31.240.17")
        await runner.launch(holder, reports)
        await reports.wait_state(holder.task.task_id.value, TaskState.TASK_RUNNING)
        launch = user_launch(busybox_image, hosts.network, ip)

        await runner.launch(launch, reports)

        task_id = launch.task.task_id.value
        failed = await reports.wait_state(task_id, TaskState.TASK_FAILED)
        assert failed.reason == TaskStatusReason.REASON_CONTAINER_LAUNCH_FAILED
        assert failed.message.startswith("Failed to launch container: ")
        assert message in failed.message
        assert await one.containers(labels={"dcos.task_id": task_id}) == []
    finally:
        await runner.close()


def user_launch(
    image: str,
    network: str,
    ip: str,
    *,
    command: str = "sleep 300",
    check: HealthCheck | None = None,
) -> Launch:
    """A launch on agent ``h1`` asking for ``ip`` on ``network`` through the ``ip`` parameter."""
    launch = launch_of(image, CommandInfo(value=command), network=NetworkInfo(name=network))
    container = launch.task.container
    assert container is not None and container.docker is not None
    docker = container.docker.model_copy(update={"parameters": [Parameter(key="ip", value=ip)]})
    task = launch.task.model_copy(
        update={"container": container.model_copy(update={"docker": docker}), "health_check": check}
    )
    return replace(launch, task=task, hostname="h1")


def probe(kind: HealthCheckType, port: int) -> HealthCheck:
    return HealthCheck(
        type=kind,
        http=HTTPCheckInfo(port=port, path="/index.html") if kind == HealthCheckType.HTTP else None,
        tcp=TCPCheckInfo(port=port) if kind == HealthCheckType.TCP else None,
        delay_seconds=0.0,
        interval_seconds=0.2,
        timeout_seconds=5.0,
        consecutive_failures=3,
        grace_period_seconds=5.0,
    )


SERVE = "echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"


@pytest.mark.parametrize("kind", [HealthCheckType.HTTP, HealthCheckType.TCP])
async def test_http_and_tcp_checks_run_inside_the_container_on_a_user_network(
    hosts: Hosts, busybox_image: str, reports: Reports, kind: HealthCheckType
) -> None:
    runner = DockerContainerizer(hosts.engines[1], engines={"h1": hosts.engines[0]})
    try:
        launch = user_launch(
            busybox_image, hosts.network, "172.31.240.20", command=SERVE, check=probe(kind, 8080)
        )
        task_id = launch.task.task_id.value

        await runner.launch(launch, reports)
        healthy = await reports.wait_health(task_id, True)

        assert healthy.state == TaskState.TASK_RUNNING
        assert healthy.ip_address == "172.31.240.20"
    finally:
        await runner.close()


async def test_a_closed_port_fails_the_check_and_kills_the_task(
    hosts: Hosts, busybox_image: str, reports: Reports
) -> None:
    runner = DockerContainerizer(hosts.engines[1], engines={"h1": hosts.engines[0]})
    try:
        check = probe(HealthCheckType.TCP, 8081).model_copy(
            update={"grace_period_seconds": 0.0, "consecutive_failures": 2}
        )
        launch = user_launch(
            busybox_image, hosts.network, "172.31.240.21", command=SERVE, check=check
        )
        no_grace = KillPolicy(grace_period=DurationInfo(nanoseconds=0))  # httpd is PID 1
        launch = replace(launch, task=launch.task.model_copy(update={"kill_policy": no_grace}))
        task_id = launch.task.task_id.value

        await runner.launch(launch, reports)

        assert (await reports.wait_health(task_id, False)).state == TaskState.TASK_RUNNING
        killed = await reports.wait_state(task_id, TaskState.TASK_KILLED)
        assert killed.healthy is False
    finally:
        await runner.close()


@pytest.mark.parametrize(
    ("check", "command"),
    [
        pytest.param(
            HealthCheck(
                type=HealthCheckType.HTTP, http=HTTPCheckInfo(port=80, scheme="https", path="ok")
            ),
            "wget -q --no-check-certificate -O /dev/null https://127.0.0.1:80/ok",
            id="https",
        ),
        pytest.param(
            HealthCheck(type=HealthCheckType.HTTP, http=HTTPCheckInfo(port=8080)),
            "wget -q -O /dev/null http://127.0.0.1:8080/",
            id="http",
        ),
        pytest.param(
            HealthCheck(type=HealthCheckType.COMMAND, command=CommandInfo(value="true")),
            "true",
            id="command-unchanged",
        ),
    ],
)
def test_checks_become_commands_that_probe_the_containers_own_loopback(
    check: HealthCheck, command: str
) -> None:
    launch = launch_of("dcos-test/busybox:1", CommandInfo(value="true"), health=check)

    converted = in_container_check(launch).task.health_check

    assert converted is not None and converted.command is not None
    assert (converted.type, converted.command.value) == (HealthCheckType.COMMAND, command)
