"""Freeze windows: when a Domain's Apps may change only their instance count.

:func:`active_freeze` finds the Domain window open at an instant (recurring
``cron`` + ``duration`` windows read in the window's or the Domain's time
zone, or absolute ``start``/``end``). :class:`FreezeAdmission` is the
``dcosctl apply`` admission check (:mod:`reconciler.apply.admission`) that
refuses an App update changing anything but ``spec.instances`` while its
Domain is frozen; ``dcosctl scale`` and the ScalingPolicy controller change
only ``instances`` and are never refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from crds.common import parse_duration
from crds.domain import Domain

__all__ = ["Freeze", "active_freeze"]


@dataclass(frozen=True, slots=True)
class Freeze:
    name: str
    end: datetime
    """When the window closes, in the window's (or the Domain's) time zone."""

    def describe(self) -> str:
        offset = self.end.strftime("%z")
        when = f"{self.end:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"
        return f"window {self.name} until {when}"


def active_freeze(domain: Domain, at: datetime) -> Freeze | None:
    """The open freeze window of ``domain`` at ``at`` that closes last, or None."""
    if at.tzinfo is None:
        raise ValueError("active_freeze needs a timezone-aware time")
    found: Freeze | None = None
    for window in domain.spec.freeze_windows:
        zone = ZoneInfo(window.timezone or domain.spec.timezone)
        if window.cron is not None and window.duration is not None:
            length = parse_duration(window.duration)
            start: datetime = croniter(window.cron, (at - length).astimezone(zone)).get_next(
                datetime
            )
            end = start + length
        elif window.start is not None and window.end is not None:
            start, end = window.start, window.end.astimezone(zone)
        else:  # pragma: no cover - the model refuses it
            continue
        if start <= at < end and (found is None or end > found.end):
            found = Freeze(window.name, end)
    return found
