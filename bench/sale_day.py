"""The sale day with an injected clock: how fast the ScalingPolicy decides and acts.

Figures: ``desired_at`` decisions per second over a whole Asia/Shanghai sale
day (two schedules with ramp-downs, a metric rule, a quota cap), and the time
from the 09:50 pre-warm tick to the App's new ``spec.instances`` in etcd (one
reconcile of the controller on real etcd, clock injected).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bench.common import Figure, etcd

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = {
    "metadata": {"name": "cart", "domain": "checkout"},
    "spec": {
        "targetRef": {"name": "cart"},
        "schedules": [
            {
                "name": f"sale-{hour}",
                "cron": f"0 {hour} * * *",
                "instances": 40,
                "prewarm": "10m",
                "until": "2h",
                "rampDown": {"steps": 4, "interval": "15m"},
            }
            for hour in (10, 20)
        ],
        "metric": {
            "metric": "cpu",
            "targetUtilization": 0.6,
            "minInstances": 4,
            "maxInstances": 30,
        },
    },
}


def _decisions_per_second() -> float:
    from crds.domain import Domain
    from crds.scalingpolicy import ScalingPolicy
    from reconciler.scaling.decide import desired_at

    policy = ScalingPolicy.model_validate(POLICY)
    domain = Domain.model_validate(
        {"metadata": {"name": "checkout"}, "spec": {"timezone": "Asia/Shanghai"}}
    )
    start = datetime(2026, 11, 11, tzinfo=SHANGHAI)
    moments = [start + timedelta(minutes=m) for m in range(0, 24 * 60, 1)]
    began = time.perf_counter()
    for at in moments:
        desired_at(policy, domain, at, baseline=4, metric=8, quota_room=35)
    return len(moments) / (time.perf_counter() - began)


async def _prewarm_tick(endpoint: str) -> float:
    from adapters.etcd import EtcdSettings, open_store
    from adapters.protocols import ObjectKey
    from crds.app import App
    from crds.domain import Domain
    from crds.scalingpolicy import ScalingPolicy
    from reconciler.controllers.scalingpolicy import ScalingPolicyReconciler
    from reconciler.runtime import Recorder, Request

    clock = [datetime(2026, 11, 11, 9, 49, tzinfo=SHANGHAI)]
    policy = ScalingPolicy.model_validate(POLICY)
    settings = EtcdSettings(endpoints=(endpoint,), prefix="/bench-sale-day")
    async with open_store(settings) as store:
        await store.create(
            Domain.model_validate(
                {"metadata": {"name": "checkout"}, "spec": {"timezone": "Asia/Shanghai"}}
            )
        )
        await store.create(
            App.model_validate(
                {
                    "metadata": {"name": "cart", "domain": "checkout"},
                    "spec": {"image": "shop/cart:1.0", "instances": 4},
                }
            )
        )
        await store.create(policy)

        class _Cache:
            def get(self, key: ObjectKey) -> ScalingPolicy:
                return policy

        reconciler = ScalingPolicyReconciler(
            store=store,
            policies=_Cache(),  # type: ignore[arg-type]
            recorder=Recorder(store, "bench"),
            wall=lambda: clock[0],
        )
        await reconciler.reconcile(Request.of(policy))
        policy = await store.get(ObjectKey.of(policy))  # type: ignore[assignment]
        clock[0] = clock[0].replace(minute=50)
        began = time.perf_counter()
        await reconciler.reconcile(Request.of(policy))
        elapsed = time.perf_counter() - began
        app = await store.get(ObjectKey("App", "checkout", "cart"))
        assert isinstance(app, App) and app.spec.instances == 40, app
        return elapsed


def run() -> list[Figure]:
    rate = _decisions_per_second()
    with etcd() as server:
        tick = asyncio.run(_prewarm_tick(server.endpoint))
    return [
        Figure("sale_day: desired_at decisions", rate, "/s"),
        Figure("sale_day: 09:50 tick -> App spec.instances in etcd", tick * 1000, "ms"),
    ]
