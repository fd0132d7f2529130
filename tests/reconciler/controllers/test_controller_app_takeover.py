"""A new leader restarts the progress clock of the PROGRESSING rollouts it inherits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.apps import RolloutPhase, RolloutState
from reconciler.controllers.app import _took_over

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def state(phase: RolloutPhase, last_progress_at: datetime | None) -> RolloutState:
    return RolloutState(
        revision=1,
        target_version="0123abcd0123abcd",
        phase=phase,
        started_at=T0,
        last_progress_at=last_progress_at,
    )


def test_an_inherited_progressing_rollout_counts_its_deadline_from_the_takeover() -> None:
    now = T0 + timedelta(minutes=9)
    taken = _took_over(state(RolloutPhase.PROGRESSING, T0), now)
    assert taken is not None and taken.last_progress_at == now


def test_the_takeover_never_moves_the_clock_back_nor_touches_ended_rollouts() -> None:
    now = T0 + timedelta(minutes=9)
    later = state(RolloutPhase.PROGRESSING, now + timedelta(seconds=1))
    assert _took_over(later, now) == later
    for phase in (RolloutPhase.COMPLETE, RolloutPhase.FAILED):
        assert _took_over(state(phase, T0), now) == state(phase, T0)
    unclocked = _took_over(state(RolloutPhase.PROGRESSING, None), now)
    assert unclocked is not None and unclocked.last_progress_at is None
    assert _took_over(None, now) is None
