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
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.docker import Container, DockerEngine
from e2e.harness import UpCluster, process_running
from localcluster.datacenter import STAND_IN
from localcluster.dockerd import DockerDaemon


class DockerCluster(UpCluster):
    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, up_wait=90, timeout=150)

    def containers(self) -> list[Container]:
        async def listing() -> list[Container]:
            daemon = DockerDaemon(self.state / "dockerd")
            async with DockerEngine(str(daemon.socket_path)) as engine:
                return await engine.containers()

        return asyncio.run(listing())


@pytest.fixture
def cluster(tmp_path: Path, docker_installed: None) -> Iterator[DockerCluster]:
    with DockerCluster(tmp_path) as cluster:
        yield cluster


def _mentioning(*needles: str) -> list[str]:
    """Command lines of live processes that name any of ``needles`` (dockerd's
    containerd and its shims name the socket and exec root)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not process_running(int(entry.name)):
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
    # (Apps without an image, the registry replicas, run command tasks, simulated here)
    scaled = cluster.scaled_apps()  # their count follows the clock: a sale window may be open
    desired = {
        (a["metadata"]["domain"], a["metadata"]["name"]): a["spec"]["instances"]
        for a in listing
        if f"{a['metadata']['domain']}/{a['metadata']['name']}" not in scaled
        and "image" in a["spec"]
    }
    images = {
        (a["metadata"]["domain"], a["metadata"]["name"]): a["spec"]["image"]
        for a in listing
        if "image" in a["spec"]
    }
    containers = [c for c in cluster.containers() if c.state == "running"]
    per_app: dict[tuple[str, str], int] = {}
    for container in containers:
        key = (container.labels["dcos/domain"], container.labels["dcos/app"])
        if "/".join(key) not in scaled:
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

    started = cluster.pids()
    assert set(started) == {"etcd", "netbox", "mesos", "controller-a", "controller-b", "dockerd"}
    daemon = DockerDaemon(cluster.state / "dockerd")
    down = cluster.run("down")
    assert "stopped dockerd" in down.stdout
    assert "stopped the Mesos master" in down.stdout
    assert "stopped etcd" in down.stdout
    assert [name for name, pid in started.items() if process_running(pid)] == []
    assert cluster.pids() == {}
    assert not daemon.socket_path.exists()
    assert _mentioning(str(daemon.socket_path), str(daemon.exec_root), str(cluster.state)) == []
