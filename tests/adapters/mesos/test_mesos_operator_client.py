"""MesosOperatorClient against scripted masters behind ``httpx.MockTransport``.

The request and response bodies are the golden examples from the Mesos docs
(``golden/operator-http-api.*.json``): each read sends exactly the golden
request and parses the golden response; each change, given the golden
request's values, sends exactly that request.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from adapters.mesos import (
    OperatorCall,
    OperatorResponse,
    recordio,
    to_json,
)
from adapters.mesos.http import MesosSettings
from adapters.mesos.operator import MesosOperatorClient
from crds.errors import MesosRejected, MesosUnavailable

GOLDEN = Path(__file__).parent / "golden"
M1 = "http://m1:5050"
M2 = "http://m2:5050"

Handler = Callable[[httpx.Request], httpx.Response]


def golden(name: str) -> dict[str, Any]:
    data = json.loads((GOLDEN / f"operator-http-api.{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def canonical(value: Any) -> Any:
    """JSON equality that ignores key order and int/float spelling."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


class Recorder:
    """Answers every request with ``handler`` and keeps ``(base, request)``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[tuple[str, httpx.Request]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((f"{request.url.scheme}://{request.url.host}:{request.url.port}", request))
        return self.handler(request)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for _, r in self.seen if r.method == "POST"]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def make_client(
    recorder: Recorder, sleeps: Sleeps | None = None, **settings: Any
) -> MesosOperatorClient:
    settings.setdefault("masters", (M1,))
    settings.setdefault("backoff_jitter", 0.0)
    return MesosOperatorClient(
        MesosSettings(**settings),
        transport=httpx.MockTransport(recorder),
        sleep=sleeps or Sleeps(),
        rng=random.Random(3),
    )


def answer(code: int, body: dict[str, Any] | None = None, text: str = "") -> Handler:
    def respond(request: httpx.Request) -> httpx.Response:
        if body is not None:
            return httpx.Response(code, json=body)
        return httpx.Response(code, text=text)

    return respond


# ---------------------------------------------------------------- reads

READS = [
    pytest.param("get_health", "get_health", lambda r: r, id="health"),
    pytest.param("get_version", "get_version", lambda r: r, id="version"),
    pytest.param("get_flags", "get_flags", lambda r: r, id="flags"),
    pytest.param("get_state", "get_state", lambda r: r, id="state"),
    pytest.param("get_agents", "get_agents", lambda r: r, id="agents"),
    pytest.param("get_frameworks", "get_frameworks", lambda r: r, id="frameworks"),
    pytest.param("get_tasks", "get_tasks", lambda r: r, id="tasks"),
    pytest.param("get_roles", "get_roles", lambda r: r, id="roles"),
    pytest.param("get_quota", "get_quota", lambda r: r.status, id="quota"),
    pytest.param(
        "get_maintenance_schedule",
        "get_maintenance_schedule",
        lambda r: r.schedule,
        id="maintenance-schedule",
    ),
    pytest.param(
        "get_maintenance_status",
        "get_maintenance_status",
        lambda r: r.status,
        id="maintenance-status",
    ),
]


@pytest.mark.parametrize(("method", "name", "unwrap"), READS)
async def test_read_sends_the_golden_request_and_parses_the_golden_response(
    method: str, name: str, unwrap: Callable[[Any], BaseModel]
) -> None:
    response = golden(f"{name}.response")
    recorder = Recorder(answer(200, response))
    async with make_client(recorder) as client:
        result = await getattr(client, method)()
    [(base, request)] = recorder.seen
    assert base == M1
    assert request.url.path == "/api/v1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == golden(f"{name}.request")
    expected = unwrap(getattr(OperatorResponse.model_validate(response), name))
    assert result == expected
    assert canonical(to_json(result)) == canonical(to_json(expected))


async def test_read_with_a_mismatched_answer_is_unavailable() -> None:
    recorder = Recorder(answer(200, golden("get_health.response")))
    async with make_client(recorder) as client:
        with pytest.raises(MesosUnavailable, match="GET_STATE answered with GET_HEALTH"):
            await client.get_state()


async def test_read_with_an_unparseable_answer_is_unavailable() -> None:
    recorder = Recorder(answer(200, text="<html>proxy error</html>"))
    async with make_client(recorder) as client:
        with pytest.raises(MesosUnavailable, match="unreadable GET_AGENTS"):
            await client.get_agents()


# -------------------------------------------------------------- changes


def _body(name: str) -> Any:
    call = OperatorCall.model_validate(golden(f"{name}.request"))
    return call.body()


CHANGES = [
    pytest.param(
        "update_quota",
        lambda c, b: c.update_quota(b.quota_configs, force=b.force),
        200,
        id="update-quota",
    ),
    pytest.param(
        "reserve_resources",
        lambda c, b: c.reserve_resources(b.agent_id, b.resources, source=b.source),
        202,
        id="reserve",
    ),
    pytest.param(
        "unreserve_resources",
        lambda c, b: c.unreserve_resources(b.agent_id.value, b.resources),
        202,
        id="unreserve",
    ),
    pytest.param(
        "drain_agent",
        lambda c, b: c.drain_agent(b.agent_id, max_grace_period=600, mark_gone=False),
        200,
        id="drain",
    ),
    pytest.param(
        "deactivate_agent", lambda c, b: c.deactivate_agent(b.agent_id), 200, id="deactivate"
    ),
    pytest.param(
        "reactivate_agent", lambda c, b: c.reactivate_agent(b.agent_id), 200, id="reactivate"
    ),
    pytest.param(
        "update_maintenance_schedule",
        lambda c, b: c.update_maintenance_schedule(b.schedule),
        202,
        id="maintenance-schedule-202",
    ),
    pytest.param(
        "start_maintenance",
        lambda c, b: c.start_maintenance(b.machines),
        200,
        id="start-maintenance-200",
    ),
    pytest.param(
        "stop_maintenance",
        lambda c, b: c.stop_maintenance(b.machines),
        202,
        id="stop-maintenance-202",
    ),
]


@pytest.mark.parametrize(("name", "invoke", "code"), CHANGES)
async def test_change_sends_the_golden_request(
    name: str, invoke: Callable[[MesosOperatorClient, Any], Any], code: int
) -> None:
    recorder = Recorder(answer(code))
    async with make_client(recorder) as client:
        assert await invoke(client, _body(name)) is None
    assert [canonical(b) for b in recorder.bodies()] == [canonical(golden(f"{name}.request"))]


async def test_drain_grace_period_keeps_fractions_as_nanos() -> None:
    recorder = Recorder(answer(200))
    async with make_client(recorder) as client:
        await client.drain_agent("a1", max_grace_period=1.5, mark_gone=True)
    [body] = recorder.bodies()
    assert body["drain_agent"] == {
        "agent_id": {"value": "a1"},
        "max_grace_period": {"seconds": 1, "nanos": 500_000_000},
        "mark_gone": True,
    }


# --------------------------------------------------- leader and errors


async def test_redirect_to_the_leader_is_followed_and_remembered() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "m1":
            return httpx.Response(307, headers={"Location": "//m2:5050/api/v1"})
        return httpx.Response(200, json=golden("get_health.response"))

    recorder = Recorder(handler)
    async with make_client(recorder, masters=(M1, M2)) as client:
        assert (await client.get_health()).healthy
        assert client.master == M2
        await client.get_health()
    assert [base for base, _ in recorder.seen] == [M1, M2, M2]


async def test_unreachable_master_makes_way_for_the_next() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "m1":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=golden("get_health.response"))

    recorder = Recorder(handler)
    async with make_client(recorder, masters=(M1, M2)) as client:
        await client.get_health()
        await client.get_health()
    assert [base for base, _ in recorder.seen] == [M1, M2, M2]


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(503, text="No leader elected"), id="503"),
        pytest.param(answer(500, text="oops"), id="500"),
    ],
)
async def test_no_master_answering_is_unavailable_naming_each(handler: Handler) -> None:
    recorder = Recorder(handler)
    async with make_client(recorder, masters=(M1, M2)) as client:
        with pytest.raises(MesosUnavailable) as info:
            await client.get_state()
    assert "http://m1:5050" in str(info.value) and "http://m2:5050" in str(info.value)


async def test_connection_error_is_unavailable_naming_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with make_client(Recorder(refuse)) as client:
        with pytest.raises(MesosUnavailable, match=r"http://m1:5050.*connection refused"):
            await client.get_health()


async def test_400_is_rejected_with_the_body_text() -> None:
    text = "Failed to validate master::Call: Expecting 'drain_agent' to be present"
    recorder = Recorder(answer(400, text=text))
    async with make_client(recorder, masters=(M1, M2)) as client:
        with pytest.raises(MesosRejected, match="Expecting 'drain_agent' to be present"):
            await client.drain_agent("a1")
    assert len(recorder.seen) == 1  # a refusal is not retried on another master


async def test_master_state_reads_the_legacy_endpoint() -> None:
    state = {"id": "m", "slaves": [{"id": "a1", "resources": {"cpus": 1.0}}], "frameworks": []}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "m1":
            return httpx.Response(307, headers={"Location": "//m2:5050/master/state"})
        return httpx.Response(200, json=state)

    recorder = Recorder(handler)
    async with make_client(recorder, masters=(M1, M2)) as client:
        assert await client.master_state() == state
    _, request = recorder.seen[-1]
    assert (request.method, request.url.path) == ("GET", "/master/state")


# --------------------------------------------------------------- stream


def frame(*events: dict[str, Any]) -> bytes:
    return b"".join(recordio.encode(json.dumps(e).encode()) for e in events)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
    await asyncio.Event().wait()


async def test_subscribe_streams_events_and_reopens_after_missed_heartbeats() -> None:
    first = golden("subscribed.event")
    first["subscribed"]["heartbeat_interval_seconds"] = 0.01
    events_on_wire = [
        first,
        golden("heartbeat.event"),
        golden("task_added.event"),
        golden("agent_removed.event"),
    ]
    opened: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        opened.append(1)
        data = frame(*events_on_wire) if len(opened) == 1 else frame(golden("subscribed.event"))
        return httpx.Response(200, content=_chunks(data, 7))

    recorder = Recorder(handler)
    sleeps = Sleeps()
    async with make_client(recorder, sleeps) as client:
        events = client.subscribe()
        async with asyncio.timeout(5):
            kinds = [(await anext(events)).type for _ in range(5)]
        await events.aclose()
    assert kinds == ["SUBSCRIBED", "HEARTBEAT", "TASK_ADDED", "AGENT_REMOVED", "SUBSCRIBED"]
    assert recorder.bodies() == [{"type": "SUBSCRIBE"}, {"type": "SUBSCRIBE"}]
    assert "Mesos-Stream-Id" not in recorder.seen[0][1].headers
    assert len(sleeps.delays) == 1


async def test_subscribe_refused_raises_rejected() -> None:
    recorder = Recorder(answer(401, text="Unauthorized"))
    async with make_client(recorder) as client:
        with pytest.raises(MesosRejected, match="Unauthorized"):
            await anext(client.subscribe())
