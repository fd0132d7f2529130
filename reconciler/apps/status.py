"""The App's status: counts and conditions from the instances and the rollout state.

:func:`compute_status` is pure. It reads the previous conditions from the
App itself (``app.status.conditions``) so that ``lastTransitionTime`` moves
only when a condition's status changes, never when only its reason or
message does, as Kubernetes conditions behave.

Conditions:

- ``Available``: at least ``ceil(N * minimumHealthCapacity)`` instances are
  healthy (any version);
- ``Progressing``: True while the target version rolls out
  (``NewVersionRollingOut``, ``RollingBack``) and once it is done
  (``RolloutComplete``); False when the deadline passed without progress
  (``ProgressDeadlineExceeded``) or the capacity bounds block the rollout
  (``CapacityBoundsBlocked``); Unknown before the first plan. While
  instances are left on leaving hosts (Draining or Decommissioned, passed as
  ``leaving``) and no rollout is under way, True with ``MovingOffDrainingHosts``
  ("moving 3 instance(s) off h7"), and the placement summary appended when the
  replacements cannot be placed; during a rollout its message says so too.
  False with ``CapacityBoundsBlocked`` when the strict bounds (1 and 0) leave
  no room to move anything;
- ``Degraded``: True while the target version keeps failing
  (``InstanceFailures``, with the last failure's message) or after a rollback
  (``RolledBack``); otherwise False (``AsExpected``);
- ``QuotaExceeded``: True (``QuotaReached``) when the placement summary says
  the domain's quota refused the waiting instances ("quota instances 200
  reached in domain checkout (3 instances waiting)"), otherwise False
  (``WithinQuota``). The limit is read from the Domain's ``spec.quota``
  (passed as ``quota``).

:class:`AppStatusReport` carries more than :class:`crds.app.AppStatus` holds
today (running, updated, revision, failures); :meth:`AppStatusReport.to_app_status`
fills what it can.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from crds.app import App, AppStatus
from crds.domain import Quota
from crds.meta import Condition, ConditionStatus
from reconciler.apps.instances import Census, Instance, InstanceState, leaving_hosts
from reconciler.apps.plan import BLOCKED_MESSAGE, DRAIN_BLOCKED_MESSAGE, capacity_bounds
from reconciler.apps.version import RolloutPhase, RolloutState, spec_version

__all__ = [
    "AVAILABLE",
    "DEGRADED",
    "MOVING",
    "PROGRESSING",
    "QUOTA_EXCEEDED",
    "AppStatusReport",
    "compute_status",
    "moving_message",
]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
MOVING = "MovingOffDrainingHosts"
QUOTA_EXCEEDED = "QuotaExceeded"

_QUOTA_REASON = re.compile(r"\bquota (cpus|mem|disk|instances)\b")

_TRUE, _FALSE, _UNKNOWN = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN


@dataclass(frozen=True)
class AppStatusReport:
    observed_generation: int | None
    instances: int  # live instances (not Killing, not ended, not unreachable), any version
    running: int  # of which Running
    healthy: int  # of which healthy
    ready: int  # healthy instances of the target version
    updated: int  # live instances of the target version
    version: str  # the target version
    revision: int  # its revision number, 0 before the first plan
    consecutive_failures: int
    last_failure_message: str
    last_failure_at: datetime | None
    conditions: tuple[Condition, ...]

    def to_app_status(self, previous: AppStatus) -> AppStatus:
        """The fields :class:`~crds.app.AppStatus` has, other fields kept from ``previous``."""
        return previous.model_copy(
            update={
                "observed_generation": self.observed_generation,
                "conditions": list(self.conditions),
                "instances": self.instances,
                "ready_instances": self.ready,
                "healthy_instances": self.healthy,
                "version": self.version,
            }
        )


def compute_status(
    app: App,
    instances: Sequence[Instance],
    rollout: RolloutState | None,
    now: datetime,
    *,
    leaving: Collection[str] = frozenset(),
    placement: str | None = None,
    quota: Quota | None = None,
) -> AppStatusReport:
    """The status of ``app`` after the plan that returned ``rollout`` (None before any);
    ``leaving`` names the hosts being emptied, ``placement`` why launches wait, if they do,
    ``quota`` the domain's quota (for the ``QuotaExceeded`` message)."""
    target = rollout.target_version if rollout and rollout.target_version else None
    target = target or spec_version(app.spec)
    census = Census.of(instances, target)
    moving = leaving_hosts(instances, leaving)
    backoff = rollout.backoff if rollout is not None else None
    failures = backoff.failures if backoff is not None and backoff.version == target else 0
    previous = {c.type: c for c in app.status.conditions}
    fresh = (
        _available(app, census.healthy),
        _progressing(rollout, app, moving, placement),
        _degraded(rollout, failures, target),
        quota_condition(app, instances, placement, quota),
    )
    return AppStatusReport(
        observed_generation=app.metadata.generation,
        instances=len(census.live),
        running=sum(i.is_running for i in census.live),
        healthy=census.healthy,
        ready=census.new_healthy,
        updated=len(census.new),
        version=target,
        revision=rollout.revision if rollout is not None else 0,
        consecutive_failures=failures,
        last_failure_message=_last_failure(rollout),
        last_failure_at=backoff.last_failure_at if backoff is not None else None,
        conditions=tuple(_stamp(c, previous.get(c.type), now) for c in fresh),
    )


def _last_failure(rollout: RolloutState | None) -> str:
    """The last task failure: of the target, else of the version rolled back from."""
    if rollout is None:
        return ""
    return rollout.backoff.message or rollout.rollback_reason


