"""The local master's v1 operator API and legacy endpoints, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from adapters.mesos import recordio
from localcluster.mesos.server import LocalMaster
from tests.localcluster.test_mesos_master_wire import (
    JSON,
    Scheduler,
    client,
    framework_info,
    local,
    operator,
    scheduler,
    task_info,
    wait_for,
)

__all__ = ["client", "local", "scheduler"]

AGENT0 = "test-master-S0"


async def _running(scheduler: Scheduler, task_id: str, *, cpus: float = 0.1) -> dict[str, Any]:
    offers = await scheduler.offers()
    offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
    await scheduler.launch(offer, task_info(task_id, AGENT0, cpus=cpus))
    await scheduler.ack(await scheduler.update(task_id, "TASK_STARTING"))
    running = await scheduler.update(task_id, "TASK_RUNNING")
    await scheduler.ack(running)
    return running


async def test_get_calls_answer_typed_bodies(client: httpx.AsyncClient) -> None:
    health = (await operator(client, "GET_HEALTH")).json()
    assert health == {"type": "GET_HEALTH", "get_health": {"healthy": True}}
    version = (await operator(client, "GET_VERSION")).json()
    assert version["get_version"]["version_info"]["version"] == "1.11.0"
    flags = (await operator(client, "GET_FLAGS")).json()["get_flags"]["flags"]
    assert {"name": "cluster", "value": "local"} in flags
    agents = (await operator(client, "GET_AGENTS")).json()["get_agents"]["agents"]
    assert [a["agent_info"]["id"]["value"] for a in agents] == [AGENT0, "test-master-S1"]
    first = agents[0]
    assert first["active"] is True
    assert first["agent_info"]["hostname"] == "agent-001.local"
    assert first["pid"].startswith("slave(1)@127.0.0.1:")
    assert {r["name"] for r in first["total_resources"]} == {"cpus", "mem", "disk", "ports"}
    unknown = await operator(client, "NOT_A_CALL")
    assert unknown.status_code == 400
    wrong = await client.post(
        "/api/v1", content=b'{"type":"GET_HEALTH"}', headers={"Content-Type": "text/json"}
    )
    assert wrong.status_code == 415


async def test_get_state_and_tasks_show_running_tasks(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    await _running(scheduler, "s1")
    state = (await operator(client, "GET_STATE")).json()["get_state"]
    assert set(state) >= {"get_tasks", "get_frameworks", "get_agents", "get_executors"}
    task = state["get_tasks"]["tasks"][0]
    assert task["task_id"]["value"] == "s1"
    assert task["state"] == "TASK_RUNNING"
    assert task["framework_id"]["value"] == scheduler.framework_id
    assert task["agent_id"]["value"] == AGENT0
    assert [s["state"] for s in task["statuses"]] == ["TASK_STARTING", "TASK_RUNNING"]
    assert all(r["allocation_info"] == {"role": "web"} for r in task["resources"])
    framework = state["get_frameworks"]["frameworks"][0]
    assert framework["framework_info"]["id"]["value"] == scheduler.framework_id
    assert (framework["active"], framework["connected"], framework["recovered"]) == (
        True,
        True,
        False,
    )
    tasks = (await operator(client, "GET_TASKS")).json()["get_tasks"]
    assert [t["task_id"]["value"] for t in tasks["tasks"]] == ["s1"]
    roles = (await operator(client, "GET_ROLES")).json()["get_roles"]["roles"]
    assert roles[0]["name"] == "web"
    assert roles[0]["frameworks"] == [{"value": scheduler.framework_id}]


async def test_reserved_resources_appear_in_offers(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    reserved = [
        {
            "name": "cpus",
            "type": "SCALAR",
            "scalar": {"value": 2},
            "reservations": [{"type": "DYNAMIC", "role": "web", "principal": "ops"}],
        }
    ]
    body = {"agent_id": {"value": AGENT0}, "resources": reserved}
    response = await operator(client, "RESERVE_RESOURCES", body)
    assert response.status_code == 202
    caps = [{"type": "RESERVATION_REFINEMENT"}]
    await scheduler.subscribe(framework_info(capabilities=caps))
    offers = await scheduler.offers()
    offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
    cpus = [r for r in offer["resources"] if r["name"] == "cpus"]
    dynamic = [r for r in cpus if r.get("reservations")]
    assert dynamic[0]["scalar"]["value"] == 2
    assert dynamic[0]["reservations"] == [{"type": "DYNAMIC", "role": "web", "principal": "ops"}]
    assert "role" not in dynamic[0]
    plain = [r for r in cpus if not r.get("reservations")]
    assert plain[0]["scalar"]["value"] == 2
    too_much = {
        "agent_id": {"value": AGENT0},
        "resources": [{**reserved[0], "scalar": {"value": 64}}],
    }
    assert (await operator(client, "RESERVE_RESOURCES", too_much)).status_code == 409
    assert (await operator(client, "UNRESERVE_RESOURCES", body)).status_code == 202


async def test_port_ranges_are_reserved_offered_and_held_by_their_tasks(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    """RESERVE/UNRESERVE_RESOURCES with ``Value.Ranges``: the reserved ports are offered
    as reserved RANGES; ports a task holds, or the agent lacks, are a 409."""
    web = [{"type": "DYNAMIC", "role": "web", "principal": "ops"}]

    def ports(begin: int, end: int) -> dict[str, Any]:
        return {
            "agent_id": {"value": AGENT0},
            "resources": [
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": begin, "end": end}]},
                    "reservations": web,
                }
            ],
        }

    assert (await operator(client, "RESERVE_RESOURCES", ports(31005, 31009))).status_code == 202
    assert (await operator(client, "RESERVE_RESOURCES", ports(31008, 31012))).status_code == 409
    await scheduler.subscribe(framework_info(capabilities=[{"type": "RESERVATION_REFINEMENT"}]))
    offers = await scheduler.offers()
    offer = next(o for o in offers if o["agent_id"]["value"] == AGENT0)
    offered = {
        json.dumps(r.get("reservations", [])): r["ranges"]["range"]
        for r in offer["resources"]
        if r["name"] == "ports"
    }
    assert offered == {
        json.dumps(web): [{"begin": 31005, "end": 31009}],
        "[]": [{"begin": 31000, "end": 31004}],
    }
    held = ports(31006, 31006)["resources"][0] | {"allocation_info": {"role": "web"}}
    task = task_info("holds-31006", AGENT0)
    task["resources"] = [{**r, "allocation_info": {"role": "web"}} for r in task["resources"]] + [
        held
    ]
    await scheduler.launch(offer, task)
    await scheduler.ack(await scheduler.update("holds-31006", "TASK_STARTING"))
    status = await operator(client, "UNRESERVE_RESOURCES", ports(31005, 31009))
    assert status.status_code == 409  # 31006 is in use
    assert (await operator(client, "UNRESERVE_RESOURCES", ports(31008, 31009))).status_code == 202


async def test_update_quota_limits_what_a_role_is_offered(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    config = {"role": "web", "limits": {"cpus": {"value": 3}}, "guarantees": {"cpus": {"value": 1}}}
    response = await operator(client, "UPDATE_QUOTA", {"quota_configs": [config]})
    assert (response.status_code, response.content) == (200, b"")
    quota = (await operator(client, "GET_QUOTA")).json()["get_quota"]["status"]
    assert quota["configs"] == [config]
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    offered = sum(
        r["scalar"]["value"] for o in offers for r in o["resources"] if r["name"] == "cpus"
    )
    assert offered == 3
    bad = {"role": "web", "limits": {"cpus": {"value": 1}}, "guarantees": {"cpus": {"value": 2}}}
    assert (await operator(client, "UPDATE_QUOTA", {"quota_configs": [bad]})).status_code == 400


async def test_drain_agent_kills_tasks_and_marks_it_drained(
    local: LocalMaster, client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    await _running(scheduler, "d1")
    body = {"agent_id": {"value": AGENT0}, "max_grace_period": {"seconds": 1}}
    response = await operator(client, "DRAIN_AGENT", body)
    assert (response.status_code, response.content) == (200, b"")
    killed = await scheduler.update("d1", "TASK_KILLED")
    assert killed["reason"] == "REASON_AGENT_DRAINING"

    async def drain_state() -> str:
        agents = (await operator(client, "GET_AGENTS")).json()["get_agents"]["agents"]
        agent = next(a for a in agents if a["agent_info"]["id"]["value"] == AGENT0)
        assert agent["deactivated"] is True
        return str(agent["drain_info"]["state"])

    assert await drain_state() == "DRAINING"  # until the kill is acknowledged
    await scheduler.ack(killed)
    await wait_for(lambda: _is(drain_state(), "DRAINED"))
    assert (
        await operator(client, "REACTIVATE_AGENT", {"agent_id": {"value": AGENT0}})
    ).status_code == 200
    assert local.master.state.agents[AGENT0].drain is None


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)


async def test_deactivated_agent_gets_no_offers(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await operator(client, "DEACTIVATE_AGENT", {"agent_id": {"value": AGENT0}})
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    assert {o["agent_id"]["value"] for o in offers} == {"test-master-S1"}
    unknown = await operator(client, "DEACTIVATE_AGENT", {"agent_id": {"value": "nope"}})
    assert unknown.status_code == 400


async def test_maintenance_draining_down_and_up(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info(capabilities=[{"type": "PARTITION_AWARE"}]))
    await _running(scheduler, "mt")
    machine = {"hostname": "agent-001.local"}
    window = {"machine_ids": [machine], "unavailability": {"start": {"nanoseconds": 1}}}
    schedule = {"schedule": {"windows": [window]}}
    assert (await operator(client, "UPDATE_MAINTENANCE_SCHEDULE", schedule)).status_code == 200
    inverse = await scheduler.next("INVERSE_OFFERS")
    inverse_offer = inverse["inverse_offers"]["inverse_offers"][0]
    assert inverse_offer["agent_id"]["value"] == AGENT0
    assert inverse_offer["unavailability"] == window["unavailability"]
    await scheduler.call("ACCEPT_INVERSE_OFFERS", {"inverse_offer_ids": [inverse_offer["id"]]})
    got = (await operator(client, "GET_MAINTENANCE_SCHEDULE")).json()
    assert got["get_maintenance_schedule"]["schedule"] == schedule["schedule"]
    status = (await operator(client, "GET_MAINTENANCE_STATUS")).json()["get_maintenance_status"][
        "status"
    ]
    (draining,) = status["draining_machines"]
    assert draining["id"] == machine
    answers = [(a["status"], a["framework_id"]["value"]) for a in draining["statuses"]]
    assert answers == [("ACCEPT", scheduler.framework_id)]
    refused = await operator(
        client, "START_MAINTENANCE", {"machines": [{"hostname": "agent-002.local"}]}
    )
    assert refused.status_code == 400
    assert (await operator(client, "START_MAINTENANCE", {"machines": [machine]})).status_code == 200
    gone = await scheduler.update("mt", "TASK_GONE_BY_OPERATOR")
    assert gone["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"
    agents = (await operator(client, "GET_AGENTS")).json()["get_agents"]["agents"]
    assert AGENT0 not in [a["agent_info"]["id"]["value"] for a in agents]
    status = (await operator(client, "GET_MAINTENANCE_STATUS")).json()["get_maintenance_status"][
        "status"
    ]
    assert status["down_machines"] == [machine]
    assert (await operator(client, "STOP_MAINTENANCE", {"machines": [machine]})).status_code == 200
    agents = (await operator(client, "GET_AGENTS")).json()["get_agents"]["agents"]
    assert AGENT0 in [a["agent_info"]["id"]["value"] for a in agents]


async def test_operator_subscribe_streams_state_then_events(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def read() -> None:
        body = json.dumps({"type": "SUBSCRIBE"})
        async with client.stream("POST", "/api/v1", content=body, headers=JSON) as resp:
            assert resp.status_code == 200
            assert "mesos-stream-id" not in resp.headers
            decoder = recordio.RecordIODecoder()
            async for chunk in resp.aiter_bytes():
                for record in decoder.feed(chunk):
                    events.put_nowait(json.loads(record))

    reader = asyncio.get_running_loop().create_task(read(), name="test:operator-stream")
    try:

        async def next_kind(kind: str) -> dict[str, Any]:
            async with asyncio.timeout(5):
                while True:
                    event = await events.get()
                    if event["type"] == kind:
                        return event

        subscribed = await next_kind("SUBSCRIBED")
        assert "get_agents" in subscribed["subscribed"]["get_state"]
        await scheduler.subscribe(framework_info())
        added = await next_kind("FRAMEWORK_ADDED")
        assert added["framework_added"]["framework"]["framework_info"]["name"] == "test"
        await _running(scheduler, "op1")
        task_added = await next_kind("TASK_ADDED")
        assert task_added["task_added"]["task"]["state"] == "TASK_STAGING"
        updated = await next_kind("TASK_UPDATED")
        assert updated["task_updated"]["state"] == "TASK_STARTING"
        await next_kind("HEARTBEAT")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def test_legacy_state_endpoints(
    local: LocalMaster, client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    await _running(scheduler, "l1", cpus=0.5)
    state = (await client.get("/master/state")).json()
    assert state["version"] == "1.11.0"
    assert state["id"] == "test-master"
    assert state["pid"] == state["leader"] == f"master@127.0.0.1:{local.master.port}"
    assert state["activated_slaves"] == 2
    assert state["orphan_tasks"] == [] and state["unregistered_frameworks"] == []
    slave = next(s for s in state["slaves"] if s["id"] == AGENT0)
    assert slave["resources"] == {
        "cpus": 4.0,
        "disk": 100000.0,
        "gpus": 0.0,
        "mem": 4096.0,
        "ports": "[31000-31009]",
    }
    assert slave["used_resources"]["cpus"] == 0.5
    assert slave["pid"].startswith("slave(1)@")
    framework = state["frameworks"][0]
    assert framework["roles"] == ["web"]
    assert framework["hostname"] == ""
    task = framework["tasks"][0]
    assert (task["id"], task["slave_id"], task["executor_id"], task["state"]) == (
        "l1",
        AGENT0,
        "",
        "TASK_RUNNING",
    )
    assert task["statuses"][-1]["state"] == "TASK_RUNNING"
    assert task["resources"]["cpus"] == 0.5
    for path in ("/state", "/master/state.json"):
        assert (await client.get(path)).json()["id"] == "test-master"
    slaves = (await client.get("/master/slaves")).json()
    assert set(slaves) == {"slaves", "recovered_slaves"}
    frameworks = (await client.get("/master/frameworks/")).json()
    assert set(frameworks) == {"frameworks", "completed_frameworks", "unregistered_frameworks"}
    tasks = (await client.get("/master/tasks", params={"limit": 10})).json()
    assert [t["id"] for t in tasks["tasks"]] == ["l1"]
    summary = (await client.get("/master/state-summary")).json()
    assert summary["slaves"][0]["TASK_RUNNING"] == 1
    assert summary["frameworks"][0]["slave_ids"] == [AGENT0]
    roles = (await client.get("/master/roles")).json()["roles"]
    assert roles == [
        {
            "name": "web",
            "weight": 1.0,
            "frameworks": [scheduler.framework_id],
            "resources": task["resources"],
        }
    ]
    version = (await client.get("/version")).json()
    assert version["version"] == "1.11.0"
    assert (await client.get("/master/health")).status_code == 200
    redirect = await client.get("/master/redirect")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == f"//127.0.0.1:{local.master.port}"


async def test_drain_with_mark_gone_removes_an_idle_agent(
    local: LocalMaster, client: httpx.AsyncClient
) -> None:
    body = {"agent_id": {"value": "test-master-S1"}, "mark_gone": True}
    assert (await operator(client, "DRAIN_AGENT", body)).status_code == 200
    agents = (await operator(client, "GET_AGENTS")).json()["get_agents"]["agents"]
    assert [a["agent_info"]["id"]["value"] for a in agents] == [AGENT0]
    assert local.master.state.agents["test-master-S1"].gone
