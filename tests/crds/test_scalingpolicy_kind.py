"""ScalingPolicy: schedules (cron, timezone, prewarm, until), the metric rule, windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from crds.scalingpolicy import ScalingPolicySpec, Schedule, schedule_window

SHANGHAI = ZoneInfo("Asia/Shanghai")
SALE: dict[str, Any] = {
    "name": "sale-10am",
    "cron": "0 10 * * *",
    "timezone": "Asia/Shanghai",
    "instances": 40,
    "prewarm": "30m",
    "until": "2h",
}
METRIC: dict[str, Any] = {
    "metric": "cpu",
    "targetUtilization": 0.6,
    "minInstances": 2,
    "maxInstances": 10,
}


def _spec(**change: Any) -> dict[str, Any]:
    return {"targetRef": {"name": "cart"}, **change}


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(_spec(schedules=[SALE]), id="schedule-only"),
        pytest.param(_spec(metric=METRIC), id="metric-only"),
        pytest.param(_spec(schedules=[SALE], metric=METRIC), id="both"),
        pytest.param(
            _spec(schedules=[{k: v for k, v in SALE.items() if k not in ("timezone", "prewarm")}]),
            id="timezone-and-prewarm-optional",
        ),
        pytest.param(_spec(metric={**METRIC, "targetUtilization": 1}), id="target-1"),
        pytest.param(_spec(metric={**METRIC, "minInstances": 10}), id="min-equals-max"),
    ],
)
def test_scaling_policy_spec_accepts(spec: dict[str, Any]) -> None:
    parsed = ScalingPolicySpec.model_validate(spec)
    assert parsed.target_ref.kind == "App"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(_spec(), "needs schedules, a metric rule, or both", id="no-rule"),
        pytest.param(_spec(schedules=[]), "needs schedules, a metric rule", id="empty-schedules"),
        pytest.param(
            {"targetRef": {"kind": "AgentSet", "name": "x"}, "metric": METRIC}, "'App'", id="kind"
        ),
        pytest.param(
            _spec(schedules=[{**SALE, "cron": "0 25 * * *"}]),
            "is not a five-field cron expression",
            id="cron-hour-25",
        ),
        pytest.param(
            _spec(schedules=[{**SALE, "cron": "0 10 * * * *"}]),
            "is not a five-field cron expression",
            id="cron-six-fields",
        ),
        pytest.param(
            _spec(schedules=[{**SALE, "cron": "daily"}]), "five-field cron", id="cron-word"
        ),
        pytest.param(
            _spec(schedules=[{**SALE, "timezone": "Beijing"}]), "not an IANA", id="timezone"
        ),
        pytest.param(_spec(schedules=[{**SALE, "prewarm": "30"}]), "1h30m", id="prewarm-unit"),
        pytest.param(_spec(schedules=[{**SALE, "until": "0s"}]), "longer than 0s", id="until-0"),
        pytest.param(
            _spec(schedules=[{k: v for k, v in SALE.items() if k != "until"}]),
            "until",
            id="until-missing",
        ),
        pytest.param(
            _spec(schedules=[{**SALE, "instances": -1}]), "greater than or equal to 0", id="inst"
        ),
        pytest.param(_spec(schedules=[SALE, SALE]), "name appears twice", id="duplicate-names"),
        pytest.param(
            _spec(metric={**METRIC, "metric": "qps"}), "'cpu' or 'memory'", id="metric-kind"
        ),
        pytest.param(
            _spec(metric={**METRIC, "targetUtilization": 0}), "greater than 0", id="target-0"
        ),
        pytest.param(
            _spec(metric={**METRIC, "targetUtilization": 1.2}),
            "less than or equal to 1",
            id="target-above-1",
        ),
        pytest.param(
            _spec(metric={**METRIC, "minInstances": 11}),
            r"minInstances \(11\) is above maxInstances \(10\)",
            id="min-above-max",
        ),
        pytest.param(
            _spec(metric={**METRIC, "cooldownSeconds": -1}), "greater than or equal", id="cooldown"
        ),
    ],
)
def test_scaling_policy_spec_refuses(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScalingPolicySpec.model_validate(spec)


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        pytest.param(
            datetime(2026, 11, 11, 9, 0, tzinfo=SHANGHAI),
            datetime(2026, 11, 11, 9, 30, tzinfo=SHANGHAI),
            datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI),
            id="before-prewarm-gives-next",
        ),
        pytest.param(
            datetime(2026, 11, 11, 9, 45, tzinfo=SHANGHAI),
            datetime(2026, 11, 11, 9, 30, tzinfo=SHANGHAI),
            datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI),
            id="during-prewarm",
        ),
        pytest.param(
            datetime(2026, 11, 11, 3, 59, tzinfo=UTC),
            datetime(2026, 11, 11, 9, 30, tzinfo=SHANGHAI),
            datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI),
            id="held-after-launch-utc-input",
        ),
        pytest.param(
            datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI),
            datetime(2026, 11, 12, 9, 30, tzinfo=SHANGHAI),
            datetime(2026, 11, 12, 12, 0, tzinfo=SHANGHAI),
            id="closed-at-end-gives-tomorrow",
        ),
    ],
)
def test_schedule_window_opens_prewarm_before_cron(
    at: datetime, start: datetime, end: datetime
) -> None:
    window = schedule_window(Schedule.model_validate(SALE), at=at, default_timezone="UTC")
    assert (window.start, window.end) == (start, end)
    assert window.fire == datetime(start.year, start.month, start.day, 10, 0, tzinfo=SHANGHAI)


def test_schedule_window_uses_the_domain_timezone_when_unset() -> None:
    schedule = Schedule.model_validate({**SALE, "timezone": None})
    at = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
    window = schedule_window(schedule, at=at, default_timezone="Asia/Shanghai")
    assert window.fire == datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def test_schedule_window_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule_window(
            Schedule.model_validate(SALE), at=datetime(2026, 1, 1), default_timezone="UTC"
        )
