"""Rate limiter arithmetic: per-key exponential backoff, the token bucket, MaxOf."""

from __future__ import annotations

import pytest

from reconciler.runtime.clock import ManualClock
from reconciler.runtime.ratelimit import Bucket, ItemExponential, MaxOf, default_rate_limiter


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(1, 0.005, id="first"),
        pytest.param(2, 0.01, id="second"),
        pytest.param(11, 0.005 * 2**10, id="eleventh"),
        pytest.param(17, 300.0, id="capped-at-5-minutes"),
        pytest.param(200, 300.0, id="no-overflow"),
    ],
)
def test_item_exponential_doubles_from_5ms_to_5min(failures: int, expected: float) -> None:
    limiter: ItemExponential[str] = ItemExponential(0.005, 300.0)
    for _ in range(failures - 1):
        limiter.when("a")
    assert limiter.when("a") == pytest.approx(expected)
    assert limiter.num_requeues("a") == failures


def test_item_exponential_keys_are_independent_and_forget_resets() -> None:
    limiter: ItemExponential[str] = ItemExponential(1.0, 100.0)
    assert [limiter.when("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert limiter.when("b") == 1.0
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 1.0


def test_bucket_lets_a_burst_through_then_spaces_by_qps() -> None:
    clock = ManualClock()
    bucket: Bucket[str] = Bucket(qps=10, burst=3, clock=clock)
    assert [bucket.when("x") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.when("y") == pytest.approx(0.2)
    clock.advance(0.2)  # the debt is paid back
    assert bucket.when("z") == pytest.approx(0.1)
    clock.advance(100)  # refills, but never beyond the burst
    assert [bucket.when("x") for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_bucket_does_not_track_keys() -> None:
    bucket: Bucket[str] = Bucket(clock=ManualClock())
    bucket.when("a")
    bucket.forget("a")
    assert bucket.num_requeues("a") == 0


def test_max_of_waits_the_longest_and_forgets_in_all() -> None:
    clock = ManualClock()
    limiter: MaxOf[str] = MaxOf(ItemExponential(1.0, 60.0), Bucket(qps=1, burst=1, clock=clock))
    assert limiter.when("a") == 1.0  # exponential: 1; bucket: 0
    assert limiter.when("b") == 1.0  # exponential: 1; bucket: 1
    assert limiter.when("a") == 2.0  # exponential: 2; bucket: 2
    assert limiter.when("c") == 3.0  # exponential: 1; bucket: 3
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_default_is_5ms_exponential_under_a_10qps_bucket_of_100() -> None:
    clock = ManualClock()
    limiter: MaxOf[str] = default_rate_limiter(clock)
    assert limiter.when("a") == pytest.approx(0.005)
    delays = [limiter.when(f"k{i}") for i in range(120)]
    assert delays[:98] == [pytest.approx(0.005)] * 98  # 99 tokens left after "a"
    assert delays[-1] == pytest.approx(2.1)  # 21 tokens in debt at 10 qps


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: ItemExponential(0, 1), id="zero-base"),
        pytest.param(lambda: ItemExponential(2, 1), id="cap-below-base"),
        pytest.param(lambda: Bucket(0, 1), id="zero-qps"),
        pytest.param(lambda: Bucket(1, 0), id="zero-burst"),
        pytest.param(lambda: MaxOf(), id="nothing-to-max"),
    ],
)
def test_invalid_limiters_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
