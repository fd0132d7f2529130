"""hosts render and hosts drift: files from a Host's profile and its IPAM block,
drift against the run's private dockerd, one-line errors."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from typer.testing import Result

from adapters.docker import ContainerSpec, DockerEngine
from adapters.etcd import EtcdIpam, EtcdSettings, open_store
from adapters.protocols import TASK_ID_LABEL

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]

POOL = """\
apiVersion: dcos/v1
kind: IPPool
metadata:
  name: v110
spec:
  vlan: 110
  cidr: 10.110.0.0/22
  gateway: 10.110.0.1
  hostSelector:
    matchLabels:
      vlan: "110"
"""

HOST = """\
apiVersion: dcos/v1
kind: Host
metadata:
  name: {name}
  labels:
    vlan: "110"
spec:
  address: 10.110.0.5
  resources:
    cpus: 8
    mem: 16Gi
  profile:
    sysctls:
      vm.swappiness: 10
      read_ahead_kb: 8192
    docker:
      storageDriver: {storage}
      logDriver: {log}
      ipForward: {forward}
"""

DAEMON = """\
==> /etc/docker/daemon.json <==
{{
  "bip": "10.110.0.5/22",
  "default-gateway": "10.110.0.1",{fixed}
  "ip-forward": false,
  "iptables": false,
  "log-driver": "journald",
  "storage-driver": "overlay"
}}
"""
REST = """
==> /etc/sysctl.d/90-dcos.conf <==
# Written by dcosctl hosts render for Host h1; do not edit by hand.
vm.swappiness = 10

==> /etc/udev/rules.d/60-dcos-block.rules <==
# Written by dcosctl hosts render for Host h1; do not edit by hand.
ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL!="loop*|ram*|zram*", \
ATTR{queue/read_ahead_kb}="8192"
"""


def apply(dcosctl: Cli, tmp_path: Path, text: str) -> None:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(text)
    result = dcosctl("apply", "-f", str(path))
    assert result.exit_code == 0, result.output


def host(name: str = "h1", **fields: str) -> str:
    values = {"storage": "overlay", "log": "journald", "forward": "false"} | fields
    return HOST.format(name=name, **values)


@pytest.fixture
def pool(dcosctl: Cli, tmp_path: Path) -> None:
    apply(dcosctl, tmp_path, POOL + "---\n" + host())


def claim(etcd_endpoint: str, prefix: str, block: str) -> None:
    async def go() -> None:
        async with open_store(EtcdSettings(endpoints=(etcd_endpoint,), prefix=prefix)) as store:
            got = await EtcdIpam(store).claim_block(
                pool="v110", host="h1", candidates=[IPv4Network(block)]
            )
            assert got == IPv4Network(block)

    asyncio.run(go())


def test_render_uses_the_block_ipam_recorded(
    dcosctl: Cli, pool: None, etcd_endpoint: str, prefix: str
) -> None:
    claim(etcd_endpoint, prefix, "10.110.0.16/28")

    result = dcosctl("hosts", "render", "h1")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == DAEMON.format(fixed='\n  "fixed-cidr": "10.110.0.16/28",') + REST


def test_render_without_a_block_says_so_and_leaves_out_fixed_cidr(dcosctl: Cli, pool: None) -> None:
    result = dcosctl("hosts", "render", "h1")

    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Host h1 has no block in IPPool v110 yet: no fixed-cidr (give --block CIDR)\n"
    )
    assert result.stdout == DAEMON.format(fixed="") + REST


def test_render_block_option_and_output_dir(dcosctl: Cli, pool: None, tmp_path: Path) -> None:
    out = tmp_path / "out"

    result = dcosctl("hosts", "render", "h1", "--block", "10.110.0.32/28", "-o", str(out))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"wrote {out}/etc/docker/daemon.json",
        f"wrote {out}/etc/sysctl.d/90-dcos.conf",
        f"wrote {out}/etc/udev/rules.d/60-dcos-block.rules",
    ]
    daemon = (out / "etc/docker/daemon.json").read_text()
    assert daemon == DAEMON.format(fixed='\n  "fixed-cidr": "10.110.0.32/28",').split("\n", 1)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "error: Host/nope"),
        (["h1", "--block", "10.110.0.300/28"], "error: --block 10.110.0.300/28: "),
        (["h1", "--block", "10.9.0.0/28"], "error: --block 10.9.0.0/28 is outside IPPool v110"),
    ],
)
def test_render_bad_input_is_one_line(
    dcosctl: Cli, pool: None, check_error: ErrorCheck, args: list[str], message: str
) -> None:
    assert check_error(dcosctl("hosts", "render", *args)).startswith(message)


# --------------------------------------------------------------- drift


@pytest.fixture
def network(dockerd, docker_installed: None) -> Iterator[tuple[str, str]]:
    """A user bridge on the run's dockerd with ip-range .16/28: (name, subnet prefix)."""
    name = f"hosts-{uuid.uuid4().hex[:8]}"
    octet = random.randint(1, 250)

    async def make(remove: bool) -> None:
        async with DockerEngine(str(dockerd.socket_path)) as engine:
            if remove:
                await engine.remove_network(name)
            else:
                await engine.ensure_network(
                    name,
                    subnet=f"10.205.{octet}.0/24",
                    ip_range=f"10.205.{octet}.16/28",
                    gateway=f"10.205.{octet}.1",
                )

    asyncio.run(make(remove=False))
    yield name, f"10.205.{octet}"
    asyncio.run(make(remove=True))


