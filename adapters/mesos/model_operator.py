"""What the master answers on the v1 operator API (``master.proto``).

* :class:`OperatorResponse`: the 200 body of a GET_* call,
  ``{"type": "GET_AGENTS", "get_agents": {...}}``. Changes answer 200/202 with
  an empty body, so they have no response type. Bodies are named after their
  type (``GetAgents``, with entries ``GetAgentsAgent``).
* :class:`OperatorEvent`: records of the operator SUBSCRIBE stream (no
  Mesos-Stream-Id), starting with SUBSCRIBED (a full GET_STATE snapshot) and
  then TASK_ADDED, TASK_UPDATED, AGENT_ADDED/REMOVED,
  FRAMEWORK_ADDED/UPDATED/REMOVED and HEARTBEAT.

The calls themselves are in ``model_operator_call``. Agent-API-only calls
(``agent.proto``) are not modelled.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from adapters.mesos.model_base import Base64, Double, TypedUnion, WireModel
from adapters.mesos.model_cluster import (
    ClusterStatus,
    DrainInfo,
    FileInfo,
    Flag,
    Metric,
    QuotaStatus,
    Role,
    Schedule,
    VersionInfo,
    WeightInfo,
)
from adapters.mesos.model_common import (
    AgentCapability,
    AgentID,
    AgentInfo,
    FrameworkID,
    FrameworkInfo,
    MasterInfo,
    Resource,
    TimeInfo,
)
from adapters.mesos.model_enums import (
    OperatorEventType,
    OperatorResponseType,
    TaskState,
)
from adapters.mesos.model_offer import InverseOffer, Offer, Operation
from adapters.mesos.model_task import ExecutorInfo, Task, TaskStatus

__all__ = [
    "AgentAdded",
    "AgentRemoved",
    "AgentResourceProvider",
    "FrameworkAdded",
    "FrameworkRemoved",
    "FrameworkUpdated",
    "GetAgents",
    "GetAgentsAgent",
    "GetExecutors",
    "GetExecutorsExecutor",
    "GetFlags",
    "GetFrameworks",
    "GetFrameworksFramework",
    "GetHealth",
    "GetLoggingLevel",
    "GetMaintenanceSchedule",
    "GetMaintenanceStatus",
    "GetMaster",
    "GetMetrics",
    "GetOperations",
    "GetQuota",
    "GetRoles",
    "GetState",
    "GetTasks",
    "GetVersion",
    "GetWeights",
    "ListFilesResponse",
    "OperatorEvent",
    "OperatorResponse",
    "OperatorSubscribed",
    "ReadFileResponse",
    "TaskAdded",
    "TaskUpdated",
]

# ------------------------------------------------------------ responses


class GetHealth(WireModel):
    healthy: bool


class GetFlags(WireModel):
    flags: list[Flag] = Field(default_factory=list)


class GetVersion(WireModel):
    version_info: VersionInfo


class GetMetrics(WireModel):
    metrics: list[Metric] = Field(default_factory=list)


class GetLoggingLevel(WireModel):
    level: int


class ListFilesResponse(WireModel):
    file_infos: list[FileInfo] = Field(default_factory=list)


class ReadFileResponse(WireModel):
    size: int
    data: Base64


class AgentResourceProvider(WireModel):
    resource_provider_info: dict[str, object]
    total_resources: list[Resource] = Field(default_factory=list)


class GetAgentsAgent(WireModel):
    agent_info: AgentInfo
    active: bool
    deactivated: bool | None = None
    version: str
    pid: str | None = None
    registered_time: TimeInfo | None = None
    reregistered_time: TimeInfo | None = None
    total_resources: list[Resource] = Field(default_factory=list)
    allocated_resources: list[Resource] = Field(default_factory=list)
    offered_resources: list[Resource] = Field(default_factory=list)
    capabilities: list[AgentCapability] = Field(default_factory=list)
    resource_providers: list[AgentResourceProvider] = Field(default_factory=list)
    drain_info: DrainInfo | None = None
    estimated_drain_start_time: TimeInfo | None = None


class GetAgents(WireModel):
    agents: list[GetAgentsAgent] = Field(default_factory=list)
    recovered_agents: list[AgentInfo] = Field(default_factory=list)


class GetFrameworksFramework(WireModel):
    framework_info: FrameworkInfo
    active: bool
    connected: bool
    recovered: bool
    registered_time: TimeInfo | None = None
    reregistered_time: TimeInfo | None = None
    unregistered_time: TimeInfo | None = None
    offers: list[Offer] = Field(default_factory=list)
    inverse_offers: list[InverseOffer] = Field(default_factory=list)
    allocated_resources: list[Resource] = Field(default_factory=list)
    offered_resources: list[Resource] = Field(default_factory=list)
    offer_constraints: dict[str, object] | None = None


class GetFrameworks(WireModel):
    frameworks: list[GetFrameworksFramework] = Field(default_factory=list)
    completed_frameworks: list[GetFrameworksFramework] = Field(default_factory=list)
    recovered_frameworks: list[FrameworkInfo] = Field(default_factory=list)


class GetExecutorsExecutor(WireModel):
    executor_info: ExecutorInfo
    agent_id: AgentID


class GetExecutors(WireModel):
    executors: list[GetExecutorsExecutor] = Field(default_factory=list)
    orphan_executors: list[GetExecutorsExecutor] = Field(default_factory=list)


class GetOperations(WireModel):
    operations: list[Operation] = Field(default_factory=list)


class GetTasks(WireModel):
    pending_tasks: list[Task] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    unreachable_tasks: list[Task] = Field(default_factory=list)
    completed_tasks: list[Task] = Field(default_factory=list)
    orphan_tasks: list[Task] = Field(default_factory=list)


class GetState(WireModel):
    get_tasks: GetTasks | None = None
    get_executors: GetExecutors | None = None
    get_frameworks: GetFrameworks | None = None
    get_agents: GetAgents | None = None


class GetRoles(WireModel):
    roles: list[Role] = Field(default_factory=list)


class GetWeights(WireModel):
    weight_infos: list[WeightInfo] = Field(default_factory=list)


class GetMaster(WireModel):
    master_info: MasterInfo | None = None
    start_time: Double | None = None
    elected_time: Double | None = None


class GetMaintenanceStatus(WireModel):
    status: ClusterStatus


class GetMaintenanceSchedule(WireModel):
    schedule: Schedule


class GetQuota(WireModel):
    status: QuotaStatus


class OperatorResponse(TypedUnion):
    """``master.Response``."""

    BODYLESS: ClassVar[frozenset[str]] = frozenset({"UNKNOWN"})

    type: OperatorResponseType
    get_health: GetHealth | None = None
    get_flags: GetFlags | None = None
    get_version: GetVersion | None = None
    get_metrics: GetMetrics | None = None
    get_logging_level: GetLoggingLevel | None = None
    list_files: ListFilesResponse | None = None
    read_file: ReadFileResponse | None = None
    get_state: GetState | None = None
    get_agents: GetAgents | None = None
    get_frameworks: GetFrameworks | None = None
    get_executors: GetExecutors | None = None
    get_operations: GetOperations | None = None
    get_tasks: GetTasks | None = None
    get_roles: GetRoles | None = None
    get_weights: GetWeights | None = None
    get_master: GetMaster | None = None
    get_maintenance_status: GetMaintenanceStatus | None = None
    get_maintenance_schedule: GetMaintenanceSchedule | None = None
    get_quota: GetQuota | None = None


# --------------------------------------------------------------- events


class OperatorSubscribed(WireModel):
    get_state: GetState | None = None
    heartbeat_interval_seconds: Double | None = None


class TaskAdded(WireModel):
    task: Task


class TaskUpdated(WireModel):
    """``state`` is the task's latest state; ``status`` the update that caused it."""

    framework_id: FrameworkID
    status: TaskStatus
    state: TaskState


class FrameworkAdded(WireModel):
    framework: GetFrameworksFramework


class FrameworkUpdated(WireModel):
    framework: GetFrameworksFramework


class FrameworkRemoved(WireModel):
    framework_info: FrameworkInfo


class AgentAdded(WireModel):
    agent: GetAgentsAgent


class AgentRemoved(WireModel):
    agent_id: AgentID


class OperatorEvent(TypedUnion):
    """``master.Event``, one RecordIO record of the operator SUBSCRIBE stream."""

    BODYLESS: ClassVar[frozenset[str]] = frozenset({"UNKNOWN", "HEARTBEAT"})

    type: OperatorEventType
    subscribed: OperatorSubscribed | None = None
    task_added: TaskAdded | None = None
    task_updated: TaskUpdated | None = None
    agent_added: AgentAdded | None = None
    agent_removed: AgentRemoved | None = None
    framework_added: FrameworkAdded | None = None
    framework_updated: FrameworkUpdated | None = None
    framework_removed: FrameworkRemoved | None = None
