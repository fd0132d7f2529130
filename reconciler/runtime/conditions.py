"""Conditions as controllers write them: a transition time kept while the status holds."""

from __future__ import annotations

from datetime import datetime

from crds.meta import Condition, ConditionStatus

__all__ = ["condition"]


def condition(
    previous: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
) -> Condition:
    """The condition, keeping its transition time when its status did not change."""
    old = next((c for c in previous if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status is status else now
    return Condition(
        type=type_, status=status, reason=reason, message=message, last_transition_time=since
    )
