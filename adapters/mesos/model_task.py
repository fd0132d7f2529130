"""Task messages of ``mesos.proto``: what to run, how, and what became of it.

:class:`TaskInfo` is what a scheduler sends in a LAUNCH operation: a command
(:class:`CommandInfo`) or an executor, a container (:class:`ContainerInfo`
with :class:`DockerInfo`, volumes and :class:`NetworkInfo` for one IP per
container), a :class:`HealthCheck`, a :class:`KillPolicy`, labels and
discovery info. :class:`TaskStatus` is what comes back in UPDATE events and in
``Task.statuses``; :class:`Task` is the master's record of a launched task
(operator GET_TASKS, TASK_ADDED).

Rarely used leaves (secrets, Linux capabilities, rlimits, cgroup info, check
status) are loosely typed as JSON objects; unknown keys are kept anyway.
"""

from __future__ import annotations

from pydantic import Field

from adapters.mesos.model_base import Base64, Double, WireModel
from adapters.mesos.model_common import (
    AgentID,
    ContainerID,
    DurationInfo,
    ExecutorID,
    FrameworkID,
    Image,
    Labels,
    Parameter,
    Resource,
    Scalar,
    TaskID,
    TimeInfo,
    Volume,
)
from adapters.mesos.model_enums import (
    CheckType,
    ContainerType,
    DiscoveryVisibility,
    DockerNetwork,
    EnvironmentVariableType,
    ExecutorType,
    HealthCheckType,
    NetworkProtocol,
    TaskState,
    TaskStatusReason,
    TaskStatusSource,
)

__all__ = [
    "CheckInfo",
    "CommandInfo",
    "CommandURI",
    "ContainerInfo",
    "ContainerStatus",
    "DiscoveryInfo",
    "DockerInfo",
    "DockerPortMapping",
    "Environment",
    "EnvironmentVariable",
    "ExecutorInfo",
    "HTTPCheckInfo",
    "HealthCheck",
    "IPAddress",
    "KillPolicy",
    "MesosInfo",
    "NetworkInfo",
    "NetworkPortMapping",
    "Port",
    "Ports",
    "TCPCheckInfo",
    "Task",
    "TaskGroupInfo",
    "TaskInfo",
    "TaskResourceLimitation",
    "TaskStatus",
]

JsonObject = dict[str, object]


class CommandURI(WireModel):
    """A URI the fetcher downloads into the sandbox."""

    value: str
    executable: bool | None = None
    extract: bool | None = None
    cache: bool | None = None
    output_file: str | None = None


class EnvironmentVariable(WireModel):
    name: str
    type: EnvironmentVariableType | None = None
    value: str | None = None
    secret: JsonObject | None = None


class Environment(WireModel):
    variables: list[EnvironmentVariable] = Field(default_factory=list)


class CommandInfo(WireModel):
    """``value`` runs via ``/bin/sh -c`` when ``shell`` (the default), else argv."""

    uris: list[CommandURI] = Field(default_factory=list)
    environment: Environment | None = None
    shell: bool | None = None
    value: str | None = None
    arguments: list[str] = Field(default_factory=list)
    user: str | None = None


class DockerPortMapping(WireModel):
    host_port: int
    container_port: int
    protocol: str | None = None


class DockerInfo(WireModel):
    image: str
    network: DockerNetwork | None = None
    port_mappings: list[DockerPortMapping] = Field(default_factory=list)
    privileged: bool | None = None
    parameters: list[Parameter] = Field(default_factory=list)
    force_pull_image: bool | None = None
    volume_driver: str | None = None


class MesosInfo(WireModel):
    image: Image | None = None


class IPAddress(WireModel):
    protocol: NetworkProtocol | None = None
    ip_address: str | None = None


class NetworkPortMapping(WireModel):
    host_port: int
    container_port: int
    protocol: str | None = None


class NetworkInfo(WireModel):
    """A container network attachment: requested or assigned IPs, network name."""

    ip_addresses: list[IPAddress] = Field(default_factory=list)
    name: str | None = None
    groups: list[str] = Field(default_factory=list)
    labels: Labels | None = None
    port_mappings: list[NetworkPortMapping] = Field(default_factory=list)


class ContainerInfo(WireModel):
    type: ContainerType
    volumes: list[Volume] = Field(default_factory=list)
    hostname: str | None = None
    docker: DockerInfo | None = None
    mesos: MesosInfo | None = None
    network_infos: list[NetworkInfo] = Field(default_factory=list)
    linux_info: JsonObject | None = None
    rlimit_info: JsonObject | None = None
    tty_info: JsonObject | None = None


