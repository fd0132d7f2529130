"""Plain-string identifiers for Mesos objects.

On the wire every Mesos id is a message, ``{"value": "..."}`` (see
``model_common.FrameworkID`` and friends). Inside our code, where ids are
dictionary keys, log fields and etcd record fields, the bare string is what we
pass around; these ``NewType`` wrappers keep a task id from being handed where
an agent id is expected, at no run-time cost.
"""

from __future__ import annotations

from typing import NewType

__all__ = ["AgentId", "ExecutorId", "FrameworkId", "OfferId", "TaskId"]

FrameworkId = NewType("FrameworkId", str)
AgentId = NewType("AgentId", str)
OfferId = NewType("OfferId", str)
TaskId = NewType("TaskId", str)
ExecutorId = NewType("ExecutorId", str)
