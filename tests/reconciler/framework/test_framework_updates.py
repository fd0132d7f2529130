"""apply_update: the framework's policy for status updates, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.protocols import TaskUpdate
from reconciler.apps import Instance, InstanceState
from reconciler.framework import apply_update

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def record(
    state: InstanceState, *, at: datetime | None = T0, healthy: bool | None = None
) -> Instance:
    return Instance(
        instance_id="shop.web.0123abcd.00000001",
        domain="shop",
        app="web",
        version="0123abcd0123abcd",
        state=state,
        agent_id="a1",
        healthy=healthy,
        launched_at=T0 - timedelta(seconds=10),
        last_update_at=at,
    )


def update(state: str, *, at: datetime | None = None, healthy: bool | None = None) -> TaskUpdate:
    stamp = (at or T0 + timedelta(seconds=1)).timestamp()
    return TaskUpdate(
        task_id="shop.web.0123abcd.00000001", state=state, timestamp=stamp, healthy=healthy
    )


R = InstanceState


@pytest.mark.parametrize(
    ("current", "mesos", "state", "kill"),
    [
        pytest.param(record(R.PENDING), update("TASK_STAGING"), R.STAGING, False, id="progress"),
        pytest.param(record(R.STARTING), update("TASK_RUNNING"), R.RUNNING, False, id="running"),
        pytest.param(record(R.RUNNING), update("TASK_FAILED"), R.FAILED, False, id="failed"),
        pytest.param(
            record(R.RUNNING), update("TASK_UNKNOWN"), R.LOST, False, id="unknown-is-lost"
        ),
        pytest.param(
            record(R.RUNNING, at=T0 + timedelta(seconds=5)),
            update("TASK_STARTING"),
            None,
            False,
            id="stale-live-update-ignored",
        ),
        pytest.param(
            record(R.KILLING, at=T0 + timedelta(seconds=5)),
            update("TASK_KILLED"),
            R.KILLED,
            False,
            id="terminal-never-stale",
        ),
        pytest.param(record(R.KILLING), update("TASK_RUNNING"), None, False, id="killing-stays"),
        pytest.param(record(R.RUNNING), update("TASK_RUNNING"), None, False, id="duplicate"),
        pytest.param(record(R.KILLED), update("TASK_RUNNING"), None, True, id="ended-but-alive"),
        pytest.param(record(R.KILLED), update("TASK_KILLED"), None, False, id="ended-duplicate"),
        pytest.param(None, update("TASK_RUNNING"), None, True, id="no-record-alive"),
        pytest.param(None, update("TASK_KILLING"), None, False, id="no-record-dying"),
        pytest.param(None, update("TASK_FINISHED"), None, False, id="no-record-ended"),
        pytest.param(record(R.RUNNING), update("TASK_BOGUS"), None, False, id="unknown-state"),
    ],
)
def test_apply_update(
    current: Instance | None, mesos: TaskUpdate, state: InstanceState | None, kill: bool
) -> None:
    outcome = apply_update(current, mesos, now=T0 + timedelta(seconds=2))
    assert outcome.kill is kill
    assert (outcome.record.state if outcome.record else None) == state


def test_health_changes_are_written_and_kept_across_plain_updates() -> None:
    running = record(R.RUNNING)
    healthy = apply_update(running, update("TASK_RUNNING", healthy=True), now=T0).record
    assert healthy is not None and healthy.healthy is True and healthy.is_healthy
    again = apply_update(healthy, update("TASK_RUNNING", at=T0 + timedelta(seconds=3)), now=T0)
    assert again.record is None  # no health in the update: unchanged, nothing to write
