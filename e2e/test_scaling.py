"""A sale day on the local master: the ScalingPolicy controller with a fake clock.

Real etcd, a local master of sim agents, and, in this process, a controller
manager running the Mesos framework, the App controller and the
ScalingPolicy controller, the last with an injected wall clock (Asia/Shanghai
sale at 10:00, prewarm 10m, until 2h, ramp down in two 30-minute steps). The
test steps the clock through the day and, at each step, waits (conditions
with deadlines) for the App's ``spec.instances`` and for that many instances
to run on the master.

``test_metric_scaling`` drives a metric rule with simulated load: ``POST
/sim/load`` on the master sets the App's CPU load, the agents report it at
``/monitor/statistics``, and the controller reads it through the same adapter
``dcos-controller --mesos`` uses. The fake clock steps over the cooldown and
the scale-down stabilisation window. ``test_controller_reads_the_agents``
does the same with the installed ``dcos-controller --mesos`` and its own
metric sources, on the real clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from adapters.etcd import EtcdStore
from adapters.mesos.http import MesosSettings
from adapters.mesos.monitor import MesosAgentMonitor
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.scalingpolicy import MetricKind, ScalingPolicy
from e2e.harness import Stack, controllers_on, until
from localcluster.mesos.server import LocalMaster
from reconciler.controllers import scalingpolicy
from reconciler.framework import MesosFramework
from reconciler.runtime import Manager
from reconciler.scaling.metrics import MetricSource, UsageMetrics

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


def _at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 11, hour, minute, second, tzinfo=SHANGHAI)


@contextlib.asynccontextmanager
async def controllers(
    master: LocalMaster, store: EtcdStore, clock: FakeClock, metrics: MetricSource | None = None
) -> AsyncIterator[None]:
    async def scaling(manager: Manager, _: MesosFramework, __: contextlib.AsyncExitStack) -> None:
        # A short resync: the controller looks at the (fake) clock again every 0.1 s.
        scalingpolicy.register(manager, metrics=metrics, wall=clock.wall, now=clock.now, resync=0.1)

    async with controllers_on(master, store, scaling):
        yield


def _running(master: LocalMaster) -> int:
    return sum(
        1
        for fw in master.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if str(rec.state) == "TASK_RUNNING"
    )


async def _create(store: EtcdStore, policy: dict[str, Any] | None = None) -> None:
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
                "spec": policy
                or {
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


async def _instances(store: EtcdStore) -> int:
    app = await store.get(KEY)
    assert isinstance(app, App)
    return app.spec.instances


async def _instances_in(store: EtcdStore, low: int, high: int) -> bool:
    return low <= await _instances(store) <= high


class Observed:
    """The controller's metric source, keeping what it answered (the test waits on it)."""

    def __init__(self, source: MetricSource) -> None:
        self.source = source
        self.values: list[float | None] = []

    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        value = await self.source.utilisation(domain, app, metric)
        self.values.append(value)
        return value

    async def seen(self, low: float, high: float, times: int = 3) -> None:
        """Until ``times`` more answers fell within low..high."""
        start = len(self.values)

        async def enough() -> bool:
            got = [v for v in self.values[start:] if v is not None and low <= v <= high]
            return len(got) >= times

        await until(f"{times} utilisation readings in {low}..{high}", enough, within=WITHIN)


async def test_metric_scaling(sim_master: LocalMaster, store: EtcdStore) -> None:
    clock = FakeClock(_at(3, 0))
    rule = {
        "metric": "cpu",
        "targetUtilization": 0.5,
        "minInstances": 2,
        "maxInstances": 6,
        "cooldownSeconds": 60,
        "scaleDownStabilizationSeconds": 300,
    }
    await _create(store, {"targetRef": {"name": "web"}, "metric": rule})
    settings = MesosSettings(masters=(sim_master.url,), request_timeout=5.0)
    async with (
        MesosAgentMonitor(settings, min_interval=0.0) as monitor,
        httpx.AsyncClient(base_url=sim_master.url, timeout=5.0) as http,
    ):
        observed = Observed(UsageMetrics(monitor, store))

        async def load(cpu: float) -> None:
            answer = await http.post("/sim/load", json={"app": "shop/web", "cpu": cpu})
            assert answer.status_code == 200, answer.text

        async def scaled_to(count: int) -> None:
            await until(
                f"{count} instances of shop/web",
                lambda: _scaled_to(store, sim_master, count),
                within=WITHIN,
                describe=lambda: _describe(store, sim_master),
            )

        async with controllers(sim_master, store, clock, observed):
            await scaled_to(2)
            await observed.seen(0.0, 0.0)  # idle: the minimum holds
            await load(0.9)
            # Up at once: 2 at 0.9 against a target of 0.5 ask for ceil(2 * 0.9 / 0.5) = 4
            # (3 when the first reading spans the change of load).
            await until("shop/web scaled up", lambda: _instances_in(store, 3, 4), within=WITHIN)
            first = await _instances(store)
            await scaled_to(first)
            await observed.seen(0.85, 0.95)  # asks for 6 or more, but the cooldown holds
            assert await _instances(store) == first
            clock.set(_at(3, 1, 1))
            await scaled_to(6)  # past the cooldown: capped at maxInstances
            await load(0.1)
            await observed.seen(0.05, 0.15)
            clock.set(_at(3, 4))  # 3 minutes: still inside the 5-minute window
            await observed.seen(0.05, 0.15)
            await scaled_to(6)
            clock.set(_at(3, 6, 2))  # the window has passed: down to the minimum
            await scaled_to(2)
        policy = await store.get(ObjectKey("ScalingPolicy", "shop", "web"))
        assert isinstance(policy, ScalingPolicy)
        assert (policy.status.desired_instances, policy.status.reason) == (2, "metric cpu")


async def test_controller_reads_the_agents(sim_stack: Stack) -> None:
    stack = sim_stack
    stack.apps.append(("shop", "web"))
    await stack.apply(
        """
apiVersion: dcos/v1
kind: Domain
metadata: {name: shop}
spec: {timezone: Asia/Shanghai, sharedPool: {borrow: WhenExhausted}}
---
apiVersion: dcos/v1
kind: App
metadata: {name: web, domain: shop}
spec: {image: registry.example.com/shop/web:1.0, instances: 2, cpus: 0.25, mem: 64}
"""
    )
    await stack.until("2 instances of shop/web", lambda: _scaled_to(stack.store, stack.master, 2))
    async with httpx.AsyncClient(base_url=stack.master.url, timeout=5.0) as http:
        answer = await http.post("/sim/load", json={"app": "shop/web", "cpu": 0.9})
        assert answer.status_code == 200, answer.text
    await stack.apply(
        """
apiVersion: dcos/v1
kind: ScalingPolicy
metadata: {name: web, domain: shop}
spec:
  targetRef: {name: web}
  metric: {metric: cpu, targetUtilization: 0.5, minInstances: 2, maxInstances: 6,
           cooldownSeconds: 0}
"""
    )
    # 2 at 0.9 for a target of 0.5 ask for 4, then 4 at 0.9 for 8: the maximum, 6.
    await stack.until("6 instances of shop/web", lambda: _scaled_to(stack.store, stack.master, 6))
    policy = await stack.store.get(ObjectKey("ScalingPolicy", "shop", "web"))
    assert isinstance(policy, ScalingPolicy)
    assert policy.status.reason == "metric cpu"
