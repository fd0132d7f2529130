"""The one-line explanation that goes into App status and ``dcosctl describe``."""

from __future__ import annotations

import pytest

from reconciler.placement import AgentOffer, PlacementMetrics

AGENT = AgentOffer(
    offer_id="o1", agent_id="a1", hostname="h1", role="checkout", reserved=True, attributes={}
)


@pytest.mark.parametrize(
    ("evaluated", "reasons", "line"),
    [
        pytest.param(0, [], "no offers", id="no-offers"),
        pytest.param(3, [], "3 agents evaluated, none filtered", id="none-filtered"),
        pytest.param(1, ["host Draining"], "1 agent filtered: host Draining (1)", id="singular"),
        pytest.param(
            12,
            ["UNIQUE hostname"] * 4 + ["cpus exhausted"] * 8,
            "12 agents filtered: cpus exhausted (8), UNIQUE hostname (4)",
            id="most-common-first",
        ),
        pytest.param(
            4,
            ["quota mem", "cpus exhausted", "quota mem", "CLUSTER rack r2"],
            "4 agents filtered: quota mem (2), CLUSTER rack r2 (1), cpus exhausted (1)",
            id="ties-by-reason",
        ),
    ],
)
def test_summary(evaluated: int, reasons: list[str], line: str) -> None:
    metrics = PlacementMetrics(agents_evaluated=evaluated)
    for reason in reasons:
        metrics.filter(AGENT, reason)
    assert metrics.summary() == line
    assert metrics.agents_filtered == len(reasons)


def test_score_keeps_a_copy_of_the_chosen_agents_scores() -> None:
    metrics = PlacementMetrics()
    scores = {"spread rack": 0.5, "anti-affinity": 1.0}
    metrics.score(scores, 0.75)
    scores.clear()
    assert metrics.scores == {"spread rack": 0.5, "anti-affinity": 1.0}
    assert metrics.final_score == 0.75
