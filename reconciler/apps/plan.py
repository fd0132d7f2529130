"""The App planner: desired spec and observed instances in, a plan of buckets out.

:func:`plan` is pure (no I/O, the time is passed in), in the spirit of
Nomad's ``ReconcileResults``: it sorts the app's instances into buckets
(``launch``, ``kill``, ``expunge``, ``unchanged``), says what it is waiting
for, and returns the next :class:`~reconciler.apps.version.RolloutState`.
The App controller persists that state first, then applies the buckets
(records and LAUNCH through the Mesos framework, KILL, deleting the expunged
records), and calls again when anything changes or ``requeue_after`` passes.

Capacity bounds, Marathon's: with ``N = spec.instances``

- at most ``N + floor(N * maximumOverCapacity)`` active instances (Pending,
  Staging, Starting, Running and Killing; a kill frees room only once it
  ended), so launches use only room that already exists;
- at least ``ceil(N * minimumHealthCapacity)`` healthy ones: an instance is
  killed while it is not healthy (that costs nothing), and a healthy one only
  while the healthy count stays at the bound.

A new version is launched as far as the first bound allows and old
instances are killed as far as the second allows; new ones count once
healthy. When rounding leaves no room either way (N=1, both shares 0.5),
Marathon's way out is taken: one instance below the health bound at a time.
Only ``minimumHealthCapacity=1`` with ``maximumOverCapacity=0`` is taken at
its word: the rollout is blocked and the plan says so.

Missing instances of the target version are launched (after the launch
backoff of :mod:`reconciler.apps.backoff`), excess ones killed in
:func:`~reconciler.apps.instances.kill_order`. Ended and unreachable
instances are replaced at once; unreachable ones are not active, so a
partition cannot block their replacement. The target version, its progress
deadline and rollback come from
:func:`~reconciler.apps.version.advance_rollout`; ``docs/rollouts.md`` has
the whole story.

Leaving hosts (``leaving``: hostnames whose Host is Draining or
Decommissioned) are emptied with the same two bounds. An instance of the
target version on such a host is *moving*
(:class:`~reconciler.apps.instances.Census`): it counts as an instance,
healthy while it is, but not toward the ``N`` new ones, so a replacement is
launched for it as far as the active bound allows, and it is killed within
the health bound like an outdated one. With room above ``N``
(``maximumOverCapacity`` > 0) a healthy moving instance goes only once the
healthy count stays at ``N`` without it, i.e. once its replacement is
healthy: a drain is not the App's own change, so it never costs the App
capacity while it can launch first (and an instance with nowhere to go stays
where it is). Without room above ``N`` it is killed first, as far as the
health bound allows, and replaced. An outdated instance on a leaving host is
simply outdated: replaced once, by the target version. With the strict
bounds (1 and 0) nothing can move and the plan says so.

Give-back (``giving_back``: ids of borrowed instances on the shared pool
whose domain's own hosts have room, chosen by
:func:`reconciler.domains.giveback.give_back`) moves instances the same way,
one by one rather than per host; their kills say ``GiveBack``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crds.app import App, AppSpec, UpgradeStrategy
from reconciler.apps.backoff import launch_not_before, observe_failures
from reconciler.apps.instances import Census, Instance, kill_order
from reconciler.apps.version import (
    RolloutPhase,
    RolloutState,
    advance_rollout,
    spec_version,
    with_operational_fields,
)

__all__ = [
    "BLOCKED_MESSAGE",
    "DRAIN_BLOCKED_MESSAGE",
    "Accounting",
    "Bounds",
    "KillIntent",
    "KillReason",
    "LaunchIntent",
    "LaunchReason",
    "Plan",
    "RolloutSettings",
    "Wait",
    "WaitReason",
    "capacity_bounds",
    "plan",
]

_EPSILON = 1e-9  # 10 * 0.7 is 7.000000000000001: shares are rounded as written


class KillReason(enum.StrEnum):
    SCALE_DOWN = "ScaleDown"  # an instance of the target version beyond N
    REPLACED = "Replaced"  # an older version the target replaces
    UNHEALTHY = "Unhealthy"  # an older version that is not healthy: killed first, at no cost
    ORPHANED_VERSION = "OrphanedVersion"  # a version the history does not know
    ROLLBACK = "Rollback"  # the version that failed and was rolled back
    DELETED = "Deleted"  # the App is being deleted
    HOST_LEAVING = "HostLeaving"  # on a Draining or Decommissioned host, replaced elsewhere
    GIVE_BACK = "GiveBack"  # borrowed from the shared pool, replaced on a home host
    KILL_RETRY = "KillRetry"  # a KILL sent earlier had no effect yet


class LaunchReason(enum.StrEnum):
    SCALE = "Scale"
    ROLLOUT = "Rollout"
    ROLLBACK = "Rollback"
    MOVE = "MoveOffHost"  # replacements of instances on leaving hosts only


class WaitReason(enum.StrEnum):
    BACKOFF = "Backoff"
    HEALTH = "WaitingForHealth"
    KILLS = "WaitingForKills"
    CAPACITY_BLOCKED = "CapacityBlocked"
    MOVING = "MovingOffDrainingHosts"


@dataclass(frozen=True)
class LaunchIntent:
    version: str
    count: int
    spec: AppSpec  # what to launch: the App's spec, or a rolled-back snapshot at today's scale
    reason: LaunchReason


@dataclass(frozen=True)
class KillIntent:
    instance_id: str
    version: str
    reason: KillReason


@dataclass(frozen=True)
class Wait:
    reason: WaitReason
    message: str
    until: datetime | None = None  # known only for backoff


@dataclass(frozen=True)
class Bounds:
    instances: int  # N
    min_healthy: int  # ceil(N * minimumHealthCapacity), one less when relieved
    max_active: int  # N + floor(N * maximumOverCapacity)
    relieved: bool  # rounding left no room either way: one instance below the bound allowed
    strict: bool  # minimumHealthCapacity=1 and maximumOverCapacity=0: no room, by request


def capacity_bounds(instances: int, strategy: UpgradeStrategy) -> Bounds:
    """Marathon's bounds for ``instances`` under ``strategy``."""
    over = math.floor(instances * strategy.maximum_over_capacity + _EPSILON)
    min_healthy = math.ceil(instances * strategy.minimum_health_capacity - _EPSILON)
    strict = strategy.minimum_health_capacity == 1.0 and strategy.maximum_over_capacity == 0.0
    relieved = instances > 0 and over == 0 and min_healthy >= instances and not strict
    return Bounds(
        instances=instances,
        min_healthy=min_healthy - 1 if relieved else min_healthy,
        max_active=instances + over,
        relieved=relieved,
        strict=strict,
    )


