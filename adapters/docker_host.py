"""A host's Docker engine as the Host controller sees it: :class:`DockerHostReader`.

One read gathers what the profile check compares, as the plain values of
:class:`adapters.protocols.DockerHostState`:

* ``/info``: the storage driver (``Driver``), the log driver
  (``LoggingDriver``), ``IPv4Forwarding`` (the kernel's
  ``net.ipv4.ip_forward``, which ``--ip-forward=true`` turns on) and, on
  engines that report it (API 1.48 and later), ``FirewallBackend`` for
  ``--iptables``; older engines do not say, and ``iptables`` is None;
* ``/networks``: the bridge's IPAM config. ``--bip`` and ``--fixed-cidr`` are
  not in ``/info``; they are the default bridge's ``Subnet``/``Gateway`` and
  ``IPRange``, and ``--default-gateway`` its ``DefaultGatewayIPv4`` auxiliary
  address. ``network`` names another bridge for engines whose containers
  live on a user network;
* ``/containers/json?all=1`` filtered on the task label (``dcos.task_id``,
  the label the Docker containerizer sets), with each container's address on
  the bridge.

:meth:`DockerHostReader.ensure_network` makes sure the engine has an IPPool's
network (:class:`adapters.protocols.NetworkPlan`): a bridge with the pool's
subnet and gateway and the host's block as ip-range. A missing network is
created with the plan's labels; an existing one is never changed (containers
may be attached): it is returned as found, for the caller to compare.

:meth:`DockerHostReader.usage` (an :class:`adapters.protocols.UsageReader`,
a ScalingPolicy's metric source) lists the running containers whose task
label starts with a prefix and reads the stats of each at once, one
non-streaming read per container: the engine answers after its next sample
(about a second) with the one before as ``precpu_stats``, so CPUs used is
the ``cpu_stats``/``precpu_stats`` delta and memory the usage less the
inactive page cache (:func:`adapters.docker.parse_stats`). The Docker
containerizer sets no ``--cpus``/``--memory``, so no limits are reported and
the caller measures against what the task asked. A container that ends
between the list and its stats is left out.

The endpoint is a unix socket (``unix:///var/run/docker.sock``) or TCP with
mutual TLS (``tcp://10.0.0.5:2376`` plus CA, certificate and key files, as
``dockerd --tlsverify`` expects). Every failure leaves as
:class:`crds.errors.DockerError`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from typing import Any

import aiodocker
import aiohttp

from adapters.docker import ContainerStats, parse_stats
from adapters.protocols import (
    TASK_ID_LABEL,
    BridgeState,
    ContainerUsage,
    DockerHostState,
    LabelledContainer,
    NetworkEnsured,
    NetworkPlan,
)
from crds.errors import DockerError

__all__ = ["TASK_ID_LABEL", "DockerHostReader", "EngineEndpoint", "parse_state"]

"""The label every platform container carries: its Mesos task id."""

JsonDict = dict[str, Any]  # raw engine JSON; never leaves this module


@dataclass(frozen=True)
class EngineEndpoint:
    """Where a Docker engine listens: ``unix:///path`` or ``tcp://host:port``.

    A ``tcp://`` endpoint speaks TLS with ``ca_file`` (the engine's CA) and,
    for ``--tlsverify`` engines, ``cert_file``/``key_file``; without
    ``ca_file`` it is plain HTTP, which only a loopback engine should offer.
    """

    url: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class DockerHostReader:
    """:class:`adapters.protocols.DockerHostReader` for one engine endpoint.

    >>> async with DockerHostReader(EngineEndpoint("unix:///var/run/docker.sock")) as reader:
    ...     state = await reader.read_state()
    """

    def __init__(
        self,
        endpoint: EngineEndpoint,
        *,
        network: str = "bridge",
        label: str = TASK_ID_LABEL,
        request_timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.network = network
        self.label = label
        self.request_timeout = request_timeout
        self._docker, self._connector = _client(endpoint)

    async def __aenter__(self) -> DockerHostReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._docker.close()
        if self._connector is not None:
            await self._connector.close()

    async def read_state(self) -> DockerHostState:
        where = self.endpoint.url
        try:
            async with asyncio.timeout(self.request_timeout):
                info: JsonDict = dict(await self._docker.system.info())
                networks: list[JsonDict] = await self._docker.networks.list()
                containers: list[JsonDict] = await self._docker._query_json(
                    "containers/json",
                    params={"all": "1", "filters": f'{{"label": ["{self.label}"]}}'},
                )
        except aiodocker.DockerError as exc:
            raise DockerError(f"engine {where}: {exc.message}", status=exc.status) from exc
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise DockerError(f"engine {where}: {exc}") from exc
        except TimeoutError as exc:
            raise DockerError(f"engine {where}: no answer within {self.request_timeout}s") from exc
        return parse_state(info, networks, containers, network=self.network)

    async def ensure_network(self, plan: NetworkPlan) -> NetworkEnsured:
        """The network ``plan`` names: created as planned when missing, else as it is."""
        where = self.endpoint.url
        config = {
            "Name": plan.name,
            "Driver": "bridge",
            "CheckDuplicate": True,
            "Labels": dict(plan.labels),
            "IPAM": {
                "Config": [
                    {
                        "Subnet": str(plan.subnet),
                        "IPRange": str(plan.ip_range),
                        "Gateway": str(plan.gateway),
                    }
                ]
            },
        }
        try:
            async with asyncio.timeout(self.request_timeout):
                for attempt in range(2):  # a 409 means it was created meanwhile: look again
                    found = await self._find_network(plan.name)
                    if found is not None:
                        return NetworkEnsured(observed=found, created=False)
                    try:
                        await self._docker.networks.create(config)
                    except aiodocker.DockerError as exc:
                        if exc.status != 409 or attempt:
                            raise
                        continue
                    created = await self._find_network(plan.name)
                    if created is not None:
                        return NetworkEnsured(observed=created, created=True)
        except aiodocker.DockerError as exc:
            raise DockerError(
                f"engine {where}: network {plan.name}: {exc.message}", status=exc.status
            ) from exc
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise DockerError(f"engine {where}: network {plan.name}: {exc}") from exc
        except TimeoutError as exc:
            raise DockerError(f"engine {where}: no answer within {self.request_timeout}s") from exc
        raise DockerError(f"engine {where}: network {plan.name} vanished while being created")

    async def usage(self, task_prefix: str) -> Sequence[ContainerUsage]:
        """The running containers whose task label starts with ``task_prefix``."""
        where = self.endpoint.url
        try:
            async with asyncio.timeout(self.request_timeout):
                listed: list[JsonDict] = await self._docker._query_json(
                    "containers/json", params={"filters": json.dumps({"label": [self.label]})}
                )
                chosen = [
                    (str(raw["Id"]), str((raw.get("Labels") or {}).get(self.label, "")))
                    for raw in listed
                    if str((raw.get("Labels") or {}).get(self.label, "")).startswith(task_prefix)
                ]
                answers = await asyncio.gather(
                    *(self._stats(container_id) for container_id, _ in chosen),
                    return_exceptions=True,
                )
        except aiodocker.DockerError as exc:
            raise DockerError(f"engine {where}: {exc.message}", status=exc.status) from exc
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise DockerError(f"engine {where}: {exc}") from exc
        except TimeoutError as exc:
            raise DockerError(f"engine {where}: no answer within {self.request_timeout}s") from exc
        out = []
        for (_, task_id), answer in zip(chosen, answers, strict=True):
            if isinstance(answer, aiodocker.DockerError) and answer.status == 404:
                continue  # ended since the list
            if isinstance(answer, aiodocker.DockerError):
                raise DockerError(f"engine {where}: stats: {answer.message}", status=answer.status)
            if isinstance(answer, BaseException):
                raise DockerError(f"engine {where}: stats: {answer}") from answer
            out.append(
                ContainerUsage(
                    task_id=task_id,
                    cpus_used=answer.cpu_percent / 100.0,
                    mem_bytes=max(0, answer.memory_usage_bytes - answer.memory_cache_bytes),
                )
            )
        return out

    async def _stats(self, container_id: str) -> ContainerStats:
        container = self._docker.containers.container(container_id)
        samples: list[JsonDict] = await container.stats(stream=False)
        return parse_stats(samples[-1] if samples else {})

    async def _find_network(self, name: str) -> BridgeState | None:
        networks: list[JsonDict] = await self._docker.networks.list()
        return next((_bridge(raw) for raw in networks if raw.get("Name") == name), None)


def _client(endpoint: EngineEndpoint) -> tuple[aiodocker.Docker, aiohttp.BaseConnector | None]:
    scheme, sep, rest = endpoint.url.partition("://")
    if not sep or not rest:
        raise DockerError(
            f"engine endpoint {endpoint.url!r} must be unix:///PATH or tcp://HOST:PORT"
        )
    if scheme == "unix":
        unix = aiohttp.UnixConnector(path=rest)
        return aiodocker.Docker(url="unix://localhost", connector=unix), unix
    if scheme != "tcp":
        raise DockerError(
            f"engine endpoint {endpoint.url!r} must be unix:///PATH or tcp://HOST:PORT"
        )
    if endpoint.ca_file is None:
        return aiodocker.Docker(url=f"http://{rest}"), None
    try:
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        if endpoint.cert_file:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise DockerError(f"engine {endpoint.url}: TLS files: {exc}") from exc
    tcp = aiohttp.TCPConnector(ssl=context)
    return aiodocker.Docker(url=f"https://{rest}", connector=tcp), tcp


def parse_state(
    info: JsonDict, networks: list[JsonDict], containers: list[JsonDict], *, network: str
) -> DockerHostState:
    """The engine's raw ``/info``, ``/networks`` and ``/containers/json`` as plain values."""
    firewall = info.get("FirewallBackend")
    forwarding = info.get("IPv4Forwarding")
    return DockerHostState(
        storage_driver=str(info.get("Driver", "")),
        logging_driver=str(info.get("LoggingDriver", "")),
        iptables=bool(firewall.get("Driver")) if isinstance(firewall, dict) else None,
        ip_forward=forwarding if isinstance(forwarding, bool) else None,
        bridge=next((_bridge(raw) for raw in networks if raw.get("Name") == network), None),
        containers=tuple(_container(raw, network) for raw in containers),
    )


