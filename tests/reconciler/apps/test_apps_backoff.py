"""Launch backoff: growth, cap, what counts as a failure, and when the count resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crds.app import Backoff
from reconciler.apps.backoff import BackoffState, launch_not_before, observe_failures
from reconciler.apps.instances import Instance, InstanceState

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
S = InstanceState
V = "aaaaaaaaaaaaaaaa"


def inst(
    name: str,
    state: InstanceState,
    *,
    at: float = 0.0,
    version: str = V,
    started: float | None = None,
) -> Instance:
    """An instance whose last update was ``at`` seconds after T0."""
    return Instance(
        instance_id=name,
        domain="shop",
        app="cart",
        version=version,
        state=state,
        launched_at=T0 - timedelta(minutes=5),
        started_at=None if started is None else T0 + timedelta(seconds=started),
        last_update_at=T0 + timedelta(seconds=at),
        message=f"{name} exited",
    )


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        pytest.param(0, None, id="no-failure-no-wait"),
        pytest.param(1, 10.0, id="first"),
        pytest.param(2, 20.0, id="doubled"),
        pytest.param(4, 80.0, id="fourth"),
        pytest.param(5, 100.0, id="capped"),
        pytest.param(60, 100.0, id="stays-capped"),
    ],
)
def test_delay_grows_by_the_factor_up_to_the_cap(failures: int, delay: float | None) -> None:
    backoff = Backoff(backoff_seconds=10, backoff_factor=2, max_launch_delay_seconds=100)
    state = BackoffState(version=V, failures=failures, last_failure_at=T0)
    expected = None if delay is None else T0 + timedelta(seconds=delay)
    assert launch_not_before(state, backoff) == expected


@pytest.mark.parametrize(
    ("instances", "failures"),
    [
        pytest.param([inst("a", S.FAILED), inst("b", S.ERROR)], 2, id="failed-and-error"),
        pytest.param([inst("a", S.FINISHED)], 1, id="a-service-that-finishes-failed"),
        pytest.param(
            [inst("a", S.KILLED), inst("b", S.LOST), inst("c", S.GONE), inst("d", S.DROPPED)],
            0,
            id="kills-and-infrastructure-do-not-count",
        ),
        pytest.param([inst("a", S.FAILED, version="old")], 0, id="old-versions-do-not-count"),
        pytest.param([inst("a", S.RUNNING, started=-60)], 0, id="running-is-no-failure"),
    ],
)
def test_what_counts_as_a_failure(instances: list[Instance], failures: int) -> None:
    state = observe_failures(BackoffState(), version=V, instances=instances, now=T0)
    assert state.failures == failures


def test_each_record_counts_once_and_the_count_keeps_only_stored_ids() -> None:
    first = observe_failures(BackoffState(), version=V, instances=[inst("a", S.FAILED)], now=T0)
    again = observe_failures(first, version=V, instances=[inst("a", S.FAILED)], now=T0)
    later = observe_failures(again, version=V, instances=[inst("b", S.FAILED, at=5)], now=T0)
    assert (first.failures, again.failures, later.failures) == (1, 1, 2)
    assert later.counted == ("b",)
    assert later.last_failure_at == T0 + timedelta(seconds=5)
    assert later.message == "b exited"


def test_a_new_version_starts_from_zero() -> None:
    state = BackoffState(version="old", failures=7, last_failure_at=T0)
    assert observe_failures(state, version=V, instances=[], now=T0).failures == 0


@pytest.mark.parametrize(
    ("started", "now", "reset"),
    [
        pytest.param(10.0, 70.0, True, id="fresh-instance-healthy-a-minute"),
        pytest.param(10.0, 69.0, False, id="fresh-instance-not-yet-a-minute"),
        pytest.param(-600.0, 3600.0, False, id="old-survivor-does-not-reset"),
    ],
)
def test_reset_after_a_fresh_instance_stayed_healthy(
    started: float, now: float, reset: bool
) -> None:
    state = BackoffState(version=V, failures=4, last_failure_at=T0)
    survivor = inst("s", S.RUNNING, started=started)
    after = observe_failures(
        state, version=V, instances=[survivor], now=T0 + timedelta(seconds=now)
    )
    assert (after.failures == 0) is reset
