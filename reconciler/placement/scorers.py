"""Ranking: of the offers that can take an instance, which one should?

A :class:`Scorer` gives a feasible offer part a score in [0, 1], higher is
better; the stack averages the scores into the final score (Nomad's score
normalisation) and keeps every scorer's value for the metrics:

* :class:`SpreadScorer` (the default strategy): fewer instances of this app
  with the offer's value of an attribute (``rack`` by default; hosts without it
  count by hostname) → higher: ``1 - count / (instances of the app + 1)``.
* :class:`BinPackScorer` (the other strategy): the more of the offer the
  instance would use, with this plan's earlier placements, the higher, so
  small leftovers are filled first and large offers stay whole.
* :class:`AntiAffinityScorer`: another instance of the same app on the host
  lowers the score: ``1 / (1 + instances on the host)``.

Counts come from :class:`~reconciler.placement.state.PlanState`: existing
instances plus this plan's, indexed per attribute value. Next:
:mod:`reconciler.placement.stack`.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.placement.snapshot import AgentOffer, Candidate
from reconciler.placement.state import PlanState

__all__ = ["AntiAffinityScorer", "BinPackScorer", "Scorer", "SpreadScorer"]


class Scorer(Protocol):
    name: str
    """Names the score in the metrics."""

    def score(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> float:
        """How well ``agent`` suits ``candidate``, from 0 to 1."""
        ...


class SpreadScorer:
    def __init__(self, field: str = "rack") -> None:
        self.field = field
        self.name = f"spread {field}"

    def score(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> float:
        field = self.field if self.field in agent.attributes else "hostname"
        counts = state.counts(candidate.app, field)
        value = agent.hostname if field == "hostname" else agent.attributes[field]
        return 1.0 - counts.counts.get(value, 0) / (counts.total + 1)


class BinPackScorer:
    name = "binpack"

    def score(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> float:
        left = state.left(agent)
        shares = [
            (offered - left_now + wanted) / offered
            for offered, left_now, wanted in (
                (agent.cpus, left.cpus, candidate.cpus),
                (agent.mem, left.mem, candidate.mem),
            )
            if offered > 0
        ]
        return min(1.0, sum(shares) / len(shares)) if shares else 0.0


class AntiAffinityScorer:
    name = "anti-affinity"

    def score(self, agent: AgentOffer, candidate: Candidate, state: PlanState) -> float:
        return 1.0 / (1 + state.counts(candidate.app, "hostname").counts.get(agent.hostname, 0))
