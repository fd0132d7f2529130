"""The Mesos framework: one subscription, offers matched to launches, task states recorded.

:class:`MesosFramework` runs only while the controller manager leads
(``Manager.add_runnable``); each term it loads the instance records, reads
the framework id persisted in etcd and subscribes with it, so a new leader
(or a restarted one) fails the same framework over and keeps its tasks::

    run ─▶ load records ─▶ subscribe(roles) ─▶ events ──▶ SUBSCRIBED: reconcile
      │                         ▲                   ├──▶ OFFERS / RESCIND: offer pool
      │                         └── roles changed ──┘──▶ UPDATE: update queue
      ├─▶ matcher (every tick or when woken): place, write records, ACCEPTs; expire
      │   held offers; REVIVE when launches arrive and find too few offers
      └─▶ updater: records the task states, then ACKNOWLEDGEs

Roles (MULTI_ROLE): one per Domain (``Domain.mesos_role``) plus the shared
pool ``*``, from the Domain informer's cache; when they change the framework
subscribes again with the new set (same framework id).

**At most once.** A placed instance's record (Pending, agent and host set) is
written to etcd before the ACCEPT with its LAUNCH is sent; a crash in between
leaves a record Mesos does not know, which reconciliation turns into Lost,
and the App controller replaces it. Each offer gets ONE ACCEPT carrying the
LAUNCH of every instance placed on it. The ACCEPTs of one pass are sent
concurrently (at most ``accept_concurrency`` at once), after the flush.

**Offers at hand.** While launches are queued, an offer that placed nothing
is held for ``offer_hold_seconds`` and then declined with ``refuse_seconds``.
While nothing is queued, up to ``idle_offers`` offers are kept until used or
rescinded and the rest are declined with ``idle_refuse_seconds``: an idle
framework is offered again only what a task's end frees or a filter's end
returns. A replacement is placed on a held offer on the next pass, with no
REVIVE and no wait for the allocator. REVIVE is sent when new launches stay
queued after a pass (at most every ``revive_interval``). The unused part of
an accepted offer is refused for ``refuse_seconds`` only when nothing is left
queued. With ``idle_offers`` 0 every offer is declined and offers are
SUPPRESSed while idle.

**Durable updates.** A status update changes the record in memory, the
record is flushed to etcd, and only then is the update acknowledged; when
the write fails nothing is acknowledged and Mesos sends the update again.
Updates are applied in batches (all that arrived during one flush). An
update older than the record, or about a record already terminal, changes
nothing; a task that is alive but has no record (or only an ended one) is
killed, once: a second update of it (the master resending its last
unacknowledged update after a failover, or reconciliation) sends no second
KILL until Mesos reports the task ended, a new subscription starts (a KILL
may have been lost) or ``reconcile_interval`` passed. Killing records ignore
live states until Mesos reports the end.

**Reconciliation.** On every SUBSCRIBED, explicit reconciliation of every
non-terminal record, then implicit (an empty list), so tasks nobody knows
surface and are killed, and KILL again for every Killing record; explicit
reconciliation again every ``reconcile_interval``, and of the Unreachable
records every ``unreachable_reconcile_interval`` (a healed agent's tasks
come back without an update).

**Addresses.** With an :class:`~reconciler.ipam.Ipam` and the IPPools
(:mod:`reconciler.framework.addresses`), placement counts the free addresses
of each host's block, each placed instance gets its address before its
record is written (the record and the launch carry it), and the address is
released once the instance's record is terminal in etcd (retried with
backoff until it succeeds). Each term's first listing of a pool releases the
addresses of instances with a terminal record or none.

The App controller's interface: :meth:`MesosFramework.instances`,
:meth:`~MesosFramework.request`, :meth:`~MesosFramework.cancel`,
:meth:`~MesosFramework.kill`, :meth:`~MesosFramework.placement_summary` and
:meth:`~MesosFramework.take_launched`; records' listeners queue the App
whose records changed. The next hop is :mod:`reconciler.controllers.app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import aclosing
from datetime import UTC, datetime

from adapters.protocols import (
    FrameworkEvent,
    MesosCodec,
    MesosScheduler,
    OfferRescinded,
    OffersReceived,
    Subscribed,
    TaskLaunch,
    TaskUpdate,
)
from crds.app import App, AppSpec
from crds.domain import Domain
from crds.errors import DcosError
from crds.host import Host
from crds.ippool import IPPool
from reconciler.apps.instances import Instance, InstanceState, from_task_state
from reconciler.apps.records import InstanceRecords
from reconciler.framework.addresses import Addresses
from reconciler.framework.matcher import AppResources, OfferMatcher
from reconciler.framework.offers import OfferPool
from reconciler.framework.queue import LaunchQueue
from reconciler.framework.settings import FrameworkSettings
from reconciler.framework.updates import apply_update
from reconciler.ipam import Ipam
from reconciler.placement import SHARED_ROLE, AppKey, build_default_stack
from reconciler.runtime.clock import Clock, MonotonicClock
from reconciler.runtime.metrics import RuntimeMetrics

__all__ = ["MesosFramework"]

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ended(state: str) -> bool:
    """The Mesos task state is terminal (an unknown one is not)."""
    try:
        return from_task_state(state).is_terminal
    except ValueError:
        return False


def _raise_if_cancelling(exc: BaseException) -> None:
    """Raise CancelledError when this task's cancel was requested: an awaited call may
    turn a cancel into an error (gather takes a child's error as its outcome, gRPC a
    cancel meeting a completed call), and a loop retrying errors must end instead."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class MesosFramework:
    def __init__(
        self,
        *,
        mesos: MesosScheduler,
        codec: MesosCodec,
        records: InstanceRecords,
        domains: Callable[[], Sequence[Domain]],
        hosts: Callable[[], Sequence[Host]] = tuple,
        ipam: Ipam | None = None,
        ip_pools: Callable[[], Sequence[IPPool]] = tuple,
        settings: FrameworkSettings | None = None,
        metrics: RuntimeMetrics | None = None,
        clock: Clock | None = None,
        wall: Callable[[], datetime] = _utcnow,
        agents_waiting: Callable[[], Mapping[str, tuple[str, ...]]] = dict,
        app_resources: AppResources | None = None,
    ) -> None:
        self._mesos = mesos
        self._codec = codec
        self.records = records
        self._domains = domains
        self._hosts = hosts
        self.settings = settings or FrameworkSettings()
        self._metrics = metrics or RuntimeMetrics()
        self._clock = clock or MonotonicClock()
        self._wall = wall
        self.queue = LaunchQueue()
        self.offers = OfferPool()
        self.addresses = (
            None
            if ipam is None
            else Addresses(
                ipam=ipam,
                pools=ip_pools,
                hosts=hosts,
                clock=self._clock,
                refresh_seconds=self.settings.ipam_refresh_seconds,
                retry_initial=self.settings.release_retry_initial,
                retry_max=self.settings.release_retry_max,
            )
        )
        self._release_wake = asyncio.Event()
        self._ending: set[str] = set()  # records turned terminal, not yet flushed
        if self.addresses is not None:
            self.addresses.on_release = self._release_wake.set
        self._matcher_pass = OfferMatcher(
            queue=self.queue,
            offers=self.offers,
            records=records,
            domains=domains,
            hosts=hosts,
            stack=build_default_stack(strategy=self.settings.strategy),
            wall=wall,
            addresses=self.addresses,
            agents_waiting=agents_waiting,
            app_resources=app_resources,
        )
        self.framework_id: str | None = None
        self.subscriptions = 0  # SUBSCRIBED events seen, this process
        self.subscribed = asyncio.Event()
        self._updates: asyncio.Queue[TaskUpdate] = asyncio.Queue()
        self._wake = asyncio.Event()  # the matcher runs a pass now
        self._restart = asyncio.Event()  # the roles changed: subscribe again
        self._roles: tuple[str, ...] = ()
        self._suppressed = False
        self._revived = (0, -1e9)  # (queue generation, clock time) of the last REVIVE
        self._reconciled_at = 0.0
        self._unreachable_reconciled_at = 0.0
        self._launched: Counter[AppKey] = Counter()  # launches not yet reported as events
        self._killed: dict[str, float] = {}  # task id -> clock time of its KILL (no record)
        self.passes = 0  # matching passes run, for tests and logs

    # ------------------------------------------------ the App controller's side

    @property
    def ready(self) -> bool:
        """The records of this term are loaded: the controller may plan."""
        return self.records.loaded

    def instances(self, domain: str, app: str) -> list[Instance]:
        """The app's records plus its queued (not yet placed) instances."""
        return self.records.of_app(domain, app) + self.queue.pending(AppKey(domain, app))

    def request(
        self, *, app: App, domain: Domain, spec: AppSpec, instances: Sequence[Instance]
    ) -> None:
        """Queue ``instances`` (Pending, no agent) of ``app`` for placement at ``spec``."""
        self.queue.request(app=app, domain=domain, spec=spec, instances=instances)
        self._wake.set()

    def cancel(self, key: AppKey) -> None:
        self.queue.cancel(key)

    def placement_summary(self, key: AppKey) -> str | None:
        return self.queue.summary(key)

    def home_room(self, app: App, domain: Domain, *, version: str, limit: int) -> tuple[int, int]:
        """``(queued, room)``: how many of ``app``'s queued instances the held offers of
        its domain's own hosts would take now (borrowing disabled, after the other
        queued launches), and how many more, up to ``limit``; places nothing."""
        return self._matcher_pass.home_room(app, domain, version=version, limit=limit)

    @property
    def offers_suppressed(self) -> bool:
        """Offers are SUPPRESSed (nothing queued and ``idle_offers`` is 0)."""
        return self._suppressed

    def take_launched(self, key: AppKey) -> int:
        """Instances of the app launched since the last call."""
        return self._launched.pop(key, 0)

    async def kill(self, instances: Sequence[Instance]) -> int:
        """Kill ``instances``: queued ones are dropped, placed ones marked Killing
        (durably) and killed on Mesos. The number of KILL calls sent."""
        marked = []
        for inst in instances:
            if self.queue.discard(inst.instance_id):
                continue
            rec = self.records.get(inst.instance_id)
            if rec is None or rec.is_terminal:
                continue
            update = {"state": InstanceState.KILLING, "last_update_at": self._wall()}
            self.records.put(rec.model_copy(update=update))
            marked.append(rec)
        if not marked:
            return 0
        await self.records.flush()
        if not self.subscribed.is_set():
            return 0  # retried by the planner (KillRetry) once subscribed
        for rec in marked:
            await self._kill_task(rec.instance_id, rec.agent_id)
        return len(marked)

    # -------------------------------------------------------------- running

    async def run(self) -> None:
        """The framework during one term of leadership (cancelled when it ends)."""
        self.queue.clear()
        self.offers.drain()
        self._updates = asyncio.Queue()
        if self.addresses is not None:
            self.addresses.reset()  # listed and swept again this term
            self._ending.clear()
        await self.records.load()
        self.framework_id = await self.records.framework_id()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._matcher(), name="framework:matcher")
                tg.create_task(self._updater(), name="framework:updater")
                if self.addresses is not None:
                    tg.create_task(self._releaser(self.addresses), name="framework:releaser")
                await self._subscriptions()
        finally:
            self.subscribed.clear()
            self.records.loaded = False

    def _wanted_roles(self) -> tuple[str, ...]:
        return tuple(sorted({d.mesos_role for d in self._domains()} | {SHARED_ROLE}))

    async def _subscriptions(self) -> None:
        while True:
            self._restart.clear()
            self._roles = self._wanted_roles()
            try:
                await self._subscription_until_restart()
            except DcosError as exc:
                logger.warning("Mesos subscription ended: %s", exc)
                await asyncio.sleep(self.settings.resubscribe_delay)
            finally:
                self.subscribed.clear()
            if self._restart.is_set():
                logger.info(
                    "roles changed to %s: subscribing again", ", ".join(self._wanted_roles())
                )

    async def _subscription_until_restart(self) -> None:
        """The subscription, ended as soon as the roles change (not at the next event)."""
        stream = asyncio.create_task(self._subscription(), name="framework:subscription")
        restart = asyncio.create_task(self._restart.wait(), name="framework:restart")
        try:
            await asyncio.wait((stream, restart), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, restart):
                task.cancel()
            await asyncio.wait((stream, restart))
        failure = None if stream.cancelled() else stream.exception()
        if failure is not None:
            raise failure

    async def _subscription(self) -> None:
        settings = self.settings
        info = self._codec.framework_info(
            name=settings.name,
            user=settings.user,
            roles=self._roles,
            failover_timeout=settings.failover_timeout,
            checkpoint=settings.checkpoint,
            framework_id=self.framework_id,
        )
        self._suppressed = not self.queue and self.settings.idle_offers <= 0
        suppressed = self._roles if self._suppressed else ()
        async with aclosing(self._mesos.subscribe(info, suppressed_roles=suppressed)) as events:
            async for raw in events:
                event = self._codec.decode(raw)
                if event is not None:
                    await self._handle(event)
                if self._restart.is_set():
                    return

    async def _handle(self, event: FrameworkEvent) -> None:
        if isinstance(event, Subscribed):
            await self._on_subscribed(event)
        elif isinstance(event, OffersReceived):
            self.offers.add(event.offers, self._clock.now())
            self._wake.set()
        elif isinstance(event, OfferRescinded):
            self.offers.rescind(event.offer_id)
        elif isinstance(event, TaskUpdate):
            self._updates.put_nowait(event)

    async def _on_subscribed(self, event: Subscribed) -> None:
        self.offers.drain()  # offers of an earlier stream are void
        if event.framework_id != self.framework_id:
            await self.records.save_framework_id(event.framework_id)
            self.framework_id = event.framework_id
        self.subscriptions += 1
        self._killed.clear()  # KILLs sent on the old stream may be lost
        self.subscribed.set()
        await self._reconcile(implicit=True)
        for inst in self.records.all():  # KILLs sent while the stream was down may be lost
            if inst.state is InstanceState.KILLING:
                await self._kill_task(inst.instance_id, inst.agent_id)
        self._wake.set()

    async def _reconcile(self, *, implicit: bool) -> None:
        tasks = [(i.instance_id, i.agent_id) for i in self.records.all() if not i.is_terminal]
        async with asyncio.timeout(self.settings.call_timeout):
            if tasks:
                await self._mesos.reconcile(tasks)
            if implicit:
                await self._mesos.reconcile([])
        self._reconciled_at = self._clock.now()
        logger.info("reconciling %d tasks%s", len(tasks), " and implicitly" if implicit else "")

    async def _reconcile_unreachable(self) -> None:
        """Ask about the Unreachable records every ``unreachable_reconcile_interval``."""
        now = self._clock.now()
        if now - self._unreachable_reconciled_at < self.settings.unreachable_reconcile_interval:
            return
        self._unreachable_reconciled_at = now
        tasks = [
            (i.instance_id, i.agent_id)
            for i in self.records.all()
            if i.state is InstanceState.UNREACHABLE
        ]
        if tasks:
            async with asyncio.timeout(self.settings.call_timeout):
                await self._mesos.reconcile(tasks)
            logger.info("reconciling %d unreachable tasks", len(tasks))

    # -------------------------------------------------------- status updates

    async def _updater(self) -> None:
        while True:
            batch = [await self._updates.get()]
            while not self._updates.empty():
                batch.append(self._updates.get_nowait())
            try:
                await self._record_updates(batch)
            except (DcosError, TimeoutError) as exc:
                _raise_if_cancelling(exc)
                logger.warning(
                    "%d status update(s) not recorded, not acknowledged: %s", len(batch), exc
                )

    async def _record_updates(self, batch: list[TaskUpdate]) -> None:
        live = {u.task_id for u in batch if self._holds_ip(u.task_id)}
        doomed = [u for u in batch if self._apply(u)]
        self._ending |= {i for i in live if not self._holds_ip(i)}
        await self.records.flush()  # durable before any acknowledgement
        self._release_ended()
        for update in doomed:
            if not self._first_kill(update.task_id):
                continue
            logger.warning(
                "task %s (%s) has no live record: killing it", update.task_id, update.state
            )
            await self._kill_task(update.task_id, update.agent_id)
        acks = [u for u in batch if u.uuid is not None and u.agent_id is not None]
        async with asyncio.timeout(self.settings.call_timeout):
            await asyncio.gather(
                *(
                    self._mesos.acknowledge(agent_id=u.agent_id, task_id=u.task_id, uuid=u.uuid)
                    for u in acks
                    if u.agent_id is not None and u.uuid is not None
                )
            )

    # ------------------------------------------------------------ addresses

    def _holds_ip(self, instance_id: str) -> bool:
        rec = self.records.get(instance_id) if self.addresses is not None else None
        return rec is not None and rec.ip is not None and not rec.is_terminal

    def _release_ended(self) -> None:
        """After a flush: queue the release of the addresses of the instances whose
        records turned terminal (a failed flush keeps them for the next one)."""
        if self.addresses is None:
            return
        for iid in self._ending:
            rec = self.records.get(iid)
            if rec is None or rec.is_terminal:
                self.addresses.release_later(iid, rec.ip if rec else None)
        self._ending.clear()

    async def _releaser(self, addresses: Addresses) -> None:
        """Releases the addresses of ended instances, each retried with backoff; lists
        (and so sweeps) every pool at the start of the term and each new pool later."""
        while True:
            if self.records.loaded:
                await addresses.sweep(self._matcher_pass.keeps)
                await addresses.release_due(self._matcher_pass.keeps)
            due = addresses.next_due()
            wait = self.settings.ipam_refresh_seconds if due is None else due
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, self.settings.ipam_refresh_seconds)):
                    await self._release_wake.wait()
            self._release_wake.clear()

    def _apply(self, update: TaskUpdate) -> bool:
        """Record ``update`` in memory; True when the task must be killed (no live record)."""
        outcome = apply_update(self.records.get(update.task_id), update, now=self._wall())
        if outcome.record is not None:
            self.records.put(outcome.record)
        if self._killed and _ended(update.state):
            self._killed.pop(update.task_id, None)
        return outcome.kill

    def _first_kill(self, task_id: str) -> bool:
        """Remember the KILL of a task with no record; False when it was sent already."""
        now = self._clock.now()
        memory = self.settings.reconcile_interval
        if len(self._killed) > 1024:
            self._killed = {t: at for t, at in self._killed.items() if now - at < memory}
        at = self._killed.get(task_id)
        if at is not None and now - at < memory:
            return False
        self._killed[task_id] = now
        return True

    async def _kill_task(self, task_id: str, agent_id: str | None) -> None:
        try:
            async with asyncio.timeout(self.settings.call_timeout):
                await self._mesos.kill(task_id, agent_id)
            self._metrics.kills.inc()
        except (DcosError, TimeoutError) as exc:
            logger.warning("KILL %s failed (retried later): %s", task_id, exc)

    # ------------------------------------------------------------- matcher

    async def _matcher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.tick_seconds):
                    await self._wake.wait()
            self._wake.clear()
            if self._wanted_roles() != self._roles:
                self._restart.set()
            if not self.subscribed.is_set() or self._restart.is_set():
                continue  # no ACCEPT on a stream about to be replaced
            try:
                await self._match()
                await self._expire()
                await self._suppress_or_revive()
                if self._clock.now() - self._reconciled_at >= self.settings.reconcile_interval:
                    await self._reconcile(implicit=False)
                await self._reconcile_unreachable()
            except (DcosError, TimeoutError) as exc:
                _raise_if_cancelling(exc)
                logger.warning("offer matching failed (retried): %s", exc)

    async def _match(self) -> None:
        self.passes += 1
        started = self._clock.now()
        match = await self._matcher_pass.match(seed=f"{self.framework_id}:{self.passes}")
        if match is None:
            return
        placed = self._clock.now()
        try:
            await self.records.flush()  # at most once: the records first
        except BaseException:
            self._matcher_pass.undo(match)
            raise
        recorded = self._clock.now()
        # Launches left queued want the rest of these agents back at once.
        filters = self._codec.filters(0.0 if self.queue else self.settings.refuse_seconds)
        for offer_id, _ in match.accepts:
            self.offers.take(offer_id)
        gate = asyncio.Semaphore(max(1, self.settings.accept_concurrency))

        async def accept(offer_id: str, launches: tuple[TaskLaunch, ...]) -> int:
            async with gate:
                operation = self._codec.launch_operation(launches)
                async with asyncio.timeout(self.settings.call_timeout):
                    await self._mesos.accept([offer_id], [operation], filters=filters)
            return len(launches)

        outcomes = await asyncio.gather(
            *(accept(offer_id, launches) for offer_id, launches in match.accepts),
            return_exceptions=True,
        )
        self._metrics.launches.inc(sum(n for n in outcomes if isinstance(n, int)))
        for req in match.placed:
            self._launched[req.key] += 1
        logger.info(
            "launched %d instance(s) on %d offer(s): placed in %.2fs, recorded in %.2fs, "
            "accepted in %.2fs",
            len(match.placed),
            len(match.accepts),
            placed - started,
            recorded - placed,
            self._clock.now() - recorded,
        )
        failed = [e for e in outcomes if isinstance(e, BaseException)]
        for exc in failed:
            if not isinstance(exc, DcosError | TimeoutError):
                raise exc
        if failed:  # the records stay; reconciliation reports those tasks unknown (Lost)
            raise failed[0]

    async def _expire(self) -> None:
        settings = self.settings
        if self.queue:  # unfit for what is queued: let Mesos offer something else
            declined = self.offers.expired(self._clock.now(), settings.offer_hold_seconds)
            refuse = settings.refuse_seconds
        else:  # kept at hand until used or rescinded, bounded
            declined = self.offers.excess(settings.idle_offers)
            refuse = settings.idle_refuse_seconds
        if declined:
            async with asyncio.timeout(settings.call_timeout):
                await self._mesos.decline(declined, filters=self._codec.filters(refuse))

    async def _suppress_or_revive(self) -> None:
        now = self._clock.now()
        async with asyncio.timeout(self.settings.call_timeout):
            if not self.queue:
                if not self._suppressed and self.settings.idle_offers <= 0:
                    await self._mesos.suppress()
                    self._suppressed = True
                return
            generation, at = self._revived
            fresh = self.queue.generation != generation
            if self._suppressed or (fresh and now - at >= self.settings.revive_interval):
                await self._mesos.revive()
                self._suppressed = False
                self._revived = (self.queue.generation, now)
