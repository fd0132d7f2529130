"""A fast path for the master's most frequent record: UPDATE events.

At scale the master writes one UPDATE per task state change (20,000 for
10,000 tasks reaching RUNNING), and the generic pydantic serialisation of a
nested :class:`~adapters.mesos.TaskStatus` is the largest cost it controls.
:func:`update_record` writes the RecordIO record of an UPDATE event directly
from the fields the master sets, and falls back to the generic
``dumps(SchedulerEvent)`` for any status carrying other fields, so the bytes
always mean exactly what the model would write (a test compares the two).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from adapters.mesos import (
    EventUpdate,
    SchedulerEvent,
    SchedulerEventType,
    TaskStatus,
    dumps,
    recordio,
)

__all__ = ["update_record"]

logger = logging.getLogger(__name__)

_FAST_FIELDS = frozenset(
    {
        "task_id",
        "state",
        "message",
        "source",
        "reason",
        "agent_id",
        "executor_id",
        "timestamp",
        "uuid",
        "healthy",
        "container_status",
    }
)


def _container(status: TaskStatus) -> dict[str, Any] | None:
    container = status.container_status
    if container is None:
        return None
    if container.model_extra or container.model_fields_set - {"container_id", "network_infos"}:
        raise ValueError("container_status has fields the fast path does not write")
    out: dict[str, Any] = {}
    if container.container_id is not None:
        if container.container_id.parent is not None or container.container_id.model_extra:
            raise ValueError("nested container ids take the generic path")
        out["container_id"] = {"value": container.container_id.value}
    networks = []
    for network in container.network_infos:
        if network.model_extra or network.model_fields_set - {"ip_addresses"}:
            raise ValueError("network_infos with more than addresses take the generic path")
        addresses = []
        for address in network.ip_addresses:
            if address.model_extra or address.protocol is not None or address.ip_address is None:
                raise ValueError("addresses with a protocol take the generic path")
            addresses.append({"ip_address": address.ip_address})
        networks.append({"ip_addresses": addresses} if addresses else {})
    if networks:
        out["network_infos"] = networks
    return out


def _fast(status: TaskStatus) -> bytes:
    if status.model_extra or status.model_fields_set - _FAST_FIELDS:
        raise ValueError("status has fields the fast path does not write")
    body: dict[str, Any] = {"task_id": {"value": status.task_id.value}, "state": status.state.value}
    for name in ("message", "source", "reason"):
        value = getattr(status, name)
        if value is not None:
            body[name] = str(value)
    for name in ("agent_id", "executor_id"):
        value = getattr(status, name)
        if value is not None:
            body[name] = {"value": value.value}
    if status.timestamp is not None:
        body["timestamp"] = status.timestamp
    if status.uuid is not None:
        body["uuid"] = status.uuid
    if status.healthy is not None:
        body["healthy"] = status.healthy
    container = _container(status)
    if container is not None:
        body["container_status"] = container
    event = {"type": "UPDATE", "update": {"status": body}}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def update_record(status: TaskStatus) -> bytes:
    """The RecordIO record of ``{"type": "UPDATE", "update": {"status": ...}}``."""
    try:
        data = _fast(status)
    except ValueError:
        data = dumps(SchedulerEvent.wrap(SchedulerEventType.UPDATE, EventUpdate(status=status)))
    return recordio.encode(data)
