"""Raw Mesos v1 HTTP for the local master's tests: requests built from the docs.

(Helpers and fixtures only; the other ``test_mesos_master_*`` modules import them.)

:class:`Scheduler` is a framework written with httpx alone (none of our
client code): SUBSCRIBE opens the RecordIO stream, a reader task splits it
into events, :meth:`Scheduler.next` waits for an event that matches (with a
deadline, never a sleep) and keeps the others for later, :meth:`Scheduler.call`
posts a call with the ``Mesos-Stream-Id`` header and the top-level
``framework_id``. :func:`wait_for` polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapters.mesos import recordio
from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings

logger = logging.getLogger(__name__)

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
Event = dict[str, Any]


def framework_info(
    name: str = "test", *, roles: tuple[str, ...] = ("web",), **extra: Any
) -> dict[str, Any]:
    caps = [{"type": "MULTI_ROLE"}, *extra.pop("capabilities", [])]
    return {"user": "root", "name": name, "roles": list(roles), "capabilities": caps, **extra}


def task_info(
    task_id: str, agent_id: str, *, cpus: float = 0.1, mem: float = 32, **extra: Any
) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": "sleep 1000"},
        **extra,
    }


async def wait_for(condition: Callable[[], Awaitable[bool] | bool], *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


class Scheduler:
    """One framework's connection (see the module docstring)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.framework_id: str | None = None
        self.stream_id: str | None = None
        self.status: int | None = None
        self.heartbeats = 0
        self.ended = asyncio.Event()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._backlog: list[Event] = []
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def subscribe(self, info: dict[str, Any], **extra: Any) -> Event:
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info, **extra}}
        if "id" in info:
            body["framework_id"] = info["id"]
        self._reader = asyncio.get_running_loop().create_task(
            self._read(body), name="test:scheduler-stream"
        )
        await asyncio.wait_for(self._ready.wait(), 5)
        subscribed = await self.next("SUBSCRIBED")
        self.framework_id = subscribed["subscribed"]["framework_id"]["value"]
        return subscribed

    async def _read(self, body: dict[str, Any]) -> None:
        decoder = recordio.RecordIODecoder()
        try:
            async with self.client.stream(
                "POST", "/api/v1/scheduler", content=json.dumps(body), headers=JSON
            ) as resp:
                self.status = resp.status_code
                self.stream_id = resp.headers.get("mesos-stream-id")
                self._ready.set()
                async for chunk in resp.aiter_bytes():
                    for record in decoder.feed(chunk):
                        event = json.loads(record)
                        if event["type"] == "HEARTBEAT":
                            self.heartbeats += 1
                        else:
                            self._events.put_nowait(event)
        except httpx.HTTPError as exc:
            logger.debug("stream ended: %r", exc)
        finally:
            self._ready.set()
            self.ended.set()

    async def next(
        self, kind: str, where: Callable[[Event], bool] = lambda e: True, within: float = 5.0
    ) -> Event:
        for event in self._backlog:
            if event["type"] == kind and where(event):
                self._backlog.remove(event)
                return event
        async with asyncio.timeout(within):
            while True:
                event = await self._events.get()
                if event["type"] == kind and where(event):
                    return event
                self._backlog.append(event)

    def drain(self) -> list[Event]:
        """Every event received and not yet taken."""
        while not self._events.empty():
            self._backlog.append(self._events.get_nowait())
        out, self._backlog = self._backlog, []
        return out

    async def update(
        self, task_id: str, state: str | None = None, within: float = 5.0
    ) -> dict[str, Any]:
        def match(e: Event) -> bool:
            status = e["update"]["status"]
            return bool(
                status["task_id"]["value"] == task_id
                and (state is None or status["state"] == state)
            )

        event = await self.next("UPDATE", match, within)
        status: dict[str, Any] = event["update"]["status"]
        return status

    async def offers(self, within: float = 5.0) -> list[dict[str, Any]]:
        event = await self.next("OFFERS", within=within)
        offers: list[dict[str, Any]] = event["offers"]["offers"]
        return offers

    async def call(
        self, kind: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        payload: dict[str, Any] = {"type": kind, "framework_id": {"value": self.framework_id}}
        if body is not None:
            payload[kind.lower()] = body
        sent = {**JSON, "Mesos-Stream-Id": self.stream_id or "", **(headers or {})}
        return await self.client.post(
            "/api/v1/scheduler", content=json.dumps(payload), headers=sent
        )

    async def ack(self, status: dict[str, Any]) -> httpx.Response:
        body = {
            "agent_id": status["agent_id"],
            "task_id": status["task_id"],
            "uuid": status["uuid"],
        }
        return await self.call("ACKNOWLEDGE", body)

    async def launch(
        self, offer: dict[str, Any], *tasks: dict[str, Any], refuse: float | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}],
        }
        if refuse is not None:
            body["filters"] = {"refuse_seconds": refuse}
        return await self.call("ACCEPT", body)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def operator(client: httpx.AsyncClient, kind: str, body: Any = None) -> httpx.Response:
    payload: dict[str, Any] = {"type": kind}
    if body is not None:
        payload[kind.lower()] = body
    return await client.post("/api/v1", content=json.dumps(payload), headers=JSON)


def settings(agents: int | tuple[AgentSpec, ...] = 2, **overrides: Any) -> MasterSettings:
    """Short intervals so every test finishes in well under a second or two."""
    if isinstance(agents, int):
        agents = agents_from_flags(agents, cpus=4, mem=4096, ports="31000-31009")
    values: dict[str, Any] = {
        "agents": agents,
        "heartbeat_interval": 0.5,
        "allocation_interval": 0.1,
        "allocation_batch": 0.005,
        "status_update_retry": 0.3,
        "sim": SimSettings(running_delay=0.02),
        "master_id": "test-master",
    }
    values.update(overrides)
    return MasterSettings(**values)


@pytest.fixture
async def local() -> Any:
    async with LocalMaster(settings()) as started:
        yield started


@pytest.fixture
async def client(local: LocalMaster) -> Any:
    async with httpx.AsyncClient(base_url=local.url, timeout=10) as opened:
        yield opened


@pytest.fixture
async def scheduler(client: httpx.AsyncClient) -> Any:
    conn = Scheduler(client)
    yield conn
    await conn.close()
