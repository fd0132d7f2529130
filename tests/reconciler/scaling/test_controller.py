"""The ScalingPolicy controller on real etcd with an injected clock: a sale day."""

from __future__ import annotations

import builtins
from datetime import datetime
from zoneinfo import ZoneInfo

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import Domain
from crds.meta import Resource
from crds.scalingpolicy import MetricKind, ScalingPolicy
from reconciler.controllers.scalingpolicy import ScalingPolicyReconciler
from reconciler.runtime import Recorder, Request
from reconciler.scaling.metrics import StaticMetrics

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Cache:
    def __init__(self) -> None:
        self.objects: dict[ObjectKey, Resource] = {}

    def put(self, obj: Resource) -> None:
        self.objects[ObjectKey.of(obj)] = obj

    def get(self, key: ObjectKey) -> Resource | None:
        return self.objects.get(key)

    def list(self, domain: str | None = None) -> builtins.list[Resource]:
        return list(self.objects.values())


def _objects(quota: int | None = None) -> tuple[Domain, App, App, ScalingPolicy]:
    domain = Domain.model_validate(
        {
            "metadata": {"name": "checkout"},
            "spec": {"timezone": "Asia/Shanghai", "quota": {"instances": quota}},
        }
    )
    cart = App.model_validate(
        {
            "metadata": {"name": "cart", "domain": "checkout"},
            "spec": {"image": "shop/cart:1.0", "instances": 2},
        }
    )
    pay = App.model_validate(
        {
            "metadata": {"name": "pay", "domain": "checkout"},
            "spec": {"image": "shop/pay:1.0", "instances": 4},
        }
    )
    policy = ScalingPolicy.model_validate(
        {
            "metadata": {"name": "cart", "domain": "checkout"},
            "spec": {
                "targetRef": {"name": "cart"},
                "schedules": [
                    {
                        "name": "sale-10am",
                        "cron": "0 10 * * *",
                        "instances": 10,
                        "prewarm": "10m",
                        "until": "2h",
                        "rampDown": {"steps": 2, "interval": "30m"},
                    }
                ],
                "metric": {
                    "metric": "cpu",
                    "targetUtilization": 0.5,
                    "minInstances": 1,
                    "maxInstances": 20,
                    "cooldownSeconds": 0,
                    "scaleDownStabilizationSeconds": 0,
                },
            },
        }
    )
    return domain, cart, pay, policy


async def test_sale_day_sets_the_app_instances(store: EtcdStore) -> None:
    domain, cart, pay, policy = _objects()
    for obj in (domain, cart, pay, policy):
        await store.create(obj)
    clock = [datetime(2026, 11, 11, 9, 49, tzinfo=SHANGHAI)]
    cache = Cache()
    reconciler = ScalingPolicyReconciler(
        store=store,
        policies=cache,  # type: ignore[arg-type]
        recorder=Recorder(store, "test"),
        wall=lambda: clock[0],
    )
    key = ObjectKey.of(policy)

    async def at(hh: int, mm: int) -> int:
        clock[0] = clock[0].replace(hour=hh, minute=mm)
        cache.put(await store.get(key))
        result = await reconciler.reconcile(Request.of(policy))
        assert result.requeue_after is not None
        got = await store.get(ObjectKey.of(cart))
        assert isinstance(got, App)
        return got.spec.instances

    assert await at(9, 49) == 2
    live = await store.get(key)
    assert isinstance(live, ScalingPolicy)
    assert live.status.reason == "baseline"
    assert live.status.next_action_instances == 10
    assert live.status.next_action_time == datetime(2026, 11, 11, 9, 50, tzinfo=SHANGHAI)
    assert await at(9, 50) == 10
    assert await at(10, 0) == 10
    assert await at(12, 0) == 5
    assert await at(12, 30) == 2
    live = await store.get(key)
    assert isinstance(live, ScalingPolicy)
    assert (live.status.desired_instances, live.status.reason) == (2, "baseline")


async def test_metric_scale_up_and_quota_cap(store: EtcdStore) -> None:
    domain, cart, pay, policy = _objects(quota=12)
    for obj in (domain, cart, pay, policy):
        await store.create(obj)
    metrics = StaticMetrics()
    cache = Cache()
    reconciler = ScalingPolicyReconciler(
        store=store,
        policies=cache,  # type: ignore[arg-type]
        recorder=Recorder(store, "test"),
        metrics=metrics,
        wall=lambda: datetime(2026, 11, 11, 15, 0, tzinfo=SHANGHAI),
        now=lambda: 0.0,
    )
    key = ObjectKey.of(policy)

    async def step(load: float) -> tuple[int, str | None]:
        metrics.set("checkout", "cart", MetricKind.CPU, load)
        cache.put(await store.get(key))
        await reconciler.reconcile(Request.of(policy))
        got, live = await store.get(ObjectKey.of(cart)), await store.get(key)
        assert isinstance(got, App) and isinstance(live, ScalingPolicy)
        return got.spec.instances, live.status.reason

    assert await step(1.0) == (4, "metric cpu")  # 2 at 100% with a 50% target
    # 4 at 100% wants 8, but pay runs 4 of the domain's 12: 8 left, so 8 fits
    assert await step(1.0) == (8, "metric cpu")
    assert await step(1.0) == (8, "metric cpu (capped by quota)")
