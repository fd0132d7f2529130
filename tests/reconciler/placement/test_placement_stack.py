"""place() over static agent lists: consumption, borrowing, ranking, determinism."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from bench.placement import timed
from crds.app import Constraint
from crds.domain import BorrowPolicy
from crds.host import HostLifecycle
from reconciler.placement import (
    AgentOffer,
    Amounts,
    AppKey,
    Candidate,
    DomainUsage,
    PlacedInstance,
    PlacementMetrics,
    PlacementResult,
    Placer,
    Snapshot,
    build_default_stack,
    place,
    seed_from,
)
from reconciler.placement.state import PlanState

APP = AppKey("checkout", "cart")
EVERY = build_default_stack(limit=None)


def offer(
    host: str,
    *,
    rack: str = "r1",
    role: str = "checkout",
    reserved: bool = True,
    cpus: float = 4,
    mem: float = 4096,
    ports: tuple[tuple[int, int], ...] = ((31000, 31009),),
) -> AgentOffer:
    amounts = Amounts(cpus=cpus, mem=mem, ports=ports)
    (part,) = AgentOffer.from_values(
        offer_id=f"o-{host}",
        agent_id=f"a-{host}",
        hostname=host,
        role=role,
        attributes={"rack": rack},
        reserved=amounts if reserved else Amounts(),
        unreserved=Amounts() if reserved else amounts,
    )
    return part


def candidates(count: int, **fields: Any) -> list[Candidate]:
    base: dict[str, Any] = {"app": APP, "version": "v1", "role": "checkout", "cpus": 1.0}
    base["mem"] = 256.0
    return [Candidate(instance_id=f"i{n}", **(base | fields)) for n in range(count)]


def run(wanted: list[Candidate], *offers: AgentOffer, seed: str = "s", **snap: Any) -> Any:
    return place(wanted, Snapshot(offers=offers, **snap), stack=EVERY, seed=seed)


def hosts(result: PlacementResult) -> list[str]:
    return [placement.hostname for placement in result.placements]


def test_many_instances_share_one_offer_and_get_distinct_ports() -> None:
    one = offer("h1", cpus=2.5, ports=((31000, 31001), (31005, 31005)))
    result = run(candidates(4, cpus=0.5, ports=1), one)
    assert [p.ports for p in result.placements] == [(31000,), (31001,), (31005,)]
    assert list(result.by_offer()) == ["o-h1"]
    assert len(result.by_offer()["o-h1"]) == 3
    assert result.unplaced[0].metrics.summary() == "1 agent filtered: ports exhausted (1)"


def test_ports_span_ranges_for_one_instance() -> None:
    one = offer("h1", ports=((31000, 31000), (32000, 32001)))
    result = run(candidates(1, ports=3), one)
    assert result.placements[0].ports == (31000, 32000, 32001)


def test_resources_run_out_across_offers() -> None:
    result = run(candidates(5, cpus=1.5), offer("h1", cpus=3), offer("h2", cpus=2))
    assert Counter(hosts(result)) == {"h1": 2, "h2": 1}
    assert result.unplaced[0].metrics.summary() == "2 agents filtered: cpus exhausted (2)"


def test_unique_hostname_counts_planned_instances() -> None:
    unique = (Constraint.model_validate(["hostname", "UNIQUE"]),)
    existing = {APP: (PlacedInstance("h1"),)}
    offers = [offer(f"h{n}") for n in range(1, 4)]
    result = run(candidates(3, constraints=unique), *offers, instances=existing)
    assert sorted(hosts(result)) == ["h2", "h3"]
    assert result.unplaced[0].metrics.summary() == "3 agents filtered: UNIQUE hostname (3)"


def test_group_by_rack_fills_racks_evenly() -> None:
    group = (Constraint.model_validate(["rack", "GROUP_BY"]),)
    offers = [offer(f"h{n}", rack=f"r{n % 3}", cpus=8) for n in range(6)]
    result = run(candidates(9, constraints=group), *offers)
    racks = Counter(offer_rack(hostname, offers) for hostname in hosts(result))
    assert racks == {"r0": 3, "r1": 3, "r2": 3}


def offer_rack(hostname: str, offers: list[AgentOffer]) -> str:
    return next(o.attributes["rack"] for o in offers if o.hostname == hostname)


def test_nothing_new_on_draining_or_decommissioned_hosts() -> None:
    lifecycles = {"h1": HostLifecycle.DRAINING, "h2": HostLifecycle.DECOMMISSIONED}
    result = run(candidates(2), offer("h1"), offer("h2"), offer("h3"), lifecycles=lifecycles)
    assert hosts(result) == ["h3", "h3"]


def test_quota_stops_placement_and_says_so() -> None:
    usage = {"checkout": DomainUsage(quota_instances=3, instances=1)}
    result = run(candidates(3), offer("h1"), offer("h2"), domains=usage)
    assert len(result.placements) == 2
    assert result.unplaced[0].metrics.summary() == "2 agents filtered: quota instances (2)"


SHARED = offer("s1", role="*", reserved=False, cpus=16, mem=65536)


@pytest.mark.parametrize(
    ("fields", "own_cpus", "expected"),
    [
        pytest.param({}, 4, ["h1", "h1"], id="never-own-room"),
        pytest.param({}, 1, ["h1"], id="never-waits-for-own-hosts"),
        pytest.param(
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED}, 4, ["h1", "h1"], id="own-first-though-bigger"
        ),
        pytest.param(
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED}, 1, ["h1", "s1"], id="borrow-when-exhausted"
        ),
        pytest.param(
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED, "max_borrow_cpus": 0.5},
            1,
            ["h1"],
            id="max-borrow",
        ),
    ],
)
def test_borrowing(fields: dict[str, Any], own_cpus: float, expected: list[str]) -> None:
    result = run(candidates(2, **fields), offer("h1", cpus=own_cpus), SHARED)
    assert hosts(result) == expected
    assert [p.reserved for p in result.placements] == [h == "h1" for h in expected]


def test_unplaced_borrower_explains_both_pools() -> None:
    cand = candidates(1, borrow=BorrowPolicy.WHEN_EXHAUSTED, max_borrow_cpus=0.5, cpus=2.0)
    result = run(cand, offer("h1", cpus=1), SHARED, offer("x1", role="search"))
    assert result.unplaced[0].metrics.summary() == (
        "3 agents filtered: cpus exhausted (1), maxBorrow cpus (1), offer for role search (1)"
    )


def test_placed_borrower_records_shared_offers_held_back() -> None:
    cand = candidates(1, borrow=BorrowPolicy.WHEN_EXHAUSTED)
    result = run(cand, offer("h1"), SHARED)
    metrics = result.placements[0].metrics
    assert metrics.filtered == {"shared pool: own offers first": 1}
    assert metrics.agents_evaluated == 2


def test_spread_and_binpack_choose_different_hosts() -> None:
    # h2 is nearly full and shares rack r2 with h3, which already runs an instance.
    offers = (offer("h1", rack="r1", cpus=16), offer("h2", rack="r2", cpus=1.5))
    existing = {APP: (PlacedInstance("h3", {"rack": "r2"}),)}
    snapshot = Snapshot(offers=offers, instances=existing)
    spread = place(candidates(1), snapshot, stack=build_default_stack(), seed="s")
    binpack = place(
        candidates(1), snapshot, stack=build_default_stack(strategy="binpack"), seed="s"
    )
    assert hosts(spread) == ["h1"]
    assert hosts(binpack) == ["h2"]
    assert set(spread.placements[0].metrics.scores) == {"spread rack", "anti-affinity"}
    assert set(binpack.placements[0].metrics.scores) == {"binpack", "anti-affinity"}


def test_spread_moves_to_emptier_racks() -> None:
    offers = [offer(f"h{n}", rack=f"r{n % 2}", cpus=8) for n in range(4)]
    result = run(candidates(4), *offers)
    assert Counter(offer_rack(h, offers) for h in hosts(result)) == {"r0": 2, "r1": 2}
    assert len(set(hosts(result))) == 4


def test_scores_are_recorded_and_averaged() -> None:
    result = run(candidates(1), offer("h1"))
    metrics = result.placements[0].metrics
    assert metrics.scores == {"spread rack": 1.0, "anti-affinity": 1.0}
    assert metrics.final_score == 1.0


def test_same_seed_same_plan_and_seed_breaks_ties() -> None:
    offers = [offer(f"h{n:02d}", rack=f"r{n}") for n in range(20)]
    plans = {seed: hosts(run(candidates(3), *offers, seed=seed)) for seed in "abcdefgh"}
    assert all(hosts(run(candidates(3), *offers, seed=s)) == plan for s, plan in plans.items())
    assert len({tuple(plan) for plan in plans.values()}) > 1


def test_default_limit_still_places_every_candidate_and_is_deterministic() -> None:
    offers = [offer(f"h{n:03d}", rack=f"r{n % 10}") for n in range(300)]
    snapshot = Snapshot(offers=tuple(offers))
    stack = build_default_stack()
    first = place(candidates(600), snapshot, stack=stack, seed="x")
    again = place(candidates(600), snapshot, stack=stack, seed="x")
    assert not first.unplaced
    assert hosts(first) == hosts(again)
    assert max(p.metrics.agents_evaluated for p in first.placements) < 300


def test_performance_10000_candidates_on_1000_agents() -> None:
    took, result = timed(10_000)
    assert not result.unplaced
    per_thousand = took / 10
    print(
        f"\nplacement: 10,000 candidates on 1,000 agents in {took:.2f} s "
        f"({per_thousand * 1000:.0f} ms per 1,000 placements)"
    )
    assert per_thousand < 5.0  # loose: the target is well under 1 s


def test_place_leaves_the_snapshot_untouched() -> None:
    snapshot = Snapshot(offers=(offer("h1", cpus=2),))
    first = place(candidates(2), snapshot, stack=EVERY, seed="s")
    again = place(candidates(2), snapshot, stack=EVERY, seed="s")
    assert snapshot.offers[0].cpus == 2
    assert hosts(first) == hosts(again) == ["h1", "h1"]


def _reference(wanted: list[Candidate], snapshot: Snapshot, seed: str) -> list[Any]:
    """The plan of :meth:`Stack.select` over each candidate's whole rotated visit."""
    stack = build_default_stack()
    state = PlanState(snapshot)
    order = list(snapshot.offers)
    random.Random(seed_from(seed)).shuffle(order)
    out: list[Any] = []
    for cand in wanted:
        metrics = PlacementMetrics()
        start = random.Random(seed_from(seed, cand.request_id)).randrange(len(order))
        visit = order[start:] + order[:start]
        agent = stack.select(cand, state, visit, metrics, stack.limit_for(len(order)))
        if agent is not None:
            state.commit(agent, cand)
        out.append((agent and agent.offer_id, metrics.filtered, metrics.agents_evaluated))
    return out


