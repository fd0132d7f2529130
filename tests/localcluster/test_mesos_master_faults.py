"""Fault injection on the local master, and what frameworks see of it."""

from __future__ import annotations

from typing import Any

import httpx

from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import SimSettings
from tests.localcluster.test_mesos_master_wire import (
    Scheduler,
    client,
    framework_info,
    local,
    operator,
    scheduler,
    settings,
    task_info,
)

__all__ = ["client", "local", "scheduler"]

AGENT0 = "test-master-S0"
PARTITION_AWARE = [{"type": "PARTITION_AWARE"}]


async def _launch(scheduler: Scheduler, task_id: str) -> dict[str, Any]:
    offers = await scheduler.offers()
    offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
    await scheduler.launch(offer, task_info(task_id, AGENT0))
    await scheduler.ack(await scheduler.update(task_id, "TASK_STARTING"))
    running = await scheduler.update(task_id, "TASK_RUNNING")
    await scheduler.ack(running)
    return running


async def test_lose_agent_makes_tasks_unreachable_then_gone() -> None:
    async with (
        LocalMaster(settings(unreachable_gone_timeout=0.5)) as started,
        httpx.AsyncClient(base_url=started.url, timeout=10) as http,
    ):
        framework = Scheduler(http)
        try:
            await framework.subscribe(framework_info(capabilities=PARTITION_AWARE))
            await _launch(framework, "lost1")
            response = await http.post("/faults/lose-agent", json={"agent_id": {"value": AGENT0}})
            assert response.status_code == 200
            unreachable = await framework.update("lost1", "TASK_UNREACHABLE")
            assert (unreachable["source"], unreachable["reason"]) == (
                "SOURCE_MASTER",
                "REASON_AGENT_REMOVED",
            )
            assert "uuid" not in unreachable
            assert unreachable["unreachable_time"]["nanoseconds"] > 0
            agents = (await operator(http, "GET_AGENTS")).json()["get_agents"]["agents"]
            assert AGENT0 not in [a["agent_info"]["id"]["value"] for a in agents]
            tasks = (await operator(http, "GET_TASKS")).json()["get_tasks"]
            assert [t["task_id"]["value"] for t in tasks["unreachable_tasks"]] == ["lost1"]
            gone = await framework.update("lost1", "TASK_GONE")
            assert gone["reason"] == "REASON_AGENT_REMOVED"
        finally:
            await framework.close()


async def test_lose_agent_reports_task_lost_without_partition_awareness(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    await _launch(scheduler, "old1")
    await client.post("/faults/lose-agent", json={"agent_id": AGENT0})
    lost = await scheduler.update("old1", "TASK_LOST")
    assert lost["reason"] == "REASON_AGENT_REMOVED"
    state = (await client.get("/master/state")).json()
    assert state["unreachable_slaves"] == 1
    assert AGENT0 not in [s["id"] for s in state["slaves"]]


async def test_partitioned_agent_heals_with_its_tasks(
    local: LocalMaster, client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info(capabilities=PARTITION_AWARE))
    await _launch(scheduler, "p1")
    await client.post("/faults/partition-agent", json={"agent_id": AGENT0})
    await scheduler.update("p1", "TASK_UNREACHABLE")
    assert (await client.post("/faults/heal-agent", json={"agent_id": AGENT0})).status_code == 200
    await scheduler.call("RECONCILE", {"tasks": [{"task_id": {"value": "p1"}}]})
    status = await scheduler.update("p1", "TASK_RUNNING")
    assert status["reason"] == "REASON_RECONCILIATION"
    assert local.master.state.agents[AGENT0].allocated.scalar("cpus") == 0.1


async def test_kill_task_fault_fails_the_task(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    await _launch(scheduler, "kt")
    assert (await client.post("/faults/kill-task", json={"task_id": "kt"})).status_code == 200
    failed = await scheduler.update("kt", "TASK_FAILED")
    assert "uuid" in failed
    assert (await client.post("/faults/kill-task", json={"task_id": "kt"})).status_code == 404


async def test_rescind_offers_sends_rescind(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    response = await client.post("/faults/rescind-offers", json={})
    assert response.json()["rescinded"] == len(offers)
    rescinded = {(await scheduler.next("RESCIND"))["rescind"]["offer_id"]["value"] for _ in offers}
    assert rescinded == {o["id"]["value"] for o in offers}
    stale = await scheduler.launch(offers[0], task_info("late", offers[0]["agent_id"]["value"]))
    assert stale.status_code == 202
    assert (await scheduler.update("late"))["reason"] == "REASON_INVALID_OFFERS"


async def test_sim_failure_rate_is_deterministic() -> None:
    sim = SimSettings(running_delay=0.0, failure_rate=0.5, seed=7)
    outcomes = []
    for _ in range(2):
        async with (
            LocalMaster(settings(agents=1, sim=sim)) as started,
            httpx.AsyncClient(base_url=started.url, timeout=10) as http,
        ):
            framework = Scheduler(http)
            try:
                await framework.subscribe(framework_info())
                offer = (await framework.offers())[0]
                agent_id = offer["agent_id"]["value"]
                await framework.launch(offer, *(task_info(f"s{i}", agent_id) for i in range(8)))
                finals = []
                for i in range(8):
                    await framework.ack(await framework.update(f"s{i}", "TASK_STARTING"))
                    final = await framework.update(f"s{i}", None)
                    finals.append(final["state"])
                outcomes.append(finals)
            finally:
                await framework.close()
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {"TASK_RUNNING", "TASK_FAILED"}


async def test_removed_framework_cannot_resubscribe(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    await scheduler.call("TEARDOWN")
    info = framework_info(id={"value": scheduler.framework_id})
    body = {"type": "SUBSCRIBE", "framework_id": info["id"], "subscribe": {"framework_info": info}}
    response = await client.post("/api/v1/scheduler", json=body)  # the stream ends at once
    assert response.status_code == 200
    assert b'"message":"Framework has been removed"' in response.content


async def test_process_containerizer_runs_a_real_command(tmp_path: Any) -> None:
    async with (
        LocalMaster(settings(agents=1, containerizer="process", work_dir=str(tmp_path))) as started,
        httpx.AsyncClient(base_url=started.url, timeout=10) as http,
    ):
        framework = Scheduler(http)
        try:
            await framework.subscribe(framework_info())
            offer = (await framework.offers())[0]
            task = task_info("echo", offer["agent_id"]["value"], command={"value": "exit 0"})
            await framework.launch(offer, task)
            states: list[str] = []
            while not states or states[-1] not in ("TASK_FINISHED", "TASK_FAILED"):
                status = await framework.update("echo", within=10)
                states.append(status["state"])
                await framework.ack(status)
            assert states[-1] == "TASK_FINISHED"
        finally:
            await framework.close()
