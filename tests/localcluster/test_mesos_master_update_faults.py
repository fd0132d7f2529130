"""The status-update faults over HTTP: duplicated and reordered UPDATE events.

A framework written with httpx alone (:class:`Scheduler`) sees what a real
scheduler would: the same uuid twice for a duplicate, and an older state after
a newer one when updates are reordered, each still needing its acknowledgement.
"""

from __future__ import annotations

from typing import Any

import httpx

from localcluster.mesos.server import LocalMaster
from tests.localcluster.test_mesos_master_wire import (
    Scheduler,
    client,
    framework_info,
    local,
    scheduler,
    task_info,
    wait_for,
)

__all__ = ["client", "local", "scheduler"]

AGENT0 = "test-master-S0"


async def _launch(scheduler: Scheduler, task_id: str) -> None:
    offers = await scheduler.offers()
    offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
    assert (await scheduler.launch(offer, task_info(task_id, AGENT0))).status_code == 202


async def _updates(scheduler: Scheduler, task_id: str, count: int) -> list[dict[str, Any]]:
    """The next ``count`` UPDATE events of ``task_id``, in the order they arrived."""
    return [await scheduler.update(task_id) for _ in range(count)]


def _pending(local: LocalMaster, scheduler: Scheduler, task_id: str) -> list[str]:
    fw = local.master.state.frameworks[scheduler.framework_id or ""]
    rec = fw.tasks.get(task_id)
    return [] if rec is None else [str(s.state) for s in rec.pending]


