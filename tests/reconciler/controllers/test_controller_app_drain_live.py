"""A Draining host emptied by the App controller: real etcd, the local master (sim).

Each test mirrors the agents as Host objects, converges an App, then sets
one Host's ``spec.lifecycle`` to Draining in etcd (what the Host controller
does when the CMDB marks a server decommissioning). A watch of the App's
instance records checks, at every etcd revision, the capacity bounds and
that no record is placed on the drained host after the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Self

import pytest

from adapters.etcd import EtcdStore
from adapters.etcd.client import prefix_end
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.host import Host, HostLifecycle
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings
from reconciler.apps import Instance, spec_version
from reconciler.apps.records import InstanceRecords
from reconciler.framework import MesosFramework
from tests.reconciler.controllers.test_controller_app_live import app_controller

TIMEOUT = 15.0
KEY = ObjectKey("App", "shop", "web")
HOSTS = [f"host-{i}" for i in range(1, 5)]


def agents(cpus: float) -> tuple[AgentSpec, ...]:
    return tuple(AgentSpec(hostname=h, cpus=cpus, mem=4096, ports="31000-31019") for h in HOSTS)


@contextlib.asynccontextmanager
async def master(cpus: float) -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=agents(cpus),
        heartbeat_interval=0.3,
        allocation_interval=0.05,
        allocation_batch=0.005,
        status_update_retry=0.2,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.05),
    )
    async with LocalMaster(settings) as started:
        yield started


def host(name: str) -> Host:
    spec = {"address": "10.0.0.1", "resources": {"cpus": 4, "mem": 4096}}
    return Host.model_validate({"metadata": {"name": name}, "spec": spec})


class Records:
    """Every revision of the App's instance records, checked against the bounds and the
    drained host: at most ``max_active`` active, at least ``min_healthy`` healthy, no record
    placed on ``drained`` that was not there when the watch began."""

    def __init__(self, store: EtcdStore, *, n: int, min_health: float, max_over: float) -> None:
        self.store = store
        self.max_active = n + math.floor(n * max_over + 1e-9)
        self.min_healthy = math.ceil(n * min_health - 1e-9)
        self.start = store.keys.raw("instances/shop/web") + b"/"
        self.records: dict[bytes, Instance] = {}
        self.revision = 0
        self.checked = 0
        self.drained: str | None = None
        self.there: set[str] = set()  # instance ids on the drained host at the drain
        self.violations: list[str] = []
        self.changed = asyncio.Event()  # set on every event followed
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        kvs, self.revision, _ = await self.store.client.range(self.start, prefix_end(self.start))
        self.records = {kv.key: Instance.from_json(kv.value) for kv in kvs}
        self._task = asyncio.create_task(self._follow(), name="test:records")
        return self

    def drain(self, hostname: str) -> None:
        self.drained = hostname
        self.there = {i.instance_id for i in self.records.values() if i.hostname == hostname}

    async def _follow(self) -> None:
        watch = self.store.client.watch(
            self.start, prefix_end(self.start), start_revision=self.revision + 1
        )
        async for record in watch:
            if record.kv.mod_revision != self.revision:
                self._check()
                self.revision = record.kv.mod_revision
            if record.deleted:
                self.records.pop(record.kv.key, None)
            else:
                self.records[record.kv.key] = Instance.from_json(record.kv.value)
            self.changed.set()

    def _check(self) -> None:
        insts = list(self.records.values())
        active = sum(i.is_active for i in insts)
        healthy = sum(i.is_healthy for i in insts)
        at = f"revision {self.revision}"
        if active > self.max_active:
            self.violations.append(f"{at}: {active} active > {self.max_active}")
        if healthy < self.min_healthy:
            self.violations.append(f"{at}: {healthy} healthy < {self.min_healthy}")
        for inst in insts:
            if inst.hostname == self.drained and inst.instance_id not in self.there:
                self.violations.append(f"{at}: {inst.instance_id} placed on {self.drained}")
        self.checked += 1

    def on(self, hostname: str) -> list[Instance]:
        return [i for i in self.records.values() if i.is_active and i.hostname == hostname]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        try:
            if exc_type is None:
                async with asyncio.timeout(5.0):
                    while not await self._caught_up():
                        self.changed.clear()
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.05):
                                await self.changed.wait()
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if exc_type is None:
            self._check()

    async def _caught_up(self) -> bool:
        if self._task is not None and self._task.done():
            self._task.result()
        kvs, _, _ = await self.store.client.range(self.start, prefix_end(self.start))
        return self.records == {kv.key: Instance.from_json(kv.value) for kv in kvs}


class Cluster:
    def __init__(self, local: LocalMaster, store: EtcdStore) -> None:
        self.local = local
        self.store = store
        self.changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MesosFramework]:
        async with app_controller(self.local, self.store, self.changed) as fw:
            yield fw

    async def apply(self, *, instances: int, cpus: float, strategy: dict[str, float]) -> None:
        for name in HOSTS:
            await self.store.create(host(name))
        domain = {"sharedPool": {"borrow": "WhenExhausted"}}
        await self.store.create(
            Domain.model_validate({"metadata": {"name": "shop"}, "spec": domain})
        )
        body: dict[str, Any] = {
            "image": "busybox:1",
            "cpus": cpus,
            "mem": 64,
            "instances": instances,
            "upgradeStrategy": strategy,
            "backoff": {"backoffSeconds": 0.05, "maxLaunchDelaySeconds": 0.5},
        }
        await self.store.create(
            App.model_validate({"metadata": {"name": "web", "domain": "shop"}, "spec": body})
        )

    async def set_lifecycle(self, name: str, lifecycle: HostLifecycle) -> None:
        current = await self.store.get(ObjectKey("Host", None, name))
        assert isinstance(current, Host)
        spec = current.spec.model_copy(update={"lifecycle": lifecycle})
        await self.store.update(current.model_copy(update={"spec": spec}))

    async def app(self) -> App:
        got = await self.store.get(KEY)
        assert isinstance(got, App)
        return got

    async def until(self, check: Callable[[], Any], within: float = TIMEOUT) -> None:
        async with asyncio.timeout(within):
            while not await check():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self.changed.wait()

    async def reasons(self) -> list[str]:
        return [e.reason for e in await self.store.events(KEY)]


def progressing(app: App) -> tuple[str, str, str]:
    for c in app.status.conditions:
        if c.type == "Progressing":
            return str(c.status), c.reason or "", c.message or ""
    return "", "", ""


async def converged(cluster: Cluster, n: int) -> bool:
    app = await cluster.app()
    st = app.status
    return (
        st.instances == n
        and st.healthy_instances == n
        and st.updated_instances == n
        and st.version == spec_version(app.spec)
        and progressing(app)[1] == "RolloutComplete"
    )


@pytest.mark.parametrize(
    ("min_health", "max_over"),
    [
        pytest.param(1.0, 0.5, id="launch-first"),
        pytest.param(0.5, 0.0, id="kill-first-within-health"),
    ],
)
async def test_a_draining_host_is_emptied_within_the_bounds(
    store: EtcdStore, min_health: float, max_over: float
) -> None:
    n = 8
    strategy = {"minimumHealthCapacity": min_health, "maximumOverCapacity": max_over}
    async with master(cpus=4) as local:
        cluster = Cluster(local, store)
        await cluster.apply(instances=n, cpus=0.5, strategy=strategy)
        async with cluster.running() as fw:
            await cluster.until(lambda: converged(cluster, n))
            per_host = Counter(i.hostname for i in fw.instances("shop", "web"))
            drained, count = per_host.most_common(1)[0]
            assert drained is not None and count >= 2
            async with Records(store, n=n, min_health=min_health, max_over=max_over) as watch:
                watch.drain(drained)
                await cluster.set_lifecycle(drained, HostLifecycle.DRAINING)

                async def emptied() -> bool:
                    return not watch.on(drained) and await converged(cluster, n)

                await cluster.until(emptied)
            assert watch.violations == []
            assert watch.checked > 2 * count  # a launch and a kill per instance at least
            assert all(i.hostname != drained for i in fw.instances("shop", "web"))

            async def told() -> bool:
                return {"MovingOffHost", "MovedOffHost"} <= set(await cluster.reasons())

            await cluster.until(told)
            events = [e for e in await store.events(KEY) if e.reason == "MovingOffHost"]
            assert [e.message for e in events] == [
                f"moving {count} instance(s) off {drained} (Draining)"
            ]


async def test_with_no_room_elsewhere_the_instances_stay_and_the_status_says_why(
    store: EtcdStore,
) -> None:
    n = 4  # one instance fills each host
    strategy = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.5}
    async with master(cpus=1) as local:
        cluster = Cluster(local, store)
        await cluster.apply(instances=n, cpus=1.0, strategy=strategy)
        async with cluster.running() as fw:
            await cluster.until(lambda: converged(cluster, n))
            drained = HOSTS[0]
            before = {i.instance_id for i in fw.instances("shop", "web") if i.hostname == drained}
            assert len(before) == 1
            async with Records(store, n=n, min_health=1.0, max_over=0.5) as watch:
                watch.drain(drained)
                await cluster.set_lifecycle(drained, HostLifecycle.DRAINING)

                async def explained() -> bool:
                    _, reason, message = progressing(await cluster.app())
                    return reason == "MovingOffDrainingHosts" and "cannot be placed" in message

                await cluster.until(explained)
                _, _, message = progressing(await cluster.app())
                assert message.startswith(f"moving 1 instance(s) off {drained}; ")
                assert f"host {HostLifecycle.DRAINING}" in message
                assert {i.instance_id for i in watch.on(drained)} == before
                app = await cluster.app()
                assert app.status.healthy_instances == n
                assert "FailedPlacement" in await cluster.reasons()
                # Room appears again (the host is back in service): the move is called off.
                await cluster.set_lifecycle(drained, HostLifecycle.ACTIVE)
                await cluster.until(lambda: converged(cluster, n))

                async def cancelled() -> bool:
                    return "MoveOffHostCancelled" in await cluster.reasons()

                await cluster.until(cancelled)
            assert watch.violations == []
            assert {i.instance_id for i in watch.on(drained)} == before


async def test_records_index_apps_by_host(store: EtcdStore) -> None:
    records = InstanceRecords(store)
    await records.load()
    base = {"domain": "shop", "version": "v1", "launchedAt": "2026-01-01T00:00:00Z"}
    one = Instance.model_validate(
        {**base, "instanceId": "shop.a.v1.1", "app": "a", "hostname": "h1"}
    )
    two = Instance.model_validate(
        {**base, "instanceId": "shop.b.v1.2", "app": "b", "hostname": "h1"}
    )
    records.put(one)
    records.put(two)
    records.put(Instance.model_validate({**base, "instanceId": "shop.b.v1.3", "app": "b"}))
    assert records.apps_on("h1") == {("shop", "a"), ("shop", "b")}
    records.put(one.model_copy(update={"hostname": "h2"}))
    assert records.apps_on("h1") == {("shop", "b")} and records.apps_on("h2") == {("shop", "a")}
    await records.flush()
    records.remove(["shop.b.v1.2"])
    assert records.apps_on("h1") == set()
    await records.flush()
    reloaded = InstanceRecords(store)
    await reloaded.load()
    assert reloaded.apps_on("h2") == {("shop", "a")} and reloaded.apps_on("h1") == set()
