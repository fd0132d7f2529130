"""The Mesos framework against a real etcd and the local Mesos master (sim tasks).

Each test runs :meth:`MesosFramework.run` as the leader would, queues
instances as the App controller does and watches the records and the
master's own task table. Waits are conditions with deadlines: the records'
listener wakes the waiter on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.etcd import EtcdStore
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import TaskUpdate
from crds.app import App
from crds.domain import Domain
from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import MasterSettings, SimSettings
from reconciler.apps import Instance, InstanceState, new_instance_id, spec_version
from reconciler.apps.records import InstanceRecords, instance_path
from reconciler.framework import FrameworkSettings, MesosFramework
from reconciler.placement import AppKey

TIMEOUT = 10.0
ORDER = ["Pending", "Staging", "Starting", "Running", "Killing"]


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=agents_from_flags(3, cpus=4, mem=4096, ports="31000-31009"),
        heartbeat_interval=1.0,  # a loaded machine may stall the loop for a second
        allocation_interval=0.05,
        allocation_batch=0.005,
        status_update_retry=0.2,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.02),
    )
    async with LocalMaster(settings) as started:
        yield started


def domain() -> Domain:
    return Domain.model_validate(
        {
            "metadata": {"name": "shop"},
            "spec": {"sharedPool": {"borrow": "WhenExhausted"}, "timezone": "Asia/Shanghai"},
        }
    )


def app(name: str = "web", **spec: Any) -> App:
    body = {"image": "busybox:1", "cpus": 0.5, "mem": 64, **spec}
    return App.model_validate({"metadata": {"name": name, "domain": "shop"}, "spec": body})


def fresh(a: App, count: int, rng: random.Random) -> list[Instance]:
    version = spec_version(a.spec)
    return [
        Instance(
            instance_id=new_instance_id(
                domain="shop", app=a.metadata.name, version=version, rng=rng
            ),
            domain="shop",
            app=a.metadata.name,
            version=version,
            launched_at=datetime.now(UTC),
        )
        for _ in range(count)
    ]


class Spy:
    """A MesosScheduler that records calls and checks invariants before passing them on."""

    def __init__(self, inner: MesosSchedulerClient, store: EtcdStore) -> None:
        self.inner = inner
        self.store = store
        self.accepts: list[tuple[list[str], int]] = []  # (offer ids, tasks launched)
        self.unrecorded_launches: list[str] = []  # launched before their record was in etcd
        self.acks: list[tuple[str, str]] = []  # (task id, state acknowledged)
        self.early_acks: list[tuple[str, str, str]] = []  # (task, acked, state in etcd)
        self.states: dict[str, str] = {}  # uuid -> Mesos state of that update
        self.updates: list[str] = []  # Mesos states of the reliable updates received
        self.kills: list[str] = []
        self.revives = 0
        self.declines: list[tuple[list[str], float | None]] = []  # (offer ids, refuse s)
        self.withheld: set[str] = set()  # tasks whose TASK_RUNNING is never acknowledged

    @property
    def framework_id(self) -> Any:
        return self.inner.framework_id

    def subscribe(self, info: Any, *, suppressed_roles: Sequence[str] = ()) -> Any:
        return self.inner.subscribe(info, suppressed_roles=suppressed_roles)

    async def accept(self, offer_ids: Any, operations: Any, *, filters: Any = None) -> None:
        infos = [t for op in operations for t in op.launch.task_infos]
        for info in infos:
            (domain_, app_, _, _) = info.task_id.value.split(".")
            raw = await self.store.get_raw(f"instances/{domain_}/{app_}/{info.task_id.value}")
            if raw is None or Instance.from_json(raw).agent_id != info.agent_id.value:
                self.unrecorded_launches.append(info.task_id.value)
        self.accepts.append(([str(o) for o in offer_ids], len(infos)))
        await self.inner.accept(offer_ids, operations, filters=filters)

    async def acknowledge(self, *, agent_id: Any, task_id: Any, uuid: str) -> None:
        task = str(task_id)
        state = self.states.get(uuid, "?")
        domain_, app_, _, _ = task.split(".")
        raw = await self.store.get_raw(f"instances/{domain_}/{app_}/{task}")
        stored = Instance.from_json(raw).state if raw else None
        wanted = {"TASK_STAGING": "Staging", "TASK_STARTING": "Starting", "TASK_RUNNING": "Running"}
        if state in wanted and (stored is None or _rank(stored) < _rank(wanted[state])):
            self.early_acks.append((task, state, str(stored)))
        if task in self.withheld and state == "TASK_RUNNING":
            return
        self.acks.append((task, state))
        await self.inner.acknowledge(agent_id=agent_id, task_id=task_id, uuid=uuid)

    async def kill(self, task_id: Any, agent_id: Any = None, **kw: Any) -> None:
        self.kills.append(str(task_id))
        await self.inner.kill(task_id, agent_id, **kw)

    async def decline(self, offer_ids: Any, *, filters: Any = None) -> None:
        refuse = None if filters is None else filters.refuse_seconds
        self.declines.append(([str(o) for o in offer_ids], refuse))
        await self.inner.decline(offer_ids, filters=filters)

    async def revive(self, roles: Any = ()) -> None:
        self.revives += 1
        await self.inner.revive(roles)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _rank(state: str) -> int:
    return ORDER.index(state) if state in ORDER else len(ORDER)


class SpyCodec(MesosWireCodec):
    def __init__(self, spy: Spy) -> None:
        self.spy = spy

    def decode(self, event: Any) -> Any:
        out = super().decode(event)
        if isinstance(out, TaskUpdate) and out.uuid is not None:
            self.spy.states[out.uuid] = out.state
            self.spy.updates.append(out.state)
        return out


class FlakyStore:
    """The store, whose commits fail while ``fail(puts)`` says so."""

    def __init__(self, inner: EtcdStore) -> None:
        self.inner = inner
        self.fail: Callable[[Mapping[str, bytes]], bool] = lambda puts: False
        self.failures = 0

    async def get_raw(self, path: str) -> bytes | None:
        return await self.inner.get_raw(path)

    async def list_raw(self, prefix: str) -> list[tuple[str, bytes]]:
        return await self.inner.list_raw(prefix)

    async def commit_raw(self, puts: Mapping[str, bytes], deletes: Sequence[str] = ()) -> None:
        if self.fail(puts):
            self.failures += 1
            from crds.errors import Unavailable

            raise Unavailable("etcd: injected failure")
        await self.inner.commit_raw(puts, deletes)


STOP_TIMEOUT = 10.0


def task_stacks() -> str:
    """The stack of every pending task of the running loop, for a failure message."""
    out = io.StringIO()
    for t in asyncio.all_tasks():
        if not t.done():
            t.print_stack(file=out)
    return out.getvalue()


async def stop(task: asyncio.Task[None], within: float = STOP_TIMEOUT) -> None:
    """Cancel ``task`` and wait for it to end; fail, with every task's stack, past ``within``."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        pytest.fail(f"{task.get_name()} still running {within:g}s after cancel:\n{task_stacks()}")
    failure = None if task.cancelled() else task.exception()
    if failure is not None:
        raise failure