@dataclass(frozen=True)
class Accounting:
    target_version: str
    revision: int
    bounds: Bounds
    active: int  # instances counted against max_active, Killing and Pending included
    healthy: int  # healthy instances of any version
    updated: int  # live (not Killing) instances of the target version
    updated_healthy: int
    outdated: int  # live instances of other versions
    killing: int
    unreachable: int
    ended: int  # terminal records, about to be expunged
    moving: int = 0  # live instances of the target version on leaving hosts, to be replaced


@dataclass(frozen=True)
class RolloutSettings:
    progress_deadline_seconds: float = 600.0
    """A rollout without progress this long fails (a future ``spec.progressDeadlineSeconds``)."""
    auto_rollback: bool = False
    """A failed rollout goes back to the previous good version."""
    backoff_reset_seconds: float = 60.0
    """A fresh instance healthy this long resets the launch backoff."""
    history_limit: int = 10
    """Revisions kept for ``rollout history`` and ``undo``."""
    kill_retry_seconds: float = 30.0
    """A Killing instance is killed again after this long."""


@dataclass(frozen=True)
class Plan:
    launch: tuple[LaunchIntent, ...]
    kill: tuple[KillIntent, ...]
    expunge: tuple[str, ...]  # terminal records to delete once ``rollout`` is persisted
    unchanged: tuple[str, ...]
    wait: Wait | None
    accounting: Accounting
    rollout: RolloutState  # persist before applying the buckets
    requeue_after: float | None  # seconds until a deadline or backoff expires


