"""ScalingPolicy: how many instances an App should run, by the clock and by load.

The platform's daily sale launches (10:00 and 20:00 in Asia/Shanghai) need
capacity before the traffic arrives, so a schedule names a cron time, the
instances wanted, how long before the cron time to start (``prewarm``) and how
long after it to hold (``until``). Outside every schedule window, the metric
rule (if any) scales between ``minInstances`` and ``maxInstances`` to keep
CPU or memory utilisation near its target; without one, the App's own
``spec.instances`` applies. When windows overlap, the largest count wins.

:func:`schedule_window` turns a schedule into the concrete window around a
time; the ScalingPolicy controller evaluates it and sets the App's instances.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import ClassVar, Literal, NamedTuple, Self
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from crds.common import Duration, Name, Timezone, parse_duration
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = [
    "MetricKind",
    "MetricRule",
    "RampDown",
    "ScalingPolicy",
    "ScalingPolicySpec",
    "ScalingPolicyStatus",
    "Schedule",
    "TargetRef",
    "Window",
    "schedule_window",
]


class TargetRef(DcosModel):
    """The App scaled, in the policy's own domain."""

    kind: Literal["App"] = "App"
    """Always App."""
    name: Name
    """The App's name."""


class RampDown(DcosModel):
    """After the hold, lower the count in ``steps`` equal steps, one every ``interval``.

    With 20 instances, ``steps: 4`` and ``interval: "15m"``, the schedule asks
    for 15 when the hold ends, then 10, 5 and 0 at 15-minute intervals; the
    App's baseline (or the metric rule) is the floor the count never goes under.
    """

    steps: int = Field(ge=1, le=100)
    """How many steps, 1 to 100; the last step asks for 0 instances."""
    interval: Duration
    """Time between steps, e.g. "15m"."""

    @field_validator("interval")
    @classmethod
    def _interval_positive(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError(f"interval {value!r} must be longer than 0s")
        return value


class Schedule(DcosModel):
    """Run ``instances`` from ``prewarm`` before each cron time until ``until`` after it."""

    name: Name
    """Names the schedule in status and events, e.g. sale-10am."""
    cron: str
    """Five-field cron expression (minute hour day month weekday), e.g. "0 10 * * *"."""
    timezone: Timezone | None = None
    """IANA time zone the cron is read in; the Domain's timezone when left out."""
    instances: int = Field(ge=0)
    """Instances to run during the window."""
    prewarm: Duration = "0s"
    """How long before the cron time to scale up, e.g. "30m", so instances are
    healthy when traffic arrives."""
    until: Duration
    """How long after the cron time to hold the count, e.g. "2h"."""
    ramp_down: RampDown | None = None
    """Step down after the hold instead of dropping at once."""

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"cron {value!r} is not a five-field cron expression like '0 10 * * *'"
            )
        return value

    @field_validator("until")
    @classmethod
    def _until_positive(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError(f"until {value!r} must be longer than 0s")
        return value


class MetricKind(enum.StrEnum):
    CPU = "cpu"
    MEMORY = "memory"


class MetricRule(DcosModel):
    """Scale on load between two bounds, keeping utilisation near a target."""

    metric: MetricKind
    """cpu or memory: the mean utilisation of the App's instances against their cpus/mem."""
    target_utilization: float = Field(gt=0, le=1)
    """Wanted mean utilisation, above 0 and at most 1, e.g. 0.6."""
    min_instances: int = Field(ge=0)
    """Never fewer instances than this."""
    max_instances: int = Field(ge=1)
    """Never more instances than this."""
    cooldown_seconds: int = Field(default=300, ge=0)
    """Seconds to wait after a change before the next."""
    scale_down_stabilization_seconds: int = Field(default=300, ge=0)
    """Scale down only to the highest recommendation of this many past seconds."""

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_instances > self.max_instances:
            raise ValueError(
                f"metric: minInstances ({self.min_instances}) is above "
                f"maxInstances ({self.max_instances})"
            )
        return self


class ScalingPolicySpec(DcosModel):
    """The App scaled and the rules that set its instance count."""

    target_ref: TargetRef
    """The App scaled, in the policy's domain."""
    schedules: list[Schedule] = Field(default_factory=list)
    """Time windows with a fixed instance count."""
    metric: MetricRule | None = None
    """Load-based scaling outside the schedule windows."""

    @model_validator(mode="after")
    def _some_rule(self) -> Self:
        if not self.schedules and self.metric is None:
            raise ValueError("a ScalingPolicy needs schedules, a metric rule, or both")
        names = [schedule.name for schedule in self.schedules]
        if len(names) != len(set(names)):
            raise ValueError(f"schedules: a name appears twice in {names}")
        return self


class ScalingPolicyStatus(Status):
    """What the ScalingPolicy controller observed and decided."""

    desired_instances: int | None = None
    """The instance count last set on the App."""
    active_schedule: str | None = None
    """The schedule whose window is open, if any."""
    last_scale_time: datetime | None = None
    """When the App's instance count was last changed."""
    baseline_instances: int | None = None
    """The App's own count, the floor outside every window when no metric rule applies:
    its spec.instances when the policy first saw it, or as last set by someone else."""
    reason: str | None = None
    """Why desiredInstances: "schedule NAME", "schedule NAME ramp-down K/N", "metric cpu",
    "baseline", with " (capped by quota)" when the Domain's quota capped it."""
    next_action_time: datetime | None = None
    """When the schedules next change the count."""
    next_action_instances: int | None = None
    """The count then."""
    next_action_schedule: str | None = None
    """The schedule that causes it."""


@register
class ScalingPolicy(Resource):
    """Sets an App's instance count from time windows (sale launches) and load."""

    SCOPE: ClassVar[Scope] = Scope.DOMAIN
    PLURAL: ClassVar[str] = "scalingpolicies"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("scalingpolicy", "sp")
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="TARGET", path="spec.targetRef.name"),
        PrinterColumn(name="DESIRED", path="status.desiredInstances"),
        PrinterColumn(name="ACTIVE", path="status.activeSchedule"),
        PrinterColumn(name="REASON", path="status.reason"),
        PrinterColumn(name="NEXT", path="status.nextActionTime"),
        PrinterColumn(name="NEXT-COUNT", path="status.nextActionInstances"),
        PrinterColumn(name="METRIC", path="spec.metric.metric", wide=True),
        PrinterColumn(name="LAST-SCALE", path="status.lastScaleTime", wide=True),
    )

    kind: Literal["ScalingPolicy"] = "ScalingPolicy"
    """Always ScalingPolicy."""
    spec: ScalingPolicySpec
    """The App scaled and the rules that set its instance count."""
    status: ScalingPolicyStatus = ScalingPolicyStatus()
    """What the ScalingPolicy controller observed and decided."""


class Window(NamedTuple):
    """One occurrence of a schedule: scale up at ``start``, hold until ``end``."""

    start: datetime
    fire: datetime
    end: datetime


def schedule_window(schedule: Schedule, *, at: datetime, default_timezone: str) -> Window:
    """The window of ``schedule`` that is open at ``at``, or else the next one to open.

    ``at`` must be timezone-aware; ``default_timezone`` (the Domain's) applies
    when the schedule names none. Returned times are in the schedule's zone.
    """
    if at.tzinfo is None:
        raise ValueError("schedule_window needs a timezone-aware time")
    zone = ZoneInfo(schedule.timezone or default_timezone)
    lead, hold = parse_duration(schedule.prewarm), parse_duration(schedule.until)
    # The first cron time whose window could still be open at ``at`` fires after at - hold.
    fire: datetime = croniter(schedule.cron, (at - hold).astimezone(zone)).get_next(datetime)
    return Window(start=fire - lead, fire=fire, end=fire + hold)
