"""Placement: which agent takes each instance, as pure functions over a snapshot.

In the style of Nomad's scheduler (the ideas, not the code), one pipeline:

1. :mod:`~reconciler.placement.snapshot`: frozen inputs. Offers
   (:class:`AgentOffer`, converted from Mesos offers by the framework), host
   lifecycles, instances already placed, domain quotas and usage, and the
   :class:`Candidate` instances to place.
2. :mod:`~reconciler.placement.checkers`: feasibility, cheapest first; each
   rejection has a reason.
3. :mod:`~reconciler.placement.scorers`: ranking of the feasible offers (spread
   or bin-pack, anti-affinity), averaged into one score.
4. :mod:`~reconciler.placement.stack`: :func:`build_default_stack` lists the
   stages in order; :func:`place` selects the best offer per candidate,
   consuming resources as it goes (:mod:`~reconciler.placement.state`), with
   ties broken by a seeded shuffle.
5. :mod:`~reconciler.placement.metrics`: why each instance was or was not
   placed, one line for ``App.status.lastPlacement`` and ``dcosctl describe``.

No I/O and no asyncio: the App controller's offer matcher and ``dcosctl plan``
call the same :func:`place`. See ``docs/placement.md``.
"""

from reconciler.placement.checkers import Checker, check_constraint
from reconciler.placement.metrics import PlacementMetrics
from reconciler.placement.scorers import Scorer
from reconciler.placement.snapshot import (
    SHARED_ROLE,
    AgentOffer,
    Amounts,
    AppKey,
    Candidate,
    DomainUsage,
    FreeIps,
    IpPoolOf,
    PlacedInstance,
    Snapshot,
    lifecycles_of,
)
from reconciler.placement.stack import (
    Limit,
    Placement,
    PlacementResult,
    Placer,
    Stack,
    Unplaced,
    build_default_stack,
    place,
    seed_from,
)

__all__ = [
    "SHARED_ROLE",
    "AgentOffer",
    "Amounts",
    "AppKey",
    "Candidate",
    "Checker",
    "DomainUsage",
    "FreeIps",
    "IpPoolOf",
    "Limit",
    "PlacedInstance",
    "Placement",
    "PlacementMetrics",
    "PlacementResult",
    "Placer",
    "Scorer",
    "Snapshot",
    "Stack",
    "Unplaced",
    "build_default_stack",
    "check_constraint",
    "lifecycles_of",
    "place",
    "seed_from",
]