class Harness:
    def __init__(self, local: LocalMaster, store: EtcdStore) -> None:
        self.local = local
        self.store = store
        self.flaky = FlakyStore(store)
        self.changed = asyncio.Event()
        self.rng = random.Random(7)
        self.domains: list[Domain] = [domain()]

    def spy(self, client: MesosSchedulerClient) -> Spy:
        """The spy in front of the framework's scheduler client."""
        return Spy(client, self.store)

    def framework_args(self) -> dict[str, Any]:
        """Further MesosFramework arguments (a harness with IPAM adds its own)."""
        return {}

    @contextlib.asynccontextmanager
    async def framework(self, **settings: Any) -> AsyncIterator[tuple[MesosFramework, Spy]]:
        mesos_settings = MesosSettings(
            masters=(self.local.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
        )
        async with MesosSchedulerClient(mesos_settings) as client:
            spy = self.spy(client)
            records = InstanceRecords(self.flaky)
            records.add_listener(lambda d, a: self.changed.set())
            defaults: dict[str, Any] = {"offer_hold_seconds": 0.3, "refuse_seconds": 0.1}
            fw = MesosFramework(
                mesos=spy,
                codec=SpyCodec(spy),
                records=records,
                domains=lambda: list(self.domains),
                settings=FrameworkSettings(**{**defaults, **settings}),
                **self.framework_args(),
            )
            task = asyncio.create_task(fw.run(), name="test:framework")
            try:
                await self.until(lambda: fw.subscribed.is_set() and fw.ready)
                yield fw, spy
            finally:
                await stop(task)

    async def until(self, predicate: Callable[[], bool], within: float = TIMEOUT) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self.changed.wait()

    def mesos_pending(self, task_id: str) -> list[str]:
        """States of the task's reliable updates the master still waits to see acknowledged."""
        for fw in self.local.master.state.frameworks.values():
            rec = fw.tasks.get(task_id)
            if rec is not None:
                return [str(status.state) for status in rec.pending]
        return []

    def mesos_state(self, task_id: str) -> str | None:
        for fw in self.local.master.state.frameworks.values():
            rec = fw.tasks.get(task_id)
            if rec is not None:
                return str(rec.state)
            for done in fw.completed:
                if done.info.task_id.value == task_id:
                    return str(done.state)
        return None


@pytest.fixture
def harness(local: LocalMaster, store: EtcdStore) -> Harness:
    return Harness(local, store)


def running(fw: MesosFramework, ids: Sequence[str]) -> bool:
    states = [fw.records.get(i) for i in ids]
    return all(s is not None and s.state is InstanceState.RUNNING for s in states)


async def test_records_are_written_before_one_accept_per_offer(harness: Harness) -> None:
    a = app()
    async with harness.framework() as (fw, spy):
        wanted = fresh(a, 12, harness.rng)
        fw.request(app=a, domain=domain(), spec=a.spec, instances=wanted)
        ids = [i.instance_id for i in wanted]
        await harness.until(lambda: running(fw, ids))
        assert spy.unrecorded_launches == []
        assert sum(n for _, n in spy.accepts) == 12
        assert all(len(offers) == 1 for offers, _ in spy.accepts)
        assert len(spy.accepts) < 12  # many launches per ACCEPT
        stored = await harness.store.list_raw("instances/shop/web/")
        assert len(stored) == 12
        inst = Instance.from_json(stored[0][1])
        assert inst.agent_id and inst.hostname and inst.hostname.startswith("agent-")
        assert {harness.mesos_state(i) for i in ids} == {"TASK_RUNNING"}
        framework_id = await harness.store.get_raw("framework/id")
        assert framework_id is not None and framework_id.decode() == fw.framework_id
        assert fw.queue.generation > 0 and len(fw.queue) == 0


async def test_a_replacement_launches_on_an_offer_held_while_idle(harness: Harness) -> None:
    a = app()
    async with harness.framework(offer_hold_seconds=60.0) as (fw, spy):
        first = fresh(a, 1, harness.rng)
        fw.request(app=a, domain=domain(), spec=a.spec, instances=first)
        await harness.until(lambda: running(fw, [first[0].instance_id]))
        await harness.until(lambda: len(fw.offers) > 0)  # held with nothing queued
        assert len(fw.queue) == 0 and not fw.offers_suppressed
        revives, accepts = spy.revives, len(spy.accepts)
        second = fresh(a, 1, harness.rng)
        fw.request(app=a, domain=domain(), spec=a.spec, instances=second)
        await harness.until(lambda: len(spy.accepts) > accepts)
        record = fw.records.get(second[0].instance_id)
        assert record is not None and record.agent_id
        assert spy.revives == revives  # no REVIVE, no wait for the allocator
        assert spy.unrecorded_launches == []


async def test_an_idle_framework_keeps_its_offers_and_declines_the_rest_for_long(
    harness: Harness,
) -> None:
    async with harness.framework(idle_offers=2, tick_seconds=0.01) as (fw, spy):
        # Three agents, each offered to both roles: two offers kept, the rest declined.
        await harness.until(lambda: len(fw.offers) == 2 and len(spy.declines) > 0)
        await harness.until(lambda: fw.passes >= 50)  # 10 allocation cycles and more
        assert {refuse for _, refuse in spy.declines} == {600.0}
        held, declines, passes = set(fw.offers.ids()), len(spy.declines), fw.passes
        await harness.until(lambda: fw.passes >= passes + 50)
        assert set(fw.offers.ids()) == held  # no held offer expired
        assert len(spy.declines) == declines  # and nothing was offered to decline
        assert not fw.offers_suppressed


async def test_updates_are_acknowledged_only_once_durable(harness: Harness) -> None:
    a = app()
    budget = {"left": 3}

    def fail_running(puts: Mapping[str, bytes]) -> bool:
        if budget["left"] and any(b'"state":"Running"' in v for v in puts.values()):
            budget["left"] -= 1
            return True
        return False

    harness.flaky.fail = fail_running
    async with harness.framework() as (fw, spy):
        (inst,) = fresh(a, 1, harness.rng)
        fw.request(app=a, domain=domain(), spec=a.spec, instances=[inst])
        path = instance_path(inst)

        async def durable_running() -> bool:
            raw = await harness.store.get_raw(path)
            return raw is not None and Instance.from_json(raw).state is InstanceState.RUNNING

        async with asyncio.timeout(TIMEOUT):
            while not await durable_running():
                harness.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.02):
                        await harness.changed.wait()
        assert harness.flaky.failures == 3
        running_updates = [s for s in spy.updates if s == "TASK_RUNNING"]
        assert len(running_updates) >= 4  # the master sent RUNNING again until acknowledged
        await harness.until(lambda: (inst.instance_id, "TASK_RUNNING") in spy.acks)
        assert spy.early_acks == []