async def test_duplicate_updates_sends_the_same_uuid_twice(
    local: LocalMaster, client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    response = await client.post("/faults/duplicate-updates", json={"count": 1})
    assert response.json() == {"ok": True, "remaining": 1}
    await _launch(scheduler, "d1")
    first, second = await _updates(scheduler, "d1", 2)
    assert first["state"] == second["state"] == "TASK_STARTING"
    assert first["uuid"] == second["uuid"]
    await scheduler.ack(first)
    assert (await scheduler.ack(second)).status_code == 202  # a second ack is harmless
    running = await scheduler.update("d1")
    assert running["state"] == "TASK_RUNNING"  # the count is spent: sent once
    await scheduler.ack(running)
    assert _pending(local, scheduler, "d1") == []
    assert local.master.faults.duplicated == 1


async def test_duplicate_updates_on_until_off(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    response = await client.post("/faults/duplicate-updates", json={"mode": "on"})
    assert response.json()["remaining"] == -1
    await _launch(scheduler, "d2")
    starting = await _updates(scheduler, "d2", 2)
    await scheduler.ack(starting[0])
    running = await _updates(scheduler, "d2", 2)
    assert [u["state"] for u in starting + running] == ["TASK_STARTING"] * 2 + ["TASK_RUNNING"] * 2
    assert running[0]["uuid"] == running[1]["uuid"] != starting[0]["uuid"]
    await client.post("/faults/duplicate-updates", json={"mode": "off"})
    await scheduler.ack(running[0])
    await scheduler.call("KILL", {"task_id": {"value": "d2"}, "agent_id": {"value": AGENT0}})
    killed = await scheduler.update("d2")
    assert killed["state"] == "TASK_KILLED"
    await scheduler.ack(killed)
    assert [e for e in scheduler.drain() if e["type"] == "UPDATE"] == []


async def test_reorder_delivers_running_before_starting_each_with_its_uuid(
    local: LocalMaster, client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    body = {"batch": 2, "seed": 7, "hold": 30}
    assert (await client.post("/faults/reorder-updates", json=body)).status_code == 200
    await _launch(scheduler, "r1")
    newer, older = await _updates(scheduler, "r1", 2)
    assert (newer["state"], older["state"]) == ("TASK_RUNNING", "TASK_STARTING")
    assert newer["uuid"] != older["uuid"]
    assert newer["timestamp"] > older["timestamp"]
    assert _pending(local, scheduler, "r1") == ["TASK_STARTING", "TASK_RUNNING"]
    assert local.master.faults.stale == 1
    # Nothing acknowledged: each is retried with its own uuid.
    await client.post("/faults/reorder-updates", json={"mode": "off"})
    retried = {(u["state"], u["uuid"]) for u in await _updates(scheduler, "r1", 2)}
    assert retried == {(u["state"], u["uuid"]) for u in (newer, older)}
    # The newer one acknowledged first leaves the older one pending, then none.
    await scheduler.ack(newer)
    assert _pending(local, scheduler, "r1") == ["TASK_STARTING"]
    await scheduler.ack(older)
    assert _pending(local, scheduler, "r1") == []


async def test_reorder_shuffles_batches_deterministically(client: httpx.AsyncClient) -> None:
    async def arrival(seed: int) -> list[tuple[str, str]]:
        framework = Scheduler(client)
        try:
            await framework.subscribe(framework_info(f"shuffle-{seed}"))
            body = {"batch": 6, "seed": seed, "hold": 30}
            await client.post("/faults/reorder-updates", json=body)
            offers = await framework.offers()
            offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
            ids = [f"s{seed}-{n}" for n in range(3)]
            await framework.launch(offer, *(task_info(i, AGENT0) for i in ids))
            seen = [await framework.next("UPDATE") for _ in range(6)]
            for event in seen:
                await framework.ack(event["update"]["status"])
            await client.post("/faults/reorder-updates", json={"mode": "off"})
            return [
                (
                    e["update"]["status"]["task_id"]["value"].split("-")[1],
                    e["update"]["status"]["state"],
                )
                for e in seen
            ]
        finally:
            await framework.close()

    first, again = await arrival(1), await arrival(1)
    in_order = [(str(n), s) for n in range(3) for s in ("TASK_STARTING", "TASK_RUNNING")]
    assert first != in_order and sorted(first) == sorted(in_order)
    assert first == again  # the same seed, the same order
    position = {item: index for index, item in enumerate(first)}
    assert any(
        position[(str(n), "TASK_STARTING")] > position[(str(n), "TASK_RUNNING")] for n in range(3)
    )


async def test_reorder_off_flushes_in_order_and_failover_drops_held(
    local: LocalMaster, client: httpx.AsyncClient
) -> None:
    faults = local.master.faults
    framework = Scheduler(client)
    try:
        subscribed = await framework.subscribe(framework_info())
        framework_id = subscribed["subscribed"]["framework_id"]
        await client.post("/faults/reorder-updates", json={"batch": 50, "hold": 30})
        await _launch(framework, "f1")
        await wait_for(lambda: faults.held == 2)
        assert (await client.post("/faults/failover-master", json={})).status_code == 200
        assert faults.held == 0
    finally:
        await framework.close()
    again = Scheduler(client)
    try:
        await again.subscribe(framework_info(id=framework_id))
        # Resubscribed: both pending updates are sent again, and held again.
        assert faults.held == 2
        await client.post("/faults/reorder-updates", json={"mode": "off"})
        states = [u["state"] for u in await _updates(again, "f1", 2)]
        assert states == ["TASK_STARTING", "TASK_RUNNING"]
        assert (faults.reordering, faults.held) == (False, 0)
    finally:
        await again.close()


async def test_update_fault_bodies_are_checked(client: httpx.AsyncClient) -> None:
    bad = await client.post("/faults/reorder-updates", json={"batch": 1})
    assert (bad.status_code, bad.text) == (400, "Field 'batch' must be an integer >= 2, not 1")
    bad = await client.post("/faults/duplicate-updates", json={"mode": "twice"})
    assert bad.status_code == 400
    assert bad.text == "Field 'mode' must be \"on\" or \"off\", not 'twice'"
    bad = await client.post("/faults/reorder-updates", json={"hold": "soon"})
    assert bad.text == "Field 'hold' must be a positive number, not 'soon'"
