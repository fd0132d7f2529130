"""Domain isolation under random placements: no instance lands outside its domain.

Each trial draws 2-4 domains (each with a borrow policy and, when it borrows,
a random maxBorrow of cpus, mem, both or neither), 3-12 hosts (each either
dedicated to a domain, its whole capacity reserved for the domain's role, or
in the shared pool, unreserved and offered to "*" or to a domain's role), and
up to 40 instances of random size across the domains, and places them with
the default stack. A placement violates isolation when it lands on another
domain's reserved resources, on the shared pool without ``borrow:
WhenExhausted``, or takes a domain beyond its maxBorrow. Figures: placements
per second over 1,000 trials, and the violations (must be 0).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import Figure
from crds.domain import BorrowPolicy
from reconciler.placement import (
    AgentOffer,
    Amounts,
    AppKey,
    Candidate,
    PlacementResult,
    Snapshot,
    build_default_stack,
    place,
)

TRIALS = 1_000
SHARED = "*"
_EPSILON = 1e-6


@dataclass(frozen=True)
class Trial:
    candidates: list[Candidate]
    snapshot: Snapshot
    host_roles: dict[str, str | None]
    """Host name to the role its resources are reserved for; None: the shared pool."""


def random_trial(rng: random.Random) -> Trial:
    """One random data center and the instances to place in it."""
    roles = [f"d{n}" for n in range(rng.randint(2, 4))]
    policy: dict[str, tuple[BorrowPolicy, float | None, float | None]] = {}
    for role in roles:
        borrow = rng.choice(list(BorrowPolicy))
        if borrow is BorrowPolicy.WHEN_EXHAUSTED:
            cpus = rng.choice([None, rng.randint(0, 8) / 2])
            mem = rng.choice([None, float(rng.randint(0, 8) * 256)])
            policy[role] = (borrow, cpus, mem)
        else:
            policy[role] = (borrow, None, None)
    offers: list[AgentOffer] = []
    host_roles: dict[str, str | None] = {}
    for n in range(rng.randint(3, 12)):
        name = f"h{n}"
        amounts = Amounts(cpus=rng.randint(1, 8), mem=float(rng.randint(1, 16) * 512))
        home = rng.choice([*roles, None])
        host_roles[name] = home
        offers += AgentOffer.from_values(
            offer_id=f"o-{name}",
            agent_id=f"a-{name}",
            hostname=name,
            role=home if home is not None else rng.choice([SHARED, *roles]),
            attributes={},
            reserved=amounts if home is not None else Amounts(),
            unreserved=Amounts() if home is not None else amounts,
        )
    candidates: list[Candidate] = []
    for n in range(rng.randint(1, 40)):
        role = rng.choice(roles)
        borrow, max_cpus, max_mem = policy[role]
        candidates.append(
            Candidate(
                app=AppKey(role, f"app{n % 3}"),
                instance_id=f"i{n}",
                version="v1",
                role=role,
                cpus=rng.choice([0.25, 0.5, 1.0, 2.0]),
                mem=float(rng.choice([128, 256, 512, 1024])),
                borrow=borrow,
                max_borrow_cpus=max_cpus,
                max_borrow_mem=max_mem,
                needs_ip=False,
            )
        )
    return Trial(candidates, Snapshot(offers=tuple(offers)), host_roles)


def violations(trial: Trial, result: PlacementResult) -> list[str]:
    """Each placement that breaks domain isolation or maxBorrow, described."""
    found: list[str] = []
    borrowed: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for placement in result.placements:
        cand = placement.candidate
        home = trial.host_roles[placement.hostname]
        where = f"{cand.request_id} on {placement.hostname}"
        if placement.reserved:
            if home != cand.role:
                found.append(f"{where}: reserved for {home}, not {cand.role}")
            continue
        if home is not None:
            found.append(f"{where}: unreserved part of {home}'s host")
        if cand.borrow is not BorrowPolicy.WHEN_EXHAUSTED:
            found.append(f"{where}: borrowed with borrow {cand.borrow}")
        used = borrowed[cand.role]
        used[0] += cand.cpus
        used[1] += cand.mem
        if cand.max_borrow_cpus is not None and used[0] > cand.max_borrow_cpus + _EPSILON:
            found.append(f"{where}: borrowed cpus {used[0]} > maxBorrow {cand.max_borrow_cpus}")
        if cand.max_borrow_mem is not None and used[1] > cand.max_borrow_mem + _EPSILON:
            found.append(f"{where}: borrowed mem {used[1]} > maxBorrow {cand.max_borrow_mem}")
    return found


def isolation(trials: int = TRIALS, seed: int = 6) -> Iterator[tuple[Trial, PlacementResult]]:
    """``trials`` random trials, placed."""
    rng = random.Random(seed)
    stack = build_default_stack()
    for n in range(trials):
        trial = random_trial(rng)
        yield trial, place(trial.candidates, trial.snapshot, stack=stack, seed=f"t{n}")


def run() -> list[Figure]:
    placements = 0
    broken = 0
    borrowed = 0
    start = time.perf_counter()
    for trial, result in isolation():
        placements += len(result.placements)
        borrowed += sum(not p.reserved for p in result.placements)
        broken += len(violations(trial, result))
    seconds = time.perf_counter() - start
    return [
        Figure("domains: random placements (1,000 trials)", placements, "instances"),
        Figure("domains: of which borrowed from the shared pool", borrowed, "instances"),
        Figure("domains: placement rate with isolation check", placements / seconds, "/s"),
        Figure("domains: isolation violations", broken, "count", "0"),
    ]