def _bridge(raw: JsonDict) -> BridgeState:
    configs: list[JsonDict] = (raw.get("IPAM") or {}).get("Config") or []
    pool = next((c for c in configs if ":" not in str(c.get("Subnet", ""))), {})
    return BridgeState(
        name=str(raw["Name"]),
        subnet=_net(pool.get("Subnet")),
        ip_range=_net(pool.get("IPRange")),
        gateway=_addr(pool.get("Gateway")),
        default_gateway=_addr((pool.get("AuxiliaryAddresses") or {}).get("DefaultGatewayIPv4")),
    )


def _container(raw: JsonDict, network: str) -> LabelledContainer:
    nets: JsonDict = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    ips = [ep.get("IPAddress") for name, ep in nets.items() if name == network]
    ips += [ep.get("IPAddress") for name, ep in sorted(nets.items()) if name != network]
    return LabelledContainer(
        id=str(raw["Id"]),
        name=str((raw.get("Names") or [""])[0]).lstrip("/"),
        labels=dict(raw.get("Labels") or {}),
        state=str(raw.get("State", "")),
        ip=next((addr for addr in map(_addr, ips) if addr is not None), None),
    )


def _net(text: object) -> IPv4Network | None:
    try:
        net = ip_network(str(text), strict=False) if text else None
    except ValueError:
        return None
    return net if isinstance(net, IPv4Network) else None


def _addr(text: object) -> IPv4Address | None:
    try:
        addr = ip_address(str(text).partition("/")[0]) if text else None
    except ValueError:
        return None
    return addr if isinstance(addr, IPv4Address) else None