@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_borrowers_skip_the_shared_pool_walk_but_choose_and_count_the_same(seed: str) -> None:
    mixed = [
        offer(f"h{n:02d}", rack=f"r{n % 3}", cpus=2, reserved=n % 3 == 0, role="checkout")
        if n % 4
        else offer(f"h{n:02d}", rack=f"r{n % 3}", cpus=2, reserved=False, role="*")
        for n in range(40)
    ]
    wanted = candidates(70, borrow=BorrowPolicy.WHEN_EXHAUSTED, cpus=0.5)
    snapshot = Snapshot(offers=tuple(mixed))
    result = place(wanted, snapshot, stack=build_default_stack(), seed=seed)
    got = {p.candidate.instance_id: p for p in result.placements}
    for cand, (offer_id, filtered, evaluated) in zip(
        wanted, _reference(wanted, snapshot, seed), strict=True
    ):
        placed = got.get(cand.instance_id)
        assert (placed and placed.offer_id) == offer_id
        if placed is not None:
            assert placed.metrics.filtered == filtered
            assert placed.metrics.agents_evaluated == evaluated


def test_a_plan_placed_in_parts_is_the_plan_placed_at_once() -> None:
    offers = tuple(offer(f"h{n:02d}", rack=f"r{n % 4}", cpus=3) for n in range(30))
    wanted = candidates(60)
    snapshot = Snapshot(offers=offers)
    whole = place(wanted, snapshot, stack=build_default_stack(), seed="p")
    placer = Placer(snapshot, stack=build_default_stack(), seed="p")
    parts = [placer.place(wanted[i : i + 7]) for i in range(0, len(wanted), 7)]
    assert [h for part in parts for h in hosts(part)] == hosts(whole)


