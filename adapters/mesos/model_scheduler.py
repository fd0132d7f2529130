"""The v1 scheduler API (``scheduler.proto``): calls POSTed to ``/api/v1/scheduler``
and events streamed back on the SUBSCRIBE response.

Both are unions keyed by ``type`` with the body in the lower-cased field:
``{"framework_id": {...}, "type": "ACCEPT", "accept": {...}}`` and
``{"type": "UPDATE", "update": {"status": {...}}}``. Validation fails with
Mesos' wording (``Expecting 'accept' to be present``) when a required body is
missing; TEARDOWN, REVIVE and SUPPRESS may omit theirs, HEARTBEAT has none.
Whether ``framework_id`` is present (every call but a first SUBSCRIBE) is a
protocol rule left to the master and the client, not to the model.

The ``*_call`` functions build the calls a framework sends, with the body
types filled in; ``SchedulerCall.wrap(type, body, framework_id=...)`` builds
any call generically. :data:`SchedulerEvent.body` returns the event's body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field

from adapters.mesos.model_base import Base64, Double, TypedUnion, WireModel, encode_bytes
from adapters.mesos.model_common import (
    AgentID,
    ExecutorID,
    FrameworkID,
    FrameworkInfo,
    MasterInfo,
    OfferID,
    OperationID,
    ResourceProviderID,
    TaskID,
)
from adapters.mesos.model_enums import SchedulerCallType, SchedulerEventType
from adapters.mesos.model_offer import (
    Filters,
    InverseOffer,
    Offer,
    OfferOperation,
    OperationStatus,
    Request,
)
from adapters.mesos.model_task import KillPolicy, TaskStatus

__all__ = [
    "CallAccept",
    "CallAcceptInverseOffers",
    "CallAcknowledge",
    "CallAcknowledgeOperationStatus",
    "CallDecline",
    "CallDeclineInverseOffers",
    "CallKill",
    "CallMessage",
    "CallReconcile",
    "CallReconcileOperations",
    "CallRequest",
    "CallRevive",
    "CallShutdown",
    "CallSubscribe",
    "CallSuppress",
    "CallUpdateFramework",
    "EventError",
    "EventFailure",
    "EventInverseOffers",
    "EventMessage",
    "EventOffers",
    "EventRescind",
    "EventRescindInverseOffer",
    "EventSubscribed",
    "EventUpdate",
    "EventUpdateOperationStatus",
    "ReconcileOperation",
    "ReconcileTask",
    "SchedulerCall",
    "SchedulerEvent",
    "accept_call",
    "acknowledge_call",
    "decline_call",
    "kill_call",
    "message_call",
    "reconcile_call",
    "revive_call",
    "shutdown_call",
    "subscribe_call",
    "suppress_call",
    "teardown_call",
]

JsonObject = dict[str, object]


class CallSubscribe(WireModel):
    framework_info: FrameworkInfo
    suppressed_roles: list[str] = Field(default_factory=list)
    offer_constraints: JsonObject | None = None


class CallAccept(WireModel):
    offer_ids: list[OfferID] = Field(default_factory=list)
    operations: list[OfferOperation] = Field(default_factory=list)
    filters: Filters | None = None


class CallDecline(WireModel):
    offer_ids: list[OfferID] = Field(default_factory=list)
    filters: Filters | None = None


class CallAcceptInverseOffers(WireModel):
    inverse_offer_ids: list[OfferID] = Field(default_factory=list)
    filters: Filters | None = None


class CallDeclineInverseOffers(WireModel):
    inverse_offer_ids: list[OfferID] = Field(default_factory=list)
    filters: Filters | None = None


class CallRevive(WireModel):
    roles: list[str] = Field(default_factory=list)


class CallSuppress(WireModel):
    roles: list[str] = Field(default_factory=list)


class CallKill(WireModel):
    task_id: TaskID
    agent_id: AgentID | None = None
    kill_policy: KillPolicy | None = None


class CallShutdown(WireModel):
    executor_id: ExecutorID
    agent_id: AgentID


class CallAcknowledge(WireModel):
    agent_id: AgentID
    task_id: TaskID
    uuid: Base64


class CallAcknowledgeOperationStatus(WireModel):
    agent_id: AgentID | None = None
    resource_provider_id: ResourceProviderID | None = None
    uuid: Base64
    operation_id: OperationID


class ReconcileTask(WireModel):
    task_id: TaskID
    agent_id: AgentID | None = None


class CallReconcile(WireModel):
    """An empty ``tasks`` list asks for every non-terminal task (implicit)."""

    tasks: list[ReconcileTask] = Field(default_factory=list)


class ReconcileOperation(WireModel):
    operation_id: OperationID
    agent_id: AgentID | None = None
    resource_provider_id: ResourceProviderID | None = None


class CallReconcileOperations(WireModel):
    operations: list[ReconcileOperation] = Field(default_factory=list)


class CallMessage(WireModel):
    agent_id: AgentID
    executor_id: ExecutorID
    data: Base64


class CallRequest(WireModel):
    requests: list[Request] = Field(default_factory=list)


class CallUpdateFramework(WireModel):
    framework_info: FrameworkInfo
    suppressed_roles: list[str] = Field(default_factory=list)
    offer_constraints: JsonObject | None = None


class SchedulerCall(TypedUnion):
    """``scheduler.Call``."""

    BODYLESS: ClassVar[frozenset[str]] = frozenset({"UNKNOWN", "TEARDOWN", "REVIVE", "SUPPRESS"})

    framework_id: FrameworkID | None = None
    type: SchedulerCallType
    subscribe: CallSubscribe | None = None
    accept: CallAccept | None = None
    decline: CallDecline | None = None
    accept_inverse_offers: CallAcceptInverseOffers | None = None
    decline_inverse_offers: CallDeclineInverseOffers | None = None
    revive: CallRevive | None = None
    kill: CallKill | None = None
    shutdown: CallShutdown | None = None
    acknowledge: CallAcknowledge | None = None
    acknowledge_operation_status: CallAcknowledgeOperationStatus | None = None
    reconcile: CallReconcile | None = None
    reconcile_operations: CallReconcileOperations | None = None
    message: CallMessage | None = None
    request: CallRequest | None = None
    suppress: CallSuppress | None = None
    update_framework: CallUpdateFramework | None = None


class EventSubscribed(WireModel):
    framework_id: FrameworkID
    heartbeat_interval_seconds: Double | None = None
    master_info: MasterInfo | None = None


class EventOffers(WireModel):
    offers: list[Offer] = Field(default_factory=list)


class EventInverseOffers(WireModel):
    inverse_offers: list[InverseOffer] = Field(default_factory=list)


class EventRescind(WireModel):
    offer_id: OfferID


class EventRescindInverseOffer(WireModel):
    inverse_offer_id: OfferID


class EventUpdate(WireModel):
    status: TaskStatus


class EventUpdateOperationStatus(WireModel):
    status: OperationStatus


class EventMessage(WireModel):
    agent_id: AgentID
    executor_id: ExecutorID
    data: Base64


class EventFailure(WireModel):
    """An agent (no ``executor_id``) or an executor (with exit ``status``) failed."""

    agent_id: AgentID | None = None
    executor_id: ExecutorID | None = None
    status: int | None = None


class EventError(WireModel):
    message: str


class SchedulerEvent(TypedUnion):
    """``scheduler.Event``, one RecordIO record of the SUBSCRIBE stream."""

    BODYLESS: ClassVar[frozenset[str]] = frozenset({"UNKNOWN", "HEARTBEAT"})

    type: SchedulerEventType
    subscribed: EventSubscribed | None = None
    offers: EventOffers | None = None
    inverse_offers: EventInverseOffers | None = None
    rescind: EventRescind | None = None
    rescind_inverse_offer: EventRescindInverseOffer | None = None
    update: EventUpdate | None = None
    update_operation_status: EventUpdateOperationStatus | None = None
    message: EventMessage | None = None
    failure: EventFailure | None = None
    error: EventError | None = None


def subscribe_call(
    framework_info: FrameworkInfo, *, suppressed_roles: Sequence[str] | None = None
) -> SchedulerCall:
    """SUBSCRIBE; with ``framework_info.id`` set it is a failover and carries it twice."""
    body = CallSubscribe(framework_info=framework_info)
    if suppressed_roles is not None:
        body.suppressed_roles = list(suppressed_roles)
    return SchedulerCall.wrap(SchedulerCallType.SUBSCRIBE, body, framework_id=framework_info.id)


def teardown_call(framework_id: FrameworkID) -> SchedulerCall:
    return SchedulerCall.wrap(SchedulerCallType.TEARDOWN, framework_id=framework_id)


def accept_call(
    framework_id: FrameworkID,
    offer_ids: Sequence[OfferID],
    operations: Sequence[OfferOperation],
    *,
    filters: Filters | None = None,
) -> SchedulerCall:
    body = CallAccept(offer_ids=list(offer_ids), operations=list(operations), filters=filters)
    return SchedulerCall.wrap(SchedulerCallType.ACCEPT, body, framework_id=framework_id)


def decline_call(
    framework_id: FrameworkID, offer_ids: Sequence[OfferID], *, filters: Filters | None = None
) -> SchedulerCall:
    body = CallDecline(offer_ids=list(offer_ids), filters=filters)
    return SchedulerCall.wrap(SchedulerCallType.DECLINE, body, framework_id=framework_id)


def revive_call(framework_id: FrameworkID, roles: Sequence[str] = ()) -> SchedulerCall:
    """REVIVE the given roles; no roles means every subscribed role."""
    body = CallRevive(roles=list(roles))
    return SchedulerCall.wrap(SchedulerCallType.REVIVE, body, framework_id=framework_id)


def suppress_call(framework_id: FrameworkID, roles: Sequence[str] = ()) -> SchedulerCall:
    """SUPPRESS the given roles; no roles means every subscribed role."""
    body = CallSuppress(roles=list(roles))
    return SchedulerCall.wrap(SchedulerCallType.SUPPRESS, body, framework_id=framework_id)


def kill_call(
    framework_id: FrameworkID,
    task_id: TaskID,
    *,
    agent_id: AgentID | None = None,
    kill_policy: KillPolicy | None = None,
) -> SchedulerCall:
    body = CallKill(task_id=task_id, agent_id=agent_id, kill_policy=kill_policy)
    return SchedulerCall.wrap(SchedulerCallType.KILL, body, framework_id=framework_id)


def shutdown_call(
    framework_id: FrameworkID, executor_id: ExecutorID, agent_id: AgentID
) -> SchedulerCall:
    body = CallShutdown(executor_id=executor_id, agent_id=agent_id)
    return SchedulerCall.wrap(SchedulerCallType.SHUTDOWN, body, framework_id=framework_id)


def acknowledge_call(framework_id: FrameworkID, status: TaskStatus) -> SchedulerCall:
    """ACKNOWLEDGE a reliable update; raises ``ValueError`` if it has no uuid or agent."""
    if status.uuid is None or status.agent_id is None:
        raise ValueError("only updates with both uuid and agent_id can be acknowledged")
    body = CallAcknowledge(agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid)
    return SchedulerCall.wrap(SchedulerCallType.ACKNOWLEDGE, body, framework_id=framework_id)


def reconcile_call(
    framework_id: FrameworkID, tasks: Sequence[tuple[TaskID, AgentID | None]] = ()
) -> SchedulerCall:
    """RECONCILE the listed tasks, or every non-terminal task when none are listed."""
    body = CallReconcile(tasks=[ReconcileTask(task_id=t, agent_id=a) for t, a in tasks])
    return SchedulerCall.wrap(SchedulerCallType.RECONCILE, body, framework_id=framework_id)


def message_call(
    framework_id: FrameworkID, agent_id: AgentID, executor_id: ExecutorID, data: bytes
) -> SchedulerCall:
    body = CallMessage(agent_id=agent_id, executor_id=executor_id, data=encode_bytes(data))
    return SchedulerCall.wrap(SchedulerCallType.MESSAGE, body, framework_id=framework_id)
