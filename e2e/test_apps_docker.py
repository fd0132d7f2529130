"""Apps as real containers: `dcosctl apply`, `dcos-controller`, the local master's docker agents.

The whole stack on the private Docker engine: the test's etcd, a local Mesos
master (in this process) whose two agents run tasks with the ``docker``
containerizer, and the installed ``dcos-controller`` and ``dcosctl``. Apps
are busybox shell services with a COMMAND health check that runs inside the
container. What the controller records in etcd is compared with what the
engine runs, found by the containers' labels; a rollout is checked against
the capacity bounds at every revision of the instance records. Waits are
conditions with deadlines.

Rollouts that fail (an image the engine does not have) are in
``test_apps_rollout.py``.
"""

from __future__ import annotations

import asyncio
import shutil

from adapters.docker import Container, DockerEngine
from e2e.harness import (
    TIMEOUT,
    CapacityWatch,
    Stack,
    app_manifest,
    domain_manifest,
    instance_records,
    manifest,
    rolled_out,
)
from localcluster.dockerd import DockerDaemon
from reconciler.apps.version import spec_version

WEB = {"ROLE": "web", "RELEASE": "1"}


def web(image: str, env: dict[str, str]) -> str:
    return app_manifest(
        "web",
        image=image,
        instances=4,
        env=env,
        health='test "$ROLE" = web',
        min_health=0.5,
        max_over=0.5,
    )


def worker(image: str) -> str:
    return app_manifest(
        "worker", image=image, instances=2, env={"ROLE": "worker"}, health='test "$ROLE" = worker'
    )


async def containers_of(engine: DockerEngine, name: str) -> list[Container]:
    return await engine.containers(labels={"dcos/domain": "shop", "dcos/app": name})


async def assert_engine_runs_the_records(stack: Stack, engine: DockerEngine, name: str) -> None:
    """One running container per active record, on its agent, labelled with its version."""
    app = await stack.app("shop", name)
    records = {
        i.instance_id: i for i in await instance_records(stack.store, "shop", name) if i.is_active
    }
    containers = await containers_of(engine, name)
    assert sorted(c.labels["dcos.task_id"] for c in containers) == sorted(records)
    for c in containers:
        record = records[c.labels["dcos.task_id"]]
        assert c.state == "running"
        assert c.labels["dcos.agent_id"] == record.agent_id
        assert c.labels["dcos/version"] == record.version == app.status.version
    assert app.status.healthy_instances == app.spec.instances == len(containers)


async def env_inside(engine: DockerEngine, container: Container) -> str:
    ran = await engine.exec(container.id, ["/bin/sh", "-c", 'echo "$ROLE $RELEASE $TZ"'])
    assert ran.exit_code == 0
    return ran.output.decode().strip()


async def test_apps_run_healthy_in_containers_and_a_change_rolls_within_bounds(
    docker_stack: Stack, docker_engine: DockerEngine, busybox_image: str
) -> None:
    stack = docker_stack
    stack.apps += [("shop", "web"), ("shop", "worker")]
    await stack.apply(manifest(domain_manifest(), web(busybox_image, WEB), worker(busybox_image)))

    async def both_run() -> bool:
        return await rolled_out(stack.store, "shop", "web") and await rolled_out(
            stack.store, "shop", "worker"
        )

    await stack.until("web and worker to run healthy", both_run)
    for name in ("web", "worker"):
        await assert_engine_runs_the_records(stack, docker_engine, name)
    [first, *_] = await containers_of(docker_engine, "web")
    assert await env_inside(docker_engine, first) == "web 1 Asia/Shanghai"
    workers = {i.instance_id for i in await instance_records(stack.store, "shop", "worker")}

    # An env change is a new version: rolled within minimumHealthCapacity 0.5 and
    # maximumOverCapacity 0.5 of 4, i.e. at least 2 healthy and at most 6 active.
    watch = CapacityWatch(
        stack.store, domain="shop", name="web", instances=4, min_health=0.5, max_over=0.5
    )
    async with watch:
        await stack.apply(web(busybox_image, WEB | {"RELEASE": "2"}))
        version = spec_version((await stack.app("shop", "web")).spec)
        await stack.until(
            "web to roll out", lambda: rolled_out(stack.store, "shop", "web", version)
        )

    assert watch.violations == [], await stack.describe()
    assert watch.checked >= 4  # at the least: launches recorded, running, kills sent, ended
    launched = [iid for iid, versions in watch.versions.items() if version in versions]
    assert len(launched) == 4  # one launch per instance: nothing failed, nothing relaunched
    assert all(len(versions) == 1 for versions in watch.versions.values())
    await assert_engine_runs_the_records(stack, docker_engine, "web")
    for container in await containers_of(docker_engine, "web"):
        assert await env_inside(docker_engine, container) == "web 2 Asia/Shanghai"
    assert {i.instance_id for i in await instance_records(stack.store, "shop", "worker")} == workers


async def docker_kill(daemon: DockerDaemon, container_id: str) -> None:
    """``docker kill``: SIGKILL from outside, as an operator (or the OOM killer) would."""
    docker = shutil.which("docker")
    assert docker is not None, "the docker CLI (docker.io) is missing"
    proc = await asyncio.create_subprocess_exec(
        docker,
        "--host",
        daemon.url,
        "kill",
        container_id,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


def master_task_state(stack: Stack, task_id: str) -> tuple[str, str]:
    """(state, message) of a task as the master last knew it."""
    for fw in stack.master.master.state.frameworks.values():
        for rec in [*fw.tasks.values(), *fw.completed]:
            if rec.task_id == task_id:
                status = rec.statuses[-1] if rec.statuses else None
                return str(rec.state), (status.message or "") if status is not None else ""
    raise AssertionError(f"the master does not know task {task_id}")


async def test_a_container_killed_from_outside_is_replaced(
    docker_stack: Stack, docker_engine: DockerEngine, dockerd: DockerDaemon, busybox_image: str
) -> None:
    stack = docker_stack
    stack.apps.append(("shop", "worker"))
    await stack.apply(manifest(domain_manifest(), worker(busybox_image)))
    await stack.until("worker to run", lambda: rolled_out(stack.store, "shop", "worker"))
    [victim, survivor] = await containers_of(docker_engine, "worker")
    killed = victim.labels["dcos.task_id"]

    await docker_kill(dockerd, victim.id)

    async def replaced() -> bool:
        ids = {i.instance_id for i in await instance_records(stack.store, "shop", "worker")}
        return killed not in ids and await rolled_out(stack.store, "shop", "worker")

    await stack.until("the killed instance to be replaced", replaced)
    await assert_engine_runs_the_records(stack, docker_engine, "worker")
    after = {c.id for c in await containers_of(docker_engine, "worker")}
    assert victim.id not in after and survivor.id in after
    assert master_task_state(stack, killed) == ("TASK_FAILED", "exited with code 137")
    app = await stack.app("shop", "worker")
    assert app.status.last_failure_message == "exited with code 137"
