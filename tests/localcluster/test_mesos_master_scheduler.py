"""The local master's v1 scheduler API, driven over real HTTP as a framework would."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from adapters.mesos import EventUpdate, SchedulerEvent, TaskStatus, dumps, recordio
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.wire import update_record
from tests.localcluster.test_mesos_master_wire import (
    JSON,
    Scheduler,
    client,
    framework_info,
    local,
    scheduler,
    settings,
    task_info,
    wait_for,
)

__all__ = ["client", "local", "scheduler"]


async def test_subscribe_streams_subscribed_then_offers_per_role(
    local: LocalMaster, scheduler: Scheduler
) -> None:
    subscribed = await scheduler.subscribe(framework_info(roles=("web", "batch")))
    assert subscribed["subscribed"]["heartbeat_interval_seconds"] == 0.5
    assert subscribed["subscribed"]["master_info"]["id"] == "test-master"
    assert scheduler.status == 200
    assert scheduler.stream_id
    offers = await scheduler.offers()
    agent_ids = {o["agent_id"]["value"] for o in offers}
    assert agent_ids == {"test-master-S0", "test-master-S1"}
    assert {o["allocation_info"]["role"] for o in offers} == {"web", "batch"}  # one agent each
    offer = offers[0]
    role = offer["allocation_info"]["role"]
    assert {r["name"] for r in offer["resources"]} == {"cpus", "mem", "disk", "ports"}
    for resource in offer["resources"]:
        assert resource["allocation_info"] == {"role": role}
        assert resource["role"] == "*"
    ports = next(r for r in offer["resources"] if r["name"] == "ports")
    assert ports["ranges"] == {"range": [{"begin": 31000, "end": 31009}]}
    assert offer["hostname"].startswith("agent-00")


async def test_launch_retries_updates_until_acknowledged(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offer = (await scheduler.offers())[0]
    agent_id = offer["agent_id"]["value"]
    response = await scheduler.launch(offer, task_info("t1", agent_id))
    assert response.status_code == 202
    assert response.content == b""
    starting = await scheduler.update("t1")
    assert starting["state"] == "TASK_STARTING"
    assert starting["source"] == "SOURCE_EXECUTOR"
    assert starting["agent_id"]["value"] == agent_id
    assert len(starting["uuid"]) == 24  # base64 of 16 bytes
    again = await scheduler.update("t1")
    assert again["uuid"] == starting["uuid"]  # retried, and RUNNING held back until the ack
    await scheduler.ack(starting)
    running = await scheduler.update("t1", "TASK_RUNNING")
    assert running["uuid"] != starting["uuid"]
    assert (await scheduler.ack(running)).status_code == 202
    with pytest.raises(TimeoutError):
        await scheduler.update("t1", within=1.0)


async def test_kill_reports_killed_and_frees_resources(
    local: LocalMaster, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    offer = (await scheduler.offers())[0]
    agent_id = offer["agent_id"]["value"]
    await scheduler.launch(offer, task_info("k1", agent_id, cpus=1))
    await scheduler.ack(await scheduler.update("k1", "TASK_STARTING"))
    await scheduler.ack(await scheduler.update("k1", "TASK_RUNNING"))
    response = await scheduler.call(
        "KILL", {"task_id": {"value": "k1"}, "agent_id": {"value": agent_id}}
    )
    assert response.status_code == 202
    killed = await scheduler.update("k1", "TASK_KILLED")
    await scheduler.ack(killed)
    agent = local.master.state.agents[agent_id]
    await wait_for(lambda: agent.allocated.empty() and not agent.tasks)


async def test_kill_of_unknown_task_answers_through_reconciliation(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    await scheduler.call("KILL", {"task_id": {"value": "nope"}})
    status = await scheduler.update("nope")
    assert status["state"] == "TASK_LOST"
    assert status["reason"] == "REASON_RECONCILIATION"
    assert "uuid" not in status


async def test_decline_filters_the_agent_for_refuse_seconds(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    declined = {o["agent_id"]["value"] for o in offers}
    body = {"offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": 1.0}}
    started = asyncio.get_running_loop().time()
    assert (await scheduler.call("DECLINE", body)).status_code == 202
    again = await scheduler.offers(within=5)
    assert asyncio.get_running_loop().time() - started >= 0.9
    assert {o["agent_id"]["value"] for o in again} <= declined


async def test_unused_part_of_an_accept_is_filtered(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    await scheduler.launch(offers[0], task_info("u1", offers[0]["agent_id"]["value"]), refuse=30)
    await scheduler.call(
        "DECLINE", {"offer_ids": [o["id"] for o in offers[1:]], "filters": {"refuse_seconds": 30}}
    )
    with pytest.raises(TimeoutError):
        await scheduler.offers(within=0.7)


async def test_suppress_stops_offers_and_revive_restores_them(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offers = await scheduler.offers()
    assert (await scheduler.call("SUPPRESS", {"roles": ["web"]})).status_code == 202
    await scheduler.call(
        "DECLINE", {"offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": 0}}
    )
    with pytest.raises(TimeoutError):
        await scheduler.offers(within=0.6)
    assert (await scheduler.call("REVIVE", {"roles": ["web"]})).status_code == 202
    assert len(await scheduler.offers()) == 2


async def test_resubscribe_fails_over_the_old_stream(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info(failover_timeout=60))
    second = Scheduler(client)
    try:
        info = framework_info(failover_timeout=60, id={"value": scheduler.framework_id})
        await second.subscribe(info)
        assert second.framework_id == scheduler.framework_id
        assert second.stream_id != scheduler.stream_id
        error = await scheduler.next("ERROR")
        assert error["error"]["message"] == "Framework failed over"
        await asyncio.wait_for(scheduler.ended.wait(), 5)
        stale = await scheduler.call("REVIVE")
        assert stale.status_code == 400
        assert "didn't match the stream ID" in stale.text
        assert (await second.call("REVIVE")).status_code == 202
    finally:
        await second.close()


@pytest.mark.parametrize(
    ("headers", "status", "text"),
    [
        pytest.param(
            {"Content-Type": "text/plain"}, 415, "Expecting 'Content-Type'", id="wrong-type"
        ),
        pytest.param(
            {"Content-Type": "application/json; charset=utf-8"}, 415, "Content-Type", id="charset"
        ),
        pytest.param({"Content-Type": ""}, 415, "Content-Type", id="empty-type"),
        pytest.param({"Accept": "application/xml"}, 406, "Accept", id="accept"),
        pytest.param({"Mesos-Stream-Id": ""}, 400, "", id="empty-stream-id"),
    ],
)
async def test_transport_errors_are_plain_text(
    scheduler: Scheduler, headers: dict[str, str], status: int, text: str
) -> None:
    await scheduler.subscribe(framework_info())
    response = await scheduler.call("REVIVE", headers=headers)
    assert response.status_code == status
    assert text in response.text
    assert response.headers["content-type"].startswith("text/plain")


async def test_call_validation_follows_the_master(
    client: httpx.AsyncClient, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    no_stream = await client.post(
        "/api/v1/scheduler",
        content=json.dumps({"type": "REVIVE", "framework_id": {"value": scheduler.framework_id}}),
        headers=JSON,
    )
    assert no_stream.status_code == 400
    assert no_stream.text == "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
    no_fid = await client.post("/api/v1/scheduler", content=b'{"type":"REVIVE"}', headers=JSON)
    assert no_fid.status_code == 400
    assert (
        no_fid.text == "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"
    )
    unknown = await client.post(
        "/api/v1/scheduler", content=b'{"type":"REVIVE","framework_id":{"value":"x"}}', headers=JSON
    )
    assert (unknown.status_code, unknown.text) == (400, "Framework cannot be found")
    no_type = await client.post(
        "/api/v1/scheduler", content=b'{"type":"REVIVE"}', headers={"Accept": "*/*"}
    )
    assert no_type.status_code == 400
    get = await client.get("/api/v1/scheduler")
    assert get.status_code == 405
    body = await client.post("/api/v1/scheduler", content=b"{not json", headers=JSON)
    assert body.status_code == 400
    assert body.text.startswith("Failed to parse body into JSON")
    missing = await client.post(
        "/api/v1/scheduler", content=b'{"type":"ACCEPT","framework_id":{"value":"x"}}', headers=JSON
    )
    assert missing.text == "Failed to validate scheduler::Call: Expecting 'accept' to be present"
    with_stream = await client.post(
        "/api/v1/scheduler",
        content=json.dumps(
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info()}}
        ),
        headers={**JSON, "Mesos-Stream-Id": "abc"},
    )
    assert with_stream.status_code == 400


async def test_invalid_offer_drops_tasks_without_http_error(scheduler: Scheduler) -> None:
    caps = [{"type": "PARTITION_AWARE"}]
    await scheduler.subscribe(framework_info(capabilities=caps))
    offer = (await scheduler.offers())[0]
    bogus = {**offer, "id": {"value": "no-such-offer"}}
    response = await scheduler.launch(bogus, task_info("x1", offer["agent_id"]["value"]))
    assert response.status_code == 202
    status = await scheduler.update("x1")
    assert (status["state"], status["reason"]) == ("TASK_DROPPED", "REASON_INVALID_OFFERS")
    assert status["source"] == "SOURCE_MASTER"
    await scheduler.launch(offer, task_info("x2", offer["agent_id"]["value"]))
    await scheduler.update("x2", "TASK_STARTING")
    await scheduler.launch(offer, task_info("x3", offer["agent_id"]["value"]))  # used twice
    assert (await scheduler.update("x3"))["state"] == "TASK_DROPPED"


async def test_task_that_does_not_fit_gets_task_error(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offer = (await scheduler.offers())[0]
    agent_id = offer["agent_id"]["value"]
    await scheduler.launch(offer, task_info("big", agent_id, cpus=64), task_info("ok", agent_id))
    error = await scheduler.update("big")
    assert (error["state"], error["reason"]) == ("TASK_ERROR", "REASON_TASK_INVALID")
    assert (await scheduler.update("ok"))["state"] == "TASK_STARTING"


async def test_reconciliation_explicit_and_implicit(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offer = (await scheduler.offers())[0]
    agent_id = offer["agent_id"]["value"]
    await scheduler.launch(offer, task_info("r1", agent_id), task_info("r2", agent_id))
    for task_id in ("r1", "r2"):
        await scheduler.ack(await scheduler.update(task_id, "TASK_STARTING"))
        await scheduler.ack(await scheduler.update(task_id, "TASK_RUNNING"))
    body = {
        "tasks": [
            {"task_id": {"value": "r1"}, "agent_id": {"value": agent_id}},
            {"task_id": {"value": "zz"}},
        ]
    }
    assert (await scheduler.call("RECONCILE", body)).status_code == 202
    r1 = await scheduler.update("r1")
    assert (r1["state"], r1["reason"], r1["source"]) == (
        "TASK_RUNNING",
        "REASON_RECONCILIATION",
        "SOURCE_MASTER",
    )
    assert "uuid" not in r1
    assert (await scheduler.update("zz"))["state"] == "TASK_LOST"
    await scheduler.call("RECONCILE", {"tasks": []})
    implicit = {(await scheduler.update(t))["state"] for t in ("r1", "r2")}
    assert implicit == {"TASK_RUNNING"}


async def test_failover_timeout_expiry_kills_tasks(
    local: LocalMaster, client: httpx.AsyncClient
) -> None:
    first = Scheduler(client)
    await first.subscribe(framework_info(failover_timeout=0.5))
    offer = (await first.offers())[0]
    await first.launch(offer, task_info("f1", offer["agent_id"]["value"]))
    await first.update("f1", "TASK_STARTING")
    fid = first.framework_id
    await first.close()
    state = local.master.state
    await wait_for(lambda: fid not in state.frameworks, within=5)
    removed = state.completed_frameworks[-1]
    assert removed.id == fid
    assert [r.state for r in removed.completed] == ["TASK_KILLED"]
    agent = state.agents[offer["agent_id"]["value"]]
    assert agent.allocated.empty()


async def test_reconnect_within_failover_timeout_keeps_tasks(
    local: LocalMaster, client: httpx.AsyncClient
) -> None:
    first = Scheduler(client)
    await first.subscribe(framework_info(failover_timeout=30))
    offer = (await first.offers())[0]
    await first.launch(offer, task_info("keep", offer["agent_id"]["value"]))
    await first.update("keep", "TASK_STARTING")
    await first.close()
    fw = local.master.state.frameworks[str(first.framework_id)]
    await wait_for(lambda: not fw.connected)
    second = Scheduler(client)
    try:
        await second.subscribe(
            framework_info(failover_timeout=30, id={"value": first.framework_id})
        )
        pending = await second.update(
            "keep", "TASK_STARTING"
        )  # the unacknowledged update comes again
        await second.ack(pending)
        await second.update("keep", "TASK_RUNNING")
    finally:
        await second.close()


async def test_master_failover_cuts_streams_and_keeps_tasks(
    local: LocalMaster, client: httpx.AsyncClient
) -> None:
    first = Scheduler(client)
    await first.subscribe(framework_info(failover_timeout=30))
    offer = (await first.offers())[0]
    await first.launch(offer, task_info("m1", offer["agent_id"]["value"]))
    await first.ack(await first.update("m1", "TASK_STARTING"))
    await first.ack(await first.update("m1", "TASK_RUNNING"))
    response = await client.post("/faults/failover-master")
    assert response.status_code == 200
    await asyncio.wait_for(first.ended.wait(), 5)
    second = Scheduler(client)
    try:
        subscribed = await second.subscribe(
            framework_info(failover_timeout=30, id={"value": first.framework_id})
        )
        assert subscribed["subscribed"]["master_info"]["id"] != "test-master"
        await second.call("RECONCILE", {"tasks": []})
        status = await second.update("m1")
        assert status["state"] == "TASK_RUNNING"
    finally:
        await first.close()
        await second.close()


async def test_teardown_removes_the_framework_and_its_tasks(
    local: LocalMaster, scheduler: Scheduler
) -> None:
    await scheduler.subscribe(framework_info())
    offer = (await scheduler.offers())[0]
    await scheduler.launch(offer, task_info("td", offer["agent_id"]["value"]))
    await scheduler.update("td", "TASK_STARTING")
    assert (await scheduler.call("TEARDOWN")).status_code == 202
    await asyncio.wait_for(scheduler.ended.wait(), 5)
    assert not local.master.state.frameworks
    assert (await scheduler.call("REVIVE")).status_code == 400


async def test_heartbeats_arrive_on_the_interval(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    await wait_for(lambda: scheduler.heartbeats >= 3, within=3)


async def test_launch_group_shares_an_executor(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info())
    offer = (await scheduler.offers())[0]
    agent_id = offer["agent_id"]["value"]
    group = {
        "executor": {"executor_id": {"value": "ex1"}, "type": "DEFAULT", "resources": []},
        "task_group": {"tasks": [task_info("g1", agent_id), task_info("g2", agent_id)]},
    }
    await scheduler.call(
        "ACCEPT",
        {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH_GROUP", "launch_group": group}],
        },
    )
    for task_id in ("g1", "g2"):
        status = await scheduler.update(task_id, "TASK_STARTING")
        assert status["executor_id"]["value"] == "ex1"


async def test_separate_masters_do_not_share_state() -> None:
    async with LocalMaster(settings(agents=1)) as one, LocalMaster(settings(agents=3)) as two:
        assert one.url != two.url
        assert len(one.master.state.agents) == 1
        assert len(two.master.state.agents) == 3


async def test_single_role_framework_gets_offers_without_allocation_info(
    scheduler: Scheduler,
) -> None:
    await scheduler.subscribe({"user": "root", "name": "legacy"})
    offers = await scheduler.offers()
    assert all("allocation_info" not in o for o in offers)
    assert all(
        "allocation_info" not in r and r["role"] == "*" for o in offers for r in o["resources"]
    )
    await scheduler.launch(offers[0], task_info("legacy1", offers[0]["agent_id"]["value"]))
    assert (await scheduler.update("legacy1"))["state"] == "TASK_STARTING"


async def test_update_framework_changes_roles(scheduler: Scheduler) -> None:
    await scheduler.subscribe(framework_info(roles=("web",)))
    offers = await scheduler.offers()
    info = framework_info(roles=("batch",), id={"value": scheduler.framework_id})
    response = await scheduler.call("UPDATE_FRAMEWORK", {"framework_info": info})
    assert (response.status_code, response.content) == (200, b"")
    rescinded = {(await scheduler.next("RESCIND"))["rescind"]["offer_id"]["value"] for _ in offers}
    assert rescinded == {o["id"]["value"] for o in offers}
    again = await scheduler.offers()
    assert {o["allocation_info"]["role"] for o in again} == {"batch"}


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"task_id": {"value": "t"}, "state": "TASK_RUNNING"}, id="minimal"),
        pytest.param(
            {
                "task_id": {"value": "t"},
                "state": "TASK_RUNNING",
                "source": "SOURCE_EXECUTOR",
                "reason": "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
                "message": "h\u00e9alth",
                "agent_id": {"value": "a-S0"},
                "executor_id": {"value": "t"},
                "timestamp": 1795686584.745748,
                "uuid": "K68eveCw4acGvN+agxuoCA==",
                "healthy": False,
                "container_status": {
                    "container_id": {"value": "c"},
                    "network_infos": [{"ip_addresses": [{"ip_address": "10.0.0.2"}]}],
                },
            },
            id="full",
        ),
        pytest.param(
            {
                "task_id": {"value": "t"},
                "state": "TASK_FAILED",
                "labels": {"labels": [{"key": "k"}]},
            },
            id="generic-fallback",
        ),
    ],
)
def test_update_fast_path_writes_what_the_model_writes(status: dict[str, object]) -> None:
    parsed = TaskStatus.model_validate(status)
    generic = dumps(SchedulerEvent.wrap("UPDATE", EventUpdate(status=parsed)))
    (record,) = recordio.RecordIODecoder().feed(update_record(parsed))
    assert json.loads(record) == json.loads(generic)


async def test_kill_announces_killing_to_frameworks_that_understand_it(
    scheduler: Scheduler,
) -> None:
    await scheduler.subscribe(framework_info(capabilities=[{"type": "TASK_KILLING_STATE"}]))
    offer = (await scheduler.offers())[0]
    agent_id = offer["agent_id"]["value"]
    await scheduler.launch(offer, task_info("ks", agent_id))
    await scheduler.ack(await scheduler.update("ks", "TASK_STARTING"))
    await scheduler.ack(await scheduler.update("ks", "TASK_RUNNING"))
    await scheduler.call("KILL", {"task_id": {"value": "ks"}})
    await scheduler.ack(await scheduler.update("ks", "TASK_KILLING"))
    await scheduler.update("ks", "TASK_KILLED")
