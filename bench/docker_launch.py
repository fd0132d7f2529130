"""Docker containerizer launch latency: from LAUNCH to TASK_RUNNING, over 50 containers.

A private dockerd (vfs storage) and the busybox-static image, as the tests
use; each task is a ``sleep`` container on a bridge network with its own
static IP. Needs root (it installs and starts dockerd).
"""

from __future__ import annotations

import asyncio
import ipaddress
import statistics
import tempfile
import time
from pathlib import Path

from adapters.docker import DockerEngine
from adapters.mesos import (
    AgentID,
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    DockerNetwork,
    IPAddress,
    NetworkInfo,
    TaskID,
    TaskInfo,
    TaskState,
)
from bench.common import Figure
from localcluster.dockerd import DockerDaemon, ensure_installed, import_busybox_image
from localcluster.mesos.containerizer import Launch, StatusReport
from localcluster.mesos.docker import BridgeNetwork, DockerContainerizer

COUNT = 50
NETWORK = BridgeNetwork(
    name="bench-v200", subnet="10.200.0.0/24", ip_range="10.200.0.0/26", gateway="10.200.0.1"
)


def _task(i: int, image: str) -> TaskInfo:
    ip = str(ipaddress.ip_address("10.200.0.2") + i)
    return TaskInfo(
        name=f"bench-{i}",
        task_id=TaskID(value=f"bench-{i:03d}"),
        agent_id=AgentID(value="agent-1"),
        command=CommandInfo(value="sleep 300"),
        container=ContainerInfo(
            type=ContainerType.DOCKER,
            docker=DockerInfo(image=image, network=DockerNetwork.USER),
            network_infos=[NetworkInfo(name=NETWORK.name, ip_addresses=[IPAddress(ip_address=ip)])],
        ),
    )


async def _measure(socket: str) -> list[float]:
    async with DockerEngine(socket) as engine:
        image = await import_busybox_image(engine)
        containerizer = DockerContainerizer(engine, networks=[NETWORK])
        latencies: list[float] = []
        try:
            for i in range(COUNT):
                running = asyncio.Event()

                async def report(status: StatusReport, running: asyncio.Event = running) -> None:
                    if status.state is TaskState.TASK_RUNNING:
                        running.set()
                    elif status.state.name in ("TASK_FAILED", "TASK_ERROR"):
                        raise RuntimeError(f"launch failed: {status.message}")

                started = time.perf_counter()
                launch = Launch(
                    task=_task(i, image), agent_id="agent-1", hostname="h1", framework_id="bench"
                )
                await containerizer.launch(launch, report)
                async with asyncio.timeout(60):
                    await running.wait()
                latencies.append(time.perf_counter() - started)
        finally:
            await containerizer.close()
    return latencies


def run() -> list[Figure]:
    ensure_installed()
    with (
        tempfile.TemporaryDirectory(prefix="bench-dockerd-") as tmp,
        DockerDaemon(Path(tmp)) as daemon,
    ):
        latencies = sorted(asyncio.run(_measure(str(daemon.socket_path))))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return [
        Figure(
            f"docker launch to RUNNING, p50 of {COUNT}", statistics.median(latencies) * 1000, "ms"
        ),
        Figure(f"docker launch to RUNNING, p99 of {COUNT}", p99 * 1000, "ms"),
    ]
