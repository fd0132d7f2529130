"""plan(): scale, kill selection, replacement, backoff, progress deadline and rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crds.app import App
from reconciler.apps.backoff import BackoffState
from reconciler.apps.instances import Instance, InstanceState, kill_order
from reconciler.apps.plan import (
    KillReason,
    LaunchReason,
    Plan,
    RolloutSettings,
    WaitReason,
    plan,
)
from reconciler.apps.status import compute_status
from reconciler.apps.version import RevisionOutcome, RolloutPhase, RolloutState, spec_version

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
S = InstanceState


def make_app(n: int = 3, image: str = "cart:1", **spec: Any) -> App:
    body = {"image": f"registry.local/shop/{image}", "instances": n} | spec
    return App.model_validate({"metadata": {"name": "cart", "domain": "shop"}, "spec": body})


V1 = spec_version(make_app().spec)
V2 = spec_version(make_app(image="cart:2").spec)


def inst(
    name: str,
    state: InstanceState = S.RUNNING,
    *,
    version: str = V1,
    healthy: bool | None = None,
    age: float = 600.0,
    host: str = "h1",
    updated: float | None = None,
    message: str = "",
) -> Instance:
    launched = T0 - timedelta(seconds=age)
    return Instance(
        instance_id=name,
        domain="shop",
        app="cart",
        version=version,
        state=state,
        hostname=host,
        healthy=healthy,
        launched_at=launched,
        started_at=launched if state is S.RUNNING else None,
        last_update_at=T0 - timedelta(seconds=updated) if updated is not None else launched,
        message=message,
    )


def settled(app: App, instances: list[Instance], at: datetime = T0) -> RolloutState:
    state = plan(app=app, instances=instances, now=at, history=None).rollout
    assert state.phase is RolloutPhase.COMPLETE
    return state


def launched(result: Plan) -> int:
    return sum(launch.count for launch in result.launch)


def running(n: int, version: str = V1, **fields: Any) -> list[Instance]:
    return [inst(f"i{k}", version=version, **fields) for k in range(n)]


@pytest.mark.parametrize(
    ("n", "instances", "launch", "kills"),
    [
        pytest.param(3, [], 3, 0, id="first-deploy"),
        pytest.param(5, running(3), 2, 0, id="scale-up"),
        pytest.param(1, running(3), 0, 2, id="scale-down"),
        pytest.param(0, running(3), 0, 3, id="scale-to-zero"),
        pytest.param(3, running(3), 0, 0, id="steady"),
        pytest.param(3, [*running(2), inst("x", S.FAILED)], 1, 0, id="ended-replaced"),
        pytest.param(3, [*running(2), inst("x", S.UNREACHABLE)], 1, 0, id="unreachable-replaced"),
        pytest.param(3, [*running(3), inst("x", S.UNREACHABLE)], 0, 0, id="unreachable-ignored"),
        pytest.param(3, [*running(2), inst("x", S.KILLING, updated=1)], 1, 0, id="killing-counts"),
    ],
)
def test_scale(n: int, instances: list[Instance], launch: int, kills: int) -> None:
    result = plan(app=make_app(n), instances=instances, now=T0, history=None)
    assert launched(result) == launch
    assert [k.reason for k in result.kill] == [KillReason.SCALE_DOWN] * kills
    assert all(intent.reason is LaunchReason.SCALE for intent in result.launch)


def test_a_scale_is_not_a_rollout() -> None:
    state = settled(make_app(3), running(3))
    result = plan(app=make_app(5), instances=running(3), now=T0, history=state)
    assert (result.rollout.revision, len(result.rollout.history)) == (1, 1)
    assert result.rollout.phase is RolloutPhase.COMPLETE
    assert [(i.reason, i.count) for i in result.launch] == [(LaunchReason.SCALE, 2)]


def test_launches_wait_for_kills_when_there_is_no_over_capacity() -> None:
    app = make_app(3, upgradeStrategy={"maximumOverCapacity": 0})
    instances = [*running(2), inst("k", S.KILLING, updated=1)]
    result = plan(app=app, instances=instances, now=T0, history=None)
    assert launched(result) == 0
    assert result.wait is not None and result.wait.reason is WaitReason.KILLS


def test_ended_records_are_expunged_and_the_rest_unchanged() -> None:
    instances = [*running(2), inst("f", S.FAILED), inst("u", S.UNREACHABLE)]
    result = plan(app=make_app(2), instances=instances, now=T0, history=None)
    assert result.expunge == ("f",)
    assert result.unchanged == ("i0", "i1", "u")


@pytest.mark.parametrize(
    ("instances", "first"),
    [
        pytest.param(
            [inst("run", healthy=True), inst("stage", S.STAGING)], "stage", id="not-running-first"
        ),
        pytest.param([inst("ok"), inst("sick", healthy=False)], "sick", id="then-unhealthy"),
        pytest.param(
            [inst("new", version=V2), inst("old", version=V1)], "old", id="then-old-version"
        ),
        pytest.param([inst("older", age=900), inst("newer", age=60)], "newer", id="then-newest"),
        pytest.param(
            [inst("alone", host="h2"), inst("crowd1", host="h1"), inst("crowd2", host="h1")],
            "crowd1",
            id="then-busiest-host",
        ),
    ],
)
def test_kill_order(instances: list[Instance], first: str) -> None:
    assert kill_order(instances, V2)[0].instance_id == first


def test_scale_down_kills_in_kill_order() -> None:
    instances = [inst("a", age=900), inst("b", S.STARTING), inst("c", healthy=False), inst("d")]
    result = plan(app=make_app(1), instances=instances, now=T0, history=None)
    assert [k.instance_id for k in result.kill] == ["b", "c", "d"]


def test_rollout_kills_unhealthy_old_instances_first_and_at_no_cost() -> None:
    app = make_app(3)
    old = [inst("ok1"), inst("ok2"), inst("sick", healthy=False)]
    state = settled(app, [*old[:2], inst("ok3")])
    strict = make_app(3, image="cart:2", upgradeStrategy={"maximumOverCapacity": 0})
    result = plan(app=strict, instances=old, now=T0, history=state)
    assert [(k.instance_id, k.reason) for k in result.kill] == [("sick", KillReason.UNHEALTHY)]
    assert launched(result) == 0  # the kill frees room only once it ended


def test_orphaned_versions_are_killed_as_such() -> None:
    app = make_app(2)
    instances = [*running(2), inst("stray", version="ffffffffffffffff")]
    result = plan(app=app, instances=instances, now=T0, history=settled(app, running(2)))
    assert [(k.instance_id, k.reason) for k in result.kill] == [
        ("stray", KillReason.ORPHANED_VERSION)
    ]


def test_deleting_kills_everything_regardless_of_health() -> None:
    app = make_app(3).model_copy(
        update={"metadata": make_app().metadata.model_copy(update={"deletion_timestamp": T0})}
    )
    result = plan(app=app, instances=running(3), now=T0, history=None)
    assert [k.reason for k in result.kill] == [KillReason.DELETED] * 3
    assert launched(result) == 0


def test_stale_kills_are_retried() -> None:
    instances = [inst("fresh", S.KILLING, updated=5), inst("stale", S.KILLING, updated=45)]
    result = plan(app=make_app(0), instances=instances, now=T0, history=None)
    assert [(k.instance_id, k.reason) for k in result.kill] == [("stale", KillReason.KILL_RETRY)]
    assert result.requeue_after == pytest.approx(25.0)  # when "fresh" is due
    alone = plan(app=make_app(0), instances=instances[1:], now=T0, history=None)
    assert alone.requeue_after == pytest.approx(30.0)  # "stale" again, a period later


def _failed(n: int, *, last: float) -> list[Instance]:
    return [
        inst(f"f{k}", S.FAILED, updated=last + (n - 1 - k), message=f"exit {k}") for k in range(n)
    ]


@pytest.mark.parametrize(
    ("failures", "since", "waits"),
    [
        pytest.param(1, 0.5, True, id="first-failure-waits-1s"),
        pytest.param(1, 1.0, False, id="first-failure-after-1s"),
        pytest.param(3, 1.2, True, id="third-failure-waits-1.3225s"),
        pytest.param(3, 1.4, False, id="third-failure-after-1.4s"),
    ],
)
def test_launch_backoff_holds_replacements(failures: int, since: float, waits: bool) -> None:
    app = make_app(2)
    result = plan(app=app, instances=_failed(failures, last=since), now=T0, history=None)
    assert (launched(result) == 0) is waits
    if waits:
        assert result.wait is not None and result.wait.reason is WaitReason.BACKOFF
        assert result.requeue_after is not None and 0 < result.requeue_after < 1.4
    assert result.rollout.backoff.failures == failures
    assert result.rollout.backoff.message == f"exit {failures - 1}"


def test_failures_are_counted_once_across_plans() -> None:
    app = make_app(1)
    first = plan(app=app, instances=_failed(2, last=0), now=T0, history=None)
    again = plan(app=app, instances=_failed(2, last=0), now=T0, history=first.rollout)
    assert again.rollout.backoff.failures == 2
    gone = plan(app=app, instances=[], now=T0, history=again.rollout)
    assert (gone.rollout.backoff.failures, gone.rollout.backoff.counted) == (2, ())


def _stuck_rollout(settings: RolloutSettings) -> tuple[App, list[Instance], Plan]:
    """v1 ran fine; v2 never becomes healthy."""
    v1 = make_app(2, healthChecks=[{"protocol": "TCP"}], ports=[{"containerPort": 80}])
    old = [inst(f"o{k}", version=spec_version(v1.spec), healthy=True) for k in (1, 2)]
    old = [i.model_copy(update={"health_checked": True}) for i in old]
    state = settled(v1, old, at=T0 - timedelta(hours=1))
    v2 = v1.model_copy(update={"spec": v1.spec.model_copy(update={"image": "registry.local/x:2"})})
    sick = [
        inst(f"n{k}", version=spec_version(v2.spec)).model_copy(update={"health_checked": True})
        for k in range(2)
    ]
    start = plan(app=v2, instances=old, now=T0, history=state, settings=settings)
    return v2, old + sick, start


def test_progress_deadline_fails_the_rollout_and_it_keeps_trying() -> None:
    settings = RolloutSettings(progress_deadline_seconds=600)
    app, instances, start = _stuck_rollout(settings)
    assert start.rollout.phase is RolloutPhase.PROGRESSING
    assert start.requeue_after == pytest.approx(600, abs=0.01)
    at_deadline = plan(
        app=app, instances=instances, now=T0 + timedelta(seconds=600), history=start.rollout
    )
    assert at_deadline.rollout.phase is RolloutPhase.PROGRESSING
    late = T0 + timedelta(seconds=601)
    failed = plan(app=app, instances=instances, now=late, history=start.rollout, settings=settings)
    assert failed.rollout.phase is RolloutPhase.FAILED
    assert failed.rollout.target_version == spec_version(app.spec)
    assert failed.rollout.history[-1].outcome is RevisionOutcome.FAILED


def test_a_rollback_keeps_the_last_failure_of_the_version_it_left() -> None:
    settings = RolloutSettings(progress_deadline_seconds=600, auto_rollback=True)
    app, instances, start = _stuck_rollout(settings)
    failing = BackoffState(version=spec_version(app.spec), failures=2, message="image missing")
    history = start.rollout.model_copy(update={"backoff": failing})
    late = T0 + timedelta(seconds=601)
    back = plan(app=app, instances=instances, now=late, history=history, settings=settings)
    assert back.rollout.rolled_back_from == spec_version(app.spec)
    assert back.rollout.rollback_reason == "image missing"
    status = compute_status(app, instances, back.rollout, late)
    assert status.last_failure_message == "image missing"


def test_progress_deadline_with_auto_rollback_returns_to_the_previous_version() -> None:
    settings = RolloutSettings(progress_deadline_seconds=600, auto_rollback=True)
    app, instances, start = _stuck_rollout(settings)
    late = T0 + timedelta(seconds=601)
    back = plan(app=app, instances=instances, now=late, history=start.rollout, settings=settings)
    state = back.rollout
    assert (state.target_version, state.rolled_back_from) == (V1_CHECKED, spec_version(app.spec))
    assert state.revision == 1 and state.phase is RolloutPhase.PROGRESSING
    assert [rev.outcome for rev in state.history] == [
        RevisionOutcome.COMPLETE,
        RevisionOutcome.ROLLED_BACK,
    ]
    assert {(k.instance_id, k.reason) for k in back.kill} == {
        ("n0", KillReason.ROLLBACK),
        ("n1", KillReason.ROLLBACK),
    }
    # Once the new instances are gone the rollback is complete, and stays so.
    old = instances[:2]
    done = plan(app=app, instances=old, now=late, history=state, settings=settings)
    assert done.rollout.phase is RolloutPhase.COMPLETE and done.rollout.target_version == V1_CHECKED
    assert (done.launch, done.kill) == ((), ())


def test_a_rollback_launches_the_old_spec_at_the_current_scale() -> None:
    settings = RolloutSettings(progress_deadline_seconds=600, auto_rollback=True)
    app, instances, start = _stuck_rollout(settings)
    late = T0 + timedelta(seconds=601)
    back = plan(app=app, instances=instances, now=late, history=start.rollout, settings=settings)
    bigger = app.model_copy(update={"spec": app.spec.model_copy(update={"instances": 3})})
    grown = plan(app=bigger, instances=instances[:2], now=late, history=back.rollout)
    (launch,) = grown.launch
    assert (launch.version, launch.count, launch.reason) == (V1_CHECKED, 1, LaunchReason.ROLLBACK)
    assert (launch.spec.image, launch.spec.instances) == ("registry.local/shop/cart:1", 3)


def test_a_new_spec_during_a_rollout_supersedes_it() -> None:
    app, instances, start = _stuck_rollout(RolloutSettings())
    v3 = app.model_copy(
        update={"spec": app.spec.model_copy(update={"image": "registry.local/x:3"})}
    )
    result = plan(app=v3, instances=instances, now=T0, history=start.rollout)
    assert [rev.outcome for rev in result.rollout.history] == [
        RevisionOutcome.COMPLETE,
        RevisionOutcome.SUPERSEDED,
        RevisionOutcome.PROGRESSING,
    ]
    assert result.rollout.previous_version == V1_CHECKED
    assert {k.reason for k in result.kill} <= {KillReason.REPLACED, KillReason.UNHEALTHY}


V1_CHECKED = spec_version(
    make_app(2, healthChecks=[{"protocol": "TCP"}], ports=[{"containerPort": 80}]).spec
)
