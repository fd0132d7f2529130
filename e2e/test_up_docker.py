"""`dcosctl up --containerizer docker`: the example data center as real containers.

Runs the installed `dcosctl` as a separate process, as `make up
CONTAINERIZER=docker` does, against its own state folder and ports: `up`
starts a private dockerd under the state folder, the master's agents run each
instance as a container on it (the specs' images are not on the engine, so
the busybox stand-in runs them) and every App becomes Available; a second
`up` keeps the recorded containerizer and refuses to switch while running;
`down` stops everything `up` started, the dockerd and its containers too.
Skips unless root (the private engine needs it); takes about 45 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.docker import Container, DockerEngine
from localcluster.datacenter import STAND_IN
from localcluster.dockerd import DockerDaemon

ROOT = Path(__file__).resolve().parent.parent
DCOSCTL = str(Path(sys.executable).parent / "dcosctl")


def _free_port_pair() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


class DockerCluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.state = workdir / ".state"
        self.port = _free_port_pair()
        self.mesos_port = _free_port_pair()
        self.env = {**os.environ, "DCOS_ETCD": f"http://127.0.0.1:{self.port}"}
        self.env.pop("DCOS_CONFIG", None)
        self.env["HOME"] = str(workdir)
        self.env["DCOS_UP_WAIT"] = "90"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [DCOSCTL, *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"dcosctl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def up(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        ports = ("--port", str(self.port), "--mesos-port", str(self.mesos_port))
        return self.run("up", *ports, *extra, check=check)

    def containers(self) -> list[Container]:
        async def listing() -> list[Container]:
            daemon = DockerDaemon(self.state / "dockerd")
            async with DockerEngine(str(daemon.socket_path)) as engine:
                return await engine.containers()

        return asyncio.run(listing())


@pytest.fixture
def cluster(tmp_path: Path, docker_installed: None) -> Iterator[DockerCluster]:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    cluster = DockerCluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.run("down", check=False)


def _pids(state: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in state.glob("*.pid")}


def _running(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return bool(cmdline) and stat.rpartition(")")[2].split()[0] != "Z"


def _mentioning(*needles: str) -> list[str]:
    """Command lines of live processes that name any of ``needles`` (dockerd's
    containerd and its shims name the socket and exec root)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _running(int(entry.name)):
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in argv for needle in needles):
            found.append(f"{entry.name}: {argv}")
    return found


def test_up_with_docker_runs_every_instance_as_a_container_and_down_stops_it(
    cluster: DockerCluster,
) -> None:
    first = cluster.up("--containerizer", "docker")
    assert "started dockerd" in first.stdout
    assert f"run as the stand-in {STAND_IN}" in first.stdout
    assert "8 docker agents" in first.stdout
    listing = json.loads(cluster.run("get", "apps", "-A", "-o", "json").stdout)["items"]
    assert f"all {len(listing)} Apps are Available" in first.stdout, first.stdout
    available = {
        item["metadata"]["name"]: next(
            c["status"] for c in item["status"]["conditions"] if c["type"] == "Available"
        )
        for item in listing
    }
    assert set(available.values()) == {"True"}, available
    assert (cluster.state / "containerizer").read_text().strip() == "docker"

    # every desired instance is a running container of the private engine, with our labels
    desired = {
        (a["metadata"]["domain"], a["metadata"]["name"]): a["spec"]["instances"] for a in listing
    }
    images = {(a["metadata"]["domain"], a["metadata"]["name"]): a["spec"]["image"] for a in listing}
    containers = [c for c in cluster.containers() if c.state == "running"]
    per_app: dict[tuple[str, str], int] = {}
    for container in containers:
        key = (container.labels["dcos/domain"], container.labels["dcos/app"])
        per_app[key] = per_app.get(key, 0) + 1
        assert container.labels["dcos.stand_in"] == images[key]
        assert container.labels["dcos.task_id"]
    assert per_app == desired

    # a second up keeps the recorded containerizer and reuses what runs
    cluster.env["DCOS_UP_WAIT"] = "0"
    again = cluster.up()
    assert "dockerd is running" in again.stdout
    assert "Mesos master is running" in again.stdout
    switch = cluster.up("--containerizer", "sim", check=False)
    assert switch.returncode == 1
    assert "runs with --containerizer docker" in switch.stderr
    assert "Traceback" not in switch.stderr

    started = _pids(cluster.state)
    assert set(started) == {"etcd", "mesos", "controller-a", "controller-b", "dockerd"}
    daemon = DockerDaemon(cluster.state / "dockerd")
    down = cluster.run("down")
    assert "stopped dockerd" in down.stdout
    assert "stopped the Mesos master" in down.stdout
    assert "stopped etcd" in down.stdout
    assert [name for name, pid in started.items() if _running(pid)] == []
    assert _pids(cluster.state) == {}
    assert not daemon.socket_path.exists()
    assert _mentioning(str(daemon.socket_path), str(daemon.exec_root), str(cluster.state)) == []
