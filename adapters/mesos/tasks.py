"""The framework's codec: plain values in, Mesos wire messages out, and back.

The reconciler's framework (``reconciler/framework/``) speaks
:class:`adapters.protocols.MesosScheduler` but never names a wire type: it
hands plain values (:class:`~adapters.protocols.TaskLaunch`) to
:class:`MesosWireCodec` and gets plain values
(:class:`~adapters.protocols.FrameworkEvent`) back. The composition root
(``cli/controller.py``) injects the codec next to the scheduler client.

Task construction (:func:`build_task_info`), Marathon-style:

* ``name``, ``task_id`` (the instance id), ``agent_id``;
* ``cpus``/``mem``/``disk`` scalars and the chosen ``ports`` as ranges, each
  with ``allocation_info.role``; taken from the role's reservation when the
  placement chose the reserved part of the offer, carrying that reservation
  exactly as offered (``reservations: [{type, role, principal}]``, static or
  dynamic: :attr:`OfferView.reservation`; an agent with both gives only the
  larger kind to placement);
* ``command``: the spec's command replaces the image's entrypoint: its first
  word is the docker parameter ``entrypoint`` (``docker run --entrypoint``),
  the rest and the spec's args are the ``arguments`` of a CommandInfo with
  ``shell: false`` and no ``value`` (a value would replace the image's
  default command, not its entrypoint); without a command, the args alone
  replace the default command. The environment (``TZ`` already merged in by
  the caller) goes with it;
* ``container``: DOCKER with the image, port mappings from the offer's
  ports and host volumes (``perContainerIp`` ones at ``hostPath/<ip>``).
  Without an address, the BRIDGE network. With one, ``network_infos`` holds
  one ``NetworkInfo`` named after the pool's Docker network with the address
  as a static request (``ip_address`` alone: mesos.proto says not to set
  ``protocol`` with it); when the launch pins it (``pin_ip``: the host's
  Docker engine is declared, so the pool's network exists there) the Docker
  network is USER and the docker parameter ``ip`` (``docker run --ip``)
  pins the address, as Marathon does on user-defined networks; else the
  Docker network stays BRIDGE (sim and process containerizers read the
  request from ``network_infos``);
* ``health_check``: the first check, converted (HTTP/HTTPS/TCP on the
  container port, COMMAND as a shell command);
* ``labels``: the App's labels plus ours (``dcos/app``, ``dcos/domain``,
  ``dcos/version``), set by the caller.

:meth:`MesosWireCodec.launch_operation` keeps a LAUNCH as its plain
launches (:class:`LaunchOperation`): the scheduler client writes the ACCEPT
from them directly (``adapters.mesos.encode``), the same JSON as the models
would give at a fraction of the cost; the models are built only when asked
for (:attr:`LaunchOperation.launch`, :meth:`LaunchOperation.model`).

Offers are read with :func:`offer_view` following the mapping spelled out
in :meth:`reconciler.placement.AgentOffer.from_values`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from adapters.mesos.encode import launch_operation_json
from adapters.mesos.model_common import (
    AgentID,
    AllocationInfo,
    FrameworkCapability,
    FrameworkID,
    FrameworkInfo,
    Label,
    Labels,
    Parameter,
    Range,
    Ranges,
    ReservationInfo,
    Resource,
    Scalar,
    TaskID,
    Volume,
)
from adapters.mesos.model_enums import (
    ContainerType,
    DockerNetwork,
    FrameworkCapabilityType,
    HealthCheckType,
    ReservationType,
    SchedulerEventType,
    ValueType,
    VolumeMode,
)
from adapters.mesos.model_offer import Filters, Offer, OfferOperation, OperationLaunch
from adapters.mesos.model_scheduler import SchedulerEvent
from adapters.mesos.model_task import (
    CommandInfo,
    ContainerInfo,
    DockerInfo,
    DockerPortMapping,
    Environment,
    EnvironmentVariable,
    HealthCheck,
    HTTPCheckInfo,
    IPAddress,
    NetworkInfo,
    TaskInfo,
    TCPCheckInfo,
)
from adapters.protocols import (
    FrameworkEvent,
    OfferAmounts,
    OfferRescinded,
    OffersReceived,
    OfferView,
    ReservationKind,
    Subscribed,
    TaskLaunch,
    TaskUpdate,
)
from crds.common import HealthCheck as AppHealthCheck
from crds.common import HealthCheckProtocol

__all__ = ["LaunchOperation", "MesosWireCodec", "build_task_info", "offer_view"]

logger = logging.getLogger(__name__)

_CAPABILITIES = (
    FrameworkCapabilityType.MULTI_ROLE,
    FrameworkCapabilityType.PARTITION_AWARE,
    FrameworkCapabilityType.TASK_KILLING_STATE,
)


@dataclass(frozen=True, eq=False)
class LaunchOperation:
    """One LAUNCH operation of plain launches (see the module docstring).

    Reads like an ``OfferOperation`` of type LAUNCH where it matters
    (``launch.task_infos``); :meth:`wire` is its JSON form, :meth:`model`
    the operation as a wire model.
    """

    launches: tuple[TaskLaunch, ...]

    @cached_property
    def launch(self) -> OperationLaunch:
        """The LAUNCH body as models, built on first use."""
        return OperationLaunch(task_infos=[build_task_info(x) for x in self.launches])

    def model(self) -> OfferOperation:
        return OfferOperation.wrap("LAUNCH", self.launch)

    def wire(self) -> dict[str, Any]:
        """What ``to_json(self.model())`` gives, written directly."""
        return launch_operation_json(self.launches)


class MesosWireCodec:
    """Implements :class:`adapters.protocols.MesosCodec` on the wire models."""

    def framework_info(
        self,
        *,
        name: str,
        user: str,
        roles: Sequence[str],
        failover_timeout: float,
        checkpoint: bool,
        framework_id: str | None,
    ) -> FrameworkInfo:
        return FrameworkInfo(
            user=user,
            name=name,
            id=FrameworkID(value=framework_id) if framework_id else None,
            failover_timeout=failover_timeout,
            checkpoint=checkpoint,
            roles=list(roles),
            capabilities=[FrameworkCapability(type=kind) for kind in _CAPABILITIES],
        )

    def decode(self, event: SchedulerEvent) -> FrameworkEvent | None:
        kind = event.type
        if kind == SchedulerEventType.SUBSCRIBED and event.subscribed is not None:
            sub = event.subscribed
            return Subscribed(sub.framework_id.value, sub.heartbeat_interval_seconds)
        if kind == SchedulerEventType.OFFERS and event.offers is not None:
            return OffersReceived(tuple(offer_view(o) for o in event.offers.offers))
        if kind == SchedulerEventType.RESCIND and event.rescind is not None:
            return OfferRescinded(event.rescind.offer_id.value)
        if kind == SchedulerEventType.UPDATE and event.update is not None:
            status = event.update.status
            return TaskUpdate(
                task_id=status.task_id.value,
                state=str(status.state),
                agent_id=status.agent_id.value if status.agent_id else None,
                healthy=status.healthy,
                message=status.message or "",
                reason=str(status.reason) if status.reason else None,
                timestamp=status.timestamp,
                uuid=status.uuid,
            )
        return None

    def launch_operations(self, launches: Sequence[TaskLaunch]) -> list[OfferOperation]:
        infos = [build_task_info(launch) for launch in launches]
        return [OfferOperation.wrap("LAUNCH", OperationLaunch(task_infos=infos))]

    def launch_operation(self, launches: Sequence[TaskLaunch]) -> LaunchOperation:
        return LaunchOperation(tuple(launches))

    def filters(self, refuse_seconds: float) -> Filters:
        return Filters(refuse_seconds=refuse_seconds)


def offer_view(offer: Offer) -> OfferView:
    """Plain values of one offer (see the module docstring)."""
    role = offer.allocation_info.role if offer.allocation_info else None
    parts: dict[bool, dict[str, float]] = {True: {}, False: {}}
    ports: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
    kind = _reservation_kind(offer.resources)
    for res in offer.resources:
        if res.revocable is not None or res.disk is not None:
            continue
        reserved = bool(res.reservations) or (res.role not in (None, "*"))
        if reserved and _kind_of(res) != kind:
            continue  # a second kind of reservation on the agent: not placeable with the first
        if res.type == ValueType.SCALAR and res.scalar is not None:
            if res.name in ("cpus", "mem", "disk"):
                parts[reserved][res.name] = parts[reserved].get(res.name, 0.0) + res.scalar.value
        elif res.type == ValueType.RANGES and res.ranges is not None and res.name == "ports":
            ports[reserved].extend((r.begin, r.end) for r in res.ranges.range)
        role = role or (res.allocation_info.role if res.allocation_info else None)
    attributes: dict[str, str | float] = {}
    for attr in offer.attributes:
        if attr.type == ValueType.TEXT and attr.text is not None:
            attributes[attr.name] = attr.text.value
        elif attr.type == ValueType.SCALAR and attr.scalar is not None:
            attributes[attr.name] = attr.scalar.value

    def amounts(reserved: bool) -> OfferAmounts:
        got = parts[reserved]
        return OfferAmounts(
            cpus=got.get("cpus", 0.0),
            mem=got.get("mem", 0.0),
            disk=got.get("disk", 0.0),
            ports=tuple(sorted(ports[reserved])),
        )

    return OfferView(
        offer_id=offer.id.value,
        agent_id=offer.agent_id.value,
        hostname=offer.hostname,
        role=role or "*",
        attributes=attributes,
        reserved=amounts(True),
        unreserved=amounts(False),
        reservation=kind,
        agent_ip=offer.url.address.ip if offer.url is not None else None,
    )


def _kind_of(res: Resource) -> ReservationKind:
    """The type and principal of a reserved resource's (last) reservation."""
    if res.reservations:
        last = res.reservations[-1]
        kind = str(last.type or ReservationType.STATIC)
        return (kind, last.principal if kind != "STATIC" else None)
    if res.reservation is not None:  # legacy dynamic form: role + reservation
        return ("DYNAMIC", res.reservation.principal)
    return ("STATIC", None)


