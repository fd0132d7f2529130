"""Simulated load on the local master: ``/sim/load`` and each agent's
``/monitor/statistics``, read over real HTTP by the adapter a controller uses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.mesos.http import MesosSettings
from adapters.mesos.monitor import MesosAgentMonitor
from localcluster.mesos.server import LocalMaster
from tests.localcluster.test_mesos_master_wire import (
    Scheduler,
    client,
    framework_info,
    local,
    scheduler,
    task_info,
)

__all__ = ["client", "local", "scheduler"]

AGENT0 = "test-master-S0"
MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(local: LocalMaster) -> Clock:
    fake = Clock()
    local.master.sim_load.clock = fake
    return fake


async def _run(scheduler: Scheduler, *task_ids: str) -> None:
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
    await scheduler.launch(offer, *(task_info(t, AGENT0, cpus=0.5, mem=64) for t in task_ids))
    for task_id in task_ids:
        await scheduler.ack(await scheduler.update(task_id, "TASK_STARTING"))
        await scheduler.ack(await scheduler.update(task_id, "TASK_RUNNING"))


async def _stats(client: httpx.AsyncClient, agent: int = 1) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/slave({agent})/monitor/statistics")
    assert response.status_code == 200, response.text
    return {entry["source"]: entry for entry in response.json()}


async def test_agents_report_the_load_set_on_the_master(
    client: httpx.AsyncClient, scheduler: Scheduler, clock: Clock
) -> None:
    await _run(scheduler, "shop.web.v1.00000001", "shop.cart.v1.00000002")
    got = await client.post("/sim/load", json={"app": "shop/web", "cpu": 0.9, "mem": 0.5})
    assert got.json() == {"ok": True, "app": "shop/web", "cpu": 0.9, "mem": 0.5}
    clock.now += 10
    stats = await _stats(client)
    web = stats["shop.web.v1.00000001"]
    assert web["executor_id"] == "shop.web.v1.00000001"
    assert web["framework_id"] == scheduler.framework_id
    assert web["statistics"] == {
        "timestamp": clock.now,
        "cpus_user_time_secs": pytest.approx(10 * 0.9 * 0.5),
        "cpus_system_time_secs": 0.0,
        "cpus_limit": 0.5,
        "mem_rss_bytes": 32 * MIB,
        "mem_limit_bytes": 64 * MIB,
    }
    idle = stats["shop.cart.v1.00000002"]["statistics"]
    assert (idle["cpus_user_time_secs"], idle["mem_rss_bytes"]) == (0.0, 0)
    assert await _stats(client, agent=2) == {}  # the second agent runs nothing
    # A task id prefix is more specific than the App: it wins for that task.
    await client.post("/sim/load", json={"app": "shop.web.v1.0000", "cpu": 0.2})
    loads = (await client.get("/sim/load")).json()["loads"]
    assert loads == [
        {"app": "shop.web.v1.0000", "cpu": 0.2, "mem": 0.0},
        {"app": "shop/web", "cpu": 0.9, "mem": 0.5},
    ]
    clock.now += 10
    web = (await _stats(client))["shop.web.v1.00000001"]["statistics"]
    assert web["cpus_user_time_secs"] == pytest.approx(4.5 + 10 * 0.2 * 0.5)
    assert (await client.request("DELETE", "/sim/load")).json() == {"ok": True}
    assert (await client.get("/sim/load")).json() == {"loads": []}


async def test_the_agents_pid_names_their_statistics(
    local: LocalMaster, client: httpx.AsyncClient, scheduler: Scheduler, clock: Clock
) -> None:
    await _run(scheduler, "shop.web.v1.00000001")
    await client.post("/sim/load", json={"app": "shop/web", "cpu": 0.9, "mem": 0.25})
    settings = MesosSettings(masters=(local.url,), request_timeout=5.0)
    async with MesosAgentMonitor(settings, min_interval=0.0) as monitor:
        urls = await monitor.agent_urls()
        assert urls == [
            f"http://127.0.0.1:{local.master.port}/slave(1)/monitor/statistics",
            f"http://127.0.0.1:{local.master.port}/slave(2)/monitor/statistics",
        ]
        first = await monitor.usage("shop.web.")
        assert [(u.task_id, u.cpus_used) for u in first] == [("shop.web.v1.00000001", None)]
        clock.now += 5
        (usage,) = await monitor.usage("shop.web.")
        assert usage.cpus_used is not None and usage.cpus_limit == 0.5
        assert usage.cpus_used / usage.cpus_limit == pytest.approx(0.9)
        assert usage.mem_bytes == 16 * MIB and usage.mem_limit_bytes == 64 * MIB
        await client.post("/sim/load", json={"app": "shop/web", "cpu": 0.1})
        clock.now += 5
        (usage,) = await monitor.usage("shop.web.")
        assert usage.cpus_used == pytest.approx(0.05)
        assert await monitor.usage("shop.cart.") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"cpu": 0.5}, "app: missing", id="no-app"),
        pytest.param({"app": "shop/web", "cpu": -1}, "cpu -1.0: must be a number", id="negative"),
        pytest.param({"app": "shop/web", "mem": "lots"}, "mem 'lots': must be a number", id="text"),
        pytest.param({"app": "/web", "cpu": 1}, "give <domain>/<app>", id="bad-app"),
    ],
)
async def test_bad_loads_are_refused_with_a_reason(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/sim/load", json=body)
    assert response.status_code == 400
    assert message in response.text
    assert (await client.get("/sim/load")).json() == {"loads": []}


async def test_an_unknown_agent_has_no_statistics(client: httpx.AsyncClient) -> None:
    response = await client.get("/slave(9)/monitor/statistics")
    assert response.status_code == 404
    assert response.text == "No agent slave(9) on this host"
