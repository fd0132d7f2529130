"""The ``docker`` containerizer: a task's ContainerInfo as a real container.

It follows Mesos's Docker containerizer (``shared/reference/mesos/
docker-containerizer.md``) on a :class:`adapters.docker.ContainerRuntime`:
containers are named ``mesos-<agent>-<task>`` (sanitised) and carry the
TaskInfo's labels plus ``dcos.task_id``, ``dcos.agent_id`` and
``dcos.framework_id``. A shell command runs as ``/bin/sh -c value`` (the
entrypoint is replaced); otherwise ``value`` and ``arguments`` are the
command. Volumes are host-path binds; the network is the host's (HOST, the
Mesos default) or a named one (BRIDGE/USER, the name from ``network_infos``,
``bridge`` when absent) with the static IP that ``network_infos`` asks for.
Networks given to the constructor are created on first use; any other must
exist already. Images are never pulled: a missing image is TASK_FAILED with
REASON_CONTAINER_LAUNCH_FAILED, like any create/start failure.

Per run, one watcher task waits on the container (``/wait``) and owns the
terminal report: exit 0 is TASK_FINISHED, other codes TASK_FAILED ("exited
with code N"), and a container that ``kill`` stopped (SIGTERM, SIGKILL after
the grace) TASK_KILLED. The container is removed before the terminal report,
so a terminal task has no container left. COMMAND health checks run inside
the container through ``exec`` with the semantics of
:func:`localcluster.mesos.process.watch_health`. ``close()`` removes every
container this containerizer started and reports nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.docker import ContainerRuntime, ContainerSpec, Mount
from adapters.mesos import (
    CommandInfo,
    DockerNetwork,
    NetworkInfo,
    TaskState,
    VolumeMode,
)
from crds.errors import DockerError
from localcluster.mesos.containerizer import Launch, Report, StatusReport
from localcluster.mesos.process import (
    HEALTH_REASON,
    INVALID,
    LAUNCH_FAILED,
    HealthSettings,
    command_argv,
    command_health_check,
    kill_grace,
    safe_name,
    send_report,
    task_environment,
    terminal_status,
    watch_health,
)

__all__ = ["BridgeNetwork", "DockerContainerizer", "container_spec"]

logger = logging.getLogger(__name__)

LABEL_TASK_ID = "dcos.task_id"
LABEL_AGENT_ID = "dcos.agent_id"
LABEL_FRAMEWORK_ID = "dcos.framework_id"


@dataclass(frozen=True)
class BridgeNetwork:
    """A network the containerizer may create: a VLAN's subnet, this host's block as ip_range."""

    name: str
    subnet: str
    ip_range: str | None = None
    gateway: str | None = None


def container_spec(launch: Launch, *, name_prefix: str = "mesos") -> ContainerSpec:
    """The container for a task; ValueError when the TaskInfo cannot be run by Docker."""
    task = launch.task
    info = task.container
    if info is None or info.docker is None:
        raise ValueError("the task has no docker container info")
    docker = info.docker
    env = task_environment(launch)
    labels = {label.key: label.value or "" for label in (task.labels.labels if task.labels else [])}
    labels |= {
        LABEL_TASK_ID: task.task_id.value,
        LABEL_AGENT_ID: launch.agent_id,
        LABEL_FRAMEWORK_ID: launch.framework_id,
    }
    command, entrypoint = _command(task.command)
    mounts = []
    for volume in info.volumes:
        if volume.host_path is None:
            raise ValueError(
                f"volume {volume.container_path}: only host_path volumes are supported"
            )
        read_only = volume.mode == VolumeMode.RO
        mounts.append(Mount(volume.host_path, volume.container_path, read_only))
    network, ip_address = _network(docker.network, info.network_infos)
    extra = {p.key: p.value for p in docker.parameters}
    for key in sorted(set(extra) - {"hostname", "user", "workdir"}):
        logger.warning("docker parameter --%s is not supported; ignored", key)
    return ContainerSpec(
        name=safe_name(f"{name_prefix}-{launch.agent_id}-{task.task_id.value}"),
        image=docker.image,
        command=command,
        entrypoint=entrypoint,
        env=env,
        labels=labels,
        mounts=tuple(mounts),
        network=network,
        ip_address=ip_address,
        hostname=extra.get("hostname") or (info.hostname if network != "host" else None),
        privileged=bool(docker.privileged),
        user=extra.get("user"),
        workdir=extra.get("workdir"),
    )


def _command(command: CommandInfo | None) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """(Cmd, Entrypoint): a shell command replaces the entrypoint with ``/bin/sh -c``."""
    if command is None or (not command.value and not command.arguments):
        return (), None
    if command.shell is None or command.shell:
        argv = command_argv(command)
        return tuple(argv[2:]), tuple(argv[:2])
    return tuple(([command.value] if command.value else []) + list(command.arguments)), None


def _network(mode: DockerNetwork | None, infos: Sequence[NetworkInfo]) -> tuple[str, str | None]:
    """(network mode or name, static IP or None) for the container."""
    first = infos[0] if infos else None
    ip = next((a.ip_address for a in first.ip_addresses if a.ip_address), None) if first else None
    name = first.name if first is not None else None
    if mode is None:
        mode = DockerNetwork.USER if name else DockerNetwork.HOST
    if mode == DockerNetwork.HOST:
        return "host", None
    if mode == DockerNetwork.NONE:
        return "none", None
    if mode == DockerNetwork.USER and not name:
        raise ValueError("a USER network needs network_infos[0].name")
    return name or "bridge", ip


@dataclass(eq=False)
class _Run:
    launch: Launch
    report: Report
    container_id: str | None = None
    launched: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the launch has reported RUNNING, or has failed."""
    killing: bool = False
    killed_by_health: bool = False
    watcher: asyncio.Task[None] | None = None
    health: asyncio.Task[None] | None = None

    @property
    def task_id(self) -> str:
        return self.launch.task.task_id.value


