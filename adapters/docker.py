"""The Docker engine behind one small Protocol, :class:`ContainerRuntime`.

Everything simple-dcos asks of a Docker engine goes through here: engine
facts (:meth:`~ContainerRuntime.info`), user bridge networks (a host's IP
block is the network's ``ip_range``), containers found by label, their
create/start/wait/stop/remove life cycle, ``exec`` (how COMMAND health checks
run inside a container), stats for metrics (:func:`parse_stats`, also what a
ScalingPolicy's metric source reads), and importing an image from a
root-fs tarball (``docker import``, so tests never download anything).

:class:`DockerEngine` implements it on aiodocker and is the only module that
imports aiodocker or aiohttp. Raw JSON from the engine stops here: callers get
frozen dataclasses, and every aiodocker/aiohttp failure or timeout leaves as
:class:`crds.errors.DockerError` (``status`` is the engine's HTTP status, 404
for a missing image/container/network). Short calls run under
``request_timeout``; ``wait_container`` and ``exec`` are bounded by the caller.

The callers are ``localcluster.mesos.docker`` (the Docker containerizer of the
local master), ``localcluster.dockerd`` (a private engine for tests) and
``adapters.docker_host``, which reads the Hosts' engines for ``dcos-controller``
(container stats for a ScalingPolicy's metric rule among them).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import aiodocker
import aiohttp

from crds.errors import DockerError

__all__ = [
    "Container",
    "ContainerRuntime",
    "ContainerSpec",
    "ContainerStats",
    "DockerEngine",
    "EngineInfo",
    "ExecResult",
    "Mount",
    "Network",
    "parse_stats",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
JsonDict = dict[str, Any]  # raw engine JSON; never leaves this module


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str
    storage_driver: str
    docker_root_dir: str
    containers_running: int


@dataclass(frozen=True)
class Network:
    name: str
    id: str
    driver: str
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None


@dataclass(frozen=True)
class Mount:
    host_path: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """What to create. ``command`` empty means the image's default command."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    """``host``, ``none``, ``bridge`` or a user network's name; None: the engine's default."""
    ip_address: str | None = None
    """A static IPv4 address on ``network`` (user networks only)."""
    hostname: str | None = None
    privileged: bool = False
    user: str | None = None
    workdir: str | None = None


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    image: str
    state: str
    """The engine's word: ``created``, ``running``, ``exited``..."""
    labels: Mapping[str, str]
    ip_addresses: Mapping[str, str]
    """Network name to IPv4 address (empty on host networking)."""
    exit_code: int | None = None
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes
    """stdout and stderr, interleaved as the engine sent them."""


@dataclass(frozen=True)
class ContainerStats:
    cpu_percent: float
    """Of one CPU over the engine's last sample interval (200.0 = two CPUs busy)."""
    memory_usage_bytes: int
    memory_limit_bytes: int
    memory_cache_bytes: int = 0
    """Inactive page cache inside ``memory_usage_bytes`` (``docker stats`` leaves it out)."""