def plan(
    *,
    app: App,
    instances: Sequence[Instance],
    now: datetime,
    history: RolloutState | None,
    settings: RolloutSettings = RolloutSettings(),
    leaving: Collection[str] = frozenset(),
    giving_back: Collection[str] = frozenset(),
) -> Plan:
    """What to do about ``app`` given its ``instances`` and the persisted rollout state;
    instances on the hosts named in ``leaving``, and those whose ids are in
    ``giving_back`` (borrowed ones going home), are moved elsewhere."""
    spec = app.spec
    deleting = app.metadata.deletion_timestamp is not None
    n = 0 if deleting else spec.instances
    state = advance_rollout(
        history or RolloutState(),
        spec=spec,
        instances=instances,
        wanted=n,
        now=now,
        deadline=timedelta(seconds=settings.progress_deadline_seconds),
        auto_rollback=settings.auto_rollback,
        history_limit=settings.history_limit,
    )
    target = state.target_version or spec_version(spec)
    backoff = observe_failures(
        state.backoff,
        version=target,
        instances=instances,
        now=now,
        reset_after=timedelta(seconds=settings.backoff_reset_seconds),
    )
    strategy = UpgradeStrategy(minimum_health_capacity=0) if deleting else spec.upgrade_strategy
    bounds = capacity_bounds(n, strategy)
    census = Census.of(instances, target, leaving, giving_back)
    kills = _kills(census, bounds, state, deleting, leaving, giving_back)
    kills += _retries(census.killing, now, settings)
    missing = n - len(census.new)
    count = max(0, min(missing, bounds.max_active - census.active))
    not_before = launch_not_before(backoff, spec.backoff)
    backoff_until = not_before if count and not_before and now < not_before else None
    launches: tuple[LaunchIntent, ...] = ()
    if count and backoff_until is None:
        why = _why(state, census, n)
        launches = (LaunchIntent(target, count, _target_spec(state, spec, target), why),)
    stuck = bounds.strict and not kills and not census.killing and count == 0
    state = state.model_copy(update={"backoff": backoff, "blocked": stuck and bool(census.old)})
    killed = {k.instance_id for k in kills}
    kept = sorted(i.instance_id for i in instances if not i.is_terminal)
    acting = bool(launches or kills)
    return Plan(
        launch=launches,
        kill=kills,
        expunge=tuple(sorted(i.instance_id for i in instances if i.is_terminal)),
        unchanged=tuple(iid for iid in kept if iid not in killed),
        wait=_wait(
            census,
            n,
            state,
            acting=acting,
            backoff_until=backoff_until,
            drain_blocked=stuck and bool(census.moving),
        ),
        accounting=_accounting(census, bounds, state.revision),
        rollout=state,
        requeue_after=_requeue_after(state, census.killing, backoff_until, now, settings),
    )


def _wait(
    census: Census,
    n: int,
    state: RolloutState,
    *,
    acting: bool,
    backoff_until: datetime | None,
    drain_blocked: bool,
) -> Wait | None:
    """What holds the app back from its target, if anything."""
    if backoff_until is not None:
        failures = state.backoff.failures
        message = f"{failures} consecutive failure(s): next launch at {backoff_until.isoformat()}"
        return Wait(WaitReason.BACKOFF, message, backoff_until)
    if state.blocked:
        return Wait(WaitReason.CAPACITY_BLOCKED, BLOCKED_MESSAGE)
    if drain_blocked:
        return Wait(WaitReason.CAPACITY_BLOCKED, DRAIN_BLOCKED_MESSAGE)
    if acting:
        return None
    if census.moving:
        message = (
            f"waiting for replacements of {len(census.moving)} instance(s) on leaving hosts "
            "or given back to be healthy"
        )
        return Wait(WaitReason.MOVING, message)
    if census.killing and len(census.new) < n:
        return Wait(WaitReason.KILLS, f"waiting for {len(census.killing)} instance(s) to stop")
    if state.phase is not RolloutPhase.COMPLETE:
        message = (
            f"waiting for {n - census.new_healthy} of {n} instance(s) of {census.target} "
            "to be healthy"
        )
        return Wait(WaitReason.HEALTH, message)
    return None


BLOCKED_MESSAGE = (
    "upgrade blocked by capacity bounds: minimumHealthCapacity 1 and maximumOverCapacity 0 "
    "leave no room to replace a healthy instance"
)

DRAIN_BLOCKED_MESSAGE = (
    "moving off draining hosts blocked by capacity bounds: minimumHealthCapacity 1 and "
    "maximumOverCapacity 0 leave no room to replace a healthy instance"
)


