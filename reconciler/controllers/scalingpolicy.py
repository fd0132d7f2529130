"""The ScalingPolicy controller: sets an App's spec.instances from schedules and load.

A level-based reconcile per ScalingPolicy::

    ScalingPolicy + its Domain + the domain's Apps (informer caches)
      -> baseline: the App's spec.instances the first time, and again whenever
         someone else (dcosctl scale / apply) changed it since our last write
      -> metric rule: utilisation from the MetricSource -> MetricRecommender
         (cooldown, scale-down stabilisation)
      -> desired_at(policy, domain, now, baseline, metric, quota_room)
                                                       reconciler/scaling/decide.py
      -> App spec.instances (compare-and-swap, only when it changes)
      -> status (desiredInstances, reason, next action) and events
         ScaledBySchedule / ScaledByMetric / CappedByQuota
      -> requeue at the next scheduled action (at most RESYNC_SECONDS away)

Time comes from ``wall`` (timezone-aware datetimes, for the schedules) and
``now`` (seconds, for cooldowns); tests inject both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.protocols import ObjectKey, Store
from crds.app import App
from crds.domain import Domain
from crds.errors import NotFound
from crds.events import EventKind
from crds.scalingpolicy import ScalingPolicy
from reconciler.apps.rollout_view import scale_app
from reconciler.runtime import (
    Controller,
    ControllerSettings,
    Informer,
    Manager,
    Recorder,
    Request,
    Result,
    enqueue_all,
    spec_or_metadata_changed,
)
from reconciler.scaling.decide import Decision, MetricRecommender, desired_at, quota_room
from reconciler.scaling.metrics import MetricSource

__all__ = ["ScalingPolicyReconciler", "register"]

RESYNC_SECONDS = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ScalingPolicyReconciler:
    def __init__(
        self,
        *,
        store: Store,
        policies: Informer,
        recorder: Recorder,
        metrics: MetricSource | None = None,
        wall: Callable[[], datetime] = _utcnow,
        now: Callable[[], float] = time.monotonic,
        resync: float = RESYNC_SECONDS,
    ) -> None:
        self._store = store
        self._policies = policies
        self._recorder = recorder
        self._metrics = metrics
        self._wall = wall
        self._now = now
        self._resync = resync
        self._recommenders: dict[tuple[str | None, str], MetricRecommender] = {}

    async def reconcile(self, req: Request) -> Result:
        # Read from the store, not the informer: the baseline rule compares the App
        # with our own last status write, which the cache may not hold yet.
        try:
            obj: object = await self._store.get(req.key)
        except NotFound:
            return Result()
        if not isinstance(obj, ScalingPolicy) or obj.metadata.deletion_timestamp is not None:
            return Result()
        policy = obj
        domain_name = policy.metadata.domain
        if domain_name is None:
            return Result()
        try:
            domain = await self._store.get(ObjectKey("Domain", None, domain_name))
            app = await self._store.get(ObjectKey("App", domain_name, policy.spec.target_ref.name))
        except NotFound:
            return Result(requeue_after=self._resync)
        assert isinstance(domain, Domain) and isinstance(app, App)
        decision = await self.decide(policy, domain, app)
        wall = self._wall()
        status = policy.status
        baseline = self._baseline(policy, app)
        changed = decision.count != app.spec.instances
        if changed:
            await scale_app(self._store, ObjectKey.of(app), decision.count)
            self._events(policy, app.spec.instances, decision)
        nxt = decision.next_action
        update = {
            "observed_generation": policy.metadata.generation,
            "desired_instances": decision.count,
            "baseline_instances": baseline,
            "reason": decision.reason,
            "active_schedule": _schedule_of(decision.reason),
            "last_scale_time": wall if changed else status.last_scale_time,
            "next_action_time": nxt.time if nxt else None,
            "next_action_instances": nxt.count if nxt else None,
            "next_action_schedule": nxt.schedule if nxt else None,
        }
        new_status = status.model_copy(update=update)
        if new_status != status:
            await self._store.update_status(policy.model_copy(update={"status": new_status}))
        after = self._resync
        if nxt is not None:
            after = min(after, max(0.0, (nxt.time - wall).total_seconds()))
        return Result(requeue_after=after)

    def _baseline(self, policy: ScalingPolicy, app: App) -> int:
        status = policy.status
        if status.baseline_instances is None or (
            status.desired_instances is not None and app.spec.instances != status.desired_instances
        ):
            return app.spec.instances
        return status.baseline_instances

    async def decide(self, policy: ScalingPolicy, domain: Domain, app: App) -> Decision:
        """The count for ``app`` now (no writes)."""
        metric: int | None = None
        rule = policy.spec.metric
        if rule is not None and self._metrics is not None:
            value = await self._metrics.utilisation(
                domain.metadata.name, app.metadata.name, rule.metric
            )
            if value is not None:
                key = (policy.metadata.domain, policy.metadata.name)
                rec = self._recommenders.get(key)
                if rec is None or rec.rule != rule:
                    rec = self._recommenders[key] = MetricRecommender(rule)
                metric = rec.observe(self._now(), app.spec.instances, value)
        others = [
            (a.spec.instances, a.spec.cpus, float(a.spec.mem))
            for a in (await self._store.list("App", domain=domain.metadata.name)).items
            if isinstance(a, App) and a.metadata.name != app.metadata.name
        ]
        room = quota_room(
            domain, app_cpus=app.spec.cpus, app_mem=float(app.spec.mem), others=others
        )
        return desired_at(
            policy,
            domain,
            self._wall(),
            baseline=self._baseline(policy, app),
            metric=metric,
            quota_room=room,
        )

    def _events(self, policy: ScalingPolicy, before: int, decision: Decision) -> None:
        emit = self._recorder.emit
        message = f"{before} -> {decision.count} instances ({decision.reason})"
        if "(capped by quota)" in decision.reason:
            emit(policy, EventKind.WARNING, "CappedByQuota", message)
        elif decision.reason.startswith("metric"):
            emit(policy, EventKind.NORMAL, "ScaledByMetric", message)
        else:
            emit(policy, EventKind.NORMAL, "ScaledBySchedule", message)


def _schedule_of(reason: str) -> str | None:
    if not reason.startswith("schedule "):
        return None
    return reason.split()[1]


def register(
    manager: Manager,
    *,
    metrics: MetricSource | None = None,
    store: Store | None = None,
    settings: ControllerSettings | None = None,
    wall: Callable[[], datetime] = _utcnow,
    now: Callable[[], float] = time.monotonic,
    resync: float = RESYNC_SECONDS,
) -> Controller:
    """The ScalingPolicy controller on ``manager``; it needs only the store
    (and ``metrics`` for policies with a metric rule)."""
    store = store or manager.store
    policies = manager.informer("ScalingPolicy")
    reconciler = ScalingPolicyReconciler(
        store=store,
        policies=policies,
        recorder=Recorder(store, "scalingpolicy-controller"),
        metrics=metrics,
        wall=wall,
        now=now,
        resync=resync,
    )
    return (
        manager.controller("scalingpolicy")
        .for_kind("ScalingPolicy", updates=spec_or_metadata_changed)
        .watches(
            "App",
            lambda enqueue: enqueue_all(enqueue, policies, updates=spec_or_metadata_changed),
        )
        .watches(
            "Domain",
            lambda enqueue: enqueue_all(enqueue, policies, updates=spec_or_metadata_changed),
        )
        .with_settings(settings or ControllerSettings(workers=1))
        .complete(reconciler)
    )