class DockerContainerizer:
    """Runs tasks as Docker containers; see the module docstring."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        *,
        networks: Sequence[BridgeNetwork] = (),
        name_prefix: str = "mesos",
    ) -> None:
        """``runtime`` stays open and owned by the caller; ``networks`` are created on demand."""
        self.runtime = runtime
        self.networks = {network.name: network for network in networks}
        self.name_prefix = name_prefix
        self._runs: dict[str, _Run] = {}  # every run not yet terminal, by task id
        self._closed = False

    async def launch(self, launch: Launch, report: Report) -> None:
        task_id = launch.task.task_id.value
        if self._closed or task_id in self._runs:
            why = "the containerizer is closed" if self._closed else "the task is running already"
            await report(StatusReport(task_id, TaskState.TASK_FAILED, why, INVALID))
            return
        try:
            spec = container_spec(launch, name_prefix=self.name_prefix)
        except ValueError as exc:
            await report(StatusReport(task_id, TaskState.TASK_FAILED, str(exc), INVALID))
            return
        run = _Run(launch, report)
        self._runs[task_id] = run
        try:
            await self._launch(run, spec)
        finally:
            run.launched.set()

    async def _launch(self, run: _Run, spec: ContainerSpec) -> None:
        try:
            ip_address = await self._start(run, spec)
        except DockerError as exc:
            logger.info("task %s did not start: %s", run.task_id, exc)
            await self._forget(run)
            if not self._closed:
                status = StatusReport(run.task_id, TaskState.TASK_FAILED, str(exc), LAUNCH_FAILED)
                await run.report(status)
            return
        if self._closed:  # closed while launching: close() may not have seen this container
            await self._forget(run)
            return
        await run.report(StatusReport(run.task_id, TaskState.TASK_RUNNING, ip_address=ip_address))
        logger.info("task %s running in container %s", run.task_id, spec.name)
        check = command_health_check(run.launch.task.health_check)
        if check is not None and run.launch.task.health_check is not None:
            settings = HealthSettings.of(run.launch.task.health_check)
            run.health = asyncio.create_task(
                self._check_health(run, check, settings, ip_address),
                name=f"docker:health:{run.task_id}",
            )

    async def _forget(self, run: _Run) -> None:
        """Undo a launch that did not complete: no watcher, no container, no run."""
        if run.watcher is not None:
            run.watcher.cancel()
            await asyncio.wait([run.watcher])
        if run.container_id is not None:
            await self._remove(run)
        self._runs.pop(run.task_id, None)

    async def _start(self, run: _Run, spec: ContainerSpec) -> str | None:
        """Create and start the container; its IP on ``spec.network``, if it has one."""
        network = self.networks.get(spec.network or "")
        if network is not None:  # checked on every launch: someone may have removed it
            await self.runtime.ensure_network(
                network.name,
                subnet=network.subnet,
                ip_range=network.ip_range,
                gateway=network.gateway,
            )
        try:
            run.container_id = await self.runtime.create_container(spec)
        except DockerError as exc:
            if exc.status != 409:
                raise
            logger.warning("removing stale container %s to launch task %s", spec.name, run.task_id)
            await self.runtime.remove_container(spec.name)
            run.container_id = await self.runtime.create_container(spec)
        await run.report(StatusReport(run.task_id, TaskState.TASK_STARTING))
        await self.runtime.start_container(run.container_id)
        run.watcher = asyncio.create_task(self._watch(run), name=f"docker:watch:{run.task_id}")
        if spec.network in (None, "host", "none"):
            return None
        details = await self.runtime.inspect_container(run.container_id)
        return details.ip_addresses.get(spec.network or "")

    async def _watch(self, run: _Run) -> None:
        """Wait for the container to exit, remove it, then send the one terminal report."""
        assert run.container_id is not None
        try:
            code = await self.runtime.wait_container(run.container_id)
        except DockerError as exc:
            logger.warning("lost track of task %s: %s", run.task_id, exc)
            code = -1
        await run.launched.wait()
        if run.health is not None:
            run.health.cancel()
            await asyncio.wait([run.health])
        await self._remove(run)
        self._runs.pop(run.task_id, None)
        if self._closed:
            return
        status = terminal_status(
            run.task_id, code, killed=run.killing, by_health=run.killed_by_health
        )
        if code == -1 and not run.killing:
            status = StatusReport(run.task_id, TaskState.TASK_FAILED, "lost track of the container")
        await send_report(run.report, status)

    async def _check_health(
        self, run: _Run, check: CommandInfo, settings: HealthSettings, ip_address: str | None
    ) -> None:
        assert run.container_id is not None
        container_id = run.container_id
        argv = command_argv(check)

        async def probe(limit: float) -> bool:
            try:
                async with asyncio.timeout(limit):
                    result = await self.runtime.exec(container_id, argv)
            except (TimeoutError, DockerError) as exc:
                logger.debug("health check of task %s failed: %r", run.task_id, exc)
                return False
            return result.exit_code == 0

        async def on_change(healthy: bool) -> None:
            logger.info("task %s is %s", run.task_id, "healthy" if healthy else "unhealthy")
            status = StatusReport(
                run.task_id,
                TaskState.TASK_RUNNING,
                reason=HEALTH_REASON,
                healthy=healthy,
                ip_address=ip_address,
            )
            await send_report(run.report, status)

        async def on_failed() -> None:
            run.killing = run.killed_by_health = True
            await self._stop(run, kill_grace(run.launch))

        await watch_health(settings=settings, probe=probe, on_change=on_change, on_failed=on_failed)

    async def kill(self, task_id: str, *, grace_seconds: float = 3.0) -> None:
        run = self._runs.get(task_id)
        if run is None:
            return
        run.killing = True
        await run.launched.wait()
        if run.watcher is None:
            return
        await self._stop(run, grace_seconds)
        await asyncio.wait([run.watcher])

    async def _stop(self, run: _Run, grace_seconds: float) -> None:
        assert run.container_id is not None
        try:
            await self.runtime.stop_container(run.container_id, grace_seconds=grace_seconds)
        except DockerError as exc:
            logger.warning("stopping task %s failed (%s); removing it", run.task_id, exc)
            await self._remove(run)

    async def _remove(self, run: _Run) -> None:
        assert run.container_id is not None
        try:
            await self.runtime.remove_container(run.container_id)
        except DockerError as exc:
            logger.warning("could not remove the container of task %s: %s", run.task_id, exc)

    async def close(self) -> None:
        """Remove every container this containerizer started; nothing is reported."""
        self._closed = True
        runs = list(self._runs.values())
        for run in runs:
            if run.health is not None:
                run.health.cancel()
        removals = [self._remove(run) for run in runs if run.container_id is not None]
        await asyncio.gather(*removals)
        waiting = [task for run in runs for task in (run.watcher, run.health) if task is not None]
        if waiting:
            await asyncio.wait(waiting)
