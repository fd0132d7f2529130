"""The placement stack and :func:`place`: candidates in, a plan of launches out.

A :class:`Stack` is feasibility checkers (cheapest first, the first reason
wins), then scorers (averaged into one score), then selection (the highest
score). :func:`build_default_stack` assembles it in one place, as Nomad's
``NewGenericStack`` does; the order is policy.

:func:`place` places candidates one by one over one :class:`PlanState`, so
every placement sees the resources, ports, instance counts, quota and
addresses the earlier ones took. Many instances may land on one offer:
:meth:`PlacementResult.by_offer` groups them so the framework sends ONE
ACCEPT per offer with one LAUNCH per instance (and declines the offers not
used). ``dcosctl plan`` runs the same function and launches nothing.

Determinism: agents are visited in an order shuffled by
``random.Random(seed_from(seed))``, each candidate starting at an offset drawn
from ``seed_from(seed, candidate.request_id)``; among equal scores an offer
this plan already placed on wins over one it has not (instances of other apps
join the offers in use, so the plan needs fewer ACCEPTs; each app's spread is
still the scores'), else the first visited wins. The same snapshot, candidates
and seed give the same plan, so a plan can be replayed in a postmortem.

Cost: with ``limit`` set, a candidate stops after that many feasible agents
(Nomad's limit: the best of a few random feasible agents; by default
``max(8, ceil(log2(offers)))``), so a placement costs about the agents visited
to find them, not all agents; an unplaceable candidate visits every offer,
which gives its metrics the full picture. Constraint and spread counts are
dictionary lookups (:class:`~reconciler.placement.state.ValueCounts`).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from crds.domain import BorrowPolicy
from reconciler.placement.checkers import (
    AgentsChecker,
    Checker,
    ConstraintChecker,
    IpChecker,
    LifecycleChecker,
    PinnedHostChecker,
    QuotaChecker,
    ResourceChecker,
    RoleChecker,
    is_shared_pool,
)
from reconciler.placement.metrics import PlacementMetrics
from reconciler.placement.scorers import AntiAffinityScorer, BinPackScorer, Scorer, SpreadScorer
from reconciler.placement.snapshot import SHARED_ROLE, AgentOffer, Candidate, Snapshot
from reconciler.placement.state import PlanState

__all__ = [
    "Limit",
    "Placement",
    "PlacementResult",
    "Placer",
    "Stack",
    "Unplaced",
    "build_default_stack",
    "place",
    "seed_from",
]

Limit = int | Literal["log2"] | None
"""Feasible agents scored per candidate: a number, "log2" for ``max(8, ceil(log2(offers)))``
(the default), or None for every feasible agent."""


def seed_from(*parts: str) -> int:
    """A stable 64-bit seed from strings (Python's ``hash`` of a str changes per process)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class Stack:
    """Checkers, scorers and how many feasible agents to score per candidate."""

    checkers: tuple[Checker, ...]
    scorers: tuple[Scorer, ...]
    limit: Limit = "log2"
    """Stop after this many feasible agents; None scores every feasible agent."""

    def limit_for(self, offers: int) -> int | None:
        if self.limit == "log2":
            return max(8, math.ceil(math.log2(offers))) if offers > 1 else None
        return self.limit

    def select(
        self,
        candidate: Candidate,
        state: PlanState,
        agents: Sequence[AgentOffer],
        metrics: PlacementMetrics,
        limit: int | None,
    ) -> AgentOffer | None:
        """The best agent for ``candidate``, visiting ``agents`` in order; None if none fits.

        With ``borrow: WhenExhausted`` the shared pool is held back and tried in a
        second pass only when no own offer can take the candidate.
        """
        deferred: list[AgentOffer] | None = (
            [] if candidate.borrow is BorrowPolicy.WHEN_EXHAUSTED else None
        )
        best, _ = self._scan(candidate, state, agents, metrics, limit, deferred)
        if deferred and best is None:
            state.borrowing = True
            try:
                best, _ = self._scan(candidate, state, deferred, metrics, limit, None)
            finally:
                state.borrowing = False
        elif deferred:
            for agent in deferred:
                metrics.agents_evaluated += 1
                metrics.filter(agent, "shared pool: own offers first")
        return best

    def select_split(
        self,
        candidate: Candidate,
        state: PlanState,
        split: RoleSplit,
        start: int,
        metrics: PlacementMetrics,
        limit: int | None,
    ) -> AgentOffer | None:
        """:meth:`select` for a ``WhenExhausted`` candidate over offers split by pool.

        The same choice and metrics as :meth:`select` over the offers rotated by
        ``start``, without walking the shared pool while an own offer fits:
        the shared offers it would have held back are only counted.
        """
        own = split.own.rotated(start)
        best, stop = self._scan(candidate, state, own, metrics, limit, None)
        if best is None and split.shared.agents:
            state.borrowing = True
            try:
                best, _ = self._scan(
                    candidate, state, split.shared.rotated(start), metrics, limit, None
                )
            finally:
                state.borrowing = False
        elif split.shared.agents:
            # The shared offers visited before the own scan stopped were held back.
            end = split.own.position(stop - 1, start) if stop is not None else split.size
            held_back = split.shared.count_before(end, start)
            metrics.agents_evaluated += held_back
            metrics.filter_many("shared pool: own offers first", held_back)
        return best

    def _scan(
        self,
        candidate: Candidate,
        state: PlanState,
        agents: Iterable[AgentOffer],
        metrics: PlacementMetrics,
        limit: int | None,
        deferred: list[AgentOffer] | None,
    ) -> tuple[AgentOffer | None, int | None]:
        """The best agent, and how many agents were visited when ``limit`` stopped the
        scan (None: every agent was visited)."""
        best: AgentOffer | None = None
        best_final, feasible = -1.0, 0
        best_scores: tuple[float, ...] = ()
        stopped: int | None = None
        used = state.used_offers
        for visited, agent in enumerate(agents, 1):
            if deferred is not None and is_shared_pool(agent, candidate):
                deferred.append(agent)
                continue
            metrics.agents_evaluated += 1
            reason = None
            for checker in self.checkers:
                reason = checker.feasible(agent, candidate, state)
                if reason is not None:
                    break
            if reason is not None:
                metrics.filter(agent, reason)
                continue
            scores = tuple(scorer.score(agent, candidate, state) for scorer in self.scorers)
            final = sum(scores) / len(scores) if scores else 1.0
            if final > best_final or (
                final == best_final
                and agent.offer_id in used
                and best is not None
                and best.offer_id not in used
            ):
                best, best_final, best_scores = agent, final, scores
            feasible += 1
            if limit is not None and feasible >= limit:
                stopped = visited
                break
        if best is not None:
            names = (scorer.name for scorer in self.scorers)
            metrics.score(dict(zip(names, best_scores, strict=True)), best_final)
        return best, stopped


@dataclass(frozen=True)
class _Part:
    """Some of a plan's offers, in visiting order, with their places in the whole order."""

    agents: tuple[AgentOffer, ...]
    places: tuple[int, ...]  # ascending: agents[i] is order[places[i]]
    size: int  # offers in the whole order

    def rotated(self, start: int) -> list[AgentOffer]:
        """The agents as a visit of the whole order from ``start`` meets them."""
        cut = bisect.bisect_left(self.places, start)
        return [*self.agents[cut:], *self.agents[:cut]]

    def position(self, index: int, start: int) -> int:
        """Where the ``index``-th agent of :meth:`rotated` comes in that visit."""
        cut = bisect.bisect_left(self.places, start)
        place = self.places[(cut + index) % len(self.places)]
        return place - start if place >= start else place - start + self.size

    def count_before(self, end: int, start: int) -> int:
        """Agents of this part among the first ``end`` of the visit from ``start``."""
        stop, size = start + end, self.size
        if stop <= size:
            return bisect.bisect_left(self.places, stop) - bisect.bisect_left(self.places, start)
        return (len(self.places) - bisect.bisect_left(self.places, start)) + bisect.bisect_left(
            self.places, stop - size
        )


@dataclass(frozen=True)
class RoleSplit:
    """A plan's offers split for the candidates of one role: its own, and the shared pool."""

    own: _Part
    shared: _Part
    size: int

    @classmethod
    def of(cls, order: Sequence[AgentOffer], role: str) -> RoleSplit:
        own: list[tuple[int, AgentOffer]] = []
        shared: list[tuple[int, AgentOffer]] = []
        for place, agent in enumerate(order):
            pooled = not agent.reserved and agent.role in (role, SHARED_ROLE)
            (shared if pooled else own).append((place, agent))
        size = len(order)
        return cls(_part(own, size), _part(shared, size), size)


def _part(items: list[tuple[int, AgentOffer]], size: int) -> _Part:
    return _Part(tuple(a for _, a in items), tuple(p for p, _ in items), size)


def build_default_stack(
    *, strategy: Literal["spread", "binpack"] = "spread", limit: Limit = "log2"
) -> Stack:
    """The production pipeline; ``strategy`` picks spread (default) or bin-pack ranking."""
    checkers: tuple[Checker, ...] = (
        # hostname IS / CLUSTER / LIKE / UNLIKE: an App pinned to hosts says so first.
        PinnedHostChecker(),
        # The offer's role is the domain's, or the shared pool when borrowing allows.
        RoleChecker(),
        # Nothing new on Draining or Decommissioned hosts.
        LifecycleChecker(),
        # Nothing outside the system domain before the host's agents are ready.
        AgentsChecker(),
        # cpus, mem, disk and ports left in the offer after this plan's placements.
        ResourceChecker(),
        # UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS over existing + planned.
        ConstraintChecker(),
        # The domain's quota; last of the resource checks, as in Nomad.
        QuotaChecker(),
        # A free address in the host's block (may ask IPAM, so last).
        IpChecker(),
    )
    ranking: Scorer = SpreadScorer("rack") if strategy == "spread" else BinPackScorer()
    scorers: tuple[Scorer, ...] = (
        # Spread over racks, or fill the fullest offers first.
        ranking,
        # Another instance of the same app on the host lowers the score.
        AntiAffinityScorer(),
    )
    # Selection: the highest mean score among the first `limit` feasible agents.
    return Stack(checkers=checkers, scorers=scorers, limit=limit)


@dataclass(frozen=True)
class Placement:
    """Launch ``candidate`` on this offer, taking reserved or unreserved resources."""

    candidate: Candidate
    offer_id: str
    agent_id: str
    hostname: str
    role: str
    reserved: bool
    """Take resources reserved for ``role``; False: unreserved (borrowed from the shared pool)."""
    ports: tuple[int, ...]
    metrics: PlacementMetrics
    ip_pool: str | None = None
    """The IPPool the instance takes its address from on this host; None: no address."""


@dataclass(frozen=True)
class Unplaced:
    candidate: Candidate
    metrics: PlacementMetrics


@dataclass(frozen=True)
class PlacementResult:
    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]

    def by_offer(self) -> dict[str, list[Placement]]:
        """Placements per offer id, offers in the order first used: one ACCEPT each."""
        grouped: dict[str, list[Placement]] = {}
        for placement in self.placements:
            grouped.setdefault(placement.offer_id, []).append(placement)
        return grouped


