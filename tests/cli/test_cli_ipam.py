"""ipam check against the run's etcd (and its private dockerd): leaks found after
two sightings and released by --repair, conflicts only reported, json output."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path

from typer.testing import Result

from adapters.docker import ContainerSpec, DockerEngine
from adapters.docker_host import TASK_ID_LABEL
from adapters.etcd import EtcdIpam, EtcdSettings, open_store
from crds.ippool import IPPoolSpec
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.records import InstanceRecords
from reconciler.ipam import Ipam

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]

MANIFESTS = """\
apiVersion: dcos/v1
kind: IPPool
metadata:
  name: v120
spec:
  vlan: 120
  cidr: {net}.0/24
  gateway: {net}.1
---
apiVersion: dcos/v1
kind: Host
metadata:
  name: h1
spec:
  address: 10.0.0.5
  resources:
    cpus: 8
    mem: 16Gi
{engine}"""

NET = "10.120.0"
SPEC = IPPoolSpec.model_validate({"vlan": 120, "cidr": f"{NET}.0/24", "gateway": f"{NET}.1"})


def apply(dcosctl: Cli, tmp_path: Path, *, net: str = NET, engine: str = "") -> None:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(MANIFESTS.format(net=net, engine=engine))
    result = dcosctl("apply", "-f", str(path))
    assert result.exit_code == 0, result.output


def record(owner: str, ip: str | None, state: InstanceState = InstanceState.RUNNING) -> Instance:
    return Instance(
        instance_id=owner,
        domain="shop",
        app="cart",
        version="v1",
        state=state,
        hostname="h1",
        ip=ip,
        launched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def seed(
    endpoint: str,
    prefix: str,
    owners: list[str],
    instances: list[Instance],
    spec: IPPoolSpec = SPEC,
    host: str = "h1",
) -> dict[str, IPv4Address]:
    """Allocate for ``owners`` through IPAM and write ``instances`` as the framework does."""

    async def go() -> dict[str, IPv4Address]:
        async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix)) as store:
            ipam = Ipam(EtcdIpam(store))
            got = {
                o: await ipam.allocate_ip(pool="v120", spec=spec, host=host, owner=o)
                for o in owners
            }
            records = InstanceRecords(store)
            for inst in instances:
                records.put(inst)
            await records.flush()
            return got

    return asyncio.run(go())


def listing(endpoint: str, prefix: str) -> dict[str, float | None]:
    async def go() -> dict[str, float | None]:
        async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix)) as store:
            found = await EtcdIpam(store).list_allocations("v120")
            return {a.owner: a.released_at for a in found.ips}

    return asyncio.run(go())


def test_a_clean_pool_exits_0_and_names_hosts_without_an_engine(
    dcosctl: Cli, tmp_path: Path, etcd_endpoint: str, prefix: str
) -> None:
    apply(dcosctl, tmp_path)
    ips = seed(etcd_endpoint, prefix, ["a", "b"], [])
    seed(etcd_endpoint, prefix, [], [record("a", str(ips["a"])), record("b", str(ips["b"]))])

    result = dcosctl("ipam", "check", "--grace", "0")

    assert result.exit_code == 0, result.output
    assert result.stderr == "containers not read, no spec.engine: h1\n"
    assert result.stdout == (
        "2 held, 2 ok, 0 leaked, 0 conflicts, 0 outside; "
        "0 released records, 2 instances, 0 containers on 0 engines\n"
    )


def test_leaks_are_reported_then_released_by_repair(
    dcosctl: Cli, tmp_path: Path, etcd_endpoint: str, prefix: str
) -> None:
    apply(dcosctl, tmp_path)
    ips = seed(etcd_endpoint, prefix, ["live", "ended", "gone"], [])
    seed(
        etcd_endpoint,
        prefix,
        [],
        [
            record("live", str(ips["live"])),
            record("ended", str(ips["ended"]), InstanceState.KILLED),
        ],
    )

    result = dcosctl("ipam", "check", "--grace", "0.2")

    assert result.exit_code == 1, result.output
    assert [line.split() for line in result.stdout.splitlines()[:3]] == [
        ["KIND", "POOL", "IP", "HOST", "OWNER", "DETAIL"],
        ["leaked", "v120", str(ips["ended"]), "h1", "ended", "no", "instance,", "no", "container"],
        ["leaked", "v120", str(ips["gone"]), "h1", "gone", "no", "instance,", "no", "container"],
    ]
    assert "1 ok, 2 leaked" in result.stdout
    assert all(released is None for released in listing(etcd_endpoint, prefix).values())

    result = dcosctl("ipam", "check", "--grace", "0.2", "--repair")

    assert result.exit_code == 0, result.output
    assert f"released {ips['ended']} of ended (IPPool v120)" in result.stdout
    assert f"released {ips['gone']} of gone (IPPool v120)" in result.stdout
    after = listing(etcd_endpoint, prefix)
    assert after["live"] is None and after["ended"] is not None and after["gone"] is not None
    again = dcosctl("ipam", "check", "--grace", "0")
    assert again.exit_code == 0, again.output
    assert "1 held, 1 ok, 0 leaked" in again.stdout and "2 released records" in again.stdout


def test_conflicts_are_reported_in_json_and_never_repaired(
    dcosctl: Cli, tmp_path: Path, etcd_endpoint: str, prefix: str
) -> None:
    apply(dcosctl, tmp_path)
    ips = seed(etcd_endpoint, prefix, ["a", "b"], [])
    seed(etcd_endpoint, prefix, [], [record("a", str(ips["b"])), record("b", str(ips["b"]))])

    result = dcosctl("ipam", "check", "--grace", "0", "--repair", "-o", "json")

    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["released"] == []
    assert [(f["kind"], f["ip"], f["owner"], f["detail"]) for f in data["findings"]] == [
        ("conflict", str(ips["b"]), "", "on instances a, b"),
        ("conflict", str(ips["b"]), "a", f"instance has it; IPAM gave {ips['a']}"),
    ]
    assert data["counts"] == {"held": 2, "ok": 0, "released": 0, "instances": 2, "containers": 0}
    assert all(released is None for released in listing(etcd_endpoint, prefix).values())


def test_an_unknown_pool_is_one_error_line(
    dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck
) -> None:
    apply(dcosctl, tmp_path)
    assert check_error(dcosctl("ipam", "check", "--pool", "nope")) == (
        "error: IPPool nope not found"
    )


def test_an_engine_that_does_not_answer_keeps_its_allocations_from_leaking(
    dcosctl: Cli, tmp_path: Path, etcd_endpoint: str, prefix: str
) -> None:
    engine = f"  engine:\n    url: unix://{tmp_path}/no.sock\n"
    apply(dcosctl, tmp_path, engine=engine)
    seed(etcd_endpoint, prefix, ["gone"], [])

    result = dcosctl("ipam", "check", "--grace", "0", "--repair")

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("containers not read on h1: engine unix://")
    assert "1 held, 1 ok, 0 leaked" in result.stdout
    assert listing(etcd_endpoint, prefix)["gone"] is None


def test_a_container_in_another_hosts_block_is_a_conflict(
    dcosctl: Cli,
    tmp_path: Path,
    etcd_endpoint: str,
    prefix: str,
    dockerd,
    busybox_image: str,
) -> None:
    net = f"10.206.{random.randint(1, 250)}"
    name = f"ipam-{uuid.uuid4().hex[:8]}"
    spec = IPPoolSpec.model_validate({"vlan": 120, "cidr": f"{net}.0/24", "gateway": f"{net}.1"})
    apply(
        dcosctl,
        tmp_path,
        net=net,
        engine=f"  engine:\n    url: {dockerd.url}\n    network: {name}\n",
    )
    ips = seed(etcd_endpoint, prefix, ["other"], [], spec=spec, host="h2")  # h2 holds .0/28
    stray = f"{net}.{ips['other'].packed[3] + 1}"

    async def run_container() -> str:
        async with DockerEngine(str(dockerd.socket_path)) as engine:
            await engine.ensure_network(name, subnet=f"{net}.0/24", gateway=f"{net}.1")
            cid = await engine.create_container(
                ContainerSpec(
                    name=name,
                    image=busybox_image,
                    command=("sleep", "300"),
                    labels={TASK_ID_LABEL: "stray"},
                    network=name,
                    ip_address=stray,
                )
            )
            await engine.start_container(cid)
            return cid

    async def remove(cid: str) -> None:
        async with DockerEngine(str(dockerd.socket_path)) as engine:
            await engine.remove_container(cid)
            await engine.remove_network(name)

    cid = asyncio.run(run_container())
    try:
        result = dcosctl("ipam", "check", "--pool", "v120", "--grace", "0")
    finally:
        asyncio.run(remove(cid))

    assert result.exit_code == 1, result.output
    rows = [line.split(None, 5) for line in result.stdout.splitlines()]
    assert ["leaked", "v120", str(ips["other"]), "h2", "other"] == rows[1][:5]
    assert rows[2] == [
        "conflict",
        "v120",
        stray,
        "h1",
        "stray",
        f"{name}: in block {net}.0/28 of h2",
    ]
    assert rows[-1][-1].endswith("1 containers on 1 engines")