def test_among_equal_scores_an_offer_the_plan_already_uses_wins() -> None:
    offers = [offer(f"h{n:02d}", rack=f"r{n}") for n in range(20)]
    other = AppKey("checkout", "basket")
    wanted = [
        *candidates(1),
        *(
            Candidate(instance_id=f"b{n}", app=other, version="v1", role="checkout", cpus=1, mem=1)
            for n in range(5)
        ),
    ]
    result = run(wanted, *offers)
    first, *rest = hosts(result)
    # Every host scores 1 for the other app: each of its instances joins the used offer
    # until anti-affinity (its own instance there) makes an unused host score higher.
    assert rest[0] == first
    assert len(set(rest)) == len(rest)
    assert hosts(run(wanted, *offers)) == hosts(result)


def test_used_offers_fill_up_the_plan_on_fewer_offers() -> None:
    offers = tuple(offer(f"h{n:03d}", rack=f"r{n}", cpus=8) for n in range(200))
    apps = [AppKey("checkout", f"app{a}") for a in range(20)]
    wanted = [
        Candidate(
            instance_id=f"{app.name}-{n}", app=app, version="v1", role="checkout", cpus=0.1, mem=1
        )
        for app in apps
        for n in range(5)
    ]
    result = place(wanted, Snapshot(offers=offers), stack=build_default_stack(), seed="u")
    assert not result.unplaced
    assert len(result.by_offer()) < 50  # without the preference: about 80 of the 200
    for app in apps:  # still spread: one instance of an app per host
        placed = [p.hostname for p in result.placements if p.candidate.app == app]
        assert len(set(placed)) == len(placed)
