"""Offers: who gets which agent's resources, and what a framework does with them.

Allocation runs in one loop (:meth:`Allocator.run`): ``allocation_batch``
seconds after any change (a task ended, an offer was declined, a framework
subscribed or revived), so bursts of changes become one OFFERS event per
framework, and a full pass every ``allocation_interval`` seconds once a
filter has expired (or at least every second): with nothing changed and no
filter expired, a pass would offer nothing new, and a pass over every agent
is the master's largest cost. One
allocation pass walks the offerable agents (reachable, active, not draining,
not DOWN) and, for each, the subscribed and unsuppressed ``(framework, role)``
pairs:

1. resources reserved for the role go to that role's offer;
2. unreserved resources go to the first pair not filtered on this agent
   (roles, then frameworks, ordered by the tasks and offers they hold,
   recounted after each offer: a count-based stand-in for DRF),
   capped by the role's quota limits (consumption counts what the role holds
   and is offered plus everything reserved for it);
3. an offer is made when it holds anything; one offer per (agent, role), with
   ``allocation_info`` for MULTI_ROLE frameworks.

Filters are per (framework, agent, role): DECLINE, and the unused part of an
ACCEPT, refuse for ``refuse_seconds`` (5 by default) any offer that fits in
what was refused. REVIVE clears them and unsuppresses; SUPPRESS stops offers.

ACCEPT (:meth:`Allocator.accept`) validates the offers (an invalid, used or
rescinded id turns every LAUNCH into TASK_LOST/TASK_DROPPED with
REASON_INVALID_OFFERS, never an HTTP error), then applies RESERVE,
UNRESERVE, LAUNCH and LAUNCH_GROUP in order against the offered resources.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from operator import attrgetter
from typing import TYPE_CHECKING

from adapters.mesos import (
    TERMINAL_TASK_STATES,
    URL,
    Address,
    AgentID,
    AllocationInfo,
    CallAccept,
    EventOffers,
    EventRescind,
    FrameworkID,
    Offer,
    OfferID,
    OfferOperationType,
    SchedulerEvent,
    SchedulerEventType,
    TaskInfo,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    TaskStatusSource,
)
from localcluster.mesos.operations import apply_operations
from localcluster.mesos.resources import Bag, to_resources
from localcluster.mesos.state import Agent, Framework, OfferRecord, adapt

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["Allocator"]

logger = logging.getLogger(__name__)

_MAX_REFUSE = 365 * 24 * 3600.0
_ROLE = attrgetter("role")
_FULL_PASS_EVERY = 1.0  # seconds: a full pass at least this often, filters or not
_MIN_CPUS = 0.01
_MIN_MEM = 32.0


class Allocator:
    """Offer generation and the offer calls (see the module docstring)."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self._dirty = asyncio.Event()
        self._full = True  # next pass looks at every agent
        self._agents: set[str] = set()  # else only at these (their resources changed)
        self._expiry = math.inf  # earliest filter expiry the last full pass did not see
        self._full_at = 0.0  # monotonic time of the last full pass

    def trigger(self, agent_id: str | None = None) -> None:
        """Something changed (on one agent, or anywhere): allocate soon."""
        if agent_id is None:
            self._full = True
        else:
            self._agents.add(agent_id)
        self._dirty.set()

    async def run(self) -> None:
        settings = self.master.settings
        while True:
            try:
                # Not wait_for: on 3.11 it swallows a cancel that meets the wake.
                async with asyncio.timeout(settings.allocation_interval):
                    await self._dirty.wait()
                await asyncio.sleep(settings.allocation_batch)
            except TimeoutError:
                now = time.monotonic()
                if now < self._expiry and now - self._full_at < _FULL_PASS_EVERY:
                    continue  # nothing changed and no filter expired: nothing new to offer
                self._full = True  # the periodic pass catches expired filters
            self._dirty.clear()
            only = None if self._full else self._agents
            self._full, self._agents = False, set()
            try:
                self.allocate(only)
            except Exception:
                logger.exception("allocation pass failed")
            if only is None:
                self._full_at = time.monotonic()
                self._expiry = min(
                    (
                        expiry
                        for fw in self.master.state.frameworks.values()
                        for expiry, _ in fw.filters.values()
                    ),
                    default=math.inf,
                )

    # --------------------------------------------------------------- allocation

    def _pairs(self) -> list[tuple[Framework, str]]:
        frameworks = [
            fw for fw in self.master.state.frameworks.values() if fw.connected and fw.roles
        ]
        return [(fw, role) for fw in frameworks for role in fw.roles if role not in fw.suppressed]

    def _consumption(self) -> dict[str, dict[str, float]]:
        """role -> resource name -> amount held, offered or reserved (quota roles only)."""
        state = self.master.state
        limited = {role for role, (_, limits) in state.quotas.items() if limits}
        used: dict[str, dict[str, float]] = {role: {} for role in limited}
        if not limited:
            return used

        def add(role: str, bag: Bag) -> None:
            if role in used:
                for (name, resv), value in bag.scalars.items():
                    if resv is None:
                        used[role][name] = used[role].get(name, 0.0) + value

        for fw in state.frameworks.values():
            for rec in fw.tasks.values():
                if rec.state not in TERMINAL_TASK_STATES:
                    add(rec.role, rec.resources)
            for offer in fw.offers.values():
                add(offer.role, offer.resources)
        for agent in state.agents.values():
            for (name, resv), value in agent.total.scalars.items():
                if resv is not None and resv[1] in used:
                    used[resv[1]][name] = used[resv[1]].get(name, 0.0) + value
        return used

    def allocate(self, only: set[str] | None = None) -> None:
        """One pass over every agent, or over the agents in ``only``."""
        pairs = self._pairs()
        if not pairs:
            return
        state = self.master.state
        now = time.monotonic()
        used = self._consumption()
        batches: dict[str, list[Offer]] = {}
        if only is None:
            agents = list(state.agents.values())
        else:
            agents = [state.agents[a] for a in sorted(only) if a in state.agents]
        # A count-based stand-in for DRF, roles first, then frameworks: whoever holds the
        # fewest tasks and offers goes first; each offer made moves it back in the queue.
        fw_share = {fw.id: len(fw.tasks) + len(fw.offers) for fw, _ in pairs}
        role_share = dict.fromkeys((role for _, role in pairs), 0)
        for fw in {fw.id: fw for fw, _ in pairs}.values() if len(pairs) > 1 else ():
            taken = Counter(map(_ROLE, fw.tasks.values()))
            taken.update(map(_ROLE, fw.offers.values()))
            for role in role_share:
                role_share[role] += taken[role]
        for agent in agents:
            if not agent.offerable():
                continue
            if len(pairs) > 1:
                pairs.sort(key=lambda pair: (role_share[pair[1]], fw_share[pair[0].id]))
            available = agent.total.copy()
            available.subtract(agent.allocated)
            available.subtract(agent.offered)
            if available.empty():
                continue
            unreserved_taken = False
            for fw, role in pairs:
                portion = available.select(roles=[role])
                if not unreserved_taken:
                    free = available.select(roles=[None])
                    limits = state.quotas.get(role, ({}, {}))[1]
                    if limits:
                        held = used.get(role, {})
                        free = free.cap(
                            {k: max(0.0, v - held.get(k, 0.0)) for k, v in limits.items()}
                        )
                    portion.add(free)
                if portion.empty() or not _worth_offering(portion):
                    continue
                if self._filtered(fw, agent, role, portion, now):
                    continue
                if portion.select(roles=[None]).scalars or portion.select(roles=[None]).ranges:
                    unreserved_taken = True
                    for (name, resv), value in portion.scalars.items():
                        if resv is None and role in used:
                            used[role][name] = used[role].get(name, 0.0) + value
                available.subtract(portion)
                fw_share[fw.id] += 1
                role_share[role] += 1
                batches.setdefault(fw.id, []).append(self._offer(fw, agent, role, portion))
        for fw_id, offers in batches.items():
            fw = state.frameworks[fw_id]
            logger.debug("offering %d agents to framework %s", len(offers), fw_id)
            self.master.send(
                fw, SchedulerEvent.wrap(SchedulerEventType.OFFERS, EventOffers(offers=offers))
            )

    def _filtered(self, fw: Framework, agent: Agent, role: str, portion: Bag, now: float) -> bool:
        entry = fw.filters.get((agent.id, role))
        if entry is None:
            return False
        expiry, refused = entry
        if expiry <= now:
            del fw.filters[(agent.id, role)]
            return False
        return refused.contains(portion)

    def _offer(self, fw: Framework, agent: Agent, role: str, portion: Bag) -> Offer:
        record = OfferRecord(
            id=self.master.state.offer_id(),
            framework_id=fw.id,
            agent_id=agent.id,
            role=role,
            resources=portion,
        )
        fw.offers[record.id] = record
        agent.offered.add(portion)
        multi = fw.multi_role
        return Offer(
            id=OfferID(value=record.id),
            framework_id=FrameworkID(value=fw.id),
            agent_id=AgentID(value=agent.id),
            hostname=agent.hostname,
            url=URL(
                scheme="http",
                address=Address(hostname=agent.hostname, ip=agent.ip, port=agent.port),
                path=f"/{agent.process}",
            ),
            resources=to_resources(portion, role=role if multi else None, refined=fw.refined),
            attributes=agent.attributes,
            allocation_info=AllocationInfo(role=role) if multi else None,
            unavailability=self.master.maintenance.unavailability(agent),
        )

    # ------------------------------------------------------------------- offers

    def recover(
        self,
        fw: Framework,
        offer: OfferRecord,
        *,
        refuse: float | None = None,
        refused: Bag | None = None,
    ) -> None:
        """Give an offer's resources back, optionally filtering them for ``refuse`` seconds."""
        fw.offers.pop(offer.id, None)
        agent = self.master.state.agents.get(offer.agent_id)
        if agent is not None:
            agent.offered.subtract(offer.resources)
        if refuse and refuse > 0 and refused is not None and not refused.empty():
            expiry = time.monotonic() + min(refuse, _MAX_REFUSE)
            fw.filters[(offer.agent_id, offer.role)] = (expiry, refused)
            self._expiry = min(self._expiry, expiry)
        self.trigger(offer.agent_id)

    def recover_all(self, fw: Framework, *, notify: bool) -> None:
        for offer in list(fw.offers.values()):
            if notify:
                self.rescind(offer)
            else:
                self.recover(fw, offer)

    def rescind(self, offer: OfferRecord) -> None:
        """RESCIND an outstanding offer and take its resources back."""
        fw = self.master.state.frameworks.get(offer.framework_id)
        if fw is None:
            return
        self.recover(fw, offer)
        event = SchedulerEvent.wrap(
            SchedulerEventType.RESCIND, EventRescind(offer_id=OfferID(value=offer.id))
        )
        self.master.send(fw, event)

    def rescind_agent(self, agent: Agent) -> None:
        for fw in self.master.state.frameworks.values():
            for offer in list(fw.offers.values()):
                if offer.agent_id == agent.id:
                    self.rescind(offer)

    def decline(self, fw: Framework, offer_ids: list[str], refuse: float | None) -> None:
        seconds = self.master.settings.default_refuse_seconds if refuse is None else refuse
        for offer_id in offer_ids:
            offer = fw.offers.get(offer_id)
            if offer is not None:
                self.recover(fw, offer, refuse=seconds, refused=offer.resources.copy())

    def revive(self, fw: Framework, roles: list[str]) -> None:
        targets = set(roles or fw.roles)
        fw.suppressed -= targets
        for key in [k for k in fw.filters if k[1] in targets]:
            del fw.filters[key]
        self.trigger()

    def suppress(self, fw: Framework, roles: list[str]) -> None:
        fw.suppressed |= set(roles or fw.roles)

    # ------------------------------------------------------------------- accept

    def accept(self, fw: Framework, call: CallAccept) -> None:
        ids = [o.value for o in call.offer_ids]
        offers = [fw.offers.get(i) for i in ids]
        valid = [o for o in offers if o is not None]
        agents = {o.agent_id for o in valid}
        problem = None
        if not ids:
            problem = "No offers specified"
        elif len(valid) != len(ids):
            missing = next(i for i, o in zip(ids, offers, strict=True) if o is None)
            problem = f"Offer {missing} is no longer valid"
        elif len(agents) != 1 or len(set(ids)) != len(ids):
            problem = "Aggregated offers must belong to one agent and be distinct"
        for offer in valid:
            fw.offers.pop(offer.id, None)
        if problem is not None:
            for offer in valid:
                fw.offers[offer.id] = offer
                self.recover(fw, offer)
            self._drop_launches(fw, call, problem)
            return
        agent = self.master.state.agents[valid[0].agent_id]
        role = valid[0].role
        remaining = Bag()
        for offer in valid:
            remaining.add(offer.resources)
            agent.offered.subtract(offer.resources)
        apply_operations(self.master, fw, agent, role, remaining, call.operations)
        refuse = (
            call.filters.refuse_seconds
            if call.filters and call.filters.refuse_seconds is not None
            else None
        )
        seconds = self.master.settings.default_refuse_seconds if refuse is None else float(refuse)
        if not remaining.empty() and seconds > 0:
            expiry = time.monotonic() + min(seconds, _MAX_REFUSE)
            fw.filters[(agent.id, role)] = (expiry, remaining)
            self._expiry = min(self._expiry, expiry)
        self.trigger(agent.id)

    def _drop_launches(self, fw: Framework, call: CallAccept, problem: str) -> None:
        logger.info("framework %s accepted invalid offers: %s", fw.id, problem)
        state = adapt(fw, TaskState.TASK_DROPPED)
        for op in call.operations:
            infos: list[TaskInfo] = []
            if op.type == OfferOperationType.LAUNCH and op.launch is not None:
                infos = op.launch.task_infos
            elif op.type == OfferOperationType.LAUNCH_GROUP and op.launch_group is not None:
                infos = op.launch_group.task_group.tasks
            for info in infos:
                status = TaskStatus(
                    task_id=info.task_id,
                    state=state,
                    source=TaskStatusSource.SOURCE_MASTER,
                    reason=TaskStatusReason.REASON_INVALID_OFFERS,
                    message=f"Task launched with invalid offers: {problem}",
                    agent_id=info.agent_id,
                    timestamp=time.time(),
                )
                self.master.tasks.send_update(fw, status)


def _worth_offering(bag: Bag) -> bool:
    return bag.scalar("cpus") >= _MIN_CPUS or bag.scalar("mem") >= _MIN_MEM
