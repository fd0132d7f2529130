"""Offers and what a scheduler does with them (``mesos.proto``).

An :class:`Offer` is a set of resources on one agent, allocated to one role
(``allocation_info.role`` for MULTI_ROLE frameworks). A scheduler answers with
ACCEPT carrying :class:`OfferOperation` unions (``{"type": "LAUNCH",
"launch": {"task_infos": [...]}}``) or DECLINE with :class:`Filters`.
:class:`InverseOffer` asks a framework to give back an agent's resources
before a maintenance window. :class:`OperationStatus` and :class:`Operation`
carry feedback for operations that set an ``id``.

The ``OfferOperation.of_*`` constructors build the common operations; the
generic ``OfferOperation.wrap(type, body)`` builds any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from pydantic import Field

from adapters.mesos.model_base import Base64, Double, TypedUnion, WireModel
from adapters.mesos.model_common import (
    URL,
    AgentID,
    AllocationInfo,
    Attribute,
    DomainInfo,
    ExecutorID,
    FrameworkID,
    OfferID,
    OperationID,
    Resource,
    ResourceProviderID,
    Scalar,
    Unavailability,
)
from adapters.mesos.model_enums import DiskSourceType, OfferOperationType, OperationState
from adapters.mesos.model_task import ExecutorInfo, TaskGroupInfo, TaskInfo

__all__ = [
    "UUID",
    "Filters",
    "InverseOffer",
    "Offer",
    "OfferOperation",
    "Operation",
    "OperationCreate",
    "OperationCreateDisk",
    "OperationDestroy",
    "OperationDestroyDisk",
    "OperationGrowVolume",
    "OperationLaunch",
    "OperationLaunchGroup",
    "OperationReserve",
    "OperationShrinkVolume",
    "OperationStatus",
    "OperationUnreserve",
    "Request",
]


class Offer(WireModel):
    id: OfferID
    framework_id: FrameworkID
    agent_id: AgentID
    hostname: str
    url: URL | None = None
    domain: DomainInfo | None = None
    resources: list[Resource] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    executor_ids: list[ExecutorID] = Field(default_factory=list)
    unavailability: Unavailability | None = None
    allocation_info: AllocationInfo | None = None


class InverseOffer(WireModel):
    id: OfferID
    url: URL | None = None
    framework_id: FrameworkID
    agent_id: AgentID | None = None
    unavailability: Unavailability
    resources: list[Resource] = Field(default_factory=list)


class Filters(WireModel):
    """``refuse_seconds`` defaults to 5.0 and is capped at 365 days by the master."""

    refuse_seconds: Double | None = None


class Request(WireModel):
    """``mesos.v1.Request``, the payload of the scheduler REQUEST call."""

    agent_id: AgentID | None = None
    resources: list[Resource] = Field(default_factory=list)


class OperationLaunch(WireModel):
    task_infos: list[TaskInfo] = Field(default_factory=list)


class OperationLaunchGroup(WireModel):
    executor: ExecutorInfo
    task_group: TaskGroupInfo


class OperationReserve(WireModel):
    source: list[Resource] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)


class OperationUnreserve(WireModel):
    resources: list[Resource] = Field(default_factory=list)


class OperationCreate(WireModel):
    volumes: list[Resource] = Field(default_factory=list)


class OperationDestroy(WireModel):
    volumes: list[Resource] = Field(default_factory=list)


class OperationGrowVolume(WireModel):
    volume: Resource
    addition: Resource


class OperationShrinkVolume(WireModel):
    volume: Resource
    subtract: Scalar


class OperationCreateDisk(WireModel):
    source: Resource
    target_type: DiskSourceType
    target_profile: str | None = None


class OperationDestroyDisk(WireModel):
    source: Resource


class OfferOperation(TypedUnion):
    """``Offer.Operation``: ``{"type": "LAUNCH", "launch": {...}}`` and friends."""

    type: OfferOperationType | None = None
    id: OperationID | None = None
    launch: OperationLaunch | None = None
    launch_group: OperationLaunchGroup | None = None
    reserve: OperationReserve | None = None
    unreserve: OperationUnreserve | None = None
    create: OperationCreate | None = None
    destroy: OperationDestroy | None = None
    grow_volume: OperationGrowVolume | None = None
    shrink_volume: OperationShrinkVolume | None = None
    create_disk: OperationCreateDisk | None = None
    destroy_disk: OperationDestroyDisk | None = None

    @classmethod
    def of_launch(cls, task_infos: Sequence[TaskInfo]) -> Self:
        return cls.wrap(OfferOperationType.LAUNCH, OperationLaunch(task_infos=list(task_infos)))

    @classmethod
    def of_launch_group(cls, executor: ExecutorInfo, tasks: Sequence[TaskInfo]) -> Self:
        body = OperationLaunchGroup(executor=executor, task_group=TaskGroupInfo(tasks=list(tasks)))
        return cls.wrap(OfferOperationType.LAUNCH_GROUP, body)

    @classmethod
    def of_reserve(
        cls, resources: Sequence[Resource], source: Sequence[Resource] | None = None
    ) -> Self:
        body = OperationReserve(resources=list(resources))
        if source is not None:
            body.source = list(source)
        return cls.wrap(OfferOperationType.RESERVE, body)

    @classmethod
    def of_unreserve(cls, resources: Sequence[Resource]) -> Self:
        body = OperationUnreserve(resources=list(resources))
        return cls.wrap(OfferOperationType.UNRESERVE, body)

    @classmethod
    def of_create(cls, volumes: Sequence[Resource]) -> Self:
        return cls.wrap(OfferOperationType.CREATE, OperationCreate(volumes=list(volumes)))

    @classmethod
    def of_destroy(cls, volumes: Sequence[Resource]) -> Self:
        return cls.wrap(OfferOperationType.DESTROY, OperationDestroy(volumes=list(volumes)))


class UUID(WireModel):
    """``mesos.v1.UUID``: ``{"value": <base64 bytes>}``."""

    value: Base64


class OperationStatus(WireModel):
    operation_id: OperationID | None = None
    state: OperationState
    message: str | None = None
    converted_resources: list[Resource] = Field(default_factory=list)
    uuid: UUID | None = None
    agent_id: AgentID | None = None
    resource_provider_id: ResourceProviderID | None = None


class Operation(WireModel):
    """The master's record of an operation with feedback (operator GET_OPERATIONS)."""

    framework_id: FrameworkID | None = None
    agent_id: AgentID | None = None
    info: OfferOperation
    latest_status: OperationStatus
    statuses: list[OperationStatus] = Field(default_factory=list)
    uuid: UUID
