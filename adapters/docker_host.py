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

The endpoint is a unix socket (``unix:///var/run/docker.sock``) or TCP with
mutual TLS (``tcp://10.0.0.5:2376`` plus CA, certificate and key files, as
``dockerd --tlsverify`` expects). Every failure leaves as
:class:`crds.errors.DockerError`.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from typing import Any

import aiodocker
import aiohttp

from adapters.protocols import TASK_ID_LABEL, BridgeState, DockerHostState, LabelledContainer
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