def _kills(
    census: Census,
    bounds: Bounds,
    state: RolloutState,
    deleting: bool,
    leaving: Collection[str],
    giving_back: Collection[str] = frozenset(),
) -> tuple[KillIntent, ...]:
    """Old instances, excess new ones and moving ones: unhealthy at no cost, healthy
    within the bound (a moving one, with room above N, only while N stay healthy).

    Moving instances are not counted toward N: they go in any case, so a scale
    down takes the new ones beyond N besides them."""
    excess = kill_order(census.new, census.target)[: max(0, len(census.new) - bounds.instances)]
    moving = {i.instance_id for i in census.moving}
    surge = bounds.max_active > bounds.instances
    floor_moving = max(bounds.min_healthy, bounds.instances) if surge else bounds.min_healthy
    healthy = census.healthy
    kills = []
    for inst in kill_order([*census.old, *excess, *census.moving], census.target, leaving):
        if inst.is_healthy:
            floor = floor_moving if inst.instance_id in moving else bounds.min_healthy
            if healthy - 1 < floor:
                continue
            healthy -= 1
        reason = KillReason.HOST_LEAVING if inst.instance_id in moving and not deleting else None
        if reason is not None and inst.instance_id in giving_back:
            reason = KillReason.GIVE_BACK
        kills.append(
            KillIntent(inst.instance_id, inst.version, reason or _reason(inst, state, deleting))
        )
    return tuple(kills)


def _retries(
    killing: Sequence[Instance], now: datetime, settings: RolloutSettings
) -> tuple[KillIntent, ...]:
    """Kills sent at least ``kill_retry_seconds`` ago that have not ended the instance."""
    retry = timedelta(seconds=settings.kill_retry_seconds)
    return tuple(
        KillIntent(i.instance_id, i.version, KillReason.KILL_RETRY)
        for i in killing
        if now - (i.last_update_at or i.launched_at) >= retry
    )


def _accounting(census: Census, bounds: Bounds, revision: int) -> Accounting:
    """The counts behind the plan (moving instances count as ``updated`` too)."""
    return Accounting(
        target_version=census.target,
        revision=revision,
        bounds=bounds,
        active=census.active,
        healthy=census.healthy,
        updated=len(census.new) + len(census.moving),
        updated_healthy=census.new_healthy + sum(i.is_healthy for i in census.moving),
        outdated=len(census.old),
        killing=len(census.killing),
        unreachable=census.unreachable,
        ended=census.ended,
        moving=len(census.moving),
    )


def _reason(inst: Instance, state: RolloutState, deleting: bool) -> KillReason:
    if deleting:
        return KillReason.DELETED
    if inst.version == state.target_version:
        return KillReason.SCALE_DOWN
    if inst.version == state.rolled_back_from:
        return KillReason.ROLLBACK
    if not inst.is_healthy:
        return KillReason.UNHEALTHY
    if state.find(version=inst.version) is None:
        return KillReason.ORPHANED_VERSION
    return KillReason.REPLACED


def _why(state: RolloutState, census: Census, n: int) -> LaunchReason:
    if state.rolled_back_from is not None and state.phase is not RolloutPhase.COMPLETE:
        return LaunchReason.ROLLBACK
    if census.old:
        return LaunchReason.ROLLOUT
    moving_only = bool(census.moving) and len(census.new) + len(census.moving) >= n
    return LaunchReason.MOVE if moving_only else LaunchReason.SCALE


def _target_spec(state: RolloutState, spec: AppSpec, target: str) -> AppSpec:
    if target == spec_version(spec):
        return spec
    revision = state.find(version=target)
    return spec if revision is None else with_operational_fields(revision.spec, spec)


def _requeue_after(
    state: RolloutState,
    killing: Sequence[Instance],
    backoff_until: datetime | None,
    now: datetime,
    settings: RolloutSettings,
) -> float | None:
    moments = []
    if backoff_until is not None:
        moments.append(backoff_until)
    if state.phase is RolloutPhase.PROGRESSING and state.last_progress_at is not None:
        deadline = timedelta(seconds=settings.progress_deadline_seconds)
        moments.append(state.last_progress_at + deadline + timedelta(microseconds=1))
    retry = timedelta(seconds=settings.kill_retry_seconds)
    for inst in killing:  # one retried now is due again a full period later
        due = (inst.last_update_at or inst.launched_at) + retry
        moments.append(due if due > now else now + retry)
    delays = [(at - now).total_seconds() for at in moments]
    return max(0.0, min(delays)) if delays else None