class Placer:
    """One plan placed in parts: ``Placer(snapshot, ...).place(part)`` for each part.

    Every part sees what the earlier parts took (one :class:`PlanState`), and a
    candidate's agent order depends only on the seed and its request id, so
    placing the candidates in several parts gives the same plan as placing
    them at once. The framework places a long queue in parts and lets the
    event loop run in between.
    """

    def __init__(self, snapshot: Snapshot, *, stack: Stack, seed: str) -> None:
        self._stack = stack
        self._seed = seed
        self._state = PlanState(snapshot)
        self._order = list(snapshot.offers)
        random.Random(seed_from(seed)).shuffle(self._order)
        self._limit = stack.limit_for(len(self._order))
        self._splits: dict[str, RoleSplit] = {}  # by candidate role, built on first use

    def place(self, candidates: Iterable[Candidate]) -> PlacementResult:
        """Place ``candidates`` in order, after everything placed before."""
        order, state = self._order, self._state
        placements: list[Placement] = []
        unplaced: list[Unplaced] = []
        for candidate in candidates:
            metrics = PlacementMetrics()
            start = random.Random(seed_from(self._seed, candidate.request_id)).randrange(
                len(order) or 1
            )
            if candidate.borrow is BorrowPolicy.WHEN_EXHAUSTED:
                split = self._splits.get(candidate.role)
                if split is None:
                    split = self._splits[candidate.role] = RoleSplit.of(order, candidate.role)
                agent = self._stack.select_split(
                    candidate, state, split, start, metrics, self._limit
                )
            else:
                visit = order[start:] + order[:start]
                agent = self._stack.select(candidate, state, visit, metrics, self._limit)
            if agent is None:
                unplaced.append(Unplaced(candidate, metrics))
                continue
            ip_pool = None
            if candidate.needs_ip and state.snapshot.free_ips is not None:
                ip_pool = state.ip_pool(candidate, agent.hostname)
            ports = state.commit(agent, candidate)
            placements.append(
                Placement(
                    candidate=candidate,
                    offer_id=agent.offer_id,
                    agent_id=agent.agent_id,
                    hostname=agent.hostname,
                    role=agent.role,
                    reserved=agent.reserved,
                    ports=ports,
                    metrics=metrics,
                    ip_pool=ip_pool,
                )
            )
        return PlacementResult(tuple(placements), tuple(unplaced))


def place(
    candidates: Iterable[Candidate], snapshot: Snapshot, *, stack: Stack, seed: str
) -> PlacementResult:
    """Place ``candidates`` in order over ``snapshot``; pure, the inputs are not changed.

    ``seed`` names the request (e.g. the reconcile id or "domain/app@version");
    the same inputs and seed give the same plan.
    """
    return Placer(snapshot, stack=stack, seed=seed).place(candidates)