class ContainerRuntime(Protocol):
    """What simple-dcos asks of a container engine.

    Failures raise DockerError (``status`` 404: no such image, container or
    network). Removing what is absent (or being removed), or stopping what has
    stopped, is not an error. ``ensure_network`` creates a bridge network unless it exists, and
    refuses one that exists with another subnet/ip-range/gateway.
    ``containers`` matches every label given (a ``None`` value: the key alone).
    ``wait_container`` has no deadline and returns the exit code; ``stop``
    sends SIGTERM, then SIGKILL after the grace period. ``import_image`` turns
    a root-fs tarball into image ``ref`` (``repo:tag``) and returns its id.
    """

    async def info(self) -> EngineInfo: ...
    async def networks(self) -> list[Network]: ...
    async def ensure_network(
        self, name: str, *, subnet: str, ip_range: str | None = None, gateway: str | None = None
    ) -> Network: ...
    async def remove_network(self, name: str) -> None: ...
    async def containers(
        self, *, labels: Mapping[str, str | None] | None = None, include_stopped: bool = True
    ) -> list[Container]: ...
    async def inspect_container(self, id_or_name: str) -> Container: ...
    async def create_container(self, spec: ContainerSpec) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def wait_container(self, container_id: str) -> int: ...
    async def stop_container(self, container_id: str, *, grace_seconds: float) -> None: ...
    async def remove_container(self, container_id: str) -> None: ...
    async def exec(
        self, container_id: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> ExecResult: ...
    async def stats(self, container_id: str) -> ContainerStats: ...
    async def has_image(self, ref: str) -> bool: ...
    async def import_image(self, rootfs_tar: bytes, ref: str) -> str: ...
    async def close(self) -> None: ...


class DockerEngine:
    """:class:`ContainerRuntime` on aiodocker, for one engine socket.

    >>> engine = DockerEngine("/run/dcos/docker.sock")   # inside a running loop
    >>> try: print((await engine.info()).version)
    ... finally: await engine.close()
    """

    def __init__(self, socket_path: str, *, request_timeout: float = 60.0) -> None:
        self.socket_path = socket_path
        self.request_timeout = request_timeout
        # Unlimited connections: every running container holds one for its /wait.
        self._connector = aiohttp.UnixConnector(path=socket_path, limit=0)
        self._docker = aiodocker.Docker(url="unix://localhost", connector=self._connector)

    async def __aenter__(self) -> DockerEngine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._docker.close()
        await self._connector.close()

    async def _call(
        self,
        action: str,
        call: Awaitable[T],
        *,
        limit_s: float | Literal["default"] | None = "default",
    ) -> T:
        """Await ``call`` within ``limit_s`` (None: no limit), every failure as DockerError."""
        limit = self.request_timeout if limit_s == "default" else limit_s
        try:
            async with asyncio.timeout(limit):
                return await call
        except aiodocker.DockerError as exc:
            status = exc.status if 100 <= exc.status < 600 else None
            raise DockerError(f"{action}: {exc.message}", status=status) from exc
        except aiohttp.ClientError as exc:
            raise DockerError(f"{action}: {exc}") from exc
        except TimeoutError as exc:
            raise DockerError(f"{action}: no answer from the engine within {limit}s") from exc

    async def _tolerant(
        self, action: str, call: Awaitable[object], statuses: set[int], extra_s: float = 0.0
    ) -> bool:
        """True when done; False when the engine answered with one of ``statuses``."""
        try:
            await self._call(action, call, limit_s=self.request_timeout + extra_s)
        except DockerError as exc:
            if exc.status in statuses:
                return False
            raise
        return True

    async def ping(self) -> bool:
        """True when the engine answers ``/_ping``."""
        try:
            await self._call("ping", self._ping(), limit_s=2.0)
        except DockerError:
            return False
        return True

    async def _ping(self) -> None:
        async with self._docker._query("_ping", versioned_api=False) as response:
            await response.read()

    async def info(self) -> EngineInfo:
        raw: JsonDict = dict(await self._call("info", self._docker.system.info()))
        version: JsonDict = await self._call("version", self._docker.version())
        return EngineInfo(
            version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
            storage_driver=str(raw.get("Driver", "")),
            docker_root_dir=str(raw.get("DockerRootDir", "")),
            containers_running=int(raw.get("ContainersRunning", 0)),
        )

    # networks

    async def networks(self) -> list[Network]:
        raw: list[JsonDict] = await self._call("list networks", self._docker.networks.list())
        return [_network(item) for item in raw]

    async def ensure_network(
        self, name: str, *, subnet: str, ip_range: str | None = None, gateway: str | None = None
    ) -> Network:
        for _ in range(2):  # a 409 means it was created meanwhile: look again
            found = next((net for net in await self.networks() if net.name == name), None)
            if found is not None:
                if (found.subnet, found.ip_range) != (subnet, ip_range) or gateway not in (
                    None,
                    found.gateway,
                ):
                    raise DockerError(f"network {name} exists with another address plan: {found}")
                return found
            pool = {"Subnet": subnet, "IPRange": ip_range, "Gateway": gateway}
            ipam = {"Config": [{key: value for key, value in pool.items() if value}]}
            config = {"Name": name, "Driver": "bridge", "CheckDuplicate": True, "IPAM": ipam}
            try:
                await self._call(f"create network {name}", self._docker.networks.create(config))
                logger.info("network %s created (subnet %s, ip-range %s)", name, subnet, ip_range)
            except DockerError as exc:
                if exc.status != 409:
                    raise
        raise DockerError(f"network {name} vanished while it was being created")

    async def remove_network(self, name: str) -> None:
        async def remove() -> None:
            await (await self._docker.networks.get(name)).delete()

        await self._tolerant(f"remove network {name}", remove(), {404})

    # containers

    async def containers(
        self, *, labels: Mapping[str, str | None] | None = None, include_stopped: bool = True
    ) -> list[Container]:
        wanted = [
            key if value is None else f"{key}={value}" for key, value in (labels or {}).items()
        ]
        params: JsonDict = {"all": include_stopped}
        if wanted:
            params["filters"] = json.dumps({"label": wanted})
        found = await self._call("list containers", self._docker.containers.list(**params))
        return [_container(item._container) for item in found]

    async def inspect_container(self, id_or_name: str) -> Container:
        found = await self._call(
            f"inspect container {id_or_name}", self._docker.containers.get(id_or_name)
        )
        return _container(found._container)

    async def create_container(self, spec: ContainerSpec) -> str:
        created = await self._call(
            f"create container {spec.name}",
            self._docker.containers.create(_create_config(spec), name=spec.name),
        )
        return str(created.id)

    async def start_container(self, container_id: str) -> None:
        await self._call(f"start container {container_id}", self._container(container_id).start())

    async def wait_container(self, container_id: str) -> int:
        result: JsonDict = await self._call(
            f"wait for container {container_id}",
            self._container(container_id).wait(timeout=None),
            limit_s=None,
        )
        return int(result.get("StatusCode", -1))

    async def stop_container(self, container_id: str, *, grace_seconds: float) -> None:
        grace = max(0, math.ceil(grace_seconds))  # the API takes whole seconds
        stop = self._container(container_id).stop(t=grace, timeout=None)
        await self._tolerant(f"stop container {container_id}", stop, {304, 404}, grace)

    async def remove_container(self, container_id: str) -> None:
        remove = self._container(container_id).delete(force=True, v=True)
        await self._tolerant(
            f"remove container {container_id}", remove, {404, 409}
        )  # 409: underway

    async def exec(
        self, container_id: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> ExecResult:
        return await self._call(
            f"exec {argv[0] if argv else ''} in {container_id}",
            self._exec(container_id, list(argv), dict(env) if env else None),
            limit_s=None,
        )

    async def _exec(
        self, container_id: str, argv: list[str], env: dict[str, str] | None
    ) -> ExecResult:
        process = await self._container(container_id).exec(argv, environment=env)
        chunks: list[bytes] = []
        async with process.start(detach=False) as stream:
            while (message := await stream.read_out()) is not None:
                chunks.append(message.data)
        state: JsonDict = await process.inspect()
        while state.get("Running"):  # output closed a moment before the engine records the exit
            await asyncio.sleep(0.01)
            state = await process.inspect()
        code = state.get("ExitCode")
        return ExecResult(exit_code=-1 if code is None else int(code), output=b"".join(chunks))

    async def stats(self, container_id: str) -> ContainerStats:
        samples: list[JsonDict] = await self._call(
            f"stats of container {container_id}",
            self._container(container_id).stats(stream=False, timeout=None),
        )
        return parse_stats(samples[-1] if samples else {})

    def _container(self, container_id: str) -> aiodocker.containers.DockerContainer:
        return self._docker.containers.container(container_id)

    # images

    async def has_image(self, ref: str) -> bool:
        return await self._tolerant(f"inspect image {ref}", self._docker.images.inspect(ref), {404})

    async def import_image(self, rootfs_tar: bytes, ref: str) -> str:
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
        params = {"fromSrc": "-", "repo": repo, "tag": tag or "latest"}
        await self._call(f"import image {ref}", self._import(params, rootfs_tar))
        image: JsonDict = await self._call(f"inspect image {ref}", self._docker.images.inspect(ref))
        logger.info("image %s imported (%d bytes of root fs)", ref, len(rootfs_tar))
        return str(image.get("Id", ""))

    async def _import(self, params: dict[str, str], data: bytes) -> None:
        headers = {"Content-Type": "application/x-tar"}
        query = self._docker._query(
            "images/create", "POST", params=params, data=io.BytesIO(data), headers=headers
        )
        async with query as response:
            body = await response.read()
        for line in body.decode(errors="replace").splitlines():
            event = json.loads(line) if line.strip() else {}
            if "error" in event or "errorDetail" in event:
                detail = event.get("errorDetail") or {}
                raise aiodocker.DockerError(500, str(detail.get("message") or event.get("error")))


def _network(raw: JsonDict) -> Network:
    pool: JsonDict = ((raw.get("IPAM") or {}).get("Config") or [{}])[0] or {}
    return Network(
        name=raw["Name"],
        id=raw["Id"],
        driver=raw.get("Driver", ""),
        subnet=pool.get("Subnet") or None,
        ip_range=pool.get("IPRange") or None,
        gateway=pool.get("Gateway") or None,
    )


def _create_config(spec: ContainerSpec) -> JsonDict:
    binds = [
        f"{m.host_path}:{m.container_path}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts
    ]
    host: JsonDict = {"Binds": binds, "Privileged": spec.privileged}
    config: JsonDict = {
        "Image": spec.image,
        "Env": [f"{key}={value}" for key, value in spec.env.items()],
        "Labels": dict(spec.labels),
        "HostConfig": host,
        "Cmd": list(spec.command) or None,
        "Entrypoint": None if spec.entrypoint is None else list(spec.entrypoint),
        "Hostname": spec.hostname,
        "User": spec.user,
        "WorkingDir": spec.workdir,
    }
    if spec.network:
        host["NetworkMode"] = spec.network
        if spec.ip_address:
            endpoint = {"IPAMConfig": {"IPv4Address": spec.ip_address}}
            config["NetworkingConfig"] = {"EndpointsConfig": {spec.network: endpoint}}
    return {key: value for key, value in config.items() if value is not None}


def _container(raw: JsonDict) -> Container:
    """From a ``/containers/json`` item (list) or ``/containers/{id}/json`` (inspect)."""
    networks: JsonDict = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    ips = {name: ep["IPAddress"] for name, ep in networks.items() if ep.get("IPAddress")}
    if "Config" not in raw:  # a list item
        return Container(
            id=raw["Id"],
            name=(raw.get("Names") or [""])[0].lstrip("/"),
            image=raw.get("Image", ""),
            state=raw.get("State", ""),
            labels=dict(raw.get("Labels") or {}),
            ip_addresses=ips,
        )
    state: JsonDict = raw.get("State") or {}
    mounts = [
        (m["Source"], m["Destination"], not m.get("RW", True)) for m in raw.get("Mounts") or []
    ]
    return Container(
        id=raw["Id"],
        name=raw.get("Name", "").lstrip("/"),
        image=raw["Config"].get("Image", ""),
        state=state.get("Status", ""),
        labels=dict(raw["Config"].get("Labels") or {}),
        ip_addresses=ips,
        exit_code=int(state["ExitCode"]) if state.get("Status") == "exited" else None,
        mounts=tuple(Mount(*mount) for mount in mounts),
    )


def parse_stats(raw: JsonDict) -> ContainerStats:
    """A non-streaming ``/containers/{id}/stats`` answer: CPU from the ``cpu_stats`` /
    ``precpu_stats`` delta (the engine's last two samples), memory less the inactive
    page cache, as ``docker stats`` shows them."""
    cpu: JsonDict = raw.get("cpu_stats") or {}
    pre: JsonDict = raw.get("precpu_stats") or {}
    used = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    memory: JsonDict = raw.get("memory_stats") or {}
    detail: JsonDict = memory.get("stats") or {}
    # cgroup v2 reports inactive_file, v1 total_inactive_file: what docker stats subtracts.
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return ContainerStats(
        cpu_percent=100.0 * (cpu.get("online_cpus") or 1) * used / system if system > 0 else 0.0,
        memory_usage_bytes=int(memory.get("usage", 0)),
        memory_limit_bytes=int(memory.get("limit", 0)),
        memory_cache_bytes=int(cache or 0),
    )
