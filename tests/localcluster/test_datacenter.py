"""The local master's agents come from the Hosts of the specs; the private engine gets
the stand-in image."""

from __future__ import annotations

from typing import Any

import pytest

from crds.host import Host
from localcluster.datacenter import STAND_IN, prepare_docker
from localcluster.dockerd import DockerDaemon


def host(name: str, *, domain: str | None = None, lifecycle: str = "Active") -> Host:
    spec: dict[str, Any] = {
        "lifecycle": lifecycle,
        "address": "10.0.0.1",
        "attributes": {"rack": "r1", "dc": "sh1", "custom": {"cpu-model": "x"}},
        "resources": {"cpus": 8, "mem": "16Gi", "disk": 1000},
    }
    if domain:
        spec["domain"] = domain
    return Host.model_validate(
        {"apiVersion": "dcos/v1", "kind": "Host", "metadata": {"name": name}, "spec": spec}
    )


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        pytest.param([host("a")], ["a"], id="shared-pool-host"),
        pytest.param([host("a", domain="checkout")], ["a"], id="domain-host"),
        pytest.param(
            [host("b", domain="search"), host("a", lifecycle="Draining")],
            ["a", "b"],
            id="sorted",
        ),
        pytest.param([host("a", lifecycle="Decommissioned")], [], id="decommissioned-left-out"),
    ],
)
def test_cluster_from_hosts_starts_every_agent_unreserved(
    hosts: list[Host], expected: list[str]
) -> None:
    """The Domain controller reserves dynamically: no agent carries a static reservation."""
    from localcluster.datacenter import cluster_from_hosts

    agents = cluster_from_hosts(hosts)["agents"]
    assert [a["hostname"] for a in agents] == expected
    for agent in agents:
        assert "reservations" not in agent
        assert agent["attributes"] == {"cpu-model": "x", "rack": "r1", "dc": "sh1"}
        assert agent["resources"] == {"cpus": 8, "mem": 16384, "disk": 1000, "ports": "31000-32000"}
    # each at a loopback address of its own: two replicas' processes may take one port
    ips = [a["ip"] for a in agents]
    assert len(set(ips)) == len(ips) and all(ip.startswith("127.0.") for ip in ips)


def test_prepare_docker_imports_the_stand_in_and_names_the_missing_images(
    dockerd: DockerDaemon,
) -> None:
    images = ["registry.example.com:5000/shop/cart:1", STAND_IN, "registry.example.com/a:2"]
    missing = prepare_docker(dockerd.socket_path, images=images)
    assert missing == ["registry.example.com/a:2", "registry.example.com:5000/shop/cart:1"]
    assert prepare_docker(dockerd.socket_path, images=[STAND_IN]) == []  # imported once
