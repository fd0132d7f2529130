"""One Host reconcile's findings, gathered by its parts and written at the end."""

from __future__ import annotations

from datetime import datetime

from crds.events import EventKind
from crds.host import Host
from crds.meta import Condition, ConditionStatus
from reconciler.hosts import conditions as c

__all__ = ["Outcome"]


class Outcome:
    """What one Host reconcile found: conditions, events, the next requeue, failure.

    ``set`` keeps a condition's transition time when its status did not change;
    ``keep`` carries an old condition over unchanged (its check could not run).
    """

    def __init__(self, host: Host, now: datetime) -> None:
        self.host = host
        self.now = now
        self.conditions: dict[str, Condition] = {}
        self.events: list[tuple[EventKind, str, str]] = []
        self.requeue: float | None = None
        self.failed = False

    def set(self, type_: str, status: ConditionStatus, reason: str, message: str = "") -> None:
        previous = self.host.status.conditions
        self.conditions[type_] = c.condition(previous, type_, status, reason, message, self.now)

    def keep(self, type_: str) -> None:
        old = next((x for x in self.host.status.conditions if x.type == type_), None)
        if old is not None:
            self.conditions[type_] = old

    def was(self, type_: str) -> Condition | None:
        return next((x for x in self.host.status.conditions if x.type == type_), None)

    def event(self, kind: EventKind, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))

    def soon(self, delay: float) -> None:
        self.requeue = delay if self.requeue is None else min(self.requeue, delay)