class HTTPCheckInfo(WireModel):
    protocol: NetworkProtocol | None = None
    scheme: str | None = None
    port: int
    path: str | None = None
    statuses: list[int] = Field(default_factory=list)


class TCPCheckInfo(WireModel):
    protocol: NetworkProtocol | None = None
    port: int


class HealthCheck(WireModel):
    """Proto defaults: delay 15 s, interval 10 s, timeout 20 s, 3 failures, grace 10 s."""

    delay_seconds: Double | None = None
    interval_seconds: Double | None = None
    timeout_seconds: Double | None = None
    consecutive_failures: int | None = None
    grace_period_seconds: Double | None = None
    type: HealthCheckType | None = None
    command: CommandInfo | None = None
    http: HTTPCheckInfo | None = None
    tcp: TCPCheckInfo | None = None


class CheckInfo(WireModel):
    """A general (non-health) check; bodies kept as JSON objects."""

    type: CheckType | None = None
    command: JsonObject | None = None
    http: JsonObject | None = None
    tcp: JsonObject | None = None
    delay_seconds: Double | None = None
    interval_seconds: Double | None = None
    timeout_seconds: Double | None = None


class KillPolicy(WireModel):
    grace_period: DurationInfo | None = None


class Port(WireModel):
    number: int
    name: str | None = None
    protocol: str | None = None
    visibility: DiscoveryVisibility | None = None
    labels: Labels | None = None


class Ports(WireModel):
    ports: list[Port] = Field(default_factory=list)


class DiscoveryInfo(WireModel):
    visibility: DiscoveryVisibility
    name: str | None = None
    environment: str | None = None
    location: str | None = None
    version: str | None = None
    ports: Ports | None = None
    labels: Labels | None = None


class ExecutorInfo(WireModel):
    type: ExecutorType | None = None
    executor_id: ExecutorID
    framework_id: FrameworkID | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    resources: list[Resource] = Field(default_factory=list)
    name: str | None = None
    source: str | None = None
    data: Base64 | None = None
    discovery: DiscoveryInfo | None = None
    shutdown_grace_period: DurationInfo | None = None
    labels: Labels | None = None


class TaskInfo(WireModel):
    """A task to launch: exactly one of ``command`` or ``executor``."""

    name: str
    task_id: TaskID
    agent_id: AgentID
    resources: list[Resource] = Field(default_factory=list)
    executor: ExecutorInfo | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    health_check: HealthCheck | None = None
    check: CheckInfo | None = None
    kill_policy: KillPolicy | None = None
    data: Base64 | None = None
    labels: Labels | None = None
    discovery: DiscoveryInfo | None = None
    max_completion_time: DurationInfo | None = None
    limits: dict[str, Scalar] = Field(default_factory=dict)


class TaskGroupInfo(WireModel):
    tasks: list[TaskInfo] = Field(default_factory=list)


class ContainerStatus(WireModel):
    """Runtime facts about the container: its id, assigned IPs, executor pid."""

    container_id: ContainerID | None = None
    network_infos: list[NetworkInfo] = Field(default_factory=list)
    cgroup_info: JsonObject | None = None
    executor_pid: int | None = None


class TaskResourceLimitation(WireModel):
    resources: list[Resource] = Field(default_factory=list)


class TaskStatus(WireModel):
    """A status update. ``uuid`` set means reliable: ACKNOWLEDGE it with ``agent_id``.

    ``timestamp`` is seconds since the epoch as a double; ``healthy`` absent
    means unknown, not false.
    """

    task_id: TaskID
    state: TaskState
    message: str | None = None
    source: TaskStatusSource | None = None
    reason: TaskStatusReason | None = None
    data: Base64 | None = None
    agent_id: AgentID | None = None
    executor_id: ExecutorID | None = None
    timestamp: Double | None = None
    uuid: Base64 | None = None
    healthy: bool | None = None
    check_status: JsonObject | None = None
    labels: Labels | None = None
    container_status: ContainerStatus | None = None
    unreachable_time: TimeInfo | None = None
    limitation: TaskResourceLimitation | None = None


class Task(WireModel):
    """The master's record of a task (operator API)."""

    name: str
    task_id: TaskID
    framework_id: FrameworkID
    executor_id: ExecutorID | None = None
    agent_id: AgentID
    state: TaskState
    resources: list[Resource] = Field(default_factory=list)
    statuses: list[TaskStatus] = Field(default_factory=list)
    status_update_state: TaskState | None = None
    status_update_uuid: Base64 | None = None
    labels: Labels | None = None
    discovery: DiscoveryInfo | None = None
    container: ContainerInfo | None = None
    health_check: HealthCheck | None = None
    kill_policy: KillPolicy | None = None
    user: str | None = None
    limits: dict[str, Scalar] = Field(default_factory=dict)
