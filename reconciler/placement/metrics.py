"""Why an instance went where it went, or why it went nowhere.

Every checker rejection is recorded as ``metrics.filter(agent, reason)`` with a
short, stable reason ("cpus exhausted", "UNIQUE hostname", "host Draining"),
so equal reasons add up. The scores of the chosen agent are recorded per
scorer. :meth:`PlacementMetrics.summary` renders the one line that goes into
``App.status.lastPlacement`` and ``dcosctl describe``, e.g.::

    12 agents filtered: cpus exhausted (8), UNIQUE hostname (4)

Only agents the stack looked at are counted: a placed instance may have been
placed after a few feasible agents (the stack's ``limit``), an unplaced one was
checked against every offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.placement.snapshot import AgentOffer

__all__ = ["PlacementMetrics"]


@dataclass
class PlacementMetrics:
    """Counts and scores gathered while placing one candidate."""

    agents_evaluated: int = 0
    """Offer parts the checkers looked at."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Rejections by reason."""
    scores: dict[str, float] = field(default_factory=dict)
    """Scores of the chosen agent by scorer name; empty when nothing was chosen."""
    final_score: float | None = None
    """The chosen agent's normalised score (the mean of ``scores``)."""

    def filter(self, agent: AgentOffer, reason: str) -> None:
        """Record that ``agent`` cannot take the candidate, and why."""
        self.filtered[reason] = self.filtered.get(reason, 0) + 1

    def filter_many(self, reason: str, count: int) -> None:
        """Record that ``count`` agents cannot take the candidate for the same reason."""
        if count:
            self.filtered[reason] = self.filtered.get(reason, 0) + count

    def score(self, scores: dict[str, float], final: float) -> None:
        """Record the chosen agent's per-scorer scores and final score."""
        self.scores = dict(scores)
        self.final_score = final

    @property
    def agents_filtered(self) -> int:
        return sum(self.filtered.values())

    def summary(self) -> str:
        """One line: how many agents were filtered and why, the most common reason first."""
        total = self.agents_filtered
        if total == 0:
            if self.agents_evaluated == 0:
                return "no offers"
            return f"{_agents(self.agents_evaluated)} evaluated, none filtered"
        ranked = sorted(self.filtered.items(), key=lambda item: (-item[1], item[0]))
        reasons = ", ".join(f"{reason} ({count})" for reason, count in ranked)
        return f"{_agents(total)} filtered: {reasons}"


def _agents(count: int) -> str:
    return f"{count} agent" if count == 1 else f"{count} agents"
