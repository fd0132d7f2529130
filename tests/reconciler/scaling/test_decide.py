"""desired_at over a whole sale day, ramp-down, quota cap, and the metric recommender."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crds.domain import Domain
from crds.scalingpolicy import MetricRule, ScalingPolicy
from reconciler.scaling.decide import MetricRecommender, desired_at, quota_room

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def _domain(timezone: str, **quota: Any) -> Domain:
    return Domain.model_validate(
        {
            "apiVersion": "dcos/v1",
            "kind": "Domain",
            "metadata": {"name": "checkout"},
            "spec": {"timezone": timezone, "quota": quota},
        }
    )


def _policy(*schedules: dict[str, Any], metric: dict[str, Any] | None = None) -> ScalingPolicy:
    spec: dict[str, Any] = {"targetRef": {"name": "cart"}, "schedules": list(schedules)}
    if metric is not None:
        spec["metric"] = metric
    return ScalingPolicy.model_validate(
        {
            "apiVersion": "dcos/v1",
            "kind": "ScalingPolicy",
            "metadata": {"name": "cart", "domain": "checkout"},
            "spec": spec,
        }
    )


SALE = {
    "name": "sale-10am",
    "cron": "0 10 * * *",
    "instances": 20,
    "prewarm": "10m",
    "until": "2h",
    "rampDown": {"steps": 4, "interval": "15m"},
}
EVENING = {"name": "sale-8pm", "cron": "0 20 * * *", "instances": 12, "until": "1h"}


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_a_whole_sale_day(zone: str) -> None:
    tz = ZoneInfo(zone)
    policy, domain = _policy(SALE, EVENING), _domain(zone)
    day = datetime(2026, 11, 11, tzinfo=tz)

    def at(hh: int, mm: int) -> tuple[int, str]:
        got = desired_at(policy, domain, day.replace(hour=hh, minute=mm), baseline=4)
        return got.count, got.reason

    assert at(9, 49) == (4, "baseline")
    assert at(9, 50) == (20, "schedule sale-10am")
    assert at(10, 0) == (20, "schedule sale-10am")
    assert at(11, 59) == (20, "schedule sale-10am")
    assert at(12, 0) == (15, "schedule sale-10am ramp-down 1/4")
    assert at(12, 15) == (10, "schedule sale-10am ramp-down 2/4")
    assert at(12, 30) == (5, "schedule sale-10am ramp-down 3/4")
    assert at(12, 45) == (4, "baseline")
    assert at(20, 0) == (12, "schedule sale-8pm")
    assert at(21, 0) == (4, "baseline")


def test_next_action_names_the_prewarm_and_the_ramp() -> None:
    policy, domain = _policy(SALE), _domain("Asia/Shanghai")
    got = desired_at(policy, domain, datetime(2026, 11, 11, 8, 0, tzinfo=SHANGHAI), baseline=4)
    assert got.next_action is not None
    assert got.next_action.time == datetime(2026, 11, 11, 9, 50, tzinfo=SHANGHAI)
    assert (got.next_action.count, got.next_action.schedule) == (20, "sale-10am")
    got = desired_at(policy, domain, datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI), baseline=4)
    assert got.next_action is not None
    assert got.next_action.time == datetime(2026, 11, 11, 12, 15, tzinfo=SHANGHAI)
    assert got.next_action.count == 10


def test_dst_day_in_berlin_keeps_local_wall_time() -> None:
    # 2026-03-29: clocks go 02:00 -> 03:00 in Berlin; the 10:00 sale is at 10:00 local.
    policy, domain = _policy(SALE), _domain("Europe/Berlin")
    before = datetime(2026, 3, 29, 9, 49, tzinfo=BERLIN)
    assert desired_at(policy, domain, before, baseline=2).count == 2
    assert desired_at(policy, domain, before + timedelta(minutes=1), baseline=2).count == 20
    # 08:50 UTC is 10:50 CEST (summer time): inside the hold.
    utc = datetime(2026, 3, 29, 8, 50, tzinfo=ZoneInfo("UTC"))
    assert desired_at(policy, domain, utc, baseline=2).count == 20


def test_schedule_timezone_overrides_the_domain() -> None:
    sale = {**SALE, "timezone": "Asia/Shanghai"}
    policy, domain = _policy(sale), _domain("Europe/Berlin")
    got = desired_at(policy, domain, datetime(2026, 11, 11, 9, 55, tzinfo=SHANGHAI), baseline=1)
    assert got.count == 20


def test_quota_caps_the_count() -> None:
    domain = _domain("Asia/Shanghai", instances=30, cpus=16)
    room = quota_room(domain, app_cpus=1.0, app_mem=128, others=[(14, 0.5, 64)])
    assert room == 9  # cpus: (16 - 7) / 1 = 9; instances: 30 - 14 = 16
    got = desired_at(
        _policy(SALE),
        domain,
        datetime(2026, 11, 11, 10, 0, tzinfo=SHANGHAI),
        baseline=4,
        quota_room=room,
    )
    assert (got.count, got.reason) == (9, "schedule sale-10am (capped by quota)")
    assert quota_room(_domain("UTC"), app_cpus=1, app_mem=1, others=[]) is None


def test_metric_governs_outside_the_windows() -> None:
    metric = {"metric": "cpu", "targetUtilization": 0.5, "minInstances": 2, "maxInstances": 30}
    policy, domain = _policy(SALE, metric=metric), _domain("Asia/Shanghai")
    quiet = datetime(2026, 11, 11, 15, 0, tzinfo=SHANGHAI)
    assert desired_at(policy, domain, quiet, baseline=4, metric=7).reason == "metric cpu"
    assert desired_at(policy, domain, quiet, baseline=4, metric=7).count == 7
    sale = datetime(2026, 11, 11, 10, 0, tzinfo=SHANGHAI)
    assert desired_at(policy, domain, sale, baseline=4, metric=25).count == 25
    assert desired_at(policy, domain, sale, baseline=4, metric=7).count == 20


def test_recommender_cooldown_and_stabilisation() -> None:
    rule = MetricRule.model_validate(
        {
            "metric": "cpu",
            "targetUtilization": 0.5,
            "minInstances": 2,
            "maxInstances": 10,
            "cooldownSeconds": 60,
            "scaleDownStabilizationSeconds": 300,
        }
    )
    rec = MetricRecommender(rule)
    assert rec.observe(0, 4, 0.5) == 4  # at target
    assert rec.observe(10, 4, 1.0) == 8  # scale up at once
    assert rec.observe(20, 8, 1.0) == 8  # wants 10 (max), but the cooldown holds
    assert rec.observe(80, 8, 1.0) == 10  # cooldown over, max 10
    # Load drops: the window still remembers 10, so no scale-down yet.
    assert rec.observe(100, 10, 0.1) == 10
    assert rec.observe(300, 10, 0.1) == 10
    # 300 s after the last high recommendation (t=80), the window forgets it.
    assert rec.observe(381, 10, 0.1) == 2
    assert rec.raw(10, 0.1) == 2  # min bound
