"""Events: what happened to an object, for ``dcosctl describe`` and ``dcosctl events``.

Events are not resources users apply; the store keeps them under
``<prefix>/events/`` on an etcd lease so they expire by themselves.
"""

from __future__ import annotations

import enum
from datetime import datetime

from crds.meta import DcosModel

__all__ = ["Event", "EventKind", "InvolvedObject"]


class EventKind(enum.StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class InvolvedObject(DcosModel):
    kind: str
    name: str
    domain: str | None = None
    uid: str | None = None


class Event(DcosModel):
    """One thing that happened to an object; repeats of the same reason raise ``count``."""

    involved_object: InvolvedObject
    type: EventKind = EventKind.NORMAL
    reason: str
    """One CamelCase word: Created, Configured, Launched, FailedPlacement."""
    message: str
    source: str = "dcosctl"
    """Who reported it: dcosctl, the controller's name, ..."""
    count: int = 1
    first_timestamp: datetime
    last_timestamp: datetime