def _stamp(condition: Condition, previous: Condition | None, now: datetime) -> Condition:
    """``condition`` with the previous transition time if its status did not change."""
    if previous is not None and previous.status == condition.status:
        when = previous.last_transition_time or now
    else:
        when = now
    return condition.model_copy(update={"last_transition_time": when})


def _available(app: App, healthy: int) -> Condition:
    n = app.spec.instances
    share = app.spec.upgrade_strategy.minimum_health_capacity
    needed = math.ceil(n * share - 1e-9)
    message = f"{healthy} of {n} instance(s) healthy, at least {needed} required"
    if healthy >= needed:
        return Condition(type=AVAILABLE, status=_TRUE, reason="MinimumHealthy", message=message)
    return Condition(type=AVAILABLE, status=_FALSE, reason="BelowMinimumHealthy", message=message)


def moving_message(moving: dict[str, int], placement: str | None = None) -> str:
    """``moving 3 instance(s) off h7`` (hosts by name), with why replacements wait."""
    hosts = ", ".join(f"{host} ({count})" for host, count in moving.items())
    total = sum(moving.values())
    if len(moving) == 1:
        hosts = next(iter(moving))
    message = f"moving {total} instance(s) off {hosts}"
    return f"{message}; replacements cannot be placed: {placement}" if placement else message


def _progressing(
    rollout: RolloutState | None, app: App, moving: dict[str, int], placement: str | None
) -> Condition:
    condition = _rollout_progress(rollout)
    if not moving or condition.status is _FALSE:
        return condition
    bounds = capacity_bounds(app.spec.instances, app.spec.upgrade_strategy)
    if bounds.strict:
        return Condition(
            type=PROGRESSING,
            status=_FALSE,
            reason="CapacityBoundsBlocked",
            message=f"{DRAIN_BLOCKED_MESSAGE} ({moving_message(moving)})",
        )
    message = moving_message(moving, placement)
    if condition.reason in ("NewVersionRollingOut", "RollingBack"):
        return condition.model_copy(update={"message": f"{condition.message}; {message}"})
    return Condition(type=PROGRESSING, status=_TRUE, reason=MOVING, message=message)


def _rollout_progress(rollout: RolloutState | None) -> Condition:
    if rollout is None or rollout.target_version is None:
        return Condition(type=PROGRESSING, status=_UNKNOWN, reason="NotStarted")
    what = f"revision {rollout.revision} ({rollout.target_version})"
    if rollout.phase is RolloutPhase.COMPLETE:
        return Condition(
            type=PROGRESSING,
            status=_TRUE,
            reason="RolloutComplete",
            message=f"{what} is rolled out",
        )
    if rollout.phase is RolloutPhase.FAILED:
        return Condition(
            type=PROGRESSING,
            status=_FALSE,
            reason="ProgressDeadlineExceeded",
            message=f"{what} made no progress before the deadline",
        )
    if rollout.blocked:
        return Condition(
            type=PROGRESSING,
            status=_FALSE,
            reason="CapacityBoundsBlocked",
            message=BLOCKED_MESSAGE,
        )
    if rollout.rolled_back_from is not None:
        return Condition(
            type=PROGRESSING,
            status=_TRUE,
            reason="RollingBack",
            message=f"rolling back from {rollout.rolled_back_from} to {what}",
        )
    return Condition(
        type=PROGRESSING, status=_TRUE, reason="NewVersionRollingOut", message=f"rolling out {what}"
    )


def _degraded(rollout: RolloutState | None, failures: int, target: str) -> Condition:
    if rollout is not None and failures > 0:
        last = rollout.backoff.message or "no message"
        return Condition(
            type=DEGRADED,
            status=_TRUE,
            reason="InstanceFailures",
            message=f"{failures} consecutive failure(s) of {target}; last: {last}",
        )
    if rollout is not None and rollout.rolled_back_from is not None:
        why = f" ({rollout.rollback_reason})" if rollout.rollback_reason else ""
        return Condition(
            type=DEGRADED,
            status=_TRUE,
            reason="RolledBack",
            message=f"{rollout.rolled_back_from} failed to roll out{why}; running {target} instead",
        )
    return Condition(type=DEGRADED, status=_FALSE, reason="AsExpected")


def quota_condition(
    app: App, instances: Sequence[Instance], placement: str | None, quota: Quota | None
) -> Condition:
    """``QuotaExceeded``: True when the placement summary names a quota reason."""
    found = _QUOTA_REASON.search(placement or "")
    if found is None:
        return Condition(type=QUOTA_EXCEEDED, status=_FALSE, reason="WithinQuota")
    resource = found.group(1)
    limits: dict[str, float | None] = {}
    if quota is not None:
        limits = {"cpus": quota.cpus, "mem": quota.mem, "disk": quota.disk}
        limits["instances"] = quota.instances
    limit = limits.get(resource)
    live = [i for i in instances if i.is_active]
    waiting = sum(1 for i in live if i.state is InstanceState.PENDING and i.agent_id is None)
    waiting = waiting or max(0, app.spec.instances - len(live))
    what = f"quota {resource}" if limit is None else f"quota {resource} {_amount(limit)}"
    noun = "instance" if waiting == 1 else "instances"
    return Condition(
        type=QUOTA_EXCEEDED,
        status=_TRUE,
        reason="QuotaReached",
        message=f"{what} reached in domain {app.metadata.domain} ({waiting} {noun} waiting)",
    )


def _amount(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
