"""Freeze windows: recurring and absolute, in the Domain's or the window's time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from crds.domain import Domain, DomainSpec
from reconciler.scaling.freeze import active_freeze

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _domain(*windows: dict[str, Any]) -> Domain:
    return Domain.model_validate(
        {
            "apiVersion": "dcos/v1",
            "kind": "Domain",
            "metadata": {"name": "checkout"},
            "spec": {"timezone": "Asia/Shanghai", "freezeWindows": list(windows)},
        }
    )


def test_recurring_window_in_the_domain_zone() -> None:
    domain = _domain({"name": "sale-10am", "cron": "30 9 * * *", "duration": "3h"})
    assert active_freeze(domain, datetime(2026, 11, 11, 9, 29, tzinfo=SHANGHAI)) is None
    got = active_freeze(domain, datetime(2026, 11, 11, 9, 30, tzinfo=SHANGHAI))
    assert got is not None
    assert got.describe() == "window sale-10am until 2026-11-11 12:30 +08:00"
    assert active_freeze(domain, datetime(2026, 11, 11, 12, 30, tzinfo=SHANGHAI)) is None


def test_absolute_window_and_the_latest_end_wins() -> None:
    domain = _domain(
        {"name": "a", "start": "2026-11-11T00:00:00+08:00", "end": "2026-11-11T12:00:00+08:00"},
        {"name": "b", "start": "2026-11-11T08:00:00+08:00", "end": "2026-11-11T14:00:00+08:00"},
    )
    got = active_freeze(domain, datetime(2026, 11, 11, 9, 0, tzinfo=SHANGHAI))
    assert got is not None and got.name == "b"


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"name": "x", "cron": "0 10 * * *"}, "cron needs duration"),
        ({"name": "x", "start": "2026-11-11T00:00:00+08:00"}, "start needs end"),
        ({"name": "x"}, "give either cron and duration, or start and end"),
        (
            {"name": "x", "start": "2026-11-11T10:00:00", "end": "2026-11-11T12:00:00"},
            "need a UTC offset",
        ),
        (
            {"name": "x", "start": "2026-11-11T12:00:00Z", "end": "2026-11-11T10:00:00Z"},
            "end is not after start",
        ),
        ({"name": "x", "cron": "0 10 * *", "duration": "1h"}, "five-field"),
    ],
)
def test_bad_windows_are_refused(window: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DomainSpec.model_validate({"freezeWindows": [window]})