def _reservation_kind(resources: Sequence[Resource]) -> ReservationKind:
    """The reservation of an offer's reserved part: the kind holding the most cpus (then
    mem) when the agent has more than one (static flags next to dynamic reservations);
    a task's resources carry exactly one."""
    held: dict[ReservationKind, tuple[float, float]] = {}
    for res in resources:
        if res.revocable is not None or res.disk is not None or res.scalar is None:
            continue
        if not res.reservations and res.role in (None, "*"):
            continue
        cpus, mem = held.get(_kind_of(res), (0.0, 0.0))
        if res.name == "cpus":
            cpus += res.scalar.value
        elif res.name == "mem":
            mem += res.scalar.value
        held[_kind_of(res)] = (cpus, mem)
    if not held:
        return ("STATIC", None)
    return max(sorted(held, key=str), key=lambda k: held[k])


def build_task_info(launch: TaskLaunch) -> TaskInfo:
    """The ``TaskInfo`` of one launch (see the module docstring)."""
    env = Environment(
        variables=[EnvironmentVariable(name=k, value=v) for k, v in sorted(launch.env.items())]
    )
    command = list(launch.command or ())
    args = list(launch.args or ())
    if launch.image is None:  # a command task: value is the program, arguments its argv
        cmd = CommandInfo(shell=False, value=command[0], arguments=command + args, environment=env)
    else:
        cmd = CommandInfo(shell=False, arguments=command[1:] + args, environment=env)
    labels = Labels(labels=[Label(key=k, value=v) for k, v in sorted(launch.labels.items())])
    return TaskInfo(
        name=launch.name,
        task_id=TaskID(value=launch.task_id),
        agent_id=AgentID(value=launch.agent_id),
        resources=_resources(launch),
        command=cmd,
        container=_container(launch) if launch.image is not None else None,
        health_check=_health_check(launch),
        labels=labels,
    )


