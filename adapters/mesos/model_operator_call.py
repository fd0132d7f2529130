"""Operator API calls to the master (``master.proto`` ``Call``), POSTed to ``/api/v1``.

:class:`OperatorCall` is ``{"type": "X", "x": {...}}``. GET_* calls and
SUBSCRIBE carry no body; changes carry one, named ``<Type>Call`` here
(``ReserveResourcesCall``). Note DRAIN_AGENT's ``max_grace_period`` is a
``google.protobuf.Duration`` (``{"seconds": N}``), unlike every other Mesos
duration (``{"nanoseconds": N}``). What the master answers is in
``model_operator``.

The ``*_call`` functions build the changes our controllers make (quota,
reservations, draining, maintenance); ``OperatorCall.wrap("GET_STATE")``
builds anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from adapters.mesos.model_base import TypedUnion, WireModel
from adapters.mesos.model_cluster import QuotaConfig, QuotaRequest, Schedule, WeightInfo
from adapters.mesos.model_common import (
    AgentID,
    DurationInfo,
    FrameworkID,
    MachineID,
    ProtoDuration,
    Resource,
    Scalar,
)
from adapters.mesos.model_enums import OperatorCallType

__all__ = [
    "CreateVolumesCall",
    "DeactivateAgentCall",
    "DestroyVolumesCall",
    "DrainAgentCall",
    "GetMetricsCall",
    "GrowVolumeCall",
    "ListFilesCall",
    "MarkAgentGoneCall",
    "OperatorCall",
    "ReactivateAgentCall",
    "ReadFileCall",
    "RemoveQuotaCall",
    "ReserveResourcesCall",
    "SetLoggingLevelCall",
    "SetQuotaCall",
    "ShrinkVolumeCall",
    "StartMaintenanceCall",
    "StopMaintenanceCall",
    "TeardownCall",
    "UnreserveResourcesCall",
    "UpdateMaintenanceScheduleCall",
    "UpdateQuotaCall",
    "UpdateWeightsCall",
    "deactivate_agent_call",
    "drain_agent_call",
    "reactivate_agent_call",
    "reserve_resources_call",
    "start_maintenance_call",
    "stop_maintenance_call",
    "unreserve_resources_call",
    "update_maintenance_schedule_call",
    "update_quota_call",
]


class GetMetricsCall(WireModel):
    timeout: DurationInfo | None = None


class SetLoggingLevelCall(WireModel):
    level: int
    duration: DurationInfo


class ListFilesCall(WireModel):
    path: str


class ReadFileCall(WireModel):
    path: str
    offset: int
    length: int | None = None


class UpdateWeightsCall(WireModel):
    weight_infos: list[WeightInfo] = Field(default_factory=list)


class ReserveResourcesCall(WireModel):
    """``source`` (optional) is the current reservation of ``resources``, for re-reserving."""

    agent_id: AgentID
    source: list[Resource] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)


class UnreserveResourcesCall(WireModel):
    agent_id: AgentID
    resources: list[Resource] = Field(default_factory=list)


class CreateVolumesCall(WireModel):
    agent_id: AgentID
    volumes: list[Resource] = Field(default_factory=list)


class DestroyVolumesCall(WireModel):
    agent_id: AgentID
    volumes: list[Resource] = Field(default_factory=list)


class GrowVolumeCall(WireModel):
    agent_id: AgentID | None = None
    volume: Resource
    addition: Resource


class ShrinkVolumeCall(WireModel):
    agent_id: AgentID | None = None
    volume: Resource
    subtract: Scalar


class UpdateMaintenanceScheduleCall(WireModel):
    schedule: Schedule


class StartMaintenanceCall(WireModel):
    machines: list[MachineID] = Field(default_factory=list)


class StopMaintenanceCall(WireModel):
    machines: list[MachineID] = Field(default_factory=list)


class DrainAgentCall(WireModel):
    agent_id: AgentID
    max_grace_period: ProtoDuration | None = None
    mark_gone: bool | None = None


class DeactivateAgentCall(WireModel):
    agent_id: AgentID


class ReactivateAgentCall(WireModel):
    agent_id: AgentID


class UpdateQuotaCall(WireModel):
    """All-or-nothing; empty guarantees and limits reset a role to no quota."""

    force: bool | None = None
    quota_configs: list[QuotaConfig] = Field(default_factory=list)


class SetQuotaCall(WireModel):
    quota_request: QuotaRequest


class RemoveQuotaCall(WireModel):
    role: str


class TeardownCall(WireModel):
    framework_id: FrameworkID


class MarkAgentGoneCall(WireModel):
    agent_id: AgentID


class OperatorCall(TypedUnion):
    """``master.Call``."""

    BODYLESS: ClassVar[frozenset[str]] = frozenset(
        {t.value for t in OperatorCallType if t.startswith("GET_")} | {"UNKNOWN", "SUBSCRIBE"}
    )

    type: OperatorCallType
    get_metrics: GetMetricsCall | None = None
    set_logging_level: SetLoggingLevelCall | None = None
    list_files: ListFilesCall | None = None
    read_file: ReadFileCall | None = None
    update_weights: UpdateWeightsCall | None = None
    reserve_resources: ReserveResourcesCall | None = None
    unreserve_resources: UnreserveResourcesCall | None = None
    create_volumes: CreateVolumesCall | None = None
    destroy_volumes: DestroyVolumesCall | None = None
    grow_volume: GrowVolumeCall | None = None
    shrink_volume: ShrinkVolumeCall | None = None
    update_maintenance_schedule: UpdateMaintenanceScheduleCall | None = None
    start_maintenance: StartMaintenanceCall | None = None
    stop_maintenance: StopMaintenanceCall | None = None
    drain_agent: DrainAgentCall | None = None
    deactivate_agent: DeactivateAgentCall | None = None
    reactivate_agent: ReactivateAgentCall | None = None
    update_quota: UpdateQuotaCall | None = None
    teardown: TeardownCall | None = None
    mark_agent_gone: MarkAgentGoneCall | None = None
    set_quota: SetQuotaCall | None = None
    remove_quota: RemoveQuotaCall | None = None


def reserve_resources_call(
    agent_id: AgentID, resources: Sequence[Resource], *, source: Sequence[Resource] | None = None
) -> OperatorCall:
    """RESERVE_RESOURCES; ``resources`` in the ``reservations[]`` form."""
    body = ReserveResourcesCall(agent_id=agent_id, resources=list(resources))
    if source is not None:
        body.source = list(source)
    return OperatorCall.wrap(OperatorCallType.RESERVE_RESOURCES, body)


def unreserve_resources_call(agent_id: AgentID, resources: Sequence[Resource]) -> OperatorCall:
    body = UnreserveResourcesCall(agent_id=agent_id, resources=list(resources))
    return OperatorCall.wrap(OperatorCallType.UNRESERVE_RESOURCES, body)


def update_quota_call(configs: Sequence[QuotaConfig], *, force: bool | None = None) -> OperatorCall:
    body = UpdateQuotaCall(quota_configs=list(configs), force=force)
    return OperatorCall.wrap(OperatorCallType.UPDATE_QUOTA, body)


def drain_agent_call(
    agent_id: AgentID, *, max_grace_period_seconds: int | None = None, mark_gone: bool | None = None
) -> OperatorCall:
    """DRAIN_AGENT; the grace period is whole seconds (a ``google.protobuf.Duration``)."""
    body = DrainAgentCall(agent_id=agent_id, mark_gone=mark_gone)
    if max_grace_period_seconds is not None:
        body.max_grace_period = ProtoDuration(seconds=max_grace_period_seconds)
    return OperatorCall.wrap(OperatorCallType.DRAIN_AGENT, body)


def deactivate_agent_call(agent_id: AgentID) -> OperatorCall:
    body = DeactivateAgentCall(agent_id=agent_id)
    return OperatorCall.wrap(OperatorCallType.DEACTIVATE_AGENT, body)


def reactivate_agent_call(agent_id: AgentID) -> OperatorCall:
    body = ReactivateAgentCall(agent_id=agent_id)
    return OperatorCall.wrap(OperatorCallType.REACTIVATE_AGENT, body)


def update_maintenance_schedule_call(schedule: Schedule) -> OperatorCall:
    body = UpdateMaintenanceScheduleCall(schedule=schedule)
    return OperatorCall.wrap(OperatorCallType.UPDATE_MAINTENANCE_SCHEDULE, body)


def start_maintenance_call(machines: Sequence[MachineID]) -> OperatorCall:
    body = StartMaintenanceCall(machines=list(machines))
    return OperatorCall.wrap(OperatorCallType.START_MAINTENANCE, body)


def stop_maintenance_call(machines: Sequence[MachineID]) -> OperatorCall:
    body = StopMaintenanceCall(machines=list(machines))
    return OperatorCall.wrap(OperatorCallType.STOP_MAINTENANCE, body)
