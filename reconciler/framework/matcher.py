"""One matching pass: queued launches placed on held offers, records put in memory.

:class:`OfferMatcher` runs the placement pipeline (:func:`reconciler.placement.place`)
for every queued :class:`~reconciler.framework.queue.LaunchRequest` over the
held offers, with the instances already placed (for constraints and spreading),
host lifecycles and domain quotas as the snapshot. For every placement it
takes the request off the queue and puts the instance's record (Pending,
agent and host set) in :class:`~reconciler.apps.records.InstanceRecords`
memory; the framework then flushes the records and only then sends the
ACCEPTs (:class:`Match`: one per offer, with every launch placed on it). If
the flush fails, :meth:`OfferMatcher.undo` forgets the records and queues the
requests again, so nothing is launched that is not recorded.

It also keeps each app's placement summary (why its last unplaced instance
found no offer) on the queue and tells the records' listeners when it changes,
so the App controller writes it into the status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from adapters.protocols import TaskLaunch
from crds.domain import Domain
from crds.host import Host
from reconciler.apps.records import InstanceRecords
from reconciler.framework.launches import host_ports_for, task_launch
from reconciler.framework.offers import OfferPool
from reconciler.framework.queue import LaunchQueue, LaunchRequest
from reconciler.placement import (
    AppKey,
    Candidate,
    DomainUsage,
    PlacedInstance,
    PlacementResult,
    Snapshot,
    Stack,
    lifecycles_of,
    place,
)

__all__ = ["Match", "OfferMatcher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    accepts: tuple[tuple[str, tuple[TaskLaunch, ...]], ...]  # (offer id, its launches)
    placed: tuple[LaunchRequest, ...]


class OfferMatcher:
    def __init__(
        self,
        *,
        queue: LaunchQueue,
        offers: OfferPool,
        records: InstanceRecords,
        domains: Callable[[], Sequence[Domain]],
        hosts: Callable[[], Sequence[Host]],
        stack: Stack,
        wall: Callable[[], datetime],
    ) -> None:
        self._queue = queue
        self._offers = offers
        self._records = records
        self._domains = domains
        self._hosts = hosts
        self._stack = stack
        self._wall = wall

    def match(self, seed: str) -> Match | None:
        """Place what is queued on what is held; None when nothing was placed."""
        requests = self._queue.requests()
        if not requests or not len(self._offers):
            return None
        result = place(
            [self._candidate(r) for r in requests], self._snapshot(), stack=self._stack, seed=seed
        )
        self._record_summaries(requests, result)
        accepts: list[tuple[str, tuple[TaskLaunch, ...]]] = []
        placed: list[LaunchRequest] = []
        now = self._wall()
        for offer_id, placements in result.by_offer().items():
            launches = []
            for placement in placements:
                req = self._queue.take(placement.candidate.instance_id)
                where = {"agent_id": placement.agent_id, "hostname": placement.hostname}
                self._records.put(req.instance.model_copy(update={**where, "launched_at": now}))
                placed.append(req)
                launches.append(task_launch(req, placement))
            accepts.append((offer_id, tuple(launches)))
        return Match(tuple(accepts), tuple(placed)) if accepts else None

    def undo(self, match: Match) -> None:
        """The records of ``match`` could not be written: forget them, queue them again."""
        self._records.remove(r.instance.instance_id for r in match.placed)
        for r in match.placed:
            self._queue.request(app=r.app, domain=r.domain, spec=r.spec, instances=[r.instance])

    def _candidate(self, req: LaunchRequest) -> Candidate:
        return Candidate.for_app(
            req.app,
            req.domain,
            instance_id=req.instance.instance_id,
            version=req.instance.version,
            host_ports=host_ports_for(req),
        )

    def _snapshot(self) -> Snapshot:
        placed: dict[AppKey, list[PlacedInstance]] = {}
        for inst in self._records.all():
            if inst.is_active and inst.hostname:
                attributes = self._offers.attributes.get(inst.hostname, {"hostname": inst.hostname})
                key = AppKey(inst.domain, inst.app)
                placed.setdefault(key, []).append(PlacedInstance(inst.hostname, attributes))
        return Snapshot(
            offers=self._offers.agent_offers(),
            lifecycles=lifecycles_of(self._hosts()),
            instances={key: tuple(v) for key, v in placed.items()},
            domains={d.metadata.name: DomainUsage.of(d) for d in self._domains()},
        )

    def _record_summaries(self, requests: list[LaunchRequest], result: PlacementResult) -> None:
        unplaced = {u.candidate.app: u.metrics.summary() for u in result.unplaced}
        for key in {r.key for r in requests}:
            summary = unplaced.get(key)
            if summary != self._queue.summary(key):
                self._queue.record_summary(key, summary)
                self._records.notify(key.domain, key.name)
