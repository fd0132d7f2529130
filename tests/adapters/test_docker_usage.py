"""Container stats as a ScalingPolicy's load: a busybox container burning CPU on the
run's private dockerd, read by DockerHostReader.usage and, through a Host's declared
engine, by the Docker metric source dcos-controller builds."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.docker import ContainerSpec, DockerEngine
from adapters.docker_host import DockerHostReader, EngineEndpoint
from adapters.etcd import EtcdStore
from adapters.protocols import TASK_ID_LABEL
from crds.app import App
from crds.host import Host, HostEngine
from crds.scalingpolicy import MetricKind
from localcluster.dockerd import DockerDaemon
from reconciler.scaling.metrics import EngineUsage, UsageMetrics

TASK = "shop.web.1a2b3c4d.{}"


@pytest.fixture
async def burning(docker_engine: DockerEngine, busybox_image: str) -> AsyncIterator[str]:
    """A running container with the task label of an instance of shop/web, one core busy."""
    task_id = TASK.format(uuid.uuid4().hex[:8])
    spec = ContainerSpec(
        name=f"usage-{task_id.replace('.', '-')}",
        image=busybox_image,
        command=("sh", "-c", "while :; do :; done"),
        labels={TASK_ID_LABEL: task_id, "test": "usage"},
        network="none",
    )
    created = await docker_engine.create_container(spec)
    try:
        await docker_engine.start_container(created)
        yield task_id
    finally:
        await docker_engine.stop_container(created, grace_seconds=0)
        await docker_engine.remove_container(created)


async def test_a_busy_container_reports_cpu_used(dockerd: DockerDaemon, burning: str) -> None:
    async with DockerHostReader(EngineEndpoint(f"unix://{dockerd.socket_path}")) as reader:
        deadline = time.monotonic() + 30
        while True:  # the engine's first sample may predate the busy loop
            (usage,) = await reader.usage(burning)
            busy = usage.cpus_used is not None and usage.cpus_used > 0.1
            if busy or time.monotonic() > deadline:
                break
        assert await reader.usage("shop.cart.") == []
    assert usage.task_id == burning
    assert usage.cpus_used is not None and usage.cpus_used > 0.1
    assert usage.mem_bytes is not None and usage.mem_bytes > 0
    assert (usage.cpus_limit, usage.mem_limit_bytes) == (None, None)  # started without limits


async def test_the_hosts_engines_give_the_apps_utilisation(
    store: EtcdStore, dockerd: DockerDaemon, burning: str
) -> None:
    engine = f"unix://{dockerd.socket_path}"
    await store.create(
        Host.model_validate(
            {
                "metadata": {"name": "sh1-r1-01"},
                "spec": {
                    "address": "10.0.0.5",
                    "resources": {"cpus": 8, "mem": "16Gi"},
                    "engine": {"url": engine},
                },
            }
        )
    )
    await store.create(
        App.model_validate(
            {
                "metadata": {"name": "web", "domain": "shop"},
                "spec": {"image": "registry.example.com/shop/web:1", "cpus": 2, "mem": 64},
            }
        )
    )
    opened: list[DockerHostReader] = []

    def open_engine(spec: HostEngine) -> DockerHostReader:
        opened.append(DockerHostReader(EngineEndpoint(spec.url)))
        return opened[-1]

    source = UsageMetrics(EngineUsage(store, open_engine), store)
    try:
        deadline = time.monotonic() + 30
        while True:
            cpu = await source.utilisation("shop", "web", MetricKind.CPU)
            if (cpu is not None and cpu > 0.05) or time.monotonic() > deadline:
                break
        memory = await source.utilisation("shop", "web", MetricKind.MEMORY)
    finally:
        for engine_client in opened:
            await engine_client.close()
    # One core busy (at most: 2 cores are shared) of the App's 2 cpus.
    assert cpu is not None and 0.05 < cpu <= 0.6
    assert memory is not None and 0 < memory < 1
    assert len(opened) == 1  # one client per engine, reused
