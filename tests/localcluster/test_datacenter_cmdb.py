"""The local data center's CMDB: the Hosts as NetBox's seed, the detached NetBox with its
token read from a file, and the controllers' command line without the token."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.protocols import DeviceStatus
from crds.host import Host
from localcluster.datacenter import (
    CMDB_ROLE,
    controller_argv,
    netbox_running,
    netbox_seed,
    spawn_netbox,
    stop_netbox,
    wait_netbox,
)
from localcluster.processes import cmdline, terminate

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def host(name: str, *, lifecycle: str = "Active", **spec: Any) -> Host:
    body: dict[str, Any] = {
        "lifecycle": lifecycle,
        "address": "10.0.0.1",
        "resources": {"cpus": 8, "mem": "16Gi"},
        **spec,
    }
    return Host.model_validate(
        {"apiVersion": "dcos/v1", "kind": "Host", "metadata": {"name": name}, "spec": body}
    )


def test_netbox_seed_maps_each_host_to_a_device() -> None:
    hosts = [
        host("b", lifecycle="Draining", address="10.0.0.2", attributes={"dc": "sh1"}),
        host("a", domain="checkout", attributes={"rack": "r1", "dc": "sh1"}),
        host("c", lifecycle="Decommissioned", address="10.0.0.3"),
    ]
    assert netbox_seed(hosts) == {
        "hosts": [
            {
                "name": "a",
                "site": "sh1",
                "role": CMDB_ROLE,
                "status": "active",
                "address": "10.0.0.1",
                "tags": ["dcos"],
                "rack": "r1",
                "domain": "checkout",
            },
            {
                "name": "b",
                "site": "sh1",
                "role": CMDB_ROLE,
                "status": "decommissioning",
                "address": "10.0.0.2",
                "tags": ["dcos"],
            },
            {
                "name": "c",
                "site": "local",
                "role": CMDB_ROLE,
                "status": "offline",
                "address": "10.0.0.3",
                "tags": ["dcos"],
            },
        ]
    }


def test_the_controllers_command_line_names_the_cmdb_and_the_config_not_the_token(
    tmp_path: Path,
) -> None:
    argv = controller_argv(
        identity="controller-a",
        etcd="http://127.0.0.1:2379",
        prefix="/dcos",
        mesos="http://127.0.0.1:5050",
        metrics_port=9101,
        lease_ttl=5,
        cmdb="http://127.0.0.1:8000",
        config=tmp_path / "controller.yaml",
    )
    assert argv[argv.index("--cmdb") + 1] == "http://127.0.0.1:8000"
    assert argv[argv.index("--config") + 1] == str(tmp_path / "controller.yaml")
    assert argv[argv.index("--cmdb-role") + 1] == CMDB_ROLE
    assert not any("token" in arg for arg in argv)
    without = controller_argv(
        identity=None, etcd="e", prefix="/p", mesos="m", metrics_port=1, lease_ttl=5
    )
    assert "--cmdb" not in without and "--config" not in without


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_detached_netbox_serves_the_seeded_hosts_with_the_token_from_a_file(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "cmdb.token"
    token_file.write_text(TOKEN + "\n")
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(
        yaml.safe_dump(netbox_seed([host("a", domain="checkout", attributes={"rack": "r1"})]))
    )
    port = _free_port()
    pid = spawn_netbox(
        db=tmp_path / "cmdb.sqlite",
        port=port,
        token_file=token_file,
        seed_file=seed_file,
        log_file=tmp_path / "netbox.log",
    )
    try:
        wait_netbox(pid, port=port, log_file=tmp_path / "netbox.log", timeout=30)
        assert netbox_running(pid)
        assert not any(TOKEN.encode() in arg for arg in cmdline(pid))

        async def devices() -> list[Any]:
            settings = CmdbSettings(url=f"http://127.0.0.1:{port}", token=TOKEN)
            async with NetboxCmdb(settings) as cmdb:
                return await cmdb.list_devices(role=CMDB_ROLE)

        [device] = asyncio.run(devices())
        assert (device.name, device.status, device.site, device.rack, device.domain) == (
            "a",
            DeviceStatus.ACTIVE,
            "local",
            "r1",
            "checkout",
        )
        assert device.address == IPv4Address("10.0.0.1")
        assert stop_netbox(pid)
        assert not netbox_running(pid)
        assert not stop_netbox(pid)  # nothing left to signal
    finally:
        terminate([pid], timeout=5)


def test_a_netbox_that_cannot_start_is_an_error_with_its_log(tmp_path: Path) -> None:
    token_file = tmp_path / "cmdb.token"
    token_file.write_text("not a token\n")
    port = _free_port()
    pid = spawn_netbox(
        db=tmp_path / "cmdb.sqlite",
        port=port,
        token_file=token_file,
        seed_file=None,
        log_file=tmp_path / "netbox.log",
    )
    with pytest.raises(RuntimeError, match=r"(?s)exited at start:.*40 lowercase hex digits"):
        wait_netbox(pid, port=port, log_file=tmp_path / "netbox.log", timeout=30)