@pytest.mark.parametrize(
    "acknowledged",
    [
        pytest.param(True, id="running-acknowledged"),
        # The master resends the unacknowledged TASK_RUNNING after the failover,
        # and the implicit reconciliation answers TASK_RUNNING too: each one
        # finds no record, but only the first sends a KILL.
        pytest.param(False, id="running-unacknowledged-at-failover"),
    ],
)
async def test_unknown_task_is_killed_on_reconciliation(
    harness: Harness, acknowledged: bool
) -> None:
    a = app()
    wanted = fresh(a, 2, harness.rng)
    lost, kept = wanted
    ids = [i.instance_id for i in wanted]
    async with harness.framework() as (fw, spy):
        if not acknowledged:
            spy.withheld.add(lost.instance_id)
        fw.request(app=a, domain=domain(), spec=a.spec, instances=wanted)
        # A record turns Running in memory before its update is flushed and
        # acknowledged: wait for the master's side too, so the failover below
        # starts from the same state on a slow machine as on a fast one.
        await harness.until(
            lambda: (
                running(fw, ids)
                and harness.mesos_pending(kept.instance_id) == []
                and harness.mesos_pending(lost.instance_id)
                == ([] if acknowledged else ["TASK_RUNNING"])
            )
        )
        first_id = fw.framework_id
    await harness.store.delete_raw(instance_path(lost))  # a task nobody has a record of
    async with harness.framework() as (fw, spy):
        assert fw.framework_id == first_id  # the same framework, failed over
        await harness.until(lambda: harness.mesos_state(lost.instance_id) == "TASK_KILLED")
        # One KILL, however many TASK_RUNNING arrive before Mesos reports it.
        assert spy.kills == [lost.instance_id]
        assert harness.mesos_state(kept.instance_id) == "TASK_RUNNING"
        kept_record = fw.records.get(kept.instance_id)
        assert kept_record is not None and kept_record.state is InstanceState.RUNNING
        assert fw.records.get(lost.instance_id) is None


