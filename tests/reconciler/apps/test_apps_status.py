"""compute_status(): counts, conditions, and transition times that move only on change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crds.app import App, AppStatus
from crds.domain import Quota
from crds.meta import Condition, ConditionStatus
from reconciler.apps.backoff import BackoffState
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.status import QUOTA_EXCEEDED, compute_status
from reconciler.apps.version import RolloutPhase, RolloutState, spec_version

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
S = InstanceState


def make_app(n: int = 3, conditions: list[Condition] | None = None, **status: Any) -> App:
    return App.model_validate(
        {
            "metadata": {"name": "cart", "domain": "shop", "generation": 4},
            "spec": {
                "image": "registry.local/shop/cart:1",
                "instances": n,
                "upgradeStrategy": {"minimumHealthCapacity": 0.5},
            },
            "status": {"conditions": conditions or []} | status,
        }
    )


V = spec_version(make_app().spec)


def inst(name: str, state: InstanceState = S.RUNNING, version: str = V, **fields: Any) -> Instance:
    return Instance(
        instance_id=name,
        domain="shop",
        app="cart",
        version=version,
        state=state,
        launched_at=T0,
        **fields,
    )


def rollout(**fields: Any) -> RolloutState:
    return RolloutState(revision=2, target_version=V, **fields)


def condition(report_conditions: tuple[Condition, ...], kind: str) -> Condition:
    return next(c for c in report_conditions if c.type == kind)


def test_counts() -> None:
    instances = [
        inst("a"),
        inst("b", healthy=False),
        inst("c", S.STAGING),
        inst("d", version="old"),
        inst("e", S.KILLING),
        inst("f", S.FAILED),
        inst("g", S.UNREACHABLE),
    ]
    report = compute_status(make_app(), instances, rollout(), T0)
    assert (report.instances, report.running, report.healthy) == (4, 3, 2)
    assert (report.ready, report.updated, report.version, report.revision) == (1, 3, V, 2)
    assert report.observed_generation == 4


@pytest.mark.parametrize(
    ("healthy", "status", "reason"),
    [
        pytest.param(2, ConditionStatus.TRUE, "MinimumHealthy", id="two-of-three-is-enough"),
        pytest.param(1, ConditionStatus.FALSE, "BelowMinimumHealthy", id="one-is-not"),
    ],
)
def test_available(healthy: int, status: ConditionStatus, reason: str) -> None:
    instances = [inst(f"i{k}") for k in range(healthy)]
    report = compute_status(make_app(), instances, rollout(), T0)
    found = condition(report.conditions, "Available")
    assert (found.status, found.reason) == (status, reason)


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        pytest.param(None, ConditionStatus.UNKNOWN, "NotStarted", id="before-any-plan"),
        pytest.param(rollout(), ConditionStatus.TRUE, "NewVersionRollingOut", id="rolling"),
        pytest.param(
            rollout(phase=RolloutPhase.COMPLETE), ConditionStatus.TRUE, "RolloutComplete", id="done"
        ),
        pytest.param(
            rollout(phase=RolloutPhase.FAILED),
            ConditionStatus.FALSE,
            "ProgressDeadlineExceeded",
            id="deadline",
        ),
        pytest.param(
            rollout(blocked=True), ConditionStatus.FALSE, "CapacityBoundsBlocked", id="blocked"
        ),
        pytest.param(
            rollout(rolled_back_from="bad"), ConditionStatus.TRUE, "RollingBack", id="rolling-back"
        ),
    ],
)
def test_progressing(state: RolloutState | None, status: ConditionStatus, reason: str) -> None:
    found = condition(compute_status(make_app(), [], state, T0).conditions, "Progressing")
    assert (found.status, found.reason) == (status, reason)


def test_rolled_back_says_why_the_version_was_left() -> None:
    state = rollout(rolled_back_from="bad", rollback_reason="image bad:2 not found")
    report = compute_status(make_app(), [], state, T0)
    found = condition(report.conditions, "Degraded")
    assert found.reason == "RolledBack"
    assert "bad failed to roll out (image bad:2 not found)" in found.message
    assert report.last_failure_message == "image bad:2 not found"


@pytest.mark.parametrize(
    ("state", "status", "reason", "says"),
    [
        pytest.param(rollout(), ConditionStatus.FALSE, "AsExpected", "", id="fine"),
        pytest.param(
            rollout(backoff=BackoffState(version=V, failures=3, message="OOM killed")),
            ConditionStatus.TRUE,
            "InstanceFailures",
            "3 consecutive failure(s)",
            id="failing",
        ),
        pytest.param(
            rollout(backoff=BackoffState(version="old", failures=3)),
            ConditionStatus.FALSE,
            "AsExpected",
            "",
            id="failures-of-another-version",
        ),
        pytest.param(
            rollout(rolled_back_from="bad", phase=RolloutPhase.COMPLETE),
            ConditionStatus.TRUE,
            "RolledBack",
            "bad failed to roll out",
            id="rolled-back",
        ),
    ],
)
def test_degraded(state: RolloutState, status: ConditionStatus, reason: str, says: str) -> None:
    found = condition(compute_status(make_app(), [], state, T0).conditions, "Degraded")
    assert (found.status, found.reason) == (status, reason)
    assert says in found.message
    if reason == "InstanceFailures":
        assert "OOM killed" in found.message


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = compute_status(make_app(), [], rollout(), T0).conditions
    # Progressing stays True (reason changes), Available turns True, Degraded stays False.
    app = make_app(conditions=list(first))
    healthy = [inst(f"i{k}") for k in range(3)]
    second = compute_status(app, healthy, rollout(phase=RolloutPhase.COMPLETE), LATER).conditions
    times = {c.type: c.last_transition_time for c in second}
    expected = {"Available": LATER, "Progressing": T0, "Degraded": T0, "QuotaExceeded": T0}
    assert times == expected
    assert condition(second, "Progressing").reason == "RolloutComplete"


def test_to_app_status_fills_what_app_status_has_and_keeps_the_rest() -> None:
    app = make_app(lastPlacement="2 agents filtered: cpus exhausted (2)")
    report = compute_status(app, [inst("a")], rollout(), T0)
    status = report.to_app_status(app.status)
    assert isinstance(status, AppStatus)
    assert (status.instances, status.ready_instances, status.healthy_instances) == (1, 1, 1)
    assert (status.version, status.observed_generation) == (V, 4)
    assert status.last_placement == "2 agents filtered: cpus exhausted (2)"
    assert [c.type for c in status.conditions] == [
        "Available",
        "Progressing",
        "Degraded",
        "QuotaExceeded",
    ]


def test_quota_exceeded_names_the_limit_and_the_waiting_instances() -> None:
    instances = [inst("a", hostname="h1", agent_id="a1")] + [
        inst(f"q{i}", S.PENDING) for i in range(3)
    ]
    summary = "5 agents filtered: quota instances (5)"
    report = compute_status(
        make_app(4), instances, rollout(), LATER, placement=summary, quota=Quota(instances=200)
    )
    quota = condition(report.conditions, QUOTA_EXCEEDED)
    assert quota.status is ConditionStatus.TRUE
    assert quota.reason == "QuotaReached"
    assert quota.message == "quota instances 200 reached in domain shop (3 instances waiting)"


def test_quota_exceeded_counts_missing_instances_when_none_queued() -> None:
    summary = "2 agents filtered: quota mem (1), cpus exhausted (1)"
    report = compute_status(
        make_app(3), [inst("a")], rollout(), LATER, placement=summary, quota=Quota(mem=1024)
    )
    quota = condition(report.conditions, QUOTA_EXCEEDED)
    assert quota.message == "quota mem 1024 reached in domain shop (2 instances waiting)"


@pytest.mark.parametrize("summary", [None, "3 agents filtered: cpus exhausted (3)"])
def test_quota_exceeded_false_when_quota_refused_nothing(summary: str | None) -> None:
    report = compute_status(
        make_app(3), [inst("a")], rollout(), LATER, placement=summary, quota=Quota(instances=1)
    )
    quota = condition(report.conditions, QUOTA_EXCEEDED)
    assert (quota.status, quota.reason) == (ConditionStatus.FALSE, "WithinQuota")
