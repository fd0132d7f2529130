"""The ``docker`` containerizer: a task's ContainerInfo as a real container.

It follows Mesos's Docker containerizer (``shared/reference/mesos/
docker-containerizer.md``) on a :class:`adapters.docker.ContainerRuntime`:
containers are named ``mesos-<agent>-<task>`` (sanitised) and carry the
TaskInfo's labels plus ``dcos.task_id``, ``dcos.agent_id`` and
``dcos.framework_id``. A shell command runs as ``/bin/sh -c value`` (the
entrypoint is replaced); otherwise ``value`` and ``arguments`` are the
command (the image's CMD), after the image's entrypoint unless the
``entrypoint`` docker parameter names another. Volumes are host-path binds
(``container_path`` and ``mode``, RW unless RO).

**Engines.** Each agent may have its own engine (``engines``, by agent
hostname; ``runtime`` serves the others), so two agents on two dockerds stand
for two hosts: a task's container, its network and its IP live on the engine
of the agent it was launched on.

**Networks.** DockerInfo.network decides, as in Mesos: HOST (the Mesos
default, and what a task without ``network_infos`` gets) and NONE as named;
USER is ``--net`` ``network_infos[0].name`` (HostConfig.NetworkMode), at the
address of the docker parameter ``ip`` (``--ip``: NetworkingConfig
.EndpointsConfig[NAME].IPAMConfig.IPv4Address) or, without one, the static
address ``network_infos[0].ip_addresses`` asks for; BRIDGE is the engine's
default ``bridge``, where the engine picks the address (as with Mesos, a
network name or a static address there is not honoured). A USER network is
never created for a task: the Host controller creates it on each host's engine
(the pool's subnet and gateway, the host's block as ip-range), and a network
missing on the agent's engine is TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
"Failed to launch container: network NAME not found on the agent's Docker
engine (...)". An address the engine refuses (taken, outside the subnet) is
TASK_FAILED with the engine's message; so is an address outside the network's
ip-range, which dockerd itself would accept for a static address but which
would leave its host's block. (Networks given to the constructor as
:class:`BridgeNetwork` are the exception: they are created on first use, on
each engine.) The docker parameters honoured are ``entrypoint``, ``hostname``,
``user``, ``workdir`` and ``ip``; others are logged and ignored.

**Status.** TASK_RUNNING carries the container's address on its network as
``docker inspect`` shows it (the master reports it as
``container_status.network_infos[].ip_addresses[].ip_address``, like Mesos).
Images are never pulled: a missing image is TASK_FAILED with
REASON_CONTAINER_LAUNCH_FAILED and a message naming the image ("Failed to
launch container: image ... is not on the agent's Docker engine..."); every
other create/start failure is "Failed to launch container: " and the engine's
message.

With a stand-in image, a task whose image the engine lacks runs as that
image instead (:mod:`.stand_in`); with a host root, host-path volumes live
under ``<root>/<hostname>/``, one tree per agent.

Per run, one watcher task waits on the container (``/wait``) and owns the
terminal report: exit 0 is TASK_FINISHED, other codes TASK_FAILED ("exited
with code N"), and a container that ``kill`` stopped (SIGTERM, SIGKILL after
the grace) TASK_KILLED. The container is removed before the terminal report,
so a terminal task has no container left.

**Health checks** run inside the container through the engine's ``exec``, with
the semantics of :mod:`localcluster.mesos.health`: a COMMAND check as given; an
HTTP check as ``wget`` of ``SCHEME://127.0.0.1:PORT/PATH`` (healthy below 400)
and a TCP check as a connection with ``nc`` to ``127.0.0.1 PORT``
(:func:`in_container_check`), which is where Mesos
probes them too (127.0.0.1 in the task's network namespace). Nothing on the
host ever connects to a container's address, which on a USER network is a
pool address the host may not route to. The image needs ``/bin/sh`` and
``wget``/``nc`` for these checks (busybox has them). ``close()`` removes every
container this containerizer started and reports nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters.docker import ContainerRuntime, ContainerSpec, Mount
from adapters.mesos import (
    CommandInfo,
    DockerNetwork,
    HealthCheckType,
    NetworkInfo,
    TaskState,
    VolumeMode,
)
from adapters.protocols import TASK_ID_LABEL
from crds.errors import DockerError
from localcluster.mesos.containerizer import Launch, Report, StatusReport
from localcluster.mesos.health import send_report, start_health_watch
from localcluster.mesos.process import (
    INVALID,
    LAUNCH_FAILED,
    command_argv,
    kill_grace,
    safe_name,
    task_environment,
    terminal_status,
)
from localcluster.mesos.stand_in import rooted, stand_in_check, stand_in_spec

__all__ = ["BridgeNetwork", "DockerContainerizer", "container_spec", "in_container_check"]

logger = logging.getLogger(__name__)

LABEL_TASK_ID = TASK_ID_LABEL
LABEL_AGENT_ID = "dcos.agent_id"
LABEL_FRAMEWORK_ID = "dcos.framework_id"
PARAMETERS = frozenset({"entrypoint", "hostname", "user", "workdir", "ip"})
"""The docker parameters (``docker run --KEY=VALUE``) this containerizer honours."""
_OWN_NETWORKS = frozenset({"host", "none", "bridge"})
"""Network modes that are not a user network of the engine."""


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
    extra = {p.key: p.value for p in docker.parameters}
    for key in sorted(set(extra) - PARAMETERS):
        logger.warning("docker parameter --%s is not supported; ignored", key)
    network, ip_address = _network(docker.network, info.network_infos, extra.get("ip"))
    if "entrypoint" in extra and entrypoint is None:  # a shell command keeps /bin/sh, as in Mesos
        entrypoint = (extra["entrypoint"],)
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


def _network(
    mode: DockerNetwork | None, infos: Sequence[NetworkInfo], ip_parameter: str | None
) -> tuple[str, str | None]:
    """(network mode or name, static IP or None) for the container; ValueError on bad input."""
    first = infos[0] if infos else None
    name = first.name if first is not None else None
    requested = ip_parameter or (
        next((a.ip_address for a in first.ip_addresses if a.ip_address), None) if first else None
    )
    if mode is None:
        mode = DockerNetwork.USER if name else DockerNetwork.HOST
    if mode in (DockerNetwork.HOST, DockerNetwork.NONE):
        if ip_parameter:
            raise ValueError(
                f"docker parameter ip={ip_parameter}: a static address needs a USER network, "
                f"not {mode.value}"
            )
        return ("host" if mode == DockerNetwork.HOST else "none"), None
    if mode == DockerNetwork.USER and not name:
        raise ValueError("a USER network needs network_infos[0].name")
    if requested is not None:
        try:
            ipaddress.IPv4Address(requested)
        except ValueError:
            raise ValueError(f"static address {requested!r} is not an IPv4 address") from None
    if mode == DockerNetwork.BRIDGE:  # docker0: the engine picks the address
        return "bridge", None
    return name or "bridge", requested


def in_container_check(launch: Launch) -> Launch:
    """``launch`` with an HTTP(S) or TCP health check as the COMMAND check that probes
    127.0.0.1 inside the container (see the module docstring); others unchanged."""
    check = launch.task.health_check
    if check is None:
        return launch
    if check.type == HealthCheckType.HTTP and check.http is not None:
        scheme = check.http.scheme or "http"
        path = (check.http.path or "/").lstrip("/")
        url = shlex.quote(f"{scheme}://127.0.0.1:{check.http.port}/{path}")
        insecure = " --no-check-certificate" if scheme == "https" else ""
        value = f"wget -q{insecure} -O /dev/null {url}"  # non-zero on a 4xx/5xx answer
    elif check.type == HealthCheckType.TCP and check.tcp is not None:
        port = check.tcp.port  # busybox nc has no -z: connect, send nothing, let it close
        value = f"nc -z 127.0.0.1 {port} 2>/dev/null || nc 127.0.0.1 {port} </dev/null >/dev/null"
    else:
        return launch
    converted = check.model_copy(
        update={
            "type": HealthCheckType.COMMAND,
            "command": CommandInfo(shell=True, value=value),
            "http": None,
            "tcp": None,
        }
    )
    task = launch.task.model_copy(update={"health_check": converted})
    return dataclasses.replace(launch, task=task)


async def _check_ip_range(runtime: ContainerRuntime, name: str, ip: str) -> None:
    """DockerError when ``ip`` is in the subnet of network ``name`` but not in its ip-range
    (dockerd would give it); a missing network or another subnet is left to the engine."""
    found = next((net for net in await runtime.networks() if net.name == name), None)
    if found is None or found.ip_range is None:
        return
    address = ipaddress.IPv4Address(ip)
    if found.subnet and address not in ipaddress.ip_network(found.subnet, strict=False):
        return  # the engine's own message says so
    if address not in ipaddress.ip_network(found.ip_range, strict=False):
        raise DockerError(
            f"Invalid address {ip}: it is outside the ip-range {found.ip_range} of network {name}",
            status=400,
        )


@dataclass(eq=False)
class _Run:
    launch: Launch
    report: Report
    runtime: ContainerRuntime
    """The engine of the task's agent."""
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
        engines: Mapping[str, ContainerRuntime] | None = None,
        networks: Sequence[BridgeNetwork] = (),
        name_prefix: str = "mesos",
        stand_in: str | None = None,
        host_root: Path | None = None,
    ) -> None:
        """``runtime`` (the engine of agents not in ``engines``, by hostname) and the
        ``engines`` stay open and owned by the caller; ``networks`` are created on
        demand. ``stand_in`` runs tasks whose image the engine lacks (:mod:`.stand_in`);
        ``host_root`` roots host-path volumes at ``host_root/<hostname>/``."""
        self.runtime = runtime
        self.engines = dict(engines or {})
        self.stand_in = stand_in
        self.host_root = host_root
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
        if self.host_root is not None:
            spec = rooted(spec, self.host_root, launch.hostname)
        runtime = self.engine_of(launch.hostname)
        if self.stand_in is not None and spec.image != self.stand_in:
            with contextlib.suppress(DockerError):  # the launch itself reports engine errors
                if not await runtime.has_image(spec.image):
                    logger.info(
                        "task %s runs %s as stand-in %s", task_id, spec.image, self.stand_in
                    )
                    spec = stand_in_spec(spec, launch, image=self.stand_in)
                    launch = stand_in_check(launch)
        run = _Run(in_container_check(launch), report, runtime)
        self._runs[task_id] = run
        try:
            await self._launch(run, spec)
        finally:
            run.launched.set()

    def engine_of(self, hostname: str) -> ContainerRuntime:
        """The engine of the agent ``hostname``."""
        return self.engines.get(hostname, self.runtime)

    async def _launch(self, run: _Run, spec: ContainerSpec) -> None:
        try:
            ip_address = await self._start(run, spec)
        except DockerError as exc:
            logger.info("task %s did not start: %s", run.task_id, exc)
            await self._forget(run)
            if not self._closed:
                message = await self._failure_message(run.runtime, spec, exc)
                status = StatusReport(run.task_id, TaskState.TASK_FAILED, message, LAUNCH_FAILED)
                await run.report(status)
            return
        if self._closed:  # closed while launching: close() may not have seen this container
            await self._forget(run)
            return
        await run.report(StatusReport(run.task_id, TaskState.TASK_RUNNING, ip_address=ip_address))
        logger.info("task %s running in container %s", run.task_id, spec.name)
        run.health = start_health_watch(
            run.launch,
            exec=lambda check: self._exec(run, check),
            report=run.report,
            on_failed=lambda: self._kill_unhealthy(run),
            ip_address=ip_address,
            name=f"docker:health:{run.task_id}",
        )

    async def _failure_message(
        self, runtime: ContainerRuntime, spec: ContainerSpec, exc: DockerError
    ) -> str:
        """Why the launch failed: a missing image or network by name, else the engine's words."""
        if exc.status == 404:
            with contextlib.suppress(DockerError):
                if not await runtime.has_image(spec.image):
                    return (
                        f"Failed to launch container: image {spec.image} is not on the "
                        f"agent's Docker engine and images are not pulled ({exc})"
                    )
                user_network = spec.network and spec.network not in _OWN_NETWORKS
                if user_network and spec.network not in {n.name for n in await runtime.networks()}:
                    return (
                        f"Failed to launch container: network {spec.network} not found "
                        f"on the agent's Docker engine ({exc})"
                    )
        return f"Failed to launch container: {exc}"

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
        runtime = run.runtime
        network = self.networks.get(spec.network or "")
        if network is not None:  # checked on every launch: someone may have removed it
            await runtime.ensure_network(
                network.name,
                subnet=network.subnet,
                ip_range=network.ip_range,
                gateway=network.gateway,
            )
        if spec.ip_address is not None and spec.network and spec.network not in _OWN_NETWORKS:
            await _check_ip_range(runtime, spec.network, spec.ip_address)
        try:
            run.container_id = await runtime.create_container(spec)
        except DockerError as exc:
            if exc.status != 409:
                raise
            logger.warning("removing stale container %s to launch task %s", spec.name, run.task_id)
            await runtime.remove_container(spec.name)
            run.container_id = await runtime.create_container(spec)
        await run.report(StatusReport(run.task_id, TaskState.TASK_STARTING))
        await runtime.start_container(run.container_id)
        run.watcher = asyncio.create_task(self._watch(run), name=f"docker:watch:{run.task_id}")
        if spec.network in (None, "host", "none"):
            return None
        details = await runtime.inspect_container(run.container_id)
        return details.ip_addresses.get(spec.network or "")

    async def _watch(self, run: _Run) -> None:
        """Wait for the container to exit, remove it, then send the one terminal report."""
        assert run.container_id is not None
        try:
            code = await run.runtime.wait_container(run.container_id)
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

    async def _exec(self, run: _Run, check: CommandInfo) -> int:
        """Run a health check inside the task's container; its exit code."""
        assert run.container_id is not None
        result = await run.runtime.exec(run.container_id, command_argv(check))
        return result.exit_code

    async def _kill_unhealthy(self, run: _Run) -> None:
        run.killing = run.killed_by_health = True
        await self._stop(run, kill_grace(run.launch))

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
            await run.runtime.stop_container(run.container_id, grace_seconds=grace_seconds)
        except DockerError as exc:
            logger.warning("stopping task %s failed (%s); removing it", run.task_id, exc)
            await self._remove(run)

    async def _remove(self, run: _Run) -> None:
        assert run.container_id is not None
        try:
            await run.runtime.remove_container(run.container_id)
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