async def test_unplaceable_instance_reports_why_and_kill_drops_it(harness: Harness) -> None:
    big = app("big", cpus=64)
    async with harness.framework() as (fw, spy):
        (inst,) = fresh(big, 1, harness.rng)
        fw.request(app=big, domain=domain(), spec=big.spec, instances=[inst])
        key = AppKey("shop", "big")
        await harness.until(lambda: fw.placement_summary(key) is not None)
        summary = fw.placement_summary(key)
        assert summary is not None and "cpus exhausted" in summary
        assert [i.instance_id for i in fw.instances("shop", "big")] == [inst.instance_id]
        assert await fw.kill([inst]) == 0  # only queued: dropped, nothing sent
        assert fw.instances("shop", "big") == [] and spy.accepts == []


async def test_a_new_domain_resubscribes_with_its_role(harness: Harness) -> None:
    async with harness.framework() as (fw, _):
        first = fw.framework_id
        (master_fw,) = harness.local.master.state.frameworks.values()
        assert sorted(master_fw.roles) == ["*", "shop"]
        assert master_fw.info.checkpoint is True and master_fw.info.name == "simple-dcos"
        harness.domains.append(Domain.model_validate({"metadata": {"name": "books"}, "spec": {}}))
        await harness.until(lambda: sorted(master_fw.roles) == ["*", "books", "shop"])
        await harness.until(lambda: fw.subscriptions == 2 and fw.subscribed.is_set())
        assert fw.framework_id == first


