"""Held offers: what Mesos offered and the framework has not used or declined yet.

Offers arrive in OFFERS events and are held in an :class:`OfferPool` until the
matcher uses them (one ACCEPT each) or they expire: an offer that placed
nothing while launches are queued is held for ``offer_hold_seconds`` and
then declined; while nothing is queued, up to ``idle_offers`` are held until
used (see :mod:`reconciler.framework.framework`). A RESCIND removes it;
a new subscription clears the pool (offers of the old stream are void).

Each offer is converted once, when it arrives, into placement's
:class:`~reconciler.placement.AgentOffer` values, one per role part
(reserved and unreserved), following :meth:`AgentOffer.from_values`;
:meth:`OfferPool.agent_offers` only concatenates them, so a matching pass
does not convert every held offer again. The pool also remembers each
agent's attributes by hostname, so instances already running count towards
constraints and spreading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adapters.protocols import OfferAmounts, OfferView
from reconciler.placement import AgentOffer, Amounts

__all__ = ["HeldOffer", "OfferPool"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldOffer:
    view: OfferView
    received: float  # clock time it arrived
    parts: tuple[AgentOffer, ...]  # the view as placement input, converted once


def _amounts(part: OfferAmounts) -> Amounts:
    return Amounts(cpus=part.cpus, mem=part.mem, disk=part.disk, ports=part.ports)


class OfferPool:
    def __init__(self) -> None:
        self._held: dict[str, HeldOffer] = {}  # offer id -> offer, in arrival order
        self.attributes: dict[str, Mapping[str, str]] = {}  # hostname -> text attributes

    def __len__(self) -> int:
        return len(self._held)

    def add(self, offers: Iterable[OfferView], now: float) -> None:
        for view in offers:
            self._held[view.offer_id] = HeldOffer(view, now, _agent_offers(view))
            text = {k: str(v) for k, v in view.attributes.items()}
            self.attributes[view.hostname] = {**text, "hostname": view.hostname}

    def ids(self) -> list[str]:
        """The held offers' ids, oldest first."""
        return list(self._held)

    def __contains__(self, offer_id: object) -> bool:
        return offer_id in self._held

    def rescind(self, offer_id: str) -> None:
        self._held.pop(offer_id, None)

    def view(self, offer_id: str) -> OfferView | None:
        """The held offer ``offer_id``, left held."""
        held = self._held.get(offer_id)
        return held.view if held is not None else None

    def take(self, offer_id: str) -> OfferView | None:
        held = self._held.pop(offer_id, None)
        return held.view if held is not None else None

    def expired(self, now: float, hold: float) -> list[str]:
        """Remove and return the offers held for ``hold`` seconds or more."""
        out = [oid for oid, held in self._held.items() if now - held.received >= hold]
        for oid in out:
            del self._held[oid]
        return out

    def excess(self, keep: int) -> list[str]:
        """Remove and return the oldest offers beyond the newest ``keep``."""
        out = list(self._held)[: max(0, len(self._held) - keep)]
        for oid in out:
            del self._held[oid]
        return out

    def drain(self) -> list[str]:
        """Remove and return every held offer."""
        out = list(self._held)
        self._held.clear()
        return out

    def agent_offers(self) -> tuple[AgentOffer, ...]:
        """The held offers as placement input (see the module docstring)."""
        return tuple(part for held in self._held.values() for part in held.parts)


def _agent_offers(view: OfferView) -> tuple[AgentOffer, ...]:
    return AgentOffer.from_values(
        offer_id=view.offer_id,
        agent_id=view.agent_id,
        hostname=view.hostname,
        role=view.role,
        attributes=view.attributes,
        reserved=_amounts(view.reserved),
        unreserved=_amounts(view.unreserved),
    )