def engine_host(name: str, url: str, network: str, **fields: str) -> str:
    return host(name, **fields) + f"  engine:\n    url: {url}\n    network: {network}\n"


def test_drift_is_none_for_a_conforming_engine_and_lists_each_difference(
    dcosctl: Cli, tmp_path: Path, dockerd, network: tuple[str, str]
) -> None:
    name, _ = network
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    same = {"storage": "vfs", "log": "json-file", "forward": str(forward).lower()}
    apply(dcosctl, tmp_path, engine_host("good", dockerd.url, name, **same) + "---\n" + host("x"))

    result = dcosctl("hosts", "drift")

    assert result.exit_code == 0, result.output
    assert result.stdout == "no drift\n"
    assert result.stderr == "not checked, no spec.engine: x\n"

    apply(dcosctl, tmp_path, engine_host("bad", dockerd.url, name, forward=str(forward).lower()))
    result = dcosctl("hosts", "drift", "bad")

    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "HOST   FIELD                  WANT       HAVE",
        "bad    docker.storageDriver   overlay    vfs",
        "bad    docker.logDriver       journald   json-file",
    ]


def test_drift_lists_a_labelled_container_with_no_live_record_as_an_orphan(
    dcosctl: Cli, tmp_path: Path, dockerd, busybox_image: str, network: tuple[str, str]
) -> None:
    name, _ = network
    forward = str(Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1").lower()
    same = {"storage": "vfs", "log": "json-file", "forward": forward}
    apply(dcosctl, tmp_path, engine_host("good", dockerd.url, name, **same))
    container = f"orphan-{uuid.uuid4().hex[:8]}"
    spec = ContainerSpec(
        name=container,
        image=busybox_image,
        command=("sleep", "300"),
        labels={TASK_ID_LABEL: "shop.web.v1.ghost"},
        network=name,
    )

    async def run_it() -> str:
        async with DockerEngine(str(dockerd.socket_path)) as engine:
            cid = await engine.create_container(spec)
            await engine.start_container(cid)
            return cid

    async def remove(cid: str) -> None:
        async with DockerEngine(str(dockerd.socket_path)) as engine:
            await engine.remove_container(cid)

    cid = asyncio.run(run_it())
    try:
        result = dcosctl("hosts", "drift", "good")
    finally:
        asyncio.run(remove(cid))

    assert result.exit_code == 1, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[1][:3] == ["good", f"container/{container}", "absent"]
    assert "shop.web.v1.ghost" in rows[1]


def test_drift_compares_the_bridge_with_the_ipam_block(
    dcosctl: Cli, tmp_path: Path, dockerd, network: tuple[str, str], etcd_endpoint: str, prefix: str
) -> None:
    name, net = network
    forward = str(Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1").lower()
    same = {"storage": "vfs", "log": "json-file", "forward": forward}
    pool = POOL.replace("10.110.0", net).replace("/22", "/24")
    apply(dcosctl, tmp_path, pool + "---\n" + engine_host("h1", dockerd.url, name, **same))
    claim(etcd_endpoint, prefix, f"{net}.32/28")

    result = dcosctl("hosts", "drift", "h1")

    assert result.exit_code == 1, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [
        ["HOST", "FIELD", "WANT", "HAVE"],
        ["h1", "docker.fixedCidr", f"{net}.32/28", f"{net}.16/28"],
    ]


def test_drift_of_an_engine_that_does_not_answer_exits_1(
    dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck
) -> None:
    apply(dcosctl, tmp_path, engine_host("gone", f"unix://{tmp_path}/no.sock", "bridge"))

    result = dcosctl("hosts", "drift")

    assert result.exit_code == 1, result.output
    row = result.stdout.splitlines()[1]
    assert row.split()[:4] == ["gone", "engine", "reachable", "engine"] and "no.sock" in row
    assert check_error(dcosctl("hosts", "drift", "nope")).startswith("error: Host/nope")
    apply(dcosctl, tmp_path, host("plain"))
    message = check_error(dcosctl("hosts", "drift", "plain"))
    assert message == "error: Host plain has no spec.engine: nowhere to read its Docker state"


def test_the_installed_binary_renders_and_reports_drift_exit_codes(
    pool: None, etcd_endpoint: str, prefix: str, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "dcosctl"
    base = [str(script), "--etcd", etcd_endpoint, "--prefix", prefix, "hosts"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)

    rendered = run("render", "h1", "--block", "10.110.0.48/28")
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout == DAEMON.format(fixed='\n  "fixed-cidr": "10.110.0.48/28",') + REST
    bad = run("render", "h1", "--block", "nonsense")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: --block nonsense")
    none = run("drift")  # h1 has no engine: nothing checked, nothing differs
    assert (none.returncode, none.stdout) == (0, "no drift\n")
