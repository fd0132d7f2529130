"""What count a ScalingPolicy wants at a given instant: pure functions, no I/O.

:func:`desired_at` evaluates every schedule of a policy at ``at`` (a
timezone-aware instant). A schedule asks for its ``instances`` from
``prewarm`` before each cron time until ``until`` after it; with a
``rampDown`` it then asks for ``instances * (steps - k) / steps`` (rounded up)
at the k-th step, one step per ``interval``, the last step asking for 0. The
effective count is the largest of:

* every schedule open (or ramping down) at ``at``;
* the metric rule's recommendation, when the policy has one and a
  recommendation is known; otherwise the App's own ``spec.instances`` as it
  was before the policy (the *baseline*) — the floor outside every window;

capped by ``quota_room`` (instances the Domain's quota leaves this App, see
:func:`quota_room`). The returned :class:`Decision` names why and the next
scheduled change, found by evaluating the schedule boundaries after ``at``.

:class:`MetricRecommender` turns utilisation samples into a recommendation,
with a cooldown after each change and a Kubernetes-HPA-like scale-down
stabilisation window (scale down only to the highest recommendation of the
window).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from crds.common import parse_duration
from crds.domain import Domain
from crds.scalingpolicy import MetricRule, ScalingPolicy, Schedule

__all__ = [
    "Decision",
    "MetricRecommender",
    "NextAction",
    "TimelineRow",
    "desired_at",
    "quota_room",
    "schedule_count",
    "timeline",
]


@dataclass(frozen=True, slots=True)
class NextAction:
    """The next scheduled change of the effective count."""

    time: datetime
    count: int
    schedule: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    count: int
    reason: str
    """e.g. "schedule sale-10am", "schedule sale-10am ramp-down 2/4",
    "metric cpu", "baseline", with " (capped by quota)" when capped."""
    next_action: NextAction | None


def _span(schedule: Schedule) -> tuple[timedelta, timedelta, timedelta]:
    """(prewarm, hold, ramp length after the hold)."""
    lead, hold = parse_duration(schedule.prewarm), parse_duration(schedule.until)
    ramp = timedelta(0)
    if schedule.ramp_down is not None:
        ramp = parse_duration(schedule.ramp_down.interval) * schedule.ramp_down.steps
    return lead, hold, ramp


def _zone(schedule: Schedule, domain: Domain) -> ZoneInfo:
    return ZoneInfo(schedule.timezone or domain.spec.timezone)


def _fires(schedule: Schedule, zone: ZoneInfo, after: datetime, count: int) -> Iterator[datetime]:
    """Up to ``count`` cron times after ``after``, computed lazily (croniter is slow)."""
    it = croniter(schedule.cron, after.astimezone(zone))
    for _ in range(count):
        yield it.get_next(datetime)


def schedule_count(schedule: Schedule, domain: Domain, at: datetime) -> tuple[int, str] | None:
    """What ``schedule`` asks for at ``at``, with a label, or None when it is closed."""
    if at.tzinfo is None:
        raise ValueError("desired_at needs a timezone-aware time")
    lead, hold, ramp = _span(schedule)
    zone = _zone(schedule, domain)
    best: tuple[int, str] | None = None
    # Every fire whose window (prewarm .. hold + ramp) contains ``at``.
    for fire in _fires(schedule, zone, at - hold - ramp, 64):
        if fire - lead > at:
            break
        if at < fire + hold:
            got = (schedule.instances, f"schedule {schedule.name}")
        elif schedule.ramp_down is not None and at < fire + hold + ramp:
            steps = schedule.ramp_down.steps
            step = int((at - fire - hold) / parse_duration(schedule.ramp_down.interval)) + 1
            count = math.ceil(schedule.instances * (steps - step) / steps)
            got = (count, f"schedule {schedule.name} ramp-down {step}/{steps}")
        else:
            continue
        if best is None or got[0] > best[0]:
            best = got
    return best


def _evaluate(
    policy: ScalingPolicy, domain: Domain, at: datetime, floor: tuple[int, str], cap: int | None
) -> tuple[int, str, str | None]:
    count, reason = floor
    source: str | None = None
    for schedule in policy.spec.schedules:
        got = schedule_count(schedule, domain, at)
        if got is not None and got[0] > count:
            count, reason, source = got[0], got[1], schedule.name
    if cap is not None and count > cap:
        return cap, f"{reason} (capped by quota)", source
    return count, reason, source


def desired_at(
    policy: ScalingPolicy,
    domain: Domain,
    at: datetime,
    *,
    baseline: int,
    metric: int | None = None,
    quota_room: int | None = None,
) -> Decision:
    """The count ``policy`` wants at ``at`` (see the module docstring for the rules)."""
    if metric is not None and policy.spec.metric is not None:
        floor = (metric, f"metric {policy.spec.metric.metric.value}")
    else:
        floor = (baseline, "baseline")
    count, reason, _ = _evaluate(policy, domain, at, floor, quota_room)
    return Decision(count, reason, _next_action(policy, domain, at, floor, quota_room, count))


def _boundaries(policy: ScalingPolicy, domain: Domain, at: datetime) -> list[datetime]:
    times: set[datetime] = set()
    for schedule in policy.spec.schedules:
        lead, hold, ramp = _span(schedule)
        for fire in _fires(schedule, _zone(schedule, domain), at - hold - ramp, 4):
            times.add(fire - lead)
            times.add(fire + hold)
            if schedule.ramp_down is not None:
                interval = parse_duration(schedule.ramp_down.interval)
                times.update(
                    fire + hold + interval * k for k in range(1, schedule.ramp_down.steps + 1)
                )
    return sorted(t for t in times if t > at)


def _next_action(
    policy: ScalingPolicy,
    domain: Domain,
    at: datetime,
    floor: tuple[int, str],
    cap: int | None,
    current: int,
) -> NextAction | None:
    for when in _boundaries(policy, domain, at):
        count, _, source = _evaluate(policy, domain, when, floor, cap)
        if count != current:
            return NextAction(when, count, source)
    return None


def quota_room(
    domain: Domain, *, app_cpus: float, app_mem: float, others: list[tuple[int, float, float]]
) -> int | None:
    """Most instances the Domain's quota leaves one App, given the others.

    ``others`` holds (instances, cpus, mem) of every other App of the domain.
    None when the quota limits nothing.
    """
    quota = domain.spec.quota
    limits: list[int] = []
    if quota.instances is not None:
        limits.append(quota.instances - sum(n for n, _, _ in others))
    if quota.cpus is not None:
        used = sum(n * c for n, c, _ in others)
        limits.append(math.floor((quota.cpus - used) / app_cpus + 1e-9))
    if quota.mem is not None:
        used = sum(n * m for n, _, m in others)
        limits.append(math.floor((float(quota.mem) - used) / app_mem + 1e-9))
    return max(0, min(limits)) if limits else None


class MetricRecommender:
    """Recommendations from utilisation, with cooldown and scale-down stabilisation.

    ``observe(now, current, utilisation)`` returns the count to run: the raw
    recommendation is ``ceil(current * utilisation / target)`` clamped to
    min..max. A scale-up acts at once unless within ``cooldownSeconds`` of the
    last change; a scale-down goes only to the highest raw recommendation seen
    in the last ``scaleDownStabilizationSeconds``. ``now`` is seconds on any
    monotonic scale (the injected clock's).
    """

    def __init__(self, rule: MetricRule) -> None:
        self.rule = rule
        self._history: deque[tuple[float, int]] = deque()
        self._last_change: float | None = None

    def raw(self, current: int, utilisation: float) -> int:
        want = math.ceil(max(current, 1) * utilisation / self.rule.target_utilization - 1e-9)
        return max(self.rule.min_instances, min(self.rule.max_instances, want))

    def observe(self, now: float, current: int, utilisation: float) -> int:
        raw = self.raw(current, utilisation)
        self._history.append((now, raw))
        window = self.rule.scale_down_stabilization_seconds
        while self._history and self._history[0][0] < now - window:
            self._history.popleft()
        if raw > current:
            want = raw
        else:
            want = max(r for _, r in self._history)
            want = min(want, max(current, self.rule.min_instances))
        want = max(self.rule.min_instances, min(self.rule.max_instances, want))
        if want == current:
            return current
        if self._last_change is not None and now - self._last_change < self.rule.cooldown_seconds:
            return current
        self._last_change = now
        return want


@dataclass(frozen=True, slots=True)
class TimelineRow:
    time: datetime
    count: str
    """A number, or "min-max" where the metric rule governs."""
    reason: str


def timeline(
    policy: ScalingPolicy, domain: Domain, day: date, *, baseline: int
) -> list[TimelineRow]:
    """One row per change of the scheduled count over ``day`` in the Domain's time zone.

    Where the metric rule governs, the count is shown as its bounds.
    """
    zone = ZoneInfo(domain.spec.timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    rule = policy.spec.metric
    floor = (
        (rule.min_instances, f"metric {rule.metric.value}")
        if rule is not None
        else (baseline, "baseline")
    )

    def row(at: datetime) -> TimelineRow:
        count, reason, _ = _evaluate(policy, domain, at, floor, None)
        shown = str(count)
        if rule is not None and reason == floor[1]:
            shown = f"{rule.min_instances}-{rule.max_instances}"
        return TimelineRow(at.astimezone(zone), shown, reason)

    rows = [row(start)]
    at = start
    while True:
        later = [t for t in _boundaries(policy, domain, at) if t < end]
        if not later:
            return rows
        at = later[0]
        got = row(at)
        if (got.count, got.reason) != (rows[-1].count, rows[-1].reason):
            rows.append(got)
