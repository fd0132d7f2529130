"""Over 1,000 random data centers, no instance lands outside its domain unless it
may borrow, and borrowing stays within maxBorrow."""

from __future__ import annotations

import dataclasses
import random

from bench.domains import isolation, random_trial, violations
from crds.domain import BorrowPolicy
from reconciler.placement import build_default_stack, place


def test_random_placements_keep_domains_isolated() -> None:
    placed = borrowed = 0
    for trial, result in isolation(trials=1_000, seed=6):
        assert violations(trial, result) == []
        placed += len(result.placements)
        borrowed += sum(not p.reserved for p in result.placements)
    # The draw exercises both pools, or the property would prove nothing.
    assert placed > 5_000
    assert borrowed > 100


def test_the_check_catches_planted_violations() -> None:
    trial = random_trial(random.Random(1))
    result = place(trial.candidates, trial.snapshot, stack=build_default_stack(), seed="x")
    victim = next(p for p in result.placements if p.reserved)
    role = victim.candidate.role
    stranger = next(h for h, home in trial.host_roles.items() if home not in (role, None))
    moved = dataclasses.replace(victim, hostname=stranger)
    planted = dataclasses.replace(result, placements=(moved,))
    assert violations(trial, planted) == [
        f"{victim.candidate.request_id} on {stranger}: reserved for "
        f"{trial.host_roles[stranger]}, not {role}"
    ]
    shared = next(h for h, home in trial.host_roles.items() if home is None)
    never = dataclasses.replace(victim.candidate, borrow=BorrowPolicy.NEVER)
    borrowed = dataclasses.replace(victim, candidate=never, hostname=shared, reserved=False)
    assert violations(trial, dataclasses.replace(result, placements=(borrowed,))) == [
        f"{never.request_id} on {shared}: borrowed with borrow Never"
    ]