async def test_a_cut_stream_is_resubscribed_and_shutdown_is_prompt(harness: Harness) -> None:
    a = app()
    loop = asyncio.get_running_loop()
    async with harness.framework() as (fw, spy):
        wanted = fresh(a, 12, harness.rng)
        ids = [i.instance_id for i in wanted]
        fw.request(app=a, domain=domain(), spec=a.spec, instances=wanted)
        # Cut every SUBSCRIBE stream once the launches are sent, with their
        # status updates in flight (ACCEPTs cut off would leave Lost records).
        await harness.until(lambda: all(harness.mesos_state(i) is not None for i in ids))
        harness.local.master.faults.failover_master()
        await harness.until(lambda: fw.subscriptions >= 2)
        await harness.until(lambda: running(fw, ids))
        assert {harness.mesos_state(i) for i in ids} == {"TASK_RUNNING"}
        await harness.until(lambda: all(harness.mesos_pending(i) == [] for i in ids))
        assert spy.unrecorded_launches == []
        harness.local.master.faults.failover_master()  # cut again, then leave at once
        started = loop.time()
    assert loop.time() - started < STOP_TIMEOUT


async def test_the_master_stops_when_a_wake_meets_the_cancel(harness: Harness) -> None:
    master = harness.local.master
    (allocator,) = [t for t in master._tasks if "alloc" in t.get_name()]

    def parked() -> bool:  # waiting for the next pass, not allocating
        names: list[str] = []
        coro: Any = allocator.get_coro()
        while hasattr(coro, "cr_await"):
            names.append(coro.cr_code.co_name)
            coro = coro.cr_await
        return names[1:2] in (["wait"], ["wait_for"])

    await harness.until(parked)
    master.allocator.trigger()  # its wait ends in the very step the cancel arrives
    async with asyncio.timeout(STOP_TIMEOUT):
        await master.stop()
