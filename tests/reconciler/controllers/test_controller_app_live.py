"""The App controller end to end: a Manager, real etcd, the local Mesos master (sim).

Each test applies a Domain and an App to etcd, runs the controller manager
with the App controller and its framework, and waits (conditions with
deadlines) for the App's status and the master's task table to converge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.etcd import EtcdStore
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.errors import NotFound
from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import MasterSettings, SimSettings
from reconciler.apps import Instance, kill_order, spec_version
from reconciler.controllers.app import FINALIZER, new_framework, register
from reconciler.framework import FrameworkSettings, MesosFramework
from reconciler.runtime import Manager, ManagerSettings

TIMEOUT = 15.0
KEY = ObjectKey("App", "shop", "web")
FAST_BACKOFF = {"backoffSeconds": 0.05, "maxLaunchDelaySeconds": 0.5}


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=agents_from_flags(4, cpus=4, mem=4096, ports="31000-31019"),
        heartbeat_interval=0.3,
        allocation_interval=0.05,
        allocation_batch=0.005,
        status_update_retry=0.2,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.05),
    )
    async with LocalMaster(settings) as started:
        yield started


@contextlib.asynccontextmanager
async def app_controller(
    local: LocalMaster, store: EtcdStore, changed: asyncio.Event
) -> AsyncIterator[MesosFramework]:
    """A manager running the framework and the App controller on ``local`` and ``store``;
    ``changed`` is set on every record change."""
    settings = MesosSettings(
        masters=(local.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
    )
    async with MesosSchedulerClient(settings) as client:
        manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
        fw = new_framework(
            manager,
            mesos=client,
            codec=MesosWireCodec(),
            store=store,
            settings=FrameworkSettings(offer_hold_seconds=0.3, refuse_seconds=0.1),
        )
        register(manager, framework=fw)
        fw.records.add_listener(lambda domain, app: changed.set())
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop), name="test:manager")
        try:
            yield fw
        finally:
            stop.set()
            async with asyncio.timeout(TIMEOUT):
                await task


class Cluster:
    def __init__(self, local: LocalMaster, store: EtcdStore) -> None:
        self.local = local
        self.store = store
        self.framework: MesosFramework | None = None
        self.changed = asyncio.Event()  # set on every record change

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MesosFramework]:
        async with app_controller(self.local, self.store, self.changed) as fw:
            self.framework = fw
            yield fw

    async def apply(self, *, instances: int = 3, **spec: Any) -> App:
        domain = {"sharedPool": {"borrow": "WhenExhausted"}, "timezone": "Asia/Shanghai"}
        await self.store.create(
            Domain.model_validate({"metadata": {"name": "shop"}, "spec": domain})
        )
        body = {"image": "busybox:1", "cpus": 0.5, "mem": 64, "instances": instances, **spec}
        body.setdefault("backoff", FAST_BACKOFF)
        app = App.model_validate({"metadata": {"name": "web", "domain": "shop"}, "spec": body})
        created = await self.store.create(app)
        assert isinstance(created, App)
        return created

    async def change(self, **spec: Any) -> None:
        current = await self.store.get(KEY)
        assert isinstance(current, App)
        new_spec = current.spec.model_copy(update=spec)
        await self.store.update(current.model_copy(update={"spec": new_spec}))

    async def app(self) -> App:
        got = await self.store.get(KEY)
        assert isinstance(got, App)
        return got

    async def until(self, check: Callable[[], Any], within: float = TIMEOUT) -> None:
        """Until ``await check()`` is truthy: re-checked on every record change, or 50 ms."""
        async with asyncio.timeout(within):
            while not await check():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self.changed.wait()

    def mesos_tasks(self, state: str = "TASK_RUNNING") -> set[str]:
        return {
            task_id
            for fw in self.local.master.state.frameworks.values()
            for task_id, rec in fw.tasks.items()
            if str(rec.state) == state
        }


@pytest.fixture
def cluster(local: LocalMaster, store: EtcdStore) -> Cluster:
    return Cluster(local, store)


async def recorded(cluster: Cluster, *reasons: str) -> bool:
    return set(reasons) <= {e.reason for e in await cluster.store.events(KEY)}


def condition(app: App, kind: str) -> tuple[str, str] | None:
    for c in app.status.conditions:
        if c.type == kind:
            return str(c.status), c.reason or ""
    return None


async def converged(cluster: Cluster, n: int, version: str | None = None) -> bool:
    app = await cluster.app()
    st = app.status
    target = version or spec_version(app.spec)
    return (
        st.instances == n
        and st.running_instances == n
        and st.healthy_instances == n
        and st.updated_instances == n
        and st.version == target
        and condition(app, "Progressing") == ("True", "RolloutComplete")
        and len(cluster.mesos_tasks()) == n
    )


async def test_app_converges_to_running_with_status_and_events(cluster: Cluster) -> None:
    await cluster.apply(instances=5)
    async with cluster.running():
        await cluster.until(lambda: converged(cluster, 5))
        app = await cluster.app()
        assert FINALIZER in app.metadata.finalizers
        assert condition(app, "Available") == ("True", "MinimumHealthy")
        assert condition(app, "Degraded") == ("False", "AsExpected")
        assert app.status.observed_generation == app.metadata.generation
        assert app.status.revision == 1 and app.status.placement is None
        await cluster.until(lambda: recorded(cluster, "ScalingUp", "Launched", "RolloutComplete"))


async def test_image_change_rolls_within_the_capacity_bounds(cluster: Cluster) -> None:
    strategy = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
    await cluster.apply(instances=4, upgradeStrategy=strategy)
    violations: list[str] = []
    async with cluster.running() as fw:
        await cluster.until(lambda: converged(cluster, 4))

        def check(domain: str, name: str) -> None:
            insts = fw.instances(domain, name)
            active = sum(i.is_active for i in insts)
            healthy = sum(i.is_healthy for i in insts)
            if active > 6 or healthy < 2:
                violations.append(f"active={active} healthy={healthy}")

        fw.records.add_listener(check)
        old = {i.instance_id for i in fw.instances("shop", "web")}
        await cluster.change(image="busybox:2")
        app = await cluster.app()
        new_version = spec_version(app.spec)
        await cluster.until(lambda: converged(cluster, 4, new_version))
        now = {i.instance_id for i in fw.instances("shop", "web")}
        assert not (now & old)
        assert violations == []
        assert (await cluster.app()).status.revision == 2


async def test_a_task_killed_on_mesos_is_replaced(cluster: Cluster) -> None:
    await cluster.apply(instances=3)
    async with cluster.running():
        await cluster.until(lambda: converged(cluster, 3))
        victim = sorted(cluster.mesos_tasks())[0]
        cluster.local.master.faults.kill_task(victim)

        async def replaced() -> bool:
            tasks = cluster.mesos_tasks()
            return victim not in tasks and await converged(cluster, 3)

        await cluster.until(replaced)
        app = await cluster.app()
        assert (app.status.consecutive_failures or 0) <= 1


async def test_scale_down_kills_in_kill_order(cluster: Cluster) -> None:
    await cluster.apply(instances=4)
    async with cluster.running() as fw:
        await cluster.until(lambda: converged(cluster, 4))
        before: list[Instance] = fw.instances("shop", "web")
        version = spec_version((await cluster.app()).spec)
        expected = {i.instance_id for i in kill_order(before, version)[:2]}
        await cluster.change(instances=2)
        await cluster.until(lambda: converged(cluster, 2))
        assert cluster.mesos_tasks() == {i.instance_id for i in before} - expected

        async def killed() -> bool:
            return all(cluster_done(cluster, i) for i in expected)

        await cluster.until(killed)  # the kills ended as KILLED and were acknowledged


def cluster_done(cluster: Cluster, task_id: str) -> bool:
    return any(
        rec.info.task_id.value == task_id and str(rec.state) == "TASK_KILLED"
        for fw in cluster.local.master.state.frameworks.values()
        for rec in fw.completed
    )


async def test_unplaceable_app_explains_why_and_converges_once_it_fits(cluster: Cluster) -> None:
    await cluster.apply(instances=2, cpus=16)

    async def explained() -> bool:
        placement = (await cluster.app()).status.placement
        return placement is not None and "cpus exhausted" in placement

    async with cluster.running():
        await cluster.until(explained)
        app = await cluster.app()
        assert app.status.last_placement == app.status.placement
        assert "4 agents filtered" in (app.status.placement or "")
        assert condition(app, "Available") == ("False", "BelowMinimumHealthy")
        await cluster.until(lambda: recorded(cluster, "FailedPlacement"))
        await cluster.change(cpus=1.0)
        await cluster.until(lambda: converged(cluster, 2))
        assert (await cluster.app()).status.placement is None


async def test_delete_kills_every_task_then_removes_the_app(cluster: Cluster) -> None:
    await cluster.apply(instances=3)
    async with cluster.running() as fw:
        await cluster.until(lambda: converged(cluster, 3))
        await cluster.store.delete(KEY)

        async def gone() -> bool:
            try:
                await cluster.store.get(KEY)
            except NotFound:
                return True
            return False

        await cluster.until(gone)
        assert cluster.mesos_tasks() == set()
        assert fw.instances("shop", "web") == []
        assert await cluster.store.list_raw("instances/shop/web/") == []
        assert await cluster.store.get_raw("rollouts/shop/web") is None


async def test_a_new_leader_adopts_the_running_tasks(cluster: Cluster) -> None:
    await cluster.apply(instances=3)
    async with cluster.running() as fw:
        await cluster.until(lambda: converged(cluster, 3))
        before, framework_id = cluster.mesos_tasks(), fw.framework_id
    async with cluster.running() as fw:

        async def adopted() -> bool:
            return fw.subscribed.is_set() and fw.ready and await converged(cluster, 3)

        await cluster.until(adopted)
        assert fw.framework_id == framework_id
        assert cluster.mesos_tasks() == before
        assert len(cluster.local.master.state.frameworks) == 1
        assert {i.instance_id for i in fw.instances("shop", "web")} == before
