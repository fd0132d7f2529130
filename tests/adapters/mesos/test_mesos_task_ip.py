"""The TaskInfo of an instance with its own address, as JSON on the wire.

Pinned (the host's Docker engine is declared): the Docker network is USER,
``network_infos`` names the pool's Docker network with the address, and the
docker parameter ``ip`` pins it (``docker run --ip``). Not pinned: the
address is only a static request in ``network_infos`` and Docker stays on
BRIDGE. ``perContainerIp`` volumes mount ``hostPath/<ip>``. The direct
encoder and the models must agree (``adapters/mesos/encode.py``).
"""

from __future__ import annotations

from typing import Any

from adapters.mesos.encode import task_info_json
from adapters.mesos.model_base import to_json
from adapters.mesos.tasks import MesosWireCodec, build_task_info
from adapters.protocols import TaskLaunch
from crds.common import Port, Volume

CODEC = MesosWireCodec()


def launch(**changes: Any) -> TaskLaunch:
    values: dict[str, Any] = {
        "task_id": "shop.web.0123abcd.00000001",
        "name": "web.shop",
        "agent_id": "S1",
        "role": "shop",
        "reserved": False,
        "cpus": 0.5,
        "mem": 64.0,
        "disk": 0.0,
        "image": "busybox:1",
        "command": ("/bin/web", "--serve"),
        "host_ports": (31001,),
        "container_ports": (Port(container_port=8080),),
        "volumes": (
            Volume(host_path="/data/logs/shop/web", container_path="/logs", per_container_ip=True),
            Volume(host_path="/etc/web", container_path="/etc/web", mode="RO"),
        ),
        **changes,
    }
    return TaskLaunch(**values)


def container(task: TaskLaunch) -> dict[str, Any]:
    wire = task_info_json(task)
    assert wire == to_json(build_task_info(task))  # the direct JSON is the model's
    assert CODEC.launch_operation([task]).wire()["launch"]["task_infos"] == [wire]
    return dict(wire["container"])


def test_a_pinned_address_joins_the_pools_user_network_with_the_ip_parameter() -> None:
    got = container(launch(ip="10.20.0.18", network="dcos-vlan20", pin_ip=True))
    assert got["docker"] == {
        "image": "busybox:1",
        "network": "USER",
        "port_mappings": [{"host_port": 31001, "container_port": 8080}],
        "parameters": [
            {"key": "entrypoint", "value": "/bin/web"},
            {"key": "ip", "value": "10.20.0.18"},
        ],
    }
    # ip_address alone: mesos.proto says protocol is not set with a static address.
    assert got["network_infos"] == [
        {"ip_addresses": [{"ip_address": "10.20.0.18"}], "name": "dcos-vlan20"}
    ]


def test_an_unpinned_address_is_a_static_request_on_the_bridge() -> None:
    got = container(launch(ip="10.20.0.18", network="dcos-vlan20"))
    assert got["docker"]["network"] == "BRIDGE"
    assert got["docker"]["parameters"] == [{"key": "entrypoint", "value": "/bin/web"}]
    assert got["docker"]["port_mappings"] == [{"host_port": 31001, "container_port": 8080}]
    assert got["network_infos"] == [
        {"ip_addresses": [{"ip_address": "10.20.0.18"}], "name": "dcos-vlan20"}
    ]


def test_per_container_ip_volumes_mount_the_addresss_directory() -> None:
    got = container(launch(ip="10.20.0.18", network="dcos-vlan20", pin_ip=True))
    assert got["volumes"] == [
        {"mode": "RW", "container_path": "/logs", "host_path": "/data/logs/shop/web/10.20.0.18"},
        {"mode": "RO", "container_path": "/etc/web", "host_path": "/etc/web"},
    ]


def test_without_an_address_nothing_changes() -> None:
    got = container(launch(pin_ip=False))
    assert got["docker"]["network"] == "BRIDGE"
    assert got["network_infos"] == []
    assert got["volumes"][0]["host_path"] == "/data/logs/shop/web"
