"""DockerEngine against a real private dockerd: what each call returns, and which
engine failures become DockerError with which status."""

from __future__ import annotations

import random
import uuid

import pytest

from adapters.docker import ContainerSpec, DockerEngine, Mount
from crds.errors import AdapterError, DockerError
from localcluster.dockerd import busybox_rootfs_tar

# The Docker fixtures live in tests/localcluster/conftest.py; these names make them visible here.


def spec(image: str, *command: str, **fields) -> ContainerSpec:
    labels = {"test": "adapter", "run": fields.pop("run", "x")}
    name = f"adapter-{uuid.uuid4().hex[:8]}"
    return ContainerSpec(name=name, image=image, command=command, labels=labels, **fields)


@pytest.fixture
async def cleanup(docker_engine: DockerEngine):
    """Remove the containers of this test (label ``run``) afterwards."""
    run = uuid.uuid4().hex[:8]
    yield run
    for container in await docker_engine.containers(labels={"run": run}):
        await docker_engine.remove_container(container.id)


async def test_info_names_the_engine_and_its_vfs_storage(docker_engine, dockerd):
    info = await docker_engine.info()

    assert info.storage_driver == "vfs"
    assert info.docker_root_dir == str(dockerd.data_root)
    assert info.version and info.api_version


async def test_ensure_network_creates_once_and_refuses_another_subnet(docker_engine):
    octet = random.randrange(1, 250)
    name = f"adapter-net-{octet}"
    subnet, ip_range = f"10.201.{octet}.0/24", f"10.201.{octet}.16/28"
    try:
        created = await docker_engine.ensure_network(name, subnet=subnet, ip_range=ip_range)
        again = await docker_engine.ensure_network(name, subnet=subnet, ip_range=ip_range)

        assert created == again
        assert (created.driver, created.subnet, created.ip_range) == ("bridge", subnet, ip_range)
        with pytest.raises(DockerError, match="another address plan"):
            await docker_engine.ensure_network(name, subnet=f"10.202.{octet}.0/24")
    finally:
        await docker_engine.remove_network(name)
    assert name not in {net.name for net in await docker_engine.networks()}
    await docker_engine.remove_network(name)  # absent is fine


async def test_container_life_cycle_exit_code_and_label_filter(
    docker_engine,
    busybox_image,
    cleanup,
):
    created = await docker_engine.create_container(
        spec(busybox_image, "sh", "-c", "exit 7", run=cleanup, network="none")
    )
    await docker_engine.start_container(created)

    assert await docker_engine.wait_container(created) == 7
    [found] = await docker_engine.containers(labels={"run": cleanup, "test": None})
    assert (found.id, found.state) == (created, "exited")
    assert (await docker_engine.inspect_container(created)).exit_code == 7
    assert await docker_engine.containers(labels={"run": "other"}) == []

    await docker_engine.remove_container(created)
    await docker_engine.remove_container(created)  # absent is fine
    assert await docker_engine.containers(labels={"run": cleanup}) == []


async def test_exec_returns_exit_code_and_output_and_stop_ends_the_container(
    docker_engine,
    busybox_image,
    cleanup,
    tmp_path,
):
    mount = Mount(str(tmp_path), "/host", read_only=False)
    created = await docker_engine.create_container(
        spec(busybox_image, "sleep", "300", run=cleanup, mounts=(mount,), env={"WHO": "task"})
    )
    await docker_engine.start_container(created)

    result = await docker_engine.exec(
        created,
        ["sh", "-c", 'echo "$WHO $EXTRA" > /host/out; echo done; exit 5'],
        env={"EXTRA": "x"},
    )
    stats = await docker_engine.stats(created)
    await docker_engine.stop_container(created, grace_seconds=0)

    assert (result.exit_code, result.output) == (5, b"done\n")
    assert (tmp_path / "out").read_text() == "task x\n"
    assert stats.memory_usage_bytes > 0
    assert (await docker_engine.inspect_container(created)).state == "exited"
    await docker_engine.stop_container(created, grace_seconds=0)  # stopped already is fine


@pytest.mark.parametrize(
    ("call", "status"),
    [
        pytest.param(lambda e: e.inspect_container("no-such-container"), 404, id="inspect"),
        pytest.param(lambda e: e.start_container("no-such-container"), 404, id="start"),
        pytest.param(
            lambda e: e.create_container(spec("dcos-test/absent:1", "true")), 404, id="image"
        ),
        pytest.param(lambda e: e.exec("no-such-container", ["true"]), 404, id="exec"),
    ],
)
async def test_engine_refusals_become_docker_errors(docker_engine, call, status):
    with pytest.raises(DockerError) as raised:
        await call(docker_engine)

    assert raised.value.status == status
    assert isinstance(raised.value, AdapterError)


async def test_an_unreachable_engine_is_a_docker_error_without_status(tmp_path):
    async with DockerEngine(str(tmp_path / "absent.sock"), request_timeout=5) as engine:
        assert await engine.ping() is False
        with pytest.raises(DockerError) as raised:
            await engine.info()
    assert raised.value.status is None


async def test_import_image_makes_a_runnable_image(docker_engine, busybox_image, cleanup):
    ref = f"dcos-test/imported-{cleanup}:2"
    assert await docker_engine.has_image(ref) is False

    image_id = await docker_engine.import_image(busybox_rootfs_tar(), ref)
    created = await docker_engine.create_container(spec(ref, "echo", "ok", run=cleanup))
    await docker_engine.start_container(created)

    assert image_id.startswith("sha256:")
    assert await docker_engine.has_image(ref)
    assert await docker_engine.wait_container(created) == 0
