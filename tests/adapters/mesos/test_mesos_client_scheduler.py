"""MesosSchedulerClient against scripted masters behind ``httpx.MockTransport``.

Each test scripts what the masters answer to successive SUBSCRIBE calls (a
list of response factories per master host) and what they answer to the
other calls, then drives ``subscribe()`` by hand with ``anext``. Backoff
sleeps go to a recording fake, so no test waits for real except the
heartbeat tests, whose interval is 10 ms.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from adapters.mesos import (
    AgentID,
    Filters,
    FrameworkID,
    FrameworkInfo,
    OfferOperation,
    OfferOperationType,
    OperationLaunch,
    SchedulerEvent,
    TaskInfo,
    recordio,
)
from adapters.mesos.http import Backoff, MesosSettings, resolve_location
from adapters.mesos.scheduler import FrameworkEnded, MesosSchedulerClient
from adapters.protocols import MesosScheduler
from crds.errors import MesosError, MesosRejected, MesosUnavailable

M1 = "http://m1:5050"
M2 = "http://m2:5050"
INFO = FrameworkInfo(user="root", name="dcos", roles=["web", "db"])

Responder = Callable[[httpx.Request], httpx.Response]


def subscribed(fid: str = "fw-1", heartbeat: float = 15.0) -> dict[str, Any]:
    return {
        "type": "SUBSCRIBED",
        "subscribed": {"framework_id": {"value": fid}, "heartbeat_interval_seconds": heartbeat},
    }


HEARTBEAT = {"type": "HEARTBEAT"}


def frame(*events: dict[str, Any]) -> bytes:
    return b"".join(recordio.encode(json.dumps(e).encode()) for e in events)


async def _chunks(parts: list[bytes], hang: bool) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if hang:
        await asyncio.Event().wait()


def stream(
    *events: dict[str, Any], stream_id: str = "s-1", hang: bool = True, chunk: int = 0
) -> Responder:
    """A 200 SUBSCRIBE answer with ``events``; it then stays open (``hang``) or ends."""
    data = frame(*events)
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]

    def respond(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Mesos-Stream-Id": stream_id}
        return httpx.Response(200, headers=headers, content=_chunks(parts, hang))

    return respond


def status(code: int, text: str = "", **headers: str) -> Responder:
    return lambda request: httpx.Response(code, text=text, headers=headers)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class FakeMasters:
    """Scripted masters; every request is recorded as ``(base url, decoded body, request)``."""

    def __init__(self, subscribes: dict[str, list[Responder]]) -> None:
        self.subscribes = subscribes
        self.on_call: Responder = status(202)
        self.seen: list[tuple[str, dict[str, Any], httpx.Request]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        body = json.loads(request.content)
        self.seen.append((base, body, request))
        if body["type"] == "SUBSCRIBE":
            script = self.subscribes.get(base) or [refuse]
            return (script.pop(0) if len(script) > 1 else script[0])(request)
        return self.on_call(request)

    def subscribe_requests(self) -> list[tuple[str, dict[str, Any], httpx.Request]]:
        return [s for s in self.seen if s[1]["type"] == "SUBSCRIBE"]

    def calls(self) -> list[tuple[str, dict[str, Any], httpx.Request]]:
        return [s for s in self.seen if s[1]["type"] != "SUBSCRIBE"]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def make_client(
    fake: FakeMasters, sleeps: Sleeps | None = None, **settings: Any
) -> MesosSchedulerClient:
    settings.setdefault("masters", (M1,))
    settings.setdefault("backoff_jitter", 0.0)
    return MesosSchedulerClient(
        MesosSettings(**settings),
        transport=httpx.MockTransport(fake),
        sleep=sleeps or Sleeps(),
        rng=random.Random(7),
    )


async def next_of(events: AsyncIterator[SchedulerEvent], kind: str) -> SchedulerEvent:
    async with asyncio.timeout(5):
        while True:
            event = await anext(events)
            if event.type == kind:
                return event


# --------------------------------------------------------------- stream


async def test_events_decode_from_records_split_across_chunks() -> None:
    offers = {
        "type": "OFFERS",
        "offers": {
            "offers": [
                {
                    "id": {"value": "o1"},
                    "framework_id": {"value": "fw-1"},
                    "agent_id": {"value": "a1"},
                    "hostname": "agënt-ü",  # multi-byte UTF-8 split by 1-byte chunks
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}}],
                }
            ]
        },
    }
    masters = FakeMasters({M1: [stream(subscribed(), HEARTBEAT, offers, chunk=1)]})
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        kinds = [(await anext(events)).type for _ in range(2)]
        offer_event = await anext(events)
        await events.aclose()
    assert kinds == ["SUBSCRIBED", "HEARTBEAT"]
    assert offer_event.offers is not None
    assert offer_event.offers.offers[0].hostname == "agënt-ü"
    assert client.framework_id == FrameworkID(value="fw-1")
    [(_, body, request)] = masters.subscribe_requests()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert "Mesos-Stream-Id" not in request.headers
    assert body["subscribe"]["framework_info"]["name"] == "dcos"
    assert "framework_id" not in body


async def test_closing_the_iterator_forgets_the_stream() -> None:
    masters = FakeMasters({M1: [stream(subscribed())]})
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        await anext(events)
        assert client.stream_id == "s-1"
        await events.aclose()
        assert client.stream_id is None
        with pytest.raises(MesosUnavailable, match="not subscribed"):
            await client.revive()


async def test_unreadable_event_is_skipped() -> None:
    data = frame(subscribed()) + recordio.encode(b"{not json") + frame(HEARTBEAT)

    def respond(request: httpx.Request) -> httpx.Response:
        headers = {"Mesos-Stream-Id": "s-1"}
        return httpx.Response(200, headers=headers, content=_chunks([data], True))

    masters = FakeMasters({M1: [respond]})
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        assert [(await anext(events)).type for _ in range(2)] == ["SUBSCRIBED", "HEARTBEAT"]
        await events.aclose()


# ---------------------------------------------------------------- calls

TASK = TaskInfo.model_validate(
    {"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "a1"}, "resources": []}
)
CALLS: list[Any] = [
    pytest.param(
        lambda c: c.accept(
            ["o1"],
            [
                OfferOperation(
                    type=OfferOperationType.LAUNCH, launch=OperationLaunch(task_infos=[TASK])
                )
            ],
            filters=Filters(refuse_seconds=3),
        ),
        "ACCEPT",
        {"offer_ids": [{"value": "o1"}], "filters": {"refuse_seconds": 3.0}},
        id="accept",
    ),
    pytest.param(
        lambda c: c.decline(["o1", "o2"], filters=Filters(refuse_seconds=60)),
        "DECLINE",
        {"offer_ids": [{"value": "o1"}, {"value": "o2"}], "filters": {"refuse_seconds": 60.0}},
        id="decline",
    ),
    pytest.param(lambda c: c.revive(["web"]), "REVIVE", {"roles": ["web"]}, id="revive"),
    pytest.param(lambda c: c.suppress(), "SUPPRESS", {"roles": []}, id="suppress-all"),
    pytest.param(
        lambda c: c.kill("t1", "a1"),
        "KILL",
        {"task_id": {"value": "t1"}, "agent_id": {"value": "a1"}},
        id="kill",
    ),
    pytest.param(
        lambda c: c.acknowledge(agent_id="a1", task_id="t1", uuid="dXVpZA=="),
        "ACKNOWLEDGE",
        {"agent_id": {"value": "a1"}, "task_id": {"value": "t1"}, "uuid": "dXVpZA=="},
        id="acknowledge",
    ),
    pytest.param(
        lambda c: c.reconcile([("t1", AgentID(value="a1")), ("t2", None)]),
        "RECONCILE",
        {
            "tasks": [
                {"task_id": {"value": "t1"}, "agent_id": {"value": "a1"}},
                {"task_id": {"value": "t2"}},
            ]
        },
        id="reconcile-explicit",
    ),
    pytest.param(lambda c: c.reconcile(), "RECONCILE", {"tasks": []}, id="reconcile-implicit"),
    pytest.param(lambda c: c.teardown(), "TEARDOWN", None, id="teardown"),
    pytest.param(
        lambda c: c.message(agent_id="a1", executor_id="e1", data=b"hi"),
        "MESSAGE",
        {"agent_id": {"value": "a1"}, "executor_id": {"value": "e1"}, "data": "aGk="},
        id="message",
    ),
]


@pytest.mark.parametrize(("invoke", "kind", "expected"), CALLS)
async def test_call_sends_stream_id_and_framework_id(
    invoke: Callable[[MesosSchedulerClient], Any], kind: str, expected: dict[str, Any] | None
) -> None:
    masters = FakeMasters({M1: [stream(subscribed(), stream_id="stream-42")]})
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        await anext(events)
        await invoke(client)
        await events.aclose()
    [(base, body, request)] = masters.calls()
    assert base == M1
    assert request.url.path == "/api/v1/scheduler"
    assert request.headers["Mesos-Stream-Id"] == "stream-42"
    assert request.headers["Content-Type"] == "application/json"
    assert body["framework_id"] == {"value": "fw-1"}
    assert body["type"] == kind
    body_field = body.get(kind.lower())
    if expected is None:
        assert body_field is None
    else:
        assert body_field is not None
        assert {k: body_field[k] for k in expected} == expected
        assert set(body_field) - set(expected) <= {"operations"}


async def test_call_before_subscribed_fails_fast() -> None:
    masters = FakeMasters({})
    async with make_client(masters) as client:
        with pytest.raises(MesosUnavailable, match="not subscribed"):
            await client.decline(["o1"])
    assert masters.seen == []


async def test_call_400_raises_rejected_with_the_body_text() -> None:
    masters = FakeMasters({M1: [stream(subscribed())]})
    masters.on_call = status(
        400, "Failed to validate scheduler::Call: Expecting 'kill' to be present"
    )
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        await anext(events)
        with pytest.raises(MesosRejected, match="Expecting 'kill' to be present") as info:
            await client.kill("t1")
        await events.aclose()
    assert "400" in str(info.value)


@pytest.mark.parametrize(
    "responder",
    [
        pytest.param(refuse, id="connection-error"),
        pytest.param(status(503, "No leader elected"), id="503"),
        pytest.param(status(307, Location="//m2:5050/api/v1/scheduler"), id="lost-leadership"),
    ],
)
async def test_call_failure_raises_unavailable_naming_the_master(responder: Responder) -> None:
    masters = FakeMasters({M1: [stream(subscribed())]})
    masters.on_call = responder
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        await anext(events)
        with pytest.raises(MesosUnavailable, match="http://m1:5050"):
            await client.revive()
        await events.aclose()


async def test_call_is_bounded_by_the_request_timeout() -> None:
    masters = FakeMasters({M1: [stream(subscribed())]})

    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["type"] == "SUBSCRIBE":
            return await masters(request)
        return await stall(request)

    client = MesosSchedulerClient(
        MesosSettings(masters=(M1,), request_timeout=0.05),
        transport=httpx.MockTransport(handler),
        sleep=Sleeps(),
    )
    async with client:
        events = client.subscribe(INFO)
        await anext(events)
        with pytest.raises(MesosUnavailable, match="no answer within"):
            await client.suppress(["web"])
        await events.aclose()


# ---------------------------------------------------------- resubscribe


async def test_redirect_to_the_leader_is_followed_and_remembered() -> None:
    masters = FakeMasters(
        {
            M1: [status(307, Location="//m2:5050/api/v1/scheduler")],
            M2: [stream(subscribed())],
        }
    )
    async with make_client(masters, masters=(M1, M2)) as client:
        events = client.subscribe(INFO)
        await anext(events)
        assert client.master == M2
        await client.revive()
        await events.aclose()
    assert [base for base, _, _ in masters.seen] == [M1, M2, M2]


async def test_503_backs_off_then_subscribes() -> None:
    no_leader = status(503, "No leader elected")
    masters = FakeMasters({M1: [no_leader, no_leader, no_leader, stream(subscribed())]})
    sleeps = Sleeps()
    async with make_client(masters, sleeps, backoff_initial=1.0, backoff_max=3.0) as client:
        events = client.subscribe(INFO)
        event = await anext(events)
        await events.aclose()
    assert event.type == "SUBSCRIBED"
    assert sleeps.delays == [1.0, 2.0, 3.0]


async def test_backoff_resets_after_a_successful_subscription() -> None:
    masters = FakeMasters(
        {M1: [refuse, stream(subscribed(), hang=False), refuse, stream(subscribed())]}
    )
    sleeps = Sleeps()
    async with make_client(masters, sleeps, backoff_initial=1.0) as client:
        events = client.subscribe(INFO)
        await next_of(events, "SUBSCRIBED")
        await next_of(events, "SUBSCRIBED")
        await events.aclose()
    assert sleeps.delays == [1.0, 1.0, 2.0]


async def test_heartbeat_timeout_resubscribes_with_the_framework_id() -> None:
    masters = FakeMasters(
        {
            M1: [
                stream(subscribed(heartbeat=0.01), HEARTBEAT, stream_id="s-1"),
                stream(subscribed(heartbeat=15), stream_id="s-2"),
            ]
        }
    )
    sleeps = Sleeps()
    async with make_client(masters, sleeps) as client:
        events = client.subscribe(INFO)
        assert (await anext(events)).type == "SUBSCRIBED"
        assert (await anext(events)).type == "HEARTBEAT"
        again = await next_of(events, "SUBSCRIBED")  # the cue to reconcile
        assert client.stream_id == "s-2"
        await events.aclose()
    assert again.subscribed is not None and again.subscribed.framework_id.value == "fw-1"
    first, second = (body for _, body, _ in masters.subscribe_requests())
    assert "framework_id" not in first
    assert second["framework_id"] == {"value": "fw-1"}
    assert second["subscribe"]["framework_info"]["id"] == {"value": "fw-1"}
    assert len(sleeps.delays) == 1


async def test_cut_stream_resubscribes_on_the_next_master_keeping_suppression() -> None:
    masters = FakeMasters(
        {
            M1: [stream(subscribed(), hang=False)],
            M2: [stream(subscribed(), stream_id="s-2")],
        }
    )
    async with make_client(masters, masters=(M1, M2)) as client:
        events = client.subscribe(INFO, suppressed_roles=["db"])
        await anext(events)
        await client.suppress(["web"])
        await next_of(events, "SUBSCRIBED")
        assert client.master == M2
        await client.revive(["db"])
        await events.aclose()
    bases = [base for base, _, _ in masters.subscribe_requests()]
    bodies = [body for _, body, _ in masters.subscribe_requests()]
    assert bases == [M1, M2]
    assert bodies[0]["subscribe"]["suppressed_roles"] == ["db"]
    assert bodies[1]["subscribe"]["suppressed_roles"] == ["db", "web"]
    assert masters.calls()[-1][0] == M2


async def test_connection_error_on_subscribe_moves_to_the_next_master() -> None:
    masters = FakeMasters({M1: [refuse], M2: [stream(subscribed())]})
    sleeps = Sleeps()
    async with make_client(masters, sleeps, masters=(M1, M2)) as client:
        events = client.subscribe(INFO)
        await anext(events)
        await events.aclose()
    assert [base for base, _, _ in masters.seen] == [M1, M2]
    assert len(sleeps.delays) == 1


async def test_subscribe_400_raises_rejected_with_the_body_text() -> None:
    text = "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"
    masters = FakeMasters({M1: [status(400, text)]})
    async with make_client(masters) as client:
        with pytest.raises(MesosRejected, match="Expecting 'framework_id' to be present"):
            await anext(client.subscribe(INFO))


async def test_framework_failed_over_error_ends_the_subscription() -> None:
    error = {"type": "ERROR", "error": {"message": "Framework failed over"}}
    masters = FakeMasters({M1: [stream(subscribed(), error), stream(subscribed())]})
    async with make_client(masters) as client:
        events = client.subscribe(INFO)
        await anext(events)
        with pytest.raises(FrameworkEnded, match="Framework failed over") as info:
            await anext(events)
    assert isinstance(info.value, MesosError)
    assert len(masters.subscribe_requests()) == 1


async def test_failover_of_a_known_framework_id_sends_it_on_the_first_subscribe() -> None:
    masters = FakeMasters({M1: [stream(subscribed("fw-9"))]})
    info = INFO.model_copy(update={"id": FrameworkID(value="fw-9")})
    async with make_client(masters) as client:
        events = client.subscribe(info)
        await anext(events)
        await events.aclose()
    [(_, body, _)] = masters.subscribe_requests()
    assert body["framework_id"] == {"value": "fw-9"}


# ------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("location", "current", "leader"),
    [
        pytest.param(
            "//m2:5050/api/v1/scheduler", "http://m1:5050", "http://m2:5050", id="relative"
        ),
        pytest.param("//m2:5050", "https://m1:5050", "https://m2:5050", id="keeps-scheme"),
        pytest.param("m2:5050", "http://m1:5050", "http://m2:5050", id="bare"),
        pytest.param("http://m2:5050/x", "http://m1:5050", "http://m2:5050", id="absolute"),
    ],
)
def test_resolve_location(location: str, current: str, leader: str) -> None:
    assert resolve_location(location, current) == leader


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.2, rng=random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    for delay, base in zip(delays, [0.5, 1, 2, 4, 4, 4], strict=True):
        assert base * 0.8 <= delay <= base
    backoff.reset()
    assert backoff.next() <= 0.5


async def test_client_satisfies_the_mesos_scheduler_protocol() -> None:
    client: MesosScheduler = make_client(FakeMasters({}))  # checked by mypy
    assert client.framework_id is None
    assert isinstance(client, MesosSchedulerClient)
    await client.aclose()


async def test_stream_end_after_teardown_finishes_the_iterator() -> None:
    masters = FakeMasters({M1: [stream(subscribed(), hang=False)]})
    sleeps = Sleeps()
    async with make_client(masters, sleeps) as client:
        events = client.subscribe(INFO)
        await anext(events)
        await client.teardown()
        assert [e async for e in events] == []
    assert len(masters.subscribe_requests()) == 1
    assert sleeps.delays == []


async def test_redirect_without_location_tries_the_next_master() -> None:
    masters = FakeMasters({M1: [status(307)], M2: [stream(subscribed())]})
    async with make_client(masters, masters=(M1, M2)) as client:
        events = client.subscribe(INFO)
        await anext(events)
        assert client.master == M2
        await events.aclose()
