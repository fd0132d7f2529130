"""The instance record: Mesos task states, ids, health and the JSON stored in etcd."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.apps.instances import (
    Instance,
    InstanceState,
    from_task_state,
    new_instance_id,
    parse_instance_id,
)

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
S = InstanceState


def make(state: InstanceState = S.RUNNING, **fields: object) -> Instance:
    base: dict[str, object] = {
        "instance_id": "shop.cart.0123abcd.00000001",
        "domain": "shop",
        "app": "cart",
        "version": "0123abcd01234567",
        "state": state,
        "launched_at": T0,
    }
    return Instance.model_validate(base | fields)


@pytest.mark.parametrize(
    ("task_state", "expected"),
    [
        pytest.param("TASK_STAGING", S.STAGING, id="staging"),
        pytest.param("TASK_STARTING", S.STARTING, id="starting"),
        pytest.param("TASK_RUNNING", S.RUNNING, id="running"),
        pytest.param("TASK_KILLING", S.KILLING, id="killing"),
        pytest.param("TASK_FINISHED", S.FINISHED, id="finished"),
        pytest.param("TASK_FAILED", S.FAILED, id="failed"),
        pytest.param("TASK_KILLED", S.KILLED, id="killed"),
        pytest.param("TASK_ERROR", S.ERROR, id="error"),
        pytest.param("TASK_LOST", S.LOST, id="lost"),
        pytest.param("TASK_DROPPED", S.DROPPED, id="dropped"),
        pytest.param("TASK_UNREACHABLE", S.UNREACHABLE, id="unreachable"),
        pytest.param("TASK_GONE", S.GONE, id="gone"),
        pytest.param("TASK_GONE_BY_OPERATOR", S.GONE, id="gone-by-operator"),
        pytest.param("TASK_UNKNOWN", S.LOST, id="unknown-to-master"),
    ],
)
def test_from_task_state_maps_every_mesos_state(task_state: str, expected: InstanceState) -> None:
    assert from_task_state(task_state) is expected


def test_from_task_state_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="TASK_SLEEPING"):
        from_task_state("TASK_SLEEPING")


@pytest.mark.parametrize(
    ("state", "terminal", "active"),
    [
        pytest.param(S.PENDING, False, True, id="pending"),
        pytest.param(S.RUNNING, False, True, id="running"),
        pytest.param(S.KILLING, False, True, id="killing"),
        pytest.param(S.UNREACHABLE, False, False, id="unreachable-kept-not-active"),
        pytest.param(S.FAILED, True, False, id="failed"),
        pytest.param(S.GONE, True, False, id="gone"),
    ],
)
def test_terminal_and_active(state: InstanceState, terminal: bool, active: bool) -> None:
    assert (state.is_terminal, state.is_active) == (terminal, active)


@pytest.mark.parametrize(
    ("state", "checked", "healthy", "expected"),
    [
        pytest.param(S.RUNNING, False, None, True, id="running-without-checks"),
        pytest.param(S.RUNNING, True, None, False, id="checked-but-no-result-yet"),
        pytest.param(S.RUNNING, True, True, True, id="checked-and-passing"),
        pytest.param(S.RUNNING, True, False, False, id="checked-and-failing"),
        pytest.param(S.RUNNING, False, False, False, id="failed-check-always-counts"),
        pytest.param(S.STARTING, False, None, False, id="not-running-yet"),
        pytest.param(S.KILLING, True, True, False, id="being-killed"),
    ],
)
def test_is_healthy(
    state: InstanceState, checked: bool, healthy: bool | None, expected: bool
) -> None:
    assert make(state, health_checked=checked, healthy=healthy).is_healthy is expected


def test_instance_ids_are_distinct_and_parse_back() -> None:
    rng = random.Random(7)
    ids = {
        new_instance_id(domain="shop", app="cart", version="0123abcd99", rng=rng)
        for _ in range(500)
    }
    assert len(ids) == 500
    assert all(parse_instance_id(i) == ("shop", "cart", "0123abcd") for i in ids)


@pytest.mark.parametrize(
    "bad", [pytest.param("cart.1234", id="short"), pytest.param("a..b.c", id="empty-part")]
)
def test_parse_instance_id_refuses_foreign_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        parse_instance_id(bad)


def test_json_round_trip_is_camel_case() -> None:
    inst = make(agent_id="a1", hostname="h1", ip="10.0.0.5", started_at=T0, healthy=True)
    text = inst.to_json()
    assert '"instanceId"' in text and '"launchedAt"' in text
    assert Instance.from_json(text) == inst


def test_observe_sets_started_at_once_and_keeps_the_message() -> None:
    inst = make(S.STAGING, message="")
    running = inst.observe(S.RUNNING, now=T0 + timedelta(seconds=5), healthy=True)
    later = running.observe(S.RUNNING, now=T0 + timedelta(seconds=9), healthy=False)
    failed = later.observe(S.FAILED, now=T0 + timedelta(seconds=12), message="exit 1")
    assert running.started_at == later.started_at == T0 + timedelta(seconds=5)
    assert later.last_update_at == T0 + timedelta(seconds=9)
    assert (failed.message, failed.is_failure, failed.is_terminal) == ("exit 1", True, True)
