"""Placement throughput: 10,000 candidates over 1,000 agent offers, no I/O.

The workload: five domains with 200 agents each (offers reserved for the
domain's role, 20 racks), 100 apps of 100 instances (0.5 cpus, 512 MiB, one
host port); a quarter of the apps GROUP_BY rack, a quarter MAX_PER hostname 2.
Figures: placements per second with the default stack (Nomad-style limit of
scored agents) and with every feasible agent scored.
"""

from __future__ import annotations

import time

from bench.common import Figure
from crds.app import Constraint, ConstraintOperator
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
from reconciler.placement.stack import Limit

DOMAINS = 5
AGENTS = 1_000
RACKS = 20
APPS = 100
CANDIDATES = 10_000


def workload(
    *, candidates: int = CANDIDATES, agents: int = AGENTS
) -> tuple[list[Candidate], Snapshot]:
    offers: list[AgentOffer] = []
    for i in range(agents):
        offers += AgentOffer.from_values(
            offer_id=f"offer-{i:04d}",
            agent_id=f"agent-{i:04d}",
            hostname=f"host-{i:04d}",
            role=f"d{i % DOMAINS}",
            attributes={"rack": f"r{i % RACKS:02d}", "dc": "sh1"},
            reserved=Amounts(cpus=32, mem=65536, disk=100_000, ports=((31000, 31999),)),
        )
    spread = (Constraint(field="rack", operator=ConstraintOperator.GROUP_BY),)
    capped = (Constraint(field="hostname", operator=ConstraintOperator.MAX_PER, value="2"),)
    per_app = max(1, candidates // APPS)
    wanted = [
        Candidate(
            app=AppKey(f"d{(n // per_app) % DOMAINS}", f"app-{n // per_app:03d}"),
            instance_id=f"i{n:05d}",
            version="v1",
            role=f"d{(n // per_app) % DOMAINS}",
            cpus=0.5,
            mem=512,
            ports=1,
            constraints={0: spread, 1: capped}.get((n // per_app) % 4, ()),
        )
        for n in range(candidates)
    ]
    return wanted, Snapshot(offers=tuple(offers))


def timed(candidates: int, *, limit: Limit = "log2") -> tuple[float, PlacementResult]:
    wanted, snapshot = workload(candidates=candidates)
    stack = build_default_stack(limit=limit)
    started = time.perf_counter()
    result = place(wanted, snapshot, stack=stack, seed="bench")
    return time.perf_counter() - started, result


def run() -> list[Figure]:
    took, result = timed(CANDIDATES)
    if result.unplaced:
        raise RuntimeError(f"{len(result.unplaced)} candidates unplaced")
    every, _ = timed(1_000, limit=None)
    return [
        Figure(
            "placement, 10,000 candidates on 1,000 agents",
            CANDIDATES / took,
            "placements/s",
            ">= 1,000",
        ),
        Figure(
            "placement, every feasible agent scored (1,000 cand.)", 1_000 / every, "placements/s"
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.render())
