"""DockerHostReader against the run's private dockerd: daemon options from /info,
the bridge's IPAM config from /networks, and only the task-labelled containers."""

from __future__ import annotations

import random
import uuid
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from adapters.docker import ContainerSpec, DockerEngine
from adapters.docker_host import TASK_ID_LABEL, DockerHostReader, EngineEndpoint, parse_state
from adapters.protocols import NetworkPlan
from crds.errors import DockerError


async def test_read_state_reports_options_bridge_and_labelled_containers(
    docker_engine: DockerEngine, dockerd, busybox_image: str
) -> None:
    name = f"host-{uuid.uuid4().hex[:8]}"
    octet = random.randint(1, 250)
    await docker_engine.ensure_network(
        name,
        subnet=f"10.204.{octet}.0/24",
        ip_range=f"10.204.{octet}.16/28",
        gateway=f"10.204.{octet}.1",
    )
    ids = []
    try:
        for labels, ip in (({TASK_ID_LABEL: "cart.1", "x": "y"}, 17), ({"other": "1"}, 18)):
            spec = ContainerSpec(
                name=f"{name}-{ip}",
                image=busybox_image,
                command=("sleep", "300"),
                labels=labels,
                network=name,
                ip_address=f"10.204.{octet}.{ip}",
            )
            ids.append(await docker_engine.create_container(spec))
        await docker_engine.start_container(ids[0])

        async with DockerHostReader(EngineEndpoint(dockerd.url), network=name) as reader:
            state = await reader.read_state()
    finally:
        for container_id in ids:
            await docker_engine.remove_container(container_id)
        await docker_engine.remove_network(name)

    with open("/proc/sys/net/ipv4/ip_forward") as sysctl:  # noqa: ASYNC230 a tiny proc file
        forwarding = sysctl.read().strip() == "1"
    assert (state.storage_driver, state.logging_driver) == ("vfs", "json-file")
    assert state.ip_forward is forwarding
    assert state.iptables is None  # this engine does not report it
    assert state.bridge is not None
    assert state.bridge.subnet == IPv4Network(f"10.204.{octet}.0/24")
    assert state.bridge.ip_range == IPv4Network(f"10.204.{octet}.16/28")
    assert state.bridge.gateway == IPv4Address(f"10.204.{octet}.1")
    [task] = [c for c in state.containers if c.id == ids[0]]
    assert [c.id for c in state.containers if c.id in ids] == [ids[0]]
    assert task.name == f"{name}-17"
    assert task.labels == {TASK_ID_LABEL: "cart.1", "x": "y"}
    assert task.state == "running"
    assert task.ip == IPv4Address(f"10.204.{octet}.17")


async def test_a_missing_bridge_is_none(dockerd) -> None:
    async with DockerHostReader(EngineEndpoint(dockerd.url), network="no-such-net") as reader:
        assert (await reader.read_state()).bridge is None


async def test_an_engine_that_does_not_answer_is_a_docker_error(tmp_path: Path) -> None:
    async with DockerHostReader(EngineEndpoint(f"unix://{tmp_path}/none.sock")) as reader:
        with pytest.raises(DockerError, match=r"none\.sock"):
            await reader.read_state()


@pytest.mark.parametrize("url", ["http://10.0.0.5:2376", "/var/run/docker.sock", "unix://"])
def test_an_endpoint_that_is_neither_unix_nor_tcp_is_refused(url: str) -> None:
    with pytest.raises(DockerError, match="must be unix:///PATH or tcp://HOST:PORT"):
        DockerHostReader(EngineEndpoint(url))


def test_tcp_with_missing_tls_files_is_refused(tmp_path: Path) -> None:
    endpoint = EngineEndpoint("tcp://127.0.0.1:2376", ca_file=str(tmp_path / "ca.pem"))
    with pytest.raises(DockerError, match="TLS files"):
        DockerHostReader(endpoint)


def test_parse_state_reads_the_firewall_backend_and_the_default_bridge() -> None:
    info = {"Driver": "overlay2", "LoggingDriver": "journald", "IPv4Forwarding": False}
    bridge = {
        "Name": "bridge",
        "IPAM": {
            "Config": [
                {"Subnet": "fd00::/64"},
                {
                    "Subnet": "10.20.0.0/22",
                    "IPRange": "10.20.0.16/28",
                    "Gateway": "10.20.0.2",
                    "AuxiliaryAddresses": {"DefaultGatewayIPv4": "10.20.0.1"},
                },
            ]
        },
    }
    state = parse_state(
        info | {"FirewallBackend": {"Driver": "iptables"}}, [bridge], [], network="bridge"
    )

    assert (state.storage_driver, state.logging_driver) == ("overlay2", "journald")
    assert (state.iptables, state.ip_forward) == (True, False)
    assert state.bridge is not None
    assert state.bridge.ip_range == IPv4Network("10.20.0.16/28")
    assert state.bridge.gateway == IPv4Address("10.20.0.2")
    assert state.bridge.default_gateway == IPv4Address("10.20.0.1")
    assert parse_state({}, [], [], network="bridge").ip_forward is None


async def test_ensure_network_creates_a_missing_network_and_leaves_an_existing_one(
    docker_engine: DockerEngine, dockerd
) -> None:
    name = f"pool-{uuid.uuid4().hex[:8]}"
    octet = random.randint(1, 250)
    plan = NetworkPlan(
        name=name,
        subnet=IPv4Network(f"10.206.{octet}.0/24"),
        ip_range=IPv4Network(f"10.206.{octet}.32/28"),
        gateway=IPv4Address(f"10.206.{octet}.1"),
        labels={"dcos.pool": "v206"},
    )
    try:
        async with DockerHostReader(EngineEndpoint(dockerd.url)) as reader:
            first = await reader.ensure_network(plan)
            again = await reader.ensure_network(plan)
            other = NetworkPlan(
                name=name,
                subnet=plan.subnet,
                ip_range=IPv4Network(f"10.206.{octet}.48/28"),
                gateway=plan.gateway,
            )
            kept = await reader.ensure_network(other)  # never changed: reported as found
        [found] = [n for n in await docker_engine.networks() if n.name == name]
    finally:
        await docker_engine.remove_network(name)
    assert first.created and not again.created and not kept.created
    assert (first.observed.subnet, first.observed.ip_range, first.observed.gateway) == (
        plan.subnet,
        plan.ip_range,
        plan.gateway,
    )
    assert kept.observed == first.observed
    assert (found.subnet, found.ip_range) == (f"10.206.{octet}.0/24", f"10.206.{octet}.32/28")


async def test_ensure_network_on_an_engine_that_does_not_answer_is_a_docker_error(
    tmp_path: Path,
) -> None:
    plan = NetworkPlan(
        "x", IPv4Network("10.0.0.0/24"), IPv4Network("10.0.0.16/28"), IPv4Address("10.0.0.1")
    )
    async with DockerHostReader(EngineEndpoint(f"unix://{tmp_path}/none.sock")) as reader:
        with pytest.raises(DockerError, match="network x"):
            await reader.ensure_network(plan)