def _resources(launch: TaskLaunch) -> list[Resource]:
    common: dict[str, object] = {"allocation_info": AllocationInfo(role=launch.role)}
    if launch.reserved:
        kind, principal = launch.reservation
        common["reservations"] = [
            ReservationInfo(type=ReservationType(kind), role=launch.role, principal=principal)
        ]
    out = [
        Resource(name=name, type=ValueType.SCALAR, scalar=Scalar(value=value), **common)
        for name, value in (("cpus", launch.cpus), ("mem", launch.mem), ("disk", launch.disk))
        if value > 0
    ]
    if launch.host_ports:
        ranges = Ranges(range=[Range(begin=p, end=p) for p in sorted(launch.host_ports)])
        out.append(Resource(name="ports", type=ValueType.RANGES, ranges=ranges, **common))
    return out


def _container(launch: TaskLaunch) -> ContainerInfo:
    assert launch.image is not None
    ip = launch.ip
    parameters = [Parameter(key="entrypoint", value=launch.command[0])] if launch.command else []
    volumes = [
        Volume(
            mode=VolumeMode.RO if str(v.mode) == "RO" else VolumeMode.RW,
            container_path=v.container_path,
            host_path=v.host_path_for(ip) if ip else v.host_path,
        )
        for v in launch.volumes
    ]
    mappings = [
        DockerPortMapping(host_port=host, container_port=port.container_port)
        for host, port in zip(launch.host_ports, launch.container_ports, strict=False)
    ]
    networks = []
    network = DockerNetwork.BRIDGE
    if launch.host_network:
        network, mappings = DockerNetwork.HOST, []
    elif ip is not None:
        # A static address: ``ip_address`` alone (mesos.proto: not with ``protocol``).
        networks = [NetworkInfo(ip_addresses=[IPAddress(ip_address=ip)], name=launch.network)]
        if launch.pin_ip:
            network = DockerNetwork.USER
            parameters.append(Parameter(key="ip", value=ip))
    docker = DockerInfo(
        image=launch.image, network=network, port_mappings=mappings, parameters=parameters
    )
    return ContainerInfo(
        type=ContainerType.DOCKER, docker=docker, volumes=volumes, network_infos=networks
    )


def _health_check(launch: TaskLaunch) -> HealthCheck | None:
    if not launch.health_checks:
        return None
    check: AppHealthCheck = launch.health_checks[0]
    timing: dict[str, object] = {
        "delay_seconds": float(check.delay_seconds),
        "interval_seconds": float(check.interval_seconds),
        "timeout_seconds": float(check.timeout_seconds),
        "consecutive_failures": check.max_consecutive_failures,
        "grace_period_seconds": float(check.grace_period_seconds),
    }
    if check.protocol is HealthCheckProtocol.COMMAND:
        command = CommandInfo(shell=True, value=check.command)
        return HealthCheck(type=HealthCheckType.COMMAND, command=command, **timing)
    port = check.port
    if port is None:
        index = check.port_index or 0
        port = launch.container_ports[index].container_port
    if check.protocol is HealthCheckProtocol.TCP:
        return HealthCheck(type=HealthCheckType.TCP, tcp=TCPCheckInfo(port=port), **timing)
    http = HTTPCheckInfo(
        scheme="https" if check.protocol is HealthCheckProtocol.HTTPS else "http",
        port=port,
        path=check.path or "/",
    )
    return HealthCheck(type=HealthCheckType.HTTP, http=http, **timing)
