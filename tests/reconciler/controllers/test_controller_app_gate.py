"""The rollout gate in the App controller: an App whose image a RegistryMirror serves
starts no rollout until the image is on every ready replica.

Real etcd, the local master (sim agents), two real docker-registry processes
standing for the mirror's replicas (its status rows name them, as the
RegistryMirror controller writes them), and the App controller with an
injected wall clock, so the gate's timeout needs no waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.etcd import EtcdStore
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import ObjectKey
from adapters.registry import RegistryClient
from crds.app import App
from crds.domain import Domain
from crds.registrymirror import RegistryMirror, ReplicaStatus
from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import MasterSettings, SimSettings
from localcluster.registry import RegistryServer, push_synthetic
from reconciler.controllers.app import new_framework, register
from reconciler.framework import FrameworkSettings
from reconciler.runtime import Manager, ManagerSettings

TIMEOUT = 15.0
KEY = ObjectKey("App", "shop", "web")
SERVES = "registry.shop.example:5000"


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=agents_from_flags(2, cpus=4, mem=4096, ports="31000-31019"),
        heartbeat_interval=0.3,
        allocation_interval=0.05,
        allocation_batch=0.005,
        status_update_retry=0.2,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.05),
    )
    async with LocalMaster(settings) as started:
        yield started


@pytest.fixture
def servers() -> Iterator[list[RegistryServer]]:
    started: list[RegistryServer] = []
    try:
        for _ in range(2):
            server = RegistryServer()
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.close()


@contextlib.asynccontextmanager
async def controller(local: LocalMaster, store: EtcdStore, clock: Clock) -> AsyncIterator[None]:
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
        register(manager, framework=fw, wall=clock)
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop), name="test:manager")
        try:
            yield
        finally:
            stop.set()
            async with asyncio.timeout(TIMEOUT):
                await task


async def _setup(store: EtcdStore, servers: list[RegistryServer], *, gate_seconds: int) -> None:
    domain = {"sharedPool": {"borrow": "WhenExhausted"}}
    await store.create(Domain.model_validate({"metadata": {"name": "shop"}, "spec": domain}))
    mirror = await store.create(
        RegistryMirror.model_validate(
            {
                "metadata": {"name": "hub"},
                "spec": {
                    "repositories": ["shop/*"],
                    "serves": SERVES,
                    "gateTimeoutSeconds": gate_seconds,
                },
            }
        )
    )
    rows = [
        ReplicaStatus(
            host=f"h{i}", address=s.url.removeprefix("http://"), ready=True, primary=i == 0
        )
        for i, s in enumerate(servers)
    ]
    status = mirror.status.model_copy(update={"replicas": rows, "ready_replicas": len(rows)})
    await store.update_status(mirror.model_copy(update={"status": status}))
    spec = {"image": f"{SERVES}/shop/web:1.0", "cpus": 0.1, "mem": 32, "instances": 2}
    await store.create(
        App.model_validate({"metadata": {"name": "web", "domain": "shop"}, "spec": spec})
    )


async def _until(store: EtcdStore, check: Callable[[App], bool]) -> App:
    """The App once ``check`` holds for it; fails after TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            app = await store.get(KEY)
            assert isinstance(app, App)
            if check(app):
                return app
            await asyncio.sleep(0.05)


def _gate(app: App) -> tuple[str, str] | None:
    found = [c for c in app.status.conditions if c.type == "ImageReplicated"]
    return (str(found[0].status), found[0].reason or "") if found else None


async def test_rollout_waits_for_the_image_on_every_replica(
    local: LocalMaster, store: EtcdStore, servers: list[RegistryServer]
) -> None:
    clock = Clock()
    await _setup(store, servers, gate_seconds=300)
    async with controller(local, store, clock):
        held = await _until(store, lambda a: _gate(a) == ("False", "Waiting"))
        assert not held.status.instances
        assert "waiting for registry.shop.example:5000/shop/web:1.0" in _message(held)
        assert "not on the primary" in _message(held)
        # On the primary only: still held (the other replica lacks it).
        async with RegistryClient(servers[0].url) as primary:
            digest = await push_synthetic(primary, "shop/web", "1.0", seed="web")
        still = await _until(store, lambda a: "missing on 1 of 2 ready replicas" in _message(a))
        assert _gate(still) == ("False", "Waiting")
        async with RegistryClient(servers[1].url) as second:
            await push_synthetic(second, "shop/web", "1.0", seed="web")
            assert await second.manifest_digest("shop/web", "1.0") == digest
        running = await _until(store, lambda a: a.status.running_instances == 2)
        assert _gate(running) is None


def _message(app: App) -> str:
    found = [c for c in app.status.conditions if c.type == "ImageReplicated"]
    return found[0].message or "" if found else ""


async def test_gate_times_out_and_the_rollout_never_starts(
    local: LocalMaster, store: EtcdStore, servers: list[RegistryServer]
) -> None:
    clock = Clock()
    await _setup(store, servers, gate_seconds=60)
    async with controller(local, store, clock):
        await _until(store, lambda a: _gate(a) == ("False", "Waiting"))
        clock.at += timedelta(seconds=61)
        failed = await _until(store, lambda a: _gate(a) == ("False", "Timeout"))
        assert not failed.status.instances
        assert "not on every replica of RegistryMirror hub after 60s" in _message(failed)
        assert any(e.reason == "ImageNotReplicated" for e in await store.events(KEY))
        assert not any(
            rec for fw in local.master.state.frameworks.values() for rec in fw.tasks.values()
        )
