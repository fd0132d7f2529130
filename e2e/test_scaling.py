"""A sale day on the local master: the ScalingPolicy controller with a fake clock.

Real etcd, a local master of sim agents, and, in this process, a controller
manager running the Mesos framework, the App controller and the
ScalingPolicy controller, the last with an injected wall clock (Asia/Shanghai
sale at 10:00, prewarm 10m, until 2h, ramp down in two 30-minute steps). The
test steps the clock through the day and, at each step, waits (conditions
with deadlines) for the App's ``spec.instances`` and for that many instances
to run on the master.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

from adapters.etcd import EtcdStore
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.scalingpolicy import ScalingPolicy
from e2e.harness import until
from localcluster.mesos.server import LocalMaster
from reconciler.controllers import app as app_controller
from reconciler.controllers import scalingpolicy
from reconciler.framework import FrameworkSettings
from reconciler.runtime import Manager, ManagerSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY = ObjectKey("App", "shop", "web")
WITHIN = 10.0


class FakeClock:
    """The wall clock the policy reads (schedules) and a monotonic one (cooldowns)."""

    def __init__(self, start: datetime) -> None:
        self.at = start
        self.mono = 0.0

    def set(self, at: datetime) -> None:
        self.mono += max(0.0, (at - self.at).total_seconds())
        self.at = at

    def wall(self) -> datetime:
        return self.at

    def now(self) -> float:
        return self.mono


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 11, hour, minute, tzinfo=SHANGHAI)


@contextlib.asynccontextmanager
async def controllers(
    master: LocalMaster, store: EtcdStore, clock: FakeClock
) -> AsyncIterator[None]:
    settings = MesosSettings(
        masters=(master.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
    )
    async with MesosSchedulerClient(settings) as client:
        manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
        framework = app_controller.new_framework(
            manager,
            mesos=client,
            codec=MesosWireCodec(),
            store=store,
            settings=FrameworkSettings(offer_hold_seconds=0.3, refuse_seconds=0.1),
        )
        app_controller.register(manager, framework=framework)
        # A short resync: the controller looks at the (fake) clock again every 0.1 s.
        scalingpolicy.register(manager, wall=clock.wall, now=clock.now, resync=0.1)
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop), name="test:manager")
        try:
            yield
        finally:
            stop.set()
            async with asyncio.timeout(WITHIN):
                await task


def _running(master: LocalMaster) -> int:
    return sum(
        1
        for fw in master.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if str(rec.state) == "TASK_RUNNING"
    )


async def _create(store: EtcdStore) -> None:
    await store.create(
        Domain.model_validate(
            {
                "metadata": {"name": "shop"},
                "spec": {"timezone": "Asia/Shanghai", "sharedPool": {"borrow": "WhenExhausted"}},
            }
        )
    )
    await store.create(
        App.model_validate(
            {
                "metadata": {"name": "web", "domain": "shop"},
                "spec": {
                    "image": "registry.example.com/shop/web:1.0",
                    "instances": 2,
                    "cpus": 0.25,
                    "mem": 64,
                    "backoff": {"backoffSeconds": 0.05, "maxLaunchDelaySeconds": 0.5},
                },
            }
        )
    )
    await store.create(
        ScalingPolicy.model_validate(
            {
                "metadata": {"name": "web", "domain": "shop"},
                "spec": {
                    "targetRef": {"name": "web"},
                    "schedules": [
                        {
                            "name": "sale",
                            "cron": "0 10 * * *",
                            "instances": 8,
                            "prewarm": "10m",
                            "until": "2h",
                            "rampDown": {"steps": 2, "interval": "30m"},
                        }
                    ],
                },
            }
        )
    )


async def _scaled_to(store: EtcdStore, master: LocalMaster, count: int) -> bool:
    app = await store.get(KEY)
    assert isinstance(app, App)
    return (
        app.spec.instances == count
        and app.status.running_instances == count
        and _running(master) == count
    )


async def _describe(store: EtcdStore, master: LocalMaster) -> str:
    app = await store.get(KEY)
    policy = await store.get(ObjectKey("ScalingPolicy", "shop", "web"))
    assert isinstance(app, App) and isinstance(policy, ScalingPolicy)
    return (
        f"App spec.instances={app.spec.instances} status={app.status.model_dump_json()}\n"
        f"ScalingPolicy status={policy.status.model_dump_json()}\n"
        f"tasks running on the master: {_running(master)}"
    )


async def test_sale_day(sim_master: LocalMaster, store: EtcdStore) -> None:
    clock = FakeClock(_at(9, 49))
    await _create(store)
    async with controllers(sim_master, store, clock):
        # (time in Shanghai, instances wanted and running)
        for at, count in [
            (_at(9, 49), 2),  # before the prewarm: the baseline
            (_at(9, 50), 8),  # prewarm, 10 minutes ahead
            (_at(10, 0), 8),  # the sale
            (_at(12, 0), 4),  # until 2h: the first ramp-down step asks for half
            (_at(12, 30), 2),  # the last step asks for 0: back to the baseline
        ]:
            clock.set(at)
            await until(
                f"{count} instances of shop/web at {at:%H:%M}",
                lambda c=count: _scaled_to(store, sim_master, c),  # type: ignore[misc]
                within=WITHIN,
                describe=lambda: _describe(store, sim_master),
            )
        policy = await store.get(ObjectKey("ScalingPolicy", "shop", "web"))
        assert isinstance(policy, ScalingPolicy)
        assert policy.status.desired_instances == 2
        assert policy.status.baseline_instances == 2
